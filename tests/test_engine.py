"""The engine end to end, on the real article with the real model."""

from __future__ import annotations

import pytest

from qa.engine import Engine
from qa.errors import QuestionInvalid
from qa.settings import PROJECT_ROOT


def source_text(source: str) -> str:
    return (PROJECT_ROOT / source).read_text(encoding="utf-8")


def test_figure_question_quotes_the_figure(engine: Engine) -> None:
    answer = engine.ask("What share of lithium-ion battery production does China have?")
    assert not answer.abstained
    assert any("over 70%" in c.quote for c in answer.citations)


@pytest.mark.parametrize("question", [
    "How Do Regional Policies Influence Battery Technology Innovation?",
    "What do startups contribute to battery progress?",
    "Why does the U.S. source raw materials within North America?",
    "What is Europe's approach to sourcing?",
    "How does China keep its battery costs low?",
])
def test_every_citation_quote_equals_the_source_text_at_its_offsets(engine: Engine, question: str) -> None:
    answer = engine.ask(question)
    assert answer.citations
    for citation in answer.citations:
        text = source_text(citation.source)
        assert text[citation.start:citation.end] == citation.quote
        assert citation.quote in citation.passage
        assert text[citation.passage_start:citation.passage_start + len(citation.passage)] == citation.passage
        assert f"{citation.quote} [{citation.n}]" in answer.text


def test_answer_text_is_made_only_of_quotes_and_markers(engine: Engine) -> None:
    answer = engine.ask("What does Europe focus on?")
    rebuilt = " ".join(f"{c.quote} [{c.n}]" for c in answer.citations)
    assert answer.text == rebuilt


def test_faq_question_is_answered_with_the_answer_not_the_heading(engine: Engine) -> None:
    question = "How Are Regional Leaders Addressing Battery Recycling Challenges?"
    answer = engine.ask(question)
    assert not answer.abstained
    assert all(question not in c.quote for c in answer.citations)
    assert "recycling infrastructure" in answer.text


@pytest.mark.parametrize("question", [
    "What is the best recipe for sourdough bread?",
    "Who won the football World Cup in 2018?",
    "What is Japan's strategy for batteries?",
    "How much does Tesla spend on battery research?",
])
def test_question_outside_article_abstains(engine: Engine, question: str) -> None:
    answer = engine.ask(question)
    assert answer.abstained, answer.text
    assert answer.citations == ()
    assert answer.passages, "abstentions still list the closest passages"


def test_follow_up_uses_history_and_records_what_was_searched(engine: Engine) -> None:
    first = "How does China keep battery costs low?"
    answer = engine.ask("What about Europe?", history=[first])
    assert "Europe" in answer.searched_for
    assert answer.searched_for != answer.question
    assert not answer.abstained
    assert any("Europe" in c.section or "Europe" in c.quote for c in answer.citations)


def test_question_without_history_is_searched_as_asked(engine: Engine) -> None:
    answer = engine.ask("What does Europe focus on?")
    assert answer.searched_for == "What does Europe focus on?"


@pytest.mark.parametrize("bad", ["", "   ", "\n\t", "?!", "x" * 5000])
def test_bad_question_raises_our_error(engine: Engine, bad: str) -> None:
    with pytest.raises(QuestionInvalid):
        engine.ask(bad)


def test_answer_serialises_to_the_documented_json_shape(engine: Engine) -> None:
    data = engine.ask("What does Europe focus on?").to_dict()
    assert {"question", "searched_for", "answer", "abstained", "confidence", "citations", "passages",
            "timings_ms"} <= set(data)
    assert {"n", "chunk_id", "source", "section", "quote", "start", "end", "passage", "score"} <= set(data["citations"][0])
    assert {"rank", "chunk_id", "source", "section", "text", "score"} <= set(data["passages"][0])
    assert {"retrieve", "answer", "total"} <= set(data["timings_ms"])
    assert data["citations"][0]["source"] == "corpus/battery-race.md"


def test_pronoun_follow_up_puts_the_named_subject_in_place(engine: Engine) -> None:
    answer = engine.ask("Where does it get its raw materials?", history=["What is the U.S. strategy?"])
    assert "U.S." in answer.searched_for
    assert not answer.abstained
    assert "North America" in answer.text or "domestic mining" in answer.text


def test_short_follow_up_is_searched_with_the_previous_question(engine: Engine) -> None:
    answer = engine.ask("By when?", history=["What market share is Europe aiming for?"])
    assert answer.searched_for.startswith("What market share is Europe aiming for?")
    assert "2030" in answer.text


def test_follow_up_about_a_name_the_article_lacks_abstains(engine: Engine) -> None:
    answer = engine.ask("What is Japan's?", history=["What is China's share of lithium-ion production?"])
    assert answer.abstained
    assert "Japan" in answer.reason


def test_standalone_question_ignores_the_history(engine: Engine) -> None:
    question = "How do regional policies influence battery innovation?"
    answer = engine.ask(question, history=["How does Europe source materials?"])
    assert answer.searched_for == question


def test_summary_request_answers_with_the_opening(engine: Engine) -> None:
    answer = engine.ask("What is the article about?")
    assert not answer.abstained
    assert answer.citations[0].quote.startswith("If you look at the global battery race")


def test_figure_question_without_a_figure_in_the_article_abstains(engine: Engine) -> None:
    answer = engine.ask("In what year did China start dominating battery production?")
    assert answer.abstained
    assert "date" in answer.reason


def test_known_alias_is_not_treated_as_unknown(engine: Engine) -> None:
    answer = engine.ask("When does the EU hope to reach its market goal?")
    assert not answer.abstained
    assert "2030" in answer.text


def test_figure_about_another_measure_does_not_answer_a_figure_question(engine: Engine) -> None:
    # The article gives U.S. capacity growth (50%), not a U.S. market share.
    answer = engine.ask("What percentage of the global market does the US hold?")
    assert answer.abstained
    assert "figure" in answer.reason
