"""Eval sets: JSON Lines of labelled questions, each set naming the corpus it asks about, split
into tune and test by a stable hash of each item's id.

A set is `NAME.jsonl` with an optional sidecar `NAME.json` that names its corpus, a folder or
one document (relative to the project root) and records the source and licence of the data; a sidecar may
also hold the set out of training altogether (`"held_out": true`). A set whose sidecar names
no corpus asks about the document beside it with its name (`NAME.md`, `NAME.txt`, ...), if
there is one, else about the corpus in force (`QA_CORPUS_DIR`). Every line is checked before
any model work, so a typo costs a message naming the line, not a traceback halfway through a
run; and a set whose expected answers its corpus never says is refused
(`check_answers_in`): it would score 0 without saying why.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from qa.corpus import SUFFIXES, corpus_files
from qa.errors import EvalSetError
from qa.settings import PROJECT_ROOT, Settings

SETS_DIR = PROJECT_ROOT / "eval" / "sets"
SPLITS = ("tune", "test", "all")
# The id prefix names the category when an item has no `category` field.
PREFIX_CATEGORIES = {"faq": "faq", "para": "paraphrase", "fact": "fact", "follow": "followup",
                     "unans": "unanswerable"}
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


@dataclass(frozen=True)
class EvalSet:
    name: str
    path: Path
    corpus_dir: Path | None  # a corpus folder or one document; None: the corpus in force
    items: tuple[dict[str, Any], ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def held_out(self) -> bool:
        """Kept out of training (the sidecar's `"held_out": true`): every item is a test item,
        so the set measures the shipped model on an article nothing was chosen on."""
        return self.meta.get("held_out") is True

    def split(self, which: str) -> list[dict[str, Any]]:
        """The items of one split ("tune", "test") or all of them."""
        if which not in SPLITS:
            raise EvalSetError(f"split must be one of {', '.join(SPLITS)}, got {which!r}.")
        if self.held_out:
            return [] if which == "tune" else list(self.items)
        return [item for item in self.items if which == "all" or split_of(item["id"]) == which]

    def settings_for(self, base: Settings) -> Settings:
        """Settings that answer this set from its own corpus, with an index cached under
        `index/corpora/<corpus hash>` so that each corpus is built once."""
        corpus = self.corpus_dir or base.corpus_dir
        return base.with_(corpus_dir=corpus, index_dir=base.index_dir / "corpora" / corpus_digest(corpus)[:16])


def split_of(item_id: str) -> str:
    """"tune" or "test", by a stable hash of the id: the same on every machine and run, and an
    item keeps its split when others are added."""
    return "test" if int(hashlib.sha256(item_id.encode("utf-8")).hexdigest()[:8], 16) % 2 else "tune"


def corpus_digest(corpus_dir: Path) -> str:
    """SHA-256 over the names and bytes of the corpus files: any edit names another index."""
    digest = hashlib.sha256()
    for path in corpus_files(corpus_dir):
        digest.update(path.name.encode("utf-8") + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def shipped_sets() -> list[Path]:
    return sorted(SETS_DIR.glob("*.jsonl"))


def load_sets(paths: Iterable[Path | str] | None = None) -> list[EvalSet]:
    """The given sets, or every set shipped in eval/sets/. A file given twice counts once (it
    would weigh double in training, and be reported twice); two files of one name are refused,
    as reports and models name sets by their file name."""
    unique = list(dict.fromkeys(Path(p).resolve() for p in (paths if paths is not None else shipped_sets())))
    sets = [load_eval_set(p) for p in unique]
    names: dict[str, Path] = {}
    for eval_set in sets:
        if eval_set.name in names:
            raise EvalSetError(f"Two sets are named {eval_set.name!r} ({names[eval_set.name]} and {eval_set.path}); "
                               "reports and models name sets by file name. Rename one.")
        names[eval_set.name] = eval_set.path
    return sets


def load_eval_set(path: Path | str) -> EvalSet:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # a byte-order mark (Windows editors) is not JSON
    except FileNotFoundError:
        raise EvalSetError(f"No eval set at {path}. Pass an existing .jsonl file with --set.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalSetError(f"Cannot read the eval set {path}: {exc}") from None
    items: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item = _parse_line(line, path, number)
        if item["id"] in seen:
            raise EvalSetError(f"{path}, line {number}: id {item['id']!r} already used on line {seen[item['id']]}.")
        seen[item["id"]] = number
        items.append(item)
    if not items:
        raise EvalSetError(f"The eval set {path} has no items.")
    meta = _read_sidecar(path)
    corpus = meta.get("corpus")
    corpus_dir = _article_beside(path) if corpus is None else _resolve(str(corpus), path)
    return EvalSet(name=str(meta.get("name") or path.stem), path=path, corpus_dir=corpus_dir, items=tuple(items),
                   meta=meta)


def _read_sidecar(path: Path) -> dict[str, Any]:
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvalSetError(f"Cannot read {sidecar}, the description of {path.name}: {exc}") from None
    if not isinstance(meta, dict) or ("corpus" in meta and not isinstance(meta["corpus"], str)):
        raise EvalSetError(f"{sidecar} must be a JSON object whose \"corpus\" is a folder or document path.")
    if "held_out" in meta and not isinstance(meta["held_out"], bool):
        raise EvalSetError(f"{sidecar}: \"held_out\" must be true or false.")
    return meta


def _article_beside(set_path: Path) -> Path | None:
    """The document named like the set (`NAME.md` beside `NAME.jsonl`), or None."""
    return next((p for p in (set_path.with_suffix(s) for s in SUFFIXES) if p.is_file()), None)


def check_answers_in(eval_set: EvalSet, corpus_texts: Iterable[str], corpus: Path,
                     say: Callable[[str], None]) -> None:
    """Refuse a set most of whose expected answers its corpus never says: it asks about another
    article, and would score near 0 without saying why (an answer quotes the corpus, so an
    expected string the corpus lacks is never found in one). Say how many it lacks otherwise."""
    answerable = [item for item in eval_set.items if item["answerable"] and item.get("expect_any")]
    if not answerable:
        return
    text = fold(" ".join(corpus_texts))
    lacking = [item["id"] for item in answerable if not any(fold(n) in text for n in item["expect_any"])]
    if 2 * len(lacking) > len(answerable):
        raise EvalSetError(
            f"{len(lacking)} of the {len(answerable)} answerable questions of {eval_set.path.name} expect an answer "
            f"the corpus {corpus} never says: the set asks about another article. Put that article beside the set as "
            f"{eval_set.path.with_suffix(SUFFIXES[0]).name} (or {', '.join(SUFFIXES[1:])}), name its folder in a sidecar "
            f"{eval_set.path.with_suffix('.json').name} ({{\"corpus\": \"folder\"}}), or set QA_CORPUS_DIR.")
    if lacking:
        say(f"{eval_set.name}: {len(lacking)} of {len(answerable)} answerable questions expect an answer the corpus "
            f"never says (first: {lacking[0]}); they cannot count as answered right.")


def _resolve(corpus: str, set_path: Path) -> Path:
    """A corpus folder or document relative to the set's own folder, or else to the project root.
    A set about one article names the article, not its folder: the folder takes in what is
    uploaded from the page (corpus/uploads/), which would change the set's answers."""
    candidate = Path(corpus).expanduser()
    if candidate.is_absolute():
        return candidate
    for base in (set_path.resolve().parent, PROJECT_ROOT):
        if (base / candidate).exists():
            return base / candidate
    raise EvalSetError(f"The corpus {corpus!r} named by {set_path.with_suffix('.json')} does not exist.")


def _parse_line(line: str, path: Path, number: int) -> dict[str, Any]:
    where = f"{path}, line {number}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EvalSetError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno}).") from None
    if not isinstance(item, dict):
        raise EvalSetError(f"{where}: expected a JSON object, got {type(item).__name__}.")
    problem = _schema_problem(item)
    if problem:
        raise EvalSetError(f"{where}: {problem}.")
    for name in ("history", "expect_any", "support"):
        item.setdefault(name, [])
    item["category"] = category_of(item)
    return item


def _schema_problem(item: dict[str, Any]) -> str:
    for name in ("id", "question"):
        if not isinstance(item.get(name), str) or not item[name].strip():
            return f"{name!r} must be a non-empty string"
    if not isinstance(item.get("answerable"), bool):
        return "'answerable' must be true or false"
    for name in ("history", "expect_any", "support"):
        value = item.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            return f"{name!r} must be a list of non-empty strings"
    if "category" in item and not isinstance(item["category"], str):
        return "'category' must be a string"
    has_labels = bool(item.get("expect_any")) and bool(item.get("support"))
    if item["answerable"] and not has_labels:
        return "an answerable item needs non-empty 'expect_any' and 'support'"
    if not item["answerable"] and (item.get("expect_any") or item.get("support")):
        return "an unanswerable item must have empty 'expect_any' and 'support'"
    return ""


def category_of(item: dict[str, Any]) -> str:
    if item.get("category"):
        return str(item["category"])
    prefix = str(item["id"]).split("-", 1)[0].lower()
    return PREFIX_CATEGORIES.get(prefix, prefix)


def fold(text: str) -> str:
    """The matching form of labels: they are written by hand with straight quotes and any
    spacing, while articles use curly quotes; neither difference should count as a miss."""
    return " ".join(text.translate(_QUOTES).lower().split())


def contains_any(text: str, needles: Iterable[str]) -> bool:
    haystack = fold(text)
    return any(fold(n) in haystack for n in needles)
