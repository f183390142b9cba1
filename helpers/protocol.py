"""The legacy ``/generate`` protocol without I/O: what both clients send and how they read it.

Introduced in chapter 04 (chapter 06 uses it again through the async client). The
synchronous client (:mod:`helpers.client`, on ``requests``) and the asynchronous one
(:mod:`helpers.aclient`, on ``httpx``) only move bytes; everything they decide — the
request body and headers, which typed error an HTTP status becomes, how a whole answer
and a stream are parsed, what a broken stream keeps — is decided here, once, so the two
clients cannot drift apart. Every function here is pure and tested by feeding it bytes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from helpers import settings
from helpers.errors import (
    APIStatusError,
    AuthenticationError,
    StreamInterruptedError,
    StreamServerError,
    UnexpectedResponseError,
)
from helpers.stream import LineDecoder, parse_snapshot

__all__ = [
    "CONNECT_TIMEOUT",
    "READ_TIMEOUT",
    "USER_AGENT",
    "SnapshotReader",
    "connection_reason",
    "generate_url",
    "parse_answer",
    "request_body",
    "request_headers",
    "retry_after_seconds",
    "status_error",
]

#: Seconds to wait for a connection, and between two pieces of an answer (a slow CPU
#: server between two tokens, or a whole non-streamed answer).
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 120.0
USER_AGENT = "vllm-course-client"


def generate_url(base_url: str | None = None) -> str:
    """The ``/generate`` URL of ``base_url`` (default: ``VLLM_API_URL`` or the local server)."""
    base = (base_url or settings.remote_legacy_url()
            or f"http://{settings.LOCAL_HOST}:{settings.legacy_port()}")
    base = base.rstrip("/")
    return base if base.endswith("/generate") else base + "/generate"


def request_body(prompt: str, n: int, stream: bool, fields: dict[str, Any]) -> dict[str, Any]:
    """The JSON body of one ``/generate`` request: the prompt, ``n``, ``stream``, the fields."""
    return {"prompt": prompt, "n": n, "stream": stream,
            **{name: value for name, value in fields.items()
               if name not in ("prompt", "n", "stream")}}


def request_headers(api_key: str | None = None) -> dict[str, str]:
    """Headers of every request: who is asking, and the API key (default ``VLLM_API_KEY``)."""
    return {"User-Agent": USER_AGENT, **settings.auth_headers(api_key)}


def status_error(status_code: int, content: bytes, url: str,
                 headers: Mapping[str, str] | None = None) -> APIStatusError:
    """The typed error for an HTTP error answer, with the server's message, param and type,
    and ``retry_after`` (seconds) when the server sent a ``Retry-After`` header."""
    try:
        body: object = json.loads(content)
    except ValueError:
        body = content[:500].decode("utf-8", "replace")
    error_type = AuthenticationError if status_code == 401 else APIStatusError
    error = error_type(status_code, body, url)
    error.retry_after = retry_after_seconds((headers or {}).get("retry-after"))
    return error


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (the header may also be an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, moment.timestamp() - time.time())


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


class SnapshotReader:
    """Turn the bytes of one streamed answer into cumulative snapshots, keeping the last.

    >>> reader = SnapshotReader("http://server/generate")
    >>> reader.feed(b'{"text": ["Hi"]}\\n{"text": ["Hi th')
    [['Hi']]
    >>> reader.feed(b'ere"]}\\n')
    [['Hi there']]
    >>> reader.partial
    ['Hi there']

    A line that is the server's error object, or a transport failure reported through
    :meth:`interrupted`, becomes :class:`StreamInterruptedError` holding :attr:`partial`.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.partial: list[str] = []
        self._decoder = LineDecoder()

    def feed(self, chunk: bytes) -> list[list[str]]:
        """The snapshots that ``chunk`` completed (maybe none)."""
        return self._parse(self._decoder.feed(chunk))

    def finish(self) -> list[list[str]]:
        """The last snapshot, if the stream ended without a final delimiter."""
        return self._parse(self._decoder.feed_end())

    def interrupted(self, reason: str) -> StreamInterruptedError:
        """The error for a stream whose connection broke (``reason``) after what was read."""
        return StreamInterruptedError(self.url, self.partial, reason)

    def _parse(self, lines: list[bytes]) -> list[list[str]]:
        snapshots = []
        for line in lines:
            try:
                snapshot = parse_snapshot(line)
            except StreamServerError as exc:
                reason = f"the server said: {exc.error.get('message', exc.error)}"
                raise StreamInterruptedError(self.url, self.partial, reason,
                                             server_error=exc.error) from exc
            self.partial = snapshot
            snapshots.append(snapshot)
        return snapshots


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
