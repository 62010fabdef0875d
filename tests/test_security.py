"""The served app exposes the chat and nothing else: it binds loopback by default, Gradio's
file routes refuse the system's and the project's files, no pickle is ever used, and a FAISS
file reaches the FAISS parser only after its checksum matched."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest

from qa.corpus import load_corpus
from qa.engine import Engine
from qa.errors import IndexCorrupt
from qa.index import expected_inputs
from qa.index_files import CURRENT, load_index
from qa.settings import PROJECT_ROOT, Settings

@pytest.fixture(scope="module")
def server(engine: Engine, settings: Settings, load_tool: ModuleType) -> Iterator[tuple[str, int]]:
    """The real app, started as a user would (`python app.py`, no --host), on the test index."""
    port = load_tool.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update(QA_INDEX_DIR=str(settings.index_dir), QA_FEEDBACK_PATH=str(settings.index_dir / "feedback.jsonl"))
    with tempfile.TemporaryDirectory() as tmp:
        proc = load_tool.start_server(port, Path(tmp) / "server.log", env, host=None)
        try:
            yield f"http://127.0.0.1:{port}", proc.pid
        finally:
            load_tool.stop_server(proc)


def listening_addresses(pid: int) -> list[str]:
    """Addresses the process listens on, from its socket inodes and /proc/net/tcp{,6}."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, width in (("tcp", 8), ("tcp6", 32)):
        path = Path(f"/proc/{pid}/net/{table}")
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                raw = bytes.fromhex(local.split(":")[0])
                if width == 8:
                    address = ipaddress.IPv4Address(raw[::-1])
                else:
                    address = ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
                found.append(str(address))
    return found


def fetch(url: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"User-Agent": "qa-security-test"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read(200_000)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(200_000)


def test_app_binds_loopback_only_by_default(server: tuple[str, int]) -> None:
    _, pid = server
    addresses = listening_addresses(pid)
    assert addresses, "the server listens somewhere"
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses), addresses


def test_app_is_not_reachable_on_other_interfaces(server: tuple[str, int]) -> None:
    url, _ = server
    port = int(url.rsplit(":", 1)[1])
    others = [a for a in _own_addresses() if not ipaddress.ip_address(a).is_loopback]
    if not others:
        pytest.skip("this machine has no non-loopback IPv4 address")
    for address in others:
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((address, port)) != 0, f"reachable on {address}:{port}"


def _own_addresses() -> list[str]:
    found = []
    for line in Path("/proc/net/fib_trie").read_text().splitlines() if Path("/proc/net/fib_trie").exists() else []:
        match = re.search(r"\|-- (\d+\.\d+\.\d+\.\d+)", line)
        if match and match.group(1) not in found and not match.group(1).endswith((".0", ".255")):
            found.append(match.group(1))
    return found


SECRETS = {
    "/etc/passwd": b"root:",
    str(PROJECT_ROOT / "qa" / "engine.py"): b"def _try_load",
    str(PROJECT_ROOT / "app.py"): b"from qa.ui import main",
    str(PROJECT_ROOT / "qa" / "ui.py"): b"def build_app",
    str(PROJECT_ROOT / "pyproject.toml"): b"[project]",
}


def file_urls(base: str, path: str) -> list[str]:
    """The ways Gradio 6 (and older releases) name a file, with traversal and encoding tricks."""
    rel = os.path.relpath(path, "/")
    quoted = urllib.parse.quote(path, safe="")
    twice = urllib.parse.quote(quoted, safe="")
    dots = "../" * 12 + rel
    encoded_dots = "%2e%2e%2f" * 12 + urllib.parse.quote(rel)
    variants = []
    for prefix in ("/file=", "/gradio_api/file=", "/file/", "/gradio_api/file/"):
        variants += [prefix + path, prefix + quoted, prefix + twice, prefix + dots, prefix + encoded_dots,
                     prefix + "//" + rel, prefix + "." + path]
    for prefix in ("/static/", "/assets/", "/gradio_api/static/", "/gradio_api/assets/", "/svelte/"):
        variants += [prefix + dots, prefix + encoded_dots, prefix + "..%2f" * 12 + urllib.parse.quote(rel)]
    variants += [f"/gradio_api/proxy=http://127.0.0.1{path}", f"/proxy=file://{path}",
                 f"/gradio_api/file=http://127.0.0.1:{base.rsplit(':', 1)[1]}/gradio_api/file={path}"]
    return [base + v for v in variants]


@pytest.mark.parametrize("path", list(SECRETS), ids=["etc-passwd", "engine-source", "app-source", "page-source", "pyproject"])
def test_file_routes_refuse_files_outside_the_app(server: tuple[str, int], path: str) -> None:
    base, _ = server
    for url in file_urls(base, path):
        status, body = fetch(url)
        assert SECRETS[path] not in body, f"{url} served {path}"
        assert status >= 400 or b"<html" in body[:2000].lower(), f"{url} -> {status}"


def test_file_routes_refuse_the_index_and_corpus_folders(server: tuple[str, int], settings: Settings) -> None:
    base, _ = server
    build = settings.index_dir / "builds" / (settings.index_dir / CURRENT).read_text().strip()
    for path in (build / "manifest.json", build / "chunks.jsonl", settings.index_dir / CURRENT,
                 PROJECT_ROOT / "corpus" / "battery-race.md"):
        for url in file_urls(base, str(path))[:14]:
            status, body = fetch(url)
            assert status >= 400 or b"<html" in body[:2000].lower(), f"{url} -> {status}"
            assert b'"artifacts"' not in body and b'"sentence_ids"' not in body


def test_api_error_is_a_message_not_a_stack_trace(server: tuple[str, int]) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    base, _ = server
    client = Client(base + "/", verbose=False, download_files=False)
    for bad in ("", "x" * 100_000, "\x00"):
        with pytest.raises(AppError) as error:
            client.predict(bad, [], api_name="/ask")
        message = str(error.value)
        assert "Traceback" not in message and 'File "' not in message
        assert "question" in message.lower()
    text, answer = client.predict("<script>alert(1)</script> What does Europe focus on?", ["\x00"],
                                  api_name="/ask")
    assert text == answer["answer"]


def test_upload_route_refuses_large_files(server: tuple[str, int]) -> None:
    """The page has no file input, so the upload route must not become free disk space for anyone."""
    base, _ = server
    body = (b'--XX\r\nContent-Disposition: form-data; name="files"; filename="big.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\n" + b"A" * 2_000_000 + b"\r\n--XX--\r\n")
    request = urllib.request.Request(base + "/gradio_api/upload", data=body,
                                     headers={"Content-Type": "multipart/form-data; boundary=XX"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except urllib.error.URLError as exc:  # refused before the body was read: the server answers
        # and closes while the client is still sending, which the client sees as a broken pipe
        assert isinstance(exc.reason, (BrokenPipeError, ConnectionResetError)), exc
        status = 403
    assert status >= 400


# ---------------------------------------------------------------- no pickle, checksums first

PICKLE_USE = re.compile(r"^\s*(import|from)\s+(c?pickle|dill|joblib|shelve)\b|allow_pickle\s*=\s*True|torch\.load\(",
                        re.MULTILINE)


def test_no_pickle_in_our_code() -> None:
    files = [*PROJECT_ROOT.joinpath("qa").rglob("*.py"), PROJECT_ROOT / "app.py", *PROJECT_ROOT.joinpath("eval").rglob("*.py"),
             *PROJECT_ROOT.joinpath("scripts").rglob("*.py")]
    offenders = [f"{p.relative_to(PROJECT_ROOT)}: {m.group(0).strip()}"
                 for p in files if p.exists() for m in PICKLE_USE.finditer(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_index_folder_holds_no_pickle_files(engine: Engine) -> None:
    build = engine.index.location
    assert build is not None
    for path in build.rglob("*"):
        if path.is_file():
            head = path.read_bytes()[:2]
            assert head not in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"), f"{path.name} is a pickle"
            # .onnx: a protobuf graph; .onnx.data: its raw float weights
            assert path.suffix in (".faiss", ".npy", ".json", ".jsonl", ".onnx") or path.name.endswith(".onnx.data"), \
                path.name


def test_faiss_file_is_read_only_after_its_checksum_matches(engine: Engine, settings: Settings,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """faiss parses its binary format in C++; a damaged or swapped file must never reach it.
    The spy wraps the library call, it does not replace it."""
    import shutil

    import faiss

    index_dir = tmp_path / "index"
    shutil.copytree(settings.index_dir, index_dir, ignore=shutil.ignore_patterns(".build.lock"))
    build = index_dir / "builds" / (index_dir / CURRENT).read_text().strip()
    expected = expected_inputs(load_corpus(settings.corpus_dir), settings, engine.embedder.name)
    reads: list[str] = []
    real_read = faiss.read_index
    monkeypatch.setattr(faiss, "read_index", lambda path, *a: reads.append(Path(path).name) or real_read(path, *a))

    load_index(index_dir, expected)
    assert sorted(reads) == ["chunks.faiss", "sentences.faiss"], "the spy sees reads of a good index"
    reads.clear()
    (build / "chunks.faiss").write_bytes((build / "chunks.faiss").read_bytes()[:-100] + os.urandom(100))
    with pytest.raises(IndexCorrupt, match="chunks.faiss does not match its checksum"):
        load_index(index_dir, expected)
    assert reads == []
