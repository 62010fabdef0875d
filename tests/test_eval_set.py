"""The eval sets themselves: a wrong label would make every metric lie, so every label is
checked against the corpus its set names; the split, the sidecars and the loader are checked
on small files written here."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from qa.corpus import load_corpus
from qa.errors import EvalSetError
from qa.evalsets import EvalSet, category_of, fold, load_eval_set, load_sets, shipped_sets, split_of
from qa.settings import PROJECT_ROOT, Settings

SETS = load_sets()
ARTICLE = PROJECT_ROOT / "corpus" / "battery-race.md"


def corpus_text(eval_set: EvalSet) -> str:
    return fold(" ".join(d.text for d in load_corpus(eval_set.corpus_dir or Settings().corpus_dir)))


def test_three_sets_of_three_genres_ship_with_their_corpus_and_licence() -> None:
    assert {s.name for s in SETS} >= {"battery", "computational-complexity", "opening-to-japan"}
    for eval_set in SETS:
        assert eval_set.corpus_dir is not None and eval_set.corpus_dir.exists(), eval_set.name
        assert eval_set.meta.get("source") and eval_set.meta.get("licence"), eval_set.name


def test_the_battery_set_asks_the_bundled_article_alone_whatever_is_uploaded() -> None:
    """Documents uploaded from the page go to corpus/uploads/, which the corpus folder takes in:
    a set naming the folder was answered from them too, and `qa train` then rewrote the
    committed model. The set names the article itself."""
    from qa.corpus import corpus_files

    battery = next(s for s in SETS if s.name == "battery")
    assert battery.corpus_dir == ARTICLE
    assert corpus_files(battery.corpus_dir) == [ARTICLE]


@pytest.mark.parametrize("eval_set", SETS, ids=lambda s: s.name)
def test_every_label_string_occurs_in_the_sets_own_corpus(eval_set: EvalSet) -> None:
    text = corpus_text(eval_set)
    missing = [(item["id"], s) for item in eval_set.items for s in item["support"] + item["expect_any"]
               if fold(s) not in text]
    assert not missing, f"label strings not found in {eval_set.corpus_dir}: {missing[:5]}"


def test_squad_support_is_a_sentence_holding_a_gold_span() -> None:
    """scripts/squad_support.py: the support of a SQuAD question is the sentence of its own
    paragraph that holds its answer, not the short span alone ("time" occurs all over)."""
    squad = next(s for s in SETS if s.name == "computational-complexity")
    for item in (i for i in squad.items if i["answerable"]):
        assert all(any(span in sentence for span in item["expect_any"]) for sentence in item["support"]), item["id"]
        assert all(sentence.rstrip().endswith((".", "?", "!", ":", '"', ")")) for sentence in item["support"]), item["id"]


@pytest.mark.parametrize("eval_set", SETS, ids=lambda s: s.name)
def test_labels_agree_with_answerability(eval_set: EvalSet) -> None:
    for item in eval_set.items:
        assert bool(item["expect_any"]) == bool(item["support"]) == item["answerable"], item["id"]
        if item["category"] == "followup":
            assert item["history"], item["id"]


@pytest.mark.parametrize("eval_set", SETS, ids=lambda s: s.name)
def test_each_set_has_answerable_and_unanswerable_items_in_both_splits(eval_set: EvalSet) -> None:
    for split in ("test",) if eval_set.held_out else ("tune", "test"):
        items = eval_set.split(split)
        assert any(i["answerable"] for i in items) and any(not i["answerable"] for i in items), (eval_set.name, split)
    assert len(eval_set.split("tune")) + len(eval_set.split("test")) == len(eval_set.items)


def test_the_battery_faq_questions_appear_verbatim() -> None:
    battery = next(s for s in SETS if s.name == "battery")
    text = ARTICLE.read_text(encoding="utf-8")
    faq = text.split("## Frequently Asked Questions", 1)[1].split("\n## ", 1)[0]
    headings = re.findall(r"^### (.+?)\s*$", faq, flags=re.M)
    assert len(headings) == 5
    assert set(headings) <= {item["question"] for item in battery.items}


def test_ids_are_unique_across_every_set() -> None:
    counts = Counter(item["id"] for s in SETS for item in s.items)
    assert [i for i, n in counts.items() if n > 1] == []


def test_the_split_is_a_stable_hash_of_the_id() -> None:
    assert split_of("faq-1") == split_of("faq-1")
    splits = Counter(split_of(f"item-{n}") for n in range(1000))
    assert 430 < splits["test"] < 570  # about half each
    # Pinned: a change to the hash would silently move items between tune and test.
    assert {i: split_of(i) for i in ("faq-1", "user-01", "cct-56e16182e3433e1400422e28", "opening-to-japan-01")} == {
        "faq-1": "tune", "user-01": "tune", "cct-56e16182e3433e1400422e28": "test", "opening-to-japan-01": "test"}


def test_a_set_without_sidecar_asks_the_corpus_in_force_and_indexes_by_corpus_hash(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"id": "x-1", "question": "q?", "answerable": False}) + "\n", encoding="utf-8")
    eval_set = load_eval_set(path)
    assert eval_set.corpus_dir is None and eval_set.name == "mine"
    base = Settings(index_dir=tmp_path / "index")
    settings = eval_set.settings_for(base)
    assert settings.corpus_dir == base.corpus_dir
    assert settings.index_dir.parent == tmp_path / "index" / "corpora" and len(settings.index_dir.name) == 16


def test_a_sidecar_names_the_corpus_and_a_missing_one_is_reported(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\nText.\n", encoding="utf-8")
    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"id": "x-1", "question": "q?", "answerable": False}) + "\n", encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps({"name": "mine", "corpus": "docs"}), encoding="utf-8")
    assert load_eval_set(path).corpus_dir == tmp_path / "docs"
    path.with_suffix(".json").write_text(json.dumps({"corpus": "nowhere"}), encoding="utf-8")
    with pytest.raises(EvalSetError, match="does not exist"):
        load_eval_set(path)


def test_a_set_with_an_article_of_its_name_beside_it_asks_about_that_article(tmp_path: Path) -> None:
    from qa.corpus import corpus_files

    path = tmp_path / "mine.jsonl"
    path.write_text(json.dumps({"id": "x-1", "question": "q?", "answerable": False}) + "\n", encoding="utf-8")
    (tmp_path / "other.md").write_text("# Other\n\nText.\n", encoding="utf-8")
    assert load_eval_set(path).corpus_dir is None  # another name is not its article
    (tmp_path / "mine.txt").write_text("Its text.\n", encoding="utf-8")
    eval_set = load_eval_set(path)
    assert eval_set.corpus_dir == tmp_path / "mine.txt"
    assert corpus_files(eval_set.corpus_dir) == [tmp_path / "mine.txt"]  # that document alone, not its folder
    path.with_suffix(".json").write_text(json.dumps({"corpus": "."}), encoding="utf-8")
    assert load_eval_set(path).corpus_dir == tmp_path / "."  # a sidecar's corpus comes first


def test_a_set_and_its_article_saved_with_a_byte_order_mark_read_as_without(tmp_path: Path) -> None:
    """Windows editors start UTF-8 files with a byte-order mark: json refused the first line,
    and the article's title line was read as text."""
    bom = "\ufeff"
    item = {"id": "w-1", "question": "When was Eldermere founded?", "answerable": True,
            "expect_any": ["911"], "support": ["founded in 911"]}
    (tmp_path / "win.jsonl").write_text(bom + json.dumps(item) + "\n", encoding="utf-8")
    (tmp_path / "win.json").write_text(bom + json.dumps({"name": "windows", "corpus": "docs"}), encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "town.md").write_text(bom + "# Eldermere\n\nThe town was founded in 911.\n", encoding="utf-8")
    eval_set = load_eval_set(tmp_path / "win.jsonl")
    assert eval_set.name == "windows" and eval_set.items[0]["id"] == "w-1"
    [document] = load_corpus(eval_set.corpus_dir)
    assert document.title == "Eldermere" and [b.text for b in document.blocks] == ["The town was founded in 911."]


def test_a_set_whose_answers_its_corpus_never_says_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    from qa.evalsets import check_answers_in

    path = tmp_path / "mine.jsonl"
    items = [{"id": f"x-{n}", "question": "q?", "answerable": True, "expect_any": [answer], "support": [answer]}
             for n, answer in enumerate(["at seven", "the harbour", "two euros"])]
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    said: list[str] = []
    check_answers_in(load_eval_set(path), ["The ferry leaves the harbour at seven."], tmp_path, said.append)
    assert said == ["mine: 1 of 3 answerable questions expect an answer the corpus never says (first: x-2); "
                    "they cannot count as answered right."]
    with pytest.raises(EvalSetError, match="asks about another article. Put that article beside the set as mine.md"):
        check_answers_in(load_eval_set(path), ["The bus leaves at eight."], tmp_path, said.append)


def test_a_held_out_set_is_all_test_and_never_trained_on(tmp_path: Path) -> None:
    from qa.train import train

    path = tmp_path / "mine.jsonl"
    items = [{"id": f"x-{n}", "question": "q?", "answerable": False} for n in range(8)]
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    assert {split_of(i["id"]) for i in items} == {"tune", "test"}  # without the flag both splits hold some
    path.with_suffix(".json").write_text(json.dumps({"held_out": True}), encoding="utf-8")
    eval_set = load_eval_set(path)
    assert eval_set.held_out
    assert eval_set.split("tune") == [] and len(eval_set.split("test")) == len(eval_set.split("all")) == 8
    said: list[str] = []
    with pytest.raises(EvalSetError, match="held out"):
        train([eval_set], Settings(index_dir=tmp_path / "index"), said.append)
    assert said == ["mine: held out, not trained on"]
    path.with_suffix(".json").write_text(json.dumps({"held_out": "yes"}), encoding="utf-8")
    with pytest.raises(EvalSetError, match="true or false"):
        load_eval_set(path)


def test_the_shipped_held_out_sets_say_why() -> None:
    held = [s for s in SETS if s.held_out]
    assert {s.name for s in held} == {"berlin-airlift", "ernst-abbe"}
    assert all(s.meta.get("held_out_why") for s in held)


def test_shipped_sets_are_found() -> None:
    assert {p.stem for p in shipped_sets()} >= {"battery", "computational-complexity", "opening-to-japan"}


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
    [item] = load_eval_set(good).items
    assert item["history"] == [] and item["category"] == "unanswerable"
    assert category_of({"id": "para-3b"}) == "paraphrase"


def test_a_set_given_twice_counts_once_and_two_sets_of_one_name_are_refused(tmp_path: Path) -> None:
    shipped = PROJECT_ROOT / "eval" / "sets" / "battery.jsonl"
    assert [s.name for s in load_sets([shipped, shipped])] == ["battery"]
    other = tmp_path / "battery.jsonl"
    other.write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(EvalSetError, match="Two sets are named 'battery'.*Rename one"):
        load_sets([shipped, other])


@pytest.mark.slow
def test_sets_on_one_article_lend_each_other_no_off_topic_questions(tmp_path: Path) -> None:
    """The topic gate learns "about something else" from other articles' questions; a second
    set on the same article asks about the same thing, and lends none."""
    from qa.train import borrow, gather

    shipped = PROJECT_ROOT / "eval" / "sets" / "battery.jsonl"
    mine = tmp_path / "mine.jsonl"
    mine.write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")  # no mine.md: the bundled article
    examples = gather(load_sets([shipped, mine]), Settings(index_dir=tmp_path / "index"), lambda _: None)
    assert {e.corpus for e in examples} == {"battery", "mine"}
    assert borrow(examples) == []
