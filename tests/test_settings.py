"""Settings read from the environment, as a user sets them: a bad value is refused with a
message that names the variable to change and how."""

from __future__ import annotations

import pytest

from qa.errors import SettingsError
from qa.settings import Settings


def test_settings_read_their_environment_variables() -> None:
    s = Settings.from_env({"QA_TOP_K": "7", "QA_RESOLVE_FOLLOWUPS": "off", "QA_ABSTAIN_THRESHOLD": "0.4",
                           "QA_INDEX_DIR": "/tmp/somewhere", "QA_RETRIEVER": "bm25", "QA_TOP_P": "ignored"})
    assert (s.top_k, s.resolve_followups, s.abstain_threshold, s.retriever) == (7, False, 0.4, "bm25")
    assert str(s.index_dir) == "/tmp/somewhere"
    assert Settings.from_env({"QA_TOP_K": "  "}).top_k == Settings().top_k  # blank means unset


@pytest.mark.parametrize(("name", "value", "says"), [
    ("QA_TOP_K", "four", "QA_TOP_K='four' is not a valid whole number; unset it or give a valid value"),
    ("QA_TOP_K", "0", "top_k must be at least 1, got 0; set QA_TOP_K to 1 or more"),
    ("QA_RESOLVE_FOLLOWUPS", "maybe", "QA_RESOLVE_FOLLOWUPS='maybe' is not a valid yes or no"),
    ("QA_PORT", "70000", "port must be between 0 and 65535, got 70000; set QA_PORT to 0-65535"),
    ("QA_WINDOW_OVERLAP", "3", "window_overlap must be between 0 and window_sentences - 1"),
    ("QA_RETRIEVER", "neural", "; set QA_RETRIEVER to one of them"),
    ("QA_ABSTAIN_THRESHOLD", "1.5", "; set QA_ABSTAIN_THRESHOLD to a number from 0 to 1"),
    ("QA_ABSTAIN_THRESHOLD", "abc", "QA_ABSTAIN_THRESHOLD='abc' is not a valid number;"),
    ("QA_ABSTAIN_THRESHOLD", "nan", "QA_ABSTAIN_THRESHOLD='nan' is not a valid number;"),
    ("QA_MILVUS_WAIT_SECONDS", "nan", "QA_MILVUS_WAIT_SECONDS='nan' is not a valid number;"),
    ("QA_BATCH_WINDOW_MS", "inf", "QA_BATCH_WINDOW_MS='inf' is not a valid number;"),
    ("QA_TOP_K", "4.5", "QA_TOP_K='4.5' is not a valid whole number;"),
    ("QA_ONNX", "maybe", "QA_ONNX='maybe' is not a valid yes or no (1, true, yes, on or 0, false, no, off)"),
    ("QA_MAX_DOCUMENT_BYTES", "-5", "; set QA_MAX_DOCUMENT_BYTES to 1 or more"),
])
def test_a_bad_value_names_its_variable_and_what_to_set(name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})
    assert says in str(raised.value)
    assert "|" not in str(raised.value) and "None" not in str(raised.value)  # no type names of ours


def test_fewer_window_sentences_than_the_default_overlap_says_to_lower_the_overlap() -> None:
    """QA_WINDOW_SENTENCES=1 alone leaves the default overlap of 2 too big: the message must name
    the variable the user did not set, and the value that fits."""
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"QA_WINDOW_SENTENCES": "1"})
    assert "set QA_WINDOW_OVERLAP to 0, or raise QA_WINDOW_SENTENCES" in str(raised.value)
    assert Settings.from_env({"QA_WINDOW_SENTENCES": "1", "QA_WINDOW_OVERLAP": "0"}).window_sentences == 1
    with pytest.raises(SettingsError, match="set QA_WINDOW_OVERLAP to 0-2, or raise"):
        Settings.from_env({"QA_WINDOW_SENTENCES": "3", "QA_WINDOW_OVERLAP": "3"})


@pytest.mark.parametrize(("name", "value", "field", "read"), [
    ("QA_RETRIEVER", "BM25", "retriever", "bm25"), ("QA_BACKEND", " FAISS ", "backend", "faiss")])
def test_a_choice_is_read_whatever_its_case(name: str, value: str, field: str, read: str) -> None:
    assert getattr(Settings.from_env({name: value}), field) == read
