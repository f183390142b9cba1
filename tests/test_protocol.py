"""The protocol core without I/O: bodies, status errors, answers and streams, fed as bytes."""

from __future__ import annotations

import json

import httpx
import pytest
import requests

from helpers import _transport, aclient, client, errors, protocol
from helpers.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerUnreachableError,
    ServiceUnavailableError,
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
    monkeypatch.setenv("VLLM_API_KEY", "from-env")  # the core reads no environment
    assert "Authorization" not in protocol.request_headers(None)
    assert protocol.request_headers("k")["Authorization"] == "Bearer k"
    assert _transport.request_headers()["Authorization"] == "Bearer from-env"  # the clients do
    assert _transport.request_headers("k")["Authorization"] == "Bearer k"
    monkeypatch.delenv("VLLM_API_KEY")
    assert "Authorization" not in _transport.request_headers()


def test_the_core_reads_no_environment_and_no_clock(monkeypatch) -> None:
    """Its inputs are its arguments: the settings and the clock are the clients' to read."""
    assert not {"settings", "time", "os"} & set(vars(protocol))
    monkeypatch.setenv("VLLM_API_URL", "http://remote:9")
    assert protocol.generate_url("http://a:1/") == "http://a:1/generate"
    assert protocol.generate_url("http://a:1/generate") == "http://a:1/generate"
    assert _transport.generate_url() == "http://remote:9/generate"
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert protocol.retry_after_seconds(date, now=1445412470.0) == 10.0


@pytest.mark.parametrize(("status", "content", "kind", "message", "param", "type_"), [
    (400, b'{"error": {"message": "n must be 1", "type": "invalid_request_error", '
          b'"param": "n", "code": 400}}', BadRequestError, "n must be 1", "n",
     "invalid_request_error"),
    (401, b'{"error": {"message": "wrong key", "type": "authentication_error"}}',
     AuthenticationError, "wrong key", None, "authentication_error"),
    (500, b"Internal Server Error", InternalServerError, "Internal Server Error", None, None),
    (404, b'{"detail": "Not Found"}', NotFoundError, "{'detail': 'Not Found'}", None, None),
    (503, b'{"error": {"message": "engine stopped", "type": "engine_dead_error"}}',
     ServiceUnavailableError, "engine stopped", None, "engine_dead_error"),
    (413, b'{"error": {"message": "too large"}}', APIStatusError, "too large", None, None),
], ids=["400-json", "401", "500-text", "404-fastapi", "503", "413-no-subclass"])
def test_a_status_becomes_a_typed_error_with_the_servers_fields(status, content, kind, message,
                                                                param, type_) -> None:
    error = protocol.status_error(status, content, URL, now=0.0)
    assert type(error) is kind and isinstance(error, APIStatusError)
    assert (error.status_code, error.message) == (status, message)
    assert (error.param, error.type) == (param, type_)
    assert f"HTTP {status} from {URL}: {message}" in str(error) and "How to fix" in str(error)


@pytest.mark.parametrize(("status", "kind"), [
    (400, errors.BadRequestError), (401, errors.AuthenticationError),
    (403, errors.PermissionDeniedError), (404, errors.NotFoundError),
    (409, errors.ConflictError), (422, errors.UnprocessableEntityError),
    (429, errors.RateLimitError), (500, errors.InternalServerError),
    (502, errors.InternalServerError), (503, errors.ServiceUnavailableError),
    (504, errors.InternalServerError), (405, errors.APIStatusError),
    (413, errors.APIStatusError),
])
def test_the_status_classes_are_openai_pythons(status, kind) -> None:
    """The names and the status each stands for are openai-python's (``_exceptions.py``);
    503 has a subclass of its own, a kind of InternalServerError as in openai."""
    assert errors.status_error_class(status) is kind
    assert issubclass(errors.ServiceUnavailableError, InternalServerError)
    assert issubclass(RateLimitError, APIStatusError)


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
    with pytest.raises(StreamServerError) as info:
        reader.feed(error_line)
    assert isinstance(info.value, StreamInterruptedError)  # what chapter 04 catches
    assert info.value.partial == ["San Francisco is a city"] and info.value.url == URL
    assert info.value.server_error["type"] == "engine_dead_error"
    assert "the server said: The engine stopped" in str(info.value)


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
    assert issubclass(StreamServerError, StreamInterruptedError)
    assert issubclass(UnexpectedResponseError, ProtocolError)
    assert issubclass(StreamProtocolError, ProtocolError)
    assert not issubclass(APIStatusError, APIConnectionError | ProtocolError)


def test_the_launchers_errors_are_in_the_one_tree_and_import_from_either_place() -> None:
    from helpers.course import launcher, model
    from helpers.errors import MissingPackageError, ServerStartError  # chapter 00's import

    assert ServerStartError is launcher.ServerStartError
    assert MissingPackageError is model.MissingPackageError
    assert issubclass(ServerStartError, errors.VLLMCourseError)
    assert issubclass(MissingPackageError, errors.VLLMCourseError)


def _timeouts_of(library: str) -> dict[str, BaseException]:
    if library == "requests":
        return {"connect": requests.ConnectTimeout("x"), "read": requests.ReadTimeout("x"),
                "refused": requests.ConnectionError(ConnectionRefusedError(111, "refused"))}
    return {"connect": httpx.ConnectTimeout("x"), "read": httpx.ReadTimeout("x"),
            "refused": httpx.ConnectError("All connection attempts failed")}


@pytest.mark.parametrize("library", ["requests", "httpx"])
def test_one_transport_policy_for_both_libraries(library) -> None:
    """The same failure of either library becomes the same course error (one function)."""
    sorted_errors = client._ERRORS if library == "requests" else aclient._ERRORS
    raised = _timeouts_of(library)

    def course_error(exc: BaseException) -> APIConnectionError:
        assert isinstance(exc, sorted_errors.sending)  # what the client catches
        return protocol.request_error(exc, URL, sorted_errors, connect_timeout=5,
                                      read_timeout=120)

    connect = course_error(raised["connect"])
    assert type(connect) is RequestTimeoutError and "connection timed out after 5 s" in str(connect)
    read = course_error(raised["read"])
    assert type(read) is RequestTimeoutError and "answer timed out after 120 s" in str(read)
    refused = course_error(raised["refused"])
    assert type(refused) is ServerUnreachableError


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
    error = protocol.status_error(503, b'{"error": {"message": "busy"}}', URL, headers,
                                  now=1445412480.0)  # 07:28:00 GMT that day: no wait
    assert error.retry_after == seconds
