"""The protocol core without I/O: bodies, status errors, answers and streams, fed as bytes."""

from __future__ import annotations

import json

import pytest

from helpers import protocol
from helpers.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    ProtocolError,
    RequestTimeoutError,
    ServerUnreachableError,
    StreamInterruptedError,
    StreamProtocolError,
    StreamServerError,
    UnexpectedResponseError,
)

URL = "http://server/generate"


def test_the_body_keeps_the_legacy_shape_and_its_own_fields_win() -> None:
    body = protocol.request_body("Hi", 2, True, {"max_tokens": 4, "stream": False, "n": 9})
    assert body == {"prompt": "Hi", "n": 2, "stream": True, "max_tokens": 4}


def test_headers_carry_the_key_only_when_there_is_one(monkeypatch) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    assert "Authorization" not in protocol.request_headers()
    assert protocol.request_headers("k")["Authorization"] == "Bearer k"
    monkeypatch.setenv("VLLM_API_KEY", "from-env")
    assert protocol.request_headers()["Authorization"] == "Bearer from-env"


@pytest.mark.parametrize(("status", "content", "kind", "message", "param", "type_"), [
    (400, b'{"error": {"message": "n must be 1", "type": "invalid_request_error", '
          b'"param": "n", "code": 400}}', APIStatusError, "n must be 1", "n",
     "invalid_request_error"),
    (401, b'{"error": {"message": "wrong key", "type": "authentication_error"}}',
     AuthenticationError, "wrong key", None, "authentication_error"),
    (500, b"Internal Server Error", APIStatusError, "Internal Server Error", None, None),
    (404, b'{"detail": "Not Found"}', APIStatusError, "{'detail': 'Not Found'}", None, None),
    (503, b'{"error": {"message": "engine stopped", "type": "engine_dead_error"}}',
     APIStatusError, "engine stopped", None, "engine_dead_error"),
], ids=["400-json", "401", "500-text", "404-fastapi", "503"])
def test_a_status_becomes_a_typed_error_with_the_servers_fields(status, content, kind, message,
                                                                param, type_) -> None:
    error = protocol.status_error(status, content, URL)
    assert type(error) is kind
    assert (error.status_code, error.message) == (status, message)
    assert (error.param, error.type) == (param, type_)
    assert f"HTTP {status} from {URL}: {message}" in str(error) and "How to fix" in str(error)


def test_a_whole_answer_is_parsed_or_refused_with_its_start() -> None:
    assert protocol.parse_answer(b'{"text": ["Hi there"]}', URL) == ["Hi there"]
    with pytest.raises(UnexpectedResponseError, match="not JSON"):
        protocol.parse_answer(b"# HELP vllm:num_requests_running", URL)
    with pytest.raises(UnexpectedResponseError, match='no "text" list'):
        protocol.parse_answer(b'{"choices": []}', URL)


def lines(*snapshots: list[str]) -> bytes:
    return b"".join(json.dumps({"text": s}).encode() + b"\n" for s in snapshots)


@pytest.mark.parametrize("split", range(1, 40))
def test_a_stream_split_anywhere_gives_the_same_snapshots(split) -> None:
    data = lines(["Caf"], ["Café"], ["Café 🌉"]).replace(b"\\u00e9", "é".encode())
    reader = protocol.SnapshotReader(URL)
    got = reader.feed(data[:split]) + reader.feed(data[split:]) + reader.finish()
    assert [s[0] for s in got] == ["Caf", "Café", "Café 🌉"]
    assert reader.partial == ["Café 🌉"]


def test_a_last_line_without_delimiter_is_kept() -> None:
    reader = protocol.SnapshotReader(URL)
    assert reader.feed(b'{"text": ["a"]}\n{"text": ["ab"]}') == [["a"]]
    assert reader.finish() == [["ab"]]


def test_an_error_object_ends_the_stream_with_the_partial_text() -> None:
    reader = protocol.SnapshotReader(URL)
    reader.feed(lines(["San Francisco is a"], ["San Francisco is a city"]))
    error_line = b'{"error": {"message": "The engine stopped", "type": "engine_dead_error"}}\n'
    with pytest.raises(StreamInterruptedError) as info:
        reader.feed(error_line)
    assert info.value.partial == ["San Francisco is a city"]
    assert info.value.server_error["type"] == "engine_dead_error"
    assert "the server said: The engine stopped" in str(info.value)
    assert isinstance(info.value.__cause__, StreamServerError)


def test_a_transport_failure_keeps_the_partial_text() -> None:
    reader = protocol.SnapshotReader(URL)
    reader.feed(lines(["a"], ["ab"]))
    error = reader.interrupted("Connection broken")
    assert error.partial == ["ab"] and "Connection broken" in str(error)


def test_a_garbled_line_is_a_protocol_error() -> None:
    with pytest.raises(StreamProtocolError, match="not valid JSON"):
        protocol.SnapshotReader(URL).feed(b'{"text": ["a"]}{"text": ["ab"]}\n')


def test_the_error_families() -> None:
    """Retry what may pass (connection errors), fix what will not (status, protocol)."""
    assert issubclass(ServerUnreachableError, APIConnectionError)
    assert issubclass(RequestTimeoutError, APIConnectionError)
    assert issubclass(StreamInterruptedError, APIConnectionError)
    assert issubclass(UnexpectedResponseError, ProtocolError)
    assert issubclass(StreamProtocolError, ProtocolError)
    assert not issubclass(APIStatusError, APIConnectionError | ProtocolError)


@pytest.mark.parametrize(("text", "reason"), [
    ("HTTPConnectionPool(...): Max retries exceeded (Caused by NewConnectionError(... "
     "[Errno 111] Connection refused))", "Connection refused"),
    ("peer closed connection without sending complete message body (incomplete chunked read)",
     "peer closed connection"),
    ("", "OSError"),
])
def test_connection_reasons_are_short(text, reason) -> None:
    assert protocol.connection_reason(OSError(text) if text else OSError()) == reason


def test_the_reason_is_found_under_a_librarys_wrapping() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "Connect call failed")
        except OSError as inner:
            raise RuntimeError("All connection attempts failed") from inner
    except RuntimeError as outer:
        assert protocol.connection_reason(outer) == "Connection refused"


@pytest.mark.parametrize(("header", "seconds"), [
    (None, None), ("2", 2.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: retry now
])
def test_retry_after_is_read_in_seconds(header, seconds) -> None:
    headers = {"retry-after": header} if header is not None else {}
    error = protocol.status_error(503, b'{"error": {"message": "busy"}}', URL, headers)
    assert error.retry_after == seconds
