"""The chat page (Gradio): ask about the article, check every cited sentence beside the answer.

    python app.py [--host HOST] [--port PORT] [--share]      (or: qa serve ...)

All the answering is `Engine.ask`, through the server's `Batcher` (qa/batching.py), which
embeds questions arriving together in one go. This module wires the page and its events, and
serves the JSON API of qa/api.py beside it on the same port. The HTML is drawn by qa/ui_html.py
(escaped there), the style sheet and browser script live in qa/ui_assets.py.
"""

# No `from __future__ import annotations` here: gr.api reads the /ask function's annotations
# at run time to decide that it returns two outputs (text, Answer dict) rather than one pair.
import argparse
import hmac
import math
import re
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from qa import Engine, QAError, Settings, get_engine
from qa.api import api_app
from qa.batching import Batcher
from qa.corpus import megabytes
from qa.feedback import record_dislike
from qa.index import heading_of
from qa.logs import configure_logging
from qa.serving import TOP_K_MAX, add_server_arguments, exposure_problem, exposure_warning
from qa.ui_assets import COUNT_JS, CSS, HEAD, SCORES_JS, STAMP_SENT_JS
from qa.ui_uploads import ACCEPTED, ALL_DOCUMENTS, RefuseUploads, chosen_sources, document_choices, make_on_upload
from qa.ui_html import EMPTY_PANEL, esc, render_header, render_panel, render_question, render_reply

# Facts of the bundled article offered beside the FAQ questions (which are read from the
# index), on a corpus that answers them.
FACT_EXAMPLES = (
    "What share of lithium-ion battery production does China have?",
    "What market share is Europe aiming for by 2030?",
)
# Reads are thread-safe and an answer takes tens of milliseconds of CPU: a few at once keep
# a 2-core machine busy without making everyone wait behind one slow request.
CONCURRENCY = 4
# Gradio keeps per-session state (about 50 kB) for 10,000 sessions by default, and every API
# call is a session: the load test grew the server by ~100 MB per 2,000 questions. The least
# recently used sessions past this cap lose their chat state (eval/load.py).
SESSION_CAPACITY = 500
QUEUE_SIZE = 64  # beyond this, new visitors are told the app is busy instead of waiting minutes
STREAM_PAUSE_S = 0.08  # between streamed sentences: long enough to see, short enough not to annoy
_PIECE_END = re.compile(r"(?<=\])\s+")  # streaming splits after each "[n]" marker
EXAMPLES_SHOWN = 10  # example buttons at most: a corpus of many FAQs would otherwise bury the chat
PRIVATE: dict[str, Any] = {"api_visibility": "private"}  # every event but /ask stays out of the API
API_PREFIX = "/v1"  # where the JSON API (qa/api.py) is mounted


def confidence_label(p: float) -> str:
    """How sure the page says an answer is, in words.

    `p` is `Answer.confidence`, read as the calibrated probability that the answer is right (the
    answer stage calibrates it on the eval set), so a band means the same thing for every
    question: at 0.8 or more about four answers in five are right ("strong match"); from 0.5,
    at least one in two ("partial match"); below, more often wrong than right ("weak match").
    Words and not the number, because two decimals promise a precision it does not have; the
    number shows on demand, with the scores."""
    if p >= 0.8:
        return "strong match"
    if p >= 0.5:
        return "partial match"
    return "weak match"


def example_questions(engine: Engine) -> list[str]:
    """The corpus's own FAQ questions (headings ending in '?'), read from the index, plus the
    bundled article's facts that the corpus answers: on another corpus, "What share of
    lithium-ion battery production does China have?" would only be declined."""
    found: list[str] = []
    for chunk in sorted(engine.index.chunks, key=lambda c: (c.source, c.start)):
        heading = heading_of(chunk.section).strip()
        if heading.endswith("?") and heading not in found:
            found.append(heading)
    return found + [q for q in FACT_EXAMPLES if q not in found and not engine.ask(q).abstained]


def make_view(batcher: Batcher):  # type: ignore[no-untyped-def]
    """The page's parts that show the corpus, for an engine (default: the one serving now):
    header, article panel, the "Ask which documents" choice (shown with two documents or more),
    and EXAMPLES_SHOWN example buttons (those without a question hidden), as Gradio updates.

    Every page load and every upload draws them from the serving engine, so a page opened
    after an upload shows the corpus it is answered from. Worked out once per engine: the
    examples cost two questions."""
    drawn: dict[str, Any] = {}

    def view(engine: Engine | None = None) -> list:
        engine = engine or batcher.engine
        if drawn.get("engine") is not engine:
            header, article = render_header(engine.documents)
            drawn.update(engine=engine, parts=(header, article, document_choices(engine),
                                               example_questions(engine)[:EXAMPLES_SHOWN]))
        header, article, choices, questions = drawn["parts"]
        return [header, article, gr.update(choices=choices, value=ALL_DOCUMENTS, visible=len(choices) > 2),
                *(gr.update(value=q, visible=True) for q in questions),
                *(gr.update(value="", visible=False) for _ in range(EXAMPLES_SHOWN - len(questions)))]

    return view


def counter_html(settings: Settings) -> str:
    """The question box's character counter; the page script keeps it current."""
    limit = settings.max_question_chars
    return f'<div class="qa-count" data-max="{limit}" aria-live="polite">0 / {limit:,}</div>'


# ------------------------------------------------------------------ event handlers

def _pieces(text: str) -> list[str]:
    """Growing prefixes of the answer, one more quoted sentence (with its marker) each time."""
    parts = [p for p in _PIECE_END.split(text.strip()) if p]
    return [" ".join(parts[: i + 1]) for i in range(len(parts))] or [text]


def make_respond(engine: Engine, batcher: Batcher | None = None):  # type: ignore[no-untyped-def]
    """The chat's handler. Questions go through `batcher` (the server's), or straight to the engine.
    The documents cards are drawn from are the serving engine's, read per question: an upload
    swaps the engine."""
    def respond(question: str, chat: list, turns: list, k: float | None, document: str | None,
                sent_at: float | None) -> Iterator[tuple]:
        """Stream one answer into the chat. `turns` holds one record per answered question (answer i
        is turn i: its markers and cards carry that number); `sent_at` is the browser's clock when
        the question was sent, echoed back so the page can show the whole wait."""
        started = time.perf_counter()
        current = batcher.engine if batcher is not None else engine
        ask = batcher.ask if batcher is not None else current.ask
        documents = {d.source: d.text for d in current.documents}
        question = question or ""
        if not question.strip():  # the page sends nothing then; a request that comes anyway changes nothing
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        chat = list(chat or []) + [{"role": "user", "content": render_question(question)}]
        turns = list(turns or [])
        history = [t["answer"]["question"] for t in turns]
        turn = len(turns) + 1
        # Halves round up, as the page's Math.round does: the box shows what is used.
        top_k = max(1, min(TOP_K_MAX, math.floor((k or engine.settings.top_k) + 0.5)))
        yield chat, gr.skip(), "", turns  # the question shows at once
        try:
            answer = ask(question, history=history, k=top_k, sources=chosen_sources(document)).to_dict()
        except QAError as exc:
            chat.append({"role": "assistant", "content": f'<div class="qa-error">{esc(str(exc))}</div>'})
            yield chat, gr.skip(), question, turns
            return
        panel = render_panel([t["answer"] for t in turns] + [answer], documents)
        chat.append({"role": "assistant", "content": render_reply(answer, "", turn, documents)})
        yield chat, panel, "", turns
        for shown in _pieces(answer["answer"]):
            time.sleep(STREAM_PAUSE_S)
            chat[-1] = {"role": "assistant", "content": render_reply(answer, shown, turn, documents)}
            yield chat, panel, "", turns
        chat[-1] = {"role": "assistant", "content": render_reply(
            answer, answer["answer"], turn, documents, done=True, verdict=confidence_label(answer["confidence"]),
            waited_s=time.perf_counter() - started, sent_at=sent_at)}
        turns.append({"message_index": len(chat) - 1, "history": history, "answer": answer})
        yield chat, panel, "", turns

    return respond


def keep_box(respond):  # type: ignore[no-untyped-def]
    """`respond` for an example button: the question is the button's text, and whatever the user
    was typing stays in the box."""
    def respond_to_example(question: str, chat: list, turns: list, k: float | None, document: str | None,
                           sent_at: float | None) -> Iterator[tuple]:
        for chat_, panel, _, turns_ in respond(question, chat, turns, k, document, sent_at):
            yield chat_, panel, gr.skip(), turns_

    return respond_to_example


def make_on_like(feedback_path: Path):  # type: ignore[no-untyped-def]
    def on_like(turns: list, like: gr.LikeData) -> None:
        """Thumbs-down writes an eval item to the feedback file; thumbs-up is not recorded."""
        if like.liked is not False:
            return
        index = like.index[0] if isinstance(like.index, (list, tuple)) else like.index
        turn = next((t for t in turns or [] if t["message_index"] == index), None)
        if turn is None:  # an error message, not an answer (the page hides its buttons)
            gr.Info("That message is not an answer, so there is nothing to record.")
            return
        try:
            record_dislike(feedback_path, turn["answer"], turn["history"])
        except QAError as exc:
            raise gr.Error(str(exc)) from None
        gr.Info("Thanks: saved as an eval item to review.")

    return on_like


def make_api(batcher: Batcher):  # type: ignore[no-untyped-def]
    def ask(question: str, history: list[str] | None = None) -> tuple[str, dict]:
        """Ask about the article. `history`: earlier user questions, oldest first.
        Returns the answer text and Answer.to_dict() (citations, passages, timings)."""
        try:
            answer = batcher.ask(question, history=history or [])
        except QAError as exc:
            raise gr.Error(str(exc)) from None
        return answer.text, answer.to_dict()

    return ask


def new_chat() -> tuple[list, list, str]:
    """A fresh conversation: no messages, no follow-up history, no sources, no feedback targets."""
    return [], [], EMPTY_PANEL


# ------------------------------------------------------------------ page

def build_app(engine: Engine, feedback_path: Path | None = None, batcher: Batcher | None = None,
              allow_uploads: bool | None = None) -> gr.Blocks:
    """The page for an already loaded engine (tests pass theirs; `serve` passes get_engine()).
    Questions go through `batcher` (default: a new one with the engine's settings); thumbs-down
    answers go to `feedback_path` (default: the engine's settings.feedback_path). With
    `allow_uploads` (default: the engine's settings.allow_uploads) the page takes documents."""
    settings = engine.settings
    batcher = batcher or Batcher.for_engine(engine)
    feedback_path = feedback_path or settings.feedback_path
    uploads = settings.allow_uploads if allow_uploads is None else allow_uploads
    view = make_view(batcher)
    header, article, document_start, *examples_start = view(engine)
    with gr.Blocks(title="Ask the article", analytics_enabled=False) as demo:
        header_html = gr.HTML(header)
        with gr.Accordion("Read the whole article", open=False):
            article_html = gr.HTML(article)
        turns = gr.State([])
        sent_at = gr.Number(visible=False)  # filled in the browser when a question is sent
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                # No copy buttons: Gradio's would copy the HTML behind a message, not its text.
                chat = gr.Chatbot(label="Chat", show_label=False, height=520, sanitize_html=True, allow_tags=False,
                                  buttons=[], elem_id="qa-chat", layout="bubble",
                                  placeholder="Ask something about the article, or pick an example below.")
                with gr.Column(elem_id="qa-composer"):
                    with gr.Row(elem_id="qa-input-row"):
                        box = gr.Textbox(show_label=False, placeholder="Ask about the article…", max_lines=4,
                                         scale=5, min_width=160, elem_id="qa-question", autofocus=True,
                                         html_attributes=gr.InputHTMLAttributes(enterkeyhint="send"))
                        ask_btn = gr.Button("Ask", variant="primary", scale=0, min_width=72, elem_id="qa-ask")
                    with gr.Row(elem_id="qa-under-input"):
                        gr.HTML(counter_html(settings), elem_id="qa-count", padding=False)
                        clear_btn = gr.Button("New chat", size="sm", scale=0, min_width=90, elem_id="qa-clear")
                with gr.Row(elem_id="qa-examples"):
                    examples = [gr.Button(e["value"], visible=e["visible"], size="sm", scale=0, elem_classes="qa-example")
                                for e in examples_start]
                with gr.Accordion("Settings", open=False, elem_id="qa-settings"):
                    k = gr.Slider(1, TOP_K_MAX, value=min(settings.top_k, TOP_K_MAX), step=1, precision=0,
                                  label="Passages retrieved (top-k)", elem_id="qa-top-k")
                    show_scores = gr.Checkbox(False, label="Show scores (retrieval scores on the source cards, "
                                                           "the answer's probability of being right)")
                    document = gr.Dropdown(document_start["choices"], value=ALL_DOCUMENTS, label="Ask which documents",
                                           elem_id="qa-document", visible=document_start["visible"])
                if uploads:
                    with gr.Accordion("Add your documents", open=False, elem_id="qa-uploads"):
                        upload = gr.File(label=f"PDF, HTML, Word, Markdown or text, up to "
                                               f"{megabytes(settings.max_document_bytes)} each",
                                         file_count="multiple", file_types=ACCEPTED, type="filepath",
                                         elem_id="qa-upload")
                        upload_status = gr.HTML("", elem_id="qa-upload-status")
            with gr.Column(scale=2, min_width=360, elem_id="qa-sources-col"):
                sources = gr.HTML(EMPTY_PANEL, elem_id="qa-sources")

        respond = make_respond(engine, batcher)
        outputs = [chat, sources, box, turns]
        # sent_at comes last: the page script stamps the last input with the time of sending.
        asking = [event(respond, inputs=[box, chat, turns, k, document, sent_at], outputs=outputs,
                        js=STAMP_SENT_JS, **PRIVATE) for event in (box.submit, ask_btn.click)]
        asking += [button.click(keep_box(respond), inputs=[button, chat, turns, k, document, sent_at], outputs=outputs,
                                js=STAMP_SENT_JS, **PRIVATE) for button in examples]
        corpus_parts = [header_html, article_html, document, *examples]
        # A page opened after an upload (another visitor, a reload) shows the corpus as it is now.
        demo.load(view, outputs=corpus_parts, show_progress="hidden", **PRIVATE)
        if uploads:
            # One upload at a time, each in turn: Gradio's default ("once") would drop a file
            # added while the previous one is indexing, without a word.
            upload.upload(make_on_upload(batcher, view, len(corpus_parts)), inputs=[upload],
                          outputs=[upload_status, upload, *corpus_parts], trigger_mode="multiple",
                          concurrency_limit=1, concurrency_id="qa-upload", **PRIVATE)
        chat.like(make_on_like(feedback_path), inputs=[turns], outputs=None, **PRIVATE)
        # Both ways of clearing (the chat's trash icon and "New chat") start over completely,
        # and stop an answer still streaming, which would otherwise write into the new chat.
        for clearing in (clear_btn.click, chat.clear):
            clearing(new_chat, outputs=[chat, turns, sources], cancels=asking, **PRIVATE)
        box.change(None, inputs=[box], outputs=None, js=COUNT_JS, **PRIVATE)
        # The slider's number box takes any number (50, 3.5) until it loses focus: snap it to the
        # slider's whole steps in the browser, so what it shows is what the next answer uses.
        k.release(None, inputs=[k], outputs=[k], js=f"(k) => Math.min({TOP_K_MAX}, Math.max(1, Math.round(k)))",
                  **PRIVATE)
        show_scores.change(None, inputs=[show_scores], outputs=None, js=SCORES_JS, **PRIVATE)
        gr.api(make_api(batcher), api_name="ask")
    return demo


# System fonts only: the app works offline, so no web-font downloads.
THEME = gr.themes.Soft(primary_hue="teal", font=["ui-sans-serif", "system-ui", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def launch(demo: gr.Blocks, host: str, port: int, share: bool = False, block: bool = True,
           api: Any = None, token: str | None = None, uploads: bool = False, max_upload_bytes: int = 20_000_000) -> str:
    """Serve `demo`, and the JSON API application `api` (qa/api.py) at /v1 of the same server,
    and print where; returns the local URL (at once when `block` is False, for tests). With a
    `token`, the page asks for it as its password (any user name)."""
    from starlette.middleware import Middleware
    from starlette.routing import Mount

    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    # Gradio builds its FastAPI app inside launch(); app_kwargs go to that app's constructor, so the
    # API's routes come first and one process and one port serve both.
    app_kwargs: dict[str, Any] = {"routes": [Mount(API_PREFIX, app=api)]} if api is not None else {}
    if not uploads:  # Gradio's upload route would still store small files: refuse them all
        app_kwargs["middleware"] = [Middleware(RefuseUploads)]
    # quiet: Gradio's own banner tells developers to edit launch(); we print the user's options instead.
    _, url, share_url = demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True,
                                    theme=THEME, css=CSS, head=HEAD, show_error=False, quiet=True,
                                    max_file_size=max_upload_bytes if uploads else "1kb",
                                    state_session_capacity=SESSION_CAPACITY,
                                    app_kwargs=app_kwargs or None, auth=token_login(token) if token else None,
                                    auth_message="Enter any user name, and this server's QA_API_TOKEN as the password.")
    if block:
        print(f"Serving the chat on {url}" + (f" and {share_url}" if share_url else "") + " (Ctrl+C to stop)",
              flush=True)
        if api is not None:
            print(f"JSON API: POST {url.rstrip('/')}{API_PREFIX}/ask, schema at {url.rstrip('/')}{API_PREFIX}/openapi.json",
                  flush=True)
        demo.block_thread()
    return url


def token_login(token: str):  # type: ignore[no-untyped-def]
    """Gradio's login check for the page: any user name, the API token as the password."""
    def check(_username: str, password: str) -> bool:
        return hmac.compare_digest(password.encode(), token.encode())

    return check


def serve(host: str | None = None, port: int | None = None, share: bool = False,
          allow_uploads: bool | None = None) -> int:
    """Load the engine once (building the index if needed), then serve the page and the JSON API
    until stopped. Refuses to serve beyond this machine without QA_API_TOKEN."""
    configure_logging(verbose=False)
    try:
        settings = Settings.from_env()
    except QAError as exc:
        print(f"qa: {exc}", file=sys.stderr)
        return 1
    host = host or settings.host
    port = settings.port if port is None else port
    uploads = settings.allow_uploads if allow_uploads is None else allow_uploads
    problem = exposure_problem(host, share, settings.api_token)
    if problem:
        print(f"qa: {problem}", file=sys.stderr)
        return 1
    try:
        print("Loading the engine (the index is built on first run)…", file=sys.stderr, flush=True)
        engine = get_engine()
    except QAError as exc:
        print(f"qa: {exc}", file=sys.stderr)
        return 1
    warning = exposure_warning(host, share, settings.api_token)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    batcher = Batcher.for_engine(engine)
    try:
        launch(build_app(engine, batcher=batcher, allow_uploads=uploads), host, port, share,
               api=api_app(engine, batcher, settings.api_token), token=settings.api_token, uploads=uploads,
               max_upload_bytes=settings.max_document_bytes)
    except OSError as exc:
        reason = "the port is in use" if "empty port" in str(exc) else str(exc).rstrip(".")
        print(f"qa: cannot serve on {host}:{port} ({reason}). Pick another port with --port N or QA_PORT=N.",
              file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python app.py [--host H] [--port N] [--share]`: the same options as `qa serve`."""
    parser = argparse.ArgumentParser(prog="app.py",
                                     description="Chat with the article: quoted answers with checkable sources.")
    args = add_server_arguments(parser).parse_args(argv)
    return serve(host=args.host, port=args.port, share=args.share, allow_uploads=args.allow_uploads or None)
