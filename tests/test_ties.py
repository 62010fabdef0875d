"""Texts that recur in a corpus tie exactly, and ties rank by row, so that which one ranks first
is not decided by float rounding (which differs from one CPU to another).

The article is written for these tests: a FAQ answer long enough to fill several chunks, all of
which are keyed by its question, and a sentence that recurs word for word."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.build_cache import embed
from qa.engine import Engine
from qa.index import chunk_keys
from qa.retrieve import bm25_ranking, by_score, dense_ranking
from qa.settings import Settings

REPEATED = "Visitors must keep to the marked path at all times."
ARTICLE = f"""# The Harrow Point Lighthouse

The lighthouse at Harrow Point was first lit in 1871. {REPEATED} Its tower is painted in red and white bands.

## Frequently Asked Questions

### How did the keepers look after the lamp?

Each evening a keeper trimmed the wick before sunset. The brass was polished every morning.
Soot was wiped from the lens twice a night. Spare mantles were kept in a locked cupboard.
Paraffin was carried up the tower in cans. A log recorded every hour the lamp burned.
The clockwork that turned the lens was wound every four hours. Storm panes were checked after gales.

### Can visitors climb the tower?

The tower opens to visitors on summer weekends. {REPEATED}
"""


@pytest.fixture(scope="module")
def lighthouse(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Engine:
    root = tmp_path_factory.mktemp("ties")
    (root / "corpus").mkdir()
    (root / "corpus" / "lighthouse.md").write_text(ARTICLE, encoding="utf-8")
    return Engine.load(Settings(corpus_dir=root / "corpus", index_dir=root / "index"), embedder=engine.embedder)


def test_the_copies_of_a_recurring_text_share_one_vector(lighthouse: Engine) -> None:
    index = lighthouse.index
    keys, owners = chunk_keys(index.chunks)
    heading = "How did the keepers look after the lamp?"
    rows = [i for i, text in enumerate(keys) if text == heading]
    assert len(rows) >= 3, f"the answer should fill several chunks keyed by its question, got {len(rows)}"
    assert len({int(owners[i]) for i in rows}) == len(rows)
    for row in rows[1:]:
        assert np.array_equal(index.key_vectors[row], index.key_vectors[rows[0]])
    copies = [i for i, s in enumerate(index.sentences) if s.text == REPEATED]
    assert len(copies) == 2
    assert np.array_equal(index.sentence_vectors[copies[0]], index.sentence_vectors[copies[1]])


class Recording:
    """The real encoder, noting every text it is asked to embed."""

    def __init__(self, encoder) -> None:  # type: ignore[no-untyped-def]
        self.encoder, self.dim, self.asked = encoder, encoder.dim, []

    def encode(self, texts):  # type: ignore[no-untyped-def]
        self.asked.extend(texts)
        return self.encoder.encode(texts)


def test_a_build_embeds_each_distinct_text_once(engine: Engine) -> None:
    """Embedded apart, in batches padded to other lengths, copies came out about 1e-7 apart."""
    texts = ["How did the keepers look after the lamp?", REPEATED, "Paraffin was carried up the tower in cans.",
             REPEATED, "How did the keepers look after the lamp?", REPEATED]
    recording = Recording(engine.embedder)
    embedded = embed(texts, recording, cache=None)  # type: ignore[arg-type]
    assert recording.asked == list(dict.fromkeys(texts))
    assert embedded.fresh.all()
    for i, text in enumerate(texts):
        first = texts.index(text)
        assert np.array_equal(embedded.vectors[i], embedded.vectors[first])
    alone = engine.embedder.encode([texts[2]])[0]
    assert float(alone @ embedded.vectors[2]) > 0.9999


def test_chunks_keyed_by_one_question_rank_in_corpus_order(lighthouse: Engine) -> None:
    vector = lighthouse.embedder.encode(["How did the keepers look after the lamp?"])[0]
    ranked = dense_ranking(lighthouse.backend, vector, depth=3)
    keyed = [row for row, chunk in enumerate(lighthouse.index.chunks) if "keepers look after" in chunk.section]
    assert [row for row, _score in ranked] == keyed[:3]
    assert len({score for _row, score in ranked}) == 1  # one vector, so one score


def test_a_repeated_sentence_ranks_its_earlier_copy_first(lighthouse: Engine) -> None:
    index = lighthouse.index
    copies = [i for i, s in enumerate(index.sentences) if s.text == REPEATED]
    vector = lighthouse.embedder.encode([REPEATED])[0]
    hits = lighthouse.backend.dense_sentences(vector, 2)
    assert [sid for sid, _score in hits] == copies
    assert hits[0][1] == hits[1][1]


def test_bm25_ties_rank_by_row(lighthouse: Engine) -> None:
    ranked = bm25_ranking(lighthouse.index.sentence_bm25, "marked path", 5)
    tied = [row for row, score in ranked if score == ranked[0][1]]
    assert tied == sorted(tied) and len(tied) >= 1


def test_by_score_puts_the_earlier_row_first_among_equal_scores() -> None:
    assert by_score([(9, 0.5), (2, 0.7), (4, 0.5), (1, 0.5)]) == [(2, 0.7), (1, 0.5), (4, 0.5), (9, 0.5)]
    # A backend's own rounding in the last digits does not reorder rows it scores alike.
    assert by_score([(5, 0.3000001), (3, 0.3)], decimals=6) == [(3, 0.3), (5, 0.3000001)]
    assert by_score([]) == []
