"""The chat page (Gradio only): ask about the article, check every cited sentence beside the answer.

    python app.py [--host HOST] [--port PORT] [--share]      (or: qa serve ...)

All the answering is `Engine.ask`; this file only renders. Everything shown that comes from a
user or from the corpus goes through `esc()`, so a question or a corpus sentence holding
`<script>` shows as text and never runs.
"""

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from qa import Engine, QAError, Settings, get_engine
from qa.corpus import load_corpus
from qa.feedback import record_dislike

# Article facts offered beside the FAQ questions (which are read from the index).
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
SHOWN_QUESTION_CHARS = 400  # an over-long paste is cut in the chat bubble (the engine rejects it anyway)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_MARKER = re.compile(r"\[(\d+)\]")
_PIECE_END = re.compile(r"(?<=\])\s+")  # streaming splits after each "[n]" marker
_ENTITIES = {ord(c): f"&#{ord(c)};" for c in "&<>\"'\\`*_~#[]|$={}"}


# ------------------------------------------------------------------ escaping and rendering

def esc(text: str) -> str:
    """HTML-escape, and neutralise the characters Markdown, LaTeX and Gradio's HTML templates
    would otherwise interpret (`*`, `_`, `$`, `{`...), so text always shows as typed."""
    return str(text).translate(_ENTITIES)


def link_markers(text: str) -> str:
    """Escaped answer text whose [n] markers link to source card n."""
    parts = _MARKER.split(text)  # text, n, text, n, ...
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f'<a class="qa-cite" href="#src-{int(part)}">&#91;{int(part)}&#93;</a>')
        else:  # a no-break space keeps each marker on the line of the sentence it cites
            out.append(esc(part[:-1]) + "&#160;" if part.endswith(" ") and i + 1 < len(parts) else esc(part))
    return "".join(out)


def render_reply(answer: dict[str, Any], shown_text: str, done: bool) -> str:
    """The assistant bubble: the (partial) answer, then small notes on what was searched and how long it took."""
    body = link_markers(shown_text) if shown_text else "<em>Searching the article…</em>"
    meta = ""
    if answer["searched_for"] != answer["question"]:
        meta += f'<div class="qa-meta">Searched for: {esc(answer["searched_for"])}</div>'
    if done:  # "qa-done" marks a finished answer: tests wait for it
        seconds = answer["timings_ms"].get("total", 0.0) / 1000
        label = "No answer in the article" if answer["abstained"] else f"Confidence {answer['confidence']:.2f}"
        meta += f'<div class="qa-meta qa-done">{label} · {seconds:.2f} s</div>'
    return f'<div class="qa-answer">{body}</div>{meta}'


def render_question(question: str) -> str:
    if not question.strip():
        return "<em>(empty question)</em>"
    if len(question) > SHOWN_QUESTION_CHARS:
        return esc(question[:SHOWN_QUESTION_CHARS]) + f"… <em>({len(question)} characters)</em>"
    return esc(question)


def _score(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _scores_line(passage: dict[str, Any] | None, sentence_score: float | None) -> str:
    p = passage or {}
    parts = [f"RRF {_score(p.get('score'), 4)}", f"dense {_score(p.get('dense_score'), 3)}",
             f"BM25 {_score(p.get('bm25_score'), 2)}"]
    if sentence_score is not None:
        parts.append(f"sentence {_score(sentence_score, 3)}")
    return f'<div class="qa-scores">{" · ".join(parts)}</div>'


def _card(anchor: str, number: int, source: str, section: str, body: str, scores: str, extra_class: str = "") -> str:
    return (
        f'<article class="qa-card {extra_class}" id="{anchor}">'
        f'<div class="qa-card-head"><span class="qa-n">{number}</span>'
        f'<span class="qa-where"><span class="qa-doc">{esc(source)}</span>'
        f'<span class="qa-sec">{esc(section)}</span></span></div>'
        f'<p class="qa-passage">{body}</p>{scores}</article>'
    )


def highlighted(citation: dict[str, Any]) -> str:
    """The passage, escaped, with the cited sentence in <mark>. Offsets are file offsets."""
    passage = citation["passage"]
    start = max(0, citation["start"] - citation["passage_start"])
    end = min(len(passage), citation["end"] - citation["passage_start"])
    if not 0 <= start < end:  # offsets that do not fit the passage: show the quote alone, still marked
        return f"<mark>{esc(citation['quote'])}</mark>"
    return f"{esc(passage[:start])}<mark>{esc(passage[start:end])}</mark>{esc(passage[end:])}"


def render_sources(answer: dict[str, Any] | None, show_scores: bool) -> str:
    """The Sources panel for the latest answer: cited passages, or the closest ones when abstaining."""
    if not answer:
        return ('<div class="qa-sources"><h3>Sources</h3><p class="qa-empty">Ask a question: the passages '
                "each answer quotes appear here, with the quoted sentence highlighted.</p></div>")
    by_chunk = {p["chunk_id"]: p for p in answer["passages"]}
    if answer["citations"]:
        cards = [
            _card(f"src-{c['n']}", c["n"], c["source"], c["section"], highlighted(c),
                  _scores_line(by_chunk.get(c["chunk_id"]), c["score"]) if show_scores else "")
            for c in answer["citations"]
        ]
        head = "<h3>Sources</h3>"
    else:
        cards = [
            _card(f"near-{p['rank']}", p["rank"], p["source"], p["section"], esc(p["text"]),
                  _scores_line(p, None) if show_scores else "", "qa-closest")
            for p in answer["passages"]
        ]
        head = ('<h3 class="qa-warn">Closest passages — not an answer</h3><p class="qa-empty">'
                "The article does not answer this question. These are the passages that came nearest.</p>")
    return f'<div class="qa-sources">{head}{"".join(cards)}</div>'


def example_questions(engine: Engine) -> list[str]:
    """The article's own FAQ questions (headings ending in '?'), read from the index, plus a few facts."""
    found: list[str] = []
    for chunk in sorted(engine.index.chunks, key=lambda c: (c.source, c.start)):
        heading = chunk.section.split(" > ")[-1].strip()
        if heading.endswith("?") and heading not in found:
            found.append(heading)
    return found + [q for q in FACT_EXAMPLES if q not in found]


def render_header(settings: Settings) -> tuple[str, str]:
    """The page header and the full article text, both escaped."""
    documents = load_corpus(settings.corpus_dir)
    names = ", ".join(f"<em>{esc(d.title)}</em> (<code>{esc(d.source)}</code>)" for d in documents)
    header = (
        '<div class="qa-header"><h1>Ask the article</h1>'
        f"<p>Answers come only from {names}: every sentence of an answer is quoted from the article "
        "and numbered, and the <b>Sources</b> panel shows where. When the article does not say, "
        "the app says so instead of guessing.</p></div>"
    )
    article = "".join(
        f'<h4 class="qa-doc">{esc(d.source)}</h4><div class="qa-article">{esc(d.text)}</div>' for d in documents
    )
    return header, article


# ------------------------------------------------------------------ event handlers

def _pieces(text: str) -> list[str]:
    """Growing prefixes of the answer, one more quoted sentence (with its marker) each time."""
    parts = [p for p in _PIECE_END.split(text.strip()) if p]
    return [" ".join(parts[: i + 1]) for i in range(len(parts))] or [text]


def make_respond(engine: Engine):  # type: ignore[no-untyped-def]
    def respond(question: str, chat: list, turns: list, k: float, show_scores: bool) -> Iterator[tuple]:
        """Stream one answer into the chat. `turns` holds one record per answered question."""
        question = question or ""
        chat = list(chat or []) + [{"role": "user", "content": render_question(question)}]
        turns = list(turns or [])
        history = [t["answer"]["question"] for t in turns]
        yield chat, gr.update(), "", turns  # the question shows at once
        try:
            answer = engine.ask(question, history=history, k=int(k)).to_dict()
        except QAError as exc:
            chat.append({"role": "assistant", "content": f'<div class="qa-error">{esc(str(exc))}</div>'})
            yield chat, gr.update(), question, turns
            return
        chat.append({"role": "assistant", "content": render_reply(answer, "", False)})
        sources = render_sources(answer, show_scores)
        yield chat, sources, "", turns
        for shown in _pieces(answer["answer"]):
            time.sleep(STREAM_PAUSE_S)
            chat[-1] = {"role": "assistant", "content": render_reply(answer, shown, False)}
            yield chat, sources, "", turns
        chat[-1] = {"role": "assistant", "content": render_reply(answer, answer["answer"], True)}
        turns.append({"message_index": len(chat) - 1, "history": history, "answer": answer})
        yield chat, sources, "", turns

    return respond


def make_on_like(feedback_path: Path):  # type: ignore[no-untyped-def]
    def on_like(turns: list, like: gr.LikeData) -> None:
        """Thumbs-down writes an eval item to the feedback file; thumbs-up is not recorded."""
        if like.liked is not False:
            return
        index = like.index[0] if isinstance(like.index, (list, tuple)) else like.index
        turn = next((t for t in turns or [] if t["message_index"] == index), None)
        if turn is None:  # an error message, not an answer: nothing to learn from
            return
        try:
            record_dislike(feedback_path, turn["answer"], turn["history"])
        except QAError as exc:
            raise gr.Error(str(exc)) from None
        gr.Info("Thanks: saved as an eval item to review.")

    return on_like


def make_api(engine: Engine):  # type: ignore[no-untyped-def]
    def ask(question: str, history: list[str] | None = None) -> tuple[str, dict]:
        """Ask about the article. `history`: earlier user questions, oldest first.
        Returns the answer text and Answer.to_dict() (citations, passages, timings)."""
        try:
            answer = engine.ask(question, history=history or [])
        except QAError as exc:
            raise gr.Error(str(exc)) from None
        return answer.text, answer.to_dict()

    return ask


def rerender_sources(turns: list, show_scores: bool) -> str:
    return render_sources(turns[-1]["answer"] if turns else None, show_scores)


def new_chat() -> tuple:
    return [], [], render_sources(None, False), ""


# ------------------------------------------------------------------ page

def build_app(engine: Engine, feedback_path: Path | None = None) -> gr.Blocks:
    """The page for an already loaded engine (tests pass theirs; `main` passes get_engine()).
    Thumbs-down answers go to `feedback_path` (default: the engine's settings.feedback_path)."""
    settings = engine.settings
    feedback_path = feedback_path or settings.feedback_path
    header, article = render_header(settings)
    private: dict[str, Any] = {"api_visibility": "private"}
    with gr.Blocks(title="Ask the article", analytics_enabled=False) as demo:
        gr.HTML(header)
        with gr.Accordion("Read the whole article", open=False):
            gr.HTML(article)
        turns = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                chat = gr.Chatbot(label="Chat", show_label=False, height=470, sanitize_html=True, allow_tags=False,
                                  buttons=["copy"], elem_id="qa-chat", layout="bubble",
                                  placeholder="Ask something about the article, or pick an example below.")
                with gr.Row():
                    box = gr.Textbox(show_label=False, placeholder="Ask about the article…", scale=5,
                                     max_lines=4, elem_id="qa-question", autofocus=True)
                    ask_btn = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="qa-ask")
                    clear_btn = gr.Button("New chat", scale=1, min_width=100, elem_id="qa-clear")
                examples = gr.Examples([[q] for q in example_questions(engine)], inputs=[box],
                                       label="Example questions", api_visibility="private")
                with gr.Accordion("Settings", open=False, elem_id="qa-settings"):
                    k = gr.Slider(1, 10, value=min(settings.top_k, 10), step=1, label="Passages retrieved (top-k)")
                    show_scores = gr.Checkbox(False, label="Show retrieval scores on the source cards")
            with gr.Column(scale=2, min_width=360):
                sources = gr.HTML(render_sources(None, False), elem_id="qa-sources")

        respond = make_respond(engine)
        io = {"inputs": [box, chat, turns, k, show_scores], "outputs": [chat, sources, box, turns], **private}
        box.submit(respond, **io)
        ask_btn.click(respond, **io)
        examples.load_input_event.then(respond, **io)
        chat.like(make_on_like(feedback_path), inputs=[turns], outputs=None, **private)
        show_scores.change(rerender_sources, inputs=[turns, show_scores], outputs=[sources], **private)
        clear_btn.click(new_chat, outputs=[chat, turns, sources, box], **private)
        gr.api(make_api(engine), api_name="ask")
    return demo


CSS = """
.qa-header h1 { margin: 0 0 .2rem; font-size: 1.6rem; }
.qa-header p { margin: 0; color: var(--body-text-color-subdued); max-width: 70rem; }
.qa-article { white-space: pre-wrap; font-size: .92rem; line-height: 1.5; max-height: 28rem; overflow-y: auto; }
.qa-meta { font-size: .78rem; color: var(--body-text-color-subdued); margin-top: .35rem; }
.qa-error { color: var(--error-text-color, #b91c1c); }
a.qa-cite { color: var(--color-accent) !important; font-size: .85em; font-weight: 700; text-decoration: none !important;
            white-space: nowrap; padding: 0 .1em; }
a.qa-cite:hover { text-decoration: underline !important; }
#qa-sources { max-height: 640px; overflow-y: auto; padding-right: .3rem; }
.qa-sources h3 { margin: .2rem 0 .6rem; font-size: 1.1rem; }
.qa-sources h3.qa-warn { color: #b45309; }
.qa-sources .qa-empty { color: var(--body-text-color-subdued); font-size: .9rem; }
.qa-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: .7rem .9rem;
           margin-bottom: .7rem; background: var(--background-fill-secondary); scroll-margin-top: 1rem;
           transition: box-shadow .3s; }
.qa-card.qa-closest { border-style: dashed; opacity: .9; }
.qa-card.qa-flash { animation: qa-flash 1.6s ease-out; }
@keyframes qa-flash { from { box-shadow: 0 0 0 3px var(--color-accent); } to { box-shadow: 0 0 0 3px transparent; } }
.qa-card-head { display: flex; gap: .6rem; align-items: baseline; margin-bottom: .35rem; }
.qa-n { font-weight: 700; min-width: 1.6rem; height: 1.6rem; border-radius: 50%; display: inline-flex;
        align-items: center; justify-content: center; background: var(--color-accent); color: white; font-size: .85rem; }
.qa-where { display: flex; flex-direction: column; font-size: .8rem; line-height: 1.3; }
.qa-doc { color: var(--body-text-color-subdued); font-family: var(--font-mono); font-size: .75rem; }
.qa-sec { font-weight: 600; }
.qa-passage { margin: 0; font-size: .9rem; line-height: 1.5; }
.qa-passage mark { background: #fde68a; color: inherit; padding: 0 .1em; border-radius: 3px; }
.qa-scores { margin-top: .4rem; font-size: .75rem; font-family: var(--font-mono); color: var(--body-text-color-subdued); }
"""

# System fonts only: the app works offline, so no web-font downloads.
THEME = gr.themes.Soft(primary_hue="teal", font=["ui-sans-serif", "system-ui", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "monospace"])

# Marker links scroll to their card inside the page (and flash it) instead of leaving the chat.
HEAD = """
<script>
document.addEventListener("click", function (event) {
  var link = event.target && event.target.closest ? event.target.closest('a[href^="#src-"]') : null;
  if (!link) return;
  var card = document.getElementById(link.getAttribute("href").slice(1));
  if (!card) return;
  event.preventDefault();
  event.stopPropagation();
  card.scrollIntoView({behavior: "smooth", block: "nearest"});
  card.classList.remove("qa-flash");
  void card.offsetWidth;
  card.classList.add("qa-flash");
}, true);
</script>
"""


def launch(demo: gr.Blocks, host: str, port: int, share: bool = False, block: bool = True) -> str:
    """Serve `demo` and print where; returns the local URL (at once when `block` is False, for tests)."""
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    # quiet: Gradio's own banner tells developers to edit launch(); we print the user's options instead.
    # The page has no file input: max_file_size keeps Gradio's upload route from taking files.
    _, url, share_url = demo.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=True,
                                    theme=THEME, css=CSS, head=HEAD, show_error=False, quiet=True,
                                    max_file_size="1kb", state_session_capacity=SESSION_CAPACITY)
    if block:
        print(f"Serving the chat on {url}" + (f" and {share_url}" if share_url else "") + " (Ctrl+C to stop)",
              flush=True)
        demo.block_thread()
    return url


def exposure_warning(host: str, share: bool) -> str | None:
    """One line saying who can reach the app, when that is more than this machine."""
    if share:
        return ("Warning: --share opens a public gradio.live link: anyone with the link can use this app "
                "(there is no login).")
    if host not in LOOPBACK:
        return (f"Warning: listening on {host}: anyone who can reach this machine on that network can use "
                "this app (there is no login). Use --host 127.0.0.1 to keep it local.")
    return None


def main(host: str | None = None, port: int | None = None, share: bool = False) -> int:
    """Load the engine once (building the index if needed), then serve until stopped."""
    from qa.cli import configure_logging

    configure_logging(verbose=False)
    try:
        settings = Settings.from_env()
        print("Loading the engine (the index is built on first run)…", file=sys.stderr, flush=True)
        engine = get_engine()
    except QAError as exc:
        print(f"qa: {exc}", file=sys.stderr)
        return 1
    host = host or settings.host
    port = settings.port if port is None else port
    warning = exposure_warning(host, share)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        launch(build_app(engine), host, port, share)
    except OSError as exc:
        reason = "the port is in use" if "empty port" in str(exc) else str(exc).rstrip(".")
        print(f"qa: cannot serve on {host}:{port} ({reason}). Pick another port with --port N or QA_PORT=N.",
              file=sys.stderr)
        return 1
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Chat with the article: quoted answers with checkable sources.")
    p.add_argument("--host", default=None, help="address to bind (default QA_HOST or 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default QA_PORT or 7860)")
    p.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    return p.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    sys.exit(main(host=args.host, port=args.port, share=args.share))
