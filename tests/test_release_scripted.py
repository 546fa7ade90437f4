"""Release, submission and leaderboard on the scripted models (fast), and the site in Chromium.

The scripted run judges with the LLM judge (a scripted judge model with a price), so the
release's judge spec carries prompt files and the leaderboard's `--max-cost` has something to
refuse. The site is opened in headless Chromium (Debian's, driven by Playwright, as
`tests/test_human_browser.py` does): sorting a column reorders the rows, every link resolves
to a file of the site, and no request leaves it.
"""

import io
import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from rich.console import Console

from prefbench.harness.pipeline import generate, prepare_records, run_benchmark
from prefbench.harness.release import build_leaderboard, make_release, make_submission
from tests.helpers import run_cli, scripted_profile, scripted_run
from tests.test_human_browser import CHROMIUM, CHROMIUM_ARGS, PAGE_TIMEOUT_MS, require_browser

EXPENSIVE = {"input_per_million": 100.0, "output_per_million": 100.0}
NEW_SYSTEM = "positive_control"


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def finish(context) -> None:
    context.runner.close()
    assert context.lock is not None
    context.lock.release()


@pytest.fixture(scope="module")
def scripted_release(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A scripted run's release and a submission of `NEW_SYSTEM` from a copy of the run."""
    root = tmp_path_factory.mktemp("scripted-release")
    profile = scripted_profile(prices={"prefbench-mock/judge": EXPENSIVE})
    owner = root / "owner"
    context = scripted_run(owner, profile)
    run_benchmark(context)
    finish(context)
    copy = root / "copy"
    shutil.copytree(owner, copy, symlinks=True)
    release = root / "release"
    manifest = make_release(owner, release, quiet())
    context = scripted_run(copy, {**profile, "systems": [*profile["systems"], NEW_SYSTEM]})
    generate(context, prepare_records(context), only=NEW_SYSTEM)
    finish(context)
    submission = root / f"{NEW_SYSTEM}.json"
    make_submission(release, copy, NEW_SYSTEM, submission, quiet())
    return {"root": root, "release": release, "manifest": manifest, "submission": submission}


def test_the_judge_spec_holds_the_prompts_it_sends(scripted_release):
    spec = scripted_release["manifest"].judge
    assert spec.name == "llm" and spec.verdict == "text" and spec.roles == ["judge"]
    names = {prompt.name for prompt in spec.prompts}
    assert "email:judge" in names
    email = next(prompt for prompt in spec.prompts if prompt.name == "email:judge")
    shipped = Path(__file__).parents[1] / "core" / "text_kinds" / "email" / "judge.txt"
    assert email.content == shipped.read_text(encoding="utf-8")
    assert [email.name, email.sha256] in spec.key["judge_prompts"]
    assert spec.models["judge"]["model"] == "prefbench-mock/judge"
    written = json.loads((scripted_release["release"] / "judge.json").read_text())
    assert written == spec.model_dump(mode="json")


def test_the_new_judgments_are_counted_and_refused_above_the_ceiling(
    scripted_release, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    site = tmp_path / "site"
    args = ["leaderboard", "--release", str(scripted_release["release"])]
    args += [str(scripted_release["submission"]), "--out", str(site)]
    code, output = run_cli(monkeypatch, capsys, *args, "--max-cost", "0.000001")
    assert code == 2, output
    assert "new judgments: 4 (1 pair(s)" in output  # 2 test samples, both orders
    assert "above the cost ceiling of $0.0000" in output
    assert not (site / "leaderboard.json").exists()
    assert len(list((site / "work" / "logs" / "judge").glob("*.eval"))) == 2  # the release's

    code, output = run_cli(monkeypatch, capsys, *args, "--max-cost", "10")
    assert code == 0, output
    assert (
        "new judgments: 4 (1 pair(s) × both orders: judge-few_shot-vs-positive_control)" in output
    )
    code, output = run_cli(monkeypatch, capsys, *args, "--max-cost", "0")
    assert code == 0 and "new judgments: 0" in output, output  # nothing left: never refused


@pytest.fixture(scope="module")
def site(scripted_release, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site") / "site"
    build_leaderboard(
        scripted_release["release"], [scripted_release["submission"]], folder, quiet()
    )
    return folder


def test_the_site_sorts_links_inside_and_requests_nothing_outside(site: Path):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    outside: list[str] = []
    visited: set[Path] = set()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)

            def route(request_route):
                url = request_route.request.url
                if urlparse(url).scheme == "file":
                    request_route.continue_()
                else:
                    outside.append(url)
                    request_route.abort()

            page.route("**/*", route)
            page.goto((site / "index.html").as_uri())
            table = page.locator("table.sortable").first
            systems = table.locator("tbody tr td:first-child a")
            expect(systems).to_have_count(4)
            before = systems.all_inner_texts()

            def ordered_by(heading: str) -> list[str]:
                table.locator("th button", has_text=heading).click()
                return systems.all_inner_texts()

            by_name = ordered_by("system")
            assert by_name == sorted(before)
            assert ordered_by("system") == sorted(before, reverse=True)
            ordered_by("Bradley–Terry")  # numbers sort as numbers
            cells = table.locator("tbody tr td:nth-child(6)").all_inner_texts()
            numbers = [float(cell.replace(",", "")) for cell in cells if cell != "–"]
            assert numbers == sorted(numbers)

            # every link of every page resolves to a file of the site
            pages = [site / "index.html"]
            while pages:
                current = pages.pop()
                if current in visited:
                    continue
                visited.add(current)
                page.goto(current.as_uri())
                for href in page.locator("a").evaluate_all("links => links.map(l => l.href)"):
                    parsed = urlparse(href)
                    assert parsed.scheme == "file", f"{current}: link {href} leaves the site"
                    target = Path(unquote(parsed.path))
                    assert target.is_file(), f"{current}: link {href} resolves to no file"
                    assert site.resolve() in target.resolve().parents
                    if target.suffix == ".html":
                        pages.append(target)
        finally:
            browser.close()
    assert outside == []
    assert {path.name for path in visited} >= {"index.html", f"{NEW_SYSTEM}.html"}


def test_a_system_page_shows_sampled_pairs_and_provenance(site: Path, scripted_release):
    page = (site / "systems" / f"{NEW_SYSTEM}.html").read_text(encoding="utf-8")
    assert "Sampled pairs against few_shot" in page and "submitted" in page
    submission = json.loads(scripted_release["submission"].read_text())
    assert submission["outputs"][0]["output"].split()[0] in page  # the submitted text
    reference = (site / "systems" / "few_shot.html").read_text(encoding="utf-8")
    assert "The reference" in reference
    board = json.loads((site / "leaderboard.json").read_text())
    rows = {row["system"]: row for row in board["judges"][0]["rows"]}
    assert rows[NEW_SYSTEM]["provenance"]["status"] == "submitted"
    assert rows["small_zero_shot"]["provenance"]["status"] == "verified"
