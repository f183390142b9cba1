"""A dead engine is never silent (issue 13): against a real server whose engine core is killed.

``kill -9`` of the ``VLLM::EngineCore`` process (the API process left alone) must leave
every client with a visibly broken answer: a stream ends with one error line and a
transfer without its chunked terminator, a request in flight gets 503
``engine_dead_error``, and the server process exits with a non-zero status a few
seconds later; the course's client raises its typed error with the partial text, and the
launcher replaces the dead server. Each scenario kills a server the session has anyway: the
first kills the session's legacy server, whose replacement (the second scenario) is the
session's from then on; the third kills the small server (``--max-pending 1``) of
tests/test_api_server.py, at its last use. The module starts one engine for two kills.
Generated text is never compared with a fixed string.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from helpers import client
from helpers.course import _processes
from helpers.course.launcher import ServerHandle, start_server, stop_server
from helpers.course.ports import free_port
from helpers.errors import StreamInterruptedError, StreamServerError
from helpers.metrics import wait_for_running
from tests.support import PROMPT, group_alive, record, server_fixture

LONG = {"prompt": PROMPT, "max_tokens": 400, "ignore_eos": True}
EXIT_LINE = "The engine stopped ("


# --- fixtures and helpers ------------------------------------------------------------------

@server_fixture(scope="module")
def port(session_servers):
    """Where the first two scenarios kill and replace a server: the session's legacy server's
    port, or, when the session uses servers it did not start (``VLLM_COURSE_TEST_REUSE_SERVERS``,
    shared by other runs), a port of the module's own, whose server is stopped at the end."""
    if session_servers["legacy"].started:
        yield session_servers["legacy"].port
        return
    port = free_port()
    try:
        yield port
    finally:
        stop_server("legacy", port=port)


@server_fixture
def server(port):
    """A healthy legacy server on the module's port (the session's, or its replacement)."""
    return start_server("legacy", port=port, progress=False)


@server_fixture
def dead_server(port):
    """The server on the module's port once its engine was killed and it exited: the one the
    first scenario killed, or one killed here."""
    state = _processes.read("legacy", port)
    if state is None or _processes.runs(state):
        handle = start_server("legacy", port=port, progress=False)
        kill_engine_core(handle)
        assert_exited_with_an_error(handle)
        return handle
    return ServerHandle.of(state)


def kill_engine_core(handle: ServerHandle) -> float:
    """``kill -9`` the server's ``VLLM::EngineCore`` child; return the time of the kill."""
    import psutil

    for child in psutil.Process(handle.pid).children(recursive=True):
        try:
            if "EngineCore" in child.name() or "EngineCore" in " ".join(child.cmdline()):
                os.kill(child.pid, signal.SIGKILL)
                return time.monotonic()
        except psutil.Error:
            continue
    raise AssertionError(f"no EngineCore process among the children of {handle.pid}")


def wait_for_exit(handle: ServerHandle, within: float) -> int | None:
    """Wait for the server process to end; its exit status, or None where we cannot reap it.

    ``psutil.Process.wait`` returns the status only for our own children (the launcher's
    ``Popen`` makes the server one, unless something reaped it first).
    """
    import psutil

    try:
        return psutil.Process(handle.pid).wait(timeout=within)
    except psutil.NoSuchProcess:
        return None
    except psutil.TimeoutExpired:
        raise AssertionError(f"the server outlived its engine by {within:.0f} s:\n"
                             f"{handle.log_tail(30)}") from None


def assert_exited_with_an_error(handle: ServerHandle, within: float = 20.0) -> None:
    """The server process and every process of its group end, with a non-zero status."""
    status = wait_for_exit(handle, within)
    log = handle.log_path.read_text()
    exit_lines = [line for line in log.splitlines() if EXIT_LINE in line]
    assert exit_lines, f"no '{EXIT_LINE}...' line in the log:\n{handle.log_tail(30)}"
    assert "the server exits with status 1" in exit_lines[0]
    if status is not None:
        assert status == 1, f"exit status {status}, expected 1"
    deadline = time.monotonic() + 15
    while group_alive(handle.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(handle.pid), "a process of the server outlived it"


def assert_engine_dead_error(error: dict) -> None:
    """The error object a request gets once the engine died: what, why, and how to fix it."""
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "engine_dead_error"
    assert error["code"] == 503 and error["param"] is None
    message = error["message"]
    assert message.startswith("The engine stopped (") and "EngineDeadError" in message
    assert "start_server()" in message and "python -m helpers.api_server" in message


def assert_cumulative_texts(lines: list[dict]) -> None:
    """Each line before the error holds the prompt plus a growing completion."""
    texts = [line["text"][0] for line in lines]
    assert texts and all(text.startswith(PROMPT) for text in texts)
    assert all(later.startswith(earlier) for earlier, later in zip(texts, texts[1:], strict=False))


# --- the clients, each in a thread ---------------------------------------------------------

def example_client_loop(url: str, seen: dict) -> None:
    """vLLM's old example client, verbatim in spirit: no error handling at all."""
    try:
        response = requests.post(url, json={**LONG, "stream": True}, stream=True, timeout=120)
        for chunk in response.iter_lines(chunk_size=8192, decode_unicode=False,
                                         delimiter=b"\n"):
            if chunk:
                data = json.loads(chunk.decode("utf-8"))
                seen["output"] = data["text"]
        seen["outcome"] = "finished"
    except Exception as exc:
        seen["outcome"] = exc


def http_client_stream(url: str, seen: dict) -> None:
    """The standard library's ``http.client`` reading the whole body, as curl does.

    (Its ``readline()`` would not do: on a chunked body it takes a missing terminator for
    the end of the answer, so a line-reading client sees the error line but no exception.)
    """
    parts = requests.utils.urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    connection.request("POST", parts.path, body=json.dumps({**LONG, "stream": True}),
                       headers={"Content-Type": "application/json"})
    try:
        seen["body"] = connection.getresponse().read()
        seen["outcome"] = "finished"
    except Exception as exc:
        seen["outcome"] = exc
    finally:
        connection.close()


def course_client_stream(url: str, seen: dict) -> None:
    """The course's own client: a typed error that keeps the partial text."""
    try:
        response = client.post_http_request(PROMPT, url, stream=True, max_tokens=400,
                                            ignore_eos=True)
        for _ in client.get_streaming_response(response):
            pass
        seen["outcome"] = "finished"
    except Exception as exc:
        seen["outcome"] = exc
        seen["at"] = time.monotonic()


def start_curl(url: str, output: Path) -> subprocess.Popen:
    assert shutil.which("curl"), "this test runs curl, as a learner would: install curl"
    return subprocess.Popen(
        ["curl", "-sS", "-N", "-o", str(output), url, "-H", "Content-Type: application/json",
         "-d", json.dumps({**LONG, "stream": True})],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# --- the scenarios -------------------------------------------------------------------------

def test_a_stream_broken_by_a_dead_engine_is_visibly_broken_for_every_client(
        server, tmp_path) -> None:
    url = server.url + "/generate"
    curl = start_curl(url, tmp_path / "curl.out")
    example, stdlib, course = {}, {}, {}
    threads = [threading.Thread(target=example_client_loop, args=(url, example)),
               threading.Thread(target=http_client_stream, args=(url, stdlib)),
               threading.Thread(target=course_client_stream, args=(url, course))]
    for thread in threads:
        thread.start()
    # Every client's stream is under way before the engine dies: a request that arrived
    # after the death would get a plain 503, a complete answer (curl once did, under load).
    assert wait_for_running(server.url, 4) == 4, "the four clients' streams did not all start"

    lines, killed_at = [], None
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        with requests.post(url, json={**LONG, "stream": True}, stream=True,
                           timeout=120) as response:
            assert response.status_code == 200
            for chunk in response.iter_lines(delimiter=b"\n"):
                if chunk:
                    lines.append(json.loads(chunk))
                if len(lines) == 10 and killed_at is None:
                    killed_at = kill_engine_core(server)
    assert killed_at is not None, "the stream ended before the engine could be killed"
    assert time.monotonic() - killed_at < 30
    record("engine_kill_to_error_seconds", round(time.monotonic() - killed_at, 3))

    assert_engine_dead_error(lines[-1]["error"])
    assert_cumulative_texts(lines[:-1])

    for thread in threads:
        thread.join(60)
    assert isinstance(example["outcome"], KeyError | requests.exceptions.ChunkedEncodingError), (
        f"vLLM's example client loop ended with {example['outcome']!r}")
    assert isinstance(stdlib["outcome"], http.client.IncompleteRead), stdlib["outcome"]
    assert_engine_dead_error(json.loads(stdlib["outcome"].partial.splitlines()[-1])["error"])
    error = course["outcome"]
    assert isinstance(error, StreamServerError), error  # the server's error line: its own type
    assert isinstance(error, StreamInterruptedError)  # what chapter 04 catches
    assert error.partial[0].startswith(PROMPT) and len(error.partial[0]) > len(PROMPT)
    assert_engine_dead_error(error.server_error)
    assert "the server said: The engine stopped" in str(error)
    _, stderr = curl.communicate(timeout=60)
    assert curl.returncode != 0, "curl saw a complete transfer"
    assert b"transfer closed" in stderr, stderr
    last = (tmp_path / "curl.out").read_bytes().splitlines()[-1]
    assert_engine_dead_error(json.loads(last)["error"])

    assert_exited_with_an_error(server)
    record("engine_kill_to_exit_seconds", round(time.monotonic() - killed_at, 1))


def test_the_launcher_replaces_a_server_whose_engine_died(dead_server, capsys) -> None:
    """The replacement stays up: it is the session's legacy server from then on."""
    capsys.readouterr()
    asked_at = time.monotonic()
    fresh = start_server("legacy", port=dead_server.port, progress=True)
    record("dead_server_to_healthy_replacement_seconds", round(time.monotonic() - asked_at, 1))
    assert fresh.started and fresh.pid != dead_server.pid
    told = capsys.readouterr().err
    assert "has exited" in told and "EngineDeadError" in told and "Starting a fresh one" in told
    assert client.generate(PROMPT, fresh.url, max_tokens=2)[0].startswith(PROMPT)


def test_a_request_in_flight_gets_503_and_the_server_exits(small_server) -> None:
    server = small_server  # one request in flight is all it holds
    url = server.url + "/generate"
    answer: dict = {}
    request = threading.Thread(
        target=lambda: answer.update(response=requests.post(url, json=LONG, timeout=120)))
    request.start()
    assert wait_for_running(server.url, 1, within=30) == 1, "the request never started running"

    killed_at = kill_engine_core(server)
    request.join(60)
    assert time.monotonic() - killed_at < 30
    response = answer["response"]
    assert response.status_code == 503, response.text
    assert_engine_dead_error(response.json()["error"])

    # Until it exits, the server answers 503 to everyone (it may be gone already).
    for method, path, body in [("GET", "/health", None), ("POST", "/generate", {"prompt": "Hi"})]:
        try:
            late = requests.request(method, server.url + path, json=body, timeout=10)
        except requests.ConnectionError:
            continue
        assert late.status_code == 503, late.text
        assert_engine_dead_error(late.json()["error"])

    assert_exited_with_an_error(server)


# --- the stream guard on its own (no server): every mid-stream failure, not only death ----

def test_the_stream_guard_sends_an_error_line_then_breaks_the_transfer() -> None:
    import asyncio

    from helpers.api_server.asgi import StreamAborted, guard_stream
    from helpers.api_server.messages import error_body

    async def failing():
        yield b'{"text": ["a"]}\n'
        raise RuntimeError("boom")

    def on_error(exc: Exception) -> dict:
        return error_body(500, f"failed: {exc}", kind="internal_error")

    async def collect(lines) -> list[bytes]:
        return [line async for line in guard_stream(lines, on_error)]

    received: list[bytes] = []

    async def run() -> None:
        async for line in guard_stream(failing(), on_error):
            received.append(line)

    with pytest.raises(StreamAborted):
        asyncio.run(run())
    assert received[0] == b'{"text": ["a"]}\n' and received[-1].endswith(b"\n")
    assert json.loads(received[-1]) == {"error": {"message": "failed: boom", "type":
                                                  "internal_error", "param": None, "code": 500}}

    async def fine():
        yield b'{"text": ["a"]}\n'

    assert asyncio.run(collect(fine())) == [b'{"text": ["a"]}\n']
