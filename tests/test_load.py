"""Small runs of eval/load.py against the real app: concurrent clients, mixed answerable,
unanswerable and hostile questions, zero errors, through the JSON API and through Gradio's
endpoint. Figures are printed, never asserted as timings (the full run's figures are in the README)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest

from qa.engine import Engine
from qa.settings import Settings

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("endpoint", ["api", "gradio"])
def test_concurrent_clients_get_no_errors(engine: Engine, settings: Settings, tmp_path: Path,
                                          load_tool: ModuleType, endpoint: str) -> None:
    env = {"QA_INDEX_DIR": str(settings.index_dir), "QA_FEEDBACK_PATH": str(tmp_path / "feedback.jsonl")}
    report = load_tool.run(clients=4, questions=40, single=5, time_limit=300, env=env, warmup=4, endpoint=endpoint)
    print("\n".join(report.lines()))
    load = report.load
    assert report.endpoint == endpoint and load["requests"] == 40
    assert load["error"] == 0 and report.single["error"] == 0, load["errors_sample"]
    assert load["answer"] > 0 and load["abstain"] > 0, "the mix holds answerable and unanswerable questions"
    assert load["refused"] > 0, "hostile questions are refused with a message"
    assert load["answer"] + load["abstain"] + load["refused"] == 40
    assert report.ok
    assert len(report.rss_quarters_mb) == 4 and report.rss_after_mb > 0
    assert report.batching["questions"] >= 40, "every question went through the server's batcher"


def test_three_way_comparison_writes_the_figures_and_checks_the_targets(
        settings: Settings, tmp_path: Path, load_tool: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """`eval/load.py --compare --json OUT`, as the README runs it, in small."""
    monkeypatch.setenv("QA_INDEX_DIR", str(settings.index_dir))
    monkeypatch.setenv("QA_FEEDBACK_PATH", str(tmp_path / "feedback.jsonl"))
    out = tmp_path / "load.json"
    code = load_tool.main(["--compare", "--clients", "4", "--questions", "24", "--single", "3", "--json", str(out)])
    figures = json.loads(out.read_text(encoding="utf-8"))
    runs = figures["runs"]
    assert code == 0, [r["load"]["errors_sample"] for r in runs]
    assert [(r["endpoint"], r["batching"]["max_size"]) for r in runs] == [("gradio", 1), ("api", 1),
                                                                           ("api", Settings().batch_max_size)]
    for run in runs:
        assert run["throughput_rps"] > 0 and run["p50_ms"] > 0 and run["p95_ms"] >= run["load"]["p50_ms"]
        assert run["load"]["error"] == 0 and run["single"]["error"] == 0
    names = [t["target"] for t in figures["targets"]]
    assert len(names) == 5 and all(isinstance(t["met"], bool) for t in figures["targets"])
    errors = next(t for t in figures["targets"] if t["target"].startswith("errors"))
    assert errors["value"] == 0 and errors["met"]


def test_question_mix_holds_every_kind_and_is_reproducible(load_tool: ModuleType) -> None:
    mix = load_tool.question_mix(200, seed=3)
    kinds = {item.kind for item in mix}
    assert kinds == {"answerable", "unanswerable", "hostile"}
    assert [i.question for i in mix] == [i.question for i in load_tool.question_mix(200, seed=3)]
    assert any(item.history for item in mix), "some questions carry a history"


def test_grounding_check_catches_a_quote_that_is_not_at_its_offsets(engine: Engine, load_tool: ModuleType) -> None:
    answer = engine.ask("What share of lithium-ion battery production does China have?").to_dict()
    assert load_tool.check_answer(answer) == ""
    moved = dict(answer, citations=[dict(answer["citations"][0], start=answer["citations"][0]["start"] + 1)])
    assert "does not match" in load_tool.check_answer(moved)
