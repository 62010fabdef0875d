"""The JSON API (/v1) served for real beside the page, and the batcher behind both: real engine,
real Gradio server on a free port, plain HTTP as any client would send it."""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

from qa import ui
from qa.api import AnswerOut, CitationOut, PassageOut, api_app
from qa.batching import Batcher
from qa.engine import Engine, Question
from qa.errors import Overloaded, QuestionInvalid, SettingsError
from qa.evalsets import load_eval_set
from qa.serving import exposure_problem
from qa.settings import PROJECT_ROOT, Settings
from qa.types import Answer, Citation

CHINA = "What share of lithium-ion battery production does China have?"
TOKEN = "test-token-" + "k" * 20


def call(url: str, body: Any = None, token: str | None = None, raw: bytes | None = None,
         opener: urllib.request.OpenerDirector | None = None) -> tuple[int, dict[str, str], Any]:
    """(status, headers, parsed JSON body) of a GET, or of a POST when a body is given."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with (opener.open if opener else urllib.request.urlopen)(request, timeout=60) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


@contextmanager
def serving(engine: Engine, load_tool: Any, batcher: Batcher, tmp: Path, token: str | None = None) -> Iterator[str]:
    """The page and the JSON API on a free port, as `qa serve` wires them; yields the base URL."""
    demo = ui.build_app(engine, feedback_path=tmp / "feedback.jsonl", batcher=batcher)
    url = ui.launch(demo, "127.0.0.1", load_tool.free_port(), block=False, api=api_app(engine, batcher, token),
                    token=token)
    try:
        yield url.rstrip("/")
    finally:
        demo.close()


def served(engine: Engine, load_tool: Any, tmp: Path, token: str | None = None) -> Iterator[str]:
    batcher = Batcher.for_engine(engine)
    with serving(engine, load_tool, batcher, tmp, token) as url:
        yield url
    batcher.close()


@pytest.fixture(scope="module")
def server(engine: Engine, load_tool: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from served(engine, load_tool, tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="module")
def locked(engine: Engine, load_tool: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with QA_API_TOKEN set."""
    yield from served(engine, load_tool, tmp_path_factory.mktemp("api-token"), TOKEN)


def same_answer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal in everything but timings; numbers to within one unit of their last rounded digit.
    A batched encode pads to the batch's longest text, which moves a vector by up to 5e-8: that
    can flip the last digit of a rounded score (measured: 1 confidence of 107 at the 4th decimal)."""
    def equal(x: Any, y: Any, key: str = "") -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return abs(x - y) <= (1.01e-4 if key == "confidence" else 1.01e-6)
        if isinstance(x, dict) and isinstance(y, dict):
            return x.keys() == y.keys() and all(equal(x[k], y[k], k) for k in x if k != "timings_ms")
        if isinstance(x, list) and isinstance(y, list):
            return len(x) == len(y) and all(equal(p, q) for p, q in zip(x, y))
        return x == y and type(x) is type(y)

    return equal(a, b)


# ------------------------------------------------------------------ /v1/ask

def test_api_answers_with_grounded_citations(server: str, engine: Engine) -> None:
    status, headers, answer = call(server + "/v1/ask", {"question": CHINA})
    assert status == 200 and headers["content-type"] == "application/json"
    assert not answer["abstained"] and "over 70%" in answer["answer"] and "[1]" in answer["answer"]
    assert answer["citations"]
    for c in answer["citations"]:
        assert Citation(**c).matches(engine.document(c["source"]).text), c


def test_api_answer_is_the_qa_ask_json_shape(server: str, engine: Engine) -> None:
    """The same object `qa ask --json` prints (Answer.to_dict), and the schema documents it."""
    status, _, answer = call(server + "/v1/ask", {"question": "What about Europe?", "history": [CHINA], "k": 3})
    alone = engine.ask("What about Europe?", history=[CHINA], k=3).to_dict()
    assert status == 200 and same_answer(answer, alone)
    assert answer["searched_for"] != answer["question"] and len(answer["passages"]) == 3
    assert list(answer) == list(AnswerOut.model_fields)
    assert list(answer["citations"][0]) == list(CitationOut.model_fields)
    assert list(answer["passages"][0]) == list(PassageOut.model_fields)
    assert set(answer["timings_ms"]) == {"embed", "retrieve", "features", "answer", "total"}


def test_api_abstains_with_the_closest_passages(server: str) -> None:
    status, _, answer = call(server + "/v1/ask", {"question": "Who won the football world cup in 2018?"})
    assert status == 200 and answer["abstained"] is True
    assert answer["citations"] == [] and answer["passages"] and answer["reason"]


@pytest.mark.parametrize("question", ["   ", "battery " * 200, "\x00\x00"])
def test_bad_question_gets_422_with_the_engines_message(server: str, engine: Engine, question: str) -> None:
    with pytest.raises(QuestionInvalid) as raised:
        engine.ask(question)
    status, _, body = call(server + "/v1/ask", {"question": question})
    assert status == 422 and body == {"detail": str(raised.value)}


@pytest.mark.parametrize("body, words", [
    ({}, "question: Field required"),
    ({"question": 7}, "question: Input should be a valid string"),
    ({"question": CHINA, "k": 0}, "k: Input should be greater than or equal to 1"),
    ({"question": CHINA, "k": 11}, "k: Input should be less than or equal to 10"),
    ({"question": CHINA, "k": True}, "k: Input should be a valid integer"),
    ({"question": CHINA, "k": "3"}, "k: Input should be a valid integer"),
    ({"question": CHINA, "history": "not a list"}, "history: Input should be a valid list"),
    ({"question": CHINA, "colour": "blue"}, "colour: Extra inputs are not permitted"),
])
def test_malformed_request_gets_422_in_one_line(server: str, body: dict, words: str) -> None:
    status, _, answer = call(server + "/v1/ask", body)
    assert status == 422 and isinstance(answer["detail"], str) and words in answer["detail"], answer


@pytest.mark.parametrize("name", ["battery-race.md", "./corpus/battery-race.md",
                                  str(PROJECT_ROOT / "corpus" / "battery-race.md")])
def test_sources_take_a_file_name_or_another_spelling_of_the_path(server: str, name: str) -> None:
    status, _, answer = call(server + "/v1/ask", {"question": CHINA, "sources": [name]})
    assert status == 200, answer
    assert answer["citations"] and {c["source"] for c in answer["citations"]} == {"corpus/battery-race.md"}


def test_unknown_source_gets_422_listing_the_known_documents(server: str) -> None:
    status, _, answer = call(server + "/v1/ask", {"question": CHINA, "sources": ["nope.md"]})
    assert status == 422
    assert answer["detail"] == "No document 'nope.md' in the index. Known: corpus/battery-race.md."


def test_body_that_is_not_json_gets_422(server: str) -> None:
    status, _, answer = call(server + "/v1/ask", raw=b"{not json")
    assert status == 422 and "JSON" in answer["detail"]


def post_as(url: str, body: bytes, content_type: str | None) -> tuple[int, dict[str, Any]]:
    """POST `body` with this Content-Type, or with none at all (which urllib would not allow)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("POST", parts.path, body=body,
                           headers={"Content-Type": content_type} if content_type else {})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("content_type, named", [
    ("application/x-www-form-urlencoded", "came as 'application/x-www-form-urlencoded'"),  # curl -d's default
    ("text/plain; charset=utf-8", "came as 'text/plain'"),
    (None, "came without a Content-Type"),
])
def test_json_body_without_the_json_content_type_is_told_which_header_to_send(
        server: str, content_type: str | None, named: str) -> None:
    status, answer = post_as(server + "/v1/ask", json.dumps({"question": CHINA}).encode(), content_type)
    assert status == 422 and named in answer["detail"], answer
    assert "'Content-Type: application/json'" in answer["detail"] and "dictionary" not in answer["detail"]


def test_json_content_type_with_a_charset_is_answered(server: str) -> None:
    status, answer = post_as(server + "/v1/ask", json.dumps({"question": CHINA}).encode(),
                             "application/json; charset=utf-8")
    assert status == 200 and answer["citations"], answer


@pytest.mark.parametrize("raw, where", [(b"{not json", "at character 2"),
                                        (b'{"question": "Who?",}', "at character 21"),
                                        (b"", None)])
def test_malformed_json_says_where_it_breaks(server: str, raw: bytes, where: str | None) -> None:
    status, answer = post_as(server + "/v1/ask", raw, "application/json")
    assert status == 422
    if where is None:  # nothing to parse: the body is missing
        assert answer["detail"].startswith("Bad request: body: Field required."), answer
    else:
        assert answer["detail"].startswith("Bad request: the body is not valid JSON (") and where in answer["detail"]
        assert "0:" not in answer["detail"] and "JSON decode error" not in answer["detail"]


def test_body_over_the_limit_gets_413_unread(server: str) -> None:
    status, _, answer = call(server + "/v1/ask", raw=json.dumps({"question": "x" * 300_000}).encode())
    assert status == 413 and "kB" in answer["detail"]


def test_health_names_the_corpus_and_the_model(server: str, engine: Engine) -> None:
    status, _, health = call(server + "/v1/health")
    assert status == 200 and health["status"] == "ok" and health["index_loaded"] is True
    assert health["model"] == "sentence-transformers/all-MiniLM-L6-v2" and health["query_encoder"] == "onnx"
    assert [d["source"] for d in health["corpus"]["documents"]] == [d.source for d in engine.documents]
    assert health["corpus"]["chunks"] == len(engine.index.chunks)
    assert health["batching"]["max_size"] == engine.settings.batch_max_size and health["auth"] is False
    assert health["queue"] == {"waiting": 0, "size": engine.settings.queue_size}


def test_openapi_schema_is_served(server: str) -> None:
    status, _, schema = call(server + "/v1/openapi.json")
    assert status == 200 and schema["servers"] == [{"url": "/v1"}]
    assert set(schema["paths"]) == {"/ask", "/health"}
    assert set(schema["paths"]["/ask"]["post"]["responses"]) == {"200", "401", "413", "422", "503"}
    assert schema["components"]["schemas"]["AskRequest"]["required"] == ["question"]


def test_page_and_gradio_api_are_served_beside_it(server: str) -> None:
    with urllib.request.urlopen(server + "/", timeout=10) as response:
        assert response.status == 200 and "<html" in response.read(2000).decode("utf-8", "replace").lower()
    status, _, event = call(server + "/gradio_api/call/ask", {"data": [CHINA, []]})
    assert status == 200 and event["event_id"]


# ------------------------------------------------------------------ the token

@pytest.mark.parametrize("token", [None, "wrong-token-" + "k" * 20, TOKEN[:-1], TOKEN + "k"])
def test_missing_or_wrong_token_gets_401(locked: str, token: str | None) -> None:
    for path, body in (("/v1/ask", {"question": CHINA}), ("/v1/health", None)):
        status, headers, answer = call(locked + path, body, token=token)
        assert status == 401 and headers["www-authenticate"] == "Bearer", (path, answer)
        assert "Authorization: Bearer" in answer["detail"]


def test_right_token_is_answered(locked: str) -> None:
    status, _, answer = call(locked + "/v1/ask", {"question": CHINA}, token=TOKEN)
    assert status == 200 and "over 70%" in answer["answer"]
    assert call(locked + "/v1/health", token=TOKEN)[2]["auth"] is True


def test_with_a_token_the_page_and_gradios_api_need_the_login(locked: str) -> None:
    assert call(locked + "/gradio_api/call/ask", {"data": [CHINA, []]})[0] == 401
    assert call(locked + "/config")[0] == 401
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = urllib.parse.urlencode({"username": "anyone", "password": "wrong-token-" + "k" * 20}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        browser.open(urllib.request.Request(locked + "/login", data=form), timeout=30)
    assert refused.value.code == 400
    form = urllib.parse.urlencode({"username": "anyone", "password": TOKEN}).encode()
    with browser.open(urllib.request.Request(locked + "/login", data=form), timeout=30) as response:
        assert json.loads(response.read()) == {"success": True}
    status, _, event = call(locked + "/gradio_api/call/ask", {"data": [CHINA, []]}, opener=browser)
    assert status == 200 and event["event_id"]


def test_the_schema_needs_no_token(locked: str) -> None:
    assert call(locked + "/v1/openapi.json")[0] == 200


# ------------------------------------------------------------------ overload

class Held:
    """The real engine behind a gate: the batcher's worker stops before answering until the
    test opens it, so the queue can be filled without racing the worker."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.settings = engine, engine.settings
        self.entered, self.gate = threading.Event(), threading.Event()

    def ask_many(self, questions: Sequence[Question]) -> list[Answer | QuestionInvalid]:
        self.entered.set()
        assert self.gate.wait(60), "the test never opened the gate"
        return self.engine.ask_many(questions)

    def __getattr__(self, name: str) -> Any:  # index, documents, embedder: the real engine's (for /v1/health)
        return getattr(self.engine, name)


@contextmanager
def holding(engine: Engine, max_size: int = 1, queue_size: int = 4) -> Iterator[tuple[Batcher, Held, Future]]:
    """A batcher whose one worker has taken a first question (CHINA) and waits at the gate."""
    held = Held(engine)
    batcher = Batcher(held, max_size=max_size, window_ms=0, queue_size=queue_size, workers=1)  # type: ignore[arg-type]
    try:
        first = batcher.submit(CHINA)
        assert held.entered.wait(30), "the worker took the first question"
        yield batcher, held, first
    finally:
        held.gate.set()
        batcher.close()


def test_full_queue_gets_503_with_retry_after_and_queued_questions_are_answered(
        engine: Engine, load_tool: Any, tmp_path: Path) -> None:
    with holding(engine, queue_size=2) as (batcher, held, first), serving(engine, load_tool, batcher, tmp_path) as url:
        queued = [batcher.submit("What does Europe focus on?"), batcher.submit("How is the U.S. expanding capacity?")]
        status, headers, body = call(url + "/v1/ask", {"question": CHINA})
        assert status == 503 and headers["retry-after"] == "1"
        assert "busy" in body["detail"] and "Try again" in body["detail"]
        assert call(url + "/v1/health")[2]["queue"] == {"waiting": 2, "size": 2}
        held.gate.set()
        answers = [f.result(timeout=60) for f in [first, *queued]]
        assert [a.question for a in answers] == [CHINA, "What does Europe focus on?",
                                                 "How is the U.S. expanding capacity?"]
        assert call(url + "/v1/ask", {"question": CHINA})[0] == 200, "the server recovers once the queue drains"
        assert batcher.stats.refused_busy == 1


# ------------------------------------------------------------------ batching

def battery_questions() -> list[Question]:
    """Every question of the battery eval set with its history: many real questions, as inputs."""
    items = load_eval_set(PROJECT_ROOT / "eval" / "sets" / "battery.jsonl").items
    return [Question(item["question"], tuple(item.get("history", []))) for item in items]


def test_batched_answers_are_those_asked_alone(engine: Engine) -> None:
    questions = battery_questions() + [Question(""), Question("x" * 2000, ("What about Europe?",))]
    batcher = Batcher(engine, max_size=16, window_ms=5, queue_size=len(questions), workers=2)
    try:
        futures = [batcher.submit(q.text, q.history) for q in questions]  # all at once: they queue, then batch
        results: list[Answer | Exception] = []
        for future in futures:
            try:
                results.append(future.result(timeout=120))
            except QuestionInvalid as exc:
                results.append(exc)
    finally:
        batcher.close()
    assert batcher.stats.largest > 1, "questions waiting together were batched"
    assert batcher.stats.questions == len(questions)
    for question, result in zip(questions, results):
        try:
            alone = engine.ask(question.text, history=question.history)
        except QuestionInvalid as exc:
            assert isinstance(result, QuestionInvalid) and str(result) == str(exc)
            continue
        assert isinstance(result, Answer), (question, result)
        assert same_answer(result.to_dict(), alone.to_dict()), question


def test_ask_many_in_any_grouping_gives_the_answers_of_ask(engine: Engine) -> None:
    questions = battery_questions()
    alone = [engine.ask(q.text, history=q.history).to_dict() for q in questions]
    for size in (1, 7, 32):
        grouped = [a for start in range(0, len(questions), size)
                   for a in engine.ask_many(questions[start:start + size])]
        assert all(isinstance(a, Answer) and same_answer(a.to_dict(), b) for a, b in zip(grouped, alone)), size


def test_batched_question_vectors_agree_with_single_ones(engine: Engine) -> None:
    texts = [q.text for q in battery_questions()][:32]
    single = [engine.embedder.encode([t])[0] for t in texts]
    batched = engine.embedder.encode(texts)
    cosines = [float(a @ b) for a, b in zip(single, batched)]
    assert min(cosines) > 0.99999, min(cosines)


def test_a_lone_question_does_not_wait_for_the_window(engine: Engine) -> None:
    batcher = Batcher(engine, max_size=16, window_ms=5000, queue_size=4, workers=1)
    try:
        engine.ask(CHINA)  # warm
        started = time.perf_counter()
        answer = batcher.ask(CHINA)
        waited = time.perf_counter() - started
    finally:
        batcher.close()
    assert "over 70%" in answer.text
    assert waited < 2.5, f"waited {waited:.3f} s: a lone question went only when the 5 s window closed"


def test_questions_waiting_together_go_in_one_batch(engine: Engine) -> None:
    with holding(engine, max_size=4, queue_size=16) as (batcher, held, first):
        later = [batcher.submit(f"What does Europe focus on{'?' * n}") for n in range(1, 7)]
        held.gate.set()
        for future in [first, *later]:
            assert future.result(timeout=60).text
    assert batcher.stats.to_dict()["batches"] == 3  # the lone first, then 4 of the 6 waiting, then 2
    assert batcher.stats.largest == 4


def test_batch_size_one_never_batches(engine: Engine) -> None:
    batcher = Batcher(engine, max_size=1, window_ms=5, queue_size=32, workers=1)
    try:
        for future in [batcher.submit(q.text, q.history) for q in battery_questions()[:20]]:
            future.result(timeout=60)
    finally:
        batcher.close()
    assert batcher.stats.largest == 1 and batcher.stats.batches == 20


def test_a_closed_batcher_refuses_new_questions(engine: Engine) -> None:
    batcher = Batcher(engine, max_size=4, window_ms=0, queue_size=4, workers=1)
    batcher.close()
    with pytest.raises(Overloaded, match="shutting down"):
        batcher.submit(CHINA)


def test_a_cancelled_question_is_skipped(engine: Engine) -> None:
    with holding(engine, max_size=4) as (batcher, held, first):
        gone = batcher.submit("What does Europe focus on?")
        kept = batcher.submit("How is the U.S. expanding capacity?")
        assert gone.cancel()
        held.gate.set()
        assert first.result(timeout=60).text and kept.result(timeout=60).text
    assert batcher.stats.questions == 2


# ------------------------------------------------------------------ settings and who may listen

def test_batching_settings_come_from_the_environment() -> None:
    s = Settings.from_env({"QA_BATCH_MAX_SIZE": "1", "QA_BATCH_WINDOW_MS": "3.5", "QA_QUEUE_SIZE": "8",
                           "QA_BATCH_WORKERS": "1", "QA_API_TOKEN": TOKEN})
    assert (s.batch_max_size, s.batch_window_ms, s.queue_size, s.batch_workers, s.api_token) == (1, 3.5, 8, 1, TOKEN)
    assert TOKEN not in repr(s)
    for bad in ({"QA_BATCH_MAX_SIZE": "0"}, {"QA_BATCH_WINDOW_MS": "-1"}, {"QA_QUEUE_SIZE": "0"},
                {"QA_BATCH_WINDOW_MS": "soon"}, {"QA_API_TOKEN": "short"}, {"QA_API_TOKEN": "has a space in it ok"}):
        with pytest.raises(SettingsError):
            Settings.from_env(bad)


def test_serving_beyond_this_machine_needs_a_token() -> None:
    assert exposure_problem("127.0.0.1", share=False, token=None) is None
    assert exposure_problem("0.0.0.0", share=False, token=TOKEN) is None
    for host, share in (("0.0.0.0", False), ("192.168.1.10", False), ("127.0.0.1", True)):
        assert "QA_API_TOKEN" in exposure_problem(host, share, None)


def test_app_py_refuses_to_listen_everywhere_without_a_token() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "app.py"), "--host", "0.0.0.0", "--port", "1"],
                          env=env, capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert done.returncode == 1
    assert "refusing to listen on 0.0.0.0" in done.stderr and "QA_API_TOKEN" in done.stderr
    assert "Loading the engine" not in done.stderr, "refused before any model work"
