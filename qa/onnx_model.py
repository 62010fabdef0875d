"""Questions -> normalised float32 vectors with ONNX Runtime and `tokenizers` only, from the
model that the index build exported and checked (qa/onnx_export.py).

Why: importing torch and sentence-transformers takes 6-13 s on this machine, longer than the
whole answer. The exported graph holds the transformer, the mean pooling and the L2
normalisation, so a query needs nothing but this module, onnxruntime (about 0.1 s to import)
and the tokenizer. This module never imports torch.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from qa.embedding import tokenizable
from qa.errors import QueryModelUnavailable

if TYPE_CHECKING:
    import onnxruntime

    from qa.embedding import Embedder

# The graph's inputs, fed from the matching field of a `tokenizers` Encoding.
ENCODING_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


class OnnxEncoder:
    """The exported model and its tokenizer, with the interface of `qa.embedding.Embedder`.

    `spec` is the `onnx` entry of the index manifest: it names the source model, the
    vector size, the token limit and how the tokenizer was configured at export time."""

    def __init__(self, model: bytes | Path, tokenizer_json: str, spec: dict[str, Any], threads: int,
                 batch_size: int = 64, weights: bytes | None = None) -> None:
        """`model`: the graph file's path (its weights file beside it) or its bytes, with the
        weights file's bytes in `weights`."""
        try:
            self.name = str(spec["source_model"])
            self.path = Path(spec["source_path"])
            self.dim = int(spec["dim"])
            self.max_tokens = int(spec["max_tokens"])
            self.lowercase = bool(spec.get("lowercase", False))
            self.pad_id = int(spec.get("pad_id", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise QueryModelUnavailable(f"the manifest's onnx entry is incomplete ({exc})") from None
        self.int8 = bool(spec.get("int8", False))
        self.batch_size = batch_size
        self.session = _session(model, threads, spec.get("weights"), weights)
        # Runs that can go side by side: one per `threads` cores. A question with a name the
        # corpus lacks is two runs (the name is embedded too); on an idle second core the name
        # costs no waiting.
        self.lanes = max(1, (os.cpu_count() or 1) // max(1, threads))
        self.inputs = [i.name for i in self.session.get_inputs()]
        unknown = [name for name in self.inputs if name not in ENCODING_FIELDS]
        if unknown:
            raise QueryModelUnavailable(f"the ONNX model wants inputs the tokenizer does not make: {unknown}")
        out_dim = self.session.get_outputs()[0].shape[-1]
        if isinstance(out_dim, int) and out_dim != self.dim:
            raise QueryModelUnavailable(f"the ONNX model makes {out_dim}-d vectors, the index holds {self.dim}-d")
        # This tokenizer cuts at the model's limit, as sentence-transformers does before encoding;
        # `_counter` (made on first use: questions never need it) counts every word piece.
        self._tokenizer_json = tokenizer_json
        self._tokenizer = _tokenizer(tokenizer_json, self.max_tokens)
        # The torch model this export came from, not loaded until used: the engine keeps it
        # here so that a rebuild in the same process reuses a loaded model.
        self.torch_embedder: Embedder | None = None

    @classmethod
    def from_files(cls, files: Mapping[str, bytes], spec: dict[str, Any], threads: int,
                   batch_size: int = 64) -> "OnnxEncoder":
        """The encoder of a build held only in memory (its folder could not be written)."""
        try:
            weights = files[spec["weights"]] if spec.get("weights") else None
            return cls(files[spec["file"]], files[spec["tokenizer"]].decode("utf-8"), spec, threads, batch_size,
                       weights)
        except (KeyError, TypeError, UnicodeDecodeError) as exc:
            raise QueryModelUnavailable(f"the build holds no ONNX model files ({exc})") from None

    @classmethod
    def from_build(cls, build_dir: Path, spec: dict[str, Any], threads: int, batch_size: int = 64) -> "OnnxEncoder":
        """The encoder stored in a build folder (whose checksums the index load has verified)."""
        try:
            tokenizer_json = (build_dir / spec["tokenizer"]).read_text(encoding="utf-8")
            model = build_dir / spec["file"]
        except (KeyError, TypeError) as exc:
            raise QueryModelUnavailable(f"the manifest's onnx entry is incomplete ({exc})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise QueryModelUnavailable(f"cannot read the tokenizer ({exc})") from None
        return cls(model, tokenizer_json, spec, threads, batch_size)

    @cached_property
    def _counter(self):  # type: ignore[no-untyped-def]
        return _tokenizer(self._tokenizer_json, None)

    def count_tokens(self, text: str) -> int:
        """Word pieces the model reads for `text`, special tokens included."""
        return len(self._counter.encode(self._prepare(text)).ids)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 rows, one per text, so inner product is cosine similarity.
        Texts are tokenized once, sorted by length and cut into runs by `runs`, so that a
        question is not padded to nor run beside a much longer text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch([self._prepare(t) for t in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        jobs = [order[start:end] for start, end in runs([len(encodings[i].ids) for i in order], self.batch_size, self.lanes)]
        if len(jobs) > 1 and self.lanes > 1:  # ONNX Runtime releases the GIL while it runs
            # The first run goes in this thread, beside the pool's: with every run handed to the
            # pool, a question and the name it holds took as long as the two one after the other.
            later = [self._pool.submit(self._run, [encodings[i] for i in rows]) for rows in jobs[1:]]
            first = self._run([encodings[i] for i in jobs[0]])
            results = [first, *(job.result() for job in later)]
        else:
            results = (self._run([encodings[i] for i in rows]) for rows in jobs)
        for rows, vectors in zip(jobs, results):
            out[rows] = vectors
        return out

    @cached_property
    def _pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.lanes, thread_name_prefix="qa-onnx")

    def _prepare(self, text: str) -> str:
        text = tokenizable(text)
        return text.lower() if self.lowercase else text

    def _run(self, encodings: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        feeds = {}
        for name in self.inputs:
            fill = self.pad_id if name == "input_ids" else 0
            array = np.full((len(encodings), width), fill, dtype=np.int64)
            for row, encoding in enumerate(encodings):
                values = getattr(encoding, ENCODING_FIELDS[name])
                array[row, :len(values)] = values
            feeds[name] = array
        vectors = self.session.run(None, feeds)[0]
        return np.asarray(vectors, dtype=np.float32)


# One ONNX Runtime call costs about as much as this many more padded word pieces in a call
# (on this machine, one thread: 2.0 ms for a 3-piece name alone, 4.3 ms for a 21-piece question
# alone, 7.5 ms for the two in one call padded to 21, so about 1.7 ms + 0.12 ms a piece).
RUN_COST_PIECES = 14


def runs(lengths: Sequence[int], max_rows: int, lanes: int = 1) -> list[tuple[int, int]]:
    """Cut texts sorted by length (word pieces, ascending) into consecutive runs of at most
    `max_rows`, each padded to its longest, so that their cost, RUN_COST_PIECES a run plus
    rows x width, is least: a short name beside a long question goes in a run of its own,
    texts of about one length share one. Exact, by dynamic programming over the cut points.
    With no more texts than `lanes` (runs that go side by side), each text is a run: the wait
    is then the longest text's alone (a question and the name it holds)."""
    n = len(lengths)
    if 1 < n <= lanes:
        return [(i, i + 1) for i in range(n)]
    best = [0.0] + [float("inf")] * n  # best[j]: least cost of the first j texts
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        width = lengths[j - 1]
        for i in range(max(0, j - max_rows), j):
            cost = best[i] + RUN_COST_PIECES + (j - i) * width
            if cost < best[j]:
                best[j], cut[j] = cost, i
    bounds = []
    j = n
    while j > 0:
        bounds.append((cut[j], j))
        j = cut[j]
    return bounds[::-1]


def _session(model: bytes | Path, threads: int, weights_name: str | None,
             weights: bytes | None) -> "onnxruntime.InferenceSession":
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: its warnings are about graph fusions, not about us
    # Spinning worker threads steal the core another process needs; on 2 shared cores that made
    # torch 20x slower (eval/bench.md), so ONNX Runtime's threads sleep when idle.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = str(model) if isinstance(model, Path) else model
    try:
        if weights_name and weights is not None:  # a graph held in memory: its weights are too
            options.add_external_initializers_from_files_in_memory([weights_name], [weights], [len(weights)])
        return onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's errors derive from Exception alone (Fail, InvalidGraph, ...)
        raise QueryModelUnavailable(f"ONNX Runtime cannot load the model ({type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def _tokenizer(tokenizer_json: str, max_tokens: int | None):  # type: ignore[no-untyped-def]
    """A `tokenizers` Tokenizer that cuts at `max_tokens` (None: never) and never pads: the
    tokenizer.json of a sentence-transformers model often carries other defaults (128, fixed)."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_str(tokenizer_json)
    except Exception as exc:  # tokenizers raises plain Exception for a malformed file
        raise QueryModelUnavailable(f"cannot read the tokenizer ({exc})") from None
    tokenizer.no_padding()
    if max_tokens is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=max_tokens)
    return tokenizer
