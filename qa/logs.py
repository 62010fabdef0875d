"""Logging set-up shared by the `qa` command and the chat server: one format, and our notices
(index builds and rebuilds) always shown, while the libraries' own chatter stays quiet."""

from __future__ import annotations

import logging
import sys

# Libraries that log at INFO on every run (faiss names its CPU features, bm25s its progress,
# httpx every request Gradio makes): worth seeing only when asked for with --verbose.
NOISY = ("faiss", "faiss.loader", "sentence_transformers", "bm25s", "httpx")


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="qa: %(message)s", stream=sys.stderr)
    logging.getLogger("qa").setLevel(logging.INFO)  # build and rebuild notices always show
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)
    # pdfminer warns about harmless quirks of many PDFs; an unreadable PDF is reported by qa itself.
    logging.getLogger("pdfminer").setLevel(logging.INFO if verbose else logging.ERROR)
