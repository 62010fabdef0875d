"""Connecting to Milvus (QA_BACKEND=milvus): one client per URI for the process, Milvus Lite's
one-process-per-file rule waited for, and every refusal turned into one line naming the URI
and what to check (`MilvusUnavailable`), never a traceback."""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from qa.errors import MilvusUnavailable
from qa.settings import Settings, is_server_uri

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger(__name__)
_clients: dict[tuple[str, str], "MilvusClient"] = {}


def connect(settings: Settings, say: Callable[[str], None] = log.info) -> "MilvusClient":
    """One client per URI and token for the process. A Milvus Lite file held by another process
    is waited for (Milvus Lite serves one process at a time); anything else that fails raises
    MilvusUnavailable, one line naming the URI and what to check."""
    uri, token = settings.milvus_target, settings.milvus_token
    if (uri, token) in _clients:
        return _clients[(uri, token)]
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    # Both log a traceback for every refused call; we raise each as one line naming the URI.
    for noisy in ("milvus_lite.server_manager", "pymilvus"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    deadline = time.monotonic() + settings.milvus_wait_seconds
    while True:
        if not is_server_uri(uri):
            _wait_for_lite(Path(uri), deadline, say)
        try:
            # Milvus Lite's in-process server answers pymilvus's keepalive pings (every 10 s) with
            # "too many pings" lines on stderr; on one machine there is no connection to keep alive.
            options = {} if is_server_uri(uri) else {"grpc_options": {"grpc.keepalive_permit_without_calls": 0,
                                                                     "grpc.keepalive_time_ms": 2**31 - 1}}
            client = MilvusClient(uri=uri, token=token, **options)
            client.list_collections()  # a server that accepts the connection but refuses requests fails here
            break
        except MilvusException as exc:
            if not is_server_uri(uri) and _lite_locked(Path(uri)) and time.monotonic() < deadline:
                continue  # another process opened it between our check and ours
            raise MilvusUnavailable(uri, str(getattr(exc, "message", "") or exc)) from None
    _clients[(uri, token)] = client
    return client


def _wait_for_lite(path: Path, deadline: float, say: Callable[[str], None]) -> None:
    if path.suffix != ".db":
        raise MilvusUnavailable(str(path), "a Milvus Lite file's name must end in .db")
    blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:  # mkdir would say "File exists", which hides the cause
        raise MilvusUnavailable(str(path), f"{blocking} is a file, not a folder: give a path under a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MilvusUnavailable(str(path), f"cannot create its folder ({exc.strerror or exc})") from None
    told = False
    while _lite_locked(path):
        if time.monotonic() >= deadline:
            raise MilvusUnavailable(str(path), "another process still has it open")
        if not told:
            say(f"Waiting for {path}: another process has it open (Milvus Lite serves one process at a time)")
            told = True
        time.sleep(0.2)


def _lite_locked(path: Path) -> bool:
    """Whether another process holds Milvus Lite's lock on the file (its folder's LOCK)."""
    lock = path / "LOCK"
    if not lock.exists():
        return False
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def guarded(uri: str, call: Callable[[], Any]) -> Any:
    """Run one Milvus call; a refusal becomes MilvusUnavailable naming the URI."""
    from pymilvus.exceptions import MilvusException

    try:
        return call()
    except MilvusException as exc:
        raise MilvusUnavailable(uri, str(getattr(exc, "message", "") or exc)) from None
