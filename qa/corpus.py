"""Corpus folder -> documents: each file's exact text, split into blocks (paragraphs and
list items) that know their heading path and character offsets in the file."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from qa.errors import CorpusError
from qa.settings import PROJECT_ROOT
from qa.types import Block, Document

log = logging.getLogger(__name__)

SUFFIXES = (".md", ".txt")
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+")


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The .md and .txt files of the corpus folder, sorted, so builds are reproducible."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"Corpus folder {corpus_dir} does not exist. Create it and put .md or .txt files in it, or set QA_CORPUS_DIR.")
    files = sorted(p for p in corpus_dir.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith("."))
    if not files:
        raise CorpusError(f"Corpus folder {corpus_dir} has no .md or .txt files. Add at least one article.")
    return files


def display_path(path: Path) -> str:
    """The path users see in citations: relative to the project root when it is inside it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return resolved.as_posix()


def read_text(path: Path) -> tuple[str, str]:
    """The file's text and the SHA-256 of its bytes. Rejects binary and non-UTF-8 files by name."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"Cannot read corpus file {path}: {exc.strerror}. Check its permissions or remove it.") from None
    if b"\x00" in data:
        raise CorpusError(f"Corpus file {path} looks binary (it contains NUL bytes). Remove it or convert it to UTF-8 text.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"Corpus file {path} is not valid UTF-8 (byte {exc.start}). Convert it, e.g. `iconv -t UTF-8`, or remove it."
        ) from None
    return text, hashlib.sha256(data).hexdigest()


def load_corpus(corpus_dir: Path) -> list[Document]:
    """Every readable article of the folder. Empty files are skipped with a warning."""
    documents = []
    for path in corpus_files(corpus_dir):
        text, digest = read_text(path)
        if not text.strip():
            log.warning("Skipping empty corpus file %s", path)
            continue
        documents.append(parse_document(display_path(path), text, digest, markdown=path.suffix.lower() == ".md"))
    if not documents:
        raise CorpusError(f"Every file in {corpus_dir} is empty. Add an article with some text.")
    return documents


def parse_document(source: str, text: str, sha256: str, markdown: bool = True) -> Document:
    """Split text into blocks. In Markdown, `#` lines are headings and list items are blocks of
    their own; other runs of non-blank lines are paragraphs. Plain text has no headings."""
    title = Path(source).stem.replace("-", " ").replace("_", " ").strip().capitalize()
    headings: list[tuple[int, str]] = []
    blocks: list[Block] = []
    para_start: int | None = None
    para_end = 0

    def flush() -> None:
        nonlocal para_start
        if para_start is not None:
            blocks.append(_block(source, headings, title, text, para_start, para_end))
            para_start = None

    offset = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        line_start, line_end = offset, offset + len(body)
        offset += len(line)
        heading = _HEADING.match(body) if markdown else None
        if not body.strip():
            flush()
        elif heading:
            flush()
            level, name = len(heading.group(1)), heading.group(2).strip()
            if level == 1 and not any(lvl == 1 for lvl, _ in headings) and not blocks:
                title = name
            headings = [(lvl, h) for lvl, h in headings if lvl < level] + [(level, name)]
        elif markdown and _LIST_ITEM.match(body):
            flush()
            item_start = line_start + _LIST_ITEM.match(body).end()
            blocks.append(_block(source, headings, title, text, item_start, line_end))
        else:
            if para_start is None:
                para_start = line_start + (len(body) - len(body.lstrip()))
            para_end = line_end
    flush()
    return Document(source=source, title=title, text=text, sha256=sha256, blocks=tuple(b for b in blocks if b.text.strip()))


def _block(source: str, headings: list[tuple[int, str]], title: str, text: str, start: int, end: int) -> Block:
    path = tuple(h for _, h in headings) or (title,)
    while end > start and text[end - 1].isspace():
        end -= 1
    return Block(source=source, headings=path, text=text[start:end], start=start, end=end)
