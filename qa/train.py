"""`qa train`: fit the answer model on the tune splits of every eval set, validate it by
leaving one corpus out, and write its weights as JSON (qa/answer_model.json).

Everything is chosen on tune splits only: the sentence model's weights, how sure a second
sentence must be to join an answer, the answerability model, and the abstention threshold
(the highest that keeps false abstention at or under a target on every set). The test splits
are never read here, so the figures `qa eval` reports on them are honest.

The answerability model learns from the sentence model's scores, so those scores must be
ones it will meet on new questions: each tune question is scored by a sentence model fitted
without it (five folds, by a hash of the id), never by one that has seen its answer.

The topic gate learns what a question about something else looks like from the other
articles' tune questions asked of each article ("borrowed"): they are off-topic there by
construction. It learns apart from the answerability model, which crowd-written unanswerable
questions teach the opposite lesson (they share most of their words with the article):
borrowed questions added to its own training declined more off-topic questions but fewer of
those (eval/tried.md).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from qa.answer import VETOED_CONFIDENCE, Scoring, choose, lacks_asked_kind, rank_passages
from qa.corpus import corpus_files
from qa.engine import Candidates, Engine
from qa.errors import EvalSetError
from qa.evalsets import EvalSet, check_answers_in, contains_any
from qa.features import ANSWERABILITY, FEATURES, TOPIC, topic_row
from qa.model import AnswerModel, Linear, Vetoes
from qa.settings import Settings
from qa.stats import mean

# Regularisation of the two models, chosen by leave-one-corpus-out validation on the tune splits.
SENTENCE_L2 = 4.0
ANSWERABILITY_L2 = 2.0
FOLDS = 5
# Abstain at the highest threshold that keeps the sets' mean false-abstention rate at or under this.
TARGET_FALSE_ABSTENTION = 0.05
# Extra sentences may not push a set's mean cited-passage length past this (characters): below
# the 600 that issue 10 allows on the battery article, with a margin for unseen questions.
PASSAGE_CHARS_BUDGET = 560
# Questions naming something the corpus never mentions, and date or figure questions whose best
# sentence holds none, are declined outright when at least this share of them were unanswerable
# on the tune splits.
VETO_SHARE = 0.8
EXTRA_GRID = tuple(round(x, 2) for x in np.arange(0.30, 1.00, 0.05))
# The topic gate: how many tune questions (asked without history) each other article lends to
# each article, and its regularisation.
BORROWED_PER_SOURCE = 20
TOPIC_L2 = 1.0


@dataclass(frozen=True)
class Example:
    """One tune question with its candidates and which of them hold a gold answer."""

    corpus: str
    item: dict
    engine: Engine
    found: Candidates
    labels: np.ndarray  # 1 where the pool sentence holds a gold string
    fold: int


@dataclass(frozen=True)
class View:
    """What a sentence model makes of one example: the evidence row and how the answer would fare."""

    evidence: np.ndarray
    unknown_names: bool  # the question names something the corpus never mentions
    kind_absent: bool  # it asks for a date or figure, and the best candidate holds none
    answerable: bool
    right: bool  # the answer quoted with no threshold holds a gold string
    chars: int  # characters of the distinct passages it cites
    topic: np.ndarray  # the topic gate's input (qa.features.topic_row)


def placeholder_model() -> AnswerModel:
    """A model that knows nothing, for gathering candidates before any model exists."""
    return AnswerModel(Linear.blank(FEATURES), Linear.blank(ANSWERABILITY), 0.0, 1.0)


def borrow(examples: Sequence[Example], per_source: int = BORROWED_PER_SOURCE) -> list[Example]:
    """Other articles' tune questions asked of each article, unanswerable there: `per_source`
    from each other article, drawn by a hash of the two names, among those asked without
    history (a follow-up leans on its own article's earlier question). Each keeps the article
    it came from in its item's "borrowed_from"."""
    engines = {e.corpus: e.engine for e in examples}
    borrowed: list[Example] = []
    for target, engine in engines.items():
        for source, lender in engines.items():
            if _documents(lender) & _documents(engine):
                continue  # two sets on one article: each other's questions are on its topic
            lent = sorted((e for e in examples if e.corpus == source and not e.item.get("history")),
                          key=lambda e: _hash(f"{target} {e.item['id']}"))[:per_source]
            for e in lent:
                item = {**e.item, "id": f"{target}<-{e.item['id']}", "answerable": False, "expect_any": [],
                        "borrowed_from": source}
                found = engine.candidates(item["question"])
                borrowed.append(Example(target, item, engine, found, np.zeros(len(found.pool.sentences)),
                                        _hash(item["id"]) % FOLDS))
    return borrowed


def _documents(engine: Engine) -> frozenset[Path]:
    """The files an engine answers from, so that a set naming the article and one naming its
    folder count as sets on one article."""
    return frozenset(path.resolve() for path in corpus_files(Path(engine.settings.corpus_dir)))


def _learnable(examples: Sequence[Example]) -> bool:
    """Whether the sentence model has anything to learn from: an answerable question whose
    candidates hold its answer."""
    return any(e.item["answerable"] and e.labels.any() for e in examples)


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[8:16], 16)


def gather(sets: Sequence[EvalSet], base: Settings, say: Callable[[str], None]) -> list[Example]:
    """Candidates and labels of every tune item, each set answered from its own corpus."""
    examples: list[Example] = []
    embedder = None
    for eval_set in sets:
        settings = replace(eval_set.settings_for(base), pronouns_for_answers=False)  # nothing to answer with yet
        engine = Engine.load(settings, progress=say, embedder=embedder, model=placeholder_model())
        embedder = engine.embedder
        check_answers_in(eval_set, (d.text for d in engine.documents), settings.corpus_dir, say)
        items = eval_set.split("tune")
        say(f"{eval_set.name}: {len(items)} tune questions")
        for item in items:
            found = engine.candidates(item["question"], history=item.get("history", []))
            labels = np.asarray([item["answerable"] and contains_any(engine.index.sentences[sid].text, item["expect_any"])
                                 for sid in found.pool.sentences], dtype=np.float64)
            fold = _hash(item["id"]) % FOLDS
            examples.append(Example(eval_set.name, item, engine, found, labels, fold))
    return examples


def _corpus_weights(examples: Sequence[Example]) -> dict[str, float]:
    """Each corpus weighs the same in total, whatever its number of questions, so the models
    learn what holds across articles rather than what holds in the biggest set."""
    corpora = sorted({e.corpus for e in examples})
    return {c: len(examples) / (len(corpora) * sum(1 for e in examples if e.corpus == c)) for c in corpora}


def fit_sentence_model(examples: Sequence[Example], l2: float = SENTENCE_L2) -> Linear:
    """Which sentence answers: learnt from answerable questions whose pool holds an answer."""
    rows = [e for e in examples if e.item["answerable"] and e.labels.any()]
    weight = _corpus_weights(examples)
    x = np.vstack([e.found.features for e in rows])
    y = np.concatenate([e.labels for e in rows])
    w = np.concatenate([np.full(len(e.labels), weight[e.corpus] / len(e.labels)) for e in rows])
    return Linear.fit(FEATURES, x, y, w * len(y) / w.sum(), l2)


def view(example: Example, sentence: Linear, extra_threshold: float, max_sentences: int) -> View:
    e = example
    scoring = Scoring(e.found.pool, e.found.features, sentence.logits(e.found.features), e.found.missing_names,
                      e.found.chunk_similarity)
    passages = rank_passages(scoring, e.engine.index, e.found.k)
    choice = choose(scoring, passages, e.engine.index, extra_threshold=extra_threshold, max_sentences=max_sentences)
    unknown = bool(e.found.missing_names)
    topic = topic_row(e.found.features)
    if choice.best is None:
        return View(np.zeros(len(ANSWERABILITY)), unknown, False, e.item["answerable"], False, 0, topic)
    kind_absent = lacks_asked_kind(e.found.features, choice.best)
    sids = [e.found.pool.sentences[i] for i in choice.quoted]
    text = " ".join(e.engine.index.sentences[sid].text for sid in sids)
    right = e.item["answerable"] and contains_any(text, e.item["expect_any"])
    chars = sum(len(p) for p in {choice.holder[sid].chunk.text for sid in sids})
    return View(choice.evidence, unknown, kind_absent, e.item["answerable"], right, chars, topic)


def out_of_fold_views(examples: Sequence[Example], extra_threshold: float, max_sentences: int,
                      l2: float = SENTENCE_L2) -> list[View]:
    """Each example seen through a sentence model fitted on the other folds."""
    models = {f: fit_sentence_model([e for e in examples if e.fold != f], l2) for f in range(FOLDS)}
    return [view(e, models[e.fold], extra_threshold, max_sentences) for e in examples]


def _by_corpus(examples: Sequence[Example], views: Sequence[View]) -> dict[str, list[View]]:
    grouped: dict[str, list[View]] = {}
    for e, v in zip(examples, views):
        grouped.setdefault(e.corpus, []).append(v)
    return grouped


def choose_extra(examples: Sequence[Example], max_sentences: int) -> float:
    """The share of evidence an answer's sentences must reach before no more are added: the one
    that answers most tune questions right (averaged over corpora) while every corpus stays
    within the passage budget; ties go to the smaller one (fewer sentences)."""
    best = (-1.0, EXTRA_GRID[0])
    for threshold in EXTRA_GRID:
        grouped = _by_corpus(examples, out_of_fold_views(examples, threshold, max_sentences))
        chars_ok = all((mean([v.chars for v in views]) or 0) <= PASSAGE_CHARS_BUDGET for views in grouped.values())
        accuracy = float(np.mean([np.mean([v.right for v in views if v.answerable] or [0])
                                  for views in grouped.values()]))
        if chars_ok and (accuracy, -threshold) > (best[0], -best[1]):
            best = (accuracy, threshold)
    return best[1]


def fit_answerability(examples: Sequence[Example], views: Sequence[View], l2: float = ANSWERABILITY_L2) -> Linear:
    """P(the answer is right) from the best candidate's evidence, over all tune questions."""
    weight = _corpus_weights(examples)
    x = np.vstack([v.evidence for v in views])
    y = np.asarray([v.right for v in views], dtype=np.float64)
    w = np.asarray([weight[e.corpus] for e in examples])
    return Linear.fit(ANSWERABILITY, x, y, w, l2)


def choose_threshold(examples: Sequence[Example], views: Sequence[View], answerability: Linear, vetoes: Vetoes,
                     target_fa: float = TARGET_FALSE_ABSTENTION) -> float:
    """The highest threshold at which the tune sets wrongly decline no more than `target_fa` of
    their answerable questions, on average over the sets (each set counts the same, whatever
    its size). Declining the unanswerable ones is what a higher threshold buys."""
    grouped = {corpus: [_confidence(answerability, v, vetoes) for v in views_of if v.answerable]
                for corpus, views_of in _by_corpus(examples, views).items()}
    grouped = {corpus: values for corpus, values in grouped.items() if values}
    if not grouped:
        return 0.5
    best = 0.0
    for t in sorted({c for values in grouped.values() for c in values}):
        rates = [sum(c < t for c in values) / len(values) for values in grouped.values()]
        if sum(rates) / len(rates) <= target_fa:
            best = t
    return round(best, 4)


def learnt_vetoes(views: Sequence[View]) -> Vetoes:
    """A veto for each kind of question that was mostly unanswerable on the tune splits."""
    return Vetoes(**{kind: share is not None and share >= VETO_SHARE
                     for kind, share in flagged_unanswerable_shares(views).items()})


def _confidence(answerability: Linear, v: View, vetoes: Vetoes) -> float:
    if vetoes.apply(unknown_names=v.unknown_names, kind_absent=v.kind_absent):
        return VETOED_CONFIDENCE
    return float(answerability.probabilities(v.evidence.reshape(1, -1))[0])


def flagged_unanswerable_shares(views: Sequence[View]) -> dict[str, float | None]:
    """Of the tune questions naming something their corpus never mentions, and of the date or
    figure questions whose best sentence holds none: the share that are unanswerable."""
    shares: dict[str, float | None] = {}
    for kind in (f.name for f in fields(Vetoes)):  # each is also a View field
        flagged = [v for v in views if getattr(v, kind)]
        shares[kind] = sum(not v.answerable for v in flagged) / len(flagged) if flagged else None
    return shares


def fit_topic(examples: Sequence[Example], borrowed: Sequence[Example], l2: float = TOPIC_L2) -> Linear:
    """P(the question is about the article): each article's own tune questions, answerable or
    not, against the questions it was lent; the two classes weigh the same."""
    own = [topic_row(e.found.features) for e in examples]
    lent = [topic_row(e.found.features) for e in borrowed]
    x = np.vstack(own + lent)
    y = np.r_[np.ones(len(own)), np.zeros(len(lent))]
    w = np.r_[np.full(len(own), len(y) / (2 * len(own))), np.full(len(lent), len(y) / (2 * len(lent)))]
    return Linear.fit(TOPIC, x, y, w, l2)


def choose_topic_threshold(examples: Sequence[Example], topic: Linear) -> float:
    """The gate declines below this: the least P(on topic) of any answerable tune question, so
    that it turns away no question the tune splits answer."""
    rows = [topic_row(e.found.features) for e in examples if e.item["answerable"]]
    # Rounded down, as the model file keeps four places: rounded up, it would turn that one away.
    return math.floor(float(topic.probabilities(np.vstack(rows)).min()) * 1e4) / 1e4 if rows else 0.0


def fit(examples: Sequence[Example], max_sentences: int = 3, target_fa: float = TARGET_FALSE_ABSTENTION,
        borrowed: Sequence[Example] = ()) -> AnswerModel:
    """The answer model from the tune `examples`; with `borrowed` questions (see `borrow`), its
    topic gate too."""
    extra = choose_extra(examples, max_sentences)
    views = out_of_fold_views(examples, extra, max_sentences)
    answerability = fit_answerability(examples, views)
    vetoes = learnt_vetoes(views)
    threshold = choose_threshold(examples, views, answerability, vetoes, target_fa)
    topic = fit_topic(examples, borrowed) if borrowed else None
    topic_threshold = choose_topic_threshold(examples, topic) if topic is not None else 0.0
    return AnswerModel(fit_sentence_model(examples), answerability, threshold, extra, vetoes, topic, topic_threshold)


def score(model: AnswerModel, examples: Sequence[Example], views: Sequence[View] | None = None,
          max_sentences: int = 3) -> dict[str, dict[str, float | None]]:
    """HasAns, NoAns, false abstention, overall accuracy and passage length per corpus, at the
    model's own thresholds (through `views` when given, else through the model itself)."""
    views = views or [view(e, model.sentence, model.extra_threshold, max_sentences) for e in examples]
    report = {}
    for corpus, values in _by_corpus(examples, views).items():
        answered = [_confidence(model.answerability, v, model.vetoes) >= model.abstain_threshold
                    and not model.off_topic(v.topic) for v in values]
        pos = [(v, a) for v, a in zip(values, answered) if v.answerable]
        neg = [a for v, a in zip(values, answered) if not v.answerable]
        right = sum(1 for v, a in pos if a and v.right) + sum(1 for a in neg if not a)
        report[corpus] = {
            "questions": len(values),
            "has_ans": _ratio(sum(1 for v, a in pos if a and v.right), len(pos)),
            "no_ans": _ratio(sum(1 for a in neg if not a), len(neg)),
            "false_abstain": _ratio(sum(1 for _v, a in pos if not a), len(pos)),
            "overall": _ratio(right, len(values)),
            "passage_chars": round(mean([v.chars for v, a in zip(values, answered) if a]) or 0.0, 1),
        }
    return report


def _ratio(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def leave_one_corpus_out(examples: Sequence[Example],
                         borrowed: Sequence[Example] = ()) -> dict[str, dict[str, float | None]]:
    """Each corpus scored by a model fitted on the others' tune questions only: how the engine
    does on an article it has never seen. With `borrowed` questions, the topic gate is fitted
    without any asked of that corpus or lent by it, and "off_topic_declined" is the share of
    those asked of it that the engine declines."""
    report = {}
    for corpus in sorted({e.corpus for e in examples}):
        if not _learnable([e for e in examples if e.corpus != corpus]):
            continue  # the others hold no answerable question to learn from: nothing to validate with
        lent = [e for e in borrowed if corpus not in (e.corpus, e.item["borrowed_from"])]
        model = fit([e for e in examples if e.corpus != corpus], borrowed=lent)
        report[corpus] = score(model, [e for e in examples if e.corpus == corpus])[corpus]
        asked = [e for e in borrowed if e.corpus == corpus]
        if asked:
            report[corpus]["off_topic_declined"] = score(model, asked)[corpus]["no_ans"]
    return report


def train(sets: Sequence[EvalSet], base: Settings, say: Callable[[str], None]) -> AnswerModel:
    for held in (s for s in sets if s.held_out):
        say(f"{held.name}: held out, not trained on")
    sets = [s for s in sets if not s.held_out]
    if not sets:
        raise EvalSetError("Every set given is held out (\"held_out\": true in its sidecar): name a set to train on.")
    sets = _with_tune_items(sets, say)
    examples = gather(sets, base, say)
    if not _learnable(examples):
        raise EvalSetError(f"No tune question of {', '.join(s.name for s in sets)} is answerable with its answer among "
                           "the engine's candidates, and the answer model learns from those which sentence answers. "
                           "Add answerable questions (\"answerable\": true, with \"expect_any\"), or train with "
                           "the bundled sets too.")
    several = len({e.corpus for e in examples}) > 1
    borrowed = borrow(examples) if len({_documents(e.engine) for e in examples}) > 1 else []
    if several and not borrowed:
        say("no topic gate: every set asks about the same article, and the gate learns from other articles' questions")
    plural = "s" if len(sets) != 1 else ""
    say(f"fitting on {len(examples)} tune questions from {len(sets)} set{plural}, and {len(borrowed)} asked of "
        "the other articles for the topic gate")
    model = fit(examples, base.max_answer_sentences, borrowed=borrowed)
    if several:
        say("validating: leave one corpus out")
    else:
        say("not validating: leaving its one corpus out would leave nothing to train on, and the topic gate "
            "needs another corpus's questions (train on sets of two articles or more for both)")
    views = out_of_fold_views(examples, model.extra_threshold, base.max_answer_sentences)
    manifest = {
        **{f"{kind}_unanswerable_share": round(share or 0.0, 4)
           for kind, share in flagged_unanswerable_shares(views).items()},
        "written_by": "qa train",
        "sentence_l2": SENTENCE_L2, "answerability_l2": ANSWERABILITY_L2, "topic_l2": TOPIC_L2, "folds": FOLDS,
        "borrowed_per_source": BORROWED_PER_SOURCE, "borrowed_questions": len(borrowed),
        "target_false_abstention": TARGET_FALSE_ABSTENTION,
        "passage_chars_budget": PASSAGE_CHARS_BUDGET,
        "trained_on": {s.name: {"tune_questions": len(s.split("tune")), "sha256": _digest(s.path)} for s in sets},
        "tune": score(model, examples),
        "leave_one_corpus_out": leave_one_corpus_out(examples, borrowed),
    }
    return replace(model, manifest=manifest)


def _with_tune_items(sets: Sequence[EvalSet], say: Callable[[str], None]) -> list[EvalSet]:
    """The sets that have tune items, saying which have none. `qa train` learns from the tune
    splits only, and a small set can fall wholly in its test split; with no tune item at all,
    refuse saying so."""
    empty = [s for s in sets if not s.split("tune")]
    if not empty:
        return list(sets)
    named = ", ".join(f"{s.name} ({len(s.items)} item{'s' if len(s.items) != 1 else ''})" for s in empty)
    why = (f"every item of {named} fell in the test split, which `qa train` never learns from (an item goes to "
           "tune or test by a hash of its id, about half each)")
    if len(empty) == len(sets):
        raise EvalSetError(f"Nothing to train on: {why}. Add items to the set (about half of them will be tune "
                           "items), or train with the shipped sets too.")
    say(f"not learning from {', '.join(s.name for s in empty)}: {why}")
    return [s for s in sets if s.split("tune")]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
