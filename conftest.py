"""Shared fixtures: the real servers, started once per test session through the launcher.

The session picks free ports for the course's servers and exports them
(``VLLM_COURSE_LEGACY_PORT`` / ``VLLM_COURSE_OPENAI_PORT``) before anything runs, so
the tests and the notebooks (whose kernels inherit the environment) share the same two
servers, and nothing depends on what else listens on 8000/8001. Whatever the session
started is stopped at its end.

Tiers: tests that need a real vLLM server carry the ``server`` marker (set here for every
test that uses a server fixture, and for every notebook); ``make test-fast`` runs the rest.
"""

from __future__ import annotations

import os
import signal
import uuid

import pytest
import requests

from helpers import _processes
from helpers.launcher import ServerHandle, start_server, stop_server
from helpers.servers import KINDS
from tests.support import free_port

SERVER_FIXTURES = {"legacy_server", "openai_server", "generate_url", "post"}
SESSION_MARK = "VLLM_COURSE_TEST_SESSION"


def pytest_configure(config: pytest.Config) -> None:
    for spec in KINDS.values():
        os.environ[spec.port_variable] = str(free_port())
        os.environ.pop(spec.remote_variable, None)  # remote servers: not this session's
    # Every process this session starts (notebook kernels, and the servers they or the tests
    # start) inherits this mark, so the session finds its servers even without state files.
    os.environ[SESSION_MARK] = uuid.uuid4().hex
    # `timeout`, a CI runner or `kill` end a run with SIGTERM, which would skip the clean-up
    # below: make it an interruption, which pytest finishes by calling pytest_unconfigure.
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop every server started during this session: the session's own, and those the
    notebooks started beside them (chapter 04's small server, chapter 10's replica and
    router), even when a failing cell never reached its clean-up or a state file is gone."""
    ours = _processes.marked(SESSION_MARK, os.environ[SESSION_MARK])
    pids = {process.pid for process in ours}
    for state in _processes.running():  # a server someone else started meanwhile stays up
        if state.pid in pids:
            stop_server(state.kind, port=state.port)
    for process in ours:
        _processes.terminate(process.pid, 30)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & SERVER_FIXTURES or item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.server)


def _session_server(kind: str):
    assert kind in KINDS
    handle = start_server(kind, progress=False)
    yield handle
    stop_server(kind, port=handle.port)


@pytest.fixture(scope="session")
def legacy_server() -> ServerHandle:
    yield from _session_server("legacy")


@pytest.fixture(scope="session")
def openai_server() -> ServerHandle:
    yield from _session_server("openai")


@pytest.fixture(scope="session")
def generate_url(legacy_server: ServerHandle) -> str:
    return legacy_server.url + "/generate"


@pytest.fixture
def post(generate_url: str):
    """POST a JSON payload (or raw bytes) to /generate and return the response."""

    def _post(payload=None, *, data: bytes | None = None, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 120)
        if data is not None:
            return requests.post(generate_url, data=data, **kwargs)
        return requests.post(generate_url, json=payload, **kwargs)

    return _post
