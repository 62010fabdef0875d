"""The chat page in a real headless Chromium, used as a new user would: ask, follow a marker to its
highlighted source (also in an earlier answer), follow up, clear, give a thumbs-down, try to send
nothing, use a phone, and check that markup typed as a question stays text.

Writes screenshots to tests/artifacts/; with QA_UPDATE_SCREENSHOT=1 it (re)writes the README's
docs/screenshot.png and docs/screenshot-phone.png instead."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import pytest

from qa import ui
from qa.settings import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
CHINA = "What share of lithium-ion battery production does China have?"
CHINA_STRATEGY = "What is China's strategy in the battery race?"
US = "How does the U.S. government support battery production?"
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
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
def browser(engine, feedback_file: Path, load_tool):  # type: ignore[no-untyped-def]
    """One real server and one Chromium for the module; each test opens its own tab (`page`)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install playwright)")
    demo = ui.build_app(engine, feedback_path=feedback_file)
    url = ui.launch(demo, "127.0.0.1", load_tool.free_port(), block=False)
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium, url
        chromium.close()
    demo.close()


def open_page(browser, viewport: dict, **options):  # type: ignore[no-untyped-def]
    chromium, url = browser
    tab = chromium.new_context(viewport=viewport, **options).new_page()
    tab.goto(url)
    tab.wait_for_selector("#qa-question textarea")
    tab.wait_for_function("document.querySelector('#qa-ask') && document.querySelector('#qa-ask').disabled")
    return tab


@pytest.fixture()
def page(browser) -> Iterator:  # type: ignore[no-untyped-def]
    tab = open_page(browser, DESKTOP)
    yield tab
    tab.context.close()


@pytest.fixture()
def phone(browser) -> Iterator:  # type: ignore[no-untyped-def]
    tab = open_page(browser, PHONE, is_mobile=True, has_touch=True)
    yield tab
    tab.context.close()


def ask(page, question: str) -> None:  # type: ignore[no-untyped-def]
    """Type a question, press Enter, and wait until its answer has finished streaming."""
    done_before = page.locator("#qa-chat .qa-done").count()
    box = page.locator("#qa-question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(f"document.querySelectorAll('#qa-chat .qa-done').length > {done_before}",
                           timeout=ANSWER_TIMEOUT_MS)


def answer(page, index: int = -1):  # type: ignore[no-untyped-def]
    """The bubble of an answer (with its notes and sources), by position."""
    return page.locator("#qa-chat .message-content").filter(has=page.locator(".qa-answer")).nth(index)


def current_sources(page):  # type: ignore[no-untyped-def]
    return page.locator("#qa-sources .qa-turn.qa-current")


def screenshot(page, readme_name: str, artifact_name: str) -> None:  # type: ignore[no-untyped-def]
    target = PROJECT_ROOT / ("docs" if UPDATE_SCREENSHOT else "tests/artifacts") / (
        readme_name if UPDATE_SCREENSHOT else artifact_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))


def last_feedback(path: Path, page) -> dict:  # type: ignore[no-untyped-def]
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    page.locator("#qa-chat").get_by_role("button", name="Dislike").last.click()  # the latest answer's
    for _ in range(100):
        if path.exists() and path.read_text(encoding="utf-8") != before:
            break
        page.wait_for_timeout(100)
    return json.loads(path.read_text(encoding="utf-8").splitlines()[-1])


# ------------------------------------------------------------------ desktop

def test_answer_shows_marker_linked_to_highlighted_source(page) -> None:
    ask(page, CHINA)
    assert "over 70%" in answer(page).locator(".qa-answer").inner_text()
    marker = answer(page).locator('a.qa-cite[href="#src-1-1"]')
    assert marker.inner_text() == "[1]"
    card = page.locator("#qa-sources #src-1-1")
    assert card.is_visible() and "over 70%" in card.locator("mark").inner_text()
    assert "corpus/battery-race.md" in card.inner_text() and "Conclusion" in card.inner_text()
    marker.click()  # scrolls to and flashes the card, in this tab
    page.wait_for_selector("#qa-sources #src-1-1.qa-flash", timeout=5_000)
    assert len(page.context.pages) == 1
    verdict = answer(page).locator(".qa-verdict")
    assert verdict.inner_text() in ("strong match", "partial match", "weak match")
    assert "Probability" in verdict.get_attribute("title")


def test_marker_of_an_earlier_answer_shows_that_answers_own_card(page) -> None:
    ask(page, CHINA)
    ask(page, US)
    assert "For “" + US in current_sources(page).inner_text()
    answer(page, 0).locator("a.qa-cite").first.click()
    page.wait_for_selector("#qa-sources #src-1-1.qa-flash", timeout=5_000)
    assert CHINA in current_sources(page).locator(".qa-for").inner_text()
    card = page.locator("#qa-sources #src-1-1")
    assert card.is_visible() and "over 70%" in card.locator("mark").first.inner_text()
    assert not page.locator("#qa-sources #src-2-1").is_visible(), "the later answer's cards are put away"
    answer(page, 1).locator("a.qa-cite").first.click()  # and back to the latest answer
    page.wait_for_selector("#qa-sources #src-2-1.qa-flash", timeout=5_000)
    assert US in current_sources(page).locator(".qa-for").inner_text()


def test_follow_up_shows_what_was_searched_for(page) -> None:
    ask(page, CHINA)
    ask(page, "What about Europe?")
    searched = answer(page).locator(".qa-meta", has_text="Searched for:")
    assert "Europe" in searched.inner_text()
    assert current_sources(page).locator("mark").count() >= 1
    screenshot(page, "screenshot.png", "answer.png")  # a follow-up and its sources: what the README shows


@pytest.mark.parametrize("how", ["New chat", "the chat's trash icon"])
def test_clearing_forgets_the_conversation(page, feedback_file: Path, how: str) -> None:
    ask(page, CHINA)
    if how == "New chat":
        page.locator("#qa-clear").click()
    else:
        page.locator("#qa-chat").get_by_role("button", name="Clear").click()
    page.wait_for_function("document.querySelectorAll('#qa-chat .qa-answer').length === 0", timeout=10_000)
    page.wait_for_function("document.querySelectorAll('#qa-sources .qa-card').length === 0", timeout=10_000)
    ask(page, "What about Europe?")
    assert "Searched for" not in answer(page).inner_text(), "the cleared question is not history any more"
    assert page.locator("#qa-chat .qa-answer").count() == 1
    assert current_sources(page).locator(".qa-for").inner_text() == "For “What about Europe?”"
    item = last_feedback(feedback_file, page)
    assert item["question"] == "What about Europe?" and item["history"] == []


def test_thumbs_down_writes_an_eval_item(page, feedback_file: Path) -> None:
    ask(page, CHINA)
    ask(page, CHINA_STRATEGY)
    ask(page, "What about Europe?")
    item = last_feedback(feedback_file, page)
    assert item["question"] == "What about Europe?" and item["history"] == [CHINA, CHINA_STRATEGY]
    assert item["category"] == "feedback" and item["answerable"] is None


def test_blank_input_sends_nothing_and_the_counter_shows_the_limit(page) -> None:
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if "/queue/join" in request.url else None)
    box = page.locator("#qa-question textarea")
    limit = f"{ui.Settings().max_question_chars:,}"
    assert page.locator("#qa-count").inner_text() == f"0 / {limit}"
    for typed in ("", "   ", " \n "):
        box.fill(typed)
        box.press("Enter")
        assert page.locator("#qa-ask").is_disabled()
    page.locator("#qa-ask").click(force=True)  # a click on the disabled button does nothing either
    page.wait_for_timeout(500)
    assert sent == [] and page.locator("#qa-chat .message-row").count() == 0
    box.fill("x" * (ui.Settings().max_question_chars + 1))
    assert "too long" in page.locator("#qa-count").inner_text() and page.locator("#qa-ask").is_disabled()
    box.press("Enter")
    page.wait_for_timeout(300)
    assert sent == []
    ask(page, "What does Europe focus on?")
    assert len(sent) == 1 and page.locator("#qa-count").inner_text() == f"0 / {limit}"


def test_scores_and_the_probability_show_on_demand(page) -> None:
    ask(page, CHINA)
    assert not current_sources(page).locator(".qa-scores").first.is_visible()
    assert not answer(page).locator(".qa-prob").is_visible()
    page.locator("#qa-settings button").first.click()
    page.get_by_label("Show scores", exact=False).check()
    page.wait_for_function("getComputedStyle(document.querySelector('#qa-sources .qa-scores')).display !== 'none'",
                           timeout=5_000)
    assert "dense " in current_sources(page).locator(".qa-scores").first.inner_text()
    assert answer(page).locator(".qa-prob").is_visible() and "p = " in answer(page).locator(".qa-prob").inner_text()


def test_top_k_number_box_agrees_with_the_slider(page) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # present: the page fixture needs it

    page.locator("#qa-settings button").first.click()
    number, slider = page.locator("#qa-top-k input[type=number]"), page.locator("#qa-top-k input[type=range]")
    # The settings open with an animation; a value typed before the box is shown can be put
    # back by the render that shows it ("50" typed, "4" kept: 3 runs in 12 here; 0 in 18 with
    # this wait, but 1 full CI run in 4 on a loaded machine). Such a value is typed once more:
    # what is checked is where a typed value ends up, not the race with the opening render.
    number.wait_for(state="visible")
    for typed, shown in (("50", "10"), ("3.5", "4"), ("0", "1")):
        for attempt in range(3):
            number.fill(typed)
            number.press("Tab")
            try:
                page.wait_for_function(
                    f"document.querySelector('#qa-top-k input[type=number]').value === '{shown}'", timeout=3_000)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
        assert slider.input_value() == shown


def test_top_k_typed_then_enter_shows_the_value_used(page) -> None:
    """Enter in the number box commits it as leaving the box does: "0" shows as 1, and the next
    answer uses that many passages."""
    page.locator("#qa-settings button").first.click()
    number = page.locator("#qa-top-k input[type=number]")
    number.wait_for(state="visible")
    for typed, shown in (("0", "1"), ("2.5", "3"), ("50", "10")):
        number.fill(typed)
        number.press("Enter")
        page.wait_for_function(f"document.querySelector('#qa-top-k input[type=number]').value === '{shown}'",
                               timeout=5_000)
    number.fill("2.5")
    number.press("Enter")
    page.wait_for_function("document.querySelector('#qa-top-k input[type=number]').value === '3'", timeout=5_000)
    ask(page, "Who won the 2018 football world cup?")  # declined: the card count is k
    assert current_sources(page).locator(".qa-card.qa-closest").count() == 3


def test_long_sources_scroll_inside_the_panel(page) -> None:
    """Ten closest passages are taller than the panel: the panel scrolls, so the last one can be read."""
    page.set_viewport_size({"width": 1366, "height": 900})
    page.locator("#qa-settings button").first.click()
    number = page.locator("#qa-top-k input[type=number]")
    number.wait_for(state="visible")
    number.fill("10")
    number.press("Tab")
    page.wait_for_function("document.querySelector('#qa-top-k input[type=number]').value === '10'", timeout=5_000)
    ask(page, "Who is Japan's battery champion?")
    panel = page.locator("#qa-sources")
    assert panel.evaluate("e => getComputedStyle(e).overflowY") in ("auto", "scroll")
    assert panel.evaluate("e => e.scrollHeight > e.clientHeight"), "ten cards overflow the panel"
    last = current_sources(page).locator(".qa-card").last
    last.scroll_into_view_if_needed()
    box, frame = last.bounding_box(), panel.bounding_box()
    assert panel.evaluate("e => e.scrollTop") > 0
    assert frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"] + 1, (box, frame)
    # The panel's header keeps "answer 1 of 1" on one line beside the long title.
    nav = current_sources(page).locator(".qa-nav > span")
    assert "answer 1 of 1" in nav.inner_text()
    assert nav.evaluate("e => e.getClientRects().length") == 1 and nav.bounding_box()["height"] < 24


def test_an_error_message_has_no_feedback_buttons(page) -> None:
    ask(page, CHINA)
    box = page.locator("#qa-question textarea")
    box.fill("?!?!")
    box.press("Enter")
    page.wait_for_selector("#qa-chat .qa-error", timeout=ANSWER_TIMEOUT_MS)
    assert "no words to search for" in page.locator("#qa-chat .qa-error").inner_text()
    dislikes = page.locator("#qa-chat button[aria-label='Dislike']")
    assert dislikes.count() == 2, "the buttons are drawn under both messages"
    assert dislikes.nth(0).is_visible() and not dislikes.nth(1).is_visible(), "and shown under the answer only"


def test_examples_show_their_full_text(page) -> None:
    buttons = page.locator("#qa-examples button")
    assert buttons.count() >= 5
    for i in range(buttons.count()):
        button = buttons.nth(i)
        assert button.get_attribute("title") == button.inner_text().strip()
        assert not button.inner_text().endswith("...")
    done = page.locator("#qa-chat .qa-done").count()
    buttons.first.click()
    page.wait_for_function(f"document.querySelectorAll('#qa-chat .qa-done').length > {done}", timeout=ANSWER_TIMEOUT_MS)
    assert buttons.first.inner_text().strip() in page.locator("#qa-chat .message-row").first.inner_text()


def test_markup_in_a_question_shows_as_text_and_never_runs(page) -> None:
    ask(page, XSS)
    assert XSS in page.locator("#qa-chat .message-row").first.inner_text()
    assert page.locator("#qa-chat img[src='x']").count() == 0
    assert page.locator("#qa-chat script").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"


def test_abstention_says_so_and_lists_the_closest_passages(page) -> None:
    ask(page, "Who won the 2018 football world cup?")
    assert "not answer" in answer(page).locator(".qa-answer").inner_text()
    assert answer(page).locator(".qa-verdict").inner_text() == "No answer in the article"
    assert "not an answer" in current_sources(page).locator("h3").inner_text()
    assert current_sources(page).locator(".qa-card.qa-closest").count() >= 1


# ------------------------------------------------------------------ phone

def test_phone_is_answer_first(phone) -> None:
    box = phone.locator("#qa-question textarea").bounding_box()
    assert phone.evaluate("window.scrollY") == 0
    assert 0 <= box["y"] and box["y"] + box["height"] <= PHONE["height"], f"question box at {box} on load"
    assert not phone.locator("#qa-sources").is_visible(), "no side panel: the sources sit under each answer"
    ask(phone, CHINA)
    ask(phone, US)
    box = phone.locator("#qa-question textarea").bounding_box()
    assert box["y"] + box["height"] <= PHONE["height"], "the question box stays on screen"
    first = answer(phone, 0)
    first.locator("a.qa-cite").first.click()  # the first answer's own source unfolds under it
    phone.wait_for_selector("#in-1-1.qa-flash", timeout=5_000)
    assert phone.evaluate("document.getElementById('inline-1').open")
    assert "over 70%" in phone.locator("#in-1-1 mark").inner_text()
    phone.locator("#inline-1 a.qa-back").click()  # and back to the answer
    phone.wait_for_function("!document.getElementById('inline-1').open", timeout=5_000)
    phone.wait_for_timeout(800)  # the smooth scroll
    top = phone.locator("#answer-1").bounding_box()["y"]
    assert 0 <= top < PHONE["height"] / 2, f"the answer is back in view (at {top})"
    phone.locator("#inline-2 summary").click()  # a phone user reading the latest answer's sources
    phone.locator("#qa-chat .message-row.user-row").last.evaluate(
        "e => { e.scrollIntoView({block: 'start'}); window.scrollBy(0, -12); }")
    phone.wait_for_timeout(300)
    screenshot(phone, "screenshot-phone.png", "answer-phone.png")
