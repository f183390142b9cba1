"""A server the course uses: where it answers, whether this machine runs it, how to stop it.

Introduced in chapter 00 (``start_server`` returns a :class:`ServerHandle`). The launcher
(:mod:`helpers.course.launcher`) hands these out; :func:`stop_server` stops what it started.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from helpers.course import _processes, diagnosis
from helpers.course.servers import ServerKind, kind_named

__all__ = ["ServerHandle", "connect_host", "is_healthy", "stop_server"]


@dataclass
class ServerHandle:
    """A server of kind ``spec`` that answers at ``url``; ``managed`` if this machine's
    launcher runs it.

    ``started`` is True only for the call that started it (False when it was reused or
    is remote). A server that is not ``managed`` (remote, or started by hand) has no
    process or log here, and :meth:`stop` leaves it alone.
    """

    spec: ServerKind
    url: str
    model: str | None = None
    pid: int | None = None
    log_path: Path | None = None
    command: list[str] = field(default_factory=list)
    started: bool = False

    @classmethod
    def of(cls, state: _processes.ServerState) -> ServerHandle:
        """The handle of a server this launcher started (from its state file)."""
        return cls(kind_named(state.kind), state.url, state.model, state.pid, Path(state.log),
                   state.command)

    @property
    def kind(self) -> str:
        """Its kind's name in the registry (``"legacy"``, ``"openai"``, ``"router"``)."""
        return self.spec.name

    @property
    def managed(self) -> bool:
        """True when this machine's launcher started the process (it can stop it)."""
        return self.pid is not None

    @property
    def remote(self) -> bool:
        """True when this machine's launcher did not start it (a workshop server, or one
        started by hand): there is no process to signal and no log to read here."""
        return not self.managed

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    @property
    def health_url(self) -> str:
        return root(self.url) + self.spec.health_path

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the server's log ('' for a remote server)."""
        return diagnosis.tail(self.log_path, lines)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop this server if this launcher started it; False (and nothing done) otherwise."""
        if not self.managed:
            return False
        return stop_server(self.kind, port=self.port, timeout=timeout)


def stop_server(kind: str = "legacy", *, port: int | None = None, timeout: float = 30.0) -> bool:
    """Stop the server of ``kind`` that this launcher started on ``port``.

    Sends SIGTERM to its process group, then SIGKILL after ``timeout`` seconds.
    Returns False (and stops nothing) if the launcher had no such server running.
    """
    port = port or kind_named(kind).default_port()
    state = _processes.read(kind, port)
    _processes.forget(kind, port)
    if state is None or not _processes.runs(state):
        return False
    _processes.terminate(state.pid, timeout)
    return True


def is_healthy(url: str, timeout: float = 2.0, path: str = "/health") -> bool:
    """True if ``GET <root of url><path>`` answers 200."""
    try:
        return requests.get(root(url) + path, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def root(url: str) -> str:
    """``scheme://host:port`` of ``url`` (its path dropped)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def connect_host(host: str) -> str:
    """The address a client connects to for a server bound to ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
