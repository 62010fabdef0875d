"""Eval set -> metrics, through the engine's own calls (`Engine.candidates` and `Engine.decide`,
which together are `Engine.ask`), so the figures describe what a user gets.

Each item is answered once as users get it, and, when that is an abstention, once more with
no threshold: what the engine would have said is what the abstention trade-off curve and the
reliability plot need. Computing and presenting are apart: this module returns plain data;
qa/report.py prints and plots it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from qa.evalsets import EvalSet, category_of, check_answers_in, contains_any, split_of
from qa.stats import mean, percentile, share

if TYPE_CHECKING:
    from qa.engine import Candidates, Engine
    from qa.types import Answer

CATEGORY_ORDER = ("faq", "paraphrase", "fact", "followup", "summary", "squad", "unanswerable", "squad-unanswerable")
METRIC_NAMES = ("has_ans", "first_sentence", "no_ans", "false_abstain", "overall", "passage_chars", "hit_at_1",
                "hit_at_3", "hit_at_k", "mrr", "citation_support", "latency_p50_ms", "latency_p95_ms")


@dataclass
class ItemResult:
    id: str
    category: str
    split: str
    question: str
    history: list[str]
    answerable: bool
    expected: list[str]
    answer: str
    searched_for: str
    abstained: bool
    confidence: float
    reason: str
    retrieved: list[str]  # chunk ids, best first
    support_rank: int | None  # 1-based rank of the first supporting passage within k
    correct: bool | None  # answerable items: answered, and the answer holds a gold string
    first_correct: bool | None  # answerable items: the answer's first sentence holds a gold string
    would_be_correct: bool  # the answer the engine gives with no threshold is right (an unanswerable one never is)
    cited_support: bool | None  # answered answerable items: a cited passage holds a support string
    passage_chars: int | None  # answered items: characters of the distinct passages cited
    sentences: int
    latency_ms: float
    problems: list[str] = field(default_factory=list)


@dataclass
class EvalResult:
    name: str
    split: str
    items: list[ItemResult]
    metrics: dict[str, float | None]
    by_category: dict[str, dict[str, float | None]]
    settings: dict[str, Any]

    @property
    def failures(self) -> list[ItemResult]:
        return [r for r in self.items if r.problems]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "split": self.split, "metrics": self.metrics, "by_category": self.by_category,
                "settings": self.settings, "items": [asdict(r) for r in self.items]}


def run_eval(engine: Engine, items: Sequence[dict[str, Any]], name: str = "", split: str = "all",
             k: int | None = None, retriever: str | None = None, resolve_follow_ups: bool | None = None,
             progress: Callable[[int, int], None] | None = None) -> EvalResult:
    """One engine, many runs: k, retriever and follow-up resolution go per call, so an
    ablation never reloads the model. Questions are embedded `batch_max_size` at a time, as the
    server embeds questions that arrive together (`Engine.candidates_many`); each is answered on
    its own, so the answers are those `Engine.ask` gives. An item's latency is its own work plus
    its share of its batch's encode."""
    from qa.engine import Question

    results: list[ItemResult] = []
    size = engine.settings.batch_max_size
    for start in range(0, len(items), size):
        batch = items[start:start + size]
        found = engine.candidates_many([Question(item["question"], tuple(item.get("history", [])), k)
                                        for item in batch], retriever, resolve_follow_ups)
        for item, one in zip(batch, found):
            if isinstance(one, Exception):
                raise one
            results.append(evaluate_item(engine, item, one))
            if progress:
                progress(len(results), len(items))
    k = engine.settings.top_k if k is None else k
    settings = {"k": k, "retriever": retriever or engine.settings.retriever,
                "resolve_follow_ups": engine.settings.resolve_followups if resolve_follow_ups is None
                else resolve_follow_ups,
                "abstain_threshold": engine.abstain_threshold}
    return EvalResult(name, split, results, summarize(results), summarize_by_category(results), settings)


def evaluate_item(engine: Engine, item: dict[str, Any], found: Candidates) -> ItemResult:
    answer = engine.decide(found)
    would_be = engine.decide(found, threshold=0.0) if answer.abstained else answer
    return judge(item, answer, would_be, found.k, answer.timings_ms["total"])


def judge(item: dict[str, Any], answer: Answer, would_be: Answer, k: int, latency_ms: float) -> ItemResult:
    """Labels against one answer (and the answer it would have been with no threshold)."""
    passages = list(answer.passages)[:k]
    support = item.get("support", [])
    expected = item.get("expect_any", [])
    rank = next((i for i, p in enumerate(passages, start=1) if contains_any(p.chunk.text, support)), None)
    answerable = item["answerable"]
    correct = first = cited = None
    if answerable:
        correct = not answer.abstained and contains_any(answer.text, expected)
        first = not answer.abstained and bool(answer.citations) and contains_any(answer.citations[0].quote, expected)
        if not answer.abstained:
            cited = any(contains_any(c.passage, support) for c in answer.citations)
    chars = None if answer.abstained else sum(len(p) for p in {c.passage for c in answer.citations})
    result = ItemResult(
        id=item["id"], category=category_of(item), split=split_of(item["id"]), question=item["question"],
        history=list(item.get("history", [])), answerable=answerable, expected=list(expected), answer=answer.text,
        searched_for=answer.searched_for, abstained=answer.abstained, confidence=round(answer.confidence, 4),
        reason=answer.reason, retrieved=[p.chunk.id for p in passages], support_rank=rank, correct=correct,
        first_correct=first, would_be_correct=answerable and not would_be.abstained and contains_any(would_be.text, expected),
        cited_support=cited, passage_chars=chars, sentences=len(answer.citations), latency_ms=round(latency_ms, 2))
    result.problems = _problems(result, k)
    return result


def _problems(r: ItemResult, k: int) -> list[str]:
    if not r.answerable:
        return [] if r.abstained else ["answered an unanswerable question"]
    problems = []
    if r.support_rank is None:
        problems.append(f"no supporting passage in the top {k}")
    if r.abstained:
        problems.append("abstained on an answerable question")
    elif not r.correct:
        problems.append("answer lacks every expected string")
    return problems


def summarize(results: Sequence[ItemResult]) -> dict[str, float | None]:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    answered = [r for r in results if not r.abstained]
    right = sum(1 for r in answerable if r.correct) + sum(1 for r in unanswerable if r.abstained)
    latencies = [r.latency_ms for r in results]
    figures: dict[str, float | None] = {
        "n": len(results), "answerable": len(answerable), "unanswerable": len(unanswerable),
        "has_ans": share([bool(r.correct) for r in answerable]),
        "first_sentence": share([bool(r.first_correct) for r in answerable]),
        "no_ans": share([r.abstained for r in unanswerable]),
        "false_abstain": share([r.abstained for r in answerable]),
        "overall": right / len(results) if results else None,
        "passage_chars": mean([r.passage_chars for r in answered if r.passage_chars is not None]),
        "hit_at_1": share([r.support_rank == 1 for r in answerable]),
        "hit_at_3": share([r.support_rank is not None and r.support_rank <= 3 for r in answerable]),
        "hit_at_k": share([r.support_rank is not None for r in answerable]),
        "mrr": mean([1 / r.support_rank if r.support_rank else 0.0 for r in answerable]),
        "citation_support": share([bool(r.cited_support) for r in answerable if not r.abstained]),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
    }
    return {key: (round(value, 4) if isinstance(value, float) else value) for key, value in figures.items()}


def summarize_by_category(results: Sequence[ItemResult]) -> dict[str, dict[str, float | None]]:
    names = sorted({r.category for r in results}, key=lambda c: (_order(c), c))
    return {c: summarize([r for r in results if r.category == c]) for c in names}


def _order(category: str) -> int:
    return CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)


# ---------------------------------------------------------------- abstention trade-off and calibration


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    coverage: float  # share of questions answered
    answered_accuracy: float | None  # share of answered questions answered right
    overall: float  # right answers plus right abstentions, over all questions


def abstention_curve(results: Sequence[ItemResult]) -> list[CurvePoint]:
    """Every threshold that changes anything (the observed confidences, and 1.01 for "decline
    everything"): what answering only at or above it would score, from the answers the engine
    would give with no threshold (the SQuAD 2.0 script's best-threshold idea)."""
    points = []
    for t in sorted({r.confidence for r in results} | {1.01}):
        answered = [r for r in results if r.confidence >= t]
        right_answers = sum(1 for r in answered if r.would_be_correct)
        right_abstentions = sum(1 for r in results if r.confidence < t and not r.answerable)
        points.append(CurvePoint(t, len(answered) / len(results) if results else 0.0,
                                 right_answers / len(answered) if answered else None,
                                 (right_answers + right_abstentions) / len(results) if results else 0.0))
    return points


def best_threshold(results: Sequence[ItemResult]) -> CurvePoint | None:
    points = abstention_curve(results)
    return max(points, key=lambda p: (p.overall, -p.threshold)) if points else None


def reliability(results: Sequence[ItemResult], bins: int = 10) -> list[tuple[float, float, float, int]]:
    """(bin low, mean confidence, share right, count) per confidence bin with items: a
    calibrated confidence sits on the diagonal."""
    rows = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [r for r in results if low <= r.confidence < high or (b == bins - 1 and r.confidence == 1.0)]
        if members:
            rows.append((low, sum(r.confidence for r in members) / len(members),
                         sum(r.would_be_correct for r in members) / len(members), len(members)))
    return rows


def expected_calibration_error(results: Sequence[ItemResult], bins: int = 10) -> float | None:
    rows = reliability(results, bins)
    total = sum(n for *_, n in rows)
    return sum(n * abs(conf - right) for _low, conf, right, n in rows) / total if total else None


def run_sets(engines: Callable[[EvalSet], "Engine"], sets: Sequence[EvalSet], split: str,
             progress: Callable[[str], None] = lambda _m: None, **options: Any) -> list[EvalResult]:
    """Each set answered from its own corpus's engine (`engines(eval_set)`)."""
    results = []
    for eval_set in sets:
        items = eval_set.split(split)
        progress(f"{eval_set.name}: {len(items)} questions ({split})")
        engine = engines(eval_set)
        check_answers_in(eval_set, (d.text for d in engine.documents), engine.settings.corpus_dir, progress)
        results.append(run_eval(engine, items, name=eval_set.name, split=split, **options))
    return results
