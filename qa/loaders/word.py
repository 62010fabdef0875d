"""Word (.docx) -> Document, with python-docx (MIT).

Why python-docx: it is the maintained reader of the .docx format in pure Python (on lxml),
gives paragraphs and tables in document order with their style names, and needs nothing
else. Headings are the built-in styles "Title" and "Heading 1".."Heading 6" (Word stores
their English names in every language); list paragraphs (numbered, or a "List ..." style)
are items; a table row reads as one line, "cell | cell".

A .docx is a zip file, so before python-docx unpacks anything, the sizes its directory
declares are added up and a file that would unpack past `max_unzipped_bytes` (a zip bomb)
is skipped. Python's zipfile never unpacks a member past its declared size, and a member
that lies about it fails its CRC check, so the declared sizes are a bound to rely on.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import TYPE_CHECKING, Iterator

from qa.errors import DocumentUnreadable
from qa.loaders import HEADING, ITEM, PARAGRAPH, Part, assemble, clean
from qa.settings import Settings
from qa.types import Document

if TYPE_CHECKING:
    from docx.document import Document as WordDocument
    from docx.text.paragraph import Paragraph

CORRUPT = "it cannot be read as a Word file ({detail}): open it in Word or LibreOffice and save it again as .docx"
_HEADING_STYLE = re.compile(r"^heading ([1-9])$", re.IGNORECASE)


def load(data: bytes, source: str, sha256: str, limits: Settings) -> Document:
    _check_zip(data, source, limits.max_unzipped_bytes)
    import docx

    try:
        word = docx.Document(io.BytesIO(data))
        parts = list(_parts(word))
        title = clean(word.core_properties.title or "") or None
    except Exception as exc:  # noqa: BLE001
        # python-docx and lxml raise many types on damaged files (PackageNotFoundError, KeyError for a
        # missing part, ValueError for another Office type, XMLSyntaxError, BadZipFile on a bad CRC):
        # any of them means this one file is unreadable.
        raise DocumentUnreadable(source, CORRUPT.format(detail=f"{type(exc).__name__}: {clean(str(exc))[:120]}")) from None
    return assemble(source, sha256, parts, title=title)


def _check_zip(data: bytes, source: str, limit: int) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise DocumentUnreadable(source, CORRUPT.format(detail=f"not a zip archive: {exc}")) from None
    if unpacked > limit:
        raise DocumentUnreadable(
            source, f"it would unpack to {unpacked / 1_000_000:,.0f} MB, over the {limit / 1_000_000:,.0f} MB limit "
                    f"(QA_MAX_UNZIPPED_BYTES): it may be a zip bomb; if you trust it, raise the limit")


def _parts(word: "WordDocument") -> Iterator[Part]:
    from docx.table import Table

    for item in word.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                yield Part(PARAGRAPH, " | ".join(_unique_cells(row)))
        else:
            yield _paragraph(item)


def _paragraph(paragraph: "Paragraph") -> Part:
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    heading = _HEADING_STYLE.match(style)
    if style.lower() == "title":
        return Part(HEADING, paragraph.text, 0)
    if heading:
        return Part(HEADING, paragraph.text, min(6, int(heading.group(1))))
    properties = paragraph._p.pPr  # numbering lives in the XML; python-docx has no public accessor
    if style.lower().startswith("list") or (properties is not None and properties.numPr is not None):
        return Part(ITEM, paragraph.text)
    return Part(PARAGRAPH, paragraph.text)


def _unique_cells(row) -> list[str]:  # type: ignore[no-untyped-def]
    """A row's cell texts; a merged cell appears once, not once per grid column it spans."""
    cells: list[str] = []
    seen: set[int] = set()
    for cell in row.cells:
        if id(cell._tc) in seen:
            continue
        seen.add(id(cell._tc))
        cells.append(clean(cell.text))
    return [c for c in cells if c]
