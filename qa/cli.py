"""The `qa` command: argument parsing and printing only; the work is the engine's.

Exit codes: 0 done (an answer or an abstention), 1 a problem with the set-up (corpus,
model, index; the message says what to do), 2 bad usage or a bad question.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from typing import TYPE_CHECKING, Sequence

from qa.errors import QAError, QuestionInvalid

if TYPE_CHECKING:
    from qa.types import Document

EXIT_OK, EXIT_SETUP, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description="Ask questions about the article; every answer is quoted and cited.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="build the search index (done automatically when missing or stale)")
    p.add_argument("--rebuild", action="store_true", help="build even when the index is up to date")

    p = sub.add_parser("ask", help="ask one question")
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("--history", action="append", default=[], metavar="TURN",
                   help="an earlier question of the conversation (repeatable, oldest first)")
    p.add_argument("--k", type=int, default=None, help="how many passages to retrieve (default: QA_TOP_K or 4)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    p = sub.add_parser("source", help="print a corpus file's text as the index holds it (what citation offsets point into)")
    p.add_argument("path", help="the file as citations name it (corpus/report.pdf), or its path or file name")
    p.add_argument("--pages", action="store_true",
                   help="mark where each PDF page starts with a [page N] line (the marks shift the offsets)")

    p = sub.add_parser("eval", help="run the eval set and print retrieval, answer and abstention metrics")
    p.add_argument("--set", dest="eval_set", default=None, help="eval set file (default: eval/questions.jsonl)")
    p.add_argument("--k", type=int, default=None, help="passages retrieved per question")
    p.add_argument("--retriever", choices=("dense", "bm25", "hybrid"), default=None)
    p.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write all results as JSON to OUT")
    p.add_argument("--report", action="store_true", help="regenerate eval/report.md with ablations and the confidence plot")

    p = sub.add_parser("bench", help="measure latency, build throughput, cold start and scale")
    p.add_argument("--quick", action="store_true", help="a run of under a minute")
    p.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write the figures as JSON to OUT")
    p.add_argument("--report", action="store_true", help="regenerate eval/bench.md")

    p = sub.add_parser("serve", help="start the chat app (same as python app.py)")
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=None, help="port (default 7860)")
    p.add_argument("--share", action="store_true", help="also open a public Gradio share link")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return COMMANDS[args.command](args)
    except QuestionInvalid as exc:
        print(f"qa: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except QAError as exc:
        print(f"qa: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeyboardInterrupt:
        print("qa: interrupted", file=sys.stderr)
        return 130


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="qa: %(message)s", stream=sys.stderr)
    logging.getLogger("qa").setLevel(logging.INFO)  # build and rebuild notices always show
    for noisy in ("faiss", "faiss.loader", "sentence_transformers", "bm25s", "httpx"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)
    # pdfminer warns about harmless quirks of many PDFs; an unreadable PDF is reported by qa itself.
    logging.getLogger("pdfminer").setLevel(logging.INFO if verbose else logging.ERROR)


def progress(message: str) -> None:
    print(f"qa: {message}", file=sys.stderr, flush=True)


def cmd_index(args: argparse.Namespace) -> int:
    from qa.engine import Engine

    engine = Engine.load(rebuild=args.rebuild, progress=progress)
    counts = engine.index.manifest.get("counts", {})
    where = engine.index.location or "memory only"
    print(f"Index ready: {counts.get('chunks')} chunks, {counts.get('sentences')} sentences from "
          f"{counts.get('documents')} file(s), at {where}")
    return EXIT_OK


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.engine import Engine
    from qa.query import clean_question
    from qa.settings import Settings

    if args.k is not None and args.k < 1:
        raise QuestionInvalid(f"--k must be at least 1, got {args.k}.")
    settings = Settings.from_env()
    clean_question(args.question, settings.max_question_chars)  # a bad question fails before the model loads
    engine = Engine.load(settings, progress=progress)
    answer = engine.ask(args.question, history=args.history, k=args.k)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        print(format_answer(answer))
    return EXIT_OK


def format_answer(answer) -> str:  # type: ignore[no-untyped-def]
    wrap = lambda text, indent="": textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent)  # noqa: E731
    lines = []
    if answer.searched_for != answer.question:
        lines.append(f"(searched for: {answer.searched_for})")
    lines.append(wrap(answer.text))
    lines.append("")
    if answer.citations:
        lines.append("Sources:")
        for c in answer.citations:
            page = f"page {c.page}, " if c.page is not None else ""
            lines.append(f"  [{c.n}] {c.source} > {c.section} ({page}characters {c.start}-{c.end})")
            lines.append(wrap(f"“{c.quote}”", "      "))
    else:
        lines.append("Closest passages (not answers):")
        for p in answer.passages[:3]:
            lines.append(f"  {p.rank}. {p.chunk.source} > {p.chunk.section}")
            lines.append(wrap(p.chunk.text, "      "))
    lines.append("")
    lines.append(f"confidence {answer.confidence:.2f} · {answer.timings_ms.get('total', 0):.0f} ms")
    return "\n".join(lines)


def cmd_source(args: argparse.Namespace) -> int:
    from qa.engine import Engine

    engine = Engine.load(progress=progress)
    document = find_document(engine.documents, args.path) or engine.document(args.path)  # the latter names the known ones
    text = with_page_marks(document.text, document.page_starts) if args.pages else document.text
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def find_document(documents: Sequence["Document"], path: str) -> "Document | None":
    """The indexed document a user means: its source as cited, the same file by another path,
    or a file name that only one document has."""
    from pathlib import Path

    from qa.corpus import display_path

    wanted = {path, display_path(Path(path))}
    exact = [d for d in documents if d.source in wanted]
    named = [d for d in documents if d.source.rsplit("/", 1)[-1] == Path(path).name]
    return exact[0] if exact else named[0] if len(named) == 1 else None


def with_page_marks(text: str, page_starts: Sequence[int]) -> str:
    """The text with a "[page N]" line where each page starts."""
    pieces, previous = [], 0
    for number, start in enumerate(page_starts, 1):
        pieces.append(text[previous:start])
        pieces.append(f"[page {number}]\n")
        previous = start
    pieces.append(text[previous:])
    return "".join(pieces)


def cmd_eval(args: argparse.Namespace) -> int:
    from qa import evaluate

    return evaluate.run_cli(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from qa import bench

    return bench.run_cli(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from qa.settings import PROJECT_ROOT

    # app.py is the project's script, not part of the installed package: the console script
    # does not have the project folder on its path.
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    import app

    return app.main(host=args.host, port=args.port, share=args.share)


COMMANDS = {"index": cmd_index, "ask": cmd_ask, "source": cmd_source, "eval": cmd_eval, "bench": cmd_bench, "serve": cmd_serve}

if __name__ == "__main__":
    sys.exit(main())
