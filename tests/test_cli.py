"""The `qa` command as a user runs it: the installed console script in a fresh process, over the
test run's index (never the project's own)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qa.engine import Engine
from qa.settings import PROJECT_ROOT, Settings

QA = str(Path(sys.executable).parent / "qa")  # .venv/bin/qa, the console script
CHINA = "What share of lithium-ion battery production does China have?"


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
