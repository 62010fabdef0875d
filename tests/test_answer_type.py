"""What a question asks for and what a sentence can give: rules of English, checked on small
inputs with no model (milliseconds)."""

from __future__ import annotations

import pytest

from qa import answer_type as at
from qa.query import is_name, typed_terms, unknown_terms, without_markup


@pytest.mark.parametrize(("text", "expected"), [
    ("The duchy was founded in 911.", "in 911"),
    ("In 1041 the abbot returned.", "In 1041"),
    ("In the 880s raiders burned the village.", "the 880s"),
    ("By the 9th century the valley was settled.", "9th century"),
    ("During the 10th and 11th centuries the fort grew.", "10th and 11th centuries"),
    ("Capacity grew by 50% in the last year alone.", "last year"),
    ("Europe aims for 30% of the market by 2030.", "by 2030"),
    ("It was signed on 31 March 1854.", "31 March"),
    ("It was signed on March 31, 1854.", "March 31"),
    ("Charlemagne was crowned in AD 800.", "AD 800"),
    ("Two years later the treaty lapsed.", "Two years later"),
    ("The war ended in the spring of '45.", "of '45"),
    ("The mill closed in the late forties.", "late forties"),
    ("The bridge was built during the reign of a duke.", "reign of"),
    ("Tools changed in the Bronze Age.", "Bronze Age"),
    ("The castle fell in the late Middle Ages.", "Middle Ages"),
    ("The port stayed closed for most of the Edo period.", "Edo period"),
    ("Trade grew under the Tang dynasty.", "Tang dynasty"),
])
def test_dates_of_every_era_and_form_are_found(text: str, expected: str) -> None:
    assert expected in at.dates(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("The derby is played every April.", "every April"),
    ("Each summer the ferry returns.", "Each summer"),
    ("The museum closes on Mondays.", "on Mondays"),
])
def test_a_recurring_time_is_a_date(text: str, expected: str) -> None:
    assert expected in at.dates(text)


@pytest.mark.parametrize("text", ["In March, the Soviets withdrew.", "It opens in April.", "It runs each day."])
def test_a_bare_month_in_a_story_is_no_date(text: str) -> None:
    """A month without its year, in a narrative, is a date the sentence does not give whole."""
    assert not at.dates(text)


@pytest.mark.parametrize("text", ["The period of growth lasted long.", "This era ended badly.", "Each period has a name."])
def test_a_period_named_by_no_name_is_no_date(text: str) -> None:
    assert not at.dates(text)


@pytest.mark.parametrize("text", ["China holds over 70% of production.", "It costs 2.5 dollars.",
                                  "The mills employ four hundred people.", "A dozen ships came."])
def test_percentages_and_plain_figures_are_not_dates_but_are_numbers(text: str) -> None:
    assert not at.dates(text)
    assert at.has_number(text)


def test_number_words_count_as_figures() -> None:
    assert at.number_tokens("three mills and four hundred people") >= {"three", "four", "hundred"}
    assert at.number_tokens("The siege lasted a fortnight.") == {"fortnight"}
    assert at.number_tokens("He was in his forties.") == {"forties"}
    assert not at.has_number("The town is old.")


@pytest.mark.parametrize(("question", "kind"), [
    ("When was the Duchy of Normandy founded?", at.DATE),
    ("In what year did the war end?", at.DATE),
    ("What century did they arrive in?", at.DATE),
    ("And when did it open?", at.DATE),
    ("How many ships did Perry bring?", at.NUMBER),
    ("how much of the world's li-ion production is chinese?", at.NUMBER),
    ("What percentage of the market does Europe want?", at.NUMBER),
    ("China's market share?", at.NUMBER),
    ("Is its market share growing?", at.OTHER),  # yes or no
    ("What is China's share of the battery market?", at.NUMBER),  # whose share
    ("What is the United States' share of production?", at.NUMBER),
    ("What was its population in 1900?", at.NUMBER),
    ("What is the company's name?", at.OTHER),  # a possessive before no measure
    ("What is the main share?", at.OTHER),  # no possessive: not read as one
    ("Do 40 percent of the townspeople work at sea?", at.OTHER),  # states a figure
    ("Does the guide say how many ships came?", at.NUMBER),
    ("Who is winning the race?", at.NAME),
    ("Where did the fleet anchor?", at.NAME),
    ("Which country leads?", at.NAME),
    ("Why does the U.S. mine at home?", at.REASON),
    ("What happens when countries compete?", at.OTHER),
    ("Which raw materials does China control?", at.OTHER),
    ("Can you tell me when the mills were built?", at.DATE),  # a question wrapped in a request
    ("Do you know who founded the school?", at.NAME),
    ("Does the article say where the wool is sold?", at.NAME),
    ("I'd like to know why the abbey was dissolved.", at.REASON),
    ("Can you tell me about the mills?", at.OTHER),
    ("Number of ships Perry brought?", at.NUMBER),  # the measure alone
    ("Numbers in the text?", at.OTHER),
])
def test_question_types(question: str, kind: str) -> None:
    assert at.question_type(question) == kind


@pytest.mark.parametrize(("question", "yes_or_no"), [
    ("Does everyone need an exam?", True), ("and is it free?", True), ("Can I bring my children?", True),
    ("Why do I need an exam?", False), ("In what case is an exam needed?", False), ("what if i cant make it", False),
    ("Can you tell me when the mills were built?", False), ("Do you know who designed it?", False),
])
def test_a_question_opening_with_an_auxiliary_asks_yes_or_no(question: str, yes_or_no: bool) -> None:
    assert at.asks_yes_or_no(question) is yes_or_no


def test_a_sentence_gives_a_kind_only_beyond_what_the_question_holds() -> None:
    offer = at.Offer.of("Tomas Reyes designed the lighthouse in 1895.")
    assert offer.gives(at.DATE, "When was the lighthouse designed?", frozenset({"lighthouse"}))
    assert not offer.gives(at.DATE, "What was designed in 1895?", frozenset({"1895"}))
    assert offer.gives(at.NAME, "Who designed the lighthouse?", frozenset({"lighthouse"}))
    assert not offer.gives(at.NAME, "What did Tomas Reyes design?", frozenset({"tomas", "reyes"}))


def test_a_when_question_is_answered_by_a_period_as_well_as_a_year() -> None:
    """"It gives no date for that" is for sentences that hold no time at all."""
    for sentence in ("The abbey was founded during the reign of a duke.", "The abbey was founded in the Middle Ages.",
                     "The abbey was founded in the late Edo period."):
        assert at.Offer.of(sentence).gives(at.DATE, "When was the abbey founded?", frozenset({"abbey", "founded"}))
    assert not at.Offer.of("The abbey was founded by monks.").gives(at.DATE, "When was the abbey founded?",
                                                                   frozenset({"abbey", "founded"}))


@pytest.mark.parametrize("sentence", [
    "It usually takes us about 3 to 4 months to process a claim.",
    "A mental health evaluation usually lasts 2 to 4 hours.",
    "Visitors usually arrive by train, a journey of about two hours.",
    "Expect a reply within a few weeks.",
    "Results arrive in 10 business days.",
])
def test_a_span_of_time_answers_when_something_will_happen(sentence: str) -> None:
    """"When will I hear back?" is answered by "about 3 to 4 months"; "When did the war end?" is not."""
    offer = at.Offer.of(sentence)
    for question in ("When will I hear back?", "when do I get a decision", "When can I expect it?",
                     "When does the ferry arrive?"):
        assert offer.gives(at.DATE, question, frozenset()), question
    for question in ("When did the war end?", "When was the abbey founded?", "In what year did it open?"):
        assert not offer.gives(at.DATE, question, frozenset()), question


def test_a_figure_without_a_unit_of_time_is_no_span() -> None:
    for sentence in ("The mills employ four hundred people.", "Capacity grew by 50%.", "A ferry crosses twice a day."):
        assert not at.Offer.of(sentence).gives(at.DATE, "When will it open?", frozenset()), sentence


def test_a_percentage_is_no_count() -> None:
    """"How many factories ...?" asks for a count: 50% answers "how much", not "how many"."""
    offer = at.Offer.of("New factories increased capacity by 50% last year.")
    assert offer.gives(at.NUMBER, "How much did capacity grow?", frozenset({"capacity", "grow"}))
    assert not offer.gives(at.NUMBER, "How many factories opened last year?", frozenset({"factories", "opened"}))
    assert at.Offer.of("Three new factories opened.").gives(at.NUMBER, "How many factories opened?", frozenset({"factories"}))
    # ... but "how many percent" asks for a percentage.
    assert offer.gives(at.NUMBER, "How many percent did capacity grow?", frozenset({"capacity", "grow"}))
    assert offer.gives(at.NUMBER, "how many percentage points did it rise?", frozenset({"rise"}))


@pytest.mark.parametrize("question", ["How long do the cells last?", "How old is the plant?",
                                      "How far is the mine from the port?", "How tall is the tower?"])
def test_a_percentage_is_no_span_age_or_size(question: str) -> None:
    """A percentage in "... by 50% in the last year" answers none of these: the sentence offers
    no figure for them, so the question can be declined."""
    assert not at.Offer.of("New plants increased capacity by 50% in the last year alone.").gives(
        at.NUMBER, question, frozenset())
    assert at.Offer.of("The plant opened 40 years ago, 12 km from the port.").gives(at.NUMBER, question, frozenset())


@pytest.mark.parametrize(("a", "b"), [("earlier", "later"), ("increase", "decrease"), ("connected", "unconnected"),
                                      ("possible", "impossible"), ("finite", "infinite")])
def test_opposites_are_recognised_both_ways(a: str, b: str) -> None:
    assert at.opposite(a, b) and at.opposite(b, a)
    assert b in at.opposites_of(a) and a in at.opposites_of(b)


@pytest.mark.parametrize(("a", "b"), [("earlier", "earlier"), ("apple", "pear"), ("in", "inn"), ("art", "part")])
def test_unrelated_or_equal_words_are_not_opposites(a: str, b: str) -> None:
    assert not at.opposite(a, b)


def test_negation_and_back_reference() -> None:
    assert at.negated("What can not be solved?") and at.negated("Which problems aren't in P?")
    assert not at.negated("What can be solved?")
    assert at.starts_with_reference("They control a significant portion of the supply chain.")
    assert not at.starts_with_reference("China controls a significant portion of the supply chain.")


def test_terms_are_kept_whole_as_typed_and_markup_is_ignored() -> None:
    assert without_markup("<script>alert(1)</script> solid-state?") == "alert(1) solid-state?"
    assert typed_terms("Is solid-state better than the U.S.'s cells?") == ("Is", "solid-state", "better", "than", "the",
                                                                           "U.S.", "cells")
    assert typed_terms("(Japan)") == ("Japan",)
    # A follow-up searched with the names of the question before it: "and when did it end? (Soviets, Berlin)".
    assert typed_terms("it end? (Soviets, Berlin)") == ("it", "end", "Soviets", "Berlin")


def test_a_compound_the_corpus_uses_whole_is_known() -> None:
    stems = frozenset({"lithium", "ion", "batteri"})
    assert unknown_terms("li-ion batteries", stems, frozenset({"lithium-ion"})) == ("li-ion",)
    assert unknown_terms("lithium-ion batteries", stems, frozenset({"lithium-ion"})) == ()


@pytest.mark.parametrize(("term", "name"), [("Japan", True), ("2030", True), ("U.S.", True), ("solid-state", True),
                                            ("batteries", False), ("When", False)])
def test_what_counts_as_a_name(term: str, name: bool) -> None:
    assert is_name(term, starts=frozenset({"When"})) is name
