"""The BM25 legs before the question's encode (what the engine does) against after it (what it
did), interleaved question by question over the battery eval questions, each beside the
`qa bench` floor. Prints the p50 of each and their ratios to the floor.

    .venv/bin/python scripts/bench_bm25_first.py [ROUNDS]

Why: the model's pass leaves the processor's shared cache cold, and Python run after it is
about twice as slow as warm; this measures what moving the legs ahead of it saves."""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.bench import floor_query, load_questions  # noqa: E402
from qa.engine import Engine, _Prepared, get_engine  # noqa: E402
from qa.query import Query  # noqa: E402
from qa.retrieve import Lexical, legs_for, lexical_hits  # noqa: E402
from qa.types import Answer  # noqa: E402


def ask(engine: Engine, question: str, history: tuple[str, ...], legs_first: bool) -> Answer:
    """`Engine.ask`'s steps; with `legs_first` False, the BM25 legs run after the encode instead
    (as the engine did before): the preparation leaves them out, and they run once, later."""
    if not legs_first:
        engine._prepared = _without_legs  # type: ignore[method-assign]  # this instance only
    try:
        prepared = engine._prepare(question, history, None, None, None, None)
    finally:
        vars(engine).pop("_prepared", None)
    vectors = engine.embedder.encode(prepared.texts)
    if not legs_first:
        s = engine.settings
        legs = legs_for(engine.index, engine.backend, prepared.sources)
        prepared = dataclasses.replace(prepared, lexical=lexical_hits(
            legs, prepared.query.searched_for, depth=max(s.candidates, prepared.k),
            sentence_hits=s.pool_sentence_hits, mode=prepared.mode))
    return engine.decide(engine._candidates_from(prepared, vectors, 0.0))


def _without_legs(query: Query, k: int, mode: str, sources: frozenset[str] | None) -> _Prepared:
    return _Prepared(query, k, mode, Lexical([], []), sources)


def main(rounds: int) -> None:
    engine, questions = get_engine(), load_questions()
    for question, history in questions[:5]:  # warm
        ask(engine, question, history, True)
        ask(engine, question, history, False)
    times: dict[bool, list[float]] = {True: [], False: []}
    floor: list[float] = []
    for _ in range(rounds):
        for n, (question, history) in enumerate(questions):
            for legs_first in (n % 2 == 0, n % 2 == 1):  # which goes first alternates
                started = time.perf_counter()
                ask(engine, question, history, legs_first)
                times[legs_first].append(time.perf_counter() - started)
            started = time.perf_counter()
            floor_query(engine, question)
            floor.append(time.perf_counter() - started)
    before, after, base = (statistics.median(v) * 1000 for v in (times[True], times[False], floor))
    print(f"legs before the encode {before:.3f} ms (ratio {before / base:.3f}); "
          f"after it {after:.3f} ms (ratio {after / base:.3f}); floor {base:.3f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
