"""The async legacy client on ``httpx``: many concurrent requests from one thread.

Introduced in chapter 06. The synchronous client (:mod:`helpers.client`) waits for each
answer before sending the next request, so the server batches nothing. With ``asyncio``
one thread keeps many requests in flight and the server's continuous batching serves
them together::

    async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as http:
        texts = await asyncio.gather(*(agenerate("Hi", url, http=http, max_tokens=32)
                                       for _ in range(8)))

:func:`agenerate` takes the same arguments as the synchronous :func:`helpers.client.generate`
(``prompt, base_url``, then ``n``, ``timeout``, ``api_key`` and sampling fields by name),
with ``http=`` for a shared ``httpx.AsyncClient`` where the synchronous one has ``session=``;
both raise the same typed errors: they decide everything through :mod:`helpers.protocol`
and only move bytes themselves.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from helpers import _transport, protocol

__all__ = ["DEFAULT_TIMEOUT", "StreamTiming", "agenerate", "astream_generate", "timed_stream"]

DEFAULT_TIMEOUT = httpx.Timeout(protocol.READ_TIMEOUT, connect=protocol.CONNECT_TIMEOUT)
Timeout = float | tuple[float, float] | httpx.Timeout | None

#: What ``httpx`` raises, sorted for :func:`helpers.protocol.request_error`.
_ERRORS = protocol.LibraryErrors(
    sending=(httpx.TransportError,),  # refused, unknown host, reset before an answer, timeouts
    reading=(httpx.TransportError,),  # reset, closed early, timed out between tokens
    connect_timeout=httpx.ConnectTimeout,
    timeout=httpx.TimeoutException,
)


async def agenerate(prompt: str, base_url: str | None = None, *,
                    http: httpx.AsyncClient | None = None, n: int = 1, timeout: Timeout = None,
                    api_key: str | None = None, **fields: Any) -> list[str]:
    """One non-streaming request; the candidate texts (each starts with the prompt).

    The arguments of :func:`helpers.client.generate`: ``base_url`` may end in ``/generate``
    or not (default: ``VLLM_API_URL``, else the local server), ``max_tokens`` defaults to 16;
    ``http`` is the client to send with (default: one for this call), ``timeout`` its
    timeout (default: ``http``'s, else :data:`DEFAULT_TIMEOUT`).
    """
    fields.setdefault("max_tokens", protocol.DEFAULT_MAX_TOKENS)
    url = _transport.generate_url(base_url)
    async with _client(http) as sender:
        response = await _send(sender, url, prompt, n, False, timeout, api_key, fields)
    return protocol.parse_answer(response.content, url)


async def astream_generate(prompt: str, base_url: str | None = None, *,
                           http: httpx.AsyncClient | None = None, n: int = 1,
                           timeout: Timeout = None, api_key: str | None = None,
                           **fields: Any) -> AsyncIterator[list[str]]:
    """Yield the cumulative snapshots of one streaming ``/generate`` request (the arguments
    of :func:`agenerate`).

    A stream that breaks raises :class:`~helpers.errors.StreamInterruptedError` with the
    last snapshot in ``.partial``; one that the server ends with its error object, the
    subclass :class:`~helpers.errors.StreamServerError`. Leaving the loop early closes the
    connection, and the server aborts the request.
    """
    fields.setdefault("max_tokens", protocol.DEFAULT_MAX_TOKENS)
    url = _transport.generate_url(base_url)
    async with _client(http) as sender:
        response = await _send(sender, url, prompt, n, True, timeout, api_key, fields)
        reader = protocol.SnapshotReader(url)
        try:
            async for chunk in response.aiter_bytes():
                for snapshot in reader.feed(chunk):
                    yield snapshot
            for snapshot in reader.finish():
                yield snapshot
        except _ERRORS.reading as exc:
            raise reader.interrupted(protocol.connection_reason(exc)) from exc
        finally:
            await response.aclose()


async def _send(http: httpx.AsyncClient, url: str, prompt: str, n: int, stream: bool,
                timeout: Timeout, api_key: str | None, fields: dict[str, Any]) -> httpx.Response:
    """POST one request; return a response whose status is below 400 (its body read unless
    ``stream``), or raise the course's error."""
    limits = _timeout(http, timeout)
    request = http.build_request("POST", url, json=protocol.request_body(prompt, n, stream, fields),
                                 headers=_transport.request_headers(api_key), timeout=limits)
    try:
        response = await http.send(request, stream=stream)
    except _ERRORS.sending as exc:
        raise protocol.request_error(exc, url, _ERRORS, connect_timeout=limits.connect,
                                     read_timeout=limits.read) from exc
    if response.status_code >= 400:
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        raise _transport.status_error(response.status_code, content, url, response.headers)
    return response


def _client(http: httpx.AsyncClient | None) -> contextlib.AbstractAsyncContextManager:
    """``http`` itself (left open), or a client for one call (closed after it)."""
    if http is not None:
        return contextlib.nullcontext(http)
    return httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)


def _timeout(http: httpx.AsyncClient, timeout: Timeout) -> httpx.Timeout:
    if timeout is None:
        return http.timeout
    if isinstance(timeout, tuple):
        return httpx.Timeout(timeout[1], connect=timeout[0])
    return timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)


@dataclass
class StreamTiming:
    """When the pieces of one stream arrived, in seconds from sending the request."""

    arrivals: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def time_to_first_token(self) -> float:
        return self.arrivals[0]

    @property
    def total(self) -> float:
        return self.arrivals[-1]

    @property
    def gaps(self) -> list[float]:
        """Time between consecutive snapshots (the inter-token latency, when one token each)."""
        return [b - a for a, b in zip(self.arrivals, self.arrivals[1:], strict=False)]


async def timed_stream(http: httpx.AsyncClient, url: str, prompt: str,
                       **fields: Any) -> StreamTiming:
    """Run one streaming request and record when each snapshot arrived.

    Its arguments keep chapter 06's order, ``(http, url, prompt)``; the request is
    :func:`astream_generate`'s (``astream_generate(prompt, url, http=http, **fields)``).
    """
    timing = StreamTiming()
    start = time.perf_counter()
    async for snapshot in astream_generate(prompt, url, http=http, **fields):
        timing.arrivals.append(time.perf_counter() - start)
        timing.texts = snapshot
    return timing
