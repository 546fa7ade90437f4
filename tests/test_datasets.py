"""Several datasets in one run (the paper's Table 1), prompts by text kind, long texts.

On the scripted model: each dataset runs in its own sub-folder, the combined report has
per-dataset rows and their mean, a re-run recomputes nothing; article datasets get article
prompts at every step; texts over the profile's limit are cut with a flag or dropped and
counted, before any model call.
"""

import io
import json
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from prefbench.core.errors import PrefbenchInputError
from prefbench.harness.pipeline import generate, prepare_records, run_datasets
from prefbench.harness.profile import (
    dataset_profiles,
    derived_max_text_tokens,
    dump_profile,
    load_profile,
    parse_profile,
)
from prefbench.solvers.writer import template_for
from prefbench.tasks.demo import generate_demo_records
from prefbench.tasks.long_texts import TRUNCATED_FIELD, limit_text_lengths, truncate_text
from prefbench.tasks.records import Record, read_records, write_records
from prefbench.tasks.samples import record_to_sample, render_context
from tests.helpers import run_cli, scripted_profile, scripted_run

TWO_DATASETS = {
    "mails": {"kind": "demo", "personas": 2, "records_per_persona": 5},
    "more": {"kind": "demo", "personas": 3, "records_per_persona": 5},
}
JUDGE_REPLIES = ["<winner>1</winner>", "<winner>1</winner>", "<winner>2</winner>"]


def two_dataset_profile(**overrides: object) -> dict:
    profile = scripted_profile(**overrides)
    del profile["dataset"]
    profile["datasets"] = TWO_DATASETS
    profile["roles"]["judge"]["model_args"]["replies"] = JUDGE_REPLIES
    return profile


def words(text: str) -> int:
    return len(text.split())


# --- profiles ------------------------------------------------------------------------------


def test_a_single_dataset_profile_dumps_as_before():
    profile, _ = load_profile("demo")
    keys = list(yaml.safe_load(dump_profile(profile)))
    assert keys == [
        "name",
        "seed",
        "dataset",
        "roles",
        "systems",
        "reference_system",
        "judge",
        "generation",
        "training",
        "metrics",
        "prices",
        "system_options",
    ]
    assert dataset_profiles(profile) == {"": profile}


def test_datasets_give_one_profile_each():
    profile = parse_profile(two_dataset_profile(), Path("<p>"))
    parts = dataset_profiles(profile)
    assert list(parts) == ["mails", "more"]
    assert parts["more"].dataset is not None and parts["more"].dataset.personas == 3
    assert parts["more"].datasets is None and parts["more"].name == "scripted/more"
    assert "datasets" not in yaml.safe_load(dump_profile(parts["more"]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dataset": {"kind": "demo"}}, "not both or neither"),
        ({"datasets": {}}, "empty"),
        ({"datasets": {"../up": {"kind": "demo"}}}, "dataset name '../up'"),
        ({"datasets": {"logs": {"kind": "demo"}}}, "dataset name 'logs'"),
        ({"datasets": {"x": {"kind": "records"}}}, "datasets.x.path"),
    ],
)
def test_bad_dataset_lists_are_refused(change: dict, message: str):
    profile = two_dataset_profile()
    profile.update(change)
    with pytest.raises(PrefbenchInputError, match=message):
        parse_profile(profile, Path("<p>"))


def test_the_paper_profile_lists_both_datasets_and_the_ablations():
    profile, _ = load_profile("paper")
    assert profile.datasets is not None and set(profile.datasets) == {"enron", "new_yorker"}
    for system in ("no_baseline_agent", "no_thinking_agent", "cross_family_agent"):
        assert system in profile.systems
    assert profile.long_texts is not None and profile.long_texts.max_text_tokens


# --- several datasets in one run ----------------------------------------------------------


def test_each_dataset_runs_in_its_sub_folder_and_the_report_averages_them(tmp_path: Path):
    profile = parse_profile(two_dataset_profile(), Path("<p>"))
    console = Console(file=io.StringIO(), width=200)
    outcome = run_datasets(tmp_path / "run", profile, console, display="none")
    report = outcome.report
    assert not outcome.recomputed_nothing
    for name in ("mails", "more"):
        single = json.loads((tmp_path / "run" / name / "report.json").read_text())
        assert single["profile"] == f"scripted/{name}"
        assert (tmp_path / "run" / name / "profile.yaml").exists()
    assert report.datasets is not None
    assert [entry.name for entry in report.datasets] == ["mails", "more"]
    assert [entry.users for entry in report.datasets] == [2, 3]
    rows = report.rows()
    assert {row.dataset for row in rows} == {"mails", "more"}
    for aggregate in report.aggregate["llm"]:
        pair = (aggregate.system_a, aggregate.system_b)
        rates = [row.win_rate for row in rows if (row.system_a, row.system_b) == pair]
        assert len(rates) == 2
        assert aggregate.win_rate == pytest.approx(sum(rates) / 2)
    assert {rating.system for rating in report.ratings["llm"]} == set(profile.systems)
    markdown = (tmp_path / "run" / "report.md").read_text()
    assert "## Datasets" in markdown and "| mails | more | Aggregate |" in markdown
    assert (tmp_path / "run" / "report.html").exists()

    before = (tmp_path / "run" / "report.json").read_bytes()
    again = run_datasets(tmp_path / "run", profile, console, display="none")
    assert again.recomputed_nothing
    assert (tmp_path / "run" / "report.json").read_bytes() == before


def test_the_cli_runs_several_datasets_and_points_stage_commands_at_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    profile_file = tmp_path / "two.yaml"
    profile = two_dataset_profile(long_texts={"policy": "drop", "max_text_tokens": 5000})
    profile_file.write_text(yaml.safe_dump(profile))
    run_dir = tmp_path / "run"
    code, printed = run_cli(
        monkeypatch, capsys, "run", "--profile", str(profile_file), "--out", str(run_dir)
    )
    assert code == 0, printed
    assert "Datasets (each a complete run" in printed and "Aggregate" in printed
    assert "drop > 5000 tokens: 0 truncated, 0 dropped" in printed
    code, printed = run_cli(monkeypatch, capsys, "judge", "--run", str(run_dir))
    assert code == 2 and str(run_dir / "mails") in printed
    code, printed = run_cli(monkeypatch, capsys, "report", "--run", str(run_dir))
    assert code == 0 and "mails" in printed
    assert "## Datasets" in (run_dir / "report.md").read_text()
    code, printed = run_cli(monkeypatch, capsys, "run", "--profile", str(profile_file), "--dry-run")
    assert code == 0 and "dataset mails" in printed and "dataset more" in printed
    assert printed.count("long texts (> 5000 tokens") == 2


# --- prompts follow the text kind ----------------------------------------------------------


def article_records(path: Path) -> list[Record]:
    """Demo records relabelled as a New Yorker dataset (articles)."""
    records = [
        record.model_copy(update={"dataset": "new_yorker", "intent": None})
        for record in generate_demo_records(personas=2, records_per_persona=4, seed=0)
    ]
    write_records(path, records)
    return records


def test_writer_prompts_follow_the_text_kind():
    assert template_for("write", {"text_kind": "email"}) == "email:write"
    assert template_for("write", {"text_kind": "article"}) == "article:write"
    assert template_for("agent_rules", {"dataset": "new_yorker"}) == "article:agent_rules"
    with pytest.raises(KeyError, match="no prompt for 'nope'"):
        template_for("nope", {})


def test_an_article_dataset_gets_article_prompts_at_every_step(tmp_path: Path):
    records_path = tmp_path / "records.jsonl"
    article_records(records_path)
    call_log = tmp_path / "calls.log"
    profile = scripted_profile(call_log, dataset={"kind": "records", "path": str(records_path)})
    context = scripted_run(tmp_path / "run", profile)
    records = prepare_records(context)
    intent_prompts = [line for line in call_log.read_text().splitlines() if "large" in line]
    assert intent_prompts and all("articles" in line for line in intent_prompts)
    logs = generate(context, records)
    for system, result in logs.items():
        for sample in result.read().samples:
            prompt = "\n".join(message.text for message in sample.messages[:2])
            assert "article" in prompt and "email" not in prompt, system


# --- long texts ----------------------------------------------------------------------------


def long_record(words_count: int, previous: int = 0) -> Record:
    return Record(
        id=f"r{words_count}",
        dataset="demo",
        user="ann",
        split="train",
        metadata={"subject": "s"},
        content=" ".join(f"w{i}" for i in range(words_count)),
        previous_context=" ".join(f"p{i}" for i in range(previous)),
        source="test",
    )


def test_truncation_keeps_the_longest_prefix_that_fits_and_is_stable():
    text = " ".join(f"w{i}" for i in range(1000))
    cut = truncate_text(text, 10, words)
    assert words(cut) == 10 and text.startswith(cut)
    assert truncate_text(cut, 10, words) == cut
    assert truncate_text("short text", 10, words) == "short text"


def test_truncate_flags_the_record_and_drop_counts_it():
    records = [long_record(5), long_record(50), long_record(5, previous=40)]
    kept, outcome = limit_text_lengths(
        records, max_tokens=20, policy="truncate", count=words, counted_with="words"
    )
    assert [words(record.content) for record in kept] == [5, 20, 5]
    assert kept[1].metadata[TRUNCATED_FIELD] == "content=50"
    assert kept[2].metadata[TRUNCATED_FIELD] == "previous_context=40"
    assert words(kept[2].previous_context) == 20 and TRUNCATED_FIELD not in kept[0].metadata
    assert outcome.summary()["truncated"] == 2 and outcome.summary()["dropped"] == 0
    sample = record_to_sample(kept[1].model_copy(update={"intent": "- hi"}))
    assert "runcated" not in render_context(sample.metadata or {})
    kept, outcome = limit_text_lengths(
        records, max_tokens=20, policy="drop", count=words, counted_with="words"
    )
    assert [record.id for record in kept] == ["r5"]
    assert outcome.dropped == ["r50", "r5"] and "2 dropped of 3" in outcome.line()


def test_the_limit_is_derived_from_the_roles_context_windows():
    profile = scripted_profile(long_texts={"policy": "drop"})
    with pytest.raises(PrefbenchInputError, match="max_model_len"):
        parse_profile(profile, Path("<p>"))
    profile["roles"]["large"]["model_args"]["max_model_len"] = 8192
    profile["roles"]["small"]["model_args"]["max_model_len"] = 4096
    parsed = parse_profile(profile, Path("<p>"))
    # (4096 - 512 reserved - 2 × 128 reply) // (3 few-shot examples + the text)
    assert parsed.long_texts is not None and parsed.long_texts.max_text_tokens == 832
    assert derived_max_text_tokens(parsed) == 832


def test_the_records_stage_applies_the_policy_before_any_call(tmp_path: Path):
    records_path = tmp_path / "records.jsonl"
    records = generate_demo_records(personas=2, records_per_persona=5, seed=0)
    huge = records[0].model_copy(update={"content": "word " * 200_000})
    write_records(records_path, [huge, *records[1:]])
    call_log = tmp_path / "calls.log"
    profile = scripted_profile(
        call_log,
        dataset={"kind": "records", "path": str(records_path)},
        long_texts={"policy": "truncate", "max_text_tokens": 1000},
    )
    context = scripted_run(tmp_path / "run", profile)
    prepared = prepare_records(context)
    written = read_records(tmp_path / "run" / "data" / "records.jsonl")
    assert written == prepared and len(prepared[0].content) < 1000 * 16
    assert prepared[0].metadata[TRUNCATED_FIELD].startswith("content=")
    section = context.sections["long_texts"]
    assert section["truncated"] == 1 and section["max_text_tokens"] == 1000
    assert all(len(line) < 2000 for line in call_log.read_text().splitlines())

    profile["long_texts"] = {"policy": "drop", "max_text_tokens": 1000}
    dropped = scripted_run(tmp_path / "dropped", profile)
    assert huge.id not in {record.id for record in prepare_records(dropped)}
    assert dropped.sections["long_texts"]["dropped_ids"] == [huge.id]
