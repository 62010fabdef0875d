"""The JSON API, served by the same process and port as the chat page (qa/ui.py mounts it at /v1):

    POST /v1/ask           {"question": ..., "history": [...], "k": 4} -> the Answer, as `qa ask --json` prints it
    GET  /v1/health        whether the index is loaded, which corpus and model it holds, the queue
    GET  /v1/openapi.json  the schema of both

Why beside Gradio's own `/ask`: that one is two requests and an event stream through Gradio's
queue, which costs more CPU than the answer itself and is awkward to call from anything but
gradio_client. Here one POST gets one JSON object. Questions go through the server's `Batcher`,
so they are embedded together with whatever else is waiting.

Errors are one JSON object, {"detail": "<what to do>"}: 401 without the right bearer token
(when QA_API_TOKEN is set), 413 for a body over 256 kB, 422 for a bad question (the engine's own
message) or a malformed body, 503 with Retry-After when the queue is full.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from qa.errors import Overloaded, QuestionInvalid
from qa.serving import TOP_K_MAX

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from qa.batching import Batcher
    from qa.engine import Engine

# A question is at most 1,000 characters and the engine keeps four history turns; even with every
# character \u-escaped that is under 40 kB. The cap keeps a huge body from being read into memory.
MAX_BODY_BYTES = 256 * 1024
RETRY_AFTER_S = 1  # a full queue (64 questions) drains in well under a second on this machine


# ------------------------------------------------------------------ request and response shapes

class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question": "What share of lithium-ion battery production does China have?"},
        {"question": "What about Europe?", "history": ["How does China keep battery costs low?"], "k": 4}]})

    question: str = Field(description="The question, at most 1,000 characters.")
    history: list[str] = Field(default_factory=list,
                               description="Earlier questions of the conversation, oldest first: a follow-up "
                                           "such as 'What about Europe?' is read against them.")
    # Strict: JSON's true would otherwise pass as k = 1, and "3" as 3.
    k: int | None = Field(None, ge=1, le=TOP_K_MAX, strict=True, description="Passages to return (default 4).")
    sources: list[str] | None = Field(None, description="Answer from these documents only: their `source`, as "
                                                        "citations and /v1/health name them, another path to "
                                                        "the same file, or a file name only one document has; "
                                                        "default: all.")


class CitationOut(BaseModel):
    """One quoted sentence: `quote` is the text of `source` from `start` to `end`."""
    n: int
    chunk_id: str
    source: str
    section: str
    quote: str
    start: int
    end: int
    passage: str
    passage_start: int
    score: float
    page: int | None


class PassageOut(BaseModel):
    rank: int
    chunk_id: str
    source: str
    section: str
    text: str
    start: int
    end: int
    page: int | None
    score: float
    fused_score: float | None
    dense_score: float | None
    bm25_score: float | None


class AnswerOut(BaseModel):
    """`Answer.to_dict()`, the shape `qa ask --json` prints (documented here; the response is
    that dict itself, so the two cannot differ)."""
    question: str
    searched_for: str
    answer: str
    abstained: bool
    confidence: float
    reason: str
    citations: list[CitationOut]
    passages: list[PassageOut]
    timings_ms: dict[str, float]


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong and what to do.")


class HealthOut(BaseModel):
    status: str
    index_loaded: bool
    model: str
    query_encoder: str = Field(description="onnx, or torch when the index holds no usable ONNX model")
    corpus: dict[str, Any] = Field(description="documents (source, title), chunks, sentences, built_at")
    batching: dict[str, Any]
    queue: dict[str, int]
    auth: bool = Field(description="whether calls need the bearer token")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut} for code in codes}


def error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


# ------------------------------------------------------------------ the application

def api_app(engine: "Engine", batcher: "Batcher", token: str | None = None) -> "ASGIApp":
    """The /v1 application for a loaded engine and its batcher. With a `token`, every route but
    the schema answers 401 unless the request carries `Authorization: Bearer <token>`."""
    app = FastAPI(title="Ask the article: JSON API", version="1",
                  description="Answers quoted from the article with checkable citations, or an honest abstention.",
                  docs_url=None, redoc_url=None)  # Swagger's page loads scripts from a CDN: the app stays offline
    bearer = HTTPBearer(auto_error=False, description="QA_API_TOKEN, when the server has one")

    def authorised(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if token is None:
            return
        given = credentials.credentials.encode() if credentials else b""
        if not hmac.compare_digest(given, token.encode()):  # constant time: no guessing it byte by byte
            raise _Unauthorised()

    @app.exception_handler(_Unauthorised)
    async def unauthorised(_request: Request, _exc: _Unauthorised) -> JSONResponse:
        return error(401, "This server needs its API token: send the header 'Authorization: Bearer <QA_API_TOKEN>'.",
                     {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, validation_message(exc, request.headers.get("content-type")))

    @app.post("/ask", dependencies=[Depends(authorised)], response_model=None,
              responses={200: {"model": AnswerOut}, **_errors(401, 413, 422, 503)})
    async def ask(request: AskRequest) -> JSONResponse:
        """Answer a question from the article, or abstain. The body of the response is exactly
        what `qa ask --json` prints."""
        try:
            future = batcher.submit(request.question, request.history, request.k, request.sources)
        except Overloaded as exc:
            return error(503, str(exc), {"Retry-After": str(RETRY_AFTER_S)})
        try:
            answer = await asyncio.wrap_future(future)
        except QuestionInvalid as exc:
            return error(422, str(exc))
        return JSONResponse(answer.to_dict())

    @app.get("/health", dependencies=[Depends(authorised)], response_model=HealthOut, responses=_errors(401))
    async def health() -> dict[str, Any]:
        """Whether the index is loaded, and which corpus and model answer."""
        return health_report(batcher.engine, batcher, token is not None)  # the engine now serving (uploads swap it)

    return LimitBody(app, MAX_BODY_BYTES)


class _Unauthorised(Exception):
    """A request without the right bearer token."""


def health_report(engine: "Engine", batcher: "Batcher", auth: bool) -> dict[str, Any]:
    manifest = engine.index.manifest
    from qa.onnx_model import OnnxEncoder

    return {
        "status": "ok", "index_loaded": True, "auth": auth,
        "model": str(manifest.get("inputs", {}).get("model", engine.embedder.name)),
        "query_encoder": "onnx" if isinstance(engine.embedder, OnnxEncoder) else "torch",
        "corpus": {"documents": [{"source": d.source, "title": d.title} for d in engine.documents],
                   "chunks": len(engine.index.chunks), "sentences": len(engine.index.sentences),
                   "built_at": manifest.get("built_at")},
        "batching": {"max_size": batcher.max_size, "window_ms": round(batcher.window_s * 1000, 3),
                     **batcher.stats.to_dict()},
        "queue": {"waiting": batcher.waiting, "size": batcher.queue_size},
    }


EXAMPLE_BODY = 'Send JSON like {"question": "...", "history": [], "k": 4}.'


def validation_message(exc: RequestValidationError, content_type: str | None = None) -> str:
    """FastAPI's list of validation errors as one line: "k: Input should be ... ; question: Field required".
    Two cases read better whole. A body not declared as JSON is never parsed (curl -d sends
    application/x-www-form-urlencoded), so its fields cannot be checked: say which header to
    send. JSON that does not parse: say where, rather than FastAPI's "0: JSON decode error",
    whose 0 is a character position shown where a field name goes."""
    problems = exc.errors()
    broken = next((p for p in problems if p.get("type") == "json_invalid"), None)
    if broken is not None:
        position, reason = broken.get("loc", ())[-1], str(broken.get("ctx", {}).get("error", "")).rstrip(".")
        where = f" at character {position + 1}" if isinstance(position, int) else ""
        return f"Bad request: the body is not valid JSON ({reason[:1].lower() + reason[1:]}{where}). {EXAMPLE_BODY}"
    if not is_json(content_type):
        sent = f"as {content_type.split(';')[0].strip()!r}" if content_type else "without a Content-Type"
        return (f"Bad request: the body came {sent}; send it as JSON with the header "
                f"'Content-Type: application/json' (curl: -H 'content-type: application/json'). {EXAMPLE_BODY}")
    parts = []
    for problem in problems:
        where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {problem.get('msg', 'invalid')}")
    return "Bad request: " + "; ".join(parts) + ". " + EXAMPLE_BODY


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI parses a body of this type as JSON: application/json or application/*+json."""
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


class LimitBody:
    """ASGI wrapper that reads at most `limit` bytes of a request body: a bigger one (declared or
    streamed) gets 413 before the application sees it, so no body is ever held whole in memory."""

    def __init__(self, app: "ASGIApp", limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: "Scope", receive: "Receive", send: "Send") -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._too_large(scope, receive, send)
            return
        messages: list[Message] = []
        size, more = 0, True
        while more:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
            if size > self.limit:
                await self._too_large(scope, receive, send)
                return
        body = {"type": "http.request", "body": b"".join(m.get("body", b"") for m in messages
                                                       if m["type"] == "http.request"), "more_body": False}
        replayed = False

        async def replay() -> "Message":
            nonlocal replayed
            if not replayed:
                replayed = True
                return body
            return await receive()  # after the body: wait for the disconnect, as the server would

        await self.app(scope, replay, send)

    async def _too_large(self, scope: "Scope", receive: "Receive", send: "Send") -> None:
        await error(413, f"The request body is over {self.limit // 1024} kB; a question is at most 1,000 "
                         "characters.")(scope, receive, send)
