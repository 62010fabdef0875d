"""The regression gate: the eval set through the harness, on the real engine, against the
floors in eval/thresholds.json (the one place they are written). A failing gate names the
metric and lists the failing questions, so the fix starts from the message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.cli import main
from qa.engine import Engine
from qa.evaluate import (DEFAULT_SET, METRIC_NAMES, THRESHOLDS_PATH, EvalResult, format_failures, load_eval_set,
                         run_eval, write_report)


@pytest.fixture(scope="module")
def result(engine: Engine) -> EvalResult:
    return run_eval(engine, load_eval_set(DEFAULT_SET))


def gate() -> dict:
    return json.loads(THRESHOLDS_PATH.read_text(encoding="utf-8"))


def test_metrics_meet_their_floors(result: EvalResult) -> None:
    limits = gate()
    broken = [f"{name} = {result.metrics[name]} is below its floor {floor}"
              for name, floor in limits["floors"].items() if (result.metrics[name] or 0.0) < floor]
    broken += [f"{name} = {result.metrics[name]} is above its ceiling {ceiling}"
               for name, ceiling in limits["ceilings"].items() if (result.metrics[name] or 0.0) > ceiling]
    assert not broken, "\n".join([*broken, "", format_failures(result)])


def test_gate_covers_the_issue_metrics() -> None:
    limits = gate()
    assert set(limits["floors"]) >= {"hit_at_3", "answer_accuracy", "abstain_recall", "citation_support", "mrr"}
    assert set(limits["ceilings"]) == {"false_abstain_rate"}
    assert all(0.0 <= v <= 1.0 for v in [*limits["floors"].values(), *limits["ceilings"].values()])


def test_result_json_holds_metrics_items_failures_and_settings(result: EvalResult, engine: Engine) -> None:
    data = json.loads(json.dumps(result.to_dict()))
    assert set(METRIC_NAMES) <= set(data["metrics"])
    assert set(data["by_category"]) == {"faq", "paraphrase", "fact", "followup", "unanswerable"}
    assert len(data["items"]) == 62
    assert {"confidence", "abstained", "searched_for", "support_rank", "latency_ms"} <= set(data["items"][0])
    assert [f["id"] for f in data["failures"]] == [i["id"] for i in data["items"] if i["problems"]]
    assert data["settings"] == {"k": engine.settings.top_k, "retriever": "hybrid", "resolve_follow_ups": True,
                                "abstain_threshold": engine.settings.abstain_threshold}


def test_every_faq_question_is_retrieved_first(result: EvalResult) -> None:
    faq = [r for r in result.items if r.category == "faq"]
    assert [r.support_rank for r in faq] == [1] * 5, format_failures(result)


def test_report_has_ablation_plot_and_threshold_reasoning(engine: Engine, tmp_path: Path) -> None:
    items = [i for i in load_eval_set(DEFAULT_SET) if i["id"] in {"faq-1", "follow-5", "unans-1"}]
    main_run = run_eval(engine, items)
    report, plot = write_report(engine, items, main_run, report_path=tmp_path / "report.md",
                                plot_path=tmp_path / "confidence.png")
    text = report.read_text(encoding="utf-8")
    for row in ("| dense |", "| bm25 |", "| hybrid |", "| hybrid, no follow-up resolution |"):
        assert row in text
    assert "![Answer confidence" in text and "(confidence.png)" in text
    assert f"below {engine.settings.abstain_threshold:.2f}" in text
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_eval_prints_the_table_and_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   shared_index_dir: Path, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", str(shared_index_dir))  # the index the session already built
    small = tmp_path / "small.jsonl"
    lines = [line for line in DEFAULT_SET.read_text(encoding="utf-8").splitlines() if '"id": "fact-1"' in line
             or '"id": "unans-2"' in line]
    small.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.json"
    assert main(["eval", "--set", str(small), "--k", "3", "--retriever", "bm25", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "retriever bm25 · k 3" in printed and "unanswerable" in printed and "hit@1" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["metrics"]["abstain_recall"] == 1.0 and len(data["items"]) == 2


def test_cli_eval_with_a_bad_set_says_which_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "q?", "answerable": false}\n{oops\n', encoding="utf-8")
    assert main(["eval", "--set", str(bad)]) == 1
    assert f"{bad}, line 2: not valid JSON" in capsys.readouterr().err
    assert main(["eval", "--set", str(tmp_path / "missing.jsonl")]) == 1
    assert "No eval set at" in capsys.readouterr().err
