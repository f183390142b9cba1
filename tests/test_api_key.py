"""A workshop server with an API key: 401 without it on every route but /health."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import pytest
import requests

from helpers import aclient, client
from helpers.errors import AuthenticationError
from tests.support import group_alive, own_server, server_fixture

KEY = "course-test-key-5f1c9b"


@server_fixture(scope="module")
def keyed_server():
    with own_server("legacy", api_key=KEY) as handle:
        yield handle


@pytest.fixture
def keyed_server_to_stop(keyed_server):
    """The module's keyed server, for the module's last test, which stops it (a server of that
    test's own would cost an engine start for one stop)."""
    return keyed_server


def test_health_is_open(keyed_server) -> None:
    assert requests.get(keyed_server.health_url, timeout=10).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": KEY}], ids=["none", "wrong", "no-bearer"])
@pytest.mark.parametrize(("method", "path"), [("POST", "/generate"), ("GET", "/metrics"),
                                              ("GET", "/docs")])
def test_every_other_route_needs_the_key(keyed_server, headers, method, path) -> None:
    response = requests.request(method, keyed_server.url + path, headers=headers,
                                json={"prompt": "Hi"}, timeout=30)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_the_right_key_works_and_the_client_sends_it(keyed_server, monkeypatch) -> None:
    url = keyed_server.url + "/generate"
    assert client.get_response(client.post_http_request("Hi", url, max_tokens=2, api_key=KEY))
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    assert client.get_response(client.post_http_request("Hi", url, max_tokens=2))


def test_the_async_client_takes_the_key_per_call(keyed_server, monkeypatch) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    url = keyed_server.url + "/generate"

    async def ask(key: str | None) -> list[str]:
        async with httpx.AsyncClient(timeout=aclient.DEFAULT_TIMEOUT) as http:
            return await aclient.agenerate("Hi", url, http=http, max_tokens=2, api_key=key)

    assert asyncio.run(ask(KEY))[0].startswith("Hi")
    with pytest.raises(AuthenticationError) as info:
        asyncio.run(ask(None))
    assert info.value.type == "authentication_error" and KEY not in str(info.value)


def test_a_missing_key_is_an_authentication_error_with_a_hint(keyed_server, monkeypatch) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    with pytest.raises(AuthenticationError) as info:
        client.post_http_request("Hi", keyed_server.url + "/generate")
    assert "VLLM_API_KEY" in str(info.value) and KEY not in str(info.value)


def test_the_key_is_never_logged_nor_on_the_command_line(keyed_server) -> None:
    requests.post(keyed_server.url + "/generate", json={"prompt": "Hi", "max_tokens": 2},
                  headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert keyed_server.log_path.read_text().count(KEY) == 0
    assert KEY not in " ".join(keyed_server.command)
    assert "API key required" in keyed_server.log_path.read_text()


def test_sigterm_to_the_server_process_stops_it_and_its_engine(keyed_server_to_stop) -> None:
    """`kill PID` (SIGTERM to the API process alone, not its group) must not orphan the
    engine core: the server shuts the engine down before it exits."""
    server = keyed_server_to_stop
    os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while group_alive(server.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(server.pid), "a process of the server outlived SIGTERM"
    log = server.log_path.read_text()
    assert "Finished server process" in log  # uvicorn's last words on a clean shutdown
    with pytest.raises(requests.ConnectionError):
        requests.get(server.health_url, timeout=5)
