"""Shared fixtures: the real servers, started once per test session through the launcher.

The session picks free ports for the course's servers and exports them
(``VLLM_COURSE_LEGACY_PORT`` / ``VLLM_COURSE_OPENAI_PORT``) before anything runs, so
the tests and the notebooks (whose kernels inherit the environment) share the same two
servers, and nothing depends on what else listens on 8000/8001. Whatever the session
started is stopped at its end.

Tiers: tests that need a real vLLM server carry the ``server`` marker, set here for every
notebook and for every test that uses a fixture registered with
:func:`tests.support.server_fixture` (where the fixture is defined), and for nothing else;
``make test-fast`` runs the rest. A test outside the tier that starts a server fails.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
import uuid

import pytest
import requests

from helpers import settings
from helpers.course import _processes
from helpers.course.launcher import ServerHandle, start_server, start_servers, stop_server
from helpers.course.ports import free_port
from helpers.course.servers import KINDS
from helpers.course.spawn import START_LOG
from tests.support import SERVER_FIXTURES, server_fixture

SESSION_MARK = "VLLM_COURSE_TEST_SESSION"


#: Set to 1 to keep the port variables already set and use the servers that answer there
#: (started by hand with ``python -m helpers.course start KIND --port N``): several test
#: runs at once on one machine then share two engines instead of starting two each.
REUSE = "VLLM_COURSE_TEST_REUSE_SERVERS"


def pytest_configure(config: pytest.Config) -> None:
    reuse = os.environ.get(REUSE) == "1"
    for spec in KINDS.values():
        if not (reuse and os.environ.get(spec.port_variable)):
            os.environ[spec.port_variable] = str(free_port())
        os.environ.pop(spec.remote_variable, None)  # remote servers: not this session's
    # Every process this session starts (notebook kernels, and the servers they or the tests
    # start) inherits this mark, so the session finds its servers even without state files.
    os.environ[SESSION_MARK] = uuid.uuid4().hex
    # Every server start of the run, in this process or any it starts, is written here.
    starts = tempfile.NamedTemporaryFile("w", prefix="vllm-course-starts-", suffix=".txt",
                                         delete=False)
    starts.close()
    os.environ[START_LOG] = starts.name
    # `timeout`, a CI runner or `kill` end a run with SIGTERM, which would skip the clean-up
    # below: make it an interruption, which pytest finishes by calling pytest_unconfigure.
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """The run's server starts: engines cost most of the suite's time (two vLLM imports each)."""
    path = os.environ.get(START_LOG)
    if not path or not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as log:
        starts = [line.split() for line in log if line.strip()]
    os.unlink(path)
    kinds = [start[0] for start in starts]
    engines = [start for start in starts if KINDS[start[0]].serves_model]
    failed = [start for start in engines if start[3:] == ["failed"]]
    by_kind = ", ".join(f"{kind} {kinds.count(kind)}" for kind in KINDS if kind in kinds)
    terminalreporter.write_line(
        f"Server starts in this run: {len(engines)} engines ({len(engines) - len(failed)} "
        f"healthy, {len(failed)} failed to start), {len(kinds) - len(engines)} others "
        f"({by_kind or 'none'}).")
    places = [start[2] for start in engines]
    for place in sorted(set(places), key=lambda place: (-places.count(place), place)):
        failures = sum(start[2] == place for start in failed)
        terminalreporter.write_line(f"  engines started by {place}: {places.count(place)}"
                                    + (f" ({failures} failed)" if failures else ""))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop every server started during this session: the session's own, and those the
    notebooks started beside them (chapter 04's small server, chapter 10's replica and
    router), even when a failing cell never reached its clean-up or a state file is gone."""
    _stop_session_servers(since=0.0)


def _stop_session_servers(since: float) -> None:
    """Stop the servers this session started after ``since``: those that carry the session's
    mark, by their state files first, then any marked process left (a server whose state file
    is gone). A server someone else started meanwhile is not ours and stays up."""
    mine = [process for process in _processes.marked(SESSION_MARK, os.environ[SESSION_MARK])
            if process.create_time() >= since - 1]
    pids = {process.pid for process in mine}
    for state in _processes.running():
        if state.pid in pids:
            stop_server(state.kind, port=state.port)
    for process in mine:
        _processes.terminate(process.pid, 30)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if uses_a_server(item):
            item.add_marker(pytest.mark.server)


def uses_a_server(item: pytest.Item) -> bool:
    """A notebook, or a test whose fixtures (with theirs) include a registered server fixture."""
    return item.path.suffix == ".ipynb" or bool(
        set(getattr(item, "fixturenames", ())) & SERVER_FIXTURES)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Outside the server tier, starting a server fails the test instead of starting one."""
    if item.get_closest_marker("server") is not None:
        yield
        return
    spawn = _processes.spawn

    def refuse(command: list[str], *args, **kwargs):
        pytest.fail(f"{item.nodeid} starts a server ({' '.join(command[:3])} ...) but is not in "
                    "the server tier: take the server from a fixture declared with "
                    "tests.support.server_fixture (or ask for `starts_servers`).", pytrace=False)

    _processes.spawn = refuse
    try:
        yield
    finally:
        _processes.spawn = spawn


@server_fixture(scope="session")
def session_servers(request: pytest.FixtureRequest) -> dict[str, ServerHandle]:
    """The session's servers that the selected tests use (through ``legacy_server`` and
    ``openai_server``), started together when a test first needs one: each start is mostly
    one process importing vLLM on one core (launcher.start_servers)."""
    used = {name for item in request.session.items
            for name in getattr(item, "fixturenames", ())}
    kinds = [kind for kind in ("legacy", "openai") if f"{kind}_server" in used]
    # The OpenAI server calls tools from the start, as chapter 11 restarts it: the chapter
    # and the checker tests of chapter 11 then use it as it is, without another engine start.
    options = {"legacy": {}, "openai": {"extra_args": list(settings.TOOL_CALLING_ARGS)}}
    handles = dict(zip(kinds, start_servers([dict(kind=kind, **options[kind]) for kind in kinds],
                                            progress=False), strict=True))
    yield handles
    for kind, handle in handles.items():
        if handle.started:  # a server that was already running is not the session's
            stop_server(kind, port=handle.port)


@server_fixture
def legacy_server(session_servers) -> ServerHandle:
    return current(session_servers["legacy"])


@server_fixture
def openai_server(session_servers) -> ServerHandle:
    return current(session_servers["openai"])


def current(handle: ServerHandle) -> ServerHandle:
    """The session's server on ``handle``'s port as it is now: a test may kill it and start
    its replacement (tests/test_reliability.py, tests/test_engine_death.py kill the session's
    legacy server rather than one of their own, an engine start fewer each), and one killed and
    not yet replaced is replaced here, with the arguments it had."""
    if not handle.started:  # not the session's (VLLM_COURSE_TEST_REUSE_SERVERS): as it is
        return handle
    return start_server(handle.kind, port=handle.port, progress=False)


@server_fixture(scope="session")
def small_server_port():
    port = free_port()
    yield port
    stop_server("legacy", port=port)


@server_fixture
def small_server(small_server_port: int) -> ServerHandle:
    """A legacy server that holds one request at most (``--max-pending 1``), shared by the
    tests that need one: tests/test_api_server.py sheds load on it, then
    tests/test_engine_death.py kills its engine with that one request in flight (one engine
    start for both; started again if a test finds it dead)."""
    return start_server("legacy", port=small_server_port, extra_args=["--max-pending", "1"],
                        progress=False)


@server_fixture
def starts_servers():
    """For a test that starts servers itself (the launcher, a subprocess): it joins the server
    tier, and every server of this session that the test left running is stopped after it."""
    started = time.time()
    yield
    _stop_session_servers(since=started)


@pytest.fixture(scope="session")
def generate_url(session_servers: dict[str, ServerHandle]) -> str:
    """The session's legacy /generate URL (a replacement of the server keeps its port)."""
    return session_servers["legacy"].url + "/generate"


@pytest.fixture
def post(generate_url: str, legacy_server: ServerHandle):
    """POST a JSON payload (or raw bytes) to /generate and return the response (asking for
    ``legacy_server`` replaces the session's server first if a test left it dead)."""

    def _post(payload=None, *, data: bytes | None = None, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 120)
        if data is not None:
            return requests.post(generate_url, data=data, **kwargs)
        return requests.post(generate_url, json=payload, **kwargs)

    return _post
