"""report.json per dataset and aggregated, report.md / report.html, figures, `prefbench report`.

A scripted run over two datasets gives real judge logs in seconds: the judge prefers the
large model's text in both orders, and the small model copies it for one beta record, so
few_shot beats small_zero_shot on alpha 2/2 and on beta 2.5/3, and ties large_zero_shot.
"""

import copy
import json
import re
import shutil
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log
from inspect_ai.scorer import Score
from PIL import Image

from prefbench.core.run_folder import RunFolder
from prefbench.core.tables import Section, Table, cells, columns
from prefbench.harness.report.build import render_report, report_html_path
from prefbench.harness.report.figures import personalization_figure
from prefbench.harness.report.html import report_html
from prefbench.harness.report.judged import read_comparison
from prefbench.harness.report.markdown import report_markdown
from prefbench.harness.report.schema import (
    ComparisonRow,
    PersonalizationSection,
    Report,
)
from prefbench.scorers.stats import summarize_win_rate
from prefbench.tasks.records import Record, write_records
from tests.helpers import LARGE_EMAIL, SMALL_REPLY, run_cli_split, scripted_profile, scripted_run
from tests.report_models import audit, comparison, rate, similarity_row
from tests.report_models import report as make_report

USERS = {"alpha": ["ann", "ben"], "beta": ["cat", "dan", "eve"]}
COPYCAT = "COPYCAT"  # in one beta test subject: the small model then writes the large text
EVIL = "<script>alert(1)</script>"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def two_dataset_records() -> list[Record]:
    records = []
    for dataset, users in USERS.items():
        for user in users:
            for index in range(4):
                split = "test" if index == 3 else "train"
                subject = f"{COPYCAT} plan" if (user, split) == ("cat", "test") else "plan"
                records.append(
                    Record(
                        id=f"{dataset}-{user}-{index}",
                        dataset=dataset,
                        user=user,
                        split=split,
                        metadata={"from": user, "to": "team", "subject": f"{subject} {index}"},
                        content=f"Hello team, {user} writes note {index} about the plan.",
                        source=f"test:{dataset}:{user}:{index}",
                    )
                )
    return records


def two_dataset_profile(records_path: Path) -> dict:
    profile = scripted_profile(dataset={"kind": "records", "path": str(records_path)})
    profile["roles"]["small"]["model_args"]["replies"] = {COPYCAT: LARGE_EMAIL, "": SMALL_REPLY}
    # the judge picks whichever candidate is the large model's text, in both orders
    profile["roles"]["judge"]["model_args"]["replies"] = {
        f"<candidate_1>\n{LARGE_EMAIL}": "<winner>1</winner>",
        "": "<winner>2</winner>",
    }
    return profile


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Report]:
    from prefbench.harness.pipeline import run_benchmark

    root = tmp_path_factory.mktemp("two-datasets")
    write_records(root / "records.jsonl", two_dataset_records())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INSPECT_CACHE_DIR", str(root / "inspect-cache"))
        report = run_benchmark(
            scripted_run(root / "run", two_dataset_profile(root / "records.jsonl"))
        )
    return root / "run", report


def rows_by_key(report: Report) -> dict[tuple[str, str], ComparisonRow]:
    return {(row.system_b, row.dataset): row for row in report.rows("llm")}


def test_one_comparison_per_judge_log_and_dataset(finished):
    _, report = finished
    rows = rows_by_key(report)
    assert sorted(rows) == sorted(
        (system, dataset)
        for system in ("small_zero_shot", "large_zero_shot")
        for dataset in ("alpha", "beta")
    )
    alpha, beta = rows["small_zero_shot", "alpha"], rows["small_zero_shot", "beta"]
    assert (alpha.n, alpha.wins, alpha.ties, alpha.win_rate) == (2, 2, 0, 1.0)
    assert (beta.n, beta.wins, beta.ties) == (3, 2, 1)
    assert beta.win_rate == pytest.approx(2.5 / 3)
    # exact sign test of 2 wins, 0 losses: 2 * 0.5 ** 2
    assert alpha.p_value == pytest.approx(0.5) and beta.p_value == pytest.approx(0.5)
    assert alpha.position_consistency == 1.0
    assert beta.position_consistency == pytest.approx(2 / 3)  # cat's pair disagrees
    assert set(alpha.per_user) == {"ann", "ben"}
    assert set(beta.per_user) == {"cat", "dan", "eve"}
    assert beta.per_user["cat"].win_rate == 0.5
    for row in report.rows():
        assert row.ci_low <= row.win_rate <= row.ci_high
    # both datasets of a pair come from one judge log
    assert alpha.log == beta.log
    for dataset in ("alpha", "beta"):
        tie = rows["large_zero_shot", dataset]
        assert tie.win_rate == 0.5 and tie.ties == tie.n == len(USERS[dataset])


def test_aggregate_is_the_mean_of_the_dataset_win_rates(finished):
    _, report = finished
    aggregate = {row.system_b: row for row in report.aggregate["llm"]}
    small = aggregate["small_zero_shot"]
    assert small.datasets == ["alpha", "beta"] and small.system_a == "few_shot"
    assert small.win_rate == pytest.approx((1.0 + 2.5 / 3) / 2)  # 11/12, not pooled 4.5/5
    assert small.n == 5
    assert aggregate["large_zero_shot"].win_rate == 0.5


def test_aggregate_of_one_dataset_equals_its_row(tmp_path):
    from prefbench.harness.pipeline import run_benchmark

    report = run_benchmark(scripted_run(tmp_path / "run", scripted_profile()))
    by_system = {row.system_b: row for row in report.rows()}
    for aggregate in report.aggregate["llm"]:
        row = by_system[aggregate.system_b]
        assert aggregate.datasets == [row.dataset] == ["demo"]
        assert (aggregate.win_rate, aggregate.n) == (row.win_rate, row.n)


def test_the_human_score_is_never_read_as_the_judge(finished):
    run_dir, report = finished
    path = run_dir / "logs" / "judge" / rows_by_key(report)["small_zero_shot", "beta"].log
    log = read_eval_log(str(path))
    judged = read_comparison(log, "inconsistent_is_tie")
    human = Score(value="I", answer="loss", metadata={"winner_ab": 2, "winner_ba": 1})
    annotated = copy.deepcopy(log)
    judge_scorer = annotated.eval.scorers[0]
    annotated.eval.scorers = [judge_scorer.model_copy(update={"name": "human"}), judge_scorer]
    for sample in annotated.samples:
        sample.scores = {"human": human, **sample.scores}
    assert read_comparison(annotated, "inconsistent_is_tie").outcomes() == judged.outcomes()
    annotated.eval.scorers = []  # no scorer list: every score but `human` is the judge's
    assert read_comparison(annotated, "inconsistent_is_tie").outcomes() == judged.outcomes()
    # an independent summary of the beta pairs matches report.json
    beta = [pair for pair in judged.pairs if pair.dataset == "beta"]
    summary = summarize_win_rate([pair.outcome for pair in beta], [pair.user for pair in beta])
    assert summary.win_rate == rows_by_key(report)["small_zero_shot", "beta"].win_rate


def image_links(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)


def test_report_md_has_table_1_and_links_to_existing_figures(finished):
    run_dir, _ = finished
    markdown = (run_dir / "report.md").read_text()
    assert "| vs system | alpha | beta | Aggregate |" in markdown
    # the scripted judge picks the large model's text in both orders: candidate 1 in 80 % of
    # verdicts, consistent on 40 % of pairs, so it fails the quality gate and every row says so
    assert "Quality gate (llm): FAILED ⚠ — position bias" in markdown
    small = next(line for line in markdown.splitlines() if line.startswith("| small_zero_shot ⚠"))
    cells = [cell.strip() for cell in small.strip("|").split("|")]
    assert cells[1].startswith("100.0 [") and cells[2].startswith("83.3 [")
    assert cells[3] == "91.7"
    links = image_links(markdown)
    assert {"figures/win_rates.png", "figures/ratings.png"} <= set(links)
    for link in links:
        assert (run_dir / link).is_file(), link
    # the full leaderboard: one line per (dataset, system) with position consistency
    assert "| beta | small_zero_shot ⚠ [1] | 3 | 2 | 0 | 1 | 0 | 83.3 |" in markdown
    assert "cons %" in markdown and "66.7 |" in markdown
    # the length-controlled win rate beside the raw one: the scripted outputs of a
    # comparison all differ by the same length, so there is no length to control
    assert "| LC win % | LC 95% CI |" in markdown
    assert "| 83.3 | [2.8, 99.9] [2] | 83.3 | [2.8, 99.9] [2] |" in markdown
    assert "[2] interval from fewer than 5 users: its 95 % coverage is not guaranteed" in markdown
    assert "## Judge audit" in markdown and "figures/judge_audit.png" in links


def test_report_json_has_the_judge_audit_and_lc_fields(finished):
    _, report = finished
    [judge_audit] = report.judge_audit.values()
    assert judge_audit.judge == "llm" and judge_audit.judge_models == ["prefbench-mock/judge"]
    # the scripted judge picks the large model's text in both orders: 5 of 10 pairs
    # compare it with itself (large_zero_shot), where it always says candidate 1
    first_slot = judge_audit.first_slot_win_rate
    assert first_slot.n == 20 and first_slot.rate == pytest.approx(0.8)
    assert first_slot.ci_low <= first_slot.rate <= first_slot.ci_high
    assert judge_audit.self_preference == []
    written = json.loads((finished[0] / "report.json").read_text())
    for row in written["comparisons"]["llm"]:
        assert {"lc_win_rate", "lc_ci_low", "lc_ci_high", "lc_ci_method"} <= set(row)
        assert {"win_rate", "ci_low", "ci_high", "ci_method", "p_value"} <= set(row)
    assert {"lc_win_rate", "win_rate", "n"} <= set(written["aggregate"]["llm"][0])
    # both the reference and large_zero_shot write the large model's text; the small model
    # copies it for one beta user (COPYCAT): identical outputs, counted per comparison
    identical = {
        (row.system_b, row.dataset): (row.identical_outputs, row.compared_outputs)
        for row in report.rows()
    }
    assert identical == {
        ("large_zero_shot", "alpha"): (2, 2),
        ("large_zero_shot", "beta"): (3, 3),
        ("small_zero_shot", "alpha"): (0, 2),
        ("small_zero_shot", "beta"): (1, 3),
    }
    ratings = {row.system: row for row in report.ratings["llm"]}
    assert ratings[report.reference_system].rating == 1000


def assert_valid_figure(png: Path) -> None:
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    with Image.open(png) as image:
        image.verify()
    svg = png.with_suffix(".svg")
    assert ElementTree.parse(svg).getroot().tag.endswith("svg")


def test_figures_are_valid_png_and_svg(finished):
    run_dir, _ = finished
    for name in ("win_rates", "ratings", "judge_audit"):
        assert_valid_figure(run_dir / "figures" / f"{name}.png")
    assert not (run_dir / "figures" / "personalization.png").exists()
    assert not list(run_dir.rglob("*.tmp"))


class PageChecker(HTMLParser):
    """Balanced tags, and every src/href of the page."""

    VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [value or "" for name, value in attrs if name in ("src", "href")]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def check_page(page: str) -> PageChecker:
    checker = PageChecker()
    checker.feed(page)
    checker.close()
    assert page.startswith("<!DOCTYPE html>")
    assert not checker.errors and not checker.stack, (checker.errors, checker.stack)
    assert all(url.startswith("data:image/png;base64,") for url in checker.urls), checker.urls
    assert "script" not in checker.tags and "link" not in checker.tags
    return checker


def test_report_html_is_well_formed_and_self_contained(finished):
    run_dir, _ = finished
    page = report_html_path(RunFolder(run_dir)).read_text()
    checker = check_page(page)
    assert len(checker.urls) == 3  # win rates, ratings and the judge audit, embedded
    assert "Aggregate" in page and "91.7" in page


def optional_sections() -> dict:
    return {
        "similarity": {
            "encoder": f"enc {EVIL}",
            "rows": [
                {
                    "system": "few_shot",
                    "dataset": "alpha",
                    "n": 2,
                    "bertscore_f1": 0.61234,
                    "bertscore_f1_ci_low": 0.5,
                    "bertscore_f1_ci_high": 0.7,
                    "bleu": 12.5,
                    "rouge_l": 0.25,
                    "tfidf_cosine": 0.4,
                    "ci_method": "cr2-ik",
                    "ci_guaranteed": None,
                },
                similarity_row("small_zero_shot"),  # no measurement renders as "–"
            ],
            "num_layers": 6,
        },
        "personalization": {
            "system": "preference_agent",
            "metric": "bertscore_f1",
            "users": ["ann", "ben", "cat"],
            "matrix": [[0.9, 0.2, 0.3], [0.1, 0.8, 0.25], [0.2, 0.3, 0.7]],
            "k": 3,
            "diagonal_best_columns": 3,
            "diagonal_mean": 0.8,
            "off_diagonal_mean": 0.225,
            "p_value": 0.01,
            "min_p_value": 0.001,
            "p_value_method": "permutation",
        },
        "multi_candidate": {
            "llm": {
                "judge": "llm",
                "systems": ["few_shot", "small_zero_shot"],
                "n": 5,
                "rotations": 2,
                "parse_failures": 1,
                "position_consistency": 0.6,
                "first_choice": [
                    {
                        "system": "few_shot",
                        "votes": 4,
                        "share": 0.8,
                        "ci_low": 0.4,
                        "ci_high": 0.96,
                        "ci_method": "wilson",
                        "ci_guaranteed": None,
                    }
                ],
            }
        },
        "cost": {
            "tokens_by_stage": {
                "gen": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
            },
            "by_stage_model": [
                {
                    "stage": "gen",
                    "model": "openai/gpt-4o",
                    "input_tokens": 10,
                    "output_tokens": 5,
                    "usd": 0.000075,
                    "batch": False,
                    "cached_calls": 0,
                }
            ],
            "cached_calls_by_stage": {"gen": 0},
            "usd_by_stage": {"gen": 0.000075},
            "usd_total": 0.000075,
            "prices_as_of": "2025-01-01",
            "batch_discounts_as_of": None,
        },
    }


def test_win_rate_figure_labels_a_control_pair_by_both_systems():
    from prefbench.harness.report.figures import win_rate_figure

    def row(system_a: str, system_b: str) -> ComparisonRow:
        return comparison(
            system_a=system_a, system_b=system_b, win_rate=0.6, ci_low=0.3, ci_high=0.8
        )

    plain = win_rate_figure(
        make_report(reference_system="agent", comparisons={"llm": [row("agent", "few")]})
    )
    assert plain.axes[0].get_ylabel() == "win rate of agent"
    assert [t.get_text() for t in plain.axes[0].get_xticklabels()] == ["few"]
    report = make_report(
        reference_system="agent",
        comparisons={"llm": [row("agent", "few"), row("positive_control", "large_zero_shot")]},
    )
    [axes] = win_rate_figure(report).axes
    assert axes.get_ylabel() == "win rate of the first system named"
    assert [t.get_text() for t in axes.get_xticklabels()] == [
        "agent vs few",
        "positive_control vs large_zero_shot",
    ]


def test_heatmap_is_drawn_from_a_personalization_section():
    section = optional_sections()["personalization"]
    figure = personalization_figure(PersonalizationSection.model_validate(section))
    (axes, _colorbar) = figure.axes
    assert axes.images[0].get_array().tolist() == section["matrix"]
    texts = [text.get_text() for text in axes.texts]
    assert texts == [f"{value:.3f}" for row in section["matrix"] for value in row]
    outlined = sorted(patch.get_xy() for patch in axes.patches)
    assert outlined == [(-0.5, -0.5), (0.5, 0.5), (1.5, 1.5)]
    assert [label.get_text() for label in axes.get_xticklabels()] == section["users"]
    assert axes.get_ylabel() == "agent of user i"


def test_optional_sections_escaping_and_stale_figures(finished, tmp_path):
    _, base = finished
    data = {**base.model_dump(), **optional_sections()}
    data["comparisons"]["llm"][0]["system_b"] = EVIL
    report = Report.model_validate(data)
    run = RunFolder(tmp_path / "run")
    render_report(run, report)
    assert_valid_figure(tmp_path / "run" / "figures" / "personalization.png")

    markdown = run.report_md.read_text()
    assert EVIL not in markdown and "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert "figures/personalization.png" in image_links(markdown)
    assert "| ann | **0.900** | 0.200 | 0.300 |" in markdown
    assert "| small_zero_shot | d | 0 | – | – | – |" in markdown  # a row without measurements
    assert "| few_shot | 4 | 80.0 | [40.0, 96.0] |" in markdown
    assert "| gen | openai/gpt-4o | 10 | 5 | 0 | 0.0001 |" in markdown
    assert "prices as of 2025-01-01" in markdown

    page = report_html_path(run).read_text()
    checker = check_page(page)
    assert len(checker.urls) == 4  # win rates, ratings, judge audit, personalization
    assert EVIL not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "enc &lt;script&gt;" in page and "BERTScore F1" in page
    assert '<td class="emphasis">0.900</td>' in page

    # without the section, its heatmap is gone from the folder and from the pages
    render_report(run, report.model_copy(update={"personalization": None}))
    assert not (tmp_path / "run" / "figures" / "personalization.png").exists()
    assert not (tmp_path / "run" / "figures" / "personalization.svg").exists()
    assert "personalization.png" not in run.report_md.read_text()


def audit_row(judge: str, self_preference: list[dict]) -> dict:
    return {
        "judge": judge,
        "judge_models": ["hf/judge-model"],
        "n_pairs": 12,
        "first_slot_win_rate": rate(0.75, 0.6, 0.85, 24),
        "position_consistency": rate(0.5, 0.3, 0.7, 12),
        "longer_win_rate": rate(0.6, 0.4, 0.75, 20),
        "length_coefficient": {
            "coefficient": 0.8,
            "ci_low": 0.1,
            "ci_high": 1.5,
            "ci_method": "cr2-ik",
            "n": 20,
            "separation": False,
        },
        "length_bins": [
            {"lead_low": -1.0, "lead_high": 0.0, "lead_mean": -0.5, "win_rate": 0.4, "n": 24},
            {"lead_low": 0.0, "lead_high": 1.0, "lead_mean": 0.5, "win_rate": 0.6, "n": 24},
        ],
        "self_preference": self_preference,
    }


def test_judge_audit_section_and_figure_from_plain_data():
    from prefbench.harness.report.figures import judge_audit_figure
    from prefbench.harness.report.tables import judge_audit_section

    flagged = {"system": "own", "models": ["hf/judge-model"], "win_rate": 0.9, "n": 12}
    flagged |= {"ci_low": 0.7, "ci_high": 0.97, "ci_method": "wilson", "ci_guaranteed": True}
    modest = {**flagged, "system": "twin", "win_rate": 0.55, "ci_low": 0.4, "ci_high": 0.7}
    gate = {"flagged": True, "reasons": ["position bias: candidate 1 chosen in 75.0 %"]}
    similarity = audit(**{**audit_row("similarity", []), "order_blind": True})
    audits = [audit(**{**audit_row(EVIL, [flagged, modest]), "quality_gate": gate}), similarity]
    section = judge_audit_section(audits)
    by_judge = {item.judge: item for item in audits}
    markdown = report_markdown(make_report(judge_audit=by_judge), {})
    # the order tests appear once: for the LLM judge, not for the order-blind similarity judge
    assert (
        markdown.count("| candidate 1 wins (50 = no position bias) | 75.0 | [60.0, 85.0] | 24 |")
        == 1
    )
    assert markdown.count("| both orders agree |") == 1
    assert "| longer candidate wins | 60.0 | [40.0, 75.0] | 20 |" in markdown
    assert EVIL not in markdown
    [own_gate, own_paragraph, similarity_gate, none_paragraph] = section.paragraphs
    assert own_gate.startswith("Quality gate (") and "FAILED ⚠ — position bias" in own_gate
    assert similarity_gate.startswith("Quality gate (similarity): passed. It ignores the order")
    assert "own 90.0 % [70.0, 97.0] over 12 pairs — FLAGGED" in own_paragraph
    assert "twin 55.0 %" in own_paragraph and own_paragraph.count("FLAGGED") == 1
    assert none_paragraph == (
        "Self-preference (similarity): the judge's models (hf/judge-model) are no system's model."
    )
    no_model = judge_audit_section([audit(**{**audit_row("similarity", []), "judge_models": []})])
    assert no_model.paragraphs[1:] == [
        "Self-preference (similarity): none possible, the judge calls no model."
    ]
    figure = judge_audit_figure(make_report(judge_audit=by_judge))
    shares, lengths = figure.axes
    assert len(shares.patches) == 6  # 3 shares × 2 judges
    assert [list(line.get_ydata()) for line in lengths.get_lines()[:2]] == [[0.4, 0.6]] * 2
    assert list(lengths.get_lines()[0].get_xdata()) == [-0.5, 0.5]
    assert judge_audit_figure(make_report()) is None
    unparsed = audit(**{**audit_row("llm", []), "first_slot_win_rate": rate(), "length_bins": []})
    assert judge_audit_figure(make_report(judge_audit={"llm": unparsed})) is not None
    assert judge_audit_figure(make_report(judge_audit={"llm": audit("llm")})) is None


def test_agreement_sits_between_the_results_and_the_cost(monkeypatch):
    from prefbench.harness.report import tables as report_tables

    agreement = Section(
        key="agreement",
        title="Human evaluation",
        paragraphs=[f"kappa {{0.7}} {EVIL}"],
        tables=[Table(columns=columns("annotator", "κ"), rows=[cells("ann", "0.7")])],
    )
    monkeypatch.setattr(report_tables, "agreement_report_section", lambda _: agreement)
    report = make_report(agreement={"kappa": 0.7}, cost=optional_sections()["cost"])
    markdown = report_markdown(report)
    assert "## Human evaluation\n\nkappa {0.7} &lt;script&gt;" in markdown
    assert "| annotator | κ |\n|---|---:|\n| ann | 0.7 |" in markdown
    assert markdown.index("## Leaderboard") < markdown.index("## Human") < markdown.index("## Cost")
    page = report_html(report)
    assert '<section id="agreement">\n<h2>Human evaluation</h2>' in page
    assert page.index('id="leaderboard"') < page.index('id="agreement"') < page.index('id="cost"')
    check_page(page)


def test_cli_report_json_prints_report_json_only(finished, monkeypatch, capsys):
    run_dir, _ = finished
    code, out, _ = run_cli_split(
        monkeypatch, capsys, "report", "--run", str(run_dir), "--format", "json"
    )
    assert code == 0
    assert json.loads(out) == json.loads((run_dir / "report.json").read_text())


@pytest.mark.parametrize("output_format", ["md", "html"])
def test_cli_report_rewrites_the_files(finished, monkeypatch, capsys, output_format):
    run_dir, _ = finished
    written = run_dir / f"report.{output_format}"
    for path in (written, run_dir / "figures" / "win_rates.png"):
        path.unlink()
    code, out, _ = run_cli_split(
        monkeypatch, capsys, "report", "--run", str(run_dir), "--format", output_format
    )
    assert code == 0, out
    assert written.is_file() and (run_dir / "figures" / "win_rates.png").is_file()
    assert "small_zero_shot" in out and "Aggregate" in out and f"report.{output_format}" in out


def test_cli_report_unknown_format(finished, monkeypatch, capsys):
    run_dir, _ = finished
    code, out, err = run_cli_split(
        monkeypatch, capsys, "report", "--run", str(run_dir), "--format", "pdf"
    )
    assert code == 2 and "md, html, json, csv" in out + err


@pytest.mark.parametrize(
    ("content", "problem", "fix"),
    [
        (None, "does not exist", "prefbench run"),
        ("{not json", "is corrupt", "prefbench judge --run"),
        ("[1, 2]", "is corrupt (not a JSON object)", "prefbench judge --run"),
        (b"\xff\xfe", "is corrupt", "prefbench judge --run"),
    ],
)
def test_report_json_is_read_in_one_place_that_names_the_file_and_the_fix(
    tmp_path, content, problem, fix
):
    from prefbench.core.errors import PrefbenchInputError
    from prefbench.harness.report.build import read_previous_report
    from prefbench.harness.report.file import read_report

    run = RunFolder(tmp_path / "run")
    run.root.mkdir()
    if isinstance(content, str):
        run.report_json.write_text(content)
    elif content is not None:
        run.report_json.write_bytes(content)
    with pytest.raises(PrefbenchInputError) as raised:
        read_report(run)
    assert str(run.report_json) in str(raised.value)
    assert problem in str(raised.value) and fix in str(raised.value)
    assert read_previous_report(run) is None  # the pipeline rebuilds it
    written = make_report()
    run.report_json.write_text(json.dumps(written.dump()))
    assert read_report(run) == read_previous_report(run) == written


def test_an_older_report_json_is_refused_with_the_command_that_rebuilds_it(tmp_path):
    from prefbench.harness.report.build import read_previous_report
    from prefbench.harness.report.file import OlderReportLayout, read_report

    run = RunFolder(tmp_path / "run")
    run.root.mkdir()
    older = {**make_report().dump(), "comparisons": [], "aggregate": [], "ratings": []}
    del older["schema_version"]
    run.report_json.write_text(json.dumps(older))
    with pytest.raises(OlderReportLayout) as raised:
        read_report(run)
    message = str(raised.value)
    assert str(run.report_json) in message and "no schema_version" in message
    assert f"prefbench report --run {run.root}" in message
    assert read_previous_report(run) is None  # a run rebuilds it


def test_cli_report_rebuilds_an_older_report_json(finished, monkeypatch, capsys, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished[0], run_dir)
    older = json.loads((run_dir / "report.json").read_text())
    del older["schema_version"]
    (run_dir / "report.json").write_text(json.dumps(older))
    code, out, err = run_cli_split(monkeypatch, capsys, "report", "--run", str(run_dir))
    assert code == 0, out + err
    assert "rebuilding it" in out
    assert json.loads((run_dir / "report.json").read_text())["schema_version"] == 7
