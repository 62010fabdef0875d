"""PDF, HTML and Word files in the corpus. Each file is made here (the PDFs printed by the real
headless Chromium), indexed with the real engine and asked a question; every citation is
checked against the extracted text the index holds, and a PDF citation names the page that
really holds its sentence (pypdf, another PDF library, is the oracle). Files that cannot be
read are each skipped with one line saying what to do, and the rest of the corpus answers."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

import pytest

from qa.chunking import is_question_heading
from qa.corpus import load_corpus, load_document
from qa.engine import Engine
from qa.errors import CorpusError, DocumentUnreadable
from qa.settings import PROJECT_ROOT, Settings
from qa.types import Citation, Document

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")

FILLER = " ".join(f"Sorting line {n} separates sodium cells from lithium cells by weight." for n in range(1, 31))
PDF_ARTICLE = f"""<!doctype html><html><head><title>Sodium Cells</title></head><body>
<h1>Sodium Cells</h1>
<p>Sodium-ion cells cost about 40 dollars per kilowatt-hour in 2024. They use no lithium and no cobalt.</p>
<h2>Makers</h2>
<p>The largest maker of sodium-ion cells is based in Ningde. It opened its first sodium line in 2023.</p>
<h2 style="break-before: page">Recycling</h2>
<p>Recycling plants recover aluminium and copper from spent sodium cells.</p>
<p>{FILLER}</p>
<h3>Water use</h3>
<p>A sodium recycling plant uses 3 litres of water per cell.</p>
</body></html>"""
# Small pages, so the Recycling section runs over page breaks, with a running head and page numbers.
PDF_PRINT = {"width": "5in", "height": "4in", "margin": {"top": "0.6in", "bottom": "0.6in", "left": "0.4in", "right": "0.4in"},
             "display_header_footer": True,
             "header_template": '<div style="font-size:9px;margin-left:0.4in">Sodium Cells Quarterly</div>',
             "footer_template": '<div style="font-size:9px;margin-left:0.4in">Page <span class="pageNumber"></span></div>'}
PDF_QUESTION, PDF_FACT = "How much water does a sodium recycling plant use per cell?", "3 litres of water"

HTML_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Grid Storage | Example News</title>
<script>var tracking = "never index me";</script><style>p { color: red }</style></head><body>
<header><a href="/">Example News</a><nav><a href="/a">Subscribe now</a></nav></header>
<article><header><h1>Grid Storage</h1></header>
<p>Grid storage keeps power for the hours when wind and sun are weak.</p>
<h2>Pumped hydro</h2>
<p>Pumped hydro holds <b>90 percent</b> of the world's grid storage capacity.</p>
<ul><li>It pumps water uphill when power is cheap.</li><li>It lets the water run down through turbines when power is dear.</li></ul>
<h2>Flow batteries</h2>
<p>Flow batteries keep their energy in tanks of vanadium electrolyte.</p>
<aside>Related: ten gadgets you must buy</aside>
</article><footer>Copyright Example News</footer></body></html>"""
HTML_QUESTION, HTML_FACT = "What share of grid storage capacity does pumped hydro hold?", "90 percent"

DOCX_QUESTION, DOCX_FACT = "How many tonnes of used batteries did households return?", "12,000 tonnes"


# ---------------------------------------------------------------- making the files

@pytest.fixture(scope="module")
def print_pdf() -> Iterator[Callable[..., bytes]]:
    """HTML -> PDF bytes, printed by the real headless Chromium (outline = bookmarks from the headings)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_page()

        def render(html: str, outline: bool = True, **options: Any) -> bytes:
            tab.set_content(html)
            return tab.pdf(outline=outline, tagged=outline, **options)

        yield render
        browser.close()


def make_docx() -> bytes:
    import docx

    word = docx.Document()
    word.add_heading("Battery Recycling Report", 0)
    word.add_paragraph("This report counts the batteries collected for recycling.")
    word.add_heading("Collection", 1)
    word.add_paragraph("Households returned 12,000 tonnes of used batteries in 2023.")
    word.add_paragraph("Shops took back phone batteries.", style="List Bullet")
    word.add_paragraph("Car dealers took back traction batteries.", style="List Bullet")
    table = word.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Year", (0, 1): "Tonnes", (1, 0): "2023", (1, 1): "12,000"}.items():
        table.cell(row, col).text = text
    word.add_heading("Sorting", 2)
    sorting = word.add_paragraph("Sorting robots separate cells by ")
    sorting.add_run("chemistry").bold = True
    sorting.add_run(" before shredding.")
    out = io.BytesIO()
    word.save(out)
    return out.getvalue()


def encrypt(pdf: bytes, user_password: str, algorithm: str = "AES-256") -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(pdf))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_bomb(unpacked_mb: int = 150) -> bytes:
    """A .docx-shaped zip whose document part unpacks to `unpacked_mb` MB of zeros (about 1,000:1)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.'
                         'openxmlformats.org/package/2006/content-types"/>')
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            zeros = b"\0" * (1 << 20)
            for _ in range(unpacked_mb):
                member.write(zeros)
    return out.getvalue()


def damaged_docx(good: bytes) -> bytes:
    """A real .docx whose document part is cut in half (as after a broken copy)."""
    source, out = zipfile.ZipFile(io.BytesIO(good)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info)
            archive.writestr(info, data[: len(data) // 2] if info.filename == "word/document.xml" else data)
    return out.getvalue()


@pytest.fixture(scope="module")
def good_files(print_pdf: Callable[..., bytes]) -> dict[str, bytes]:
    return {
        "cells.pdf": print_pdf(PDF_ARTICLE, **PDF_PRINT),
        "grid.html": HTML_PAGE.encode("utf-8"),
        "recycling.docx": make_docx(),
    }


@pytest.fixture(scope="module")
def bad_files(print_pdf: Callable[..., bytes], good_files: dict[str, bytes]) -> dict[str, tuple[bytes, str]]:
    """Every kind of file that cannot be read, and a phrase its one-line message must hold."""
    pdf, docx_bytes = good_files["cells.pdf"], good_files["recycling.docx"]
    image_only = "<html><body><svg width=400 height=300><rect width=400 height=300 fill=teal /></svg></body></html>"
    return {
        "scan.pdf": (print_pdf(image_only, outline=False), "no text layer: OCR it first"),
        "locked.pdf": (encrypt(pdf, "secret"), "encrypted and needs a password"),
        "locked-rc4.pdf": (encrypt(pdf, "secret", "RC4-128"), "encrypted and needs a password"),
        "truncated.pdf": (pdf[: len(pdf) // 2], "cannot be read as a PDF"),
        "not-a.pdf": (os.urandom(3000), "no %PDF- header"),
        "garbage.docx": (os.urandom(3000), "not a zip archive"),
        "damaged.docx": (damaged_docx(docx_bytes), "cannot be read as a Word file"),
        "spreadsheet.docx": (_plain_zip(), "cannot be read as a Word file"),
        "bomb.docx": (zip_bomb(), "zip bomb"),
        "photo.html": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(200), "not an HTML page"),
        "photo.md": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks binary"),
        "latin1.txt": ("Café crème costs 3 euros.".encode("latin-1"), "not valid UTF-8"),
        "huge.txt": (b"Sodium is cheap. " * 20_000, "QA_MAX_DOCUMENT_BYTES"),
        "empty.html": (b"<html><body><nav>Home</nav></body></html>", "no paragraph to quote"),
        "deep.html": (b"<body>" + b"<div>" * 5000 + b"<p>Deep down.</p>" + b"</div>" * 5000 + b"</body>", "nest too deeply"),
    }


def _plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("sheet.csv", "a,b\n1,2\n")
    return out.getvalue()


# A limit that the good files and the (small, compressed) bomb pass, and huge.txt (340 KB) does not.
LIMITS = Settings(max_document_bytes=300_000)


class Warnings(logging.Handler):
    """The warnings the corpus loader logs, as lines."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, good_files: dict[str, bytes],
           bad_files: dict[str, tuple[bytes, str]]) -> Path:
    folder = tmp_path_factory.mktemp("documents") / "corpus"
    folder.mkdir()
    for name, data in good_files.items():
        (folder / name).write_bytes(data)
    for name, (data, _says) in bad_files.items():
        (folder / name).write_bytes(data)
    return folder


class Loaded(NamedTuple):
    engine: Engine
    warnings: list[str]


@pytest.fixture(scope="module")
def loaded(corpus: Path, engine: Engine) -> Loaded:
    """The real engine over the good and the bad files together, and the warnings it logged."""
    warnings = Warnings()
    logger = logging.getLogger("qa.corpus")
    logger.addHandler(warnings)
    try:
        ours = Engine.load(LIMITS.with_(corpus_dir=corpus, index_dir=corpus.parent / "index"), embedder=engine.embedder)
    finally:
        logger.removeHandler(warnings)
    return Loaded(ours, warnings.lines)


def quoting(engine: Engine, question: str, fact: str) -> list[Citation]:
    """Ask; the answer must hold the fact and every citation must match the text the index
    holds (the grounding invariant). Returns the citations that quote the fact."""
    answer = engine.ask(question)
    assert not answer.abstained and fact in answer.text, answer.text
    for citation in answer.citations:
        assert citation.matches(engine.document(citation.source).text), citation
    return [c for c in answer.citations if fact in c.quote]


def document_named(engine: Engine, name: str) -> Document:
    return next(d for d in engine.documents if d.source.endswith("/" + name))


def squash(text: str) -> str:
    return "".join(text.split())


# ---------------------------------------------------------------- asking each format

def test_pdf_answer_cites_the_extracted_text_and_the_page_that_holds_it(loaded: Loaded) -> None:
    from pypdf import PdfReader

    [citation] = quoting(loaded.engine, PDF_QUESTION, PDF_FACT)
    assert citation.source.endswith("/cells.pdf") and citation.section == "Recycling > Water use"
    pages = [page.extract_text() for page in PdfReader(PROJECT_ROOT / citation.source).pages]
    holding = [n for n, text in enumerate(pages, 1) if squash(citation.quote) in squash(text)]
    assert holding == [citation.page] and citation.page >= 2, (holding, citation.page)
    assert citation.to_dict()["page"] == citation.page  # what `qa ask --json` prints


def test_every_pdf_sentence_sits_on_its_page_and_no_window_crosses_pages(loaded: Loaded) -> None:
    from pypdf import PdfReader

    ours = loaded.engine
    document = document_named(ours, "cells.pdf")
    pages = [squash(page.extract_text()) for page in PdfReader(PROJECT_ROOT / document.source).pages]
    assert len(document.page_starts) == len(pages) >= 3  # the filler paragraph runs over a page break
    sentences = [s for s in ours.index.sentences if s.source == document.source]
    for sentence in sentences:
        assert squash(sentence.text) in pages[sentence.page - 1], (sentence.page, sentence.text)
        starts = document.page_starts
        assert starts[sentence.page - 1] <= sentence.start and (sentence.page == len(starts) or sentence.end <= starts[sentence.page])
    for chunk in (c for c in ours.index.chunks if c.source == document.source):
        if not is_question_heading(chunk.section):
            assert {ours.index.sentences[i].page for i in chunk.sentence_ids} == {chunk.page}, chunk.id


def test_html_answer_is_grounded_under_its_heading_and_page_clutter_is_left_out(loaded: Loaded) -> None:
    citations = quoting(loaded.engine, HTML_QUESTION, HTML_FACT)
    assert {(c.section, c.page) for c in citations} == {("Pumped hydro", None)}
    document = document_named(loaded.engine, "grid.html")
    assert document.title == "Grid Storage"
    for clutter in ("never index me", "color: red", "Subscribe", "gadgets", "Copyright", "Example News"):
        assert clutter not in document.text


def test_word_answer_is_grounded_under_its_heading_style(loaded: Loaded) -> None:
    citations = quoting(loaded.engine, DOCX_QUESTION, DOCX_FACT)
    assert {(c.section, c.page) for c in citations} == {("Collection", None)}
    document = document_named(loaded.engine, "recycling.docx")
    assert document.title == "Battery Recycling Report"
    assert "Sorting robots separate cells by chemistry before shredding." in document.text  # runs joined, bold or not
    assert "- Shops took back phone batteries." in document.text and "2023 | 12,000" in document.text


def test_changing_a_pdf_makes_the_index_stale_by_name(loaded: Loaded, corpus: Path,
                                                    print_pdf: Callable[..., bytes]) -> None:
    """The manifest holds the hash of the PDF's bytes, so an edited PDF rebuilds the index."""
    from qa.index import expected_inputs, stale_reason

    path = corpus / "cells.pdf"
    original = path.read_bytes()
    path.write_bytes(print_pdf(PDF_ARTICLE.replace("3 litres", "4 litres"), **PDF_PRINT))
    try:
        expected = expected_inputs(load_corpus(corpus, LIMITS), LIMITS, loaded.engine.embedder.name)
    finally:
        path.write_bytes(original)
    assert stale_reason(loaded.engine.index.manifest["inputs"], expected) == f"corpus changed {path.resolve()}"


# ---------------------------------------------------------------- files that cannot be read

def test_each_unreadable_file_is_skipped_in_one_line_and_the_rest_answers(
        loaded: Loaded, bad_files: dict[str, tuple[bytes, str]]) -> None:
    ours, warnings = loaded
    indexed = {Path(d.source).name for d in ours.documents}
    assert indexed == {"cells.pdf", "grid.html", "recycling.docx"}
    for name, (_data, says) in bad_files.items():
        naming = [line for line in warnings if f"/{name}:" in line]
        assert len(naming) == 1 and says in naming[0] and "\n" not in naming[0], (name, warnings)
    assert len(warnings) == len(bad_files)
    assert PDF_FACT in ours.ask(PDF_QUESTION).text


@pytest.mark.parametrize("name", ["scan.pdf", "locked.pdf", "truncated.pdf", "bomb.docx", "photo.html", "huge.txt"])
def test_unreadable_file_message_says_what_to_do(corpus: Path, name: str) -> None:
    with pytest.raises(DocumentUnreadable) as error:
        load_document(corpus / name, LIMITS)
    message = str(error.value)
    assert message.startswith(f"Skipping {corpus / name}: ") and "\n" not in message
    assert re.search(r"OCR it|save a copy|save or print it again|raise the limit|remove it|split it", message), message


def test_pdf_encrypted_with_an_owner_password_only_is_read(good_files: dict[str, bytes], tmp_path: Path) -> None:
    """Any viewer opens it without a password, so its text is not secret: it is indexed."""
    path = tmp_path / "owner-only.pdf"
    path.write_bytes(encrypt(good_files["cells.pdf"], user_password=""))
    document = load_document(path, Settings())
    assert "3 litres of water per cell" in document.text and len(document.page_starts) >= 3


def test_zip_bomb_limit_is_read_from_the_zip_directory_and_can_be_lowered(tmp_path: Path) -> None:
    path = tmp_path / "small-bomb.docx"
    path.write_bytes(zip_bomb(unpacked_mb=3))
    with pytest.raises(DocumentUnreadable) as error:  # 3 MB unpacked passes the default limit; Word then refuses it
        load_document(path, Settings())
    assert "zip bomb" not in error.value.reason and "cannot be read as a Word file" in error.value.reason
    with pytest.raises(DocumentUnreadable, match=r"unpack to 3 MB, over the 2 MB limit \(QA_MAX_UNZIPPED_BYTES\)"):
        load_document(path, Settings(max_unzipped_bytes=2_000_000))


def test_size_limits_come_from_the_environment() -> None:
    settings = Settings.from_env({"QA_MAX_DOCUMENT_BYTES": "1000", "QA_MAX_UNZIPPED_BYTES": "5000"})
    assert (settings.max_document_bytes, settings.max_unzipped_bytes) == (1000, 5000)


def test_corpus_of_only_unreadable_files_is_refused_naming_each(corpus: Path, tmp_path: Path,
                                                                bad_files: dict[str, tuple[bytes, str]]) -> None:
    folder = tmp_path / "bad-only"
    folder.mkdir()
    for name in ("scan.pdf", "garbage.docx", "photo.md"):
        (folder / name).write_bytes(bad_files[name][0])
    with pytest.raises(CorpusError) as error:
        load_corpus(folder)
    message = str(error.value)
    assert "No readable document" in message and "\n" not in message
    assert all(name in message for name in ("scan.pdf", "garbage.docx", "photo.md"))


# ---------------------------------------------------------------- structure of each format

def test_pdf_outline_entries_become_sections_and_running_heads_are_left_out(corpus: Path) -> None:
    document = load_document(corpus / "cells.pdf", Settings())
    assert document.title == "Sodium Cells"
    sections = {b.headings for b in document.blocks}
    assert {("Sodium Cells",), ("Sodium Cells", "Makers"), ("Sodium Cells", "Recycling"),
            ("Sodium Cells", "Recycling", "Water use")} <= sections
    assert "## Makers" in document.text  # headings read as headings in the extracted text
    from pypdf import PdfReader

    printed = [page.extract_text() for page in PdfReader(corpus / "cells.pdf").pages]
    assert all("Sodium Cells Quarterly" in text for text in printed) and "Page 2" in printed[1]
    assert "Quarterly" not in document.text and "Page 2" not in document.text  # running head and page numbers left out


def test_pdf_without_outline_finds_its_sections_by_type_size(print_pdf: Callable[..., bytes], tmp_path: Path) -> None:
    """Most PDFs have no outline (a browser's or a word processor's export): their headings are
    the short lines set larger than the body text, as the outline would have named them."""
    path = tmp_path / "plain.pdf"
    path.write_bytes(print_pdf(PDF_ARTICLE, outline=False))
    document = load_document(path, Settings())
    assert document.title == "Sodium Cells"
    assert {b.headings for b in document.blocks} == {
        ("Sodium Cells",), ("Sodium Cells", "Makers"), ("Sodium Cells", "Recycling"),
        ("Sodium Cells", "Recycling", "Water use")}
    assert "## Makers" in document.text and "### Water use" in document.text
    assert all(b.text not in ("Makers", "Recycling", "Water use") for b in document.blocks)  # no one-word passages
    assert {b.page for b in document.blocks} == {1, 2} and len(document.page_starts) == 2
    for block in document.blocks:
        assert document.text[block.start:block.end] == block.text


def test_pdf_without_outline_or_title_is_named_by_its_first_heading_and_bold_lines_head_sections(
        print_pdf: Callable[..., bytes], tmp_path: Path) -> None:
    report = """<!doctype html><html><body><h1>Glacier Survey Report</h1>
<p>The survey measured the retreat of the Vatna glacier over the summer of 2024.</p>
<h2>Results</h2><p>The glacier lost 41 metres at its snout. Melt was fastest in late July.</p>
<p><b>Outlook</b></p><p>Retreat is expected to continue through 2030.</p>
<p><b>Note:</b></p><p>A bold line that ends as a clause does is a lead-in, not a heading.</p>
<p>Short plain lines stay text</p></body></html>"""
    path = tmp_path / "report-as.pdf"
    path.write_bytes(print_pdf(report, outline=False))
    document = load_document(path, Settings())
    assert document.title == "Glacier Survey Report"  # not "Report as", from the file name
    headings = {b.text: b.headings for b in document.blocks}
    assert headings["Retreat is expected to continue through 2030."] == ("Glacier Survey Report", "Results", "Outlook")
    assert "Note:" in headings and "Short plain lines stay text" in headings


def test_html_encoding_is_taken_from_the_page(tmp_path: Path) -> None:
    path = tmp_path / "cafe.htm"
    path.write_bytes('<html><head><meta charset="windows-1252"></head><body><h1>Café</h1>'
                     '<p>Crème brûlée costs 3 euros.</p></body></html>'.encode("cp1252"))
    document = load_document(path, Settings())
    assert document.title == "Café" and document.blocks[0].text == "Crème brûlée costs 3 euros."


def test_offsets_of_every_block_point_into_the_extracted_text(loaded: Loaded, corpus: Path) -> None:
    ours = loaded.engine
    for name in ("cells.pdf", "grid.html", "recycling.docx"):
        document = load_document(corpus / name, LIMITS)
        assert document.text == document_named(ours, name).text  # what the index holds
        for block in document.blocks:
            assert document.text[block.start:block.end] == block.text


def test_windows_stop_at_page_breaks_and_repeated_headings_get_distinct_ids() -> None:
    from qa.chunking import chunk_documents
    from qa.loaders import HEADING, PARAGRAPH, Part, assemble

    one = " ".join(f"Fact {n} is on the first page." for n in range(1, 5))
    two = " ".join(f"Fact {n} is on the second page." for n in range(5, 9))
    parts = [Part(HEADING, "Report", 1, 1), Part(HEADING, "Overview", 2, 1), Part(PARAGRAPH, one, page=1),
             Part(PARAGRAPH, two, page=2), Part(HEADING, "Later", 2, 2), Part(HEADING, "Overview", 3, 2),
             Part(PARAGRAPH, "A second overview sits under Later.", page=2)]
    document = assemble("corpus/report.pdf", "0" * 64, parts, pages=2)
    sentences, chunks = chunk_documents([document], window=3, overlap=1)
    for chunk in chunks:
        assert {sentences[i].page for i in chunk.sentence_ids} == {chunk.page}, chunk
        assert document.text[chunk.start:chunk.end] == chunk.text
    assert [c.page for c in chunks if c.section == "Overview"] == [1, 1, 2, 2]  # 4 + 4 sentences, split at the page
    assert len({c.id for c in chunks}) == len(chunks)
    assert [c.id for c in chunks if c.section == "Later > Overview"] == ["report/overview-part2"]


# ---------------------------------------------------------------- the `qa source` command

@pytest.mark.slow
def test_qa_source_prints_the_text_the_index_holds_with_page_marks(loaded: Loaded, corpus: Path) -> None:
    ours = loaded.engine
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("QA_")}, "HF_HUB_OFFLINE": "1",
           "QA_CORPUS_DIR": str(corpus), "QA_INDEX_DIR": str(corpus.parent / "index"),
           "QA_MAX_DOCUMENT_BYTES": str(LIMITS.max_document_bytes)}
    result = subprocess.run([sys.executable, "-m", "qa.cli", "source", "cells.pdf", "--pages"], capture_output=True,
                            text=True, env=env, cwd=PROJECT_ROOT, timeout=180, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "Rebuilding" not in result.stderr and "building" not in result.stderr  # the index was current
    document = document_named(ours, "cells.pdf")
    marks = re.findall(r"^\[page (\d+)\]\n", result.stdout, flags=re.MULTILINE)
    assert marks == [str(n) for n in range(1, len(document.page_starts) + 1)]
    assert re.sub(r"^\[page \d+\]\n", "", result.stdout, flags=re.MULTILINE) == document.text
