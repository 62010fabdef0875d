"""Write eval/sets/computational-complexity.jsonl from the SQuAD 2.0 copy in ../shared/squad/, with
each answerable question's `support` narrowed to the sentences of its own paragraph that hold a
gold span:  .venv/bin/python scripts/squad_support.py

Why: SQuAD's gold strings are short spans ("time", "NP", "complex") and half of the answerable
questions' spans also occur in other paragraphs, where they answer nothing. Labelled by the span
alone, every such sentence counted as an answer in training and every passage holding the word as
a hit. Each SQuAD question was written on one paragraph, and SQuAD lists each paragraph's
questions in turn, answerable ones first: a paragraph's list ends where an unanswerable question
is followed by an answerable one. That gives the 48 paragraphs' lists in order; the script checks
that every gold span occurs in its paragraph before it writes anything. The question, its
answerability and its gold strings (`expect_any`) are copied unchanged.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.chunking import split_sentences  # noqa: E402  (the splitter the index uses)

SOURCE = ROOT.parent / "shared" / "squad"
NAME = "computational-complexity"


def paragraphs(article: str) -> list[str]:
    return [p.strip() for p in article.split("\n\n") if p.strip() and not p.lstrip().startswith("#")]


def questions_by_paragraph(items: list[dict]) -> list[list[dict]]:
    groups: list[list[dict]] = [[]]
    for item in items:
        if groups[-1] and not groups[-1][-1]["answerable"] and item["answerable"]:
            groups.append([])
        groups[-1].append(item)
    return groups


def support_sentences(paragraph: str, spans: list[str]) -> list[str]:
    sentences = [paragraph[s.start:s.end] for s in split_sentences(paragraph)]
    holding = [s for s in sentences if any(span in s for span in spans)]
    if not holding:
        raise SystemExit(f"No sentence of its paragraph holds any of {spans!r} whole.")
    return holding


def main() -> None:
    items = [json.loads(line) for line in (SOURCE / f"{NAME}.jsonl").read_text(encoding="utf-8").splitlines() if line]
    article = paragraphs((SOURCE / f"{NAME}.md").read_text(encoding="utf-8"))
    groups = questions_by_paragraph(items)
    if len(groups) != len(article):
        raise SystemExit(f"{len(groups)} lists of questions for {len(article)} paragraphs: the order is not SQuAD's.")
    out = []
    for number, (group, paragraph) in enumerate(zip(groups, article), start=1):
        for item in group:
            if item["answerable"]:
                if not any(span in paragraph for span in item["expect_any"]):
                    raise SystemExit(f"{item['id']}: no gold span occurs in paragraph {number}.")
                item = {**item, "support": support_sentences(paragraph, item["expect_any"])}
            out.append(item)
    target = ROOT / "eval" / "sets" / f"{NAME}.jsonl"
    target.write_text("".join(json.dumps(item, ensure_ascii=False) + "\n" for item in out), encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}: {len(out)} questions, {sum(i['answerable'] for i in out)} with support sentences")


if __name__ == "__main__":
    main()
