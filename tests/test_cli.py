"""The `qa` command as a user runs it: the installed console script in a fresh process, over the
test run's index (never the project's own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.engine import Engine
from qa.errors import QuestionInvalid
from qa.settings import PROJECT_ROOT, Settings

QA = str(Path(sys.executable).parent / "qa")  # .venv/bin/qa, the console script
CHINA = "What share of lithium-ion battery production does China have?"
TOWN = PROJECT_ROOT / "tests" / "data" / "eldermere" / "eldermere.md"


def env_for(settings: Settings) -> dict[str, str]:
    """The test run's index, and stdout buffered as in a user's shell (no PYTHONUNBUFFERED)."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("QA_") and k != "PYTHONUNBUFFERED"},
            "HF_HUB_OFFLINE": "1", "QA_INDEX_DIR": str(settings.index_dir)}


def run_qa(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([QA, *args], capture_output=True, text=True, env=env_for(settings), cwd=PROJECT_ROOT,
                          timeout=180, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)


def run_into_closed_pipe(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    """`qa ARGS | head -0`, without the race: the reader end is closed before qa writes a byte."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([QA, *args], stdout=write, stderr=subprocess.PIPE, text=True, env=env_for(settings),
                              cwd=PROJECT_ROOT, timeout=180, stdin=subprocess.DEVNULL)
    finally:
        os.close(write)


# ---------------------------------------------------------------- a reader that leaves early

@pytest.mark.parametrize("args", [("ask", CHINA), ("ask", "--json", CHINA), ("--help",)],
                         ids=["ask", "ask-json", "help"])
def test_a_closed_pipe_ends_qa_quietly_with_141(engine: Engine, settings: Settings, args: tuple[str, ...]) -> None:
    result = run_into_closed_pipe(settings, *args)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode == 141, result.stderr


def test_head_reads_the_first_line_of_an_answer(engine: Engine, settings: Settings) -> None:
    """The user's own pipe, through a shell: whatever the timing, no traceback, and 0 or 141."""
    result = subprocess.run(["bash", "-c", f'set -o pipefail; "{QA}" ask "{CHINA}" | head -1'],
                            capture_output=True, text=True, env=env_for(settings), cwd=PROJECT_ROOT, timeout=180,
                            stdin=subprocess.DEVNULL)
    assert result.returncode in (0, 141), result.stderr
    assert "over 70%" in result.stdout and len(result.stdout.splitlines()) == 1
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- qa serve

@pytest.mark.parametrize("port", ["99999", "-5", "65536", "eighty"])
def test_serve_refuses_a_port_out_of_range_before_loading_anything(settings: Settings, port: str) -> None:
    result = run_qa(settings, "serve", "--port", port)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1].startswith("qa serve: error: argument --port: "), result.stderr
    assert ("between 0 and 65535" in result.stderr or "from 0 to 65535" in result.stderr)
    assert "Traceback" not in result.stderr and "Loading" not in result.stderr + result.stdout


# ---------------------------------------------------------------- sources: the names a user may give

@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, engine: Engine) -> Engine:
    """Three documents, two of them named town.md (one uploaded): the real engine over a corpus
    outside the project."""
    corpus = tmp_path_factory.mktemp("library") / "corpus"
    for folder, text in ((".", TOWN.read_text(encoding="utf-8")),
                         ("uploads", "# Saltby\n\nSaltby is a fishing village with a harbour and a chapel. "
                                   "Its boats land herring and crab each morning.\n")):
        (corpus / folder).mkdir(parents=True, exist_ok=True)
        (corpus / folder / "town.md").write_text(text, encoding="utf-8")
    (corpus / "battery-race.md").write_text((PROJECT_ROOT / "corpus" / "battery-race.md").read_text(encoding="utf-8"),
                                            encoding="utf-8")
    return Engine.load(Settings(corpus_dir=corpus, index_dir=tmp_path_factory.mktemp("library-index")),
                       embedder=engine.embedder)


def without_timings(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key != "timings_ms"}


def source_ending(engine: Engine, tail: str) -> str:
    return next(d.source for d in engine.documents if d.source.endswith(tail))


def test_sources_take_another_spelling_of_the_path_or_a_unique_file_name(library: Engine) -> None:
    battery = source_ending(library, "/battery-race.md")
    cited = library.ask(CHINA, sources=[battery]).to_dict()
    assert not cited["abstained"] and {c["source"] for c in cited["citations"]} == {battery}
    relative = os.path.relpath(battery, os.getcwd())
    for spelling in ("battery-race.md", "corpus/battery-race.md", relative, str(Path(battery).parent / "." / "battery-race.md")):
        assert without_timings(library.ask(CHINA, sources=[spelling]).to_dict()) == without_timings(cited), spelling


def test_sources_by_a_path_tail_limit_the_answer_to_that_document(library: Engine) -> None:
    for tail in ("uploads/town.md", "corpus/town.md"):
        wanted = source_ending(library, "/" + tail)
        answer = library.ask(CHINA, sources=[tail])
        assert answer.passages and {p.chunk.source for p in answer.passages} == {wanted}, tail
        assert all(c.source == wanted for c in answer.citations)


def test_the_project_corpus_takes_dot_slash_and_absolute_paths(engine: Engine) -> None:
    cited = without_timings(engine.ask(CHINA, sources=["corpus/battery-race.md"]).to_dict())
    for spelling in ("./corpus/battery-race.md", str(PROJECT_ROOT / "corpus" / "battery-race.md"), "battery-race.md"):
        assert without_timings(engine.ask(CHINA, sources=[spelling]).to_dict()) == cited, spelling


def test_an_ambiguous_file_name_is_refused_naming_the_candidates(library: Engine) -> None:
    with pytest.raises(QuestionInvalid) as raised:
        library.ask(CHINA, sources=["town.md"])
    message = str(raised.value)
    assert "'town.md' could be any of" in message and "give its path" in message
    assert source_ending(library, "/corpus/town.md") in message and source_ending(library, "/uploads/town.md") in message
    with pytest.raises(QuestionInvalid, match="could be any of"):
        library.chosen_sources(["town.md"])  # qa source reads names the same way


@pytest.mark.parametrize("name", ["nope.md", "corpus/nope/battery-race.md", "", "\x00"])
def test_an_unknown_source_is_refused_listing_the_known_documents(library: Engine, name: str) -> None:
    with pytest.raises(QuestionInvalid) as raised:
        library.ask(CHINA, sources=["battery-race.md", name])
    message = str(raised.value)
    assert f"No document {name!r} in the index" in message and "Known: " in message
    assert all(d.source in message for d in library.documents)


def test_cli_source_option_takes_a_file_name(engine: Engine, settings: Settings) -> None:
    result = run_qa(settings, "ask", CHINA, "--source", "battery-race.md", "--source", "./corpus/battery-race.md")
    assert result.returncode == 0, result.stderr
    assert "corpus/battery-race.md > " in result.stdout and "over 70%" in result.stdout
    result = run_qa(settings, "ask", CHINA, "--source", "nope.md")
    assert result.returncode == 2 and "No document 'nope.md' in the index. Known: corpus/battery-race.md." in result.stderr


# ---------------------------------------------------------------- how the question is given

def answer_json(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return without_timings(json.loads(result.stdout))


def test_the_question_may_be_piped_in_or_typed_without_quotes(engine: Engine, settings: Settings) -> None:
    question = "What does Europe focus on?"
    quoted = answer_json(run_qa(settings, "ask", "--json", question))
    assert quoted["question"] == question and quoted["citations"]
    assert answer_json(run_qa(settings, "ask", "--json", stdin=question + "\n")) == quoted
    assert answer_json(run_qa(settings, "ask", "--json", "-", stdin=question)) == quoted
    assert answer_json(run_qa(settings, "ask", "--json", *question.split())) == quoted


@pytest.mark.parametrize("stdin", [None, "", " \n"], ids=["no-stdin", "empty", "blank"])
def test_no_question_gets_the_usage_of_qa_ask(settings: Settings, stdin: str | None) -> None:
    result = run_qa(settings, "ask", stdin=stdin)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: qa ask ") and "qa ask: error: give a question" in result.stderr
    assert result.stdout == ""


# ---------------------------------------------------------------- --k, in the range of the page and the API

@pytest.mark.parametrize("k", ["0", "11", "1000", "four"])
def test_ask_refuses_k_outside_the_range_the_api_allows(settings: Settings, k: str) -> None:
    from qa.serving import TOP_K_MAX

    result = run_qa(settings, "ask", CHINA, "--k", k)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1].startswith("qa ask: error: argument --k: ")
    assert f"from 1 to {TOP_K_MAX}" in result.stderr and "Traceback" not in result.stderr


def test_ask_takes_the_largest_k_the_api_allows(engine: Engine, settings: Settings) -> None:
    from qa.serving import TOP_K_MAX

    assert len(answer_json(run_qa(settings, "ask", "--json", CHINA, "--k", str(TOP_K_MAX)))["passages"]) == TOP_K_MAX


def test_bench_help_promises_no_quick_run_under_a_minute(settings: Settings) -> None:
    """--quick takes 1.5 to 3 minutes (review 35; README, Benchmarks): the help must not say less."""
    result = run_qa(settings, "bench", "--help")
    assert result.returncode == 0 and "a few minutes" in " ".join(result.stdout.split())
    assert "under a minute" not in result.stdout


@pytest.mark.parametrize(("path", "says"), [("nope.md", "No document 'nope.md' in the index. Known: "),
                                            ("battery-race.md", None)])
def test_qa_source_reads_a_path_as_qa_ask_source_does(engine: Engine, settings: Settings, path: str,
                                                      says: str | None) -> None:
    """An unknown path is bad usage, exit 2 as for `qa ask --source`, not a set-up problem (1)."""
    result = run_qa(settings, "source", path)
    if says is None:
        assert result.returncode == 0 and result.stdout.startswith("# "), result.stderr
    else:
        assert result.returncode == 2 and result.stderr.startswith(f"qa: {says}"), result.stderr
