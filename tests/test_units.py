"""The pure stages on small inputs written by hand, with no model: fusion, sentence splitting,
parsing, follow-up resolution, staleness and settings. Each runs in milliseconds."""

from __future__ import annotations

import pytest

from qa.chunking import chunk_documents, cut_long, split_sentences
from qa.index import stale_reason
from qa.loaders.text import parse_markdown, parse_plain
from qa.numbered import NumberedNames, number_value
from qa.percentages import number_from_words, percentages_as_written
from qa.query import analyse, asks_who_did, is_name, name_answering, resolve, with_country_capitals
from qa.retrieve import fuse
from qa.titles import titles_as_written
from qa.units import money_words, units_as_written
from qa.years import years_as_written

# ---------------------------------------------------------------- fusion


def test_fuse_sums_one_over_k_plus_rank_across_rankings() -> None:
    dense = [(7, 0.9), (3, 0.8), (5, 0.1)]
    lexical = [(3, 12.0), (9, 4.0)]
    fused = dict(fuse([dense, lexical], rrf_k=60))
    assert fused[3] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[7] == pytest.approx(1 / 61)
    assert fused[9] == pytest.approx(1 / 62)
    assert fused[5] == pytest.approx(1 / 63)
    assert [row for row, _ in fuse([dense, lexical], rrf_k=60)] == [3, 7, 9, 5]


def test_fuse_ignores_the_legs_own_scores_and_breaks_ties_by_row() -> None:
    assert fuse([[(4, 1e9), (2, -5.0)], [(2, 0.0), (4, 0.0)]], rrf_k=1) == [(2, 1 / 2 + 1 / 3), (4, 1 / 2 + 1 / 3)]
    assert fuse([], rrf_k=60) == []


# ---------------------------------------------------------------- sentences


@pytest.mark.parametrize(("text", "expected"), [
    ("It is made in the U.S. The plant is new.", ["It is made in the U.S.", "The plant is new."]),
    ("U.S. companies lead. Prices fell 2.5 percent.", ["U.S. companies lead.", "Prices fell 2.5 percent."]),
    ("Costs fell, e.g. for cells. Then rose.", ["Costs fell, e.g. for cells.", "Then rose."]),
    ("Dr. Smith came. He left!", ["Dr. Smith came.", "He left!"]),
    ("Is it new? Yes. it is.", ["Is it new?", "Yes. it is."]),
    ("No end", ["No end"]),
])
def test_split_sentences_keeps_initialisms_decimals_and_abbreviations_whole(text: str, expected: list[str]) -> None:
    spans = split_sentences(text, offset=100)
    assert [s.text for s in spans] == expected
    assert all(text[s.start - 100:s.end - 100] == s.text for s in spans)


def test_a_sentence_too_long_to_cite_is_cut_at_clause_marks_then_spaces_with_its_offsets() -> None:
    text = "Intro. The " + ", ".join(f"clause number {i} of a very long legal sentence" for i in range(40)) + "."
    parts = cut_long(split_sentences(text, offset=10), 300, lambda _t: True)
    assert parts[0].text == "Intro." and len(parts) > 3
    assert all(len(p.text) <= 300 for p in parts)
    assert all(p.text.endswith(",") for p in parts[1:-1])  # each cut at a clause mark
    assert all(text[p.start - 10:p.end - 10] == p.text for p in parts)
    assert " ".join(p.text for p in parts) == text  # nothing lost, nothing repeated


def test_text_with_no_full_stop_is_cut_at_spaces_and_text_with_no_space_at_the_limit() -> None:
    transcript = " ".join(["so we went down to the river and"] * 200)
    parts = cut_long(split_sentences(transcript), 500, lambda _t: True)
    assert all(len(p.text) <= 500 for p in parts) and " ".join(p.text for p in parts) == transcript
    unspaced = "电池" * 700
    parts = cut_long(split_sentences(unspaced), 600, lambda t: len(t) <= 250)  # as if one piece a character
    assert all(len(p.text) <= 250 for p in parts) and "".join(p.text for p in parts) == unspaced


def test_a_sentence_that_fits_is_left_whole_and_a_cut_always_ends() -> None:
    spans = split_sentences("A short one. Another short one.")
    assert cut_long(spans, 600, lambda _t: True) == spans
    assert [p.text for p in cut_long(split_sentences("x y"), 600, lambda _t: False)] == ["x", "y"]


def test_sentences_are_cut_to_fit_under_their_heading_unless_the_heading_fills_the_limit() -> None:
    def fits(text: str) -> bool:  # as if one word piece a word
        return len(text.split()) <= 60

    def sentences(heading: str, body: str) -> list[str]:
        doc = parse_markdown("a.md", f"# Title\n\n## {heading}\n\n{body}\n", "0")
        return [s.text for s in chunk_documents([doc], 3, 1, fits=fits, max_sentence_chars=600)[0]]

    long_body = " ".join(["word"] * 100) + "."
    assert all(len(t.split()) + 2 <= 60 for t in sentences("Short heading", long_body))
    assert sentences(" ".join(["very"] * 80), "A normal sentence here. Another one.") == [
        "A normal sentence here.", "Another one."]


# ---------------------------------------------------------------- parsing


def test_markdown_headings_lists_and_paragraphs_become_blocks_with_exact_offsets() -> None:
    text = "# Title\n\nIntro line one\nline two.\n\n## Part\n\n- first item\n- second item\n\n### Why?\n\nBecause.\n"
    doc = parse_markdown("x/notes.md", text, "sha")
    assert doc.title == "Title"
    assert [(b.headings, b.text) for b in doc.blocks] == [
        (("Title",), "Intro line one\nline two."),
        (("Title", "Part"), "first item"),
        (("Title", "Part"), "second item"),
        (("Title", "Part", "Why?"), "Because."),
    ]
    assert all(text[b.start:b.end] == b.text for b in doc.blocks)


def test_a_fenced_code_block_is_one_block_and_its_comment_lines_are_no_headings() -> None:
    text = ("# Setting up\n\nInstall it first.\n\n```bash\n# install the tools\npip install thing\n\n- not an item\n"
            "```\n\n## Usage\n\nRun it.\n\n~~~\nnever closed # still code\n")
    doc = parse_markdown("x/setup.md", text, "sha")
    assert [(b.headings, b.text) for b in doc.blocks] == [
        (("Setting up",), "Install it first."),
        (("Setting up",), "# install the tools\npip install thing\n\n- not an item"),
        (("Setting up", "Usage"), "Run it."),
        (("Setting up", "Usage"), "never closed # still code"),
    ]
    assert all(text[b.start:b.end] == b.text for b in doc.blocks)


def test_underlined_headings_and_separator_lines_are_read_as_structure_not_text() -> None:
    markdown = ("The Town\n========\n\nIt is old.\n\nHistory\n-------\n\nFounded in 911.\n\n---\n\n* * *\n\n"
                "- an item\n---\n\nThe end.\n")
    doc = parse_markdown("x/town.md", markdown, "sha")
    assert doc.title == "The Town"
    assert [(b.headings, b.text) for b in doc.blocks] == [
        (("The Town",), "It is old."), (("The Town", "History"), "Founded in 911."),
        (("The Town", "History"), "an item"), (("The Town", "History"), "The end."),
    ]
    plain = "The Town\n========\n\nIt is old.\n\nHistory\n-------\nFounded in 911.\n\n***\n\nThe end.\n"
    doc = parse_plain("x/town.txt", plain, "sha")
    assert doc.title == "The Town"
    assert [(b.headings, b.text) for b in doc.blocks] == [
        (("The Town",), "It is old."), (("The Town", "History"), "Founded in 911."),
        (("The Town", "History"), "The end."),
    ]


def test_a_byline_and_a_date_under_the_title_are_text_not_sections() -> None:
    """They were read as two headings, the second replacing the first: the author's name was
    lost, and every sentence was filed under "March 3, 2021"."""
    text = ("How Cities Cool Down\nBy Maria Lopez\nMarch 3, 2021\n\nCities plant trees to fight heat.\n\n"
            "By The Sea\nShade matters most where fewer trees grow.\n")
    doc = parse_plain("x/cool.txt", text, "sha")
    assert doc.title == "How Cities Cool Down"
    assert [(b.headings[1:], b.text) for b in doc.blocks] == [
        ((), "By Maria Lopez\nMarch 3, 2021"), ((), "Cities plant trees to fight heat."),
        (("By The Sea",), "Shade matters most where fewer trees grow."),  # further down, a heading again
    ]


def test_markdown_front_matter_is_left_out_and_gives_the_title() -> None:
    text = '---\ntitle: "Why Cities Plant Trees"\ndate: 2021-03-03\n---\n\nCities plant trees.\n\n## Costs\n\nCheap.\n'
    doc = parse_markdown("x/post.md", text, "sha")
    assert doc.title == "Why Cities Plant Trees"
    assert [b.text for b in doc.blocks] == ["Cities plant trees.", "Cheap."]
    assert all(text[b.start:b.end] == b.text for b in doc.blocks)
    assert parse_markdown("x/rule.md", "---\n\nA rule, then text.\n", "sha").blocks[0].text == "A rule, then text."


def test_a_markdown_table_row_is_a_block_read_cell_by_cell_and_its_rule_is_left_out() -> None:
    """A table was one paragraph holding its "|:---|---:|" rule, and with no full stop in it
    one sentence: a question on one row quoted the whole table."""
    text = "# Trees\n\n| City | Trees planted |\n|:-----|------:|\n| Paris | 20,000 |\n|  Lyon  | 5,000|\n| |\n\nThe end.\n"
    doc = parse_markdown("x/trees.md", text, "sha")
    assert [b.text for b in doc.blocks] == ["City | Trees planted", "Paris | 20,000", "Lyon  | 5,000", "The end."]
    assert all(text[b.start:b.end] == b.text for b in doc.blocks)


def test_plain_text_finds_headings_questions_items_and_one_line_paragraphs() -> None:
    text = ("Eldermere\n\nA town on a river. It is old.\nIt has a bridge\nthat is long.\n\nFacts\n- Founded in 911\n\n"
            "Questions\nHow old is it?\nVery old, over a thousand years.\n")
    doc = parse_plain("town.txt", text, "sha")
    assert doc.title == "Eldermere"
    assert [(b.headings[1:], b.text) for b in doc.blocks] == [
        ((), "A town on a river. It is old."),
        ((), "It has a bridge\nthat is long."),
        (("Facts",), "Founded in 911"),
        (("Questions", "How old is it?"), "Very old, over a thousand years."),
    ]
    assert all(text[b.start:b.end] == b.text for b in doc.blocks)


# ---------------------------------------------------------------- follow-ups

NAMES = frozenset({"china", "europe", "u.s."})


@pytest.mark.parametrize(("question", "history", "expected"), [
    ("What about Europe?", ("How does China keep costs low?",), "How does Europe keep costs low?"),
    ("and the U.S.?", ("What share does China have?",), "What share does the U.S. have?"),
    ("Where does it get its lithium?", ("What does China lead in?",), "Where does China get China's lithium?"),
    ("and europe? where does it want its materials from?", ("How does China get cobalt?",),
     "where does europe want europe's materials from?"),
    ("How do they pay for it?", ("What role do startups play?",), "What role do startups play? How do they pay for it?"),
    ("By when?", ("What share is Europe aiming for?",), "What share is Europe aiming for? By when?"),
    ("What does Europe focus on?", ("How does China keep costs low?",), "What does Europe focus on?"),
    ("What does Europe focus on?", (), "What does Europe focus on?"),
    # The new subject takes the place of the first named thing only, and keeps its noun.
    ("What about the European powers?", ("When did the U.S. and Japan sign their first treaty?",),
     "When did the European powers and Japan sign their first treaty?"),
    ("What about Europe's factories?", ("How many workers does China have?",),
     "How many workers does Europe have? factories"),
    ("And the U.S. targets?", ("What are China's goals?",), "What are the U.S.'s goals? targets"),
    ("What about the British traders?", ("Where did China's ships sail?",), "Where did the British traders' ships sail?"),
    # After "the", "us" is no pronoun: it is the name the corpus writes "U.S.".
    ("and the us?", ("What share does China have?",), "What share does the U.S. have?"),
    ("and the U.S.?", ("What is United States' share?",), "What is the U.S.'s share?"),
    # A name keeps the "the" it is written with, and one typed without it takes none.
    ("And Europe?", ("What is the US trying to achieve?",), "What is Europe trying to achieve?"),
    ("Where does it get its lithium?", ("What does the U.S. lead in?",), "Where does the U.S. get the U.S.'s lithium?"),
    ("It leads?", ("Does the U.S. lead?",), "Does the U.S. lead? The U.S. leads?"),
    # A pronoun before the new name stands for what it stood for before.
    ("What did she write to Rome about?", ("When did Mary Rangeley visit Paris?",),
     "What did Mary Rangeley write to Rome about?"),
    # "theirs" stands for the thing the previous question named: that question stays beside it.
    ("When did the Danes open theirs?", ("When did the town open its first mill?",),
     "When did the town open its first mill? When did the Danes open theirs?"),
])
def test_resolve_follow_ups(question: str, history: tuple[str, ...], expected: str) -> None:
    searched, leaned = resolve(question, history, NAMES)
    assert searched == expected
    assert leaned == (searched != question)


ANSWERS = {"who is leading the race?": "China", "Who designed the lighthouse?": "Tomas Reyes",
           "Who was the first consul in Japan?": "Townsend Harris", "Who taught Abbott?": "Mr Smith",
           "Which region builds gigafactories?": "Europe", "Who did Abbott marry?": "Mary Rangeley"}


def answered_name(question: str, earlier: tuple[str, ...]) -> str | None:
    """Stands in for `Engine._answered_name`: the name the article gave to an earlier question."""
    return ANSWERS.get(question)


@pytest.mark.parametrize(("question", "history", "expected"), [
    # After "who did it", a pronoun for a person or a group stands for the answer...
    ("how do they keep their costs low?", ("who is leading the race?",), "how do China keep China's costs low?"),
    ("Why does it care about sourcing?", ("Which region builds gigafactories?",), "Why does Europe care about sourcing?"),
    # ... "it" after "who" is the thing the question spoke of: the previous question stays beside it.
    ("When did he design it?", ("Who designed the lighthouse?",),
     "Who designed the lighthouse? When did Tomas Reyes design it?"),
    # After a question that names someone, only a person pronoun ("he") can be the answer.
    ("When did he get to Shimoda?", ("Who was the first consul in Japan?",), "When did Townsend Harris get to Shimoda?"),
    ("What is its capital?", ("Who was the first consul in Japan?",),
     "Who was the first consul in Japan? What is Japan's capital?"),
    # A pronoun after a name the question holds stands for that name.
    ("Where did Abbott meet his wife?", ("Who taught Abbott?",), "Where did Abbott meet Abbott's wife?"),
    # "Who did Abbott marry?" asks for the object: "they" is not the answer.
    ("how many children did they have?", ("Who did Abbott marry?",),
     "Who did Abbott marry? how many children did Abbott have?"),
    # No answer (the article declined): as before.
    ("When did he build it?", ("Who built the castle?",), "Who built the castle? When did he build it?"),
])
def test_a_pronoun_after_a_who_question_stands_for_its_answer(question: str, history: tuple[str, ...],
                                                              expected: str) -> None:
    searched, leaned = resolve(question, history, frozenset({"china", "europe", "japan", "abbott"}), answered_name)
    assert searched == expected
    assert leaned


@pytest.mark.parametrize(("question", "quote", "before", "name"), [
    # The name closest to the question's words: the one who wrote, not the book.
    ("who wrote it?", "This was Flatland: a romance of many dimensions which Abbott wrote under a pseudonym.", "",
     "Abbott"),
    # Not a name the question holds, in any form; a capitalised first word that runs into a name is kept.
    ("Who was the first U.S. consul in Japan?", "The first U.S. consul assigned to a Japanese port was Townsend Harris.",
     "", "Townsend Harris"),
    ("Which president authorized the expedition?", "In 1851, President Millard Fillmore authorized an expedition.", "",
     "Millard Fillmore"),
    ("Who founded the school?", "Margaret Holloway, a weaver's daughter, founded the school.", "", "Margaret Holloway"),
    # A quote that names no one: the last name of the sentence before it, which its pronoun stands for.
    ("Which region builds gigafactories?", "They are establishing gigafactories.", "After China came Europe.", "Europe"),
    ("Who built the fort?", "Settlers from the north built a wooden fort above the river.", "", None),
])
def test_the_name_that_answers_a_who_question(question: str, quote: str, before: str, name: str | None) -> None:
    assert name_answering(question, quote, before, frozenset({"flatland", "abbott", "river"})) == name


@pytest.mark.parametrize(("question", "asks"), [
    ("who is leading the battery race?", True), ("Which president authorized the expedition?", True),
    ("Who was the first U.S. consul in Japan?", True), ("Who will contact me?", True),
    ("Who did Abbott marry?", False), ("Which college did he attend?", False), ("Who is Abbott?", False),
    ("What role do startups play?", False), ("Where is it building factories?", False),
    ("who was perry?", False),  # "perry" is a name of the corpus: the answer describes him
])
def test_which_questions_ask_who_did_something(question: str, asks: bool) -> None:
    assert asks_who_did(question, frozenset({"perry"})) is asks


@pytest.mark.parametrize(("text", "written"), [
    ("what about the united states", "what about the United States"),
    ("bosnia and herzegovina exports?", "Bosnia and Herzegovina exports?"),
    ("and india?", "and india?"),  # one word: a name already (is_name)
    ("we are united", "we are united"),
    ("the new zealand", "the New Zealand"),
])
def test_countries_of_several_words_typed_in_lower_case_are_written_as_names(text: str, written: str) -> None:
    assert with_country_capitals(text) == written


def test_a_follow_up_naming_a_country_in_lower_case_swaps_it_in() -> None:
    query = analyse("what about the united states", ("What share does China have?",), NAMES, frozenset({"share"}),
                    frozenset({"share", "china"}))
    assert query.searched_for == "What share does the United States have?"


@pytest.mark.parametrize(("term", "name"), [
    ("india", True), ("korea", True), ("korean", True), ("koreans", True), ("japanese", True), ("german", True),
    ("Tesla", True), ("li-ion", True), ("2030", True),
    ("prices", False), ("worldwide", False), ("government", False),
])
def test_what_counts_as_a_name_the_question_holds(term: str, name: bool) -> None:
    assert is_name(term) is name


# ---------------------------------------------------------------- staleness


def _inputs(**changes: object) -> dict:
    inputs = {"format_version": 6, "corpus": {"a.md": "1", "b.md": "2"}, "model": "m",
              "chunking": {"window_sentences": 3}, "vector_index": {"hnsw_m": 32}, "query_model": {"onnx": True}}
    inputs.update(changes)
    return inputs


@pytest.mark.parametrize(("stored", "says"), [
    (_inputs(), None),
    (_inputs(format_version=5), "index format 5 != 6"),
    (_inputs(corpus={"a.md": "1"}), "corpus added b.md"),
    (_inputs(corpus={"a.md": "1", "b.md": "2", "c.md": "3"}), "corpus removed c.md"),
    (_inputs(corpus={"a.md": "9", "b.md": "2"}), "corpus changed a.md"),
    (_inputs(model="other"), "model settings differ"),
    (_inputs(chunking={"window_sentences": 2}), "chunking settings differ"),
])
def test_stale_reason_names_what_changed(stored: dict, says: str | None) -> None:
    reason = stale_reason(stored, _inputs())
    assert reason == says if says is None else says in reason


# ---------------------------------------------------------------- ONNX runs


def test_onnx_runs_keep_a_short_name_apart_from_a_long_question() -> None:
    from qa.onnx_model import RUN_COST_PIECES, runs

    assert runs([3, 21], 64) == [(0, 1), (1, 2)]  # 14 + 3 + 14 + 21 < 14 + 2 x 21
    assert runs([20, 21, 22], 64) == [(0, 3)]  # about one length: one run
    assert runs([5] * 10, 4)[-1][1] == 10 and all(end - start <= 4 for start, end in runs([5] * 10, 4))
    assert runs([], 64) == []
    lengths = [2, 3, 3, 9, 10, 40]
    cuts = runs(lengths, 64)
    assert [i for run in cuts for i in range(*run)] == list(range(len(lengths)))  # each text once, in order
    cost = sum(RUN_COST_PIECES + (end - start) * lengths[end - 1] for start, end in cuts)
    assert cost <= RUN_COST_PIECES + len(lengths) * 40  # never worse than one run of all
    # Side by side (two lanes): a question and one name are two runs even when one would cost less.
    assert runs([10, 12], 64) == [(0, 2)] and runs([10, 12], 64, lanes=2) == [(0, 1), (1, 2)]
    assert runs([5] * 3, 64, lanes=2) == [(0, 3)] and runs([7], 64, lanes=2) == [(0, 1)]


# ---------------------------------------------------------------- typing slips


def test_a_hyphenated_pair_is_read_as_the_corpus_writes_it_closed_or_hyphenated() -> None:
    from qa.spelling import Speller

    speller = Speller(["lighthouse", "stone", "bridge", "lithium-ion", "lithium", "ion"], frozenset(),
                      is_word=lambda word: True)
    assert speller.correct("Who designed the light-house?") == "Who designed the lighthouse?"
    assert speller.correct("Who designed the Light-House?") == "Who designed the Lighthouse?"
    assert speller.correct("Is the stone-bridge old?") == "Is the stone-bridge old?"  # not one word there
    assert speller.correct("What is lithium-ion?") == "What is lithium-ion?"  # the corpus writes the hyphen
    assert speller.correct("What is lithiumion?") == "What is lithium-ion?"  # ... and only with it
    assert speller.correct("Lithiumion cells") == "Lithium-ion cells"


def test_a_word_typed_without_the_corpus_accents_is_read_with_them() -> None:
    from qa.spelling import Speller

    speller = Speller(["göttingen", "são", "paulo", "straße", "résumé", "resume", "zurich", "studied"], frozenset(),
                      is_word=lambda word: True)
    assert speller.correct("Who studied at Gottingen?") == "Who studied at Göttingen?"
    assert speller.correct("WHO STUDIED AT GOTTINGEN?") == "WHO STUDIED AT GÖTTINGEN?"
    assert speller.correct("What is in Sao Paulo?") == "What is in São Paulo?"
    assert speller.correct("Who is Gottingen's mayor?") == "Who is Göttingen's mayor?"
    assert speller.correct("Who is Gottingen'x?") == "Who is Gottingen'x?"  # no word of the corpus
    assert speller.correct("Which strasse?") == "Which straße?"
    assert speller.correct("Who moved to Zürich?") == "Who moved to Zurich?"  # the corpus writes no accent there
    assert speller.correct("Is it a resume?") == "Is it a resume?"  # a corpus word as typed
    assert speller.correct("Is it a resumé?") == "Is it a resumé?"  # two corpus words of that spelling
    plain = Speller(["gottingen", "studied"], frozenset(), is_word=lambda word: True)
    assert plain.unaccented == {} and plain.correct("Who studied at Göttingen?") == "Who studied at Göttingen?"


def test_a_slip_is_read_as_the_one_corpus_word_an_edit_away() -> None:
    from qa.spelling import Speller

    vocabulary = {"spain", "making", "letter"}  # stands in for the model's whole words
    speller = Speller(["lithium", "recycling", "battery", "batter", "better", "lighthouse"], frozenset({"batteri"}),
                      is_word=lambda word: word in vocabulary)
    assert speller.correct("how much lithum is recyling worth") == "how much lithium is recycling worth"
    assert speller.correct("ltihium and lighthose") == "lithium and lighthouse"  # swapped, left out
    assert speller.correct("Lithum") == "Lithum"  # capitalised: perhaps a name the corpus lacks
    assert speller.correct("does spain keep making it") == "does spain keep making it"  # real words stay
    assert speller.correct("bettery") == "bettery"  # two corpus words one edit away: no guess
    assert speller.correct("batterys lith") == "batterys lith"  # its stem is known; too short


def test_a_possessive_typed_without_its_apostrophe_is_read_as_one_where_the_corpus_writes_it() -> None:
    from qa.spelling import Speller, possessed_names

    texts = ["China’s share grew. Europe's plan is new.", "Americans buy cars. The American market and China."]
    names = frozenset({"china", "europe", "american"})
    possessed = possessed_names(texts, names)
    assert possessed == {"china", "europe"}  # the corpus never writes "American's"
    speller = Speller(["americans", "share", "grew"], frozenset(), is_word=lambda word: True, names=names,
                      possessed=possessed)
    assert speller.correct("what is chinas share") == "what is china's share"
    assert speller.correct("How do Europes plans differ?") == "How do Europe's plans differ?"
    assert speller.correct("what do americans and Americans buy") == "what do americans and Americans buy"
    assert speller.correct("the chinas' share and chinass") == "the chinas' share and chinass"  # not a bare "s"

# ---------------------------------------------------------------- initialisms and capitals


def test_an_initialism_is_read_as_the_term_the_corpus_spells_it_with() -> None:
    from qa.acronyms import Acronyms

    sentences = ["Electric vehicles need batteries.", "Sales of electric vehicles doubled.",
                 "An electric vehicle is quiet.", "The Department of Energy funds research.",
                 "The Department of Energy said so.", "Every vote counts.", "Rates of pay rose; rates of pay fell.",
                 "Rising prices hurt.", "Rising prices again.", "Retail prices fell.", "Retail prices rose.", "NP problems are hard."]
    acronyms = Acronyms(sentences, frozenset({"n.p.", "problems", "electric", "vehicles"}))
    assert acronyms.expand("Do EV batteries last?") == "Do electric vehicles batteries last?"  # the form used most
    assert acronyms.expand("How many EVs sold?") == "How many electric vehicles sold?"
    assert acronyms.expand("What did the DOE fund?") == "What did the department of energy fund?"  # a name skips "of"
    assert acronyms.expand("Is NP hard?") == "Is NP hard?"  # the corpus uses it: nothing to read
    assert acronyms.expand("What is the EVC?") == "What is the EVC?"  # no run spells it
    assert acronyms.expand("What about RP?") == "What about RP?"  # two terms spell it, neither twice as often
    assert acronyms.expand("Is it OK?") == "Is it OK?"  # "rates of pay" skips a stop word outside a name



def test_an_initialism_no_term_spells_is_read_as_the_one_heading_it_spells() -> None:
    from qa.acronyms import Acronyms

    texts = ["# Frequently Asked Questions\nStartups matter.", "# Key Takeaways\nKeep it short.",
             "# Known Risks\nFloods.", "# Kitchen Rules\nWash up.", "# How Do Cells Age?\nSlowly."]
    headings = ["Frequently Asked Questions", "Key Takeaways", "Known Risks", "Kitchen Rules",
                "How Do Cells Age?", "Frequently Asked Questions"]
    acronyms = Acronyms(texts, frozenset(), headings=headings)
    assert acronyms.expand("What does the FAQ say?") == "What does the frequently asked questions say?"
    assert acronyms.expand("List the KTs.") == "List the key takeaways."
    assert acronyms.expand("What are the KR?") == "What are the KR?"  # two headings spell it: no reading
    assert acronyms.expand("Why does HDCA?") == "Why does HDCA?"  # a heading that asks is no name
    assert Acronyms(texts, frozenset()).expand("What does the FAQ say?") == "What does the FAQ say?"  # no headings given
def test_a_name_the_corpus_writes_as_an_initialism_is_read_as_that_initialism() -> None:
    from qa.acronyms import Acronyms

    texts = ["# Rail in the North\n## The Northern Rail Systems\nThe NRS built the line. The NRS runs the trains.",
             "# Power\nThe Department of Energy (DOE) funds labs. The DOE said so. The DOE again.",
             "# Classes\nThe class PP is hard. PP holds NP. The Millennium Prize Problems are famous.",
             "# Maps\nThe World Atlas is old. The World Atlas is big. The WA is a WA.",
             "# Does China\nDC rose. DC fell."]
    acronyms = Acronyms(texts, frozenset(), {"n.r.s.": "Rail in the North > The Northern Rail Systems",
                                             "p.p.": "Classes", "w.a.": "Maps", "d.c.": "Does China"})
    # Tied by the heading of the section that uses the initialism most, or by brackets.
    assert acronyms.abbreviate("What did the Northern Rail Systems build?") == "What did the NRS build?"
    assert acronyms.abbreviate("Who runs the Northern Rail Systems’ trains?") == "Who runs the NRS’s trains?"
    assert acronyms.abbreviate("Are the Northern Rail Systems’s trains late?") == "Are the NRS’s trains late?"
    assert acronyms.abbreviate("What does the Department of Energy fund?") == "What does the DOE fund?"
    # Initials the corpus uses for something else: nothing ties "Prize Problems" to the class PP.
    assert acronyms.abbreviate("Who solved the Prize Problems?") == "Who solved the Prize Problems?"
    # A name the corpus writes as often as half its initialism's uses is left as it is.
    assert acronyms.abbreviate("How old is the World Atlas?") == "How old is the World Atlas?"
    # A stop word opening the question is no part of a name, even where a heading ties "DC" to it.
    assert acronyms.abbreviate("Does China lead?") == "Does China lead?"


def test_a_question_typed_in_capitals_names_nothing_by_its_capitals() -> None:
    from qa.query import unshouted

    assert unshouted("WHAT IS CHINA'S SHARE?") == "what is china's share?"
    assert unshouted("What is China's share?") == "What is China's share?"
    assert unshouted("??? 42") == "??? 42"


# ---------------------------------------------------------------- what a figure question measures


@pytest.mark.parametrize(("question", "measured"), [
    ("How big a share of the market does Europe want?", ("market", "europe")),  # "share" is only a kind of figure
    ("What is the price of lithium?", ("price", "lithium")),  # the price itself is measured
    ("How many billions of dollars were spent?", ("billions", "dollars", "spent")),
    ("What percentage of cells are recycled?", ("cells", "recycled")),
    ("Who founded the town?", ()),
])
def test_a_figure_question_measures_things_not_kinds_of_figure(question: str, measured: tuple[str, ...]) -> None:
    from qa.query import measured_terms

    assert measured_terms(question) == measured


@pytest.mark.parametrize(("question", "measured"), [
    ("How many ships did he bring?", ("ships",)),  # the clause's verb is not what is counted
    ("How much lithium does Europe mine?", ("lithium",)),
    ("How many billions of dollars were spent?", ("billions", "dollars")),
    ("How much does the exam cost?", ("exam", "cost")),  # the subject follows the verb
    ("What is the price of lithium per tonne?", ("price", "lithium", "tonne")),
    ("What is China's share (approximately)?", ()),  # a bracket ends the phrase; a share is only a kind of figure
    ("How many ships, roughly, did he bring?", ("ships",)),
    ("How much did the U.S. capacity grow?", ("u.s.", "capacity", "grow")),  # full stops of an initialism do not end it
    ("What is China's share as of today?", ()),  # when, not what
    ("How much lithium does China mine currently?", ("lithium",)),
    ("How many times a day does the ferry cross?", ("day",)),  # a count of occasions, not a thing
    ("How much time does the journey take?", ()),  # a span
])
def test_up_to_its_verb_a_figure_question_measures_only_its_noun_phrase(question: str, measured: tuple[str, ...]) -> None:
    from qa.query import measured_terms

    assert measured_terms(question, up_to_verb=True) == measured


@pytest.mark.parametrize(("question", "unknown"), [
    ("What happened in the 1850s?", ()),  # the corpus writes 1853
    ("What happened in the 1860s?", ("1860s",)),
    ("Why did Japan matter in the 1800s?", ()),  # a century: 1800-1899
    ("What changed in the 910s?", ()),  # 911
    ("Who ruled in the 17th century?", ()),  # 1641
    ("Who ruled in the 12th century?", ("12th",)),
    ("Who was the 19th president?", ("19th",)),  # an ordinal is a century only beside "century"
])
def test_a_decade_or_century_the_corpus_writes_a_year_of_is_known(question: str, unknown: tuple[str, ...]) -> None:
    from qa.query import unknown_names

    corpus_words = frozenset({"1853", "911", "1641", "japan", "ruled", "happened", "changed", "matter"})
    assert unknown_names(question, frozenset({"japan", "rule", "happen", "chang", "matter"}), corpus_words) == unknown


def test_a_verb_the_corpus_never_uses_is_no_name_it_lacks() -> None:
    from qa.query import unknown_names

    corpus = frozenset({"ship", "perri", "lead", "harbor"})
    assert unknown_names("How many ships did he bring?", corpus) == ()
    assert unknown_names("How many ships did Perry bring?", corpus) == ()
    assert unknown_names("How many galleons did Perry lead?", corpus) == ("galleons",)  # the counted thing is
    assert unknown_names("How many ships did Drake lead?", corpus) == ("Drake",)


@pytest.mark.parametrize("question", ["What if I'm sick on exam day?", "What if I’m late?", "I've lost the letter, what now?",
                                      "Where I'd park?", "When I'll know?", "So, OK, what now?", "FYI what now?",
                                      "What is the share? Thanks!", "What now? Hello?"])
def test_chat_words_and_the_capitals_that_open_a_sentence_mark_no_name(question: str) -> None:
    from qa.query import unknown_names

    assert unknown_names(question, frozenset()) == ()


def test_a_name_after_a_follow_ups_question_mark_is_still_a_name() -> None:
    """A follow-up is searched with the names before it in brackets: "(Soviets, Berlin)"."""
    from qa.query import unknown_names

    assert unknown_names("when did it end? (Soviets, Berlin)", frozenset({"end"})) == ("Soviets", "Berlin")
    assert unknown_names("What did the U.S. Navy do?", frozenset({"u.s."})) == ("Navy",)  # an initialism ends no sentence


@pytest.mark.parametrize(("question", "wants_gist"), [
    ("What is the article about?", True),
    ("what is this page about?", True),
    ("Give me a quick summary", True),
    ("Key takeaways?", True),
    ("what is the main takeaway", True),
    ("What are the main ideas of the text?", True),
    ("give me the gist of this biography", True),
    ("what's this section about", True),
    ("What is the bridge about?", False),  # names a topic
    ("What is the main idea behind the bridge's design?", False),
    ("Give me an overview of the wool trade", False),
])
def test_a_request_for_the_gist_names_no_topic(question: str, wants_gist: bool) -> None:
    from qa.query import is_summary_request

    assert is_summary_request(question) is wants_gist


# ---------------------------------------------------------------- percentages


@pytest.mark.parametrize(("words", "value"), [("seventy", 70), ("twenty-five", 25), ("twenty five", 25),
                                              ("a hundred", 100), ("two hundred and five", 205), ("nineteen", 19),
                                              ("a", None), ("hundred", None), ("half", None), ("and", None),
                                              ("seven eight", None), ("ten hundred", None), ("seventy one", 71)])
def test_number_words_say_a_whole_number_or_none(words: str, value: int | None) -> None:
    assert number_from_words(words) == value


@pytest.mark.parametrize(("typed", "written"), [
    ("Does China make seventy percent of them?", "Does China make 70% of them?"),
    ("is it 70 per cent?", "is it 70%?"),
    ("was it 60 or 70 percent?", "was it 60% or 70%?"),
    ("is it 20-30 pct?", "is it 20%-30%?"),
    ("is it 70%?", "is it 70%?"),
    ("is it eighty percent?", "is it 80%?"),  # written in neither form: as a reply can quote it
    ("is it 2.5 percent?", "is it 2.5%?"),
    ("does it grow by a percent a year?", "does it grow by a percent a year?"),  # "a percent" is no figure
])
def test_a_percentage_is_written_with_the_sign_where_the_corpus_writes_the_sign(typed: str, written: str) -> None:
    assert percentages_as_written(typed, frozenset({"70%", "30%", "china"})) == written


def test_a_percentage_is_written_in_words_where_the_corpus_writes_it_so() -> None:
    corpus_words = frozenset({"40", "percent", "town"})
    assert percentages_as_written("Do 40% of them fish?", corpus_words) == "Do 40 percent of them fish?"
    assert percentages_as_written("Do forty percent of them fish?", corpus_words) == "Do 40 percent of them fish?"
    assert percentages_as_written("Do 40 percent of them fish?", corpus_words) == "Do 40 percent of them fish?"
    assert percentages_as_written("Is it 40%?", frozenset({"40", "per", "cent"})) == "Is it 40 per cent?"


# ---------------------------------------------------------------- units


@pytest.mark.parametrize(("typed", "written"), [
    ("How many kilometres is it?", "How many km is it?"),
    ("how many KILOMETERS is it", "how many km is it"),
    ("How many hours does it take?", "How many hrs does it take?"),
    ("Is it 12 km?", "Is it 12 km?"),  # the corpus writes it so
    ("How many kilometre-long roads?", "How many kilometre-long roads?"),  # part of another word
    ("How many miles is it?", "How many miles is it?"),  # another unit: as typed
    ("Did he hurt his foot in the square?", "Did he hurt his foot in the square?"),  # no units
])
def test_a_unit_is_written_in_the_form_the_corpus_uses(typed: str, written: str) -> None:
    assert units_as_written(typed, frozenset({"km", "hrs", "12", "feet", "ft"}), frozenset({"km", "hrs", "12"})) == written


def test_a_unit_the_corpus_writes_in_another_number_is_left_as_typed() -> None:
    """"kilometre" and "kilometres" share a stem: the corpus's singular already meets the plural."""
    assert units_as_written("How many kilometres?", frozenset({"kilometre"}), frozenset({"kilometr"})) == "How many kilometres?"


def test_a_small_count_in_figures_is_written_in_words_where_the_corpus_writes_words() -> None:
    from qa.counts import counts_as_written

    words_only = frozenset({"four", "ships", "eight", "1853"})
    assert counts_as_written("Who led 4 ships?", words_only) == "Who led four ships?"
    assert counts_as_written("What happened on 8 July 1853?", words_only) == "What happened on 8 July 1853?"  # a date
    assert counts_as_written("Who led 4% of them?", words_only) == "Who led 4% of them?"  # a percentage
    assert counts_as_written("Who led 4 ships?", words_only | {"4"}) == "Who led 4 ships?"  # the corpus writes it
    assert counts_as_written("Who led four ships?", frozenset({"4"})) == "Who led four ships?"  # words stay


_GROUPED = frozenset({"1,000,000", "1", "prize", "dollars"})
_SCALED = frozenset({"2.5", "million", "1.2", "bn", "4", "visitors"})


@pytest.mark.parametrize(("typed", "corpus_words", "written"), [
    ("Is there a $1 million prize?", _GROUPED, "Is there a $1,000,000 prize?"),
    ("a $1M prize", _GROUPED, "a $1,000,000 prize"),
    ("one million dollars", _GROUPED, "1,000,000 dollars"),
    ("a million dollars", _GROUPED, "1,000,000 dollars"),
    ("1000000 dollars", _GROUPED, "1,000,000 dollars"),
    ("2,500,000 visitors", _SCALED, "2.5 million visitors"),
    ("2500000 visitors", _SCALED, "2.5 million visitors"),
    ("$1.2 billion", _SCALED, "$1.2 bn"),
    ("4 million visitors", _SCALED, "4 million visitors"),  # the corpus writes it so
    ("3 million visitors", _SCALED, "3 million visitors"),  # ... or in no form
    ("In 1853 and 1854", _GROUPED, "In 1853 and 1854"),  # years, not amounts
    ("a 5m wall", frozenset({"5,000,000"}), "a 5m wall"),  # five metres: a letter scales only after a sign
    ("10,000-20,000 visitors", frozenset({"10000"}), "10,000-20,000 visitors"),  # a range stays
])
def test_a_large_amount_is_written_as_the_corpus_writes_it(typed: str, corpus_words: frozenset[str],
                                                           written: str) -> None:
    from qa.amounts import amounts_as_written

    assert amounts_as_written(typed, corpus_words) == written


def test_a_metric_ton_is_a_tonne_and_a_ton_is_not() -> None:
    tonnes = frozenset({"tonnes", "wool"})
    assert units_as_written("How many metric tons of wool?", tonnes, frozenset()) == "How many tonnes of wool?"
    assert units_as_written("One Metric Ton?", tonnes, frozenset()) == "One Tonne?"
    assert units_as_written("How many tons of wool?", tonnes, frozenset()) == "How many tons of wool?"
    assert units_as_written("How many metric tons?", tonnes | {"metric"}, frozenset()) == "How many metric tons?"


def test_money_words_come_from_the_amounts_a_corpus_writes() -> None:
    assert money_words(["The prize is US$1,000,000."], frozenset({"prize"})) == {"money", "dollar", "dollars", "usd"}
    assert money_words(["It cost 5 € a day."], frozenset()) == {"money", "euro", "euros", "eur"}
    assert money_words(["They paid 40 francs."], frozenset({"francs", "paid"})) == {"money"}
    assert money_words(["Solve $x + 1$ for x.", "It costs a lot."], frozenset({"costs"})) == frozenset()  # no amount
    assert money_words(["It cost $5."], frozenset({"money", "dollars"})) == {"dollar", "usd"}  # the corpus's own are not added


# ---------------------------------------------------------------- titles, designators, months


@pytest.mark.parametrize(("typed", "written"), [
    ("When did he enter Saint John's College?", "When did he enter St John's College?"),  # a title
    ("Who was Doctor Mortimer?", "Who was Dr Mortimer?"),
    ("How high is Mt. Fuji?", "How high is Mount Fuji?"),
    ("What did the Zeiss Co. do?", "What did the Zeiss Company do?"),  # a designator
    ("What did Carl Zeiss Co. make?", "What did Carl Zeiss Company make?"),
    ("What happened in Sept 1858?", "What happened in September 1858?"),  # a month
    ("what happened on 3 sept?", "what happened on 3 september?"),
    ("In general, is the company big?", "In general, is the company big?"),  # no name beside them
    ("Who is Gen. Grant?", "Who is Gen. Grant?"),  # the corpus writes neither form
])
def test_a_title_designator_or_month_is_written_as_the_corpus_writes_it(typed: str, written: str) -> None:
    assert titles_as_written(typed, frozenset({"st", "dr", "mount", "september", "company"})) == written


def test_st_is_read_by_its_place_beside_a_name() -> None:
    """"St" before a name is a title ("Saint"), after one a designator ("Street"), even in a
    corpus that writes both long forms."""
    assert titles_as_written("Who is St Paul?", frozenset({"saint", "street"})) == "Who is Saint Paul?"
    assert titles_as_written("Where is Main St?", frozenset({"saint", "street"})) == "Where is Main Street?"
    assert titles_as_written("Who is Saint Paul?", frozenset({"saint"})) == "Who is Saint Paul?"



def test_vs_between_two_terms_is_written_as_the_corpus_writes_it() -> None:
    assert titles_as_written("What is the P vs. NP problem?", frozenset({"versus"})) == "What is the P versus NP problem?"
    assert titles_as_written("Who won Smith versus Jones?", frozenset({"vs"})) == "Who won Smith vs Jones?"
    assert titles_as_written("vs NP?", frozenset({"versus"})) == "vs NP?"  # not between two terms


def test_a_courtesy_title_the_corpus_never_writes_is_dropped() -> None:
    assert titles_as_written("What did Mrs. Holloway found?", frozenset({"holloway"})) == "What did Holloway found?"
    assert titles_as_written("Did Mr Smith meet Ms Jones?", frozenset()) == "Did Smith meet Jones?"
    assert titles_as_written("Did I miss Holloway?", frozenset()) == "Did I miss Holloway?"  # a verb, not a title
    assert titles_as_written("Who is Mrs Jones?", frozenset({"mrs"})) == "Who is Mrs Jones?"  # the corpus writes it

# ---------------------------------------------------------------- numbered names


@pytest.mark.parametrize(("token", "value"), [("II", 2), ("XIV", 14), ("2", 2), ("2nd", 2), ("second", 2),
                                              ("Twentieth", 20), ("IIII", None), ("VX", None), ("0", None),
                                              ("51", None), ("x", None)])
def test_a_number_is_read_in_roman_arabic_and_ordinal_forms(token: str, value: int | None) -> None:
    assert number_value(token) == value


_HARBOUR = NumberedNames.of(["During World War II the harbour was a supply base. In World War I the town sent "
                             "300 men. In Apollo 13 they flew, and Henry VIII ruled."])


@pytest.mark.parametrize(("typed", "written"), [
    ("What was it in WWII?", "What was it in World War II?"),
    ("What was it in ww2?", "What was it in World War II?"),
    ("What was it in World War 2?", "What was it in World War II?"),
    ("What was it in the second world war?", "What was it in the World War II?"),
    ("How many men went to WW1?", "How many men went to World War I?"),
    ("Who flew Apollo XIII?", "Who flew Apollo 13?"),
    ("What did Henry 8th do?", "What did Henry VIII do?"),
    ("What was it in World War II?", "What was it in World War II?"),  # as the corpus writes it
    ("What was the First War?", "What was the First War?"),  # "War I" is no name the corpus numbers
    ("What did I do in 1990?", "What did I do in 1990?"),
])
def test_a_numbered_name_is_written_as_the_corpus_writes_it(typed: str, written: str) -> None:
    assert _HARBOUR.as_written(typed) == written


def test_a_corpus_that_writes_the_ordinal_first_gets_that_form() -> None:
    war = NumberedNames.of(["The Second World War ended in 1945."])
    assert war.as_written("When did World War II end?") == "When did Second World War end?"
    assert war.as_written("When did WWII end?") == "When did Second World War end?"


# ---------------------------------------------------------------- short years


@pytest.mark.parametrize(("typed", "written"), [
    ("What did Perry do in '53?", "What did Perry do in 1853?"),
    ("What happened in July of ’53?", "What happened in July of 1853?"),
    ("what was signed in 58", "what was signed in 1858"),  # where a year goes
    ("What happened in spring 54?", "What happened in spring 1854?"),
    ("What happened in the 1830's?", "What happened in the 1830s?"),
    ("did he wait in 58 days", "did he wait in 58 days"),  # no year: a count
    ("How many ships in 53 ports?", "How many ships in 53 ports?"),
    ("What happened in '39?", "What happened in '39?"),  # 1839 or 1939: the corpus writes both
    ("What happened in '12?", "What happened in '12?"),  # no year of the corpus ends in 12
])
def test_a_short_year_is_the_one_corpus_year_it_can_be(typed: str, written: str) -> None:
    assert years_as_written(typed, frozenset({"1853", "1854", "1858", "1839", "1939", "1830s"})) == written


@pytest.mark.parametrize(("typed", "written"), [
    ("Who came in the 1500s?", "Who came in the 16th century?"),
    ("Who came in the 1500s and 1600s?", "Who came in the 16th century and 1600s?"),  # 1639 is a year of the 1600s
    ("Who came in the 1850s?", "Who came in the 1850s?"),  # a decade
    ("Who came in the 1200s?", "Who came in the 1200s?"),  # no 13th century in the corpus
])
def test_a_century_in_figures_is_written_as_the_corpus_writes_centuries(typed: str, written: str) -> None:
    assert years_as_written(typed, frozenset({"16th", "17th", "1639"})) == written


@pytest.mark.parametrize(("typed", "written"), [
    ("What happened on the 8th of July, 1853?", "What happened on 8 July, 1853?"),
    ("What happened on July 8th?", "What happened on July 8?"),
    ("What happened on 8th July 1853?", "What happened on 8 July 1853?"),
    ("What is the 8th of the list?", "What is the 8th of the list?"),  # no month
])
def test_a_day_typed_as_an_ordinal_is_a_figure_where_the_corpus_writes_days_so(typed: str, written: str) -> None:
    assert years_as_written(typed, frozenset({"july", "8", "1853"})) == written
    assert years_as_written(typed, frozenset({"july", "8th", "8"})) == typed  # the corpus writes "8th"


@pytest.mark.parametrize(("typed", "written"), [
    ("What happened in AD 911?", "What happened in 911?"),
    ("What happened in 911 A.D.?", "What happened in 911?"),
    ("Was it built between 900 CE and 1041 CE?", "Was it built between 900 and 1041?"),
    ("What happened in 300 BC?", "What happened in 300 BC?"),  # another era: kept
    ("Who dealt 3 AD cards?", "Who dealt 3 AD cards?"),  # no year
])
def test_the_common_eras_marker_is_dropped_where_the_corpus_never_writes_it(typed: str, written: str) -> None:
    assert years_as_written(typed, frozenset({"911", "1041"})) == written
    assert years_as_written(typed, frozenset({"911", "a.d.", "ce"})) == typed  # the corpus writes it


@pytest.mark.parametrize(("typed", "digits", "words"), [
    ("What happened in the nineteenth century?", "What happened in the 19th century?",
     "What happened in the nineteenth century?"),
    ("Who traded in the 16th and 17th centuries?", "Who traded in the 16th and 17th centuries?",
     "Who traded in the sixteenth and seventeenth centuries?"),
    ("What is the first chapter?", "What is the first chapter?", "What is the first chapter?"),  # no century
])
def test_a_centurys_ordinal_is_written_as_the_corpus_writes_it(typed: str, digits: str, words: str) -> None:
    assert years_as_written(typed, frozenset({"16th", "17th", "19th"})) == digits
    assert years_as_written(typed, frozenset({"sixteenth", "seventeenth", "nineteenth"})) == words
