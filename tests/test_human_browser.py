"""Two annotators annotate a bundle through the real page in headless Chromium.

Debian's chromium (/usr/bin/chromium) driven by Playwright; never `playwright install`.
Skipped when chromium is absent, unless PREFBENCH_REQUIRE_BROWSER=1 (then it fails).
"""

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefbench.human_eval.bundle import item_order_for, read_bundle
from prefbench.human_eval.export import export_bundle
from prefbench.human_eval.folder import HumanFolder
from prefbench.human_eval.server import make_server
from prefbench.human_eval.store import AnnotationStore
from tests.human_fixtures import free_port, judged_run

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE_TIMEOUT_MS = 20_000
SCRIPT = "<script>window.pwned = 1</script>Hi <b>there</b>"

pytestmark = pytest.mark.integration


def require_browser() -> None:
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is absent (install Debian's chromium package)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "the playwright Python package is not installed"
    if reason is None:
        return
    if os.environ.get("PREFBENCH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"PREFBENCH_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The annotation app of a 4-item bundle on a free loopback port, in a thread."""
    require_browser()
    run = judged_run(
        tmp_path / "run", {"naive_finetune": 2, "small_zero_shot": 2}, candidate_b=SCRIPT
    )
    export_bundle(run, annotators=["alice", "bob"], seed=7)
    port = free_port()
    server = make_server(run, port=port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the annotation server did not start"
    try:
        yield f"http://127.0.0.1:{port}", run
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_two_annotators_annotate_through_the_page(served):
    from playwright.sync_api import expect, sync_playwright

    base, run = served
    bundle = read_bundle(run)
    order = item_order_for(bundle, "alice")
    assert order == item_order_for(bundle, "bob")
    alice_token = bundle.manifest.annotators[0].token
    bob_token = bundle.manifest.annotators[1].token

    # a loaded 2-core CI machine can take longer than the 5 s default to repaint
    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # alice: invite link, instructions, answers 1 and 2, back to 2 to change it
            alice = browser.new_context().new_page()
            alice.set_default_timeout(PAGE_TIMEOUT_MS)
            alice.goto(f"{base}/?token={alice_token}")
            expect(alice.locator("h1")).to_have_text("Instructions")
            alice.click("#begin")
            expect(alice.locator("#position")).to_have_text("1")
            expect(alice.locator("#progress")).to_have_text("0 of 4 answered")
            # email HTML is shown as text and never runs
            candidates = (
                alice.locator("#candidate-1").inner_text()
                + alice.locator("#candidate-2").inner_text()
            )
            assert SCRIPT in candidates
            assert alice.evaluate("window.pwned") is None
            assert alice.locator("#ground-truth").inner_text().startswith("Hello,\n\nground truth")
            alice.click("#choose-1")
            expect(alice.locator("#position")).to_have_text("2")
            alice.click("#choose-1")
            expect(alice.locator("#position")).to_have_text("3")
            expect(alice.locator("#progress")).to_have_text("2 of 4 answered")
            alice.click("#back")
            expect(alice.locator("#position")).to_have_text("2")
            expect(alice.locator("#current-answer")).to_have_text("Your answer: candidate 1")
            alice.click("#choose-2")
            expect(alice.locator("#position")).to_have_text("3")
            alice.click("#choose-2")
            alice.click("#choose-1")
            expect(alice.locator("#missing-summary")).to_contain_text("All 4 items are answered")
            expect(alice.locator("#progress")).to_have_text("4 of 4 answered")

            # alice signs out: her session ends, the page asks for sign-in again
            alice.click("#signout")
            expect(alice.locator("h1")).to_have_text("Sign in")
            alice.goto(f"{base}/item/1")
            expect(alice.locator("h1")).to_have_text("Sign in")

            # bob: sign-in form by name and token, skips item 2, answers item 4 by keyboard
            bob = browser.new_context().new_page()
            bob.set_default_timeout(PAGE_TIMEOUT_MS)
            bob.goto(base)
            bob.fill("#name", "bob")
            bob.fill("#token", "not-his-token")
            bob.click("#signin")
            expect(bob.locator("#reason")).to_contain_text("do not match")
            bob.goto(base)
            bob.fill("#name", "bob")
            bob.fill("#token", bob_token)
            bob.click("#signin")
            expect(bob.locator("h1")).to_have_text("Instructions")
            bob.click("#begin")
            bob.click("#choose-2")
            expect(bob.locator("#position")).to_have_text("2")
            bob.click("#next")
            expect(bob.locator("#position")).to_have_text("3")
            bob.click("#choose-1")
            expect(bob.locator("#position")).to_have_text("4")
            bob.keyboard.press("2")
            expect(bob.locator("#missing-summary")).to_contain_text("1 of 4 items")
            links = bob.locator("#missing-list a")
            expect(links).to_have_count(1)
            expect(links).to_have_attribute("data-item-id", order[1])
            # bob comes back later: resumes at the unanswered item
            later = browser.new_context().new_page()
            later.set_default_timeout(PAGE_TIMEOUT_MS)
            later.goto(base)
            later.fill("#name", "bob")
            later.fill("#token", bob_token)
            later.click("#signin")
            expect(later.locator("#position")).to_have_text("2")
            expect(later.locator("#progress")).to_have_text("3 of 4 answered")
            expect(later.locator("#current-answer")).to_have_text("Not answered yet")
        finally:
            browser.close()

    with AnnotationStore(HumanFolder(run).database) as store:
        latest = {key: answer.choice for key, answer in store.latest().items()}
        assert latest == {
            ("alice", order[0]): 1,
            ("alice", order[1]): 2,
            ("alice", order[2]): 2,
            ("alice", order[3]): 1,
            ("bob", order[0]): 2,
            ("bob", order[2]): 1,
            ("bob", order[3]): 2,
        }
        assert [a.choice for a in store.history(annotator="alice", item_id=order[1])] == [1, 2]
        assert store.history(annotator="bob", item_id=order[1]) == []
        assert store.count() == 8
        assert {a.source for a in store.history()} == {"app"}
