"""What the tests share: the prompt, free ports, and servers that a test owns.

Tests import from here (never from ``conftest``). Every server a test starts listens on a
free port chosen at run time, so the suite never depends on what else runs on this
machine (a course server of another checkout on 8000, say).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from helpers import settings
from helpers.launcher import ServerHandle, start_server, stop_server

PROMPT = settings.DEFAULT_PROMPT


def free_port() -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((settings.LOCAL_HOST, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def own_server(kind: str = "legacy", **options) -> Iterator[ServerHandle]:
    """Start a server of ``kind`` on a free port for one test (or module); stop it after."""
    port = options.pop("port", None) or free_port()
    handle = start_server(kind, port=port, progress=False, **options)
    if not handle.started:
        raise RuntimeError(f"port {port} already had a server: the test would not own it")
    try:
        yield handle
    finally:
        stop_server(kind, port=port)


def record(name: str, value: object) -> None:
    """Add one figure to the report that ``make reliability`` prints (no-op otherwise)."""
    path = os.environ.get("RELIABILITY_REPORT")
    if not path:
        return
    report = json.loads(Path(path).read_text()) if Path(path).exists() else {}
    report[name] = value
    Path(path).write_text(json.dumps(report, indent=1))
