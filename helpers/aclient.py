"""An async legacy client on ``httpx``: many concurrent streams from one thread.

The synchronous client (:mod:`helpers.client`) waits for each answer before sending the
next request, so the server batches nothing. With ``asyncio`` one thread keeps many
requests in flight and the server's continuous batching serves them together::

    async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as http:
        timings = await asyncio.gather(*(timed_stream(http, url, "Hi", max_tokens=32)
                                         for _ in range(8)))
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from helpers import settings
from helpers.errors import (
    APIStatusError,
    AuthenticationError,
    RequestTimeoutError,
    ServerUnreachableError,
    StreamInterruptedError,
)
from helpers.stream import LineDecoder, parse_snapshot

__all__ = ["DEFAULT_TIMEOUT", "StreamTiming", "astream_generate", "timed_stream"]

DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=5.0)


async def astream_generate(http: httpx.AsyncClient, url: str, prompt: str,
                           **fields: Any) -> AsyncIterator[list[str]]:
    """Yield the cumulative snapshots of one streaming ``/generate`` request.

    Errors are the same typed errors as the synchronous client's; a stream that
    breaks raises :class:`StreamInterruptedError` with the last snapshot in ``.partial``.
    """
    payload = {"prompt": prompt, **fields, "stream": True}
    last: list[str] = []
    try:
        async with http.stream("POST", url, json=payload,
                               headers=settings.auth_headers()) as response:
            if response.status_code >= 400:
                await response.aread()
                try:
                    body: object = response.json()
                except ValueError:
                    body = response.text[:500]
                error = AuthenticationError if response.status_code == 401 else APIStatusError
                raise error(response.status_code, body, url)
            decoder = LineDecoder()
            async for chunk in response.aiter_bytes():
                for line in decoder.feed(chunk):
                    last = parse_snapshot(line)
                    yield last
            for line in decoder.feed_end():
                yield parse_snapshot(line)
    except httpx.ConnectError as exc:  # (ConnectTimeout is a TimeoutException, below)
        raise ServerUnreachableError(url, str(exc) or "connection failed") from exc
    except httpx.ConnectTimeout as exc:
        raise RequestTimeoutError(url, "connection", http.timeout.connect) from exc
    except httpx.TimeoutException as exc:
        raise RequestTimeoutError(url, "wait for the answer", http.timeout.read) from exc
    except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
        raise StreamInterruptedError(url, last, type(exc).__name__) from exc


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
