"""The same eval sets through two search backends, side by side (`qa eval --backend faiss,milvus`).

Parity is judged on the retrieval and answer figures a backend can move: hit@k, MRR and
HasAns (answer accuracy). They must agree within `PARITY_TOLERANCE`; the gate test and the
README say why they may not (tokenisation, score ties, approximate search at scale)."""

from __future__ import annotations

from typing import Sequence

from qa.evaluate import EvalResult
from qa.report import cell

# Two questions in a hundred: the eval's test splits hold 35 to 207 questions, so one question
# that a tie breaks the other way moves a small set's figure by up to 0.03 (README says so).
PARITY_TOLERANCE = 0.02
# What issue 12 asks to agree. hit@1 and hit@3 are shown too; they move with the order of
# equal-scored keys (an FAQ answer's chunks share its question's vector), which no backend fixes.
PARITY_KEYS = ("has_ans", "hit_at_k", "mrr")
COLUMNS = (("HasAns", "has_ans"), ("hit@1", "hit_at_1"), ("hit@3", "hit_at_3"), ("hit@k", "hit_at_k"),
           ("MRR", "mrr"), ("NoAns", "no_ans"), ("overall", "overall"), ("p50 ms", "latency_p50_ms"))


def parity_gaps(first: EvalResult, second: EvalResult, tolerance: float = PARITY_TOLERANCE) -> list[str]:
    """The parity metrics on which two runs of one set differ by more than `tolerance`."""
    gaps = []
    for key in PARITY_KEYS:
        a, b = first.metrics.get(key), second.metrics.get(key)
        if a is not None and b is not None and abs(a - b) > tolerance + 1e-9:
            gaps.append(f"{first.name} {key}: {a:.3f} against {b:.3f}")
    return gaps


def same_answers(first: EvalResult, second: EvalResult) -> int:
    """How many questions got the very same answer text (or abstention) from both."""
    return sum(a.answer == b.answer and a.abstained == b.abstained for a, b in zip(first.items, second.items))


def format_comparison(names: Sequence[str], runs: Sequence[Sequence[EvalResult]]) -> str:
    """One table per eval set: a row per backend, then the difference of the last from the first,
    with "!" on a parity metric that differs by more than the tolerance."""
    blocks = []
    for results in zip(*runs):
        header = ["", *(label for label, _ in COLUMNS)]
        rows = [[name, *(cell(key, r.metrics[key]) for _, key in COLUMNS)] for name, r in zip(names, results)]
        first, last = results[0], results[-1]
        diff = ["difference"]
        for _, key in COLUMNS:
            a, b = first.metrics[key], last.metrics[key]
            if a is None or b is None:
                diff.append("-")
                continue
            mark = "!" if key in PARITY_KEYS and abs(b - a) > PARITY_TOLERANCE + 1e-9 else ""
            diff.append(f"{b - a:+.0f}" if key.startswith("latency") else f"{b - a:+.2f}{mark}")
        rows.append(diff)
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        line = lambda row: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                     for i, (c, w) in enumerate(zip(row, widths)))
        title = (f"{first.name} ({first.split} split): {first.metrics['n']} questions · "
                 f"same answer from both: {same_answers(first, last)}")
        blocks.append("\n".join([title, line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]))
    gaps = [gap for results in zip(*runs) for gap in parity_gaps(results[0], results[-1])]
    verdict = (f"Parity (hit@k, MRR, HasAns within {PARITY_TOLERANCE}): "
               + ("met on every set." if not gaps else "missed: " + "; ".join(gaps) + "."))
    return "\n\n".join(blocks + [verdict])
