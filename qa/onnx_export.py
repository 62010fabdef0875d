"""The loaded sentence-transformers model -> one ONNX graph (transformer + mean pooling + L2
normalisation) and its tokenizer, checked against the model's own vectors at index build.

Why our own export rather than sentence-transformers' `backend="onnx"`: that backend (and its
`export_optimized_onnx_model` / `export_dynamic_quantized_onnx_model`) needs `optimum`, which is
not installed, and it exports the transformer alone: pooling and normalisation stay torch
modules, so a query would still import torch, the 6-13 s we want gone. `torch.onnx.export` of
a small wrapper (the installed model's own transformer, then the pooling it is configured
with, then normalisation) puts the whole sentence embedding in one graph, from the weights on
disk, with nothing downloaded. The TorchScript exporter is used (`dynamo=False`): the dynamo
exporter needs `onnxscript` as well, and the traced graph is checked below either way.

Nothing here is trusted unchecked: the exported graph embeds every text of the index and each
vector must match the model's to cosine >= MIN_COSINE, or the build keeps the torch path.
"""

from __future__ import annotations

import io
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from qa.errors import QueryModelUnavailable
from qa.onnx_model import ENCODING_FIELDS, OnnxEncoder

if TYPE_CHECKING:
    from qa.embedding import Embedder

MODEL_FILE = "model.onnx"
INT8_MODEL_FILE = "model-int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
WEIGHTS_SUFFIX = ".data"  # the weights file beside each graph: model.onnx.data
# Same vectors, up to float rounding: ONNX Runtime's fused kernels sum in another order than
# torch, which moves a unit vector's cosine with the original by about 1e-7 (measured 0.9999996
# worst case over the article's 700 texts).
MIN_COSINE = 0.9999
# int8 weights move each vector; below this worst-case cosine the quantised model is not used
# (the fp32 export is kept). Per-channel int8 measured 0.99 worst over the article's sentences
# and 0.967 over its single words; per-tensor int8 only 0.95 and 0.82 (README, Benchmarks).
MIN_INT8_COSINE = 0.95
# Opset 17 is the first with LayerNormalization as one op, so each of the transformer's layer
# norms is exported whole rather than as a chain of elementwise ops; ONNX Runtime 1.20+ runs it.
OPSET = 17
POOLINGS = ("mean", "cls")


@dataclass(frozen=True)
class QueryModel:
    """What the build stores for query time: `files` go into the build folder as they are, and
    `spec` becomes the manifest's `onnx` entry (with `available: false` and a reason when the
    export failed or did not match)."""

    spec: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return bool(self.spec.get("available"))

    def summary(self) -> str:
        """The one line a build prints about the export."""
        s = self.spec
        if not self.available:
            return f"Questions will be embedded with torch: the ONNX export was not used ({s.get('reason')})"
        check = s["verified"]
        if "reused_from" not in check:
            done = f"Exported the model to ONNX ({s['file']})"
        elif check["checked_now"]:
            done = f"Kept the previous build's ONNX model ({s['file']}; checked on the {check['checked_now']} new texts)"
        else:  # nothing new was embedded: its earlier check stands
            done = f"Kept the previous build's ONNX model ({s['file']}; no new texts to check it on)"
        line = (f"{done}: its vectors matched the model's to cosine {check['min_cosine']:.7f} or more over "
                f"{check['texts']} texts")
        if s.get("int8"):
            line += f"; int8 weights: worst cosine {check['int8_min_cosine']:.4f}"
        elif "int8_rejected" in check:
            line += f"; int8 not used ({check['int8_rejected']})"
        return line


def export_query_model(embedder: "Embedder", texts: Sequence[str], vectors: np.ndarray, int8: bool,
                       threads: int) -> QueryModel:
    """Export `embedder`'s model and check it on `texts`, whose model `vectors` the build has
    just computed. Never raises for a model it cannot export: it says why in the spec."""
    started = time.perf_counter()
    try:
        query_model = _export(embedder, list(texts), vectors, int8, threads)
    except (_NotExportable, QueryModelUnavailable) as exc:
        query_model = QueryModel(spec={"available": False, "reason": str(exc)})
    return QueryModel(spec=dict(query_model.spec, seconds=round(time.perf_counter() - started, 3)),
                      files=query_model.files)


def recheck_query_model(spec: dict[str, Any], files: dict[str, bytes], embedder: "Embedder", texts: Sequence[str],
                        vectors: np.ndarray, threads: int, indexed: int, origin: str) -> QueryModel | None:
    """An earlier build's export (`spec` and `files`) of the same model files, kept for a new
    build once it matches the model on `texts`, the texts that build had not checked. None
    when it cannot be kept (other library versions, unloadable, or a vector off): the caller
    then exports afresh. `indexed`: how many texts the new build holds, all now checked."""
    started = time.perf_counter()
    if spec.get("versions") != _versions() or not isinstance(spec.get("verified"), dict):
        return None
    try:
        encoder = OnnxEncoder.from_files(files, spec, threads, embedder.batch_size)
    except QueryModelUnavailable:
        return None
    name, floor, digits = ("int8_min_cosine", MIN_INT8_COSINE, 5) if spec.get("int8") else ("min_cosine", MIN_COSINE, 7)
    try:
        before = float(spec["verified"].get(name, 1.0))
    except (TypeError, ValueError):  # a hand-edited manifest: check everything afresh
        return None
    worst = _worst_cosine(encoder, list(texts), vectors)
    if worst < floor:
        return None
    verified = dict(spec["verified"], texts=indexed, reused_from=origin, checked_now=len(texts))
    verified[name] = round(min(worst, before), digits)
    return QueryModel(spec=dict(spec, source_model=embedder.name, source_path=str(embedder.path), verified=verified,
                                seconds=round(time.perf_counter() - started, 3)), files=files)


class _NotExportable(Exception):
    """The model has a part our graph does not reproduce, or the exporter failed on it."""


def _export(embedder: "Embedder", texts: list[str], vectors: np.ndarray, int8: bool, threads: int) -> QueryModel:
    model = embedder.model
    pooling, tokenizer, transformer = _parts(model)
    base = {
        "available": True, "source_model": embedder.name, "source_path": str(embedder.path),
        "dim": int(vectors.shape[1]), "max_tokens": int(embedder.max_tokens), "pooling": pooling,
        "normalized": True, "lowercase": bool(getattr(model[0], "do_lower_case", False)),
        "pad_id": int(tokenizer.pad_token_id or 0), "tokenizer": TOKENIZER_FILE, "opset": OPSET,
        "exporter": "torch.onnx.export (TorchScript), wrapper: transformer + pooling + L2 normalisation",
        "versions": _versions(),
    }
    tokenizer_json = tokenizer.backend_tokenizer.to_str()
    names = [n for n in tokenizer.model_input_names if n in ENCODING_FIELDS]
    fp32 = _trace(transformer, pooling, tokenizer, names, texts[:2])
    tokenizer_file = {TOKENIZER_FILE: tokenizer_json.encode("utf-8")}
    spec, files = _stored(fp32, MODEL_FILE, dict(base, int8=False))
    worst = _worst_cosine(OnnxEncoder.from_files(files | tokenizer_file, spec, threads, embedder.batch_size),
                          texts, vectors)
    if worst < MIN_COSINE:
        raise _NotExportable(f"its vectors differ from the model's: worst cosine {worst:.6f} < {MIN_COSINE}")
    verified: dict[str, Any] = {"texts": len(texts), "min_cosine": round(worst, 7)}
    if int8:
        try:
            spec_int8, files_int8 = _stored(_quantise(fp32), INT8_MODEL_FILE, dict(base, int8=True))
            worst_int8 = _worst_cosine(OnnxEncoder.from_files(files_int8 | tokenizer_file, spec_int8, threads,
                                                              embedder.batch_size), texts, vectors)
        except (_NotExportable, QueryModelUnavailable) as exc:
            verified["int8_rejected"] = f"{exc}: fp32 kept"
        else:
            verified["int8_min_cosine"] = round(worst_int8, 5)
            if worst_int8 >= MIN_INT8_COSINE:
                spec, files = spec_int8, files_int8
            else:
                verified["int8_rejected"] = f"worst cosine {worst_int8:.4f} < {MIN_INT8_COSINE}: fp32 kept"
    return QueryModel(spec=dict(spec, verified=verified), files=files | tokenizer_file)


def _stored(model: bytes, name: str, spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The model as stored: the graph in `name`, its weights in `name`.data. ONNX Runtime maps a
    weights file instead of parsing and copying them out of one big file: a serving process
    peaked at 159 MB instead of 228 MB, and the session loads in 0.08 s instead of 0.22 s."""
    import onnx

    weights = name + WEIGHTS_SUFFIX
    with tempfile.TemporaryDirectory(prefix="qa-onnx-") as folder:
        try:
            onnx.save_model(onnx.load_from_string(model), str(Path(folder) / name), save_as_external_data=True,
                            all_tensors_to_one_file=True, location=weights, size_threshold=1024)
        except (ValueError, OSError) as exc:
            raise _NotExportable(f"cannot store the ONNX model: {exc}") from None
        files = {name: (Path(folder) / name).read_bytes(), weights: (Path(folder) / weights).read_bytes()}
    return dict(spec, file=name, weights=weights), files


def _parts(model: Any) -> tuple[str, Any, Any]:
    """(pooling mode, fast tokenizer, transformer) of a Transformer + Pooling [+ Normalize]
    model; anything else (a Dense layer, max pooling, a slow tokenizer) is not exported."""
    kinds = [type(module).__name__ for module in model]
    if len(kinds) < 2 or kinds[0] != "Transformer" or kinds[1] != "Pooling" or \
            any(kind != "Normalize" for kind in kinds[2:]):
        raise _NotExportable(f"modules {' + '.join(kinds)}; only Transformer + Pooling [+ Normalize] is exported")
    config = model[1].get_config_dict()
    mode = config.get("pooling_mode")  # sentence-transformers 6; 5 has one flag per mode
    if mode is None:
        modes = [k[len("pooling_mode_"):-len("_tokens")] if k.endswith("_tokens") else k[len("pooling_mode_"):]
                 for k, v in config.items() if k.startswith("pooling_mode_") and v is True]
        mode = modes[0] if len(modes) == 1 else modes
    if mode == "cls_token":
        mode = "cls"
    if mode not in POOLINGS:
        raise _NotExportable(f"pooling {mode!r}; only {' or '.join(POOLINGS)} is exported")
    tokenizer = model[0].tokenizer
    if not hasattr(tokenizer, "backend_tokenizer"):
        raise _NotExportable(f"{type(tokenizer).__name__} has no `tokenizers` form (tokenizer.json)")
    transformer = getattr(model[0], "auto_model", None) or getattr(model[0], "model", None)
    if transformer is None:
        raise _NotExportable("cannot find the transformer inside the model")
    return mode, tokenizer, transformer


def _trace(transformer: Any, pooling: str, tokenizer: Any, names: list[str], sample: list[str]) -> bytes:
    """The ONNX bytes of transformer + pooling + normalisation, with batch and length dynamic."""
    import torch

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            features = dict(zip(names, inputs))
            tokens = self.transformer(**features, return_dict=True).last_hidden_state
            if pooling == "cls":
                pooled = tokens[:, 0]
            else:  # mean over the real tokens, as sentence-transformers' Pooling does
                mask = features["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    batch = tokenizer(sample or ["a", "b"], padding=True, return_tensors="pt")
    args = tuple(batch[name] for name in names)
    axes: dict[str, dict[int, str]] = {name: {0: "batch", 1: "tokens"} for name in names}
    axes["sentence_embedding"] = {0: "batch"}
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            # The tracer warns about Python conditions on shapes inside the transformer; each is
            # constant for an unpadded-KV encoder, and the vector check below would catch one that is not.
            warnings.simplefilter("ignore")
            torch.onnx.export(SentenceEmbedding().eval(), args, buffer, dynamo=False, opset_version=OPSET,
                              input_names=names, output_names=["sentence_embedding"], dynamic_axes=axes)
    except (RuntimeError, TypeError, ValueError, ImportError) as exc:  # OnnxExporterError is a RuntimeError
        raise _NotExportable(f"torch.onnx.export failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    return buffer.getvalue()


def _quantise(model: bytes) -> bytes:
    """int8 weights (dynamic quantisation: activations are quantised per call, so nothing
    needs calibration data). One scale per output channel rather than per matrix: per matrix,
    a few large weights crush the rest, and single words came out at cosine 0.82."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="qa-int8-") as folder:
        target = Path(folder) / INT8_MODEL_FILE
        quiet = logging.getLogger()
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # it advises pre-processing on the root logger at every call
        try:
            quantize_dynamic(onnx.load_from_string(model), target, weight_type=QuantType.QInt8, per_channel=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise _NotExportable(f"int8 quantisation failed: {exc}") from None
        finally:
            quiet.setLevel(level)
        return target.read_bytes()


def _worst_cosine(encoder: OnnxEncoder, texts: list[str], vectors: np.ndarray) -> float:
    """The lowest cosine between the encoder's vector and the model's, over every text."""
    if not texts:
        return 1.0
    ours = encoder.encode(texts)
    return float(np.min(np.sum(ours * vectors, axis=1)))


def _versions() -> dict[str, str]:
    found = {}
    for name in ("torch", "onnx", "onnxruntime", "tokenizers"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "unknown"
    return found
