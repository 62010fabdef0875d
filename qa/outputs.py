"""Files the commands write (a trained model, eval and bench results): checked before the
work that fills them, so a bad path costs seconds rather than a minute of training or half an
hour of benchmarks, and written beside the target and moved over it, so a failed write
leaves the old file whole."""

from __future__ import annotations

import os
from pathlib import Path

from qa.errors import OutputError


def check_writable(path: Path, option: str) -> None:
    """Raise OutputError, naming the command-line `option` to change, unless a file can be
    written at `path` (its folder is made if missing)."""
    if path.is_dir():
        raise OutputError(f"{path} is a folder. Give {option} a file, such as {path / 'out.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"Cannot create the folder {path.parent} ({exc.strerror or exc}). "
                          f"Pick another path with {option}.") from None
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"Cannot write {path}: permission denied. Pick another path with {option}.")


def write_text(path: Path, text: str, option: str) -> Path:
    """`text` written to `path` whole or not at all."""
    check_writable(path, option)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        if partial.is_file():
            partial.unlink()
        raise OutputError(f"Cannot write {path} ({exc.strerror or exc}). Pick another path with {option}.") from None
    return path
