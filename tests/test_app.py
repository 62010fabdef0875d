"""The chat app served for real: a Gradio server on a free port, asked through gradio_client,
plus the rendering helpers and the feedback writer on real engine answers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import app
from qa.errors import QAError
from qa.feedback import append_feedback, record_dislike
from qa.settings import PROJECT_ROOT

CHINA = "What share of lithium-ion battery production does China have?"
ARTICLE = PROJECT_ROOT / "corpus" / "battery-race.md"


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory, load_tool):  # type: ignore[no-untyped-def]
    feedback = tmp_path_factory.mktemp("feedback") / "feedback.jsonl"
    demo = app.build_app(engine, feedback_path=feedback)
    url = app.launch(demo, "127.0.0.1", load_tool.free_port(), block=False)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def client(server):  # type: ignore[no-untyped-def]
    from gradio_client import Client

    return Client(server, verbose=False)


def test_api_answer_cites_chinas_share_with_a_checkable_quote(client) -> None:
    text, data = client.predict(CHINA, [], api_name="/ask")
    assert "over 70%" in text and "[1]" in text
    assert not data["abstained"]
    article = ARTICLE.read_text(encoding="utf-8")
    cited = [c for c in data["citations"] if "over 70%" in c["quote"]]
    assert cited, data["citations"]
    c = cited[0]
    assert c["source"] == "corpus/battery-race.md"
    assert article[c["start"]:c["end"]] == c["quote"]
    assert c["passage"][c["start"] - c["passage_start"]:c["end"] - c["passage_start"]] == c["quote"]


def test_api_off_topic_question_abstains_with_closest_passages(client) -> None:
    text, data = client.predict("Who won the football world cup in 2018?", [], api_name="/ask")
    assert data["abstained"] is True
    assert data["citations"] == []
    assert data["passages"], "the closest passages are still returned"
    assert "[1]" not in text


def test_api_follow_up_is_resolved_against_history(client) -> None:
    _, data = client.predict("What about Europe?", [CHINA], api_name="/ask")
    assert data["question"] == "What about Europe?"
    assert data["searched_for"] != data["question"]
    assert "Europe" in data["searched_for"]


@pytest.mark.parametrize("question, words", [("   ", "empty"), ("battery " * 200, "long")])
def test_api_bad_question_gives_a_clear_message_not_a_trace(client, question: str, words: str) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        client.predict(question, [], api_name="/ask")
    message = str(caught.value)
    assert words in message.lower()
    assert "Traceback" not in message and "File \"" not in message


def test_api_only_the_ask_endpoint_is_public(client) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/ask"]


def test_many_users_at_once_all_get_answers(server) -> None:
    from gradio_client import Client

    questions = [CHINA, "What is Europe's market share goal for 2030?", "How is the U.S. expanding capacity?",
                 "How Are Regional Leaders Addressing Battery Recycling Challenges?"] * 2

    def ask(q: str) -> dict:
        return Client(server, verbose=False).predict(q, [], api_name="/ask")[1]

    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        results = list(pool.map(ask, questions))
    assert [r["question"] for r in results] == [" ".join(q.split()) for q in questions]
    assert all(r["answer"] for r in results)


def test_page_is_served(server) -> None:
    with urllib.request.urlopen(server, timeout=10) as response:
        assert response.status == 200
        assert "<html" in response.read(2000).decode("utf-8", "replace").lower()


# ------------------------------------------------------------------ feedback (the real writer)

def test_dislike_appends_one_eval_line_per_click(engine, tmp_path: Path) -> None:
    path = tmp_path / "new-folder" / "feedback.jsonl"
    first = engine.ask("What about Europe?", history=[CHINA]).to_dict()
    record_dislike(path, first, [CHINA])
    before = path.read_text(encoding="utf-8")
    record_dislike(path, engine.ask("Who won the 2018 world cup?").to_dict(), [])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert path.read_text(encoding="utf-8").startswith(before), "earlier lines are never rewritten"
    assert len(lines) == 2
    items = [json.loads(line) for line in lines]
    keys = {"id", "category", "question", "history", "answerable", "expect_any", "support",
            "answer", "citations", "abstained", "created"}
    for item in items:
        assert set(item) == keys
        assert item["id"].startswith("feedback-") and item["category"] == "feedback"
        assert item["answerable"] is None and item["expect_any"] == [] and item["support"] == []
    assert items[0]["question"] == "What about Europe?" and items[0]["history"] == [CHINA]
    assert items[0]["citations"] == first["citations"]
    assert items[1]["abstained"] is True


def test_concurrent_dislikes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"
    threads = [threading.Thread(target=append_feedback, args=(path, {"id": f"feedback-{i}", "text": "x" * 5000}))
               for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = sorted(json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines())
    assert ids == sorted(f"feedback-{i}" for i in range(20))


def test_feedback_to_an_unwritable_place_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(QAError, match="Could not save feedback"):
        append_feedback(blocker / "feedback.jsonl", {"id": "feedback-1"})


# ------------------------------------------------------------------ rendering

def test_user_and_corpus_text_is_escaped() -> None:
    evil = '<script>alert(1)</script><img src=x onerror=alert(1)> [2] *b* $x$ {{v}} ${v}'
    shown = app.esc(evil)
    assert "<" not in shown and ">" not in shown and "$" not in shown and "{" not in shown
    citation = {"n": 1, "chunk_id": "c", "source": "corpus/<b>.md", "section": "<i>S</i>", "quote": evil,
                "start": 10, "end": 10 + len(evil), "passage": "<p>before " + evil + " after", "passage_start": 0,
                "score": 0.5}
    answer = {"citations": [citation], "passages": [], "abstained": False}
    panel = app.render_sources(answer, show_scores=True)
    assert "<script" not in panel and "<img" not in panel and "<b>" not in panel and "<p>before" not in panel
    assert "<mark>&#60;script&#62;" in panel


def test_markers_link_to_their_cards_and_the_rest_is_escaped() -> None:
    shown = app.link_markers("A <b>quote</b>. [1] Another. [2]")
    assert '<a class="qa-cite" href="#src-1">' in shown and '<a class="qa-cite" href="#src-2">' in shown
    assert "<b>" not in shown


def test_sources_panel_highlights_the_cited_sentence(engine) -> None:
    answer = engine.ask(CHINA).to_dict()
    panel = app.render_sources(answer, show_scores=False)
    marked = re.search(r"<mark>(.*?)</mark>", panel).group(1)
    assert "over 70%" in marked
    assert 'id="src-1"' in panel and "RRF" not in panel
    assert "RRF" in app.render_sources(answer, show_scores=True)


def test_abstention_panel_is_marked_not_an_answer(engine) -> None:
    answer = engine.ask("Who won the 2018 world cup?").to_dict()
    panel = app.render_sources(answer, show_scores=False)
    assert "not an answer" in panel and "<mark>" not in panel and "qa-closest" in panel


def test_examples_hold_the_five_faq_questions_of_the_article(engine) -> None:
    text = ARTICLE.read_text(encoding="utf-8")
    faq = text.split("## Frequently Asked Questions", 1)[1].split("\n## ", 1)[0]
    headings = re.findall(r"^### (.+\?)\s*$", faq, flags=re.M)
    assert len(headings) == 5
    examples = app.example_questions(engine)
    assert examples[:5] == headings
    assert CHINA in examples


def test_exposure_warning_only_beyond_this_machine() -> None:
    assert app.exposure_warning("127.0.0.1", share=False) is None
    assert "anyone" in app.exposure_warning("0.0.0.0", share=False)
    assert "public" in app.exposure_warning("127.0.0.1", share=True)


# ------------------------------------------------------------------ `python app.py` as a user runs it

def test_python_app_py_serves_the_page(shared_index_dir: Path, engine, load_tool) -> None:  # type: ignore[no-untyped-def]
    """The README command, with the index the session already built (so only the model loads)."""
    port = load_tool.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(QA_INDEX_DIR=str(shared_index_dir), QA_PORT=str(port), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py")], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    output: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Serving the chat on" in line:
                break
        assert f"http://127.0.0.1:{port}" in "".join(output), "".join(output)
        assert "Loading the engine" in "".join(output)
        assert "Warning" not in "".join(output), "loopback needs no exposure warning"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)
