"""Check that `qa train` gives the committed model even when every vector moves a little, as it
does on another CPU:  .venv/bin/python scripts/train_under_noise.py [SCALE] [SEED]

Each vector the model makes, the corpus's at index build and the questions' at training, gets
Gaussian noise of SCALE (default 1e-6) per dimension and is made unit length again. The indexes
are built afresh in a temporary folder (nothing under index/ is touched), the model is trained
as `qa train` trains it, and its weights and thresholds are compared with qa/answer_model.json.
Floats from another CPU differ by about 1e-7; before copies of a recurring text shared one
vector, noise of 1e-7 moved the threshold by up to 0.008 (README, "Everything is chosen on
tune data"). Exits 1 when a weight moves by more than TOLERANCE or a threshold at all.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# A weight moves continuously with its inputs, by about as much as the noise; what must not
# happen is a jump: a tied candidate reordered, a threshold in another gap.
TOLERANCE = 1e-4


def noisy(encode: Callable[..., np.ndarray], rng: np.random.Generator, scale: float) -> Callable[..., np.ndarray]:
    def encode_with_noise(self: Any, texts: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        vectors = encode(self, texts, *args, **kwargs)
        vectors = vectors + rng.normal(0.0, scale, vectors.shape)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return encode_with_noise


def differences(fresh: dict[str, Any], committed: dict[str, Any]) -> list[str]:
    found = []
    for part in ("sentence", "answerability"):
        for key in ("coef", "mean", "scale"):
            gap = float(np.max(np.abs(np.asarray(fresh[part][key]) - np.asarray(committed[part][key]))))
            if gap > TOLERANCE:
                found.append(f"{part} {key}: up to {gap:.6f} apart")
    for key in ("abstain_threshold", "extra_threshold", "decline_unknown_names", "decline_kind_absent"):
        if fresh[key] != committed[key]:
            found.append(f"{key}: {fresh[key]} against {committed[key]}")
    return found


def main(scale: float, seed: int) -> int:
    from qa import embedding, onnx_model
    from qa.cli import main as qa_main

    rng = np.random.default_rng(seed)
    embedding.Embedder.encode = noisy(embedding.Embedder.encode, rng, scale)  # type: ignore[method-assign]
    onnx_model.OnnxEncoder.encode = noisy(onnx_model.OnnxEncoder.encode, rng, scale)  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="qa-noise-") as folder:
        os.environ["QA_INDEX_DIR"] = str(Path(folder) / "index")
        out = Path(folder) / "model.json"
        if qa_main(["train", "--out", str(out)]) != 0:
            return 2
        fresh = json.loads(out.read_text(encoding="utf-8"))
    committed = json.loads((ROOT / "qa" / "answer_model.json").read_text(encoding="utf-8"))
    found = differences(fresh, committed)
    print(f"noise {scale:g} per dimension, seed {seed}: " +
          (f"the committed model, weights within {TOLERANCE:g}" if not found else "; ".join(found)))
    return 1 if found else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(float(args[0]) if args else 1e-6, int(args[1]) if len(args) > 1 else 1))
