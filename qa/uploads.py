"""Documents uploaded from the page (off unless `--allow-uploads` / QA_ALLOW_UPLOADS): checked by
their content, stored under the corpus's `uploads/` folder with a clean name, then indexed.

What a file is comes from its bytes, never from its name: a PDF starts with `%PDF-`, a Word
file is a zip holding `word/document.xml`, an HTML page is UTF-8 text with an `<html>` or
doctype near its start, and anything else must be UTF-8 text (kept as `.md` when its name
says Markdown, else `.txt`). The stored name is the uploaded one made safe (no folders, no
leading dot, letters, digits, `.`, `-` and `_` only) with the extension of what the file is.
The loaders then read it like any corpus file, with the same size and zip-bomb limits.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from qa.corpus import UPLOADS, corpus_files, load_document, megabytes
from qa.errors import CorpusError, DocumentUnreadable, QAError
from qa.settings import Settings

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
NAME_MAX_CHARS = 80
log = logging.getLogger(__name__)
# The loaders' reasons speak to whoever keeps the corpus folder ("remove it", "raise the limit",
# "put that in the corpus"). A visitor of the page can do none of that: what they can do is fix
# the file and upload it again. (pattern, replacement), applied in turn.
_FOR_VISITORS = (
    (re.compile(r"\s*\((QA_[A-Z_]+)\)"), ""),  # settings only the server's admin can change
    (re.compile(r"(,| or|;)? (if you trust it, )?(or )?raise the limit$"), ""),
    (re.compile(r",? or remove it$"), ""),
    (re.compile(r": remove it, or "), ": "),
    (re.compile(r"and put (that|the OCR'd copy) in the corpus$"), r"and upload \1"),
    (re.compile(r": add some text$"), ": add some text and upload it again"),
)


class UploadRefused(QAError):
    """An uploaded file is not one the corpus can take (type, size, count)."""


@dataclass(frozen=True)
class Stored:
    path: Path  # where the file now is, under the corpus's uploads folder
    kind: str  # "pdf", "docx", "html", "md" or "txt", read off its bytes


def uploads_dir(settings: Settings) -> Path:
    return settings.corpus_dir / UPLOADS


def kind_of(data: bytes, name: str) -> str:
    """What the file is, from its first bytes. Raises UploadRefused for anything else."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return _docx_or_refuse(data, name)
    if b"\x00" in data[:8192]:
        raise UploadRefused(f"{name} is not a PDF, Word, HTML or text file (it is binary). Upload one of those.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadRefused(f"{name} is not UTF-8 text, nor a PDF or Word file. Convert it to UTF-8 first.") from None
    head = text[:2048].lstrip("\ufeff \t\r\n").lower()
    if head.startswith("<!doctype html") or "<html" in head[:512]:
        return "html"
    return "md" if name.lower().endswith((".md", ".markdown")) else "txt"


def _docx_or_refuse(data: bytes, name: str) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "word/document.xml" in archive.namelist():
                return "docx"
    except zipfile.BadZipFile:
        pass
    raise UploadRefused(f"{name} is a zip archive but not a Word (.docx) file. Upload the document itself.")


def clean_name(name: str, kind: str) -> str:
    """A safe file name for the upload: its base name, accents folded, unsafe runs as "-", no
    leading dot, at most 80 characters, with the extension of what the file is."""
    base = Path(name.replace("\\", "/")).name
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    stem = _UNSAFE.sub("-", stem).strip(".-_")[: NAME_MAX_CHARS - 6] or "document"
    return f"{stem}.{kind}"


def store(source: Path, name: str, settings: Settings) -> Stored:
    """Check one uploaded file and copy it into the uploads folder (a new name if taken).
    Raises UploadRefused saying why, before anything is written."""
    try:
        size = source.stat().st_size
    except OSError as exc:
        raise UploadRefused(f"Cannot read the uploaded {name}: {exc.strerror or exc}. Try again.") from None
    if size == 0:
        raise UploadRefused(f"{name} is empty: add some text and upload it again.")
    if size > settings.max_document_bytes:
        raise UploadRefused(f"{name} is {megabytes(size)}, over the limit of {megabytes(settings.max_document_bytes)} "
                            "a file. Split it, or upload a smaller file.")
    if settings.corpus_dir.is_file():
        log.warning("Upload refused: the corpus is one file, %s; set QA_CORPUS_DIR to a folder to take uploads",
                    settings.corpus_dir)
        raise UploadRefused("This server's corpus is a single file, so it takes no uploads. Its admin can set "
                            "QA_CORPUS_DIR to a folder to allow them.")
    folder = uploads_dir(settings)
    present = [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    if len(present) >= settings.max_uploads:
        # The visitor can neither see nor empty the folder: say what the limit is and who can lift it.
        raise UploadRefused(f"{name} was not added: the page already holds its limit of {settings.max_uploads} "
                            "uploaded files. The server's admin can remove some.")
    with source.open("rb") as fh:
        data = fh.read()
    kind = kind_of(data, name)
    same = _same_file_in(settings.corpus_dir, data, source)
    if same:
        # Two copies of one document would compete for every answer and fill the closest
        # passages with twins.
        raise UploadRefused(f"{name} was not added: the corpus already holds the same file, as {same}.")
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, clean_name(name, kind))
    # A hidden name keeps the copy out of the corpus until the loader has read it: a scanned
    # PDF or a broken file is refused here, with the loader's reason, instead of being skipped
    # at every build while the page says it was added.
    fd, temporary = tempfile.mkstemp(prefix=".upload-", suffix=f".{kind}", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        load_document(Path(temporary), settings)
        os.replace(temporary, target)  # a half-written file never shows in the corpus
    except DocumentUnreadable as exc:
        Path(temporary).unlink(missing_ok=True)
        raise UploadRefused(f"{name}: {for_visitors(exc.reason)}") from None
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        log.error("Cannot store the upload %s in %s: %s", name, folder, exc)
        raise UploadRefused(f"{name} could not be stored on the server ({exc.strerror or 'write error'}). "
                            "Try again later.") from None
    return Stored(target, kind)


def _same_file_in(corpus_dir: Path, data: bytes, source: Path) -> str | None:
    """The corpus file (its path within the corpus folder) whose bytes are `data`, if any,
    other than the upload itself."""
    try:
        files = corpus_files(corpus_dir)
    except CorpusError:  # an empty corpus folder: nothing to match
        return None
    for path in files:
        try:
            if (path.stat().st_size == len(data) and not path.samefile(source)
                    and path.read_bytes() == data):
                return path.relative_to(corpus_dir).as_posix()
        except OSError:
            continue
    return None


def for_visitors(reason: str) -> str:
    """A loader's reason for not reading a file, told to someone who uploaded it from the page:
    without advice only the server's admin can follow, ending with a full stop."""
    for pattern, replacement in _FOR_VISITORS:
        reason = pattern.sub(replacement, reason)
    return reason.rstrip(" .:;,") + "."


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    stem, dot, suffix = name.rpartition(".")
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{stem}-{n}{dot}{suffix}"
    return target


def remove_temporary(path: Path) -> None:
    """Gradio keeps each upload in its own cache folder: once copied into the corpus, it goes."""
    try:
        if path.is_file():
            path.unlink()
        parent = path.parent
        if parent.is_dir() and not any(parent.iterdir()):
            shutil.rmtree(parent, ignore_errors=True)
    except OSError:
        pass
