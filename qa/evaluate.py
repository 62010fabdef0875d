"""Eval set -> metrics, through `Engine.ask` only (the call the UI makes), so the figures
describe what a user gets, not a side path.

Computing and printing are apart: `load_eval_set` and `run_eval` return plain data that
the gate test, the report and the lead's scripts reuse; `format_table`, `write_report`
and `run_cli` only present it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from qa.errors import EvalSetError, QuestionInvalid
from qa.settings import PROJECT_ROOT

if TYPE_CHECKING:
    import argparse

    from qa.engine import Engine
    from qa.types import Answer

DEFAULT_SET = PROJECT_ROOT / "eval" / "questions.jsonl"
REPORT_PATH = PROJECT_ROOT / "eval" / "report.md"
PLOT_PATH = PROJECT_ROOT / "eval" / "confidence.png"
THRESHOLDS_PATH = PROJECT_ROOT / "eval" / "thresholds.json"

# The id prefix names the category when an item has no `category` field (issue 5).
PREFIX_CATEGORIES = {"faq": "faq", "para": "paraphrase", "fact": "fact", "follow": "followup",
                     "unans": "unanswerable"}
CATEGORY_ORDER = ("faq", "paraphrase", "fact", "followup", "unanswerable")
METRIC_NAMES = ("hit_at_1", "hit_at_3", "hit_at_k", "mrr", "answer_accuracy", "citation_support", "abstain_recall",
                "false_abstain_rate", "latency_p50_ms", "latency_p95_ms")

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def fold(text: str) -> str:
    """The matching form of issue 5: labels are written by hand with straight quotes and any
    spacing, while the article uses curly quotes; neither difference should count as a miss."""
    return " ".join(text.translate(_QUOTES).lower().split())


def contains_any(text: str, needles: Iterable[str]) -> bool:
    haystack = fold(text)
    return any(fold(n) in haystack for n in needles)


# ---------------------------------------------------------------- loading


def load_eval_set(path: Path | str) -> list[dict[str, Any]]:
    """Every line checked before any model work, so a typo costs a message naming the line,
    not a traceback halfway through a run."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EvalSetError(f"No eval set at {path}. Pass an existing file with --set.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalSetError(f"Cannot read the eval set {path}: {exc}") from None
    items: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item = _parse_line(line, path, number)
        if item["id"] in seen:
            raise EvalSetError(f"{path}, line {number}: id {item['id']!r} already used on line {seen[item['id']]}.")
        seen[item["id"]] = number
        items.append(item)
    if not items:
        raise EvalSetError(f"The eval set {path} has no items.")
    return items


def _parse_line(line: str, path: Path, number: int) -> dict[str, Any]:
    where = f"{path}, line {number}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EvalSetError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}).") from None
    if not isinstance(item, dict):
        raise EvalSetError(f"{where}: expected a JSON object, got {type(item).__name__}.")
    problem = _schema_problem(item)
    if problem:
        raise EvalSetError(f"{where}: {problem}.")
    for name in ("history", "expect_any", "support"):
        item.setdefault(name, [])
    item["category"] = category_of(item)
    return item


def _schema_problem(item: dict[str, Any]) -> str:
    for name in ("id", "question"):
        if not isinstance(item.get(name), str) or not item[name].strip():
            return f"{name!r} must be a non-empty string"
    if not isinstance(item.get("answerable"), bool):
        return "'answerable' must be true or false"
    for name in ("history", "expect_any", "support"):
        value = item.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            return f"{name!r} must be a list of non-empty strings"
    if "category" in item and not isinstance(item["category"], str):
        return "'category' must be a string"
    has_labels = bool(item.get("expect_any")) and bool(item.get("support"))
    if item["answerable"] and not has_labels:
        return "an answerable item needs non-empty 'expect_any' and 'support'"
    if not item["answerable"] and (item.get("expect_any") or item.get("support")):
        return "an unanswerable item must have empty 'expect_any' and 'support'"
    return ""


def category_of(item: dict[str, Any]) -> str:
    if item.get("category"):
        return str(item["category"])
    prefix = str(item["id"]).split("-", 1)[0].lower()
    return PREFIX_CATEGORIES.get(prefix, prefix)


# ---------------------------------------------------------------- running


@dataclass
class ItemResult:
    id: str
    category: str
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
    correct: bool | None  # answerable items only
    cited_support: bool | None  # answered answerable items only
    latency_ms: float
    problems: list[str] = field(default_factory=list)


@dataclass
class EvalResult:
    items: list[ItemResult]
    metrics: dict[str, float | None]
    by_category: dict[str, dict[str, float | None]]
    settings: dict[str, Any]

    @property
    def failures(self) -> list[ItemResult]:
        return [r for r in self.items if r.problems]

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "by_category": self.by_category,
                "items": [asdict(r) for r in self.items],
                "failures": [_failure_dict(r) for r in self.failures], "settings": self.settings}


def run_eval(engine: Engine, items: Sequence[dict[str, Any]], k: int | None = None,
             retriever: str | None = None, resolve_follow_ups: bool | None = None,
             progress: Callable[[int, int], None] | None = None) -> EvalResult:
    """One engine, many runs: k, retriever and follow-up resolution go per call, so an
    ablation never reloads the model."""
    k = engine.settings.top_k if k is None else k
    if not isinstance(k, int) or k < 1:
        raise QuestionInvalid(f"k must be a whole number of at least 1, got {k!r}.")
    results = []
    for i, item in enumerate(items, start=1):
        results.append(evaluate_item(engine, item, k, retriever, resolve_follow_ups))
        if progress:
            progress(i, len(items))
    settings = {"k": k, "retriever": retriever or engine.settings.retriever,
                "resolve_follow_ups": engine.settings.resolve_followups if resolve_follow_ups is None
                else resolve_follow_ups,
                "abstain_threshold": engine.settings.abstain_threshold}
    return EvalResult(results, summarize(results, k), summarize_by_category(results, k), settings)


def evaluate_item(engine: Engine, item: dict[str, Any], k: int, retriever: str | None,
                  resolve_follow_ups: bool | None) -> ItemResult:
    started = time.perf_counter()
    answer = engine.ask(item["question"], history=item.get("history", []), k=k, retriever=retriever,
                        resolve_follow_ups=resolve_follow_ups)
    latency = 1000 * (time.perf_counter() - started)
    return judge(item, answer, k, latency)


def judge(item: dict[str, Any], answer: Answer, k: int, latency_ms: float) -> ItemResult:
    """Labels against one answer; kept apart from `engine.ask` so a saved answer can be re-judged."""
    passages = list(answer.passages)[:k]
    support = item.get("support", [])
    rank = next((i for i, p in enumerate(passages, start=1) if contains_any(p.chunk.text, support)), None)
    answerable = item["answerable"]
    correct = cited = None
    if answerable:
        correct = not answer.abstained and contains_any(answer.text, item["expect_any"])
        if not answer.abstained:
            cited = any(contains_any(c.passage, support) for c in answer.citations)
    result = ItemResult(
        id=item["id"], category=category_of(item), question=item["question"], history=list(item.get("history", [])),
        answerable=answerable, expected=list(item.get("expect_any", [])), answer=answer.text,
        searched_for=answer.searched_for, abstained=answer.abstained, confidence=round(answer.confidence, 4),
        reason=answer.reason, retrieved=[p.chunk.id for p in passages], support_rank=rank, correct=correct,
        cited_support=cited, latency_ms=round(latency_ms, 2))
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
    if r.cited_support is False:
        problems.append("no cited passage supports the answer")
    return problems


def summarize(results: Sequence[ItemResult], k: int) -> dict[str, float | None]:
    """None marks a metric with no items to measure (e.g. hit@k on unanswerable questions),
    so an empty share is never shown as 0 or 1."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    answered = [r for r in answerable if not r.abstained]
    latencies = [r.latency_ms for r in results]
    return {
        "n": len(results),
        "hit_at_1": _share(answerable, lambda r: r.support_rank == 1),
        "hit_at_3": _share(answerable, lambda r: r.support_rank is not None and r.support_rank <= 3)
        if k >= 3 else None,  # issue 5 aims at hit@3 = 1.0 whatever k the run uses
        "hit_at_k": _share(answerable, lambda r: r.support_rank is not None),
        "mrr": _mean([1 / r.support_rank if r.support_rank else 0.0 for r in answerable]),
        "answer_accuracy": _share(answerable, lambda r: bool(r.correct)),
        "citation_support": _share(answered, lambda r: bool(r.cited_support)),
        "abstain_recall": _share(unanswerable, lambda r: r.abstained),
        "false_abstain_rate": _share(answerable, lambda r: r.abstained),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
    }


def summarize_by_category(results: Sequence[ItemResult], k: int) -> dict[str, dict[str, float | None]]:
    names = sorted({r.category for r in results}, key=lambda c: (c not in CATEGORY_ORDER, _order(c), c))
    return {c: summarize([r for r in results if r.category == c], k) for c in names}


def _order(category: str) -> int:
    return CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)


def _share(results: Sequence[ItemResult], ok: Callable[[ItemResult], bool]) -> float | None:
    return round(sum(1 for r in results if ok(r)) / len(results), 4) if results else None


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), without importing numpy."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (pos - low), 2)


def _failure_dict(r: ItemResult) -> dict[str, Any]:
    return {"id": r.id, "category": r.category, "question": r.question, "history": r.history,
            "searched_for": r.searched_for, "expected": r.expected if r.answerable else "abstain",
            "answer": r.answer, "abstained": r.abstained, "confidence": r.confidence,
            "support_rank": r.support_rank, "problems": r.problems}


# ---------------------------------------------------------------- threshold analysis


@dataclass
class ThresholdAnalysis:
    threshold: float
    answerable_below: int  # answerable items abstained on at the threshold in force
    answerable_total: int
    unanswerable_at_or_above: int  # unanswerable items answered at the threshold in force
    unanswerable_total: int
    best_errors: int  # fewest misplaced items any threshold reaches on this set
    best_ranges: list[tuple[float, float]]  # each (low, high]: every threshold in it reaches best_errors
    max_unanswerable: float | None
    min_answerable: float | None

    @property
    def inside_best(self) -> bool:
        return any(low < self.threshold <= high for low, high in self.best_ranges)


def analyse_threshold(result: EvalResult) -> ThresholdAnalysis:
    """Where the abstention threshold could sit, from this run's confidences. A threshold t
    misplaces the answerable items below t and the unanswerable ones at or above t; that
    count only changes at observed confidences, so checking one interval between neighbouring
    values at a time covers every threshold."""
    pos = [r.confidence for r in result.items if r.answerable]
    neg = [r.confidence for r in result.items if not r.answerable]
    errors = lambda x: sum(c < x for c in pos) + sum(c >= x for c in neg)  # noqa: E731
    values = sorted({*pos, *neg})
    # Interval (low, high] holds errors(high); past the largest value, every item is below.
    intervals = [(lo, hi, errors(hi)) for lo, hi in zip([-1.0, *values], values)]
    if values and values[-1] < 1.0:
        intervals.append((values[-1], 1.0, errors(1.0)))
    best = min((e for _, _, e in intervals), default=0)
    ranges: list[tuple[float, float]] = []
    for lo, hi, e in intervals:
        if e != best:
            continue
        if ranges and ranges[-1][1] == lo:
            ranges[-1] = (ranges[-1][0], hi)
        else:
            ranges.append((max(lo, 0.0), hi))
    return ThresholdAnalysis(
        float(result.settings["abstain_threshold"]),
        sum(r.abstained for r in result.items if r.answerable), len(pos),
        sum(not r.abstained for r in result.items if not r.answerable), len(neg),
        best, ranges, max(neg) if neg else None, min(pos) if pos else None)


# ---------------------------------------------------------------- printing


TABLE_COLUMNS = (("n", "n"), ("hit@1", "hit_at_1"), ("hit@3", "hit_at_3"), ("hit@k", "hit_at_k"), ("MRR", "mrr"),
                 ("answer acc", "answer_accuracy"), ("cited ok", "citation_support"),
                 ("abstain rec", "abstain_recall"), ("false abst", "false_abstain_rate"),
                 ("p50 ms", "latency_p50_ms"), ("p95 ms", "latency_p95_ms"))


def _cell(key: str, value: float | None) -> str:
    if value is None:
        return "-"
    if key == "n":
        return str(int(value))
    if key.startswith("latency"):
        return f"{value:.0f}"
    return f"{value:.2f}"


def metric_rows(result: EvalResult) -> list[list[str]]:
    rows = [["all", *(_cell(key, result.metrics[key]) for _, key in TABLE_COLUMNS)]]
    for name, metrics in result.by_category.items():
        rows.append([name, *(_cell(key, metrics[key]) for _, key in TABLE_COLUMNS)])
    return rows


def format_table(result: EvalResult) -> str:
    header = ["", *(label for label, _ in TABLE_COLUMNS)]
    rows = metric_rows(result)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    s = result.settings
    out = [f"Eval: {result.metrics['n']} items · retriever {s['retriever']} · k {s['k']} · "
           f"follow-up resolution {'on' if s['resolve_follow_ups'] else 'off'} · abstain below {s['abstain_threshold']}",
           "", line(header), line(["-" * w for w in widths]), *(line(r) for r in rows), ""]
    out.append("hit@k, MRR, answer acc, false abst: answerable items; cited ok: answered answerable items; "
               "abstain rec: unanswerable items.")
    out.extend(["", format_failures(result)])
    return "\n".join(out)


def format_failures(result: EvalResult, width: int = 300) -> str:
    failures = result.failures
    if not failures:
        return "No failures."
    out = [f"Failures ({len(failures)}):"]
    for r in failures:
        out.append(f"- {r.id} [{r.category}] {'; '.join(r.problems)}")
        if r.history:
            out.append(f"    history:  {' | '.join(r.history)}")
        out.append(f"    question: {r.question}")
        if r.searched_for != r.question:
            out.append(f"    searched: {r.searched_for}")
        out.append(f"    expected: {' | '.join(r.expected) if r.answerable else '(abstain)'}")
        verdict = "abstained" if r.abstained else "answered"
        out.append(f"    got:      {verdict}, confidence {r.confidence:.2f}, support rank {r.support_rank or '-'}: "
                   f"{_clip(r.answer, width)}")
    return "\n".join(out)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------- CLI


def run_cli(args: argparse.Namespace) -> int:
    import sys

    from qa.engine import Engine
    from qa.settings import Settings

    items = load_eval_set(args.eval_set or DEFAULT_SET)
    if args.k is not None and args.k < 1:
        raise QuestionInvalid(f"--k must be at least 1, got {args.k}.")
    say = lambda message: print(f"qa: {message}", file=sys.stderr, flush=True)  # noqa: E731
    engine = Engine.load(Settings.from_env(), progress=say)
    result = run_eval(engine, items, k=args.k, retriever=args.retriever)
    print(format_table(result))
    if args.json_out:
        path = Path(args.json_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        say(f"wrote {path}")
    if args.report:
        written = write_report(engine, items, result, say)
        say(f"wrote {', '.join(str(p) for p in written)}")
    return 0


# ---------------------------------------------------------------- report

# The ablation of issue 5: each retriever alone and fused, and fused without follow-up resolution.
ABLATIONS = (("dense", "dense", True), ("bm25", "bm25", True), ("hybrid", "hybrid", True),
             ("hybrid, no follow-up resolution", "hybrid", False))
ABLATION_COLUMNS = (("hit@1", "hit_at_1"), ("hit@3", "hit_at_3"), ("hit@k", "hit_at_k"), ("MRR", "mrr"),
                    ("answer acc", "answer_accuracy"), ("cited ok", "citation_support"),
                    ("abstain rec", "abstain_recall"), ("false abst", "false_abstain_rate"))


def run_ablations(engine: Engine, items: Sequence[dict[str, Any]], k: int | None = None,
                  reuse: EvalResult | None = None) -> dict[str, EvalResult]:
    """All configurations on the one loaded engine; `reuse` saves re-running a configuration
    the caller has just measured."""
    runs = {}
    for name, retriever, resolve in ABLATIONS:
        same = reuse is not None and reuse.settings["retriever"] == retriever \
            and reuse.settings["resolve_follow_ups"] == resolve and (k is None or reuse.settings["k"] == k)
        runs[name] = reuse if same else run_eval(engine, items, k=k, retriever=retriever, resolve_follow_ups=resolve)
    return runs


def write_report(engine: Engine, items: Sequence[dict[str, Any]], result: EvalResult,
                 say: Callable[[str], None] = lambda _: None, report_path: Path = REPORT_PATH,
                 plot_path: Path = PLOT_PATH) -> list[Path]:
    say("running the ablations (dense, bm25, hybrid, hybrid without follow-up resolution)")
    ablations = run_ablations(engine, items, k=result.settings["k"], reuse=result)
    analysis = analyse_threshold(result)
    plot_confidence(result, analysis, plot_path)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(render_report(result, ablations, analysis, plot_path.name), encoding="utf-8")
    return [report_path, plot_path]


def render_report(result: EvalResult, ablations: dict[str, EvalResult], analysis: ThresholdAnalysis,
                  plot_name: str) -> str:
    s = result.settings
    parts = [
        "# Eval report",
        "",
        "Generated by `qa eval --report` from `eval/questions.jsonl`; do not edit by hand. "
        f"{result.metrics['n']} questions, each asked through `Engine.ask` (the call the chat app makes), "
        f"retriever {s['retriever']}, k = {s['k']}, follow-up resolution {'on' if s['resolve_follow_ups'] else 'off'}, "
        f"abstention threshold {s['abstain_threshold']}.",
        "",
        "## Metrics",
        "",
        _markdown_table(["", *(label for label, _ in TABLE_COLUMNS)], metric_rows(result)),
        "",
        "hit@1/3/k and MRR@k: rank of the first retrieved passage containing a `support` string, on answerable "
        "items. Answer acc: answered (not abstained) and the answer contains an `expect_any` string. Cited ok: "
        "answered answerable items with a cited passage containing a `support` string. Abstain rec: unanswerable "
        "items abstained on. False abst: answerable items abstained on. Latency is wall time around `ask` on the "
        "machine that generated this report (a shared 2-core box), so treat it as indicative.",
        "",
        "## Against the aims of issue 5",
        "",
        _aims_table(result.metrics),
        "",
        "## Ablation",
        "",
        _ablation_table(ablations),
        "",
        _ablation_note(ablations),
        "",
        "## Confidence and the abstention threshold",
        "",
        f"![Answer confidence for answerable and unanswerable questions]({plot_name})",
        "",
        threshold_paragraph(result, analysis),
        "",
        "## Failures",
        "",
        _markdown_failures(result),
        "",
    ]
    return "\n".join(parts)


AIMS = (("hit_at_3", ">=", 1.0), ("answer_accuracy", ">=", 0.9), ("abstain_recall", ">=", 0.8),
        ("false_abstain_rate", "<=", 0.05))


def _aims_table(metrics: dict[str, float | None]) -> str:
    rows = []
    for name, op, aim in AIMS:
        value = metrics.get(name)
        met = value is not None and (value >= aim if op == ">=" else value <= aim)
        rows.append([name, f"{op} {aim:.2f}", _cell(name, value), "yes" if met else "**no**"])
    return _markdown_table(["metric", "aim", "measured", "met"], rows)


def _ablation_table(ablations: dict[str, EvalResult]) -> str:
    header = ["configuration", *(label for label, _ in ABLATION_COLUMNS), "follow-up acc"]
    rows = []
    for name, run in ablations.items():
        followup = run.by_category.get("followup", {}).get("answer_accuracy")
        rows.append([name, *(_cell(key, run.metrics[key]) for _, key in ABLATION_COLUMNS), _cell("x", followup)])
    return _markdown_table(header, rows)


def _ablation_note(ablations: dict[str, EvalResult]) -> str:
    ranked = sorted(ablations.items(), key=lambda kv: (kv[1].metrics["mrr"] or 0.0), reverse=True)
    best = ranked[0][0]
    with_res = ablations.get("hybrid")
    without = ablations.get("hybrid, no follow-up resolution")
    note = f"Best retrieval by MRR: {best} ({ranked[0][1].metrics['mrr']:.3f})."
    if with_res and without:
        a = with_res.by_category.get("followup", {}).get("answer_accuracy")
        b = without.by_category.get("followup", {}).get("answer_accuracy")
        if a is not None and b is not None:
            note += (f" Follow-up resolution takes follow-up answer accuracy from {b:.2f} (off) to {a:.2f} (on); "
                     f"overall accuracy {without.metrics['answer_accuracy']:.2f} -> {with_res.metrics['answer_accuracy']:.2f}.")
    return note


def threshold_paragraph(result: EvalResult, a: ThresholdAnalysis) -> str:
    """Every figure here comes from the run, so the text stays true when the engine changes."""
    low_ids = [r.id for r in result.items if r.answerable and r.abstained]
    high_ids = [r.id for r in result.items if not r.answerable and not r.abstained]
    text = [
        f"The engine abstains when its confidence is below {a.threshold:.2f} (`abstain_threshold` in qa/settings.py, "
        f"the dashed line). At that threshold {a.answerable_below} of {a.answerable_total} answerable questions fall "
        "below it and are wrongly declined" + (f" ({', '.join(low_ids)})" if low_ids else "")
        + f", and {a.unanswerable_at_or_above} of {a.unanswerable_total} unanswerable questions reach it and get an "
        "answer" + (f" ({', '.join(high_ids)})" if high_ids else "") + ".",
    ]
    ranges = " or ".join(f"above {lo:.3f} and up to {hi:.3f}" for lo, hi in a.best_ranges)
    if a.max_unanswerable is not None and a.min_answerable is not None:
        if a.min_answerable > a.max_unanswerable:
            text.append(f"The two classes separate cleanly: the most confident unanswerable question scores "
                        f"{a.max_unanswerable:.3f} and the least confident answerable one {a.min_answerable:.3f}, so "
                        f"any threshold {ranges} misplaces nothing.")
        else:
            text.append(f"The classes overlap between {a.min_answerable:.3f} (least confident answerable question) "
                        f"and {a.max_unanswerable:.3f} (most confident unanswerable one). The fewest questions any "
                        f"single threshold misplaces on this set is {a.best_errors}, for a threshold {ranges} "
                        "(shaded).")
    if a.inside_best:
        text.append(_position(a))
    else:
        now = a.answerable_below + a.unanswerable_at_or_above
        text.append(f"The threshold in force misplaces {now}, so it sits outside the best range: moving it there "
                    f"would gain {now - a.best_errors} on this set. The set is small, so read the items named above "
                    f"before moving it; each answerable question is worth 1/{a.answerable_total} of answer accuracy.")
    return " ".join(text)


def _position(a: ThresholdAnalysis) -> str:
    """Within the best range all thresholds tie on this set; say which side the margin is kept on."""
    low, high = next((lo, hi) for lo, hi in a.best_ranges if lo < a.threshold <= hi)
    below, above = a.threshold - low, high - a.threshold
    side = ("nearer the unanswerable side, so borderline answerable questions still get an answer"
            if below <= above else
            "nearer the answerable side: a confident wrong answer misleads a reader, while an abstention still "
            "lists the closest passages, so a borderline question is declined rather than answered")
    return (f"The threshold in force sits inside the best range, {below:.3f} above its bottom and {above:.3f} "
            f"below its top, {side}.")


def plot_confidence(result: EvalResult, analysis: ThresholdAnalysis, path: Path) -> Path:
    """A strip per class shows every question, so a reader sees which ones sit near the line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (("answerable", [r for r in result.items if r.answerable]),
            ("unanswerable", [r for r in result.items if not r.answerable]))
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=120)
    for i, (low, high) in enumerate(analysis.best_ranges):
        ax.axvspan(low, high, color="0.88", label=f"thresholds misplacing fewest ({analysis.best_errors})" if i == 0 else None)
    for y, (label, members) in enumerate(rows):
        for kind, colour, marker in (("answered", "tab:blue", "o"), ("abstained", "tab:red", "x")):
            chosen = [r for r in members if r.abstained == (kind == "abstained")]
            xs = [r.confidence for r in chosen]
            ys = [y + _jitter(i) for i, _ in enumerate(chosen)]
            ax.scatter(xs, ys, c=colour, marker=marker, s=28, alpha=0.8,
                       label=kind if y == 0 else None)
    ax.axvline(analysis.threshold, color="black", linestyle="--", linewidth=1.2,
               label=f"abstain threshold {analysis.threshold:.2f}")
    ax.set_yticks([0, 1], [f"{label} (n={len(m)})" for label, m in rows])
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.6, 1.6)
    ax.set_xlabel("answer confidence")
    ax.set_title("Confidence per question (eval/questions.jsonl)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=4, fontsize=8, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def _jitter(i: int) -> float:
    """Deterministic spread within a strip, so the plot does not change between identical runs."""
    return ((i * 0.618034) % 1.0 - 0.5) * 0.5


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _markdown_failures(result: EvalResult) -> str:
    if not result.failures:
        return "None."
    out = []
    for r in result.failures:
        expected = " / ".join(f"“{e}”" for e in r.expected) if r.answerable else "an abstention"
        history = f" (after: {' | '.join(r.history)})" if r.history else ""
        got = "abstained" if r.abstained else "answered"
        out.append(f"- **{r.id}** {'; '.join(r.problems)}. Q: {r.question}{history} "
                   + (f"Searched for: {r.searched_for}. " if r.searched_for != r.question else "")
                   + f"Expected {expected}. Got ({got}, confidence {r.confidence:.2f}): {_clip(r.answer, 240)}")
    return "\n".join(out)
