"""HTML (a saved web page) -> Document, with beautifulsoup4 (MIT) and Python's own html.parser.

Why beautifulsoup4: it parses any real-world HTML without failing, finds the encoding the page
declares (BOM, <meta charset>), and lets us walk the tree in order, so h1-h6 become headings
and p/li/td become blocks. A page that declares none is read as UTF-8, else windows-1252
(`_undeclared_as_text`). trafilatura (Apache-2.0 since 1.8) finds the main text of
cluttered pages better, but it pulls in a dozen packages and returns text without the
heading structure that sections need. Here the main text is <main>, else <article>, else
<body>, without scripts, navigation, asides, forms and footers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from qa.errors import DocumentUnreadable
from qa.loaders import HEADING, ITEM, PARAGRAPH, Part, assemble, clean
from qa.settings import Settings
from qa.types import Document

if TYPE_CHECKING:
    from bs4 import Tag

# Never text a reader came for.
_DROP = ("script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed",
         "form", "button", "select", "nav", "aside", "footer", "head")
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
# Blocks whose whole text is one paragraph (they hold inline content only).
_PARAGRAPHS = frozenset("p pre address dt dd figcaption caption summary".split())
# Tags that continue the line they are in; any other tag starts a new block.
_INLINE = frozenset(
    "a abbr b bdi bdo br cite code data del dfn em font i img ins kbd label mark q s samp small span "
    "strike strong sub sup time tt u var wbr".split()
)
_LISTS = ("ul", "ol")


def load(data: bytes, source: str, sha256: str, limits: Settings) -> Document:
    from bs4 import BeautifulSoup

    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 has NULs, and a BOM
        raise DocumentUnreadable(source, "it is not an HTML page (it holds binary data): remove it, or save the page again as HTML")
    soup = BeautifulSoup(_undeclared_as_text(data), "html.parser")
    title = clean(soup.title.get_text()) if soup.title else None
    root = soup.find("main") or soup.find("article") or soup.body or soup
    for tag in root.find_all(_DROP):
        tag.decompose()
    for header in root.find_all("header"):  # a site banner; a header holding the article's heading stays
        if not header.find(list(_HEADINGS)):
            header.decompose()
    for br in root.find_all("br"):
        br.replace_with("\n")
    for tag in root.find_all(True):  # "<li><p>a</p><p>b</p></li>" reads "a b", not "ab"
        if tag.name not in _INLINE:
            tag.insert_before(" ")
            tag.insert_after(" ")
    try:
        parts = list(_walk(root))
    except RecursionError:  # real pages nest a few dozen levels; the walk allows a few hundred
        raise DocumentUnreadable(source, "its elements nest too deeply to read: save the page again, or its text as .txt") from None
    return assemble(source, sha256, parts, title=title or None)


# windows-1252's letters for the bytes 0x80-0x9F ("\x93" is a curly quote, "\x80" the euro
# sign); the five bytes it leaves undefined stay the C1 controls, as the HTML standard maps them.
_WINDOWS_1252 = {b: bytes([b]).decode("cp1252") for b in range(0x80, 0xA0) if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}


def _undeclared_as_text(data: bytes) -> bytes | str:
    """A page that declares no encoding (no byte-order mark, no <meta charset> or http-equiv,
    no XML declaration), decoded as the HTML standard says browsers in Western locales read it:
    UTF-8 when it is valid UTF-8, else windows-1252. Left to guess, beautifulsoup4's detector
    (charset-normalizer) read a Latin-1 "crêpes" as windows-1250 "crępes". A page that declares
    its encoding is returned as bytes, for beautifulsoup4 to decode as it says."""
    from bs4.dammit import EncodingDetector

    if EncodingDetector.strip_byte_order_mark(data)[1] or EncodingDetector.find_declared_encoding(data, is_html=True):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1").translate(_WINDOWS_1252)


def _walk(node: "Tag") -> Iterator[Part]:
    """Blocks of a container in document order. Loose text between blocks is a paragraph of its own."""
    from bs4 import Comment, NavigableString, Tag

    loose: list[str] = []
    for child in node.children:
        if isinstance(child, Comment) or not isinstance(child, (NavigableString, Tag)):
            continue
        if isinstance(child, NavigableString) or child.name in _INLINE:
            loose.append(child.get_text() if isinstance(child, Tag) else str(child))
            continue
        if clean("".join(loose)):
            yield Part(PARAGRAPH, "".join(loose))
        loose = []
        yield from _block(child)
    if clean("".join(loose)):
        yield Part(PARAGRAPH, "".join(loose))


def _block(tag: "Tag") -> Iterator[Part]:
    if tag.name in _HEADINGS:
        yield Part(HEADING, tag.get_text(), _HEADINGS[tag.name])
    elif tag.name in _PARAGRAPHS:
        yield Part(PARAGRAPH, tag.get_text())
    elif tag.name == "li":
        nested = [inner for inner in tag.find_all(_LISTS) if inner.find_parent("li") is tag]
        for inner in nested:
            inner.extract()
        yield Part(ITEM, tag.get_text())
        for inner in nested:
            yield from _walk(inner)
    elif tag.name == "tr":  # a table row reads as one line: "cell | cell | cell"
        yield Part(PARAGRAPH, " | ".join(clean(cell.get_text()) for cell in tag.find_all(("td", "th"))))
    else:
        yield from _walk(tag)
