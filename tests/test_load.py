"""A small run of eval/load.py against the real app: concurrent clients, mixed answerable,
unanswerable and hostile questions, zero errors. Figures are printed, never asserted as
timings (the full run's figures are in the README)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from qa.engine import Engine
from qa.settings import Settings

pytestmark = pytest.mark.slow


def test_concurrent_clients_get_no_errors(engine: Engine, settings: Settings, tmp_path: Path,
                                          load_tool: ModuleType) -> None:
    env = {"QA_INDEX_DIR": str(settings.index_dir), "QA_FEEDBACK_PATH": str(tmp_path / "feedback.jsonl")}
    report = load_tool.run(clients=4, questions=40, single=5, time_limit=300, env=env, warmup=4)
    print("\n".join(report.lines()))
    load = report.load
    assert load["requests"] == 40
    assert load["error"] == 0 and report.single["error"] == 0, load["errors_sample"]
    assert load["answer"] > 0 and load["abstain"] > 0, "the mix holds answerable and unanswerable questions"
    assert load["answer"] + load["abstain"] + load["refused"] == 40
    assert report.ok
    assert len(report.rss_quarters_mb) == 4 and report.rss_after_mb > 0


def test_question_mix_holds_every_kind_and_is_reproducible(load_tool: ModuleType) -> None:
    mix = load_tool.question_mix(200, seed=3)
    kinds = {item.kind for item in mix}
    assert kinds == {"answerable", "unanswerable", "hostile"}
    assert [i.question for i in mix] == [i.question for i in load_tool.question_mix(200, seed=3)]
    assert any(item.history for item in mix), "some questions carry a history"
