"""The engine end to end, with the real model, on a small article written for the tests
(tests/data/eldermere): what a user gets for the kinds of question people ask."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.engine import Engine
from qa.errors import QuestionInvalid
from qa.features import topic_row
from qa.query import resolve
from qa.settings import Settings
from qa.types import Answer


def engine_over(tmp_path: Path, engine: Engine, name: str, text: str) -> Engine:
    """The real engine over a one-article corpus written for a test, sharing the session's model."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / name).write_text(text, encoding="utf-8")
    return Engine.load(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=engine.embedder)


def read_and_answered(engine: Engine, question: str, searched_for: str, quoting: str) -> None:
    """The question is searched for as `searched_for` and answered with a quote holding `quoting`."""
    answer = engine.ask(question)
    assert answer.searched_for == searched_for
    assert not answer.abstained and quoting in answer.text, answer.text


def grounded(engine: Engine, answer: Answer) -> None:
    """Every quote is the indexed text at its offsets, inside its passage, and in the answer text."""
    for citation in answer.citations:
        assert citation.matches(engine.document(citation.source).text), citation
        assert f"{citation.quote} [{citation.n}]" in answer.text


def quoted(answer: Answer) -> str:
    return " ".join(c.quote for c in answer.citations)


@pytest.mark.parametrize(("question", "expected"), [
    ("When was Eldermere founded?", "911"),
    ("When was the stone bridge completed?", "1041"),
    ("How many people do the mills employ?", "four hundred"),
    ("How much wool do the mills spin each year?", "40,000 tonnes"),
    ("Who designed the lighthouse?", "Tomas Reyes"),
    ("Who founded the town's first school?", "Margaret Holloway"),
    ("How do visitors usually get to the town?", "by train"),
])
def test_a_factual_question_is_led_by_the_sentence_that_answers_it(town: Engine, question: str, expected: str) -> None:
    """What the engine would answer with no abstention threshold: the answer's first sentence
    holds the fact (whether it is sure enough to say it is the next test's business)."""
    answer = town.decide(town.candidates(question), threshold=0.0)
    assert expected in answer.citations[0].quote, answer.text
    grounded(town, answer)


def test_a_when_question_on_what_happens_now_is_answered_with_a_span_of_time(town: Engine) -> None:
    """"a journey of about two hours" says when a visitor arrives; it was declined with "It gives
    no date for that", because only a date or period counted as a time."""
    answer = town.ask("When will I arrive if I take the train from the capital?")
    assert not answer.abstained, answer.reason
    assert "about two hours" in answer.citations[0].quote
    grounded(town, answer)


@pytest.mark.parametrize(("question", "expected"), [
    ("Who designed the lighthouse?", "Tomas Reyes"),
    ("How many people do the mills employ?", "four hundred"),
    ("Who founded the town's first school?", "Margaret Holloway"),
])
def test_a_clear_factual_question_is_answered(town: Engine, question: str, expected: str) -> None:
    answer = town.ask(question)
    assert not answer.abstained, answer.reason
    assert expected in answer.text


def test_answer_text_is_made_only_of_quotes_and_markers(town: Engine) -> None:
    answer = town.ask("What is the town's oldest industry?")
    assert answer.text == " ".join(f"{c.quote} [{c.n}]" for c in answer.citations)
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_faq_question_is_answered_with_the_answer_not_the_heading(town: Engine) -> None:
    question = "Why is the bridge famous?"
    answer = town.ask(question)
    assert not answer.abstained
    assert all(question not in c.quote for c in answer.citations)
    assert "thousand years" in answer.text or "crushed shells" in answer.text


@pytest.mark.parametrize("question", [
    "What is the best recipe for sourdough bread?",
    "Who won the football World Cup in 2018?",
])
def test_question_outside_the_article_abstains_and_lists_the_closest_passages(town: Engine, question: str) -> None:
    answer = town.ask(question)
    assert answer.abstained, answer.text
    assert answer.citations == ()
    assert answer.passages
    assert answer.text.startswith("The article does not answer this.")


@pytest.mark.parametrize("question", [
    "how do i make a good omelette?",
    "what are some stretches for a sore back?",
    "how do I reset my wifi password?",
])
def test_a_question_about_something_else_is_declined_by_the_topic_gate(town: Engine, question: str) -> None:
    """No name it lacks, no date or figure asked for: the topic gate says why it declines."""
    answer = town.ask(question)
    assert answer.abstained and answer.confidence == 0.0
    assert "It is about other things" in answer.reason


@pytest.mark.parametrize("question", ["Who designed the lighthouse?", "what do the mills make?",
                                      "when was the town founded?"])
def test_the_topic_gate_lets_the_article_s_own_questions_through(town: Engine, question: str) -> None:
    found = town.candidates(question)
    assert not town.model.off_topic(topic_row(found.features))
    assert not town.decide(found).abstained


def test_a_country_typed_in_lower_case_is_a_name_the_article_never_mentions(town: Engine) -> None:
    assert not town.ask("do the mills sell wool to the capital?").abstained
    answer = town.ask("do the mills sell wool to france?")
    assert answer.abstained
    assert "“france”" in answer.reason


def test_a_follow_up_on_a_country_in_lower_case_asks_about_that_country(town: Engine) -> None:
    earlier = ("Where is most of the wool sold?",)
    assert not town.ask(earlier[0]).abstained
    answer = town.ask("what about the united kingdom", history=earlier)
    assert answer.searched_for == "Where is most of the wool sold? what about the United Kingdom"
    assert answer.abstained, "the article never says what the mills sell there"
    assert "“Kingdom”" in answer.reason


def test_abstention_names_the_unknown_term_as_typed_and_ignores_markup(town: Engine) -> None:
    answer = town.ask("<b>Which</b> Tesla factory makes solid-state batteries in Eldermere?")
    assert answer.abstained
    assert "“Tesla”" in answer.reason and "“solid-state”" in answer.reason
    assert "<b>" not in answer.reason and "“b”" not in answer.reason


def test_a_follow_up_about_another_subject_quotes_that_subject_only(engine: Engine) -> None:
    """The bundled article: "What about Europe?" after a question on China's share."""
    answer = engine.ask("What about Europe?", history=["What share of lithium-ion battery production does China have?"])
    assert "Europe" in answer.searched_for
    assert answer.citations and all("China" not in c.quote for c in answer.citations)


def test_a_follow_up_pronoun_is_resolved_against_the_history(town: Engine) -> None:
    answer = town.ask("When did he design it?", history=["Who designed the lighthouse?"])
    assert answer.searched_for != answer.question
    assert not answer.abstained
    assert "1895" in answer.citations[0].quote


def test_a_pronoun_after_a_who_question_stands_for_the_name_it_was_answered_with(town: Engine) -> None:
    history = ["Who founded the town's first school?"]
    assert "Margaret Holloway" in town.ask(history[0]).citations[0].quote
    answer = town.ask("When was she born?", history=history)
    assert answer.searched_for == "When was Margaret Holloway born?"
    assert "1820" in answer.citations[0].quote


def test_a_pronoun_after_a_who_question_the_article_declined_is_read_as_before(town: Engine) -> None:
    history = ("Who painted the portrait of Queen Matilda?",)
    assert town.ask(history[0]).abstained
    searched = town.ask("When did he paint it?", history=history).searched_for
    assert searched == resolve("When did he paint it?", history, town.index.names)[0]  # no answer to lean on


def test_a_typing_slip_is_read_as_the_article_word_and_answered(town: Engine) -> None:
    slipped, right = town.ask("When was the lighthouse desinged?"), town.ask("When was the lighthouse designed?")
    assert slipped.searched_for == "When was the lighthouse designed?"  # the page shows it under "Searched for"
    assert not slipped.abstained and slipped.text == right.text


def test_an_initialism_is_read_as_the_article_term_it_shortens(town: Engine) -> None:
    shortened = town.ask("Which town stands on the RW?")
    assert shortened.searched_for == "Which town stands on the river wend?"  # "River Wend", twice in the article
    assert not shortened.abstained and "RW" not in shortened.reason


def test_names_and_initialisms_are_searched_the_way_the_article_writes_them(tmp_path: Path, engine: Engine) -> None:
    """The article writes "NRS" throughout and "Northern Rail Systems" only in a heading; it
    never writes "FAQ", only the heading "Frequently Asked Questions"; it writes "Harlow's"."""
    rail = engine_over(tmp_path, engine, "rail.md",
        "# Rail in the North\n\nTrains came late to the hills.\n\n## Northern Rail Systems\n\n"
        "The NRS laid its first line in 1871. The NRS now runs forty trains a day. "
        "The line reached the town of Harlow in 1890, and Harlow's station opened in 1893.\n\n"
        "## Canals\n\nThe canal company carried coal until 1902.\n\n## Frequently Asked Questions\n\n"
        "### Do the trains carry bicycles?\n\nEvery train has a van that carries up to twelve bicycles.\n")
    answer = rail.ask("When did the Northern Rail Systems lay its first line?")
    assert answer.searched_for == "When did the NRS lay its first line?"  # the page shows it under "Searched for"
    assert not answer.abstained and "1871" in answer.text
    read_and_answered(rail, "What does the FAQ say about bicycles?",
                      "What does the frequently asked questions say about bicycles?", "twelve bicycles")
    read_and_answered(rail, "when did harlows station open?", "when did harlow's station open?", "1893")


def test_a_percentage_is_searched_the_way_the_article_writes_it(tmp_path: Path, engine: Engine) -> None:
    """The article writes "60%" in one place and "40 percent" in another: a question that types
    either another way is not declined for a figure the article "never mentions", and one that
    states a percentage asks whether, not for a figure ("It gives no figure for that")."""
    port = engine_over(tmp_path, engine, "port.md",
        "# The Port of Kelby\n\nKelby is a fishing port on the east coast.\n\n## Trade\n\n"
        "Fish make up 60% of the goods landed at Kelby. The rest is timber and salt. "
        "The harbour handled 25% more boats after the new pier opened in 1998.\n\n## People\n\n"
        "About 40 percent of the townspeople work at sea. Most of the others work in the fish market.\n")
    read_and_answered(port, "What makes up sixty percent of the goods landed at Kelby?",
                      "What makes up 60% of the goods landed at Kelby?", "Fish make up 60%")
    read_and_answered(port, "Do 40% of the townspeople work at sea?",
                      "Do 40 percent of the townspeople work at sea?", "40 percent")


def test_a_unit_is_searched_the_way_the_article_writes_it(tmp_path: Path, engine: Engine) -> None:
    """The article writes "hrs" and "metres": "hours" and "meters" are the same units, not
    words it "never mentions"; "miles" is another unit, and still one it never mentions."""
    coast = engine_over(tmp_path, engine, "coast.md",
        "# The Kelby Coast\n\nKelby is a fishing port on the east coast.\n\n## The Lighthouse\n\n"
        "The lighthouse stands on a cliff 40 metres high, north of the town. "
        "A boat takes about 2 hrs to reach the island beyond it.\n")
    read_and_answered(coast, "How many hours does the boat take to reach the island?",
                      "How many hrs does the boat take to reach the island?", "2 hrs")
    read_and_answered(coast, "How many meters high is the cliff?",
                      "How many metres high is the cliff?", "40 metres")
    miles = coast.ask("How many miles north of the town is the lighthouse?")
    assert miles.abstained and "miles" in miles.reason


def test_money_is_something_an_article_that_writes_amounts_speaks_of(tmp_path: Path, engine: Engine) -> None:
    """The article writes "$2 million": "money" and "dollars" are no words it "never
    mentions"; "euros" still are."""
    bridge = engine_over(tmp_path, engine, "bridge.md",
        "# The Wend Bridge\n\nThe Wend Bridge crosses the river at Eldham.\n\n## Building\n\n"
        "The new bridge cost $2 million to build and opened in 2004. It replaced a ferry.\n")
    assert {"money", "dollars"} <= bridge.question_words and not {"money", "dollars"} & bridge.index.words
    for question in ("How much money did the new bridge cost?", "How many dollars did the new bridge cost?"):
        answer = bridge.ask(question)
        assert not answer.abstained and "$2 million" in answer.text, question
    euros = bridge.ask("How many euros did the new bridge cost?")
    assert euros.abstained and "euros" in euros.reason


def test_a_title_or_month_is_searched_the_way_the_article_writes_it(tmp_path: Path, engine: Engine) -> None:
    """The article writes "St Brigid's" and "September": "Saint Brigid's" and "Sept" are the
    same words, not names it "never mentions"."""
    vale = engine_over(tmp_path, engine, "vale.md",
        "# Harrow Vale\n\nHarrow Vale is a village below Mount Kell.\n\n## The Church\n\n"
        "St Brigid's Church was built in September 1421 by the monks of the valley. "
        "Its tower fell in a storm and was rebuilt in stone.\n")
    read_and_answered(vale, "When was Saint Brigid's Church built?", "When was St Brigid's Church built?", "1421")
    read_and_answered(vale, "What was built in Sept 1421?",
                      "What was built in September 1421?", "St Brigid's Church")
    assert vale.ask("Which village lies below Mt. Kell?").searched_for == "Which village lies below Mount Kell?"


def test_whose_share_a_question_asks_is_answered_with_the_figure(tmp_path: Path, engine: Engine) -> None:
    """"What is Lund's share ...?" asks for a figure as "What share ...?" does: it is answered
    with the sentence that gives one, not the one that says Lund leads the trade."""
    mills = engine_over(tmp_path, engine, "mills.md",
        "# The Wool Trade\n\nThree towns spin most of the region's wool.\n\n## Lund\n\n"
        "Lund is the oldest of the mill towns, and it dominates the wool trade of the whole region. "
        "As the guilds count it, Lund spins 60% of the region's wool today.\n")
    answer = mills.ask("What is Lund's share of the wool trade?")
    assert not answer.abstained and answer.citations[0].quote.startswith("As the guilds count it"), answer.text


def test_an_era_a_count_of_times_a_hyphen_a_metric_ton_and_a_courtesy_title_are_no_words_the_article_lacks(
        town: Engine) -> None:
    """"AD 911" is 911 in an article that never writes "AD", "how many times" asks for a count
    that "twice a day" gives, "light-house" is its "lighthouse", "metric tons" its "tonnes" and
    "Mrs. Holloway" its Margaret Holloway: none is declined with "It never mentions ..."."""
    read_and_answered(town, "What happened in AD 911?", "What happened in 911?", "911")
    ferry = town.ask("How many times a day does the ferry cross the estuary?")
    assert not ferry.abstained and "twice a day" in ferry.text, ferry.reason
    read_and_answered(town, "Who designed the light-house?", "Who designed the lighthouse?", "Tomas Reyes")
    read_and_answered(town, "How many metric tons of wool do the mills spin?",
                      "How many tonnes of wool do the mills spin?", "40,000 tonnes")
    read_and_answered(town, "What did Mrs. Holloway found?", "What did Holloway found?", "first school")


def test_a_when_question_on_what_recurs_is_answered_with_when_it_recurs(tmp_path: Path, engine: Engine) -> None:
    """"every April" says when the derby is played; it was declined with "It gives no date"."""
    derby = engine_over(tmp_path, engine, "derby.md",
        "# Two Clubs\n\nThe town has two football clubs, Rovers and Athletic.\n\n## The derby\n\n"
        "The derby between the two clubs is played every April at the old ground. "
        "Tickets sell out within a day.\n")
    answer = derby.ask("When is the derby played?")
    assert not answer.abstained and "every April" in answer.text, answer.reason


_PORT = ("# Nagato Harbour\n\nNagato is a harbour town on the western coast.\n\n## Trade\n\n"
         "Portuguese and Dutch traders came to the harbour in the 16th century. The harbour was closed to "
         "foreign ships in 1639 and opened again in 1854.\n")
_RIVALS = ("# Two Clubs\n\nThe town has two football clubs.\n\n## Matches\n\nThe Rovers versus Athletic derby "
           "is the biggest match of the year. A non-deterministic draw decides which club hosts it. "
           "The clubs also meet in the cup most years.\n")
_BAY = ("# The Bay\n\nThe bay lies south of the old capital.\n\n## The Visit\n\n"
        "On July 8, 1853, the commodore sailed four ships into the bay. The fleet stayed for nine days "
        "before it turned south.\n")
_MAKER = ("# Karl Weiss\n\nKarl Weiss was a German instrument maker.\n\n## Life\n\n"
          "Weiss studied physics at Göttingen under a famous teacher. He then opened a workshop in Köln, where he "
          "built microscopes for the university. In 1880 he sold the workshop to his nephew.\n")
_PIER = ("# The Pier\n\nThe pier is the longest on the coast.\n\n## Funding\n\n"
         "In 1998 the harbour council raised US$2,500,000 to rebuild the pier. The pier now draws 1.2 million "
         "visitors a year, most of them in summer.\n")


@pytest.mark.parametrize(("article", "question", "searched_for", "quoting"), [
    # "the 1500s" is the 16th century of an article that writes "16th" and no year of it
    (_PORT, "Who came to the harbour in the 1500s?", "Who came to the harbour in the 16th century?",
     "Portuguese and Dutch"),
    (_RIVALS, "What is the Rovers vs Athletic derby?", "What is the Rovers versus Athletic derby?", "biggest match"),
    (_RIVALS, "What does the nondeterministic draw decide?", "What does the non-deterministic draw decide?",
     "which club hosts it"),
    (_BAY, "Who sailed 4 ships into the bay?", "Who sailed four ships into the bay?", "the commodore"),
    (_BAY, "What happened on the 8th of July, 1853?", "What happened on 8 July, 1853?", "sailed four ships"),
    (_PIER, "Who raised $2.5 million to rebuild the pier?", "Who raised $2,500,000 to rebuild the pier?",
     "harbour council"),
    (_PIER, "What draws 1,200,000 visitors a year?", "What draws 1.2 million visitors a year?", "The pier now draws"),
    # typed without the article's accents: the sentence on Göttingen had come first
    (_MAKER, "What did Weiss build in Koln?", "What did Weiss build in Köln?", "built microscopes"),
], ids=["century-in-figures", "vs", "closed-compound", "count-in-figures", "ordinal-day", "amount-scaled",
        "amount-grouped", "accents"])
def test_a_question_typed_another_way_is_searched_as_the_article_writes_it(
        tmp_path: Path, engine: Engine, article: str, question: str, searched_for: str, quoting: str) -> None:
    """Each question writes a thing another way than the article does; typed so it was a word
    the article "never mentions", or a weaker match than the article's own words."""
    read_and_answered(engine_over(tmp_path, engine, "article.md", article), question, searched_for, quoting)


def test_a_yes_or_no_from_the_article_s_faq_answers_only_a_yes_or_no_question(tmp_path: Path, engine: Engine) -> None:
    """"No." replies to its section's question. Quoted for "In what case ...?", it answered
    something the user never asked; asked yes or no, it is the answer and stays."""
    permits = engine_over(tmp_path, engine, "permits.md",
        "# Building permits\n\nThe county issues building permits for homes near the river.\n\n"
        "## Does everyone who builds a shed need a permit?\n\nNo. You need a permit only if the shed stands within "
        "ten metres of the river bank.\n\n## How long does a permit take?\n\nMost permits are issued within three "
        "weeks of the application.\n")
    asked_why = permits.ask("In what case does a shed need a permit?")
    assert not asked_why.abstained and asked_why.citations[0].quote.startswith("You need a permit only if"), asked_why.text
    asked_whether = permits.ask("Does everyone who builds a shed need a permit?")
    assert not asked_whether.abstained and asked_whether.citations[0].quote.startswith("No. You need"), asked_whether.text
    for answer in (asked_why, asked_whether):
        grounded(permits, answer)


def test_an_faq_question_asked_word_for_word_gets_the_article_s_own_answer(tmp_path: Path, engine: Engine) -> None:
    """The FAQ's answer shares no word with its question but "permit": asked as the heading
    asks it (in any case, without its question mark), the answer is that section's opening."""
    permits = engine_over(tmp_path, engine, "permits.md",
        "# Building permits\n\nThe county issues building permits for sheds and homes near the river.\n\n"
        "## Why might I need a building permit?\n\nThe county checks that nothing built blocks the floodplain. "
        "Its inspectors also look at the foundations.\n\n## How long does a permit take?\n\nMost permits are "
        "issued within three weeks of the application.\n")
    for asked in ("Why might I need a building permit?", "why might i need a building permit"):
        answer = permits.ask(asked)
        assert [c.quote for c in answer.citations][:2] == ["The county checks that nothing built blocks the floodplain.",
                                                           "Its inspectors also look at the foundations."], answer.text
        assert answer.confidence == 1.0 and "asks this question itself" in answer.reason
        grounded(permits, answer)
    other = permits.ask("Why might a shed need a building permit?")  # not the heading: answered as any question
    assert other.reason != answer.reason


def test_a_sentence_that_introduces_a_list_is_quoted_with_its_items(tmp_path: Path, engine: Engine) -> None:
    """"To apply for a permit, you can:" answers nothing without the items after it, which are
    paragraphs of their own, in a passage of their own."""
    permits = engine_over(tmp_path, engine, "permits.md",
        "# Building permits\n\nThe county issues building permits for homes near the river.\n\n"
        "## Applying\n\nTo apply for a building permit, you can:\n\n- Fill in the form at the county office, or\n"
        "- Send the form by post to the planning desk.\n\nMost permits are issued within three weeks.\n")
    answer = permits.ask("How do I apply for a building permit?")
    assert not answer.abstained, answer.reason
    quotes = [c.quote for c in answer.citations]
    intro = quotes.index("To apply for a building permit, you can:")
    assert quotes[intro + 1:intro + 3] == ["Fill in the form at the county office, or",
                                           "Send the form by post to the planning desk."], answer.text
    grounded(permits, answer)


def test_a_question_wrapped_in_a_request_still_asks_for_its_kind(tmp_path: Path, engine: Engine) -> None:
    """"Can you tell me when ...?" asks for a date as "When ...?" does: where the article gives
    no date for it, both are declined, not answered with a sentence that has none."""
    wend = engine_over(tmp_path, engine, "wend.md",
        "# Wendbury\n\nWendbury is a market town on the river Wend, known for its wool mills and its old stone "
        "bridge.\n\n## History\n\nThe stone bridge was completed in 1041 by the monks of the abbey, and it still "
        "carries traffic today. The abbey itself was dissolved in 1539, and its lands passed to the Crown.\n\n"
        "## Industry\n\nThe mills employ four hundred people and spin wool for weavers in the north. The largest "
        "mill belongs to the Harrow family, who built it after the great flood.\n")
    for question in ("When were the mills built?", "Can you tell me when the mills were built?",
                     "Do you know when the great flood happened?"):
        answer = wend.ask(question)
        assert answer.abstained and "no date" in answer.reason, (question, answer.text)
    dated = wend.ask("Do you know when the stone bridge was completed?")
    assert not dated.abstained and "1041" in dated.text


def test_a_numbered_name_is_searched_the_way_the_article_writes_it(tmp_path: Path, engine: Engine) -> None:
    """The article writes "World War II" and "World War I": "WWII", "World War 2", "the Second
    World War" and "WW1" name them, not things it "never mentions"."""
    wend = engine_over(tmp_path, engine, "wend.md",
        "# The Harbour at Wend\n\nWend is a small harbour town on the north coast.\n\n## History\n\n"
        "During World War II the harbour was used by the navy as a supply base. After the war, in 1947, "
        "the fishing fleet returned. In World War I the town had sent 300 men to the army.\n")
    for question in ("What was the harbour used for in WWII?", "What was the harbour used for in World War 2?",
                     "What was the harbour used for in the Second World War?"):
        answer = wend.ask(question)
        assert "World War II" in answer.searched_for, question
        assert not answer.abstained and "supply base" in answer.text, question
    read_and_answered(wend, "How many men did the town send in WW1?",
                      "How many men did the town send in World War I?", "300 men")


def test_a_short_year_is_read_as_the_one_year_of_the_article_it_can_be(town: Engine) -> None:
    """The article's only year ending in 95 is 1895, and it writes "the 10th and 11th centuries"."""
    read_and_answered(town, "What did Tomas Reyes design in '95?", "What did Tomas Reyes design in 1895?",
                      "designed the lighthouse in 1895")
    read_and_answered(town, "What did the fort grow into during the tenth and eleventh centuries?",
                      "What did the fort grow into during the 10th and 11th centuries?", "walled town")


def test_a_question_typed_in_capitals_is_answered_as_written_in_lower_case(town: Engine) -> None:
    shouted, plain = town.ask("WHO DESIGNED THE LIGHTHOUSE?"), town.ask("who designed the lighthouse?")
    assert not shouted.abstained and shouted.text == plain.text
    assert "Tomas Reyes" in shouted.citations[0].quote


def test_a_request_for_the_gist_is_answered_with_the_opening(town: Engine) -> None:
    gist = town.ask("What is this page about?")
    assert not gist.abstained and gist.citations[0].quote.startswith("Eldermere is a small market town")


def test_a_request_for_the_article_s_key_takeaways_quotes_that_section(tmp_path: Path, engine: Engine) -> None:
    """The gist is the opening, but "the key takeaways" are the article's own "Key Takeaways" list, all of it."""
    mills = engine_over(tmp_path, engine, "mills.md",
        "# The Wool Mills of Wend\n\nWend grew rich on wool. Its mills still run today.\n\n## Key Takeaways\n\n"
        "- The first mill opened in 1790.\n- Four mills still spin wool.\n- The river drives two of them.\n"
        "- Most of the wool goes north.\n\n## History\n\nThe first mill was built by the Harrow family.\n")
    takeaways = mills.ask("What are the key takeaways?")
    assert [c.quote for c in takeaways.citations] == ["The first mill opened in 1790.", "Four mills still spin wool.",
                                                      "The river drives two of them.", "Most of the wool goes north."]
    grounded(mills, takeaways)
    gist = mills.ask("What is this article about?")
    assert gist.citations[0].quote == "Wend grew rich on wool."


def test_a_figure_question_is_not_declined_for_a_verb_the_article_never_uses(town: Engine) -> None:
    """The article says the lighthouse "draws" visitors; "attract" is no thing it lacks."""
    answer = town.ask("How many visitors does the lighthouse attract each summer?")
    assert not answer.abstained and "twelve thousand visitors" in answer.text


def test_a_question_without_history_is_searched_as_asked(town: Engine) -> None:
    assert town.ask("Who designed the lighthouse?").searched_for == "Who designed the lighthouse?"


@pytest.mark.parametrize("k", [1, 2])
def test_citations_come_only_from_the_k_passages_returned(town: Engine, k: int) -> None:
    answer = town.ask("What does Eldermere produce and who visits it?", k=k)
    assert len(answer.passages) <= k
    returned = {p.chunk.id for p in answer.passages}
    assert {c.chunk_id for c in answer.citations} <= returned


def test_passages_are_ranked_and_carry_their_evidence(town: Engine) -> None:
    answer = town.ask("When was the stone bridge completed?")
    assert [p.rank for p in answer.passages] == list(range(1, len(answer.passages) + 1))
    scores = [p.score for p in answer.passages]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= p.score <= 1.0 for p in answer.passages)


def test_confidence_is_a_probability_and_a_clear_answer_beats_an_off_topic_one(town: Engine) -> None:
    clear = town.ask("Who designed the lighthouse?")
    off = town.ask("What is the capital of Australia?")
    assert 0.0 <= off.confidence < clear.confidence <= 1.0


def test_stage_timings_each_cover_one_stage(town: Engine) -> None:
    timings = town.ask("When was Eldermere founded?").timings_ms
    stages = ("embed", "retrieve", "features", "answer")
    assert set(stages) <= set(timings)
    assert all(timings[s] >= 0 for s in stages)
    assert sum(timings[s] for s in stages) <= timings["total"] + 0.5


@pytest.mark.parametrize("question", ["", "   ", "\n\t", "x" * 1001])
def test_empty_or_too_long_question_is_refused_with_a_message(town: Engine, question: str) -> None:
    with pytest.raises(QuestionInvalid) as err:
        town.ask(question)
    assert "empty" in str(err.value) or "limit" in str(err.value) or "words" in str(err.value)


@pytest.mark.parametrize("k", [0, -1, "3", 2.5, True])
def test_a_bad_k_is_refused(town: Engine, k: object) -> None:
    with pytest.raises(QuestionInvalid):
        town.ask("When was Eldermere founded?", k=k)  # type: ignore[arg-type]


def test_engine_exposes_the_indexed_documents(town: Engine) -> None:
    (document,) = town.documents
    assert document.source.endswith("eldermere.md")
    assert document.title.startswith("Eldermere")
    assert town.document(document.source).text.startswith("# Eldermere")


_FEATURES_DIGEST = """
import hashlib, sys
from pathlib import Path
from qa.engine import Engine
from qa.settings import Settings
engine = Engine.load(Settings(corpus_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2])))
found = [engine.candidates(q) for q in ("How many people do the mills employ?", "Why is the bridge famous?")]
print(hashlib.sha256(b"".join(f.features.tobytes() for f in found)).hexdigest())
"""


def test_features_are_the_same_bits_whatever_the_hash_seed(town: Engine) -> None:
    """`qa train` on a fresh clone must reproduce the committed model: no feature may depend on
    the order Python happens to walk a set in, which changes from process to process."""
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "HF_HUB_OFFLINE": "1"}
        done = subprocess.run([sys.executable, "-c", _FEATURES_DIGEST, str(town.settings.corpus_dir),
                               str(town.settings.index_dir)], capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        digests.add(done.stdout.strip())
    assert len(digests) == 1


def test_the_corpus_terms_a_question_is_read_with_are_stored_with_the_index(engine: Engine) -> None:
    """Read at build time, not at a question: the phrase table alone took 1.35 s on a 4 MB corpus."""
    from qa.acronyms import initialism_forms, spelt_table
    from qa.index import CorpusTerms, section_headings
    from qa.numbered import NumberedNames
    from qa.spelling import possessed_names
    from qa.units import money_words

    index = engine.index
    texts = [d.text for d in index.documents]
    assert index.terms.phrases == spelt_table(texts, section_headings(index.sentences))
    assert index.terms.phrases["faq"] == "frequently asked questions"
    assert index.terms.initialisms == {k: dict(v) for k, v in initialism_forms(texts).items()}
    assert index.terms.possessed == possessed_names(texts, index.names) and "china" in index.terms.possessed
    assert index.terms.numbered == NumberedNames.of(texts) and index.terms.money == money_words(texts, index.words)
    assert CorpusTerms.from_json(index.terms.to_json()) == index.terms
    assert engine.speller.possessed is index.terms.possessed
    assert engine.acronyms.expand("What about EV batteries?") != "What about EV batteries?"


def test_a_transcript_without_full_stops_is_cited_in_short_parts_each_embedded_whole(tmp_path: Path,
                                                                                     engine: Engine) -> None:
    """A text with no sentence ends was one "sentence" of 19,000 characters: cited whole, and
    embedded only up to its 256th word piece, so its later words could never be found."""
    filler = " ".join(f"and then the council spoke about the {w} for a while" for w in
                      ("bridge", "market", "harvest", "school", "roads", "taxes") * 40)
    article = f"# Town meeting\n\n## Transcript\n\n{filler} and at the very end the mayor said the old mill reopens in 2027\n"
    town = engine_over(tmp_path, engine, "meeting.md", article)
    limit = town.settings.max_embed_tokens
    assert all(len(s.text) <= town.settings.max_sentence_chars for s in town.index.sentences)
    assert all(town.embedder.count_tokens(c.embed_text) <= limit for c in town.index.chunks)
    text = town.index.documents[0].text
    assert all(text[s.start:s.end] == s.text for s in town.index.sentences)
    answer = town.ask("When does the mill reopen?")
    assert not answer.abstained and "mill reopens in 2027" in answer.text, answer.text
    assert all(len(c.quote) <= town.settings.max_sentence_chars for c in answer.citations)
    grounded(town, answer)


# ---------------------------------------------------------------- summaries of several documents


@pytest.fixture(scope="module")
def three_documents(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Engine:
    corpus = tmp_path_factory.mktemp("three") / "corpus"
    corpus.mkdir()
    (corpus / "ferry.md").write_text("# The Wend Ferry\n\nThe ferry crosses the Wend twice an hour. "
                                     "It was designed by Ada Brant. Its captain is Ruth Okafor.\n", encoding="utf-8")
    (corpus / "mill.md").write_text("# The Old Mill\n\nThe old mill ground wool dye until 1921. "
                                    "It is now a museum. Its wheel still turns.\n\n## Key Takeaways\n\n"
                                    "- The mill is a museum.\n- The wheel still turns.\n", encoding="utf-8")
    (corpus / "bees.md").write_text("# Town Bees\n\nThe town keeps forty hives on the common. "
                                    "Their honey is sold at the Saturday market.\n", encoding="utf-8")
    return Engine.load(Settings(corpus_dir=corpus, index_dir=corpus.parent / "index"), embedder=engine.embedder)


def test_a_summary_keeps_to_the_documents_asked_and_opens_each_of_several(three_documents: Engine) -> None:
    sources = sorted(d.source for d in three_documents.documents)
    ferry = next(s for s in sources if s.endswith("ferry.md"))
    mill = next(s for s in sources if s.endswith("mill.md"))
    alone = three_documents.ask("What is this document about?", sources=[ferry])
    assert {c.source for c in alone.citations} == {ferry}
    assert [c.quote for c in alone.citations] == ["The ferry crosses the Wend twice an hour.",
                                                  "It was designed by Ada Brant.", "Its captain is Ruth Okafor."]
    every = three_documents.ask("Give me a summary")
    assert sorted(c.source for c in every.citations) == sources  # each document's opening sentence
    assert every.reason == "A summary: the opening sentence of each document."
    # A summary section is looked for in the documents asked only: the ferry has no "Key Takeaways".
    takeaways = three_documents.ask("What are the key takeaways?", sources=[ferry])
    assert {c.source for c in takeaways.citations} == {ferry}
    assert {c.source for c in three_documents.ask("What are the key takeaways?", sources=[mill]).citations} == {mill}


def test_several_documents_are_spoken_of_as_documents(three_documents: Engine) -> None:
    """"The article does not answer this." read wrong beside uploads: the corpus is several documents."""
    declined = three_documents.ask("Who is the mayor of Tokyo?")
    assert declined.abstained and declined.text.startswith("The documents do not answer this. They never mention")
    answered = three_documents.ask("Who is the captain of the ferry?")
    assert not answered.abstained and answered.reason == "Answered from the documents."
    from qa.ui_html import render_panel

    documents = {d.source: d.text for d in three_documents.documents}
    assert "The documents do not answer “Who is the mayor of Tokyo?”" in render_panel([declined.to_dict()], documents)
