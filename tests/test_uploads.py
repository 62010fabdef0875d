"""Documents uploaded from the page: checked by content, stored only under the corpus's uploads
folder with a clean name, limited in size and number; refused outright when uploads are off; and,
in a real Chromium against a real server, a PDF uploaded and then answered from with its page."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from qa import ui
from qa.engine import Engine
from qa.errors import QuestionInvalid
from qa.settings import PROJECT_ROOT, Settings
from qa.uploads import UploadRefused, clean_name, kind_of, store, uploads_dir

TEST_CORPUS = PROJECT_ROOT / "tests" / "data" / "eldermere"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]

PDF_ARTICLE = """<!doctype html><html><body><h1>Ferry Timetable</h1>
<p>The Wend ferry leaves Eldermere pier at seven in the morning.</p>
<div style="page-break-before: always"></div>
<h2>Fares</h2><p>A crossing on the Wend ferry costs four shillings for a grown-up.</p>
</body></html>"""


def docx_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


# ---------------------------------------------------------------- checks by content


@pytest.mark.parametrize(("data", "name", "kind"), [
    (b"%PDF-1.7\n...", "notes.txt", "pdf"),  # what it is, whatever it is called
    (docx_bytes(), "report.pdf", "docx"),
    (b"<!DOCTYPE html><html><p>hi</p></html>", "page.txt", "html"),
    ("# Title\n\nText.".encode(), "notes.md", "md"),
    ("Plain words.".encode(), "notes", "txt"),
])
def test_a_files_kind_comes_from_its_bytes(data: bytes, name: str, kind: str) -> None:
    assert kind_of(data, name) == kind


@pytest.mark.parametrize(("data", "says"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
    (b"caf\xe9 au lait", "not UTF-8"),
    (b"PK\x03\x04" + b"not a zip at all", "not a Word"),
])
def test_other_files_are_refused_saying_why(data: bytes, says: str) -> None:
    with pytest.raises(UploadRefused, match=says):
        kind_of(data, "upload.bin")


@pytest.mark.parametrize(("name", "kind", "clean"), [
    ("../../etc/passwd", "txt", "passwd.txt"),
    ("C:\\Users\\me\\Report 2024 (final).PDF", "pdf", "Report-2024-final.pdf"),
    (".hidden.md", "md", "hidden.md"),
    ("Café déjà vu.docx", "docx", "Cafe-deja-vu.docx"),
    ("<script>.html", "html", "script.html"),
    ("" , "txt", "document.txt"),
])
def test_file_names_are_made_safe_with_the_extension_of_what_they_are(name: str, kind: str, clean: str) -> None:
    assert clean_name(name, kind) == clean


def test_store_puts_the_file_under_uploads_under_a_free_name(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path / "corpus")
    (tmp_path / "corpus").mkdir()
    upload = tmp_path / "incoming.bin"
    upload.write_bytes(b"<!doctype html><html><body><p>The ferry leaves at seven.</p></body></html>")
    first = store(upload, "../evil.txt", settings)
    upload.write_bytes(b"<!doctype html><html><body><p>The ferry leaves at eight.</p></body></html>")
    second = store(upload, "../evil.txt", settings)
    assert first.path == uploads_dir(settings) / "evil.html" and first.kind == "html"
    assert second.path == uploads_dir(settings) / "evil-2.html"
    assert sorted(p.name for p in uploads_dir(settings).iterdir()) == ["evil-2.html", "evil.html"]  # no temporaries


def test_a_file_the_corpus_already_holds_is_refused_naming_its_copy(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "article.md").write_text("# Ferries\n\nThe ferry leaves at seven.\n", encoding="utf-8")
    settings = Settings(corpus_dir=corpus)
    upload = tmp_path / "in.md"
    upload.write_bytes((corpus / "article.md").read_bytes())
    with pytest.raises(UploadRefused, match=r"^copy\.md was not added: the corpus already holds the same file, "
                                            r"as article\.md\.$"):
        store(upload, "copy.md", settings)
    upload.write_text("# Buses\n\nThe bus leaves at eight.\n", encoding="utf-8")
    stored = store(upload, "buses.md", settings)
    with pytest.raises(UploadRefused, match="as uploads/buses.md"):
        store(upload, "buses again.md", settings)
    assert sorted(p.name for p in uploads_dir(settings).iterdir()) == [stored.path.name]  # nothing else written


def test_a_file_the_loader_cannot_read_is_refused_with_its_reason_and_not_kept(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path)
    upload = tmp_path / "in.pdf"
    upload.write_bytes(b"%PDF-1.4 pretend, with no body")
    with pytest.raises(UploadRefused, match="cannot be read as a PDF"):
        store(upload, "broken.pdf", settings)
    assert list(uploads_dir(settings).iterdir()) == []


@pytest.mark.parametrize(("size", "already", "says"), [
    (0, 0, "in.txt is empty: add some text and upload it again."),
    (2_000, 0, "in.txt is 2,000 bytes, over the limit of 1,000 bytes a file. Split it, or upload a smaller file."),
    (10, 2, "in.txt was not added: the page already holds its limit of 2 uploaded files. "
            "The server's admin can remove some."),
])
def test_store_refuses_empty_large_or_too_many_files(tmp_path: Path, size: int, already: int, says: str) -> None:
    settings = Settings(corpus_dir=tmp_path, max_document_bytes=1_000, max_uploads=2)
    for n in range(already):
        uploads_dir(settings).mkdir(exist_ok=True)
        (uploads_dir(settings) / f"old-{n}.txt").write_text("old", encoding="utf-8")
    upload = tmp_path / "in.txt"
    upload.write_bytes(b"x" * size)
    with pytest.raises(UploadRefused) as refused:
        store(upload, "in.txt", settings)
    assert str(refused.value) == says
    assert str(tmp_path) not in says, "no server paths for a web visitor"
    assert len(list(uploads_dir(settings).iterdir())) == already if already else not uploads_dir(settings).exists()


def test_a_corpus_of_one_document_refuses_uploads_saying_what_to_do(tmp_path: Path) -> None:
    article = tmp_path / "article.md"
    article.write_text("# Ferries\n\nThe ferry leaves at seven.\n", encoding="utf-8")
    upload = tmp_path / "in.txt"
    upload.write_text("The bus leaves at eight.", encoding="utf-8")
    with pytest.raises(UploadRefused, match="single file, so it takes no uploads. Its admin can set QA_CORPUS_DIR"
                                           " to a folder") as refused:
        store(upload, "in.txt", Settings(corpus_dir=article))
    assert str(tmp_path) not in str(refused.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["article.md", "in.txt"]  # nothing written


@pytest.mark.parametrize(("name", "data", "says"), [
    ("headings.md", b"# Only a title\n\n## And another\n",
     "headings.md: it has no paragraph to quote (headings only, or no text): add some text and upload it again."),
    ("blank.txt", b"   \n\n  ", "blank.txt: it is empty: add some text and upload it again."),
    ("broken.pdf", b"%PDF-1.4 pretend, with no body", "open it in a PDF viewer and save or print it again as PDF."),
])
def test_a_refused_upload_says_what_the_visitor_can_do(tmp_path: Path, name: str, data: bytes, says: str) -> None:
    """The loaders' reasons speak to the corpus's keeper ("or remove it", "put it in the corpus");
    the page's visitor gets what they can do, in a sentence with its full stop."""
    settings = Settings(corpus_dir=tmp_path / "corpus")
    (tmp_path / "corpus").mkdir()
    upload = tmp_path / "in.bin"
    upload.write_bytes(data)
    with pytest.raises(UploadRefused) as refused:
        store(upload, name, settings)
    message = str(refused.value)
    assert message.endswith(says), message
    assert "remove it" not in message and "corpus" not in message and str(tmp_path) not in message


# ---------------------------------------------------------------- one document at a time


def test_a_question_can_be_asked_of_one_document(tmp_path: Path, engine: Engine) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(TEST_CORPUS, corpus)
    (corpus / "uploads").mkdir()
    (corpus / "uploads" / "ferry.md").write_text("# Ferry\n\nThe ferry to Eldermere was designed by Ada Brant.\n",
                                                 encoding="utf-8")
    both = Engine.load(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder=engine.embedder)
    sources = {d.source for d in both.documents}
    ferry = next(s for s in sources if s.endswith("uploads/ferry.md"))
    town = next(s for s in sources if s.endswith("eldermere.md"))
    only = both.ask("Who designed it?", sources=[town])
    assert only.passages and {p.chunk.source for p in only.passages} == {town}
    assert {p.chunk.source for p in both.ask("Who designed the ferry?", sources=[ferry]).passages} == {ferry}
    with pytest.raises(QuestionInvalid, match="No document 'nowhere.md'"):
        both.ask("Who designed it?", sources=["nowhere.md"])
    env = dict(os.environ, QA_CORPUS_DIR=str(corpus), QA_INDEX_DIR=str(tmp_path / "index"), HF_HUB_OFFLINE="1")
    cli = [sys.executable, "-m", "qa.cli", "ask", "--json", "--source", ferry, "Who designed the ferry?"]
    done = subprocess.run(cli, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert done.returncode == 0, done.stderr
    assert {p["source"] for p in json.loads(done.stdout)["passages"]} == {ferry}
    refused = subprocess.run([*cli[:6], "nowhere.md", cli[-1]], env=env, capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=300)
    assert refused.returncode == 2 and "No document 'nowhere.md'" in refused.stderr


# ---------------------------------------------------------------- the server


def post_file(base: str, name: str, data: bytes) -> tuple[int, str]:
    body = (f'--XX\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n--XX--\r\n"
    request = urllib.request.Request(base + "/gradio_api/upload", data=body,
                                     headers={"Content-Type": "multipart/form-data; boundary=XX"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_with_uploads_off_the_upload_route_refuses_every_file(town: Engine, load_tool) -> None:  # type: ignore[no-untyped-def]
    demo = ui.build_app(town, allow_uploads=False)
    url = ui.launch(demo, "127.0.0.1", load_tool.free_port(), block=False)
    try:
        for name, data in (("tiny.txt", b"a"), ("doc.pdf", b"%PDF-1.4\n"), ("empty.md", b"")):
            status, text = post_file(url.rstrip("/"), name, data)
            assert status == 403 and "--allow-uploads" in text, (name, status, text)
    finally:
        demo.close()


@pytest.mark.browser
def test_a_pdf_uploaded_from_the_page_is_answered_with_its_page(tmp_path: Path, engine: Engine, load_tool) -> None:  # type: ignore[no-untyped-def]
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    chromium_path = Path("/usr/bin/chromium")
    if not chromium_path.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    corpus = tmp_path / "corpus"
    shutil.copytree(TEST_CORPUS, corpus)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", allow_uploads=True,
                        feedback_path=tmp_path / "feedback.jsonl")
    served = Engine.load(settings, embedder=engine.embedder)
    demo = ui.build_app(served)
    url = ui.launch(demo, "127.0.0.1", load_tool.free_port(), block=False, uploads=True)
    try:
        with sync_api.sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
            printer = chromium.new_page()
            printer.set_content(PDF_ARTICLE)
            pdf = tmp_path / "Ferry Timetable.pdf"
            pdf.write_bytes(printer.pdf(width="5in", height="4in"))
            page = chromium.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.wait_for_selector("#qa-uploads")
            assert not page.locator("#qa-document").is_visible(), "one document: nothing to choose"
            page.locator("#qa-uploads").click()
            page.locator("#qa-upload input[type=file]").set_input_files(str(pdf))
            page.wait_for_selector(".qa-upload-done", timeout=120_000)
            assert "Ferry-Timetable.pdf" in page.locator("#qa-upload-status").inner_text()
            assert "uploads/Ferry-Timetable.pdf" in page.inner_text("body")  # the header names the new document
            page.locator("#qa-settings button").first.click()
            page.wait_for_selector("#qa-document", state="visible", timeout=10_000)  # two documents: a choice
            page.fill("#qa-question textarea", "How much does a crossing on the Wend ferry cost?")
            page.keyboard.press("Enter")
            page.wait_for_selector(".qa-done", timeout=60_000)
            answer = page.locator(".qa-answer").last.inner_text()
            assert "four shillings" in answer
            assert "page 2" in page.locator("#qa-sources").inner_text()
            chromium.close()
    finally:
        demo.close()
    assert (corpus / "uploads" / "Ferry-Timetable.pdf").is_file()
    assert list((corpus / "uploads").iterdir()) == [corpus / "uploads" / "Ferry-Timetable.pdf"]


# ---------------------------------------------------------------- the page, with uploads on

BEES = "# Bees\n\n### How many bees live in a hive?\n\nA hive of Eldermere holds about forty thousand bees in summer.\n"
MILL = "# Mill\n\n### Who runs the mill?\n\nThe mill on the Wend has been run by Tomas Reed since 1990.\n"


@pytest.fixture()
def upload_page(tmp_path: Path, engine: Engine, load_tool):  # type: ignore[no-untyped-def]
    """A real server taking uploads (1 MB each) on a copy of the test corpus, and a real Chromium."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    corpus = tmp_path / "corpus"
    shutil.copytree(TEST_CORPUS, corpus)
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index", allow_uploads=True,
                        max_document_bytes=1_000_000, feedback_path=tmp_path / "feedback.jsonl")
    demo = ui.build_app(Engine.load(settings, embedder=engine.embedder))
    url = ui.launch(demo, "127.0.0.1", load_tool.free_port(), block=False, uploads=True,
                    max_upload_bytes=settings.max_document_bytes)
    try:
        with sync_api.sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)

            def open_page():  # type: ignore[no-untyped-def]
                page = chromium.new_context(viewport={"width": 1366, "height": 900}).new_page()
                page.goto(url)
                page.wait_for_selector("#qa-question textarea")
                return page

            yield open_page, corpus
            chromium.close()
    finally:
        demo.close()


@pytest.mark.browser
def test_a_file_added_while_indexing_is_queued_and_a_new_page_shows_every_upload(upload_page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from qa.ui_uploads import _RELOADING

    open_page, corpus = upload_page
    files = tmp_path / "files"
    files.mkdir()
    for name, text in (("bees.md", BEES), ("mill.md", MILL), ("headings.md", "# Only\n\n## Headings\n"),
                       ("empty.md", "")):
        (files / name).write_text(text, encoding="utf-8")
    page = open_page()
    page.locator("#qa-uploads").click()
    box = page.locator("#qa-upload input[type=file]")
    with _RELOADING:  # the index rebuild waits here: bees.md is surely still indexing when mill.md comes
        box.set_input_files([str(files / "headings.md"), str(files / "empty.md"), str(files / "bees.md")])
        page.wait_for_selector(".qa-upload-busy:has-text('Indexing')", timeout=30_000)
        box.set_input_files(str(files / "mill.md"))
        page.wait_for_timeout(1_000)
    page.wait_for_function("document.querySelector('#qa-upload-status').innerText.includes('Ready: ask about mill.md')",
                           timeout=60_000)
    assert sorted(p.name for p in (corpus / "uploads").iterdir()) == ["bees.md", "mill.md"]
    # The uploader's page: the new documents' FAQ headings are examples now.
    page.wait_for_selector("#qa-examples button:has-text('Who runs the mill?')", timeout=10_000)
    assert page.locator("#qa-examples button:has-text('How many bees live in a hive?')").count() == 1

    # A page opened afterwards (another visitor, or a reload) shows the corpus it is answered from.
    other = open_page()
    other.wait_for_selector(".qa-header:has-text('uploads/mill.md')", timeout=10_000)
    header = other.locator(".qa-header").inner_text()
    assert "uploads/bees.md" in header and "eldermere.md" in header
    assert other.locator("#qa-examples button:has-text('Who runs the mill?')").count() == 1
    other.locator("#qa-settings button").first.click()
    other.wait_for_selector("#qa-document", state="visible", timeout=10_000)
    other.locator("#qa-document input").click()
    assert other.get_by_role("option", name="corpus/uploads/mill.md", exact=False).count() == 1
    other.locator("summary:has-text('Read the whole article'), button:has-text('Read the whole article')").first.click()
    assert "Tomas Reed" in other.locator(".qa-article").last.inner_text()


@pytest.mark.browser
def test_refusals_tell_the_visitor_what_to_do_without_server_paths(upload_page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    open_page, _ = upload_page
    page = open_page()
    page.locator("#qa-uploads").click()
    assert "up to 1 MB each" in page.locator("#qa-upload").inner_text()
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 300_000)  # 1.5 MB
    page.locator("#qa-upload input[type=file]").set_input_files(str(big))
    toast = page.locator(".toast-wrap")
    toast.get_by_text("big.txt").wait_for(timeout=10_000)
    assert "allowed size of 1 MB" in toast.inner_text(), "the toast says the limit as the box does"
    empty, headings = tmp_path / "empty.md", tmp_path / "headings.md"
    empty.write_text("", encoding="utf-8")
    headings.write_text("# Only\n\n## Headings\n", encoding="utf-8")
    page.locator("#qa-upload input[type=file]").set_input_files([str(empty), str(headings)])
    page.wait_for_selector(".qa-upload-failed", timeout=30_000)
    status = page.locator("#qa-upload-status").inner_text()
    assert "empty.md is empty: add some text and upload it again." in status
    assert "headings.md: it has no paragraph to quote (headings only, or no text): add some text and upload it " \
           "again." in status
    assert str(tmp_path) not in status and "remove it" not in status
