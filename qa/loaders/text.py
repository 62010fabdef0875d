"""Markdown and plain text: the file's own text, split into blocks (paragraphs and list items)
that know their heading path and character offsets in the file."""

from __future__ import annotations

import re

from qa.errors import DocumentUnreadable
from qa.loaders import enter_heading, fallback_title
from qa.settings import Settings
from qa.text import LIST_MARKER
from qa.types import Block, Document

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+")
# A fenced code block opens with three or more backticks or tildes and closes with at least as
# many of the same (CommonMark); what it holds is text, never a heading or a list item.
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
# A line of "=" or "-" under a paragraph makes it a heading (a setext heading, levels 1 and 2).
_UNDERLINE = re.compile(r"^[ \t]{0,3}(=+|-+)[ \t]*$")
# Elsewhere, in Markdown and plain text alike, a line of one mark repeated ("-----", "* * *",
# "=====") separates parts: it ends a paragraph and is never text.
_RULE = re.compile(r"^[ \t]*([-=*_~#+])(?:[ \t]*\1){2,}[ \t]*$")
# A table row ("| Paris | 20,000 |") is a block of its own, "cell | cell" as the other formats
# give rows; the row under the header ("|---|:--:|") is left out.
_TABLE_ROW = re.compile(r"^[ \t]*\|[ \t]*(.*?)[ \t]*\|?[ \t]*$")
_TABLE_RULE = re.compile(r"^[ \t]*\|?(?:[ \t]*:?-+:?[ \t]*\|)+(?:[ \t]*:?-+:?[ \t]*)?$")


def load_markdown(data: bytes, source: str, sha256: str, limits: Settings) -> Document:
    return parse_markdown(source, decode(data, source), sha256)


def load_plain(data: bytes, source: str, sha256: str, limits: Settings) -> Document:
    return parse_plain(source, decode(data, source), sha256)


def decode(data: bytes, source: str) -> str:
    """The file's text. Offsets index into it as it is, so it is never re-encoded or guessed at.
    A byte-order mark, which Windows editors put before UTF-8 text, is not part of it: left
    in, it hid the title line ("\\ufeff# Title" is no heading)."""
    if b"\x00" in data:
        raise DocumentUnreadable(source, "it looks binary (it contains NUL bytes): remove it, or convert it to UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentUnreadable(
            source, f"it is not valid UTF-8 (byte {exc.start}): convert it, e.g. `iconv -t UTF-8`, or remove it"
        ) from None


class _Blocks:
    """Blocks of one file as its lines are read: a paragraph grows line by line until a blank
    line, a heading or a list item ends it; every block takes the heading path in force."""

    def __init__(self, source: str, text: str, title: str, headings: list[tuple[int, str]]) -> None:
        self.source, self.text, self.title, self.headings = source, text, title, headings
        self.blocks: list[Block] = []
        self._start: int | None = None
        self._end = 0

    def line(self, start: int, body: str) -> None:
        if self._start is None:
            self._start = start + (len(body) - len(body.lstrip()))
        self._end = start + len(body)

    def flush(self) -> None:
        if self._start is not None:
            self.add(self._start, self._end)
            self._start = None

    def enter(self, level: int, name: str) -> None:
        """A heading: the first level-1 one before any text is the document's title."""
        self.flush()
        if level == 1 and not any(lvl == 1 for lvl, _ in self.headings) and not self.blocks:
            self.title = name
        self.headings = enter_heading(self.headings, level, name)

    def take_paragraph(self) -> str | None:
        """The text of the paragraph being read, which then is no block (None when there is none)."""
        if self._start is None:
            return None
        text, self._start = self.text[self._start:self._end], None
        return text

    def add(self, start: int, end: int) -> None:
        path = tuple(h for _, h in self.headings) or (self.title,)
        while end > start and self.text[end - 1].isspace():
            end -= 1
        self.blocks.append(Block(source=self.source, headings=path, text=self.text[start:end], start=start, end=end))

    def document(self, sha256: str) -> Document:
        self.flush()
        return Document(source=self.source, title=self.title, text=self.text, sha256=sha256,
                        blocks=tuple(b for b in self.blocks if b.text.strip()))


def _lines(text: str) -> list[tuple[int, str]]:
    """(offset, line without its line break) for every line of the text."""
    found, offset = [], 0
    for line in text.splitlines(keepends=True):
        found.append((offset, line.rstrip("\r\n")))
        offset += len(line)
    return found


def parse_markdown(source: str, text: str, sha256: str) -> Document:
    """Split Markdown into blocks: `#` lines, and lines underlined with "=" or "-", are headings
    (the first level-1 one, before any text, is the title), list items are blocks of their own,
    other runs of non-blank lines are paragraphs, a table row is a block ("cell | cell", as
    the other formats give rows), and a fenced code block is one block, its
    fences left out (a shell comment in it, "# install the tools", is no heading). YAML front
    matter is left out, and gives the title when it names one."""
    lines = _lines(text)
    skip, title = _front_matter(lines)
    out = _Blocks(source, text, title or fallback_title(source), [])
    fence: str | None = None
    for start, body in lines[skip:]:
        if fence is not None:
            if _closes(body, fence):
                out.flush()
                fence = None
            elif body.strip():
                out.line(start, body)
            continue
        opening = _FENCE.match(body)
        if opening:
            out.flush()
            fence = opening.group(1)
            continue
        heading = _HEADING.match(body)
        underline = _UNDERLINE.match(body)
        item = _LIST_ITEM.match(body)
        if not body.strip():
            out.flush()
        elif heading:
            out.enter(len(heading.group(1)), heading.group(2).strip())
        elif underline and (above := out.take_paragraph()) is not None:
            out.enter(1 if underline.group(1)[0] == "=" else 2, " ".join(above.split()))
        elif _RULE.match(body) or _TABLE_RULE.match(body):
            out.flush()
        elif row := _TABLE_ROW.match(body):
            out.flush()
            if row.group(1):  # an empty row holds nothing to quote
                out.add(start + row.start(1), start + row.end(1))
        elif item:
            out.flush()
            out.add(start + item.end(), start + len(body))
        else:
            out.line(start, body)
    return out.document(sha256)


def _front_matter(lines: list[tuple[int, str]]) -> tuple[int, str | None]:
    """YAML front matter, as blog and static-site Markdown opens with ("---", "title: ...",
    "---"): how many lines it takes, and its title. (0, None) when there is none."""
    if not lines or lines[0][1].strip() != "---":
        return 0, None
    for n, (_start, body) in enumerate(lines[1:FRONT_MATTER_MAX_LINES], start=1):
        if body.strip() in ("---", "..."):
            fields = dict(m.groups() for m in (_FIELD.match(b) for _s, b in lines[1:n]) if m)
            title = fields.get("title", "").strip().strip("\"'").strip()
            return n + 1, title or None
    return 0, None


FRONT_MATTER_MAX_LINES = 60
_FIELD = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$")


def _closes(line: str, fence: str) -> bool:
    """Whether the line closes a code block opened by `fence` ("```" is closed by "````" too)."""
    closing = _FENCE.match(line)
    return bool(closing) and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence) \
        and not line[closing.end():].strip()


# Plain text has no markup, so structure is read off the lines the way a reader sees it. A
# heading is a short line in capitals that does not end a sentence ("Key Takeaways"), or a
# short question standing alone above a paragraph (an FAQ entry); a line ending a sentence is a
# paragraph of its own (many files put one paragraph on a line), while a line broken mid-
# sentence (hard-wrapped text) runs on into the next.
_PLAIN_ITEM = LIST_MARKER
_SENTENCE_END = re.compile(r"[.!?…:;\"”’)\]]\s*$")
# Under a title, news and blog articles give their author and date on lines of their own.
_BYLINE = re.compile(r"^(?:[Bb]y|(?:[Ww]ritten|[Pp]osted|[Pp]ublished|[Rr]eported) by)\s+[A-Z]")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATELINE = re.compile(rf"^(?:(?:published|posted|updated|last updated)\s*:?\s*)?(?:\w+day,?\s+)?"
                       rf"(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
                       rf"|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})\W*$", re.I)
HEADING_MAX_CHARS = 90
HEADING_MAX_WORDS = 12


def _plain_heading(line: str, next_line: str | None, near_top: bool = False) -> bool:
    """A heading: see above. `near_top`: the line is among the first under the title, where a
    byline ("By Maria Lopez") stands, which elsewhere could be a heading ("By The Sea")."""
    body = line.strip()
    if not body or not next_line or not next_line.strip() or _PLAIN_ITEM.match(body) or len(body) > HEADING_MAX_CHARS:
        return False
    if len(body.split()) > HEADING_MAX_WORDS or not body[0].isupper() or next_line.strip()[0].islower():
        return False  # too long, not capitalised, or a wrapped line that runs on
    if (near_top and _BYLINE.match(body)) or _DATELINE.match(body):
        return False  # "By Maria Lopez", "March 3, 2021": what the article says of itself, not a section
    if body.endswith("?"):
        return len(next_line.strip()) > len(body)  # a question standing above its (longer) answer
    return not _SENTENCE_END.search(body) and not body.endswith(",")


def parse_plain(source: str, text: str, sha256: str) -> Document:
    """Blocks of a plain-text file: headings, paragraphs and list items found from its lines."""
    title = fallback_title(source)
    out = _Blocks(source, text, title, [(1, title)])  # the title heads every path, as "# Title" does in Markdown
    lines = _lines(text)
    bodies = [body for _, body in lines]
    first = next((i for i, body in enumerate(bodies) if body.strip()), -1)
    for i, (start, body) in enumerate(lines):
        following = next((b for b in bodies[i + 1:] if b.strip()), None)
        item = _PLAIN_ITEM.match(body)
        if not body.strip() or _RULE.match(body):
            out.flush()
        elif _plain_heading(body, bodies[i + 1] if i + 1 < len(bodies) and bodies[i + 1].strip() else following,
                            near_top=0 < i - first <= 3):
            out.flush()
            name = body.strip()
            if i == first:
                out.title, out.headings = name, [(1, name)]
                continue
            under_topic = any(lvl == 2 and not h.endswith("?") for lvl, h in out.headings)
            out.headings = enter_heading(out.headings, 3 if name.endswith("?") and under_topic else 2, name)
        elif item:
            out.flush()
            out.add(start + item.end(), start + len(body))
        else:
            out.line(start, body)
            if _SENTENCE_END.search(body):
                out.flush()
    return out.document(sha256)
