"""What the tests share: the prompt, free ports, and servers that a test owns.

Tests import from here (never from ``conftest``). Every server a test starts listens on a
free port chosen at run time, so the suite never depends on what else runs on this
machine (a course server of another checkout on 8000, say).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

from helpers import settings
from helpers.launcher import ServerHandle, start_server, stop_server
from helpers.servers import METRICS_PORT_OFFSET

PROMPT = settings.DEFAULT_PROMPT


def free_port() -> int:
    """A TCP port that nothing listens on now, and that no program will be handed by chance.

    Not the kernel's ``bind(0)``: that port comes from the ephemeral range, where a starting
    vLLM engine binds its own internal sockets (and clients their outgoing ones), so it can be
    taken before our server binds it (seen: ``[Errno 98] address already in use``). Ports
    below the ephemeral range are only ever taken on purpose.
    """
    first_ephemeral = _ephemeral_range()[0]
    # A router's metrics port is its own + 1000: keep that one below the range too.
    ports = list(range(20000, min(first_ephemeral, 32768) - METRICS_PORT_OFFSET))
    random.shuffle(ports)
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind((settings.LOCAL_HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between 20000 and {first_ephemeral}")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


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


def group_alive(pgid: int) -> bool:
    """True while a live (not zombie) process of process group ``pgid`` exists."""
    import psutil

    for process in psutil.process_iter(["status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != "zombie":
                return True
        except (ProcessLookupError, psutil.Error):
            continue
    return False


@contextlib.contextmanager
def paused_session_servers() -> Iterator[None]:
    """Stop this test session's own servers while a test needs their memory; start them again
    afterwards on the same ports (tests and notebooks that come later find them as before)."""
    from helpers import _processes
    from helpers.servers import KINDS

    paused = []
    for kind, spec in KINDS.items():
        state = _processes.read(kind, spec.default_port())
        if state is not None and _processes.runs(state):
            stop_server(kind, port=state.port)
            paused.append(kind)
    try:
        yield
    finally:
        for kind in paused:
            start_server(kind, progress=False)


def course_servers_started_after(moment: float) -> list:
    """Course servers (process-group leaders) of this user created after ``moment``."""
    from helpers.launcher import course_processes

    return [process for process in course_processes() if process.create_time() >= moment - 1]
