"""The profile's intent temperatures: one variant per temperature, old stage keys kept."""

from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.pipeline import prepare_records
from prefbench.harness.profile import load_profile, parse_profile
from prefbench.harness.stages.records import temperatures_key
from prefbench.tasks.intents import TEMPERATURES
from tests.helpers import scripted_profile, scripted_run


def test_the_default_is_three_temperatures_and_leaves_the_stage_key_as_before() -> None:
    profile = parse_profile(scripted_profile(), Path("<test profile>"))
    assert tuple(profile.generation.intent_temperatures) == TEMPERATURES
    assert temperatures_key(profile.generation.intent_temperatures) == {}
    assert temperatures_key([0.7]) == {"temperatures": [0.7]}


def test_the_demo_draws_one_variant_per_record(tmp_path: Path) -> None:
    demo, _ = load_profile("demo")
    assert demo.generation.intent_temperatures == [0.7]
    profile = scripted_profile()
    profile["generation"] = {"intent_temperatures": [0.7]}
    context = scripted_run(tmp_path / "run", profile)
    records = prepare_records(context)
    assert all(record.intent == "- meet on Friday" for record in records)
    (log_path,) = (tmp_path / "run" / "logs" / "intents").glob("*.eval")
    samples = read_eval_log(str(log_path)).samples or []
    assert len(samples) == len(records)
    for sample in samples:
        assert len(sample.store["intent_variants"]) == 1
        temperatures = [e.config.temperature for e in sample.events if e.event == "model"]
        assert temperatures == [0.7]


@pytest.mark.parametrize("temperatures", [[], [0.0], [-1.0]])
def test_no_temperature_or_a_non_positive_one_is_refused(temperatures: list[float]) -> None:
    profile = scripted_profile()
    profile["generation"] = {"intent_temperatures": temperatures}
    with pytest.raises(PrefbenchInputError, match="intent_temperatures"):
        parse_profile(profile, Path("<test profile>"))
