"""PDF -> Document, with pdfminer.six (MIT).

Why pdfminer.six: its layout analysis groups a page's characters into text boxes that match
paragraphs, which is what a citation needs; pypdf (BSD) extracts a page as a stream of lines
with no paragraph breaks. pdfminer.six is pure Python, reads encrypted files (AES included,
through `cryptography`) and the outline, and is the base of pdfplumber, so it is well kept.

Each text box is a paragraph and knows its page; the extracted text records where each page
starts (`Document.page_starts`), so a citation carries its page number. Outline entries
(bookmarks) become headings: the box on the entry's page that holds its title is the heading;
a title that is not printed there still opens the section at the entry's position. A PDF with
no outline (most exports of a word processor or a browser) has its headings found by their
type instead: a short line set larger than the body text, or in bold alone on its line.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from qa.errors import DocumentUnreadable
from qa.loaders import HEADING, PARAGRAPH, Part, assemble, clean
from qa.settings import Settings
from qa.types import Document

if TYPE_CHECKING:
    from pdfminer.layout import LTPage
    from pdfminer.pdfdocument import PDFDocument

log = logging.getLogger(__name__)

ENCRYPTED = ("it is encrypted and needs a password: save a copy without the password "
             "(e.g. `qpdf --decrypt --password=PASSWORD in.pdf out.pdf`) and put that in the corpus")
NO_TEXT = ("it has no text layer: OCR it first (it holds only scans or images), e.g. "
           "`ocrmypdf in.pdf out.pdf`, and put the OCR'd copy in the corpus")
CORRUPT = "it cannot be read as a PDF ({detail}): open it in a PDF viewer and save or print it again as PDF"
# Running heads and footers (title lines, "Chapter 2: ...", "Page 3 of 17") sit in the top or
# bottom 12% of a page (a 1-inch margin of an 11-inch page is 9%) and repeat from page to page;
# on 3 pages or more, a margin line is taken for one (a chapter's head repeats only in the chapter).
_MARGIN_BAND = 0.12
_RUNNING_REPEATS = 3
# An outline entry points at the top of its heading (PDF points, 1/72 inch); the heading's text
# box may start a little above that point. 12 points is about one line of body text.
_DEST_SLACK = 12.0
# Headings by type, in a PDF without an outline: set at least this much larger than the body
# text (h1-h3 of a browser print are 2, 1.5 and 1.17 times it; a word processor's are 1.2-2),
# or in bold at the body size on a line of its own; short (a heading is not a paragraph), and
# not ending as a clause does. When more than half the boxes qualify, the file has no body
# text to tell them from (slides, a form), and none is taken.
_LARGER = 1.15
_HEADING_MAX_CHARS, _HEADING_MAX_WORDS, _HEADING_MAX_LINES = 120, 15, 2
_BOLD_FONT = re.compile(r"bold|black|heavy|semibold|demi", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[.,;:]$")


@dataclass(frozen=True, slots=True)
class _Entry:
    """An outline entry resolved to its page (1-based) and height on the page (None: the top)."""

    level: int
    title: str
    page: int
    top: float | None


@dataclass(frozen=True, slots=True)
class _Box:
    text: str
    top: float
    in_margin: bool  # in the top or bottom band of its page, where running heads and page numbers sit
    size: float = 0.0  # the type size most of its characters are set in (points)
    bold: bool = False  # every character in a bold face
    lines: int = 1


def load(data: bytes, source: str, sha256: str, limits: Settings) -> Document:
    if b"%PDF-" not in data[:1024]:
        raise DocumentUnreadable(source, CORRUPT.format(detail="no %PDF- header"))
    from pdfminer.pdfdocument import PDFEncryptionError

    try:
        pages, entries, title = _read(data)
    except PDFEncryptionError:  # includes a wrong (here: missing) password
        raise DocumentUnreadable(source, ENCRYPTED) from None
    except Exception as exc:  # noqa: BLE001
        # pdfminer raises a zoo of types on damaged files (PDFSyntaxError, PSEOF, KeyError, TypeError,
        # ValueError, RecursionError on cyclic objects, ...): any of them means this one file is unreadable.
        raise DocumentUnreadable(source, CORRUPT.format(detail=f"{type(exc).__name__}: {clean(str(exc))[:120]}")) from None
    if not any(box.text for boxes in pages for box in boxes):
        raise DocumentUnreadable(source, NO_TEXT)
    return assemble(source, sha256, _parts(pages, entries), title=title, pages=len(pages))


def _read(data: bytes) -> tuple[list[list[_Box]], list[_Entry], str | None]:
    """Every page's text boxes in reading order, the outline, and the title in the metadata."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser

    document = PDFDocument(PDFParser(io.BytesIO(data)))
    resources = PDFResourceManager(caching=True)
    # all_texts: also analyse text drawn inside form XObjects (some PDF makers put every page there).
    device = PDFPageAggregator(resources, laparams=LAParams(all_texts=True))
    interpreter = PDFPageInterpreter(resources, device)
    pages: list[list[_Box]] = []
    page_numbers: dict[Any, int] = {}
    for number, page in enumerate(PDFPage.create_pages(document), 1):
        page_numbers[page.pageid] = number
        interpreter.process_page(page)
        layout = device.get_result()
        band = layout.height * _MARGIN_BAND
        pages.append([_Box(_box_text(box.get_text()), box.y1, box.y0 >= layout.y1 - band or box.y1 <= layout.y0 + band,
                           *_type_of(box))
                      for box in _text_boxes(layout)])
    return _without_running_lines(pages), _outline(document, page_numbers), _metadata_title(document)


def _without_running_lines(pages: list[list[_Box]]) -> list[list[_Box]]:
    """Drop running heads, footers and page numbers: a margin line that repeats, numbers aside,
    on several pages. Left in, "Shared MIME-info Database" atop every page of a spec is the best
    match for many questions, and gets quoted as an answer."""
    def shape(box: _Box) -> str:
        return re.sub(r"\d+", "#", box.text.casefold())

    counts = Counter(s for boxes in pages for s in {shape(b) for b in boxes if b.in_margin})
    running = {s for s, n in counts.items() if n >= _RUNNING_REPEATS}
    return [[b for b in boxes if not (b.in_margin and shape(b) in running)] for boxes in pages]


def _type_of(box: Any) -> tuple[float, bool, int]:
    """A text box's type: the size most of its characters have, whether all are bold, its lines."""
    from pdfminer.layout import LTChar, LTTextLine

    sizes: Counter[float] = Counter()
    bold = lines = 0
    for line in box:
        if not isinstance(line, LTTextLine):
            continue
        lines += 1
        for char in line:
            if isinstance(char, LTChar) and not char.get_text().isspace():
                sizes[round(char.size, 1)] += 1
                bold += bool(_BOLD_FONT.search(char.fontname or ""))
    total = sum(sizes.values())
    return (sizes.most_common(1)[0][0] if total else 0.0), bool(total) and bold == total, max(1, lines)


def _text_boxes(layout: "LTPage") -> Iterator[Any]:
    from pdfminer.layout import LTFigure, LTTextBox

    for element in layout:
        if isinstance(element, LTTextBox):
            yield element
        elif isinstance(element, LTFigure):
            yield from _text_boxes(element)


def _box_text(raw: str) -> str:
    """A box's lines as one paragraph. A line ending in a hyphen before a lowercase word is
    joined without a space ("lithium-" + "ion"), keeping the hyphen: it may be part of the word."""
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    text = ""
    for line in lines:
        if text.endswith("-") and line[:1].islower():
            text += line
        else:
            text = f"{text} {line}" if text else line
    return clean(text)


def _outline(document: "PDFDocument", page_numbers: dict[Any, int]) -> list[_Entry]:
    """Outline entries that point at a page of this file. A missing or broken outline costs
    the sections, not the text, so it gives no entries instead of failing the file."""
    from pdfminer.pdfdocument import PDFNoOutlines
    from pdfminer.psexceptions import PSException

    entries = []
    try:
        for level, title, dest, action, _se in document.get_outlines():
            target = _target(document, dest, action, page_numbers)
            if target is not None and clean(title or ""):
                entries.append(_Entry(max(1, min(6, level)), clean(title), *target))
    except PDFNoOutlines:
        return []
    except (PSException, KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError) as exc:
        log.info("Ignoring a broken PDF outline (%s: %s)", type(exc).__name__, exc)
    return entries


def _target(document: "PDFDocument", dest: Any, action: Any, page_numbers: dict[Any, int]) -> tuple[int, float | None] | None:
    """(page, top) an outline entry points to: a destination array [page, /XYZ, left, top, zoom],
    given directly, by name, or through a GoTo action."""
    from pdfminer.pdftypes import resolve1
    from pdfminer.psparser import PSLiteral

    if dest is None and action is not None:
        action = resolve1(action)
        dest = action.get("D") if isinstance(action, dict) else None
    dest = resolve1(dest)
    if isinstance(dest, PSLiteral):
        dest = dest.name
    if isinstance(dest, (str, bytes)):
        dest = resolve1(document.get_dest(dest))
    if isinstance(dest, dict):
        dest = resolve1(dest.get("D"))
    if not isinstance(dest, list) or not dest:
        return None
    page = page_numbers.get(getattr(dest[0], "objid", None))
    if page is None:
        return None
    kind = getattr(dest[1], "name", None) if len(dest) > 1 else None
    top = dest[3] if kind == "XYZ" and len(dest) > 3 and isinstance(dest[3], (int, float)) else None
    return page, None if top is None else float(top)


def _metadata_title(document: "PDFDocument") -> str | None:
    from pdfminer.pdftypes import resolve1
    from pdfminer.utils import decode_text

    for info in document.info:
        value = resolve1(info.get("Title"))
        if isinstance(value, bytes):
            value = decode_text(value)
        if isinstance(value, str) and clean(value) and not _PLACEHOLDER_TITLE.match(clean(value)):
            return clean(value)
    return None


# Titles that tools write when the author gave none: a browser's "about:blank" or page address,
# a word processor's "Untitled" or "Microsoft Word - draft.docx". The file name says more.
_PLACEHOLDER_TITLE = re.compile(r"^(?:about:|https?://|file:|untitled\b|microsoft word - |document\d*$)", re.I)


def _parts(pages: list[list[_Box]], entries: list[_Entry]) -> Iterator[Part]:
    """Boxes in page order, with each outline entry placed as a heading where it points; with
    no outline, the boxes whose type marks them as headings are the headings."""
    if not entries:
        levels = _typeset_headings(pages)
        for number, boxes in enumerate(pages, 1):
            for i, box in enumerate(boxes):
                level = levels.get((number, i))
                if box.text:
                    yield Part(HEADING, box.text, level, number) if level else Part(PARAGRAPH, box.text, page=number)
        return
    for number, boxes in enumerate(pages, 1):
        yield from _page_parts(number, boxes, [e for e in entries if e.page == number])


def _typeset_headings(pages: list[list[_Box]]) -> dict[tuple[int, int], int]:
    """(page, box index) -> heading level, for the boxes set as headings: the larger the type,
    the higher the level (1 for the largest); bold at the body size comes below every larger
    size. The body size is the one most of the text is set in."""
    boxes = {(number, i): box for number, page in enumerate(pages, 1) for i, box in enumerate(page) if box.text}
    weight: Counter[float] = Counter()
    for box in boxes.values():
        weight[box.size] += len(box.text)
    if not weight:
        return {}
    body = weight.most_common(1)[0][0]
    found = {key: box for key, box in boxes.items() if _looks_like_heading(box, body)}
    if not found or len(found) * 2 > len(boxes):
        return {}
    larger = sorted({box.size for box in found.values() if box.size >= body * _LARGER}, reverse=True)
    return {key: min(6, larger.index(box.size) + 1 if box.size in larger else len(larger) + 1)
            for key, box in found.items()}


def _looks_like_heading(box: _Box, body: float) -> bool:
    if (len(box.text) > _HEADING_MAX_CHARS or len(box.text.split()) > _HEADING_MAX_WORDS
            or box.lines > _HEADING_MAX_LINES or _CLAUSE_END.search(box.text)
            or not any(c.isalpha() for c in box.text)):
        return False
    return box.size >= body * _LARGER or (box.bold and box.lines == 1 and box.size >= body * 0.95)


def _page_parts(number: int, boxes: list[_Box], entries: list[_Entry]) -> Iterator[Part]:
    headings: dict[int, list[Part]] = {}  # box index -> headings placed before that box
    texts = [box.text for box in boxes]
    cursor = 0
    for entry in entries:
        found = _find_title(texts, entry.title, cursor)
        if found is not None:
            rest = texts[found][len(entry.title):].strip()
            headings.setdefault(found, []).append(Part(HEADING, entry.title, entry.level, number))
            texts[found] = rest  # a heading box merged with its first paragraph keeps the paragraph
            cursor = found if rest else found + 1
            continue
        at = cursor
        if entry.top is not None:
            while at < len(boxes) and boxes[at].top > entry.top + _DEST_SLACK:
                at += 1
        headings.setdefault(at, []).append(Part(HEADING, entry.title, entry.level, number, shown=False))
        cursor = at
    for i, text in enumerate(texts + [""]):
        yield from headings.get(i, [])
        if text:
            yield Part(PARAGRAPH, text, page=number)


def _find_title(texts: list[str], title: str, start: int) -> int | None:
    """The first box from `start` that is the title, or starts with it as a whole phrase."""
    folded = title.casefold()
    for i in range(start, len(texts)):
        text = texts[i].casefold()
        if text == folded or (text.startswith(folded) and text[len(folded):len(folded) + 1] == " "):
            return i
    return None
