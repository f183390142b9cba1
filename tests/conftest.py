"""Shared fixtures: the real servers, started once per test session through the launcher.

The legacy server on port 8000 is the one the notebooks use too, so a test run
followed by the notebooks (or the other way round) starts it only once. Servers
the session started are stopped at its end; servers it found running are left.
"""

from __future__ import annotations

import pytest
import requests

from helpers.launcher import ServerHandle, start_server, stop_server

PROMPT = "San Francisco is a"


def _session_server(kind: str):
    """Start (or reuse) a server for the test session; stop it only if this session started it."""
    handle = start_server(kind, progress=False)
    yield handle
    if handle.started:
        stop_server(kind)


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
