"""Questions from many users, embedded together: a worker thread takes every question waiting
at that moment, embeds them in one encode (`Engine.ask_many`), then retrieves and answers each
on its own, so each answer is the one `Engine.ask` gives alone.

Why: the question's embedding is most of an answer's cost (about 5 ms of 8 here), and ONNX
Runtime embeds a batch of 8 to 16 short questions for about two thirds of that each. Two
workers by default: ONNX Runtime releases the GIL, so one batch is encoded while the other
worker answers its batch in Python; more would only queue for the GIL on two cores.

A lone question goes at once. Only when others are already waiting does a batch wait up to
`batch_window_ms` for more to join, up to `batch_max_size` (1: no batching). At most
`queue_size` questions wait; the next one is refused with `Overloaded` rather than queued.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from qa.engine import Question
from qa.errors import Overloaded, QAError

if TYPE_CHECKING:
    from qa.engine import Engine
    from qa.types import Answer


@dataclass
class BatchStats:
    """What the worker has done, for /v1/health and the load report."""
    batches: int = 0
    questions: int = 0
    largest: int = 0
    refused_busy: int = 0

    def to_dict(self) -> dict[str, Any]:
        mean = self.questions / self.batches if self.batches else None
        return {"batches": self.batches, "questions": self.questions, "largest": self.largest,
                "mean_size": None if mean is None else round(mean, 2), "refused_busy": self.refused_busy}


@dataclass
class _Job:
    question: Question
    future: Future = field(default_factory=Future)


class Batcher:
    """The server's queue of questions and the worker threads that answer them."""

    def __init__(self, engine: "Engine", max_size: int, window_ms: float, queue_size: int, workers: int = 1) -> None:
        if max_size < 1 or queue_size < 1 or window_ms < 0 or workers < 1:
            raise ValueError(f"batcher needs max_size >= 1, queue_size >= 1, window_ms >= 0, workers >= 1; "
                             f"got {max_size}, {queue_size}, {window_ms}, {workers}")
        self.engine = engine
        self.max_size, self.window_s, self.queue_size = max_size, window_ms / 1000, queue_size
        self.stats = BatchStats()
        self._waiting: deque[_Job] = deque()
        self._changed = threading.Condition()
        self._closed = False
        self._workers = [threading.Thread(target=self._run, name=f"qa-batcher-{i}", daemon=True)
                         for i in range(workers)]
        for worker in self._workers:
            worker.start()

    @classmethod
    def for_engine(cls, engine: "Engine") -> "Batcher":
        """A batcher with the engine's settings (QA_BATCH_MAX_SIZE, QA_BATCH_WINDOW_MS, QA_QUEUE_SIZE)."""
        s = engine.settings
        return cls(engine, s.batch_max_size, s.batch_window_ms, s.queue_size, s.batch_workers)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def submit(self, question: str, history: Sequence[str] = (), k: int | None = None,
               sources: Sequence[str] | None = None) -> "Future[Answer]":
        """Queue a question; the future holds its Answer, or the QuestionInvalid it raised.
        Raises Overloaded at once when `queue_size` questions are already waiting."""
        job = _Job(Question(question, history if isinstance(history, str) else tuple(history or ()), k,
                            tuple(sources) if sources else None))
        with self._changed:
            if self._closed:
                raise Overloaded("The server is shutting down. Try again in a moment.")
            if len(self._waiting) >= self.queue_size:
                self.stats.refused_busy += 1
                raise Overloaded(f"The server is busy: {len(self._waiting)} questions are waiting. "
                                 "Try again in a moment.")
            self._waiting.append(job)
            self._changed.notify()
        return job.future

    def ask(self, question: str, history: Sequence[str] = (), k: int | None = None,
            sources: Sequence[str] | None = None) -> "Answer":
        """`Engine.ask`, through the queue: blocks until the answer is ready. Raises what
        `Engine.ask` raises, or Overloaded."""
        return self.submit(question, history, k, sources).result()

    def close(self) -> None:
        """Stop the worker after the batch in hand; questions still waiting are refused."""
        with self._changed:
            self._closed = True
            left = list(self._waiting)
            self._waiting.clear()
            self._changed.notify_all()
        for job in left:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(Overloaded("The server is shutting down. Try again in a moment."))
        for worker in self._workers:
            worker.join(timeout=30)

    def _next_batch(self) -> list[_Job] | None:
        """The questions to answer together (None once closed): the first waiting one, with every
        other one waiting now; and, when there were others, those arriving within the window."""
        with self._changed:
            while not self._waiting and not self._closed:
                self._changed.wait()
            if self._closed:
                return None
            batch = [self._waiting.popleft()]
            crowded = bool(self._waiting)  # a lone question goes at once
            deadline = time.monotonic() + self.window_s
            while len(batch) < self.max_size:
                if self._waiting:
                    batch.append(self._waiting.popleft())
                    continue
                remaining = deadline - time.monotonic()
                if not crowded or remaining <= 0:
                    break
                self._changed.wait(remaining)
                if self._closed:
                    break
            # A client that went away before its turn (its future cancelled) costs nothing.
            batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
            if batch:
                self.stats.batches += 1
                self.stats.questions += len(batch)
                self.stats.largest = max(self.stats.largest, len(batch))
        return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            if not batch:
                continue
            try:
                results = self.engine.ask_many([job.question for job in batch])
            except Exception as exc:  # noqa: BLE001 - a bug: every question of the batch gets it, the worker lives on
                for job in batch:
                    job.future.set_exception(exc)
                continue
            for job, result in zip(batch, results):
                if isinstance(result, QAError):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)
