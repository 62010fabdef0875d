"""HTML of the chat page: answer bubbles, source cards and the Sources panel, from `Answer.to_dict()`.

Pure functions without Gradio, so they are quick to test. Everything shown that comes from a user
or from the corpus goes through `esc()`, so a question or a corpus sentence holding `<script>`
shows as text and never runs.

Ids are unique per answer ("turn"): answer 2's marker [1] links to `src-2-1`, its own first card,
so a marker in an earlier answer never leads to a later answer's sources. The same cards are drawn
twice: in the Sources panel (desktop) and in a collapsible section under the answer (phones);
CSS shows one of them and the page script (qa/ui_assets.py) follows a marker to the visible one.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Sequence

from qa.answer import corpus_words

SHOWN_QUESTION_CHARS = 400  # an over-long paste is cut in the chat bubble (the engine rejects it anyway)
_MARKER = re.compile(r"\[(\d+)\]")
_ENTITIES = {ord(c): f"&#{ord(c)};" for c in "&<>\"'\\`*_~#[]|$={}"}
# Markdown block starts that the cards draw as such: list items ("- ", "* ", "1. ") and headings.
_LIST_ITEM = re.compile(r"[ \t]*(?:([-*+])|\d{1,3}[.)])[ \t]+")
_HEADING = re.compile(r"[ \t]*#{1,6}[ \t]+")

Answer = Mapping[str, Any]  # Answer.to_dict()
Mark = tuple[int, int, int]  # file offsets start, end, and the marker number n


def esc(text: str) -> str:
    """HTML-escape, and neutralise the characters Markdown, LaTeX and Gradio's HTML templates
    would otherwise interpret (`*`, `_`, `$`, `{`...), so text always shows as typed."""
    return str(text).translate(_ENTITIES)


# ------------------------------------------------------------------ passages with highlights

def _marked(text: str, offset: int, start: int, end: int, marks: Sequence[Mark], numbered: bool) -> str:
    """text[start:end] (file offsets; `text` begins at `offset`), escaped, with the marked parts in <mark>."""
    cuts = sorted({start, end, *(x for s, e, _ in marks for x in (s, e) if start < x < end)})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        piece = esc(text[a - offset:b - offset])
        covering = [(e, n) for s, e, n in marks if s <= a and b <= e]
        if not covering:
            out.append(piece)
            continue
        e, n = covering[0]
        out.append(f'<mark>{piece}</mark>')
        if numbered and b == e:  # several highlights in one card: say which marker each one is
            out.append(f'<sup class="qa-mark-n">{n}</sup>')
    return "".join(out)


def passage_html(text: str, offset: int, marks: Sequence[Mark] = (), prefix: str = "", numbered: bool = False) -> str:
    """A passage as paragraphs, list items and headings (Markdown blocks), escaped, with `marks` in <mark>.

    `offset` is the passage's position in its file, and marks use file offsets. `prefix` is the
    file's text from the start of the passage's first line up to the passage: a passage often
    starts just after a list item's "- ", and only the prefix tells that it is a list item.
    No newline is written: inside a chat bubble, a blank line would end the HTML block."""
    blocks: list[list[Any]] = []  # [tag, [(start, end), ...]]; tag "p", "h", "ul" or "ol" (one item each)
    after_item = False
    position = offset
    for i, line in enumerate(text.split("\n")):
        line_start, position = position, position + len(line) + 1
        head, before = (prefix + line, len(prefix)) if i == 0 else (line, 0)
        if not line.strip():
            after_item = False
            blocks.append(["", []])
            continue
        item, heading = _LIST_ITEM.match(head), _HEADING.match(head)
        if item:
            content = line_start + max(0, item.end() - before)
            blocks.append(["ul" if item.group(1) else "ol", [(content, line_start + len(line))]])
            after_item = True
        elif heading:
            blocks.append(["h", [(line_start + max(0, heading.end() - before), line_start + len(line))]])
            after_item = False
        elif blocks and (after_item or blocks[-1][0] == "p"):  # a paragraph or list item goes on
            blocks[-1][1].append((line_start, line_start + len(line)))
        else:
            blocks.append(["p", [(line_start, line_start + len(line))]])
    out, open_list = [], ""
    for tag, spans in blocks:
        body = " ".join(_marked(text, offset, s, e, marks, numbered) for s, e in spans)
        if open_list and tag != open_list:
            out.append(f"</{open_list}>")
            open_list = ""
        if tag in ("ul", "ol"):
            if not open_list:
                out.append(f"<{tag}>")
                open_list = tag
            out.append(f"<li>{body}</li>")
        elif tag:
            out.append(f'<p class="qa-h">{body}</p>' if tag == "h" else f"<p>{body}</p>")
    if open_list:
        out.append(f"</{open_list}>")
    return "".join(out)


def line_prefix(document: str, start: int) -> str:
    """The document's text from the start of the line holding `start` up to it."""
    if not 0 <= start <= len(document):
        return ""
    return document[document.rfind("\n", 0, start) + 1:start]


# ------------------------------------------------------------------ source cards

def _score(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _scores_line(passage: Mapping[str, Any] | None, sentences: Iterable[tuple[int, float]] = ()) -> str:
    """Scores of a card, hidden by CSS until "Show scores" is ticked: the passage's rank score
    (the answer model's probability for its best sentence), its three retrieval legs, and each
    quoted sentence's own probability."""
    p = passage or {}
    # A passage reached through one of its sentences (the sentence leg) has no fused rank.
    fused = "found by sentence search" if p and p.get("fused_score") is None else f"RRF {_score(p.get('fused_score'), 4)}"
    parts = [f"passage {_score(p.get('score'), 2)}", fused,
             f"dense {_score(p.get('dense_score'), 3)}", f"BM25 {_score(p.get('bm25_score'), 2)}"]
    parts += [f"sentence [{n}] {_score(score, 2)}" for n, score in sentences]
    return f'<div class="qa-scores">{" · ".join(parts)}</div>'


def _card(anchor: str, numbers: Sequence[int], source: str, section: str, body: str, scores: str,
          extra_class: str = "", pages: Sequence[int | None] = ()) -> str:
    """One source card: its markers, the file (and the PDF page(s) of what it quotes), the section."""
    badges = "".join(f'<span class="qa-n">{n}</span>' for n in numbers)
    shown = sorted({p for p in pages if p is not None})
    page = (f' · page{"s" if len(shown) > 1 else ""} {", ".join(map(str, shown))}') if shown else ""
    return (f'<article class="qa-card{extra_class}" id="{anchor}">'
            f'<div class="qa-card-head"><span class="qa-ns">{badges}</span>'
            f'<span class="qa-where"><span class="qa-doc">{esc(source)}{page}</span>'
            f'<span class="qa-sec">{esc(section)}</span></span></div>'
            f'<div class="qa-passage">{body}</div>{scores}</article>')


def cited_cards(answer: Answer) -> list[list[Mapping[str, Any]]]:
    """The answer's citations grouped by passage, in marker order: one card per cited passage,
    holding every sentence the answer quotes from it."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for citation in answer["citations"]:
        groups.setdefault(citation["chunk_id"], []).append(citation)
    return list(groups.values())


def card_of_marker(answer: Answer) -> dict[int, int]:
    """Marker number n -> the number of the card (1-based) that holds its sentence."""
    return {c["n"]: i for i, group in enumerate(cited_cards(answer), 1) for c in group}


def cards_html(answer: Answer, turn: int, where: str, documents: Mapping[str, str]) -> str:
    """The answer's source cards (or, when it abstained, its closest passages), with ids
    `{where}-{turn}-{card}`: `where` is "src" in the panel and "in" under the answer."""
    by_chunk = {p["chunk_id"]: p for p in answer["passages"]}
    cards = []
    if answer["citations"]:
        for i, group in enumerate(cited_cards(answer), 1):
            first = group[0]
            passage, start = first["passage"], first["passage_start"]
            fits = [c for c in group if start <= c["start"] < c["end"] <= start + len(passage)]
            marks = [(c["start"], c["end"], c["n"]) for c in fits]
            body = passage_html(passage, start, marks, line_prefix(documents.get(first["source"], ""), start),
                                numbered=len(group) > 1)
            # offsets that do not fit the passage: show the quote alone, still marked
            body += "".join(f'<p><mark>{esc(c["quote"])}</mark></p>' for c in group if c not in fits)
            scores = _scores_line(by_chunk.get(first["chunk_id"]), [(c["n"], c["score"]) for c in group])
            cards.append(_card(f"{where}-{turn}-{i}", [c["n"] for c in group], first["source"], first["section"],
                               body, scores, pages=[c.get("page") for c in group]))
    else:
        for p in answer["passages"]:
            body = passage_html(p["text"], p["start"], (), line_prefix(documents.get(p["source"], ""), p["start"]))
            cards.append(_card(f"near-{where}-{turn}-{p['rank']}", [p["rank"]], p["source"], p["section"], body,
                               _scores_line(p), " qa-closest", pages=[p.get("page")]))
    return "".join(cards)


# ------------------------------------------------------------------ the chat bubbles

def link_markers(text: str, turn: int, cards: Mapping[int, int]) -> str:
    """Escaped answer text whose [n] markers link to the card of answer `turn` that holds sentence n."""
    parts = _MARKER.split(text)  # text, n, text, n, ...
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            n = int(part)
            card = cards.get(n, n)
            out.append(f'<a class="qa-cite" href="#src-{turn}-{card}" title="Show source {n}">&#91;{n}&#93;</a>')
        else:  # a no-break space keeps each marker on the line of the sentence it cites
            out.append(esc(part[:-1]) + "&#160;" if part.endswith(" ") and i + 1 < len(parts) else esc(part))
    return "".join(out)


def render_question(question: str) -> str:
    if len(question) > SHOWN_QUESTION_CHARS:
        return esc(question[:SHOWN_QUESTION_CHARS]) + f"… <em>({len(question)} characters)</em>"
    return esc(question)


def render_reply(answer: Answer, shown: str, turn: int, documents: Mapping[str, str], done: bool = False,
                 verdict: str = "", waited_s: float = 0.0, sent_at: float | None = None) -> str:
    """The assistant bubble: the (partial) answer and what was searched; once `done`, the verdict
    in words (the probability shows with the scores), the wait, and the sources to unfold."""
    body = link_markers(shown, turn, card_of_marker(answer)) if shown else "<em>Searching the article…</em>"
    html = f'<div class="qa-answer" id="answer-{turn}">{body}</div>'
    if answer["searched_for"].casefold() != answer["question"].casefold():  # not for capitals alone
        html += f'<div class="qa-meta">Searched for: {esc(answer["searched_for"])}</div>'
    if not done:
        return html
    if answer["abstained"]:
        verdict_html = '<span class="qa-verdict">No answer in the article</span>'
        summary = f"Closest passages, not an answer ({len(answer['passages'])})"
    else:
        p = float(answer["confidence"])
        verdict_html = (f'<span class="qa-verdict" title="Probability that the answer is right: {p:.2f}">'
                        f'{esc(verdict)}</span><span class="qa-prob"> (p = {p:.2f})</span>')
        summary = f"Sources ({len(cited_cards(answer))})"
    # "qa-done" marks a finished answer (tests wait for it). The page script replaces the wait
    # measured here with the one the browser measured from the moment the question was sent,
    # which the id carries (the chat's sanitizer keeps ids and drops data- attributes).
    sent = f' id="wait-{int(sent_at)}"' if sent_at is not None and sent_at >= 0 else ""
    html += (f'<div class="qa-meta qa-done">{verdict_html} · <span class="qa-wait"{sent} '
             f'title="From sending the question to the complete answer">{waited_s:.2f} s</span></div>')
    return (html + f'<details class="qa-inline" id="inline-{turn}"><summary>{summary}</summary>'
            f'{cards_html(answer, turn, "in", documents)}'
            f'<a class="qa-back" href="#answer-{turn}">↑ Back to the answer</a></details>')


# ------------------------------------------------------------------ the Sources panel

EMPTY_PANEL = ('<div class="qa-sources"><h3>Sources</h3><p class="qa-empty">Ask a question: the passages '
               "each answer quotes appear here, with the quoted sentence highlighted.</p></div>")


def render_panel(answers: Sequence[Answer], documents: Mapping[str, str]) -> str:
    """The Sources panel: one section per answer (answer i is turn i), the latest shown. The page
    script shows another answer's section when one of its markers is clicked, or with ‹ and ›."""
    if not answers:
        return EMPTY_PANEL
    sections, total = [], len(answers)
    for turn, answer in enumerate(answers, 1):
        nav = (f'<span class="qa-nav"><button type="button" class="qa-go" data-go="{turn - 1}" '
               f'aria-label="Sources of the previous answer"{" disabled" if turn == 1 else ""}>‹</button>'
               f'<span>answer {turn} of {total}</span><button type="button" class="qa-go" data-go="{turn + 1}" '
               f'aria-label="Sources of the next answer"{" disabled" if turn == total else ""}>›</button></span>')
        if answer["abstained"]:
            title = '<h3 class="qa-warn">Closest passages — not an answer</h3>'
            not_answered = corpus_words(len(documents))["not_answered"]
            note = (f'<p class="qa-empty">{not_answered} “{esc(answer["question"])}”. '
                    "These are the passages that came nearest.</p>")
        else:
            title, note = "<h3>Sources</h3>", f'<p class="qa-for">For “{esc(answer["question"])}”</p>'
        current = " qa-current" if turn == total else ""
        sections.append(f'<section class="qa-turn{current}" id="turn-{turn}" data-turn="{turn}">'
                        f'<div class="qa-turn-head">{title}{nav}</div>{note}'
                        f'{cards_html(answer, turn, "src", documents)}</section>')
    return f'<div class="qa-sources">{"".join(sections)}</div>'


HEADER_NAMES_MAX = 3  # documents named in the header's sentence; more are counted and listed folded


def render_header(documents: Iterable[Any]) -> tuple[str, str]:
    """The page header and the full article text (of the indexed documents), both escaped.
    Up to HEADER_NAMES_MAX documents are named in the sentence; beyond that it says how many
    and lists them in a folded <details>, so fifty uploads do not push the chat off the screen."""
    documents = list(documents)
    named = [f"<em>{esc(d.title)}</em> (<code>{esc(d.source)}</code>)" for d in documents]
    if len(documents) <= HEADER_NAMES_MAX:
        where, listing = ", ".join(named), ""
    else:
        where = f"{len(documents)} documents"
        listing = ('<details class="qa-doc-list"><summary>Which documents</summary><ul>'
                   + "".join(f"<li>{n}</li>" for n in named) + "</ul></details>")
    header = (
        '<div class="qa-header"><h1>Ask the article</h1>'
        f"<p>Answers come only from {where}: every sentence of an answer is quoted from the article "
        "and numbered, and the <b>Sources</b> show where. When the article does not say, "
        f"the app says so instead of guessing.</p>{listing}</div>"
    )
    article = "".join(
        f'<h4 class="qa-doc">{esc(d.source)}</h4><div class="qa-article">{esc(d.text)}</div>' for d in documents
    )
    return header, article
