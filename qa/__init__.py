"""Grounded question answering over an article: answers quoted from the article, each with a
citation that can be checked, or a plain statement that the article does not say."""

from qa.engine import Engine, get_engine
from qa.errors import QAError
from qa.settings import Settings
from qa.types import Answer, Chunk, Citation, Passage

__all__ = ["Answer", "Chunk", "Citation", "Engine", "Passage", "QAError", "Settings", "get_engine"]
