"""The eval set itself: a wrong label would make every metric lie, so the labels are checked
against the article, and the set's make-up against the minimums of issue 5."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from qa.errors import EvalSetError
from qa.evaluate import DEFAULT_SET, category_of, fold, load_eval_set
from qa.settings import PROJECT_ROOT

ARTICLE = PROJECT_ROOT / "corpus" / "battery-race.md"
# Words that put an unanswerable question near the article's topic (issue 5: half of them must be).
NEAR_TOPIC = {"battery", "batteries", "lithium", "gigafactories", "gigafactory", "europe", "china", "u.s.", "us",
              "american", "tesla", "solid-state", "sodium-ion", "energy"}
STOPWORDS = {"how", "do", "does", "are", "the", "what", "of", "in", "a", "an", "to", "and", "is", "for", "on",
             "their", "they", "it", "its", "can", "could", "be", "when", "why", "who", "which", "this", "that"}


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return load_eval_set(DEFAULT_SET)


@pytest.fixture(scope="module")
def article() -> str:
    return fold(ARTICLE.read_text(encoding="utf-8"))


def faq_questions() -> list[str]:
    text = ARTICLE.read_text(encoding="utf-8")
    faq = text.split("## Frequently Asked Questions", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^### (.+?)\s*$", faq, flags=re.M)


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z'.-]*", fold(text)) if w not in STOPWORDS}


def test_every_line_loads_with_the_schema(items: list[dict]) -> None:
    raw = [line for line in DEFAULT_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(items) == len(raw) == 62
    for item in items:
        assert set(item) <= {"id", "category", "question", "history", "answerable", "expect_any", "support"}, item["id"]


def test_ids_are_unique(items: list[dict]) -> None:
    duplicates = [i for i, n in Counter(item["id"] for item in items).items() if n > 1]
    assert not duplicates


def test_category_field_agrees_with_the_id_prefix(items: list[dict]) -> None:
    for item in items:
        assert category_of({"id": item["id"]}) == item["category"], item["id"]


def test_every_label_string_occurs_in_the_article(items: list[dict], article: str) -> None:
    missing = [(item["id"], s) for item in items for s in item["support"] + item["expect_any"] if fold(s) not in article]
    assert not missing, f"label strings not found in {ARTICLE.name}: {missing}"


def test_answerable_items_have_labels_and_unanswerable_have_none(items: list[dict]) -> None:
    for item in items:
        if item["answerable"]:
            assert item["expect_any"] and item["support"], item["id"]
        else:
            assert not item["expect_any"] and not item["support"], item["id"]
    assert all(not i["answerable"] for i in items if i["category"] == "unanswerable")
    assert all(i["answerable"] for i in items if i["category"] != "unanswerable")


def test_the_five_faq_questions_appear_verbatim(items: list[dict]) -> None:
    questions = faq_questions()
    assert len(questions) == 5
    asked = {item["question"] for item in items if item["category"] == "faq"}
    assert set(questions) <= asked


def test_each_faq_has_two_paraphrases_sharing_few_words(items: list[dict]) -> None:
    faqs = {item["id"].split("-")[1]: item["question"] for item in items if item["category"] == "faq"}
    paraphrases = [item for item in items if item["category"] == "paraphrase"]
    for number, original in faqs.items():
        mine = [p for p in paraphrases if re.fullmatch(rf"para-{number}[a-z]", p["id"])]
        assert len(mine) >= 2, f"faq-{number} has {len(mine)} paraphrases"
        for p in mine:
            shared = words(p["question"]) & words(original)
            assert len(shared) <= len(words(original)) / 2, (p["id"], shared)
            assert fold(p["support"][0]) in fold(" ".join(i["support"][0] for i in items if i["id"] == f"faq-{number}"))


def test_category_counts_meet_the_issue_minimums(items: list[dict]) -> None:
    counts = Counter(item["category"] for item in items)
    assert counts["faq"] >= 5 and counts["paraphrase"] >= 10 and counts["fact"] >= 12
    assert counts["followup"] >= 5 and counts["unanswerable"] >= 10


def test_follow_ups_carry_history(items: list[dict]) -> None:
    follow_ups = [item for item in items if item["category"] == "followup"]
    assert follow_ups and all(item["history"] for item in follow_ups)


def test_half_the_unanswerable_questions_are_near_topic(items: list[dict]) -> None:
    unanswerable = [item for item in items if item["category"] == "unanswerable"]
    near = [item["id"] for item in unanswerable if words(item["question"]) & NEAR_TOPIC]
    assert len(near) * 2 >= len(unanswerable), near


def test_matching_folds_case_space_and_curly_quotes() -> None:
    assert fold("If  You\u2019re\n“Paying”") == fold("if you're \"paying\"") == "if you're \"paying\""


@pytest.mark.parametrize("content, line, needle", [
    ('{"id": "a", "question": "q?", "answerable": false}\n{"id": "b", "question": ', 2, "not valid JSON"),
    ('["not", "an", "object"]\n', 1, "JSON object"),
    ('{"id": "a", "answerable": false}\n', 1, "'question'"),
    ('{"id": "a", "question": "q?", "answerable": null, "expect_any": [], "support": []}\n', 1, "'answerable'"),
    ('{"id": "a", "question": "q?", "answerable": true, "expect_any": ["x"], "support": []}\n', 1, "needs non-empty"),
    ('{"id": "a", "question": "q?", "answerable": false, "support": ["x"]}\n', 1, "must have empty"),
    ('{"id": "a", "question": "q?", "answerable": false, "history": "earlier"}\n', 1, "'history'"),
    ('{"id": "a", "question": "q?", "answerable": false}\n\n{"id": "a", "question": "r?", "answerable": false}\n',
     3, "already used on line 1"),
])
def test_loader_rejects_a_malformed_file_naming_file_and_line(tmp_path: Path, content: str, line: int,
                                                              needle: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(EvalSetError) as caught:
        load_eval_set(bad)
    message = str(caught.value)
    assert f"{bad}, line {line}:" in message and needle in message


def test_loader_reports_a_missing_or_empty_file(tmp_path: Path) -> None:
    with pytest.raises(EvalSetError, match="No eval set at .*nothing.jsonl"):
        load_eval_set(tmp_path / "nothing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(EvalSetError, match="has no items"):
        load_eval_set(tmp_path / "empty.jsonl")


def test_loader_fills_history_and_category_from_the_id(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "unans-x", "question": "q?", "answerable": False}) + "\n", encoding="utf-8")
    [item] = load_eval_set(good)
    assert item["history"] == [] and item["category"] == "unanswerable"
