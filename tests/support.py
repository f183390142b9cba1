"""What the tests share: the prompt, the server-fixture registry, servers that a test owns.

Tests import from here (never from ``conftest``). Every server a test starts listens on a
free port chosen at run time (:func:`helpers.course.ports.free_port`, which the benchmarks use
too), so the suite never depends on what else runs on this machine (a course server of
another checkout on 8000, say).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from helpers import settings
from helpers.course.launcher import ServerHandle, start_server, stop_server
from helpers.course.ports import free_port

PROMPT = settings.DEFAULT_PROMPT


#: The fixtures that start or need a real vLLM server, each registered where it is defined
#: (with :func:`server_fixture`). conftest gives every test that uses one, directly or through
#: another fixture, the ``server`` marker; that is the only way a test joins the server tier.
SERVER_FIXTURES: set[str] = set()


def server_fixture(function: Callable | None = None, **options: Any) -> Any:
    """``pytest.fixture`` for a fixture that starts or needs a real server (same options).

    Every test that uses it, directly or through other fixtures, is in the server tier, so
    ``make test-fast`` never starts an engine: a test that does so without one fails there.
    """
    def register(function: Callable) -> Any:
        SERVER_FIXTURES.add(options.get("name", function.__name__))
        return pytest.fixture(**options)(function)

    return register(function) if function is not None else register


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


#: Given to a run a test starts (an attendee's notebooks, a subset of the suite): every server
#: that run starts inherits it, so the test finds exactly those, whatever else runs meanwhile
#: (another test session on this machine, a learner's notebook).
PROBE = "COURSE_TEST_PROBE"


def course_servers_probed(value: str) -> list:
    """Course servers (process-group leaders) whose environment has ``PROBE=value``."""
    from helpers.course import _processes
    from helpers.course.launcher import course_processes

    probed = {process.pid for process in _processes.marked(PROBE, value)}
    return [process for process in course_processes() if process.pid in probed]


@pytest.fixture
def nowhere(monkeypatch) -> str:
    """The learner's OpenAI-compatible server is a local port where nothing listens (for the
    checkers: an answer right so far goes on to the server, and the check says it is down)."""
    from helpers.course.servers import KINDS

    monkeypatch.delenv(KINDS["openai"].remote_variable, raising=False)
    monkeypatch.setenv(KINDS["openai"].port_variable, str(free_port()))
    return KINDS["openai"].url()


class ReadOnlyMapping(Mapping):
    """A read-only mapping, a dict in all but name: a right answer of another type, for the
    checkers that take a dict of fields."""

    def __init__(self, **fields):
        self._fields = fields

    def __getitem__(self, key):
        return self._fields[key]

    def __iter__(self):
        return iter(self._fields)

    def __len__(self):
        return len(self._fields)


def verdict(exercise, answer, capsys):
    """``exercise.check(answer)`` and what it printed."""
    result = exercise.check(answer)
    return result, capsys.readouterr().out


def verdict_given(exercise, answer):
    """``exercise.check(answer)``, asserting that it judged (passed or failed, not skipped)."""
    result = exercise.check(answer)
    assert result.passed is not None, result.message
    return result
