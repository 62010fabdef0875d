"""Documents from the page: the upload handler (when `--allow-uploads` is on), the middleware
that refuses Gradio's upload route when it is off, and the choice of documents to ask.

An upload is checked and stored by qa/uploads.py, then the index is rebuilt for the corpus,
re-embedding only the new document's texts (qa/build_cache.py), while the page shows each
step. The new engine then serves every question that arrives after it (`Batcher.engine`);
answers already under way finish on the old one.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from qa import Engine, QAError
from qa.batching import Batcher
from qa.ui_html import esc
from qa.uploads import remove_temporary, store

log = logging.getLogger(__name__)
ALL_DOCUMENTS = "All documents"
ACCEPTED = [".pdf", ".html", ".htm", ".docx", ".md", ".txt"]
UPLOAD_OFF = ("Uploads are off on this server. Start it with --allow-uploads (or QA_ALLOW_UPLOADS=1) "
              "to add documents from the page.")
_RELOADING = threading.Lock()  # one rebuild at a time in this process (the build lock covers other processes)


def document_choices(engine: Engine) -> list[str]:
    """The document filter's choices: everything, or one indexed document by its source."""
    return [ALL_DOCUMENTS, *(d.source for d in engine.documents)]


def chosen_sources(choice: str | None) -> list[str] | None:
    return None if not choice or choice == ALL_DOCUMENTS else [choice]


class RefuseUploads:
    """ASGI middleware: Gradio's upload route takes no file while uploads are off (Gradio keeps
    the route, and files under its size limit would otherwise be stored and served back)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("method") == "POST" \
                and scope.get("path", "").rstrip("/").endswith("/upload"):
            from starlette.responses import PlainTextResponse

            await PlainTextResponse(UPLOAD_OFF, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _status(lines: list[str], done: bool = False, failed: bool = False) -> str:
    kind = "qa-upload-failed" if failed else "qa-upload-done" if done else "qa-upload-busy"
    return f'<div class="qa-upload-status {kind}">' + "".join(f"<div>{esc(line)}</div>" for line in lines) + "</div>"


def make_on_upload(batcher: Batcher, view: Callable[[Engine], list], view_size: int):  # type: ignore[no-untyped-def]
    """The handler of the upload box: store each file, rebuild, switch the batcher to the new engine.
    It yields (status, upload box, *view) as it goes, where `view(engine)` is the page's parts
    that show the corpus (`view_size` of them: header, article, document choice, examples).

    The event runs one upload at a time (the page sets that): a file added while an earlier
    one is indexing waits its turn instead of being dropped. The page shows what a visitor can
    act on; the build's own lines (paths, timings, model checks) go to the server log."""
    import gradio as gr

    def progress(lines: list[str], failed: bool = False) -> tuple:
        """A status update that leaves the rest of the page as it is and empties the upload box."""
        return (_status(lines, failed=failed), None, *[gr.skip()] * view_size)

    def on_upload(files: list[str] | None) -> Iterator[tuple]:
        engine = batcher.engine
        settings = engine.settings
        lines: list[str] = []
        stored = []
        for name in files or []:
            path = Path(name)
            try:
                result = store(path, path.name, settings)
                stored.append(result)
                renamed = "" if result.path.name == path.name else f" as {result.path.name}"
                lines.append(f"Added {path.name}{renamed} ({result.kind.upper()}).")
            except QAError as exc:
                lines.append(f"Not added: {exc}")
            finally:
                remove_temporary(path)
            yield progress(lines)
        if not stored:
            yield progress(lines or ["No file received. Try again."], failed=True)
            return
        indexing = "Indexing (only the new text is embedded)…"
        lines.append(indexing)
        yield progress(lines)
        fresh: list[Engine] = []
        errors: list[str] = []

        def rebuild() -> None:
            # The swap is inside the lock, so engines are switched in the order they were built,
            # and the last one switched to holds every file stored so far.
            with _RELOADING:
                try:
                    fresh.append(Engine.load(settings, embedder=engine.embedder, model=engine.model,
                                             progress=lambda line: log.info("Upload indexing: %s", line)))
                    batcher.engine = fresh[0]
                except QAError as exc:
                    log.error("Indexing after an upload failed: %s", exc)
                    errors.append(str(exc))

        started = time.monotonic()
        worker = threading.Thread(target=rebuild, daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(timeout=1.0)
            if worker.is_alive():
                lines[-1] = f"{indexing} {time.monotonic() - started:.0f} s"
                yield progress(lines)
        if errors or not fresh:
            lines[-1] = ("Indexing failed, so the new documents are not answered from yet; the documents "
                         "before them still are. The server's log says why.")
            yield progress(lines, failed=True)
            return
        lines[-1] = f"Indexed in {time.monotonic() - started:.1f} s."
        lines.append(f"Ready: ask about {', '.join(s.path.name for s in stored)}.")
        yield (_status(lines, done=True), None, *view(fresh[0]))

    return on_upload
