"""Corpus folder -> documents. This module finds the files, applies the limits that hold for
every format, and hands each file's bytes to the loader for its format (`qa/loaders/`).

A file that cannot be read is skipped with one warning naming it and saying what to do, so
one scanned PDF or broken download does not take the whole corpus down; a corpus with no
readable file at all is an error."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Callable, NamedTuple

from qa.errors import CorpusError, DocumentUnreadable
from qa.loaders import pdf, text, web, word
from qa.settings import PROJECT_ROOT, Settings
from qa.types import Document

log = logging.getLogger(__name__)

Loader = Callable[[bytes, str, str, Settings], Document]
LOADERS: dict[str, Loader] = {
    ".md": text.load_markdown,
    ".txt": text.load_plain,
    ".pdf": pdf.load,
    ".html": web.load,
    ".htm": web.load,
    ".docx": word.load,
}
SUFFIXES = tuple(LOADERS)
UPLOADS = "uploads"  # the corpus subfolder that documents uploaded from the page go to (qa/uploads.py)
_KINDS = ", ".join(SUFFIXES[:-1]) + " or " + SUFFIXES[-1]


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The corpus folder's files of a known format, and those of its `uploads/` folder (where the
    page stores uploaded documents), sorted, so builds are reproducible. A corpus may also be
    one document: the article an eval set sits beside (qa/evalsets.py). A link is read as the
    file it leads to, and a file reached by two names is read once (see `_scan`)."""
    return _scan(corpus_dir).files


class _Scan(NamedTuple):
    files: list[Path]
    broken: list[DocumentUnreadable]  # links that lead to no file: skipped, one warning each
    notes: list[str]  # one warning line each: names read once, subfolders not read


def _scan(corpus_dir: Path) -> _Scan:
    """The corpus files, and what the user should hear about the folder.

    A link (`ln -s ../notes/a.md a.md`) counts as the file it leads to, under its own name in
    the corpus folder: that name is what the user put there, so citations and `qa source` use
    it. Two names for one file (a link beside its target, two links to one file) would index
    every passage twice and make each answer cite it twice, so the file is read once: under its
    real name when that is in the folder, else under the first link's name. Subfolders are not
    read (only `uploads/`, which the page fills): a folder of drafts or old versions beside the
    articles would otherwise join the corpus unasked. Documents found there are named once."""
    if corpus_dir.is_file():
        if corpus_dir.suffix.lower() not in SUFFIXES:
            raise CorpusError(f"{corpus_dir} is not a {_KINDS} file. Give a corpus folder, or one document of those kinds.")
        return _Scan([corpus_dir], [], [])
    if not corpus_dir.is_dir():
        raise CorpusError(f"Corpus folder {corpus_dir} does not exist. Create it and put {_KINDS} files in it, or set QA_CORPUS_DIR.")
    folders = [corpus_dir] + ([corpus_dir / UPLOADS] if (corpus_dir / UPLOADS).is_dir() else [])
    named = sorted(p for folder in folders for p in folder.iterdir()
                   if p.suffix.lower() in SUFFIXES and not p.name.startswith("."))
    broken = [DocumentUnreadable(display_path(p), f"it is a link to {os.readlink(p)}, which leads to no file: "
                                                  "point the link at the file, or remove it")
              for p in named if p.is_symlink() and not p.exists()]
    # The file a name leads to (device and inode: a hard link is a second name too) -> that name.
    read_as: dict[tuple[int, int], Path] = {}
    notes: list[str] = []
    for path in sorted((p for p in named if p.is_file()), key=lambda p: (p.is_symlink(), p)):  # real names first
        found = path.stat()
        key = (found.st_dev, found.st_ino)
        if key in read_as:
            kind = f"a link to {display_path(path.resolve())}" if path.is_symlink() else "another name of the same file"
            notes.append(f"{_within(path, corpus_dir)} is {kind}, which is already read as "
                         f"{_within(read_as[key], corpus_dir)}: it is indexed once, under that name")
        else:
            read_as[key] = path
    files = sorted(read_as.values())
    nested = _nested_document(corpus_dir)
    if not files and not broken:
        hint = (f" Only its top level and its {UPLOADS}/ folder are read, and {_within(nested, corpus_dir)} "
                f"is in a subfolder: move your documents up into {corpus_dir}." if nested else "")
        raise CorpusError(f"Corpus folder {corpus_dir} has no {_KINDS} files. Add at least one article.{hint}")
    if not files:
        raise CorpusError(f"No readable document in {corpus_dir} ({_reasons(broken)}). Fix or replace these files, "
                          f"or add a {_KINDS} article with some text.")
    if nested:
        notes.append(f"Not reading {_within(nested, corpus_dir)} (nor any other document in a subfolder of {corpus_dir}): "
                     f"only the folder's top level and its {UPLOADS}/ folder are read; move a document up to index it")
    return _Scan(files, broken, notes)


def _nested_document(corpus_dir: Path) -> Path | None:
    """A document in a subfolder of the corpus folder (not `uploads/`, not hidden), which is
    therefore not read; None when there is none. The walk stops at the first one, and after
    1,000 folders, so a corpus folder set to a large tree costs little."""
    for count, (folder, subfolders, names) in enumerate(os.walk(corpus_dir)):
        here = Path(folder)
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and not (here == corpus_dir and d == UPLOADS))
        if count >= 1000:
            return None
        if here != corpus_dir:
            for name in sorted(names):
                if Path(name).suffix.lower() in SUFFIXES and not name.startswith("."):
                    return here / name
    return None


def _within(path: Path, corpus_dir: Path) -> str:
    return path.relative_to(corpus_dir).as_posix()


def _reasons(skipped: list[DocumentUnreadable]) -> str:
    return "; ".join(f"{exc.source}: {exc.reason}" for exc in skipped)


def display_path(path: Path) -> str:
    """The path users see in citations: relative to the project root when it is inside it.
    A link keeps its own name in its folder (the folder resolved): citing the file it leads to
    would name a path outside the corpus folder, which `qa source` does not know."""
    resolved = path.parent.resolve() / path.name if path.is_symlink() else path.resolve()
    try:
        return resolved.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return resolved.as_posix()


def load_corpus(corpus_dir: Path, settings: Settings | None = None) -> list[Document]:
    """Every readable document of the folder. Unreadable files are skipped with a warning;
    `settings` gives the size limits (the defaults when None)."""
    limits = settings or Settings()
    found = _scan(corpus_dir)
    for note in found.notes:
        log.warning("%s", note)
    documents: list[Document] = []
    skipped = list(found.broken)
    for exc in skipped:
        log.warning("%s", exc)
    for path in found.files:
        try:
            documents.append(load_document(path, limits))
        except DocumentUnreadable as exc:
            log.warning("%s", exc)
            skipped.append(exc)
    if not documents:
        raise CorpusError(f"No readable document in {corpus_dir} ({_reasons(skipped)}). Fix or replace these files, "
                          f"or add a {_KINDS} article with some text.")
    return documents


def load_document(path: Path, limits: Settings) -> Document:
    """One corpus file as a Document, or DocumentUnreadable saying why not and what to do."""
    source = display_path(path)
    try:
        size = path.stat().st_size
        if size > limits.max_document_bytes:
            raise DocumentUnreadable(source, f"it is {megabytes(size)}, over the {megabytes(limits.max_document_bytes)} "
                                             "limit (QA_MAX_DOCUMENT_BYTES): split it, or raise the limit")
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentUnreadable(source, f"cannot read it ({exc.strerror or exc}): check its permissions, or remove it") from None
    if not data.strip():
        raise DocumentUnreadable(source, "it is empty: add some text, or remove it")
    document = LOADERS[path.suffix.lower()](data, source, hashlib.sha256(data).hexdigest(), limits)
    if not document.blocks:
        raise DocumentUnreadable(source, "it has no paragraph to quote (headings only, or no text): add some text, or remove it")
    return document


def megabytes(size: int) -> str:
    """A size in MB (10^6 bytes), as the upload box states its limit (bytes when under 0.1 MB,
    where one decimal would read "0.0 MB")."""
    if size < 100_000:
        return f"{size:,} bytes"
    return f"{size / 1_000_000:.1f}".removesuffix(".0") + " MB"
