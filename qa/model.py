"""The answer model: P(this sentence answers this question) from the features of
qa/features.py, and P(the answer is right) from the best candidate's features.

Logistic regression, for three reasons: the labelled data is a few hundred questions, where a
linear model with a couple of dozen features generalises better across articles than trees
(leave-one-corpus-out validation in the model's manifest); fitted on the final label, its
output is a calibrated probability; and its weights are a short JSON file a reader can
inspect, written and read with no pickle. It is fitted here with Newton's method in numpy: deterministic, so `qa train`
reproduces the committed weights on any machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from qa.errors import QAError
from qa.outputs import write_text

PACKAGED_MODEL = Path(__file__).resolve().parent / "answer_model.json"
FORMAT = 3


class AnswerModelError(QAError):
    """The answer model file is missing, unreadable, or made for other features."""


@dataclass(frozen=True)
class Linear:
    """A logistic regression over named, standardised features."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logits(self, matrix: np.ndarray) -> np.ndarray:
        """Log-odds per row; a missing value (NaN) counts as the feature's tune mean, adding nothing."""
        if len(matrix) == 0:
            return np.zeros(0)
        return standardised(matrix, self.mean, self.scale) @ self.coef + self.intercept

    def probabilities(self, matrix: np.ndarray) -> np.ndarray:
        return _sigmoid(self.logits(matrix))

    @classmethod
    def fit(cls, features: tuple[str, ...], x: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
            l2: float) -> "Linear":
        mean, scale = standardise(x)
        coef, intercept = fit_logistic(standardised(x, mean, scale), y, weights, l2=l2)
        return cls(features, mean, scale, coef, intercept)

    @classmethod
    def blank(cls, features: tuple[str, ...]) -> "Linear":
        zeros = np.zeros(len(features))
        return cls(features, zeros, np.ones(len(features)), zeros, 0.0)

    def to_json(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": _rounded(self.mean), "scale": _rounded(self.scale),
                "coef": _rounded(self.coef), "intercept": round(float(self.intercept), 6)}

    @classmethod
    def from_json(cls, data: dict[str, Any], expected: tuple[str, ...], where: str) -> "Linear":
        features = tuple(data["features"])
        if features != expected:
            raise AnswerModelError(f"{where} was trained on other features than this version computes. "
                                   "Retrain it with: qa train")
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(features),) for a in arrays):
            raise AnswerModelError(f"{where} has weights of the wrong length. Retrain it with: qa train")
        return cls(features, arrays[0], arrays[1], arrays[2], float(data["intercept"]))


@dataclass(frozen=True)
class Vetoes:
    """The kinds of question declined outright, whatever the confidence. `qa train` turns each on
    only when such questions were mostly unanswerable on the tune splits (their shares are in
    the model's manifest): the evidence is strong but too rare for the regression to weigh it as
    much as it deserves. The model file holds each as "decline_<name>"."""

    # A question naming something the corpus never mentions, nor anything close in meaning.
    unknown_names: bool = False
    # A "when" or "how many" question whose best sentence holds no date or figure at all
    # ("How many gigafactories does Europe have?" answered with "... establishing gigafactories").
    kind_absent: bool = False

    def apply(self, *, unknown_names: bool, kind_absent: bool) -> bool:
        """Whether a question with these signs is declined outright."""
        return (self.unknown_names and unknown_names) or (self.kind_absent and kind_absent)


@dataclass(frozen=True)
class AnswerModel:
    """Logistic regressions: which sentence answers (trained on answerable questions), whether
    the best one makes a right answer (trained on all questions, so its output is the
    probability that the answer is right, unanswerable questions included), and whether the
    question is about the article at all (the topic gate)."""

    sentence: Linear
    answerability: Linear
    # Abstain below this confidence (chosen on the tune splits for a target false-abstention rate).
    abstain_threshold: float
    # Sentences beyond the best join the answer while those chosen hold less than this share of
    # the sentence model's probability over the candidates (see qa.answer.choose).
    extra_threshold: float
    vetoes: Vetoes = field(default_factory=Vetoes)
    # P(the question is about the article at all), from qa.features.topic_row; None: no gate.
    # A question under `topic_threshold` is declined outright, as a veto is.
    topic: Linear | None = None
    topic_threshold: float = 0.0
    manifest: dict[str, Any] = field(default_factory=dict)

    def sentence_logits(self, matrix: np.ndarray) -> np.ndarray:
        return self.sentence.logits(matrix)

    def confidence(self, row: np.ndarray) -> float:
        """The probability that the answer led by the candidate described by `row` is right."""
        return float(self.answerability.probabilities(row.reshape(1, -1))[0])

    def on_topic(self, row: np.ndarray) -> float:
        """The topic gate's probability that the question described by `row` is about the article."""
        return 1.0 if self.topic is None else float(self.topic.probabilities(row.reshape(1, -1))[0])

    def off_topic(self, row: np.ndarray) -> bool:
        return self.on_topic(row) < self.topic_threshold

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "sentence": self.sentence.to_json(), "answerability": self.answerability.to_json(),
                "topic": self.topic.to_json() if self.topic is not None else None,
                "abstain_threshold": round(float(self.abstain_threshold), 4),
                "extra_threshold": round(float(self.extra_threshold), 4),
                "topic_threshold": round(float(self.topic_threshold), 4),
                **{f"decline_{f.name}": getattr(self.vetoes, f.name) for f in fields(Vetoes)},
                "manifest": self.manifest}

    def save(self, path: Path) -> Path:
        return write_text(path, json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", "--out")

    @classmethod
    def from_json(cls, data: dict[str, Any], sentence_features: tuple[str, ...],
                  answerability_features: tuple[str, ...], topic_features: tuple[str, ...],
                  where: str) -> "AnswerModel":
        try:
            if data.get("format") != FORMAT:
                raise AnswerModelError(f"{where} has format {data.get('format')!r}, this version reads {FORMAT}. "
                                       "Retrain it with: qa train")
            topic = data["topic"]
            return cls(Linear.from_json(data["sentence"], sentence_features, where),
                       Linear.from_json(data["answerability"], answerability_features, where),
                       float(data["abstain_threshold"]), float(data["extra_threshold"]),
                       Vetoes(**{f.name: bool(data[f"decline_{f.name}"]) for f in fields(Vetoes)}),
                       Linear.from_json(topic, topic_features, where) if topic is not None else None,
                       float(data["topic_threshold"]), dict(data.get("manifest", {})))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AnswerModelError(f"{where} is malformed ({type(exc).__name__}: {exc}). Retrain it with: qa train") from None


def load_model(path: Path | None, sentence_features: tuple[str, ...],
               answerability_features: tuple[str, ...], topic_features: tuple[str, ...]) -> AnswerModel:
    """The model at `path`, or the one shipped in the package."""
    path = path or PACKAGED_MODEL
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnswerModelError(f"No answer model at {path}. Train one with: qa train (or unset QA_ANSWER_MODEL_PATH)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnswerModelError(f"Cannot read the answer model {path}: {exc}. Retrain it with: qa train") from None
    if not isinstance(data, dict):
        raise AnswerModelError(f"{path} is not an answer model (expected a JSON object). Retrain it with: qa train")
    return AnswerModel.from_json(data, sentence_features, answerability_features, topic_features, str(path))


# ---------------------------------------------------------------- fitting


def fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, l2: float = 1.0,
                 iterations: int = 50) -> tuple[np.ndarray, float]:
    """Weighted L2-regularised logistic regression by Newton's method (the intercept is not
    penalised). `x` should be standardised. Returns (coefficients, intercept)."""
    n, d = x.shape
    w = np.ones(n) if weights is None else weights.astype(np.float64)
    design = np.hstack([x, np.ones((n, 1))])
    beta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = _sigmoid(design @ beta)
        gradient = design.T @ (w * (p - y)) + penalty * beta
        hessian = (design * (w * p * (1 - p))[:, None]).T @ design + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    return beta[:-1], float(beta[-1])


def standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and spreads, of the values present (NaN is missing); a constant column keeps
    spread 1 so it cannot blow up."""
    mean = np.nanmean(x, axis=0)
    scale = np.nanstd(x, axis=0)
    scale[scale < 1e-9] = 1.0
    return mean, scale


def standardised(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(x - mean) / scale, with a missing value (NaN; rare: a lone candidate's margin) at 0, the
    mean, where it adds nothing to a log-odds."""
    standard = (x - mean) / scale
    return np.nan_to_num(standard, nan=0.0) if np.isnan(standard).any() else standard


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]
