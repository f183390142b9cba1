"""The legacy ``/generate`` protocol without I/O: what both clients send and how they read it.

Introduced in chapter 04 (chapter 06 uses it again through the async client). The
synchronous client (:mod:`helpers.client`, on ``requests``) and the asynchronous one
(:mod:`helpers.aclient`, on ``httpx``) only move bytes; everything they decide — the
request body and headers, which typed error an HTTP status or a transport failure
becomes, how a whole answer and a stream are parsed, what a broken stream keeps — is
decided here, once, so the two clients cannot drift apart.

Every function here is pure: it reads no environment variable and no clock. What depends
on them (the server's URL, the API key, the time a ``Retry-After`` date is counted from)
the clients resolve through :mod:`helpers._transport` and pass in. Tested by feeding bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from helpers.errors import (
    APIConnectionError,
    APIStatusError,
    RequestTimeoutError,
    ServerUnreachableError,
    UnexpectedResponseError,
    status_error_class,
)
from helpers.stream import SnapshotReader

__all__ = [
    "CONNECT_TIMEOUT",
    "DEFAULT_MAX_TOKENS",
    "READ_TIMEOUT",
    "USER_AGENT",
    "LibraryErrors",
    "SnapshotReader",
    "connection_reason",
    "generate_url",
    "parse_answer",
    "request_body",
    "request_error",
    "request_headers",
    "retry_after_seconds",
    "status_error",
]

#: Seconds to wait for a connection, and between two pieces of an answer (a slow CPU
#: server between two tokens, or a whole non-streamed answer).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0
USER_AGENT = "vllm-course-client"
#: What ``generate`` and ``agenerate`` ask for unless told (the legacy server's own default).
DEFAULT_MAX_TOKENS = 16


def generate_url(base_url: str) -> str:
    """The ``/generate`` URL of ``base_url`` (which may already end in ``/generate``)."""
    base = base_url.rstrip("/")
    return base if base.endswith("/generate") else base + "/generate"


def request_body(prompt: str, n: int, stream: bool, fields: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of one ``/generate`` request: the prompt, ``n``, ``stream``, the fields."""
    return {"prompt": prompt, "n": n, "stream": stream,
            **{name: value for name, value in fields.items()
               if name not in ("prompt", "n", "stream")}}


def request_headers(api_key: str | None) -> dict[str, str]:
    """Headers of every request: who is asking, and the API key when there is one."""
    headers = {"User-Agent": USER_AGENT}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


def status_error(status_code: int, content: bytes, url: str,
                 headers: Mapping[str, str] | None = None, *, now: float) -> APIStatusError:
    """The typed error for an HTTP error answer (:func:`~helpers.errors.status_error_class`
    picks the class), with the server's message, param and type, and ``retry_after``
    (seconds) when the server sent a ``Retry-After`` header; ``now`` is the time (epoch
    seconds) a ``Retry-After`` date is counted from."""
    try:
        body: object = json.loads(content)
    except ValueError:
        body = content[:500].decode("utf-8", "replace")
    retry_after = retry_after_seconds((headers or {}).get("retry-after"), now=now)
    return status_error_class(status_code)(status_code, body, url, retry_after=retry_after)


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """A ``Retry-After`` header in seconds (the header may also be an HTTP date, counted
    from ``now``, in epoch seconds)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, moment.timestamp() - now)


def parse_answer(content: bytes, url: str) -> list[str]:
    """The candidate texts of a whole (non-streamed) answer ``{"text": [...]}``."""
    try:
        data = json.loads(content)
    except ValueError as exc:
        snippet = content[:80].decode("utf-8", "replace")
        raise UnexpectedResponseError(url, f"not JSON ({snippet!r})") from exc
    texts = data.get("text") if isinstance(data, dict) else None
    if not isinstance(texts, list):
        raise UnexpectedResponseError(url, f'no "text" list in {str(data)[:80]!r}')
    return texts


@dataclass(frozen=True)
class LibraryErrors:
    """What an HTTP library raises, sorted for :func:`request_error` (each client has one).

    ``sending``: what sending a request and waiting for its answer may raise; ``reading``:
    what reading an answer that has begun may raise; ``connect_timeout`` and ``timeout``:
    its timeouts (``timeout`` covers every kind).
    """

    sending: tuple[type[BaseException], ...]
    reading: tuple[type[BaseException], ...]
    connect_timeout: type[BaseException]
    timeout: type[BaseException]


def request_error(exc: BaseException, url: str, library: LibraryErrors, *,
                  connect_timeout: object, read_timeout: object) -> APIConnectionError:
    """The course's error for a transport failure before any answer came back.

    One policy for both clients: a connection that took too long is a
    :class:`~helpers.errors.RequestTimeoutError` of the connection, any other timeout one of
    waiting for the answer (the timeouts are the seconds that ran out, for the message), and
    everything else (refused, unknown host, reset) a
    :class:`~helpers.errors.ServerUnreachableError` with a short reason. A failure after the
    answer began is the stream's: :meth:`SnapshotReader.interrupted` keeps what was read.
    """
    if isinstance(exc, library.connect_timeout):
        return RequestTimeoutError(url, "connection", connect_timeout)
    if isinstance(exc, library.timeout):
        return RequestTimeoutError(url, "wait for the answer", read_timeout)
    return ServerUnreachableError(url, connection_reason(exc))


_REASONS = ("Connection refused", "Name or service not known", "Connection reset",
            "IncompleteRead", "Response ended prematurely", "Read timed out",
            "Connection broken", "Failed to resolve", "peer closed connection",
            "incomplete chunked read", "timed out")


def connection_reason(exc: BaseException) -> str:
    """A short reason for a transport error: libraries wrap theirs in long messages, and
    httpx says "All connection attempts failed" over the ``ConnectionRefusedError`` it caught."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for error in chain:
        if isinstance(error, ConnectionRefusedError):
            return "Connection refused"
        if isinstance(error, ConnectionResetError):
            return "Connection reset"
    for error in chain:
        for marker in _REASONS:
            if marker in str(error):
                return marker
    return str(exc)[:160] or type(exc).__name__
