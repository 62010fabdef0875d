"""(question, candidate sentence) -> a row of general features, the evidence the answer model
weighs to tell whether this sentence answers this question; and, for the best candidate, the
question-level evidence of whether the article answers the question at all.

None of them knows any article: similarity of the sentence and of its passage, how much of
the question's rarer words the sentence and its neighbours hold, whether the sentence holds
the kind of thing asked for (a date, a figure, a name) beyond what the question already
says, whether it speaks of the subject the question names, what the question names that the
corpus never mentions, and whether the question is the sentence with one thing changed (a
figure, a name, a word turned to its opposite, a "not" added): the way questions that merely
look answerable are made. Everything that depends on a sentence alone is computed once per
sentence and kept on the index (`Index.profiles`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qa import answer_type
from qa.answer_type import Offer
from qa.index import Index, heading_of
from qa.query import Query
from qa.retrieve import Pool
from qa.text import STOPWORDS, content_stems, content_words, normalize, stem, words

# The sentence model reads these, in this order; qa/answer_model.json names them, and a model
# trained on another list is refused (AnswerModelError).
FEATURES = (
    "cos",  # cosine of question and sentence
    "cos_gap",  # that cosine minus the best in the pool (0 for the best)
    "context_cos",  # best cosine of the question and a passage holding the sentence
    "overlap",  # share of the question's rarity-weighted stems in the sentence
    "overlap_gap",  # that share minus the best in the pool
    "overlap_context",  # ... in the sentence, the one before it and its heading
    "bigrams",  # share of the question's adjacent stem pairs found in the sentence
    "soft_overlap",  # rarity-weighted mean, over question words, of the closest word of the sentence (1 if present)
    "missing_near",  # rarity of the rarest question stem absent from the sentence, its neighbours and heading
    "missing_paragraph",  # rarity-weighted share of question stems absent from the whole paragraph
    "type_given",  # the question asks for a date/figure/name/reason and the sentence holds a new one
    "type_absent",  # the question asks for a date or figure and the sentence holds none
    "measure_absent",  # a figure question's measured thing ("how much lithium") is not in the sentence or its context
    "novelty",  # share of the sentence's stems the question does not hold: it says something more
    "new_information",  # rarity mass of the sentence's stems the question does not hold, over the rarest possible
    "context_cos_gap",  # context_cos minus the best in the pool
    "names_covered",  # share of the names the question holds that the sentence or its context holds
    "other_subject",  # the sentence speaks of other subjects than the one the question names
    "negation_added",  # the question says "not"/"never" and the sentence does not
    "opposite",  # a question word missing from the sentence is the opposite of a sentence word
    "figure_swapped",  # the question's figure is not in the sentence, which holds another
    "name_swapped",  # a name the question holds is not in the paragraph, and the sentence names others
    "substitute",  # the closest stand-in in the sentence for a question word it lacks
    "slot_changed",  # the question copies a run of the sentence with one word changed ("random ribbons" / "random bits")
    "length",  # log of the sentence's length in characters
    "opens_paragraph",  # the sentence opens its paragraph
    "passage_rank",  # 1 / fused rank of its best passage (0 outside the fused passages)
    "bm25",  # its sentence BM25 score relative to the pool's best
    "unknown_names",  # names the question holds that the corpus never mentions (nor anything close)
    "unknown_share",  # rarity-weighted share of question stems the corpus never uses
    "question_length",  # log of the number of question stems
)
# The answerability model reads the sentence model's view of the best candidate and of the
# runner-up, the best candidate's own features among these, and a few products of them: the
# signs that a question merely copies a sentence with one thing changed matter most when the
# copy is otherwise close (leave-one-fold-out on the tune splits: the products lift the share of
# declined unanswerable crowd questions from 0.30 to about 0.45 at the same false abstentions).
_OWN = ("cos", "context_cos", "overlap", "overlap_context", "bigrams", "soft_overlap", "missing_near",
        "missing_paragraph", "type_given", "type_absent", "measure_absent", "novelty", "names_covered", "negation_added", "opposite",
        "figure_swapped", "name_swapped", "substitute", "slot_changed", "unknown_names", "unknown_share",
        "question_length")
_EDITS = ("opposite", "negation_added", "figure_swapped", "slot_changed", "name_swapped", "substitute", "missing_near")
_PRODUCTS = (*((edit, closeness) for edit in _EDITS for closeness in ("overlap_context", "cos", "best_logit")),
             ("cos", "overlap_context"), ("best_logit", "margin"))
ANSWERABILITY = ("best_logit", "margin", *_OWN, *(f"{a}*{b}" for a, b in _PRODUCTS))
_COLUMN = {name: i for i, name in enumerate(FEATURES)}
# The topic gate reads the question as a whole against the article: how close the best of its
# candidates come, by meaning and by words, and how much of it the article never uses. It is
# fitted on each article's own tune questions against other articles' questions asked of it
# (qa/train.py), and declines a question about something else outright.
TOPIC = ("best_cos", "best_context_cos", "best_overlap_context", "unknown_share")
_TOPIC_COLUMNS = (_COLUMN["cos"], _COLUMN["context_cos"], _COLUMN["overlap_context"])
_TYPED = (answer_type.DATE, answer_type.NUMBER, answer_type.NAME, answer_type.REASON)
# Kinds whose absence rules a sentence out. A "who" is often answered without a name
# ("automakers and suppliers"), a "why" without a "because": for those only presence counts.
_REQUIRED = (answer_type.DATE, answer_type.NUMBER)


@dataclass(frozen=True, slots=True)
class Profile:
    """What the answer stage needs of one sentence, derived once."""

    words: frozenset[str]  # normalised content words
    word_rows: np.ndarray  # their rows in the index vocabulary (for their vectors)
    sequence: tuple[str, ...]  # content stems in order
    positions: dict[str, list[int]]  # stem -> its places in `sequence`
    stems: frozenset[str]
    bigrams: frozenset[tuple[str, str]]
    context_words: frozenset[str]  # normalised content words of the sentence, the one before it and its heading
    context_opposites: frozenset[str]  # words meaning the opposite of one of those
    context_stems: frozenset[str]
    near_stems: frozenset[str]  # ... and the sentence after it
    paragraph_stems: frozenset[str]
    paragraph_names: frozenset[str]
    context_names: frozenset[str]
    subjects: frozenset[str]
    offer: Offer
    opens_paragraph: bool
    length: float
    rarity: float  # summed rarity (idf) of its stems


def profile(index: Index, sid: int) -> Profile:
    cached = index.profiles.get(sid)
    if cached is None:
        cached = index.profiles[sid] = _make_profile(index, sid)
    return cached


def _make_profile(index: Index, sid: int) -> Profile:
    sentence = index.sentences[sid]
    before, after = index.neighbour(sid, -1), index.neighbour(sid, 1)
    heading = heading_of(sentence.section)
    before_text, after_text = (before.text if before else ""), (after.text if after else "")
    ordered = content_stems(sentence.text)
    stems = frozenset(ordered)
    positions: dict[str, list[int]] = {}
    for i, st in enumerate(ordered):
        positions.setdefault(st, []).append(i)
    sentence_words = frozenset(content_words(sentence.text))
    heading_stems = frozenset(content_stems(heading))
    context_stems = stems | frozenset(content_stems(before_text)) | heading_stems
    paragraph = " ".join(s.text for s in index.sentences[max(0, sid - 40): sid + 40]
                         if s.paragraph == sentence.paragraph)
    context_text = f"{heading} {before_text} {sentence.text}"
    # An article is about its title: "the town" in a sentence of "Eldermere" speaks of Eldermere.
    title = frozenset(normalize(t) for t in words(index.title_of(sentence.source))
                      if t[:1].isupper() and normalize(t) not in STOPWORDS)
    return Profile(
        words=sentence_words,
        word_rows=np.asarray(sorted({index.word_row[w] for w in sentence_words if w in index.word_row}), dtype=np.int64),
        sequence=tuple(ordered), positions=positions, stems=stems, bigrams=frozenset(zip(ordered, ordered[1:])),
        context_words=frozenset(content_words(context_text)),
        context_opposites=frozenset(o for w in content_words(context_text) for o in answer_type.opposites_of(w)),
        context_stems=context_stems,
        near_stems=context_stems | frozenset(content_stems(after_text)),
        paragraph_stems=frozenset(content_stems(paragraph)) | heading_stems,
        paragraph_names=title | _names(f"{heading}. {paragraph}", index),
        context_names=title | _names(f"{heading}. {before_text} {sentence.text}", index),
        subjects=frozenset(index.subjects(f"{heading} {sentence.text}")),
        offer=Offer.of(sentence.text), opens_paragraph=before is None, length=math.log1p(len(sentence.text)),
        rarity=sum(index.idf(st) for st in sorted(stems)),  # in one order: a set's varies by process
    )


def _names(text: str, index: Index) -> frozenset[str]:
    """Names in the text: capitalised mid-sentence, or words the corpus writes as names."""
    return answer_type.names(text) | frozenset(w for w in content_words(text) if w in index.names)


@dataclass(frozen=True, slots=True)
class QuestionTerms:
    """The question's side of the features, computed once per question."""

    words: tuple[str, ...]  # content words, one per stem, in order
    stems: tuple[str, ...]  # their stems
    weights: np.ndarray  # rarity (idf) of each stem, summing to 1
    weight_values: tuple[float, ...]  # the same as Python floats, for the per-candidate loop
    vectors: np.ndarray  # one unit row per word
    bigrams: frozenset[tuple[str, str]]
    sequence: tuple[str, ...]  # content stems in order
    all_words: frozenset[str]  # normalised words, to tell a sentence's new figures and names from the question's own
    figures: frozenset[str]  # the question's own figures and number words
    measured: frozenset[str]  # stems of what a figure question measures ("lithium" in "how much lithium")
    subjects: frozenset[str]
    unknown_share: float

    @classmethod
    def of(cls, query: Query, words_and_vectors: tuple[list[str], np.ndarray], index: Index) -> "QuestionTerms":
        question_words, vectors = words_and_vectors
        ordered = content_stems(query.searched_for)
        first: dict[str, int] = {}
        for i, word in enumerate(question_words):
            first.setdefault(stem(word), i)
        stems = tuple(first)
        weights = np.asarray([index.idf(s) for s in stems], dtype=np.float64)
        total = float(weights.sum()) or 1.0
        unknown = sum(w for s, w in zip(stems, weights) if s not in index.stems) / total
        rows = list(first.values())
        weights = weights / total
        return cls(words=tuple(question_words[i] for i in rows), stems=stems, weights=weights,
                   weight_values=tuple(weights.tolist()),
                   vectors=vectors[rows], bigrams=frozenset(zip(ordered, ordered[1:])), sequence=tuple(ordered),
                   all_words=frozenset(normalize(w) for w in words(query.searched_for)),
                   figures=answer_type.number_tokens(query.searched_for) - _QUESTION_NUMBER_WORDS,
                   measured=frozenset(stem(w) for w in query.measured) if query.kind == answer_type.NUMBER else frozenset(),
                   subjects=frozenset(index.subjects(query.searched_for)), unknown_share=unknown)

    def evidence(self, p: Profile, closest: list[float], idf: list[float]) -> tuple[float, ...]:
        """One pass over the question's stems against one sentence: (overlap, overlap with its
        context, soft overlap, rarity of the rarest stem absent from its neighbourhood, share
        absent from its paragraph, closest stand-in for a stem its context lacks, a lacking
        word's opposite is there, rarity the question's stems take out of the sentence's)."""
        overlap = context = soft = rarest = in_paragraph = substitute = taken = 0.0
        opposite = False
        own, near_context, neighbourhood, paragraph = p.stems, p.context_stems, p.near_stems, p.paragraph_stems
        for stem_, word, weight, rarity, near in zip(self.stems, self.words, self.weight_values, idf, closest):
            present = stem_ in own
            if present:
                overlap += weight
                soft += weight
                taken += rarity
            elif near > 0.0:
                soft += weight * (near if near < 1.0 else 1.0)
            if present or stem_ in near_context:
                context += weight
            else:
                if near > substitute:
                    substitute = near
                opposite = opposite or word in p.context_opposites
                if stem_ not in neighbourhood and rarity > rarest:
                    rarest = rarity
            if stem_ in paragraph:
                in_paragraph += weight
        return overlap, context, soft, rarest, 1.0 - in_paragraph, substitute, float(opposite), taken

    def slot_changed(self, p: Profile) -> bool:
        """Whether the question copies a run of the sentence with one word changed: "A w B" in the
        question where the sentence says "A v B", v a word the question does not use."""
        asked = set(self.sequence)
        seq = self.sequence
        for i in range(1, len(seq) - 1):
            if seq[i] in p.stems:
                continue
            for j in p.positions.get(seq[i - 1], ()):
                if j + 2 < len(p.sequence) and p.sequence[j + 2] == seq[i + 1] and p.sequence[j + 1] not in asked:
                    return True
        return False


# "one" in "which one", "first" in "who was the first": words of the question's form, not figures.
_QUESTION_NUMBER_WORDS = frozenset({"one", "first", "single", "several", "numerous"})


def feature_matrix(*, query: Query, query_vector: np.ndarray, word_vectors: tuple[list[str], np.ndarray],
                   missing_names: int, pool: Pool, index: Index, chunk_similarity: dict[int, float]) -> np.ndarray:
    """One row per pool sentence (in `pool.sentences` order), columns in FEATURES order.

    `query` is `qa.query.analyse`'s reading of the question and `query_vector` its embedding;
    `word_vectors` holds the question's content words and a vector for each (from the index
    vocabulary, or the embedding of an unknown name); `missing_names` is how many of its
    unknown names have no close corpus word (`qa.answer.missing_names`); `pool` comes from
    `qa.retrieve.search`; `chunk_similarity` holds each pool chunk's best dense key cosine
    (`qa.answer.chunk_similarity`)."""
    sids = pool.sentences
    if not sids:
        return np.zeros((0, len(FEATURES)))
    terms = QuestionTerms.of(query, word_vectors, index)
    cosines = index.sentence_vectors[np.asarray(sids, dtype=np.int64)] @ query_vector
    ranks = pool.fused_rank()
    best_bm25 = max(pool.sentence_bm25.values(), default=0.0) or 1.0
    max_idf = math.log(1 + len(index.sentences))
    typed = query.kind in _TYPED
    profiles = [profile(index, sid) for sid in sids]
    closest = _closest_words(terms, profiles, index).T.tolist()  # one list per candidate: cheap to read in Python
    idf = [index.idf(st) for st in terms.stems]
    asked = frozenset(terms.stems)
    # What is the same for every candidate, read once.
    kind, searched_for, all_words, names = query.kind, query.searched_for, terms.all_words, query.names
    required, negated = kind in _REQUIRED, query.negated
    bigrams, measured, subjects, figures = terms.bigrams, terms.measured, terms.subjects, terms.figures
    n_bigrams, n_names = len(terms.bigrams), len(names)
    question_constants = (float(min(missing_names, 2)), terms.unknown_share, math.log1p(len(terms.stems)))
    sentence_bm25 = pool.sentence_bm25
    rows = []
    for sid, cosine, p, near in zip(sids, cosines.tolist(), profiles, closest):
        holders = index.sentence_chunks(sid)
        offer = p.offer
        gives = typed and offer.gives(kind, searched_for, all_words)
        held_ranks = [ranks[r] for r in holders if r in ranks]
        overlap, context, soft, rarest, absent, substitute, opposite, taken = terms.evidence(p, near, idf)
        own = p.stems
        n_own = len(own)
        rows.append((
            cosine, 0.0, max([chunk_similarity.get(r, cosine) for r in holders], default=cosine),
            overlap, 0.0, context,
            len(bigrams & p.bigrams) / n_bigrams if n_bigrams else 0.0, soft,
            rarest / max_idf, absent,
            float(gives), float(required and not gives),
            float(bool(measured - p.context_stems)),
            (n_own - len(asked & own)) / max(1, n_own), (p.rarity - taken) / max_idf, 0.0,
            len(names & p.context_names) / n_names if n_names else 1.0,
            float(bool(subjects and p.subjects and not subjects & p.subjects)),
            float(negated and not offer.negated), opposite,
            float(bool(figures - p.context_words and offer.numbers - all_words)),
            float(bool(names - p.paragraph_names and offer.names - all_words)),
            substitute, float(terms.slot_changed(p)), p.length, float(p.opens_paragraph),
            1.0 / min(held_ranks) if held_ranks else 0.0, sentence_bm25.get(sid, 0.0) / best_bm25,
            *question_constants,
        ))
    matrix = np.asarray(rows, dtype=np.float64)
    matrix[:, _COLUMN["cos_gap"]] = matrix[:, _COLUMN["cos"]] - matrix[:, _COLUMN["cos"]].max()
    matrix[:, _COLUMN["overlap_gap"]] = matrix[:, _COLUMN["overlap"]] - matrix[:, _COLUMN["overlap"]].max()
    matrix[:, _COLUMN["context_cos_gap"]] = matrix[:, _COLUMN["context_cos"]] - matrix[:, _COLUMN["context_cos"]].max()
    return matrix


def _closest_words(terms: QuestionTerms, profiles: list[Profile], index: Index) -> np.ndarray:
    """Each question word's best cosine with a word of each candidate (question words x
    candidates), from one matrix product over the words the candidates use."""
    if not terms.stems:
        return np.zeros((0, len(profiles)))
    union, inverse = np.unique(np.concatenate([p.word_rows for p in profiles] + [np.zeros(0, np.int64)]),
                               return_inverse=True)
    similarity = terms.vectors @ index.vocabulary_vectors[union].T if len(union) else np.zeros((len(terms.stems), 0))
    closest = np.zeros((len(terms.stems), len(profiles)))
    sizes = [len(p.word_rows) for p in profiles]
    filled = [i for i, size in enumerate(sizes) if size]
    if filled:  # segment i of the gathered columns holds candidate i's words; empty ones are skipped
        offsets = np.cumsum([0, *sizes])[:-1]
        closest[:, filled] = np.maximum.reduceat(similarity[:, inverse], offsets[filled], axis=1)
    return closest


def topic_row(features: np.ndarray) -> np.ndarray:
    """The topic gate's input (TOPIC order) from a question's feature matrix (one row per
    candidate): the best of each closeness over the candidates, and the question's share of
    words the corpus never uses."""
    if len(features) == 0:
        return np.zeros(len(TOPIC))
    return np.asarray([*features[:, _TOPIC_COLUMNS].max(axis=0), features[0, _COLUMN["unknown_share"]]])


def answerability_row(features: np.ndarray, logits: np.ndarray, best: int, allowed: list[int]) -> np.ndarray:
    """The answerability model's input for the best candidate (row `best` of `features`), given
    the sentence model's log-odds for every row and the rows an answer may be drawn from.

    With no other row to compare it with, the margin (and its product) is NaN, missing, which
    the model reads as its tune mean. A lone candidate is no sign of a clear winner, and no
    tune question has one: any number put there would be read far outside what the model
    learnt from (a margin of 10 once lifted a sentence the sentence model gave 7% to a
    confidence of 0.96)."""
    others = [logits[i] for i in allowed if i != best]
    values = {"best_logit": float(logits[best]),
              "margin": min(float(logits[best] - max(others)), 10.0) if others else math.nan,
              **{name: float(features[best, _COLUMN[name]]) for name in _OWN}}
    return np.asarray([*(values[name] for name in ("best_logit", "margin", *_OWN)),
                       *(values[a] * values[b] for a, b in _PRODUCTS)], dtype=np.float64)
