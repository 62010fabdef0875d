"""The chat app served for real: a Gradio server on a free port, asked through gradio_client,
plus the page's event handler, its rendering and the feedback writer on real engine answers."""

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

import gradio as gr
import pytest

from qa import ui
from qa.errors import QAError
from qa.feedback import append_feedback, record_dislike
from qa.serving import exposure_warning
from qa.engine import Engine
from qa.settings import PROJECT_ROOT, Settings
from qa.types import Citation
from qa.ui_html import esc, link_markers, passage_html, render_header, render_panel, render_reply

CHINA = "What share of lithium-ion battery production does China have?"
ARTICLE = PROJECT_ROOT / "corpus" / "battery-race.md"


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory, load_tool):  # type: ignore[no-untyped-def]
    feedback = tmp_path_factory.mktemp("feedback") / "feedback.jsonl"
    demo = ui.build_app(engine, feedback_path=feedback)
    url = ui.launch(demo, "127.0.0.1", load_tool.free_port(), block=False)
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
    assert Citation(**c).matches(article)


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
    returns = [r["python_type"]["type"] for r in endpoints["/ask"]["returns"]]
    assert len(returns) == 2 and returns[0] == "str", f"two outputs, the text and the Answer dict: {returns}"


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


# ------------------------------------------------------------------ the page's handler, on the real engine

def run(respond, question: str, chat: list, turns: list, k: float | None = 4) -> tuple[list, str, list]:
    """Drive one question through the page's handler as Gradio does, which keeps the last value of
    each output (skipped outputs keep theirs); returns the chat, the Sources panel and the turns."""
    panel = ""
    for chat_out, panel_out, _, turns_out in respond(question, chat, turns, k, None, 1234.0):
        chat = chat_out if isinstance(chat_out, list) else chat
        panel = panel_out if isinstance(panel_out, str) else panel
        turns = turns_out if isinstance(turns_out, list) else turns
    return chat, panel, turns


def test_blank_question_changes_nothing(engine) -> None:
    updates = list(ui.make_respond(engine)("  \n ", [], [], 4, None, None))
    assert updates == [(gr.skip(),) * 4], "no message, no sources, the box and the history untouched"


def test_each_answer_keeps_its_own_marker_and_card_ids(engine) -> None:
    respond = ui.make_respond(engine)
    chat, _, turns = run(respond, CHINA, [], [])
    chat, panel, turns = run(respond, "How does the U.S. government support battery production?", chat, turns)
    first, second = chat[1]["content"], chat[3]["content"]
    assert 'href="#src-1-1"' in first and "#src-2-" not in first
    assert 'href="#src-2-1"' in second and "#src-1-" not in second
    assert panel.count('id="src-1-1"') == 1 and panel.count('id="src-2-1"') == 1
    assert re.search(r'<section class="qa-turn qa-current" id="turn-2"', panel), "the latest answer's sources show"
    assert "over 70%" in re.search(r'id="turn-1".*?</section>', panel).group(0)
    assert turns[1]["history"] == [CHINA]


def test_top_k_is_held_to_the_sliders_range(engine) -> None:
    respond = ui.make_respond(engine)
    assert len(run(respond, CHINA, [], [], k=50)[2][0]["answer"]["passages"]) == ui.TOP_K_MAX
    assert len(run(respond, CHINA, [], [], k=0.4)[2][0]["answer"]["passages"]) == 1


def test_top_k_halves_round_up_as_the_page_shows_them(engine) -> None:
    """The page's box shows Math.round(2.5) = 3; Python's round(2.5) is 2."""
    respond = ui.make_respond(engine)
    assert len(run(respond, "Who won the 2018 football world cup?", [], [], k=2.5)[2][0]["answer"]["passages"]) == 3


def test_header_counts_many_documents_and_folds_their_list(engine) -> None:
    one, _ = render_header(engine.documents)
    assert "<p>Answers come only from <em>The Global Battery Race" in one and "(<code>" in one
    assert "<details" not in one
    many = [type("Doc", (), {"title": f"Village {i}", "source": f"corpus/uploads/village{i}.md", "text": "x"})
            for i in range(53)]
    header, article = render_header(many)
    assert "Answers come only from 53 documents:" in header
    folded = re.search(r'<details class="qa-doc-list"><summary>Which documents</summary>(.*)</details>', header)
    assert folded and folded.group(1).count("<li>") == 53 and "village52.md" in folded.group(1)
    assert "village0.md" not in header.split("<details")[0], "the sentence itself stays short"
    assert article.count('class="qa-article"') == 53


def test_page_view_follows_the_serving_engine(engine, town) -> None:
    """What a page load draws (header, article, document choice, examples) is the serving
    engine's, read at load time: after an upload swaps the engine, new pages show the new corpus."""
    from qa.batching import Batcher

    batcher = Batcher.for_engine(engine)
    view = ui.make_view(batcher)
    header, _, document, *examples = view()
    assert "battery-race.md" in header and document["visible"] is False
    assert len(examples) == ui.EXAMPLES_SHOWN and examples[0]["value"] in ui.example_questions(engine)
    batcher.engine = town
    header, article, document, *examples = view()
    assert "battery-race.md" not in header and any(d.source in article for d in town.documents)
    assert document["choices"] == ui.document_choices(town)
    shown = [e["value"] for e in examples if e["visible"]]
    assert shown == ui.example_questions(town)[:ui.EXAMPLES_SHOWN]
    assert all(e["value"] == "" for e in examples if not e["visible"])


def test_finished_answer_says_how_sure_in_words_and_the_wait(engine) -> None:
    answer = engine.ask(CHINA).to_dict()
    html = render_reply(answer, answer["answer"], 3, {}, done=True, verdict=ui.confidence_label(answer["confidence"]),
                        waited_s=0.35, sent_at=5000.7)
    assert ui.confidence_label(answer["confidence"]) in html
    assert f'(p = {answer["confidence"]:.2f})' in html, "the number is there, for the scores view"
    assert 'id="wait-5000"' in html and "0.35 s" in html
    abstained = engine.ask("Who won the 2018 world cup?").to_dict()
    html = render_reply(abstained, abstained["answer"], 4, {}, done=True, verdict="ignored")
    assert "No answer in the article" in html and "p = " not in html and "ignored" not in html


@pytest.mark.parametrize("p, words", [(0.95, "strong match"), (0.8, "strong match"), (0.79, "partial match"),
                                      (0.5, "partial match"), (0.49, "weak match"), (0.0, "weak match")])
def test_confidence_bands(p: float, words: str) -> None:
    assert ui.confidence_label(p) == words


# ------------------------------------------------------------------ rendering

def test_user_and_corpus_text_is_escaped() -> None:
    evil = '<script>alert(1)</script><img src=x onerror=alert(1)> [2] *b* $x$ {{v}} ${v}'
    shown = esc(evil)
    assert "<" not in shown and ">" not in shown and "$" not in shown and "{" not in shown
    passage = "<p>before " + evil + " after"
    citation = {"n": 1, "chunk_id": "c", "source": "corpus/<b>.md", "section": "<i>S</i>", "quote": evil,
                "start": 10, "end": 10 + len(evil), "passage": passage, "passage_start": 0, "score": 0.5}
    answer = {"question": evil, "searched_for": evil, "answer": evil + " [1]", "abstained": False,
              "confidence": 0.9, "citations": [citation], "passages": []}
    for html in (render_panel([answer], {}), render_reply(answer, answer["answer"], 1, {}, done=True, verdict="x")):
        assert "<script" not in html and "<img" not in html and "<b>" not in html and "<p>before" not in html
        assert "<mark>&#60;script&#62;" in html


def test_markers_link_to_their_answers_cards_and_the_rest_is_escaped() -> None:
    shown = link_markers("A <b>quote</b>. [1] Another. [2]", 3, {1: 1, 2: 1})
    assert shown.count('href="#src-3-1"') == 2 and "<b>" not in shown


def test_two_quotes_from_one_passage_make_one_card_with_both_highlights() -> None:
    text = "First sentence here. Second one follows. Third ends it."
    quotes = [(0, 20), (41, 55)]
    citations = [{"n": n, "chunk_id": "doc/one", "source": "doc.md", "section": "S", "quote": text[s:e], "start": s,
                  "end": e, "passage": text, "passage_start": 0, "score": 0.5} for n, (s, e) in enumerate(quotes, 1)]
    answer = {"question": "q", "searched_for": "q", "answer": "First sentence here. [1] Third ends it. [2]",
              "abstained": False, "confidence": 0.7, "citations": citations, "passages": []}
    panel = render_panel([answer], {})
    assert panel.count('<article class="qa-card"') == 1
    assert re.findall(r"<mark>(.*?)</mark>", panel) == ["First sentence here.", "Third ends it."]
    reply = render_reply(answer, answer["answer"], 1, {})
    assert reply.count('href="#src-1-1"') == 2, "both markers lead to the one card"


def test_a_passage_found_through_its_sentence_says_so_instead_of_a_blank_rrf() -> None:
    from qa.ui_html import _scores_line

    fused = _scores_line({"score": 0.4, "fused_score": 0.03, "dense_score": 0.6, "bm25_score": 2.0})
    by_sentence = _scores_line({"score": 0.4, "fused_score": None, "dense_score": 0.6, "bm25_score": 2.0})
    assert "RRF 0.0300" in fused and "found by sentence search" in by_sentence and "RRF" not in by_sentence


def test_markdown_list_items_show_as_list_items(engine) -> None:
    chunk = next(c for c in engine.index.chunks if c.section == "Key Takeaways" and "\n- " in c.text)
    document = engine.document(chunk.source).text
    prefix = document[document.rfind("\n", 0, chunk.start) + 1:chunk.start]
    html = passage_html(chunk.text, chunk.start, (), prefix)
    items = re.findall(r"<li>(.*?)</li>", html)
    assert len(items) == chunk.text.count("\n") + 1, html
    assert not any(item.startswith(("-", " -")) for item in items) and "\n" not in html
    assert html.startswith("<ul><li>") and html.endswith("</li></ul>")


def test_highlight_spans_paragraphs_and_list_items() -> None:
    text = "Intro line.\n\n- item one\n- item two\nstill two\n\n## Head\nLast."
    html = passage_html(text, 100, [(100 + text.index("one"), 100 + text.index("two\nstill") + 3, 1)])
    assert html == ("<p>Intro line.</p><ul><li>item <mark>one</mark></li><li><mark>item two</mark> still two</li>"
                    '</ul><p class="qa-h">Head</p><p>Last.</p>')


def test_sources_panel_highlights_the_cited_sentence(engine) -> None:
    answer = engine.ask(CHINA).to_dict()
    panel = render_panel([answer], {d.source: d.text for d in engine.documents})
    marked = re.search(r"<mark>(.*?)</mark>", panel).group(1)
    assert "over 70%" in marked
    assert 'id="src-1-1"' in panel and 'class="qa-scores"' in panel  # scores are drawn, shown on demand


def test_abstention_panel_is_marked_not_an_answer(engine) -> None:
    answer = engine.ask("Who won the 2018 world cup?").to_dict()
    panel = render_panel([answer], {})
    assert "not an answer" in panel and "<mark>" not in panel and "qa-closest" in panel


def test_examples_hold_the_five_faq_questions_of_the_article(engine) -> None:
    text = ARTICLE.read_text(encoding="utf-8")
    faq = text.split("## Frequently Asked Questions", 1)[1].split("\n## ", 1)[0]
    headings = re.findall(r"^### (.+\?)\s*$", faq, flags=re.M)
    assert len(headings) == 5
    examples = ui.example_questions(engine)
    assert examples[:5] == headings
    assert CHINA in examples


def test_the_bundled_article_s_facts_are_no_examples_on_a_corpus_that_does_not_answer_them(
        tmp_path: Path, engine) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ferry.md").write_text("# The Ferry\n\nThe ferry crosses the estuary twice a day.\n\n"
                                     "## When does the ferry run?\n\nIt runs from April to October.\n", encoding="utf-8")
    other = Engine.load(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=engine.embedder)
    assert ui.example_questions(other) == ["When does the ferry run?"]


def test_exposure_warning_only_beyond_this_machine() -> None:
    assert exposure_warning("127.0.0.1", share=False) is None
    assert "anyone" in exposure_warning("0.0.0.0", share=False)
    assert "public" in exposure_warning("127.0.0.1", share=True)


def test_cli_and_page_do_not_import_each_other() -> None:
    """`qa` stays quick (no Gradio until `qa serve`), and the page does not need the CLI."""
    cli = subprocess.run([sys.executable, "-c", "import sys, qa.cli; print(sorted(m for m in sys.modules "
                          "if m in ('gradio', 'qa.ui')))"], capture_output=True, text=True, timeout=60)
    page = subprocess.run([sys.executable, "-c", "import sys, qa.ui; print('qa.cli' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert cli.stdout.strip() == "[]", cli.stderr
    assert page.stdout.strip() == "False", page.stderr


def test_app_py_and_qa_serve_take_the_same_options() -> None:
    def options(args: list[str]) -> list[str]:
        out = subprocess.run([sys.executable, *args, "--help"], capture_output=True, text=True, timeout=120,
                             cwd=PROJECT_ROOT).stdout
        return [" ".join(line.split()) for line in out.split("options:", 1)[1].splitlines() if line.strip()]

    assert options(["app.py"]) == options(["-m", "qa.cli", "serve"])
    assert any(line.startswith("--host HOST") for line in options(["app.py"]))


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
