"""Shared fixtures. The real model, the real FAISS index, the real article: built once per
test run into a temporary folder, so tests never touch the project's own index/."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.engine import Engine  # noqa: E402
from qa.settings import PROJECT_ROOT, Settings  # noqa: E402

CORPUS = PROJECT_ROOT / "corpus"
ARTICLE = CORPUS / "battery-race.md"
# A small article written for the tests (tests/data/README.md): engine tests specify behaviour
# on it, so they never copy eval items.
TEST_CORPUS = PROJECT_ROOT / "tests" / "data" / "eldermere"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's QA_* variables or writes their feedback file."""
    for name in list(os.environ):
        if name.startswith("QA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("QA_FEEDBACK_PATH", str(tmp_path / "feedback.jsonl"))


@pytest.fixture(scope="session")
def shared_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("index")


@pytest.fixture(scope="session")
def settings(shared_index_dir: Path) -> Settings:
    return Settings(corpus_dir=CORPUS, index_dir=shared_index_dir)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Engine:
    """The real engine over the real article, built once for the whole run."""
    return Engine.load(settings)


@pytest.fixture(scope="session")
def town(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Engine:
    """The real engine over the test article, sharing the session engine's model."""
    return Engine.load(Settings(corpus_dir=TEST_CORPUS, index_dir=tmp_path_factory.mktemp("town-index")),
                       embedder=engine.embedder)


@pytest.fixture()
def corpus_copy(tmp_path: Path) -> Path:
    """A private copy of the corpus that a test may change."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def load_tool() -> ModuleType:
    """eval/load.py, the load script (it starts and stops the real app), imported as a module."""
    spec = importlib.util.spec_from_file_location("qa_eval_load", PROJECT_ROOT / "eval" / "load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
