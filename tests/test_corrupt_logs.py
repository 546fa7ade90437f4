"""An unreadable stage log is moved aside and its stage redone from the cache.

Before, one corrupt `.eval` file stopped every later stage lookup in its folder until someone
deleted it by hand.
"""

import io
from pathlib import Path

from inspect_ai.log import read_eval_log
from rich.console import Console

from prefbench.harness.pipeline import open_run, run_benchmark
from prefbench.harness.profile import parse_profile
from tests.helpers import scripted_profile


def quiet_run(run_dir: Path, profile: dict) -> tuple:
    """Open a run on the scripted model; the context and what its console printed."""
    printed = io.StringIO()
    console = Console(file=printed, width=400)
    parsed = parse_profile(profile, Path("<test profile>"))
    return open_run(run_dir, parsed, console, display="none"), printed


def test_corrupt_log_is_moved_aside_and_its_stage_redone_from_the_cache(tmp_path: Path):
    call_log = tmp_path / "calls.log"
    profile = scripted_profile(call_log=call_log)
    run = tmp_path / "run"
    context, _ = quiet_run(run, profile)
    first = run_benchmark(context)
    del context
    calls_first = call_log.read_text().count("\n")
    gen_logs = sorted((run / "logs" / "gen").glob("*.eval"))
    victim = gen_logs[0]
    victim.write_bytes(b"this is not a zip file")

    context, printed = quiet_run(run, profile)
    second = run_benchmark(context)

    moved = run / "corrupt" / "logs" / "gen" / victim.name
    assert moved.read_bytes() == b"this is not a zip file"
    assert not victim.exists()
    warning = " ".join(printed.getvalue().split())
    assert f"{victim} is corrupt" in warning and str(moved) in warning
    assert not context.recomputed_nothing  # the stage of the lost log ran again ...
    assert call_log.read_text().count("\n") == calls_first  # ... every answer from the cache
    new_logs = sorted((run / "logs" / "gen").glob("*.eval"))
    assert len(new_logs) == len(gen_logs)
    assert all(read_eval_log(str(p), header_only=True).status == "success" for p in new_logs)
    assert second.rows() == [
        row.model_copy(update={"log": second_row.log})
        for row, second_row in zip(first.rows(), second.rows(), strict=True)
    ]


def test_a_second_corrupt_log_of_the_same_name_keeps_the_first(tmp_path: Path):
    profile = scripted_profile()
    run = tmp_path / "run"
    context, _ = quiet_run(run, profile)
    run_benchmark(context)
    del context
    victim = sorted((run / "logs" / "judge").glob("*.eval"))[0]
    aside = run / "corrupt" / "logs" / "judge"
    aside.mkdir(parents=True)
    (aside / victim.name).write_bytes(b"an earlier corrupt log")
    victim.write_bytes(b"truncated")

    context, _ = quiet_run(run, profile)
    run_benchmark(context)

    assert (aside / victim.name).read_bytes() == b"an earlier corrupt log"
    assert (aside / f"{victim.stem}-2.eval").read_bytes() == b"truncated"
