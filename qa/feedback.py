"""Thumbs-down feedback -> one line in the eval set's schema.

An answer a person marks as wrong is the most useful eval item there is, so each one is kept
as an eval line with `expect_any`, `support` and `answerable` left for a person to fill in;
once filled, the line can be pasted into eval/sets/battery.jsonl as it is.

Lines are only ever appended (under a file lock, in a single write), never rewritten, so two
users clicking at once, or a crash mid-write, cannot lose earlier feedback.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from qa.errors import QAError

LOCK_TIMEOUT_S = 10.0  # a single append takes microseconds; waiting longer means something is stuck


def feedback_item(answer: Mapping[str, Any], history: Sequence[str], now: datetime | None = None) -> dict[str, Any]:
    """An eval-set item for a disliked answer. `answer` is `Answer.to_dict()`."""
    now = now or datetime.now(timezone.utc)
    return {
        "id": f"feedback-{now:%Y%m%dT%H%M%S%fZ}",
        "category": "feedback",
        "question": answer["question"],
        "history": [str(turn) for turn in history],
        "answerable": None,  # a person decides: should the article answer this?
        "expect_any": [],
        "support": [],
        "answer": answer["answer"],
        "citations": list(answer.get("citations", [])),
        "abstained": bool(answer["abstained"]),
        "created": now.isoformat(timespec="seconds"),
    }


def append_feedback(path: Path, item: Mapping[str, Any]) -> Path:
    """Append one JSON line to `path`, creating its folder. Raises QAError when it cannot."""
    from filelock import FileLock, Timeout

    line = (json.dumps(item, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
    except Timeout:
        raise QAError(f"Could not save feedback: {path}.lock is held by another process. Try again.") from None
    except OSError as exc:
        raise QAError(f"Could not save feedback to {path}: {exc.strerror or exc}. Check QA_FEEDBACK_PATH.") from None
    return path


def record_dislike(path: Path, answer: Mapping[str, Any], history: Sequence[str]) -> dict[str, Any]:
    """Write the eval item for a disliked answer and return it."""
    item = feedback_item(answer, history)
    append_feedback(path, item)
    return item
