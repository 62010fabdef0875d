"""The regression gate: the test split of every shipped eval set, through the harness and the
real engine, against the floors in eval/thresholds.json (the one place they are written). A
failing gate names the set and the metric and lists the failing questions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.cli import main
from qa.engine import Engine
from qa.evalsets import EvalSet, load_sets
from qa.errors import OutputError
from qa.evaluate import METRIC_NAMES, EvalResult, abstention_curve, reliability, run_eval
from qa.outputs import write_text
from qa.report import format_failures
from qa.settings import PROJECT_ROOT, Settings

THRESHOLDS = PROJECT_ROOT / "eval" / "thresholds.json"
SETS = load_sets()


def gate() -> dict:
    return json.loads(THRESHOLDS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def results(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, EvalResult]:
    """Each set's test split answered from its own corpus (the battery set from the session engine)."""
    base = Settings(index_dir=tmp_path_factory.mktemp("eval-index"))
    out = {}
    for eval_set in SETS:
        settings = eval_set.settings_for(base)
        runner = engine if settings.corpus_dir == engine.settings.corpus_dir else Engine.load(
            settings, embedder=engine.embedder)
        out[eval_set.name] = run_eval(runner, eval_set.split("test"), name=eval_set.name, split="test")
    return out


@pytest.mark.parametrize("eval_set", SETS, ids=lambda s: s.name)
def test_test_split_metrics_meet_their_floors(results: dict[str, EvalResult], eval_set: EvalSet) -> None:
    result = results[eval_set.name]
    limits = gate()["sets"][eval_set.name]
    broken = []
    for name, floor in limits["floors"].items():
        value = result.metrics[name]
        if value is None or value < floor:
            broken.append(f"{eval_set.name}: {name} = {value} is below its floor {floor}")
    for name, ceiling in limits["ceilings"].items():
        value = result.metrics[name]
        if value is None or value > ceiling:
            broken.append(f"{eval_set.name}: {name} = {value} is above its ceiling {ceiling}")
    assert not broken, "\n".join([*broken, "", format_failures(result)])


def test_every_shipped_set_is_gated_on_the_issue_metrics() -> None:
    limits = gate()["sets"]
    assert set(limits) == {s.name for s in SETS}
    for name, limit in limits.items():
        assert {"has_ans", "no_ans", "overall"} <= set(limit["floors"]), name
        assert {"false_abstain", "passage_chars"} <= set(limit["ceilings"]), name


def test_result_holds_metrics_items_and_settings(results: dict[str, EvalResult], engine: Engine) -> None:
    result = results["battery"]
    data = json.loads(json.dumps(result.to_dict()))
    assert set(METRIC_NAMES) <= set(data["metrics"])
    assert len(data["items"]) == len(next(s for s in SETS if s.name == "battery").split("test"))
    assert {"confidence", "abstained", "searched_for", "support_rank", "would_be_correct", "passage_chars",
            "split"} <= set(data["items"][0])
    assert {i["split"] for i in data["items"]} == {"test"}
    assert data["settings"]["abstain_threshold"] == engine.abstain_threshold


def test_curve_runs_from_answering_everything_to_declining_everything(results: dict[str, EvalResult]) -> None:
    for result in results.values():
        points = abstention_curve(result.items)
        assert points[0].coverage == 1.0 and points[-1].coverage == 0.0
        coverages = [p.coverage for p in points]
        assert coverages == sorted(coverages, reverse=True)
        unanswerable = sum(1 for r in result.items if not r.answerable) / len(result.items)
        assert points[-1].overall == pytest.approx(unanswerable)


def test_reliability_bins_hold_every_item(results: dict[str, EvalResult]) -> None:
    for result in results.values():
        rows = reliability(result.items)
        assert sum(n for *_rest, n in rows) == len(result.items)
        assert all(low <= conf < low + 0.1 + 1e-9 for low, conf, _right, _n in rows)


def test_cli_eval_prints_a_table_per_set_and_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         shared_index_dir: Path, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", str(shared_index_dir))
    small = tmp_path / "small.jsonl"
    small.write_text("\n".join(json.dumps(item) for item in [
        {"id": "s-1", "question": "What share of lithium-ion battery production does China have?", "answerable": True,
         "expect_any": ["over 70%"], "support": ["over 70%"]},
        {"id": "s-2", "question": "How do I bake sourdough bread?", "answerable": False}]) + "\n", encoding="utf-8")
    out = tmp_path / "out.json"
    assert main(["eval", "--set", str(small), "--k", "3", "--retriever", "bm25", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "small (all split): 2 questions · retriever bm25 · k 3" in printed and "HasAns" in printed
    [data] = json.loads(out.read_text(encoding="utf-8"))
    assert data["metrics"]["n"] == 2 and len(data["items"]) == 2


def test_cli_eval_refuses_a_folder_for_its_json_before_answering_and_keeps_an_old_file_whole(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", "--json", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "is a folder. Give --json a file" in err
    old = tmp_path / "old.json"
    old.write_text("[]\n", encoding="utf-8")
    (tmp_path / ".old.json.partial").mkdir()  # where the new text would go first: the write fails
    with pytest.raises(OutputError, match="Pick another path with --json"):
        write_text(old, "[1]\n", "--json")
    assert old.read_text(encoding="utf-8") == "[]\n"
    assert write_text(tmp_path / "new.json", "[2]\n", "--json").read_text(encoding="utf-8") == "[2]\n"


def test_cli_eval_answers_a_set_from_the_article_beside_it_and_refuses_it_without(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_index_dir: Path, capsys: pytest.CaptureFixture) -> None:
    """The layout a held-out article comes in (NAME.md beside NAME.jsonl, no sidecar): answered
    from that article, not from the bundled one, where it would score 0 without saying why."""
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    (tmp_path / "ferry.md").write_text(
        "# The island ferry\n\nThe ferry to Holm leaves the harbour at seven every morning. "
        "A single ticket costs four euros. The crossing takes forty minutes in calm weather.\n\n"
        "In winter the ferry runs twice a day. Bicycles travel free.\n", encoding="utf-8")
    ferry = tmp_path / "ferry.jsonl"
    ferry.write_text("\n".join(json.dumps(item) for item in [
        {"id": "f-1", "question": "How much is a single ticket?", "answerable": True,
         "expect_any": ["four euros"], "support": ["four euros"]},
        {"id": "f-2", "question": "How long is the crossing?", "answerable": True,
         "expect_any": ["forty minutes"], "support": ["forty minutes"]}]) + "\n", encoding="utf-8")
    out = tmp_path / "out.json"
    assert main(["eval", "--set", str(ferry), "--json", str(out)]) == 0
    [data] = json.loads(out.read_text(encoding="utf-8"))
    assert [item["correct"] for item in data["items"]] == [True, True]
    capsys.readouterr()
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    (alone / "ferry.jsonl").write_text(ferry.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("QA_INDEX_DIR", str(shared_index_dir))
    assert main(["eval", "--set", str(alone / "ferry.jsonl")]) == 1
    assert "2 of the 2 answerable questions of ferry.jsonl expect an answer the corpus" in capsys.readouterr().err


def test_cli_eval_with_a_bad_set_says_which_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "q?", "answerable": false}\n{oops\n', encoding="utf-8")
    assert main(["eval", "--set", str(bad)]) == 1
    assert f"{bad}, line 2: not valid JSON" in capsys.readouterr().err
    assert main(["eval", "--set", str(tmp_path / "missing.jsonl")]) == 1
    assert "No eval set at" in capsys.readouterr().err


def test_the_report_shows_a_held_out_set_without_a_tune_table(results: dict[str, EvalResult],
                                                              engine: Engine) -> None:
    from qa.report import render_report

    held = [s for s in SETS if s.held_out]
    trained = [s for s in SETS if not s.held_out][:1]
    chosen = [*trained, *held]
    tunes = [run_eval(engine, [], name=s.name, split="tune") if s.held_out else results[s.name] for s in chosen]
    text = render_report([results[s.name] for s in chosen], tunes, {s.name: s.meta for s in SETS},
                         engine.model.manifest, engine.abstain_threshold)
    for eval_set in held:
        section = text.split(f"## {eval_set.name}\n", 1)[1].split("\n## ", 1)[0]
        assert "**Held out**" in section and "| tune split |" not in section
        assert f"| all | {len(eval_set.items)} |" in section
    first = text.split(f"## {trained[0].name}\n", 1)[1].split("\n## ", 1)[0]
    assert "| tune split |" in first and "**Held out**" not in first


# ---------------------------------------------------------------- the committed report and model stay whole

REPORT_FILES = [PROJECT_ROOT / "eval" / name for name in ("report.md", "abstention.png", "reliability.png")]
MODEL = PROJECT_ROOT / "qa" / "answer_model.json"


def contents(paths: list[Path]) -> list[bytes]:
    return [path.read_bytes() for path in paths]


def town_set(folder: Path, name: str, ids: list[str]) -> Path:
    """A small set about the test article (tests/data/eldermere), its items under the given ids."""
    questions = [("When was Eldermere founded?", "911"), ("When was the stone bridge completed?", "1041"),
                 ("What is the town's oldest industry?", "Wool")]
    items = [{"id": item_id, "question": q, "answerable": True, "expect_any": [a], "support": [a]}
             for item_id, (q, a) in zip(ids, questions * 3)]
    path = folder / f"{name}.jsonl"
    path.write_text("\n".join(json.dumps(item) for item in items) + "\n", encoding="utf-8")
    (folder / f"{name}.json").write_text(json.dumps({"corpus": str(PROJECT_ROOT / "tests" / "data" / "eldermere")}),
                                         encoding="utf-8")
    return path


@pytest.mark.parametrize(("args", "env", "names"), [
    (["--set", "SET"], {}, "--set mine.jsonl"),
    (["--k", "6"], {}, "--k 6"),
    (["--retriever", "bm25"], {}, "--retriever bm25"),
    (["--backend", "milvus"], {}, "--backend milvus"),
    ([], {"QA_ANSWER_MODEL_PATH": "other_model.json"}, "QA_ANSWER_MODEL_PATH"),
    ([], {"QA_ABSTAIN_THRESHOLD": "0.5", "QA_TOP_K": "6"}, "QA_TOP_K, QA_ABSTAIN_THRESHOLD"),
], ids=["set", "k", "retriever", "backend", "answer-model", "env"])
def test_eval_report_is_refused_on_other_sets_or_settings_and_the_committed_report_stays(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, args: list[str],
        env: dict[str, str], names: str) -> None:
    """eval/report.md is the shipped sets at the shipped settings (the README quotes it): any other
    run is refused in one line, before anything is answered, and the files are left as they were."""
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    mine = town_set(tmp_path, "mine", ["m-1", "m-2"])
    before = contents(REPORT_FILES)
    assert main(["eval", "--report", *(str(mine) if a == "SET" else a for a in args)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("qa: --report rewrites eval/report.md"), err
    assert f"not with {names}:" in err and "--json OUT" in err
    assert contents(REPORT_FILES) == before
    assert not (tmp_path / "index").exists()  # refused before any index was built


def test_eval_report_takes_the_shipped_sets_and_settings_however_spelled(tmp_path: Path) -> None:
    from qa.cli import build_parser, report_refusal
    from qa.evalsets import shipped_sets

    base = Settings(index_dir=tmp_path, corpus_dir=tmp_path, torch_threads=1)  # where and how fast: no matter
    for argv in (["eval", "--report"], ["eval", "--report", "--k", "4", "--retriever", "hybrid", "--backend", "faiss"],
                 ["eval", "--report", *(a for p in shipped_sets() for a in ("--set", str(p)))]):
        assert report_refusal(build_parser().parse_args(argv), base) is None, argv


@pytest.mark.parametrize(("given", "env", "says"), [
    (True, {}, "training on mine.jsonl would"),
    (False, {"QA_TOP_K": "6"}, "training with QA_TOP_K set would"),
], ids=["set", "settings"])
def test_train_without_out_never_replaces_the_shipped_model_but_on_the_shipped_sets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, given: bool,
        env: dict[str, str], says: str) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = MODEL.read_bytes()
    mine = town_set(tmp_path, "mine", ["e-2", "e-3", "e-7"])
    assert main(["train", *(["--set", str(mine)] if given else [])]) == 2
    err = capsys.readouterr().err
    assert err == (f"qa: {says} replace the shipped model ({MODEL}); give --out my_model.json and use it with "
                   "QA_ANSWER_MODEL_PATH\n")
    assert MODEL.read_bytes() == before
    assert not (tmp_path / "index").exists()


def test_train_on_a_set_with_no_tune_item_says_its_items_all_fell_in_the_test_split(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """e-0, e-1 and e-4 all hash to the test split: the message says so, not that the questions are bad."""
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    beside = town_set(tmp_path, "beside", ["e-0", "e-1", "e-4"])
    assert [item["id"] for item in load_sets([beside])[0].split("tune")] == []
    out = tmp_path / "model.json"
    assert main(["train", "--set", str(beside), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "every item of beside (3 items) fell in the test split" in err and "about half each" in err
    assert "Add items to the set" in err and "Add answerable questions" not in err
    assert not out.exists()


def test_train_says_which_set_it_cannot_learn_from_and_trains_on_the_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    beside = town_set(tmp_path, "beside", ["e-0", "e-1", "e-4"])
    tuned = town_set(tmp_path, "tuned", ["e-2", "e-3", "e-7"])
    before = MODEL.read_bytes()
    out = tmp_path / "model.json"
    assert main(["train", "--set", str(beside), "--set", str(tuned), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "not learning from beside: every item of beside (3 items) fell in the test split" in err
    assert json.loads(out.read_text(encoding="utf-8"))["manifest"]["trained_on"]["tuned"]["tune_questions"] == 3
    assert MODEL.read_bytes() == before


def test_set_eval_gate_prints_its_usage_for_help_and_one_line_for_a_missing_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = str(PROJECT_ROOT / "scripts" / "set_eval_gate.py")
    before = THRESHOLDS.read_bytes()
    shown = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and shown.stdout.startswith("usage: set_eval_gate.py") and not shown.stderr
    assert "qa eval --json" in shown.stdout
    missing = subprocess.run([sys.executable, script, str(tmp_path / "none.json")], capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.count("\n") == 1 and "cannot read" in missing.stderr
    assert THRESHOLDS.read_bytes() == before


@pytest.mark.parametrize(("backends", "says"), [("faiss,faiss", "faiss named twice in 'faiss,faiss'"),
                                                ("faiss,elastic", "give one or more of faiss, milvus")])
def test_eval_backend_list_says_what_is_wrong_with_it(capsys: pytest.CaptureFixture, backends: str, says: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["eval", "--backend", backends])
    assert stopped.value.code == 2
    assert f"qa eval: error: argument --backend: {says}" in capsys.readouterr().err
