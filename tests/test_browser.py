"""The chat page in a real headless Chromium: ask, see the marker and its highlighted source,
follow up, give a thumbs-down, and check that markup typed as a question stays text.

Writes a screenshot to tests/artifacts/; with QA_UPDATE_SCREENSHOT=1 it (re)writes the
README's docs/screenshot.png instead."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import app
from qa.settings import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CHINA = "What share of lithium-ion battery production does China have?"
CHINA_STRATEGY = "What is China's strategy in the battery race?"
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
# Read at import: the autouse fixture of conftest clears QA_* variables before each test.
UPDATE_SCREENSHOT = os.environ.get("QA_UPDATE_SCREENSHOT") == "1"
ANSWER_TIMEOUT_MS = 30_000  # one answer takes well under a second; a busy CI machine gets slack

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def feedback_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-feedback") / "feedback.jsonl"


@pytest.fixture(scope="module")
def page(engine, feedback_file: Path, load_tool):  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install playwright)")
    demo = app.build_app(engine, feedback_path=feedback_file)
    url = app.launch(demo, "127.0.0.1", load_tool.free_port(), block=False)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        tab.goto(url)
        tab.wait_for_selector("#qa-question textarea")
        yield tab
        browser.close()
    demo.close()


def ask(page, question: str) -> None:  # type: ignore[no-untyped-def]
    """Type a question, press Enter, and wait until its answer has finished streaming."""
    done_before = page.locator("#qa-chat .qa-done").count()
    box = page.locator("#qa-question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(f"document.querySelectorAll('#qa-chat .qa-done').length > {done_before}",
                           timeout=ANSWER_TIMEOUT_MS)


def last_answer(page):  # type: ignore[no-untyped-def]
    return page.locator("#qa-chat .qa-answer").last


def screenshot_path() -> Path:
    if UPDATE_SCREENSHOT:
        return PROJECT_ROOT / "docs" / "screenshot.png"
    return PROJECT_ROOT / "tests" / "artifacts" / "answer.png"


def test_answer_shows_marker_linked_to_highlighted_source(page) -> None:
    ask(page, CHINA)
    assert "over 70%" in last_answer(page).inner_text()
    marker = last_answer(page).locator('a.qa-cite[href="#src-1"]')
    assert marker.inner_text() == "[1]"
    card = page.locator("#qa-sources #src-1")
    assert "over 70%" in card.locator("mark").inner_text()
    assert "corpus/battery-race.md" in card.inner_text() and "Conclusion" in card.inner_text()
    marker.click()  # scrolls to and flashes the card, in this tab
    page.wait_for_selector("#qa-sources #src-1.qa-flash", timeout=5_000)
    assert len(page.context.pages) == 1


def test_follow_up_shows_what_was_searched_for(page) -> None:
    ask(page, CHINA_STRATEGY)
    ask(page, "What about Europe?")
    bubble = page.locator("#qa-chat .message-content").last
    searched = bubble.locator(".qa-meta", has_text="Searched for:")
    assert "Europe" in searched.inner_text()
    assert page.locator("#qa-sources mark").count() >= 1
    target = screenshot_path()  # two turns, a follow-up and its sources: what the README shows
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))


def test_scores_show_on_demand(page) -> None:
    assert page.locator("#qa-sources .qa-scores").count() == 0
    page.locator("#qa-settings button").first.click()
    page.get_by_label("Show retrieval scores on the source cards").check()
    page.wait_for_selector("#qa-sources .qa-scores", timeout=10_000)
    assert "RRF" in page.locator("#qa-sources .qa-scores").first.inner_text()


def test_thumbs_down_writes_an_eval_item(page, feedback_file: Path) -> None:
    page.locator("#qa-chat").get_by_role("button", name="Dislike").last.click()
    for _ in range(50):
        if feedback_file.exists() and feedback_file.read_text(encoding="utf-8").strip():
            break
        page.wait_for_timeout(100)
    item = json.loads(feedback_file.read_text(encoding="utf-8").splitlines()[-1])
    assert item["question"] == "What about Europe?" and item["history"] == [CHINA, CHINA_STRATEGY]
    assert item["category"] == "feedback" and item["answerable"] is None


def test_markup_in_a_question_shows_as_text_and_never_runs(page) -> None:
    ask(page, XSS)
    user_bubble = page.locator("#qa-chat .message-content").nth(-2)
    assert XSS in user_bubble.inner_text()
    assert page.locator("#qa-chat img[src='x']").count() == 0
    assert page.locator("#qa-chat script").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_abstention_and_bad_input_are_plain_messages(page) -> None:
    ask(page, "Who won the 2018 football world cup?")
    assert "not answer" in last_answer(page).inner_text()
    assert "not an answer" in page.locator("#qa-sources h3").inner_text()
    before = page.locator("#qa-chat .qa-error").count()
    page.locator("#qa-question textarea").fill("   ")
    page.locator("#qa-ask").click()
    page.wait_for_function(f"document.querySelectorAll('#qa-chat .qa-error').length > {before}",
                           timeout=ANSWER_TIMEOUT_MS)
    assert "empty" in page.locator("#qa-chat .qa-error").last.inner_text().lower()
    assert "Traceback" not in page.locator("#qa-chat").inner_text()


def test_new_chat_clears_the_conversation(page) -> None:
    page.locator("#qa-clear").click()
    page.wait_for_function("document.querySelectorAll('#qa-chat .qa-answer').length === 0", timeout=10_000)
    assert page.locator("#qa-sources .qa-card").count() == 0
