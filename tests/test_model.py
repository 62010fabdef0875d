"""The answer model's own machinery on small inputs: the logistic fit against scikit-learn as an
oracle, the JSON round trip, and every way a model file can be unusable. Plus, in one slower
test, `qa train` reproducing the committed weights from a fresh index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.cli import main
from qa.features import ANSWERABILITY, FEATURES, TOPIC, answerability_row
from qa.model import PACKAGED_MODEL, AnswerModel, AnswerModelError, Linear, fit_logistic, load_model


def test_newton_fit_matches_scikit_learn_on_the_same_penalty() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 5))
    y = (x @ np.array([1.5, -2.0, 0.0, 0.5, 1.0]) + 0.3 + rng.standard_normal(400) > 0).astype(float)
    weights = rng.uniform(0.5, 2.0, 400)
    coef, intercept = fit_logistic(x, y, weights, l2=2.0)
    # scikit-learn minimises C * weighted log-loss + 0.5 * |w|^2, with the intercept unpenalised.
    oracle = LogisticRegression(C=1 / 2.0, tol=1e-10, max_iter=10_000).fit(x, y, sample_weight=weights)
    assert np.allclose(coef, oracle.coef_[0], atol=1e-4)
    assert intercept == pytest.approx(oracle.intercept_[0], abs=1e-4)


def test_a_constant_column_does_not_break_the_fit() -> None:
    x = np.hstack([np.linspace(-1, 1, 50)[:, None], np.ones((50, 1))])
    y = (x[:, 0] > 0).astype(float)
    model = Linear.fit(("a", "b"), x, y, None, l2=1.0)
    assert np.isfinite(model.coef).all() and model.scale[1] == 1.0
    assert model.probabilities(np.array([[0.9, 1.0]]))[0] > 0.5 > model.probabilities(np.array([[-0.9, 1.0]]))[0]


def test_a_missing_value_is_read_as_the_tune_mean_and_does_not_break_the_fit() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 2))
    y = (x[:, 0] > 0).astype(float)
    x[::10, 1] = np.nan  # the second feature is missing in a tenth of the rows
    model = Linear.fit(("a", "b"), x, y, None, l2=1.0)
    assert np.isfinite(model.coef).all() and np.isfinite(model.mean).all()
    assert model.mean[1] == pytest.approx(np.nanmean(x[:, 1]))
    missing, at_mean = model.logits(np.array([[0.5, np.nan], [0.5, model.mean[1]]]))
    assert missing == pytest.approx(at_mean)


def test_a_lone_candidate_is_no_sign_of_a_clear_winner() -> None:
    """With no rival, the margin is missing (NaN), not a made-up large one that the model would
    read as a sure winner: the shipped model's confidence in a weak lone candidate stays low."""
    model = load_model(None, FEATURES, ANSWERABILITY, TOPIC)
    features = np.zeros((2, len(FEATURES)))
    weak = np.array([-2.5, -6.0])
    lone = answerability_row(features, weak, best=0, allowed=[0])
    margin = ANSWERABILITY.index("margin")
    assert np.isnan(lone[margin]) and np.isnan(lone[ANSWERABILITY.index("best_logit*margin")])
    beside_rival = answerability_row(features, weak, best=0, allowed=[0, 1])
    assert beside_rival[margin] == pytest.approx(3.5)
    assert model.confidence(lone) < model.confidence(beside_rival)


def test_the_shipped_model_loads_and_round_trips(tmp_path: Path) -> None:
    model = load_model(None, FEATURES, ANSWERABILITY, TOPIC)
    assert 0.0 < model.abstain_threshold < 1.0 and 0.0 < model.extra_threshold <= 1.0
    copy = load_model(model.save(tmp_path / "m.json"), FEATURES, ANSWERABILITY, TOPIC)
    rows = np.random.default_rng(1).standard_normal((7, len(ANSWERABILITY)))
    assert np.allclose([copy.confidence(r) for r in rows], [model.confidence(r) for r in rows], atol=1e-9)
    assert copy.vetoes == model.vetoes
    assert model.topic is not None and 0.0 < model.topic_threshold < 1.0
    gate_rows = np.random.default_rng(2).standard_normal((7, len(TOPIC)))
    assert np.allclose([copy.on_topic(r) for r in gate_rows], [model.on_topic(r) for r in gate_rows], atol=1e-9)
    assert copy.topic_threshold == model.topic_threshold


def test_the_topic_gate_reads_closeness_to_the_article_as_on_topic() -> None:
    """More closeness in meaning or words never makes a question less about the article, and
    more words the article never uses never make it more so."""
    model = load_model(None, FEATURES, ANSWERABILITY, TOPIC)
    assert model.topic is not None
    signs = dict(zip(TOPIC, np.sign(model.topic.coef)))
    assert signs == {"best_cos": 1, "best_context_cos": 1, "best_overlap_context": 1, "unknown_share": -1}


@pytest.mark.parametrize(("change", "needle"), [
    (lambda d: d.update(format=99), "format"),
    (lambda d: d["sentence"].update(features=["cos"]), "other features"),
    (lambda d: d["answerability"].update(coef=[1.0]), "wrong length"),
    (lambda d: d.pop("abstain_threshold"), "malformed"),
    (lambda d: d["topic"].update(features=["best_cos"]), "other features"),
    (lambda d: d.pop("topic_threshold"), "malformed"),
])
def test_an_unusable_model_file_is_refused_with_what_to_do(tmp_path: Path, change, needle: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(PACKAGED_MODEL.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(AnswerModelError, match=needle) as err:
        load_model(path, FEATURES, ANSWERABILITY, TOPIC)
    assert "qa train" in str(err.value)


def test_a_missing_or_garbled_model_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AnswerModelError, match="No answer model"):
        load_model(tmp_path / "none.json", FEATURES, ANSWERABILITY, TOPIC)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(AnswerModelError, match="Cannot read"):
        load_model(tmp_path / "bad.json", FEATURES, ANSWERABILITY, TOPIC)


@pytest.mark.slow
def test_qa_train_reproduces_the_committed_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a fresh index (a fresh clone), training writes the same model that is committed."""
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    out = tmp_path / "model.json"
    assert main(["train", "--out", str(out)]) == 0
    fresh, committed = (json.loads(p.read_text(encoding="utf-8")) for p in (out, PACKAGED_MODEL))
    for part in ("sentence", "answerability", "topic"):
        assert fresh[part]["features"] == committed[part]["features"]
        for key in ("coef", "mean", "scale"):
            assert np.allclose(fresh[part][key], committed[part][key], atol=1e-3), (part, key)
    for key in ("abstain_threshold", "extra_threshold", "topic_threshold"):
        assert fresh[key] == pytest.approx(committed[key], abs=2e-3)
    for key in ("decline_unknown_names", "decline_kind_absent"):
        assert fresh[key] == committed[key], key
    assert AnswerModel.from_json(fresh, FEATURES, ANSWERABILITY, TOPIC, "fresh").manifest["trained_on"].keys() == \
        committed["manifest"]["trained_on"].keys()


@pytest.mark.slow
def test_training_on_one_set_writes_a_model_without_validation_or_topic_gate(tmp_path: Path) -> None:
    """One corpus leaves nothing to leave out, nor another article's questions to lend: the
    model is still written, and it says why those two parts are missing."""
    from qa.evalsets import load_eval_set
    from qa.settings import PROJECT_ROOT, Settings
    from qa.train import train

    said: list[str] = []
    model = train([load_eval_set(PROJECT_ROOT / "eval" / "sets" / "battery.jsonl")],
                  Settings(index_dir=tmp_path / "index"), said.append)
    assert model.topic is None and model.manifest["leave_one_corpus_out"] == {}
    assert any(line.startswith("not validating") for line in said)
    copy = load_model(model.save(tmp_path / "one.json"), FEATURES, ANSWERABILITY, TOPIC)
    assert copy.topic is None and not copy.off_topic(np.zeros(len(TOPIC)))


def test_qa_train_refuses_a_folder_as_its_output_before_training(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--out", str(tmp_path)]) != 0
    err = capsys.readouterr().err
    assert "is a folder" in err and "--out" in err and "fitting" not in err


def test_qa_train_on_a_set_with_nothing_answerable_says_what_to_add(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps({"id": f"u-{n}", "question": f"What is thing {n}?", "answerable": False}) + "\n"
                            for n in range(12)), encoding="utf-8")
    (tmp_path / "mine.json").write_text(json.dumps({"corpus": str(PACKAGED_MODEL.parents[1] / "corpus")}),
                                        encoding="utf-8")
    out = tmp_path / "model.json"
    assert main(["train", "--set", str(path), "--out", str(out)]) != 0
    assert "Add answerable questions" in capsys.readouterr().err
    assert not out.exists()
