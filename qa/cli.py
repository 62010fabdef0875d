"""The `qa` command: argument parsing and printing only; the work is the engine's.

Exit codes: 0 done (an answer or an abstention), 1 a problem with the set-up (corpus,
model, index; the message says what to do), 2 bad usage or a bad question, 141 the reader of
our output went away (`qa ask ... | head -1`), as for any Unix tool stopped by SIGPIPE.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Sequence

from qa.errors import QAError, QuestionInvalid
from qa.evalsets import SPLITS
from qa.logs import configure_logging
from qa.serving import TOP_K_MAX, add_server_arguments, whole_number
from qa.settings import BACKENDS, RETRIEVERS, Settings

EXIT_OK, EXIT_SETUP, EXIT_USAGE = 0, 1, 2
# What a shell reports for `cat`, `grep` and the like when the reader of their output quits
# early (killed by SIGPIPE: 128 + 13): under `set -o pipefail` a cut-short `qa` looks like them.
EXIT_PIPE = 141


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description="Ask questions about the article; every answer is quoted and cited.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the engine does")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="build the search index (done automatically when missing or stale)")
    p.add_argument("--rebuild", action="store_true", help="build even when the index is up to date")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="faiss (local files) or milvus (QA_MILVUS_URI); default: QA_BACKEND or faiss")

    p = sub.add_parser("ask", help="ask one question")
    p.add_argument("question", nargs="*", metavar="QUESTION",
                   help="the question. Quotes are optional, but keep them when it holds ' ? * or !, which the "
                        "shell reads. '-', or no question with text piped in: read it from standard input")
    p.set_defaults(usage_error=p.error)  # `qa ask`'s own usage line, for a missing question
    p.add_argument("--history", action="append", default=[], metavar="TURN",
                   help="an earlier question of the conversation (repeatable, oldest first)")
    p.add_argument("--k", type=whole_number(1, TOP_K_MAX, " (the page and the API allow the same)"), default=None,
                   help=f"how many passages to retrieve, 1 to {TOP_K_MAX} (default: QA_TOP_K or 4)")
    p.add_argument("--source", dest="sources", action="append", default=None, metavar="FILE",
                   help="answer from this document only: as citations name it, its path, or its file name "
                        "(repeatable; default: all)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    p = sub.add_parser("source", help="print a corpus file's text as the index holds it (what citation offsets point into)")
    p.add_argument("path", help="the file as citations name it (corpus/report.pdf), or its path or file name")
    p.add_argument("--pages", action="store_true",
                   help="mark where each PDF page starts with a [page N] line (the marks shift the offsets)")

    p = sub.add_parser("eval", help="answer the eval sets and print answer, abstention and retrieval metrics")
    p.add_argument("--set", dest="sets", action="append", default=None, metavar="FILE",
                   help="an eval set (.jsonl; repeatable). Default: every set in eval/sets/")
    p.add_argument("--split", choices=SPLITS, default=None,
                   help="which items: tune, test or all (default: test for the shipped sets, all for sets given with --set)")
    p.add_argument("--k", type=int, default=None, help="passages retrieved per question")
    p.add_argument("--retriever", choices=RETRIEVERS, default=None)
    p.add_argument("--backend", type=backend_list, default=None, metavar="LIST",
                   help="search backend(s), comma-separated: 'faiss,milvus' runs both and shows them side by side")
    p.add_argument("--failures", action="store_true", help="also print every failed question")
    p.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write all results as JSON to OUT")
    p.add_argument("--report", action="store_true",
                   help="rewrite eval/report.md and its plots (test and tune splits of every shipped set, at the shipped "
                        "settings: refused with --set, another --k, --retriever or --backend, or QA_* settings "
                        "that change answers)")

    p = sub.add_parser("train", help="fit the answer model on the tune splits of the eval sets")
    p.add_argument("--set", dest="sets", action="append", default=None, metavar="FILE",
                   help="an eval set to learn from (repeatable). Default: every set in eval/sets/")
    p.add_argument("--out", default=None, metavar="PATH", help="where to write the model (default: qa/answer_model.json, only when training on "
                        "the shipped sets at the shipped settings, which reproduces it)")

    p = sub.add_parser("bench", help="measure latency, build throughput, cold start and scale")
    p.add_argument("--quick", action="store_true", help="a shorter run, of a few minutes: fewer rounds and smaller scale points")
    p.add_argument("--json", dest="json_out", default=None, metavar="OUT", help="write the figures as JSON to OUT")
    p.add_argument("--report", action="store_true", help="regenerate eval/bench.md")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="milvus: Milvus next to FAISS (ingestion, query p50/p95 at 10k and 100k passages; fusion)")
    p.add_argument("--clustered", type=int, default=None, metavar="N",
                   help="index types over N clustered vectors (the 1M target: recall@10 >= 0.95 within 5 ms)")

    add_server_arguments(sub.add_parser("serve", help="start the chat app (same as python app.py)"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command and return its exit code. A reader that stops early (`| head -1`) ends
    the run quietly with EXIT_PIPE. Not by restoring SIGPIPE's default, which would also kill
    `qa serve` whenever a browser hung up mid-response."""
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # here, not at exit: a closed pipe is found where it can be caught
    except BrokenPipeError:
        # Python flushes stdout again at exit; pointed at /dev/null that flush cannot fail and print
        # "Exception ignored ... BrokenPipeError" (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE


def _run(argv: Sequence[str] | None) -> int:
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


def backend_list(text: str) -> list[str]:
    """`qa eval --backend`: one or more backends, each named once (a side-by-side run of a backend
    against itself would compare nothing)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    bad = [name for name in names if name not in BACKENDS]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"give one or more of {', '.join(BACKENDS)}, comma-separated; got {text!r}")
    twice = [name for name in dict.fromkeys(names) if names.count(name) > 1]
    if twice:
        raise argparse.ArgumentTypeError(f"{' and '.join(twice)} named twice in {text!r}: name each backend once "
                                         f"(faiss,milvus runs both side by side)")
    return names


def progress(message: str) -> None:
    print(f"qa: {message}", file=sys.stderr, flush=True)


def cmd_index(args: argparse.Namespace) -> int:
    from qa.engine import Engine

    settings = Settings.from_env()
    if args.backend:
        settings = settings.with_(backend=args.backend)
    engine = Engine.load(settings, rebuild=args.rebuild, progress=progress)
    counts = engine.index.manifest.get("counts", {})
    where = engine.index.location or "memory only"
    if settings.backend == "milvus":
        from qa.milvus_store import collection_base

        where = f"{settings.milvus_target} (collections {collection_base(settings)}_*, build {engine.index.manifest['build']})"
    print(f"Index ready: {counts.get('chunks')} chunks, {counts.get('sentences')} sentences from "
          f"{counts.get('documents')} file(s), at {where}")
    embedding = engine.index.manifest.get("embedding", {})
    documents = embedding.get("documents", {}) if isinstance(embedding, dict) else {}
    if isinstance(documents, dict) and {"embedded", "reused"} <= set(documents):
        total = documents["embedded"] + documents["reused"]
        print(f"Its build embedded {documents['embedded']} of {total} documents, reused {documents['reused']} "
              f"({embedding.get('texts')} texts embedded, {embedding.get('reused_texts')} reused)")
    return EXIT_OK


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.engine import Engine
    from qa.query import clean_question

    settings = Settings.from_env()
    question = question_of(args)
    clean_question(question, settings.max_question_chars)  # a bad question fails before the model loads
    engine = Engine.load(settings, progress=progress)
    answer = engine.ask(question, history=args.history, k=args.k, sources=args.sources)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        print(format_answer(answer))
    return EXIT_OK


def question_of(args: argparse.Namespace) -> str:
    """The question: its words joined (`qa ask What does Europe focus on` needs no quotes), or
    standard input for '-' and for no words when something is piped in (`echo ... | qa ask`).
    No question at all gets `qa ask`'s usage, never a wait on the terminal."""
    words: list[str] = args.question
    stdin = sys.stdin
    if words == ["-"] or (not words and stdin is not None and not stdin.isatty()):
        piped = stdin.read() if stdin is not None else ""
        if words or piped.strip():
            return piped
    if not words:
        args.usage_error('give a question: qa ask "What does Europe focus on?", or pipe one in: '
                         'echo "What does Europe focus on?" | qa ask')
    return " ".join(words)


def format_answer(answer) -> str:  # type: ignore[no-untyped-def]
    wrap = lambda text, indent="": textwrap.fill(text, width=100, initial_indent=indent, subsequent_indent=indent)  # noqa: E731
    lines = []
    if answer.searched_for.casefold() != answer.question.casefold():  # not for capitals alone
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
    # The same reading as `qa ask --source`: an unknown or ambiguous path is bad usage (exit 2).
    (source,) = engine.chosen_sources([args.path]) or ()
    document = engine.document(source)
    text = with_page_marks(document.text, document.page_starts) if args.pages else document.text
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def with_page_marks(text: str, page_starts: Sequence[int]) -> str:
    """The text with a "[page N]" line where each page starts."""
    pieces, previous = [], 0
    for number, start in enumerate(page_starts, 1):
        pieces.append(text[previous:start])
        pieces.append(f"[page {number}]\n")
        previous = start
    pieces.append(text[previous:])
    return "".join(pieces)


def _engines(base):  # type: ignore[no-untyped-def]
    """One engine per corpus, built once and sharing one loaded model."""
    from qa.engine import Engine

    cache: dict = {}

    def engine_for(eval_set):  # type: ignore[no-untyped-def]
        settings = eval_set.settings_for(base)
        if settings.corpus_dir not in cache:
            shared = next(iter(cache.values())).embedder if cache else None
            cache[settings.corpus_dir] = Engine.load(settings, progress=progress, embedder=shared)
        return cache[settings.corpus_dir]

    return engine_for


def given_sets(paths: Sequence[str] | None) -> str:
    """How to name the sets given with --set in a message, or "" for the shipped sets
    (none given, or exactly the files of eval/sets/)."""
    from qa.evalsets import shipped_sets

    if paths is None or {Path(p).resolve() for p in paths} == {p.resolve() for p in shipped_sets()}:
        return ""
    return ", ".join(dict.fromkeys(Path(p).name for p in paths))


def report_refusal(args: argparse.Namespace, base: Settings) -> str | None:
    """Why `qa eval --report` must not run, or None. The report is committed and the README quotes
    it as the shipped sets at the shipped settings; a run on other sets or settings written over it
    would replace every figure without a word, so it is refused rather than written elsewhere
    (--json OUT already keeps any run's figures)."""
    default = Settings()
    backend = args.backend[0] if args.backend else base.backend
    reasons = [f"--set {given}" for given in [given_sets(args.sets)] if given]
    reasons += [f"{flag} {value}" for flag, value, shipped in (("--k", args.k, default.top_k),
                                                                ("--retriever", args.retriever, default.retriever))
                if value is not None and value != shipped]
    if backend != default.backend:
        reasons.append(f"--backend {backend}" if args.backend else f"QA_BACKEND={backend}")
    ignore = ["backend"] + (["top_k"] if args.k is not None else []) + (["retriever"] if args.retriever else [])
    reasons += base.answer_changing(ignore)
    if not reasons:
        return None
    return (f"--report rewrites eval/report.md and its plots, which describe every shipped set at the shipped "
            f"settings, so not with {', '.join(reasons)}: drop --report and give --json OUT to keep these results")


def cmd_eval(args: argparse.Namespace) -> int:
    from qa import report
    from qa.evalsets import load_sets
    from qa.evaluate import run_sets

    base = Settings.from_env()
    refusal = report_refusal(args, base) if args.report else None
    if refusal:
        print(f"qa: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    sets = load_sets(args.sets)
    if args.json_out:
        from qa.outputs import check_writable

        check_writable(Path(args.json_out), "--json")
    split = args.split or ("all" if args.sets else "test")
    options = {"k": args.k, "retriever": args.retriever}
    if args.backend and len(args.backend) > 1:
        from qa.backend_compare import format_comparison

        if args.report:
            raise QuestionInvalid("--report describes one backend: give --backend with one name, or none")
        runs = [run_sets(_engines(base.with_(backend=name)), sets, split, progress, **options) for name in args.backend]
        print(format_comparison(args.backend, runs), end="\n\n")
        if args.failures:
            for name, results in zip(args.backend, runs):
                for result in results:
                    print(f"[{name}] " + report.format_failures(result), end="\n\n")
        print(report.LEGEND)
        if args.json_out:
            _write_json(Path(args.json_out), {name: [r.to_dict() for r in results]
                                              for name, results in zip(args.backend, runs)})
        return EXIT_OK
    if args.backend:
        base = base.with_(backend=args.backend[0])
    engine_for = _engines(base)
    results = run_sets(engine_for, sets, split, progress, **options)
    for result in results:
        print(report.format_table(result), end="\n\n")
        if args.failures:
            print(report.format_failures(result), end="\n\n")
    print(report.LEGEND)
    if args.json_out:
        _write_json(Path(args.json_out), [r.to_dict() for r in results])
    if args.report:
        tests = results if split == "test" else run_sets(engine_for, sets, "test", progress, **options)
        tunes = run_sets(engine_for, sets, "tune", progress, **options)
        engine = engine_for(sets[0])
        meta = {s.name: s.meta for s in sets}
        report.REPORT_PATH.write_text(report.render_report(tests, tunes, meta, engine.model.manifest,
                                                           engine.abstain_threshold), encoding="utf-8")
        written = [report.REPORT_PATH, report.plot_curves(tests), report.plot_reliability(tests)]
        progress(f"wrote {', '.join(str(p) for p in written)}")
    return EXIT_OK


def _write_json(path: Path, data: object) -> None:
    from qa.outputs import write_text

    write_text(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n", "--json")
    progress(f"wrote {path}")


def cmd_train(args: argparse.Namespace) -> int:
    from qa.evalsets import load_sets
    from qa.model import PACKAGED_MODEL
    from qa.outputs import check_writable
    from qa.train import train

    base = Settings.from_env()
    if not args.out:
        # The committed model is what `qa train` fits on the shipped sets at the shipped settings;
        # fitted on anything else it would silently replace the model every command answers with.
        # (The answer model in force and its threshold play no part in training.)
        changed = base.answer_changing(ignore=("answer_model_path", "abstain_threshold"))
        what = " ".join(([f"on {given_sets(args.sets)}"] if given_sets(args.sets) else [])
                        + ([f"with {', '.join(changed)} set"] if changed else []))
        if what:
            print(f"qa: training {what} would replace the shipped model ({PACKAGED_MODEL}); give --out "
                  "my_model.json and use it with QA_ANSWER_MODEL_PATH", file=sys.stderr)
            return EXIT_USAGE
    target = Path(args.out) if args.out else PACKAGED_MODEL
    check_writable(target, "--out")
    sets = load_sets(args.sets)
    model = train(sets, base, progress)
    out = model.save(target)
    for corpus, figures in model.manifest["leave_one_corpus_out"].items():
        progress(f"unseen-article check, {corpus}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    print(f"Wrote the answer model to {out} (abstain below {model.abstain_threshold:.3f}, "
          f"extra sentences at {model.extra_threshold:.2f})")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from qa import bench

    return bench.run_cli(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from qa.ui import serve  # imports Gradio: only when serving

    return serve(host=args.host, port=args.port, share=args.share, allow_uploads=args.allow_uploads or None)


COMMANDS = {"index": cmd_index, "ask": cmd_ask, "source": cmd_source, "eval": cmd_eval, "train": cmd_train,
            "bench": cmd_bench, "serve": cmd_serve}

if __name__ == "__main__":
    sys.exit(main())
