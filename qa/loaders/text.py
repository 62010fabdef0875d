"""Markdown and plain text: the file's own text, split into blocks (paragraphs and list items)
that know their heading path and character offsets in the file."""

from __future__ import annotations

import re

from qa.errors import DocumentUnreadable
from qa.loaders import enter_heading, fallback_title
from qa.settings import Settings
from qa.types import Block, Document

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+")


def load_markdown(data: bytes, source: str, sha256: str, limits: Settings) -> Document:
    return parse_document(source, decode(data, source), sha256, markdown=True)


def load_plain(data: bytes, source: str, sha256: str, limits: Settings) -> Document:
    return parse_plain(source, decode(data, source), sha256)


def decode(data: bytes, source: str) -> str:
    """The file's text. Offsets index into it as it is, so it is never re-encoded or guessed at."""
    if b"\x00" in data:
        raise DocumentUnreadable(source, "it looks binary (it contains NUL bytes): remove it, or convert it to UTF-8 text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentUnreadable(
            source, f"it is not valid UTF-8 (byte {exc.start}): convert it, e.g. `iconv -t UTF-8`, or remove it"
        ) from None


def parse_document(source: str, text: str, sha256: str, markdown: bool = True) -> Document:
    """Split text into blocks. In Markdown, `#` lines are headings and list items are blocks of
    their own; other runs of non-blank lines are paragraphs. Plain text has no headings."""
    title = fallback_title(source)
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
            headings = enter_heading(headings, level, name)
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


# Plain text has no markup, so structure is read off the lines the way a reader sees it. A
# heading is a short line in capitals that does not end a sentence ("Key Takeaways"), or a
# short question standing alone above a paragraph (an FAQ entry); a line ending a sentence is a
# paragraph of its own (many files put one paragraph on a line), while a line broken mid-
# sentence (hard-wrapped text) runs on into the next.
_PLAIN_ITEM = re.compile(r"^[ \t]*(?:[-*+•]|\d+[.)])[ \t]+")
_SENTENCE_END = re.compile(r"[.!?…:;\"”’)\]]\s*$")
HEADING_MAX_CHARS = 90
HEADING_MAX_WORDS = 12


def _plain_heading(line: str, next_line: str | None) -> bool:
    body = line.strip()
    if not body or not next_line or not next_line.strip() or _PLAIN_ITEM.match(body) or len(body) > HEADING_MAX_CHARS:
        return False
    if len(body.split()) > HEADING_MAX_WORDS or not body[0].isupper() or next_line.strip()[0].islower():
        return False  # too long, not capitalised, or a wrapped line that runs on
    if body.endswith("?"):
        return len(next_line.strip()) > len(body)  # a question standing above its (longer) answer
    return not _SENTENCE_END.search(body) and not body.endswith(",")


def parse_plain(source: str, text: str, sha256: str) -> Document:
    """Blocks of a plain-text file: headings, paragraphs and list items found from its lines."""
    title = fallback_title(source)
    headings: list[tuple[int, str]] = [(1, title)]  # the title heads every path, as "# Title" does in Markdown
    blocks: list[Block] = []
    lines = text.splitlines(keepends=True)
    bodies = [line.rstrip("\r\n") for line in lines]
    para_start: int | None = None
    para_end = 0

    def flush() -> None:
        nonlocal para_start
        if para_start is not None:
            blocks.append(_block(source, headings, title, text, para_start, para_end))
            para_start = None

    offset = 0
    for i, (line, body) in enumerate(zip(lines, bodies)):
        line_start, line_end = offset, offset + len(body)
        offset += len(line)
        following = next((b for b in bodies[i + 1:] if b.strip()), None)
        if not body.strip():
            flush()
        elif _plain_heading(body, bodies[i + 1] if i + 1 < len(bodies) and bodies[i + 1].strip() else following):
            flush()
            name = body.strip()
            if not blocks and i == next(j for j, b in enumerate(bodies) if b.strip()):
                title = name
                headings = [(1, name)]
                continue
            under_topic = any(lvl == 2 and not h.endswith("?") for lvl, h in headings)
            level = 3 if name.endswith("?") and under_topic else 2
            headings = enter_heading(headings, level, name)
        elif _PLAIN_ITEM.match(body):
            flush()
            blocks.append(_block(source, headings, title, text, line_start + _PLAIN_ITEM.match(body).end(), line_end))
        else:
            if para_start is None:
                para_start = line_start + (len(body) - len(body.lstrip()))
            para_end = line_end
            if _SENTENCE_END.search(body):
                flush()
    flush()
    return Document(source=source, title=title, text=text, sha256=sha256, blocks=tuple(b for b in blocks if b.text.strip()))
