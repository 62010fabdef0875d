"""Which files of a corpus folder are read, and under which names: links, broken links and
subfolders. Real files and real links in tmp_path, read by the real loaders; the engine tests
use the real model."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest

from qa.corpus import corpus_files, display_path, load_corpus, load_document
from qa.engine import Engine, documents_named
from qa.errors import CorpusError, DocumentUnreadable
from qa.index import expected_inputs, stale_reason
from qa.settings import PROJECT_ROOT, Settings

LIGHTHOUSE = "# Lighthouse\n\nThe lighthouse on the point is 40 metres tall. Its lamp was lit in 1871.\n"
FERRY = "The ferry to the island leaves the harbour at nine every morning.\n"
BEES = "# Bees\n\nThe village bees make heather honey from the moor in August.\n"


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "qa.corpus" and r.levelno >= logging.WARNING]


@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """A corpus folder with two articles, and a folder outside it holding a third."""
    corpus, elsewhere = tmp_path / "corpus", tmp_path / "elsewhere"
    corpus.mkdir()
    elsewhere.mkdir()
    (corpus / "lighthouse.md").write_text(LIGHTHOUSE)
    (corpus / "ferry.txt").write_text(FERRY)
    (elsewhere / "bees.md").write_text(BEES)
    return corpus, elsewhere


def sources(corpus: Path) -> list[str]:
    return [d.source for d in load_corpus(corpus)]


# ---------------------------------------------------------------- links


def test_link_beside_its_file_is_read_once_under_the_real_name_with_one_line(
        folders: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    corpus, _ = folders
    os.symlink("lighthouse.md", corpus / "zz-copy.md")
    with caplog.at_level(logging.WARNING, logger="qa.corpus"):
        documents = load_corpus(corpus)
    assert [d.source for d in documents] == [(corpus / "ferry.txt").as_posix(), (corpus / "lighthouse.md").as_posix()]
    lines = warnings_of(caplog)
    assert len(lines) == 1 and "zz-copy.md" in lines[0] and "indexed once" in lines[0], lines
    assert "as lighthouse.md" in lines[0]
    assert corpus_files(corpus) == [corpus / "ferry.txt", corpus / "lighthouse.md"]


def test_a_hard_link_is_read_once_like_a_symlink(folders: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    corpus, _ = folders
    os.link(corpus / "lighthouse.md", corpus / "beacon.md")  # two names, one file: no path tells them apart
    with caplog.at_level(logging.WARNING, logger="qa.corpus"):
        documents = load_corpus(corpus)
    assert [d.source for d in documents] == [(corpus / "beacon.md").as_posix(), (corpus / "ferry.txt").as_posix()]
    lines = warnings_of(caplog)
    assert len(lines) == 1 and "lighthouse.md is another name of the same file" in lines[0], lines


def test_two_links_to_one_outside_file_are_read_once_under_the_first_name(folders: tuple[Path, Path],
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    corpus, elsewhere = folders
    os.symlink(elsewhere / "bees.md", corpus / "bees-b.md")
    os.symlink("../elsewhere/bees.md", corpus / "bees-a.md")
    with caplog.at_level(logging.WARNING, logger="qa.corpus"):
        names = sources(corpus)
    assert names == [(corpus / n).as_posix() for n in ("bees-a.md", "ferry.txt", "lighthouse.md")]
    assert [line for line in warnings_of(caplog) if "bees-b.md" in line and "as bees-a.md" in line]


def test_a_link_is_cited_by_its_name_in_the_corpus_folder_and_found_by_that_name(
        folders: tuple[Path, Path], engine: Engine) -> None:
    corpus, elsewhere = folders
    os.symlink(elsewhere / "bees.md", corpus / "bees-link.md")
    ours = Engine.load(Settings(corpus_dir=corpus, index_dir=corpus.parent / "index"), embedder=engine.embedder)
    linked = (corpus / "bees-link.md").as_posix()
    answer = ours.ask("What honey do the village bees make?")
    assert not answer.abstained and "heather honey" in answer.text, answer.text
    assert {c.source for c in answer.citations} == {linked}  # not .../elsewhere/bees.md
    assert all(c.matches(ours.document(c.source).text) for c in answer.citations)
    assert [d.source for d in documents_named(ours.documents, "bees-link.md")] == [linked]
    assert [d.source for d in documents_named(ours.documents, linked)] == [linked]
    assert ours.ask("What honey do the village bees make?", sources=["bees-link.md"]).citations


def test_broken_link_is_skipped_in_one_line_saying_what_to_do(folders: tuple[Path, Path],
                                                               caplog: pytest.LogCaptureFixture) -> None:
    corpus, elsewhere = folders
    os.symlink(elsewhere / "gone.md", corpus / "broken.md")
    with caplog.at_level(logging.WARNING, logger="qa.corpus"):
        names = sources(corpus)
    assert names == [(corpus / "ferry.txt").as_posix(), (corpus / "lighthouse.md").as_posix()]
    lines = warnings_of(caplog)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Skipping {(corpus / 'broken.md').as_posix()}: ")
    assert "gone.md" in lines[0] and "point the link at the file, or remove it" in lines[0]


def test_a_corpus_of_broken_links_only_is_refused_naming_them(tmp_path: Path) -> None:
    os.symlink(tmp_path / "nowhere.md", tmp_path / "dangling.md")
    with pytest.raises(CorpusError, match="No readable document .*dangling.md: it is a link to .*nowhere.md"):
        load_corpus(tmp_path)


def test_index_is_stale_when_a_link_is_added_removed_or_retargeted(folders: tuple[Path, Path]) -> None:
    corpus, elsewhere = folders
    (elsewhere / "wasps.md").write_text("# Wasps\n\nWasps nest under the eaves of the mill.\n")

    def inputs() -> dict[str, object]:
        return expected_inputs(load_corpus(corpus), Settings(), "model")

    before = inputs()
    os.symlink(elsewhere / "bees.md", corpus / "bees.md")
    added = inputs()
    assert stale_reason(before, added) == f"corpus added {(corpus / 'bees.md').as_posix()}"
    (corpus / "bees.md").unlink()
    os.symlink(elsewhere / "wasps.md", corpus / "bees.md")
    assert stale_reason(added, inputs()) == f"corpus changed {(corpus / 'bees.md').as_posix()}"
    (corpus / "bees.md").unlink()
    assert stale_reason(added, inputs()) == f"corpus removed {(corpus / 'bees.md').as_posix()}"
    # A second name for a file already read adds nothing to the index: it stays what a fresh build makes.
    os.symlink("ferry.txt", corpus / "ferry-again.txt")
    assert stale_reason(before, inputs()) is None


def test_ordinary_files_are_named_by_their_real_path_as_before(tmp_path: Path) -> None:
    article = PROJECT_ROOT / "corpus" / "battery-race.md"
    assert display_path(article) == "corpus/battery-race.md"
    real = tmp_path / "real"
    real.mkdir()
    (real / "ferry.txt").write_text(FERRY)
    os.symlink(real, tmp_path / "linked-folder")  # a corpus folder reached through a link
    assert sources(tmp_path / "linked-folder") == [(real / "ferry.txt").as_posix()]


# ---------------------------------------------------------------- subfolders


def test_folder_with_documents_only_in_a_subfolder_says_they_are_not_read_and_names_one(tmp_path: Path) -> None:
    (tmp_path / "docs" / "2024").mkdir(parents=True)
    (tmp_path / "docs" / "2024" / "lighthouse.md").write_text(LIGHTHOUSE)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "aaa.md").write_text(FERRY)  # hidden folders are not searched
    with pytest.raises(CorpusError) as raised:
        corpus_files(tmp_path)
    message = str(raised.value)
    assert "has no .md, .txt, .pdf, .html, .htm or .docx files" in message
    assert "docs/2024/lighthouse.md is in a subfolder" in message and "move your documents up" in message


def test_empty_folder_message_mentions_no_subfolder(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.csv").write_text("a,b\n")
    with pytest.raises(CorpusError) as raised:
        corpus_files(tmp_path)
    assert "subfolder" not in str(raised.value)


def test_documents_in_subfolders_are_named_in_one_line_and_uploads_are_still_read(
        folders: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    corpus, _ = folders
    (corpus / "uploads").mkdir()
    (corpus / "uploads" / "bees.md").write_text(BEES)
    (corpus / "sub" / "deeper").mkdir(parents=True)
    (corpus / "sub" / "deeper" / "ferry-nested.txt").write_text(FERRY)
    (corpus / "sub" / "other.md").write_text(LIGHTHOUSE)
    with caplog.at_level(logging.WARNING, logger="qa.corpus"):
        names = sources(corpus)
    assert names == [(corpus / n).as_posix() for n in ("ferry.txt", "lighthouse.md", "uploads/bees.md")]
    lines = warnings_of(caplog)
    assert len(lines) == 1 and lines[0].startswith("Not reading sub/other.md (nor any other")  # the shallowest, first by name, lines
    assert "move a document up to index it" in lines[0]


def test_uploads_alone_is_no_subfolder_to_warn_about(folders: tuple[Path, Path],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    corpus, _ = folders
    (corpus / "uploads").mkdir()
    (corpus / "uploads" / "bees.md").write_text(BEES)
    with caplog.at_level(logging.WARNING, logger="qa.corpus"):
        assert len(sources(corpus)) == 3
    assert warnings_of(caplog) == []


# ---------------------------------------------------------------- HTML encodings


def html_text(tmp_path: Path, data: bytes, name: str = "page.html") -> str:
    from qa.corpus import load_document

    (tmp_path / name).write_bytes(data)
    return " ".join(b.text for b in load_document(tmp_path / name, Settings()).blocks)


def test_html_without_a_declared_charset_that_is_not_utf8_is_read_as_windows_1252(tmp_path: Path) -> None:
    page = (b"<html><body><h1>Caf\xe9</h1><p>The caf\xe9 on the quay serves cr\xeapes every Sunday morning.</p>"
            b"<p>\x93Fresh\x94 ones cost 3 \x80 \x96 the owner says so.</p></body></html>")
    assert html_text(tmp_path, page) == ("The café on the quay serves crêpes every Sunday morning. "
                                         "“Fresh” ones cost 3 € – the owner says so.")


def test_html_byte_windows_1252_leaves_undefined_is_read_not_refused(tmp_path: Path) -> None:
    assert html_text(tmp_path, b"<p>Na\xefve \x81caf\xe9 text.</p>") == "Naïve \x81café text."


@pytest.mark.parametrize("page, expected", [
    ("<p>Zürich serves crêpes and “coffee”.</p>".encode("utf-8"), "Zürich serves crêpes and “coffee”."),
    ('<meta charset="windows-1250"><p>Łódź serves crępes.</p>'.encode("cp1250"), "Łódź serves crępes."),
    ('<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-2"><p>Łódź is a city.</p>'.encode("iso-8859-2"),
     "Łódź is a city."),
    ("\ufeff<p>Crème brûlée, with a byte-order mark.</p>".encode("utf-16-le"), "Crème brûlée, with a byte-order mark."),
])
def test_html_in_utf8_or_a_declared_charset_reads_as_declared(tmp_path: Path, page: bytes, expected: str) -> None:
    assert html_text(tmp_path, page) == expected


# ---------------------------------------------------------------- Word heading levels


def word_file(tmp_path: Path, title: bool) -> Path:
    import docx

    word = docx.Document()
    if title:
        word.add_heading("Bakery Report", 0)  # the "Title" style
        word.add_paragraph("The bakery on the square opened in 1998.")
    word.add_heading("Bread", 1)
    word.add_paragraph("Sourdough sells best on Saturdays.")
    word.add_heading("Rye", 2)
    word.add_paragraph("Rye loaves sell out on Fridays.")
    path = tmp_path / "bakery.docx"
    word.save(path)
    return path


def test_word_title_names_the_document_and_heading_1_is_a_section_under_it(tmp_path: Path) -> None:
    from qa.corpus import load_document

    document = load_document(word_file(tmp_path, title=True), Settings())
    assert document.title == "Bakery Report"
    assert [line for line in document.text.splitlines() if line.startswith("#")] == [
        "# Bakery Report", "## Bread", "### Rye"]
    paths = {b.text: b.headings for b in document.blocks}
    assert paths["Sourdough sells best on Saturdays."] == ("Bakery Report", "Bread")
    assert paths["Rye loaves sell out on Fridays."] == ("Bakery Report", "Bread", "Rye")
    assert all(document.text[b.start:b.end] == b.text for b in document.blocks)


def test_word_without_a_title_keeps_heading_1_as_the_top_heading(tmp_path: Path) -> None:
    from qa.corpus import load_document

    document = load_document(word_file(tmp_path, title=False), Settings())
    assert document.title == "Bread"
    assert [line for line in document.text.splitlines() if line.startswith("#")] == ["# Bread", "## Rye"]


@pytest.mark.parametrize(("limit", "size", "says"), [
    (500, 1_000, "it is 1,000 bytes, over the 500 bytes limit"),
    (2_000_000, 2_500_000, "it is 2.5 MB, over the 2 MB limit")])
def test_a_file_over_the_size_limit_says_both_sizes_readably(tmp_path: Path, limit: int, size: int, says: str) -> None:
    """A small limit read "it is 0.0 MB, over the 0.0 MB limit"."""
    path = tmp_path / "big.txt"
    path.write_text("word " * (size // 5), encoding="utf-8")
    with pytest.raises(DocumentUnreadable, match=re.escape(says)):
        load_document(path, Settings(max_document_bytes=limit))
