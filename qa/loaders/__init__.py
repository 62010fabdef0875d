"""Corpus files -> `Document`s, one module per format: `text` (.md, .txt), `pdf`, `web` (.html,
.htm) and `word` (.docx). Each loader takes the file's bytes and returns a Document whose
`text` is what citation offsets point into, or raises `DocumentUnreadable` saying what to do.

Markdown and plain text keep the file's own text. The other formats are not text, so their
loaders find the structure (headings, paragraphs, list items, pages) and hand it to
`assemble`, which writes the extracted text once and records every block's offsets in it.
That text is stored with the index, so a quote is checked against exactly what was indexed.
Format libraries are imported inside the loaders: `qa --help` must not pay for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from qa.types import Block, Document

HEADING, PARAGRAPH, ITEM = "heading", "paragraph", "item"


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of a file in reading order, as a format loader finds it."""

    kind: str  # HEADING, PARAGRAPH or ITEM
    text: str
    level: int = 0  # headings: 0 for the document's title (a Word "Title"), 1-6 as h1-h6
    page: int | None = None  # 1-based page, PDF only
    # False for a PDF outline entry whose title is not printed where it points: it names the
    # section that follows, but is not written into the text (the text holds only what the file shows).
    shown: bool = True


def fallback_title(source: str) -> str:
    """A title from the file name ("battery-race.pdf" -> "Battery race") when the file has none."""
    return Path(source).stem.replace("-", " ").replace("_", " ").strip().capitalize()


def enter_heading(headings: list[tuple[int, str]], level: int, name: str) -> list[tuple[int, str]]:
    """The heading path after a heading of `level`: it closes every heading of its level or deeper."""
    return [(lvl, h) for lvl, h in headings if lvl < level] + [(level, name)]


# Invisible characters that would split a word for search: soft hyphen, zero-width space,
# word joiner, byte-order mark.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u2060\ufeff"))


def clean(text: str) -> str:
    """One line of text: every run of whitespace (newlines, tabs, no-break spaces) becomes one
    space, and invisible characters go ("kilo&shy;watt" is "kilowatt")."""
    return " ".join(text.translate(_INVISIBLE).split())


def assemble(source: str, sha256: str, parts: Iterable[Part], title: str | None = None, pages: int = 0) -> Document:
    """Write the extracted text of a structured file and its blocks with exact offsets.

    The text reads like light Markdown, so a person checking a quote sees the structure:
    headings as `#` lines (which the vocabulary step also knows as headings), list items as
    `- ` lines, blank lines between paragraphs. As in a Markdown file, the first level-1
    heading before any paragraph is the title, unless the file names one (level 0). A level-0
    title is written as the `#` line and every heading after it one `#` deeper (Word's "Heading 1"
    as `##`), so the text shows its sections under the title, as their heading paths have them.
    `pages` is the page count, so trailing pages without text still get a start offset."""
    doc_title = title or fallback_title(source)
    named = False  # whether a heading of the file already gave the title
    below_title = 0  # 1 once a level-0 title is written: the headings after it are written a level deeper
    headings: list[tuple[int, str]] = []
    pieces: list[str] = []
    blocks: list[Block] = []
    page_starts: list[int] = []
    offset = 0
    previous = ""
    for part in parts:
        text = clean(part.text)
        if not text:
            continue
        sep = _separator(previous, part.kind) if pieces else ""
        if part.page is not None:
            while len(page_starts) < part.page:  # a page without text starts where the next text does
                page_starts.append(offset + len(sep))
        if part.kind == HEADING:
            if not named and not blocks and (part.level == 0 or (part.level == 1 and not headings)):
                doc_title, named = text, True
            headings = enter_heading(headings, part.level, text)
            if not part.shown:
                continue
            body, lead = "#" * min(6, max(1, part.level + below_title)) + " " + text, 0
            below_title = 1 if part.level == 0 else below_title
        else:
            body, lead = ("- " + text, 2) if part.kind == ITEM else (text, 0)
        pieces.append(sep + body)
        offset += len(sep)
        if part.kind != HEADING:
            path = tuple(h for _, h in headings) or (doc_title,)
            blocks.append(Block(source=source, headings=path, text=text, start=offset + lead,
                                end=offset + len(body), page=part.page))
        offset += len(body)
        previous = part.kind
    pieces.append("\n")
    offset += 1
    page_starts.extend([offset - 1] * (pages - len(page_starts)))
    return Document(source=source, title=doc_title, text="".join(pieces), sha256=sha256, blocks=tuple(blocks),
                    page_starts=tuple(page_starts))


def _separator(previous: str, kind: str) -> str:
    """List items of one list sit on consecutive lines; everything else is a paragraph apart."""
    return "\n" if previous == ITEM and kind == ITEM else "\n\n"
