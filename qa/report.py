"""Eval results -> text tables for the terminal, and eval/report.md with its plots: the metrics of
every set against its targets, the abstention trade-off curve, the reliability plot, and the
model's leave-one-corpus-out validation. Presentation only: the figures come from qa/evaluate.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from qa.evaluate import EvalResult, abstention_curve, best_threshold, expected_calibration_error, reliability
from qa.settings import PROJECT_ROOT

REPORT_PATH = PROJECT_ROOT / "eval" / "report.md"
CURVE_PLOT = PROJECT_ROOT / "eval" / "abstention.png"
RELIABILITY_PLOT = PROJECT_ROOT / "eval" / "reliability.png"

TABLE_COLUMNS = (("n", "n"), ("HasAns", "has_ans"), ("1st sent", "first_sentence"), ("NoAns", "no_ans"),
                 ("false abst", "false_abstain"), ("overall", "overall"), ("chars", "passage_chars"),
                 ("hit@1", "hit_at_1"), ("hit@3", "hit_at_3"), ("MRR", "mrr"), ("p50 ms", "latency_p50_ms"))
LEGEND = ("HasAns: answerable questions answered with a gold string in the answer; 1st sent: ... in its first "
          "sentence; NoAns: unanswerable questions declined; false abst: answerable questions declined; overall: "
          "right answers plus right abstentions over all questions; chars: mean characters of the distinct passages "
          "an answer cites; hit@k and MRR: rank of the first retrieved passage holding a support string "
          "(answerable questions).")
# How a target reads: the metric, ">=" or "<=", and the aim.
TARGET_KEYS = {"has_ans": ">=", "no_ans": ">=", "hit_at_3": ">=", "false_abstain": "<=", "passage_chars": "<="}


def cell(key: str, value: float | None) -> str:
    if value is None:
        return "-"
    if key in ("n", "answerable", "unanswerable"):
        return str(int(value))
    if key.startswith("latency") or key == "passage_chars":
        return f"{value:.0f}"
    return f"{value:.2f}"


def metric_rows(result: EvalResult, categories: bool = True) -> list[list[str]]:
    rows = [["all", *(cell(key, result.metrics[key]) for _, key in TABLE_COLUMNS)]]
    if categories:
        for name, metrics in result.by_category.items():
            rows.append([name, *(cell(key, metrics[key]) for _, key in TABLE_COLUMNS)])
    return rows


def format_table(result: EvalResult) -> str:
    header = ["", *(label for label, _ in TABLE_COLUMNS)]
    rows = metric_rows(result)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    s = result.settings
    title = (f"{result.name} ({result.split} split): {result.metrics['n']} questions · retriever {s['retriever']} · "
             f"k {s['k']} · abstain below {s['abstain_threshold']:.3f}")
    return "\n".join([title, line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def format_failures(result: EvalResult, width: int = 240) -> str:
    failures = result.failures
    if not failures:
        return f"{result.name}: no failures."
    out = [f"{result.name}: failures ({len(failures)}):"]
    for r in failures:
        out.append(f"- {r.id} [{r.category}] {'; '.join(r.problems)}")
        if r.history:
            out.append(f"    history:  {' | '.join(r.history)}")
        out.append(f"    question: {r.question}")
        if r.searched_for != r.question:
            out.append(f"    searched: {r.searched_for}")
        out.append(f"    expected: {' | '.join(r.expected) if r.answerable else '(abstain)'}")
        verdict = "abstained" if r.abstained else "answered"
        out.append(f"    got:      {verdict}, confidence {r.confidence:.2f}: {_clip(r.answer, width)}")
    return "\n".join(out)


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def targets_table(result: EvalResult, targets: dict[str, float]) -> str:
    rows = []
    for key, aim in targets.items():
        op = TARGET_KEYS.get(key, ">=")
        value = result.metrics.get(key)
        met = value is not None and (value >= aim if op == ">=" else value <= aim)
        gap = "" if met or value is None else f" (by {abs(value - aim):.{0 if key == 'passage_chars' else 2}f})"
        rows.append([key, f"{op} {cell(key, aim)}", cell(key, value), "yes" if met else f"**no**{gap}"])
    return markdown_table(["metric", "target", "test split", "met"], rows)


def render_report(test: Sequence[EvalResult], tune: Sequence[EvalResult], meta: dict[str, dict[str, Any]],
                  model_manifest: dict[str, Any], threshold: float) -> str:
    parts = [
        "# Eval report",
        "",
        "Generated by `qa eval --report`; do not edit by hand. Every question is asked through the engine's own "
        "calls (`Engine.ask`), each set from its own corpus. Sets are split into tune and test by a hash of the "
        "item id; `qa train` chose every weight and threshold on the tune splits, so the **test** figures are the "
        "honest ones. A held-out set is never trained on: all of it is test. The engine abstains when its "
        f"confidence (a calibrated probability that the answer is right) is below {threshold:.3f}.",
        "",
        LEGEND,
        "",
    ]
    for result, tuned in zip(test, tune):
        info = meta.get(result.name, {})
        parts += [f"## {result.name}", "", str(info.get("description", "")), ""]
        parts += [markdown_table(["test split", *(label for label, _ in TABLE_COLUMNS)], metric_rows(result)), ""]
        if info.get("held_out"):
            why = info.get("held_out_why", "")
            parts += [f"**Held out**: never trained on, so every item is a test item. {why}".rstrip(), ""]
        else:
            parts += [markdown_table(["tune split", *(label for label, _ in TABLE_COLUMNS)],
                                     metric_rows(tuned, categories=False)), ""]
        if info.get("targets"):
            parts += ["Against the targets (issue 10):", "", targets_table(result, info["targets"]), ""]
        best = best_threshold(result.items)
        ece = expected_calibration_error(result.items)
        if best is not None:
            parts.append(f"On the test split the best single threshold would be {best.threshold:.3f} "
                         f"(overall accuracy {best.overall:.2f}, against {result.metrics['overall']:.2f} at the "
                         "threshold in force); the threshold is chosen on tune, so the two differ.")
        if ece is not None:
            parts.append(f" Expected calibration error of the confidence: {ece:.3f}.")
        parts += ["", _miss_summary(result), ""]
    parts += ["## The abstention trade-off", "",
              f"![Coverage against accuracy as the threshold moves]({CURVE_PLOT.name})", "",
              "Each curve moves the threshold over every confidence the test split produced: left, the engine "
              "answers everything; right, it declines everything. The dot marks the threshold in force.", "",
              "## Calibration", "", f"![Reliability of the confidence]({RELIABILITY_PLOT.name})", "",
              "A calibrated confidence sits on the diagonal: of the answers given at confidence 0.7, seven in ten "
              "are right (an answer to an unanswerable question is never right).", ""]
    parts += _validation_section(model_manifest)
    parts += ["## Failures on the test splits", ""]
    for result in test:
        parts += [f"### {result.name}", "", _markdown_failures(result), ""]
    return "\n".join(parts)


def _miss_summary(result: EvalResult) -> str:
    """Which kinds of question miss: the categories with the lowest figures."""
    notes = []
    for name, m in result.by_category.items():
        if m.get("has_ans") is not None and m["answerable"]:
            notes.append(f"{name} {m['has_ans']:.2f} HasAns ({int(m['answerable'])})")
        if m.get("no_ans") is not None and m["unanswerable"]:
            notes.append(f"{name} {m['no_ans']:.2f} NoAns ({int(m['unanswerable'])})")
    return "By kind of question: " + "; ".join(notes) + "." if notes else ""


def _validation_section(manifest: dict[str, Any]) -> list[str]:
    loco = manifest.get("leave_one_corpus_out") or {}
    if not loco:
        return []
    keys = ("has_ans", "no_ans", "false_abstain", "overall", "passage_chars", "off_topic_declined")
    rows = [[corpus, *(cell(k, figures.get(k)) for k in keys)] for corpus, figures in loco.items()]
    return ["## Validation on unseen articles", "",
            "`qa train` also fits the model once per corpus on the other corpora's tune questions only, and scores "
            "the corpus left out: how the engine does on an article it was never tuned on (tune splits). "
            "Off-topic declined: the share of the other corpora's tune questions asked of it that the engine "
            "declines (questions about something else; the topic gate is fitted without any asked of it or "
            "lent by it).", "",
            markdown_table(["left out", "HasAns", "NoAns", "false abst", "overall", "chars", "off-topic declined"],
                           rows), ""]


def _markdown_failures(result: EvalResult) -> str:
    if not result.failures:
        return "None."
    out = []
    for r in result.failures:
        expected = " / ".join(f"“{e}”" for e in r.expected) if r.answerable else "an abstention"
        history = f" (after: {' | '.join(r.history)})" if r.history else ""
        got = "abstained" if r.abstained else "answered"
        out.append(f"- **{r.id}** [{r.category}] {'; '.join(r.problems)}. Q: {r.question}{history} "
                   + (f"Searched for: {r.searched_for}. " if r.searched_for != r.question else "")
                   + f"Expected {expected}. Got ({got}, confidence {r.confidence:.2f}): {_clip(r.answer, 200)}")
    return "\n".join(out)


def plot_curves(results: Sequence[EvalResult], path: Path = CURVE_PLOT) -> Path:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    for result in results:
        points = abstention_curve(result.items)
        line = left.plot([p.coverage for p in points], [p.answered_accuracy or 0 for p in points], label=result.name)[0]
        right.plot([p.threshold for p in points if p.threshold <= 1], [p.overall for p in points if p.threshold <= 1],
                   color=line.get_color(), label=result.name)
        now = result.settings["abstain_threshold"]
        right.scatter([now], [result.metrics["overall"]], color=line.get_color(), zorder=3)
    left.set(xlabel="coverage (share of questions answered)", ylabel="accuracy of the answers given",
             title="Coverage against accuracy", xlim=(0, 1.02), ylim=(0, 1.02))
    right.set(xlabel="abstention threshold", ylabel="overall accuracy", title="Overall accuracy by threshold",
              xlim=(0, 1), ylim=(0, 1.02))
    right.legend(fontsize=8, loc="lower right")
    return _save(fig, plt, path)


def plot_reliability(results: Sequence[EvalResult], path: Path = RELIABILITY_PLOT) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4.2), dpi=110)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="calibrated")
    pooled = [item for result in results for item in result.items]
    for name, items in [*((r.name, r.items) for r in results), ("all sets", pooled)]:
        rows = reliability(items)
        ax.plot([r[1] for r in rows], [r[2] for r in rows], marker="o", markersize=3,
                linewidth=2.2 if name == "all sets" else 1, label=name)
    ax.set(xlabel="confidence", ylabel="share of answers that are right", title="Reliability (test splits)",
           xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8, loc="upper left")
    return _save(fig, plt, path)


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, plt, path: Path) -> Path:  # type: ignore[no-untyped-def]
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path
