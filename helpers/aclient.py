"""The async legacy client on ``httpx``: many concurrent requests from one thread.

Introduced in chapter 06. The synchronous client (:mod:`helpers.client`) waits for each
answer before sending the next request, so the server batches nothing. With ``asyncio``
one thread keeps many requests in flight and the server's continuous batching serves
them together::

    async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as http:
        timings = await asyncio.gather(*(timed_stream(http, url, "Hi", max_tokens=32)
                                         for _ in range(8)))

It takes the same per-call options as the synchronous client (``n``, ``timeout``,
``api_key``) and raises the same typed errors: both decide everything through
:mod:`helpers.protocol` and only move bytes themselves.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from helpers import protocol
from helpers.errors import RequestTimeoutError, ServerUnreachableError

__all__ = ["DEFAULT_TIMEOUT", "StreamTiming", "agenerate", "astream_generate", "timed_stream"]

DEFAULT_TIMEOUT = httpx.Timeout(protocol.READ_TIMEOUT, connect=protocol.CONNECT_TIMEOUT)
Timeout = float | tuple[float, float] | httpx.Timeout | None


async def _send(http: httpx.AsyncClient, url: str, prompt: str, n: int, stream: bool,
                timeout: Timeout, api_key: str | None, fields: dict[str, Any]) -> httpx.Response:
    """POST one request; return a response whose status is below 400, or raise."""
    limits = _timeout(http, timeout)
    request = http.build_request("POST", url, json=protocol.request_body(prompt, n, stream, fields),
                                 headers=protocol.request_headers(api_key), timeout=limits)
    try:
        response = await http.send(request, stream=stream)
    except httpx.ConnectTimeout as exc:
        raise RequestTimeoutError(url, "connection", limits.connect) from exc
    except httpx.TimeoutException as exc:
        raise RequestTimeoutError(url, "wait for the answer", limits.read) from exc
    except httpx.TransportError as exc:  # refused, unknown host, reset before an answer
        raise ServerUnreachableError(url, protocol.connection_reason(exc)) from exc
    if response.status_code >= 400:
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        raise protocol.status_error(response.status_code, content, url, response.headers)
    return response


async def agenerate(http: httpx.AsyncClient, url: str, prompt: str, *, n: int = 1,
                    timeout: Timeout = None, api_key: str | None = None,
                    **fields: Any) -> list[str]:
    """One non-streaming request; the candidate texts (each starts with the prompt)."""
    response = await _send(http, url, prompt, n, False, timeout, api_key, fields)
    return protocol.parse_answer(response.content, url)


async def astream_generate(http: httpx.AsyncClient, url: str, prompt: str, *, n: int = 1,
                           timeout: Timeout = None, api_key: str | None = None,
                           **fields: Any) -> AsyncIterator[list[str]]:
    """Yield the cumulative snapshots of one streaming ``/generate`` request.

    A stream that breaks, or that the server ends with an error object, raises
    :class:`~helpers.errors.StreamInterruptedError` with the last snapshot in ``.partial``.
    Leaving the loop early closes the connection, and the server aborts the request.
    """
    response = await _send(http, url, prompt, n, True, timeout, api_key, fields)
    reader = protocol.SnapshotReader(url)
    try:
        async for chunk in response.aiter_bytes():
            for snapshot in reader.feed(chunk):
                yield snapshot
        for snapshot in reader.finish():
            yield snapshot
    except httpx.TransportError as exc:  # reset, closed early, timed out between tokens
        raise reader.interrupted(protocol.connection_reason(exc)) from exc
    finally:
        await response.aclose()


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
    """Run one streaming request and record when each snapshot arrived."""
    timing = StreamTiming()
    start = time.perf_counter()
    async for snapshot in astream_generate(http, url, prompt, **fields):
        timing.arrivals.append(time.perf_counter() - start)
        timing.texts = snapshot
    return timing
