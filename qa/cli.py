"""The `qa` command: argument parsing and printing only; the work is the engine's.

Exit codes: 0 done (an answer or an abstention), 1 a problem with the set-up (corpus,
model, index; the message says what to do), 2 bad usage or a bad question.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Sequence

from qa.errors import QAError, QuestionInvalid
from qa.logs import configure_logging
from qa.serving import add_server_arguments

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

    add_server_arguments(sub.add_parser("serve", help="start the chat app (same as python app.py)"))
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
            lines.append(f"  [{c.n}] {c.source} > {c.section} (characters {c.start}-{c.end})")
            lines.append(wrap(f"“{c.quote}”", "      "))
    else:
        lines.append("Closest passages (not answers):")
        for p in answer.passages[:3]:
            lines.append(f"  {p.rank}. {p.chunk.source} > {p.chunk.section}")
            lines.append(wrap(p.chunk.text, "      "))
    lines.append("")
    lines.append(f"confidence {answer.confidence:.2f} · {answer.timings_ms.get('total', 0):.0f} ms")
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace) -> int:
    from qa import evaluate

    return evaluate.run_cli(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from qa import bench

    return bench.run_cli(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from qa.ui import serve  # imports Gradio: only when serving

    return serve(host=args.host, port=args.port, share=args.share)


COMMANDS = {"index": cmd_index, "ask": cmd_ask, "eval": cmd_eval, "bench": cmd_bench, "serve": cmd_serve}

if __name__ == "__main__":
    sys.exit(main())
