"""The learner's requests timed from the check's side: chapter 06's exercise 2 watches every
request the learner's ``newcomers`` sends through httpx's ``AsyncClient``.

Used by :mod:`helpers.checks.ch06`: inside :func:`watching`, each request sent through an async
httpx client (httpx's, the notebook's, and httpx2's) is a :class:`Watched`: what it asked for
(its JSON body, its path) and when, on the check's clock, it was sent and its first and last
bytes came. (:mod:`helpers.checks.watch` records synchronous clients' requests and their
answers; this one records an async client's, and their times.)
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from helpers.checks.watch import httpx_modules, sends_wrapped

__all__ = ["Watched", "watching"]


class Watched:
    """One request the learner's code sent through an async httpx client: what it asked for
    (the JSON body), and when (the check's clock) it was sent and its first and last bytes
    came."""

    def __init__(self, content: bytes, path: str) -> None:
        try:
            self.body = json.loads(content) if content else {}
        except ValueError:
            self.body = {}
        self.path = path
        self.sent = time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None

    @property
    def max_tokens(self) -> Any:
        return self.body.get("max_tokens") if isinstance(self.body, dict) else None


def _async_send(module: Any, watched: list[Watched], original: Callable) -> Callable:
    """``module.AsyncClient.send`` that times each request (a stream as it is read)."""

    class Tee(module.AsyncByteStream):
        def __init__(self, stream: Any, request: Watched) -> None:
            self.stream, self.request = stream, request

        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in self.stream:
                now = time.perf_counter()
                if chunk:
                    self.request.first = self.request.first or now
                    self.request.last = now
                yield chunk

        async def aclose(self) -> None:
            await self.stream.aclose()

    async def send(client: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        record = Watched(request.content, request.url.path)
        watched.append(record)
        response = await original(client, request, *args, **kwargs)
        if kwargs.get("stream"):
            response.stream = Tee(response.stream, record)
        else:
            record.first = record.last = time.perf_counter()
        return response

    return send


@contextlib.contextmanager
def watching() -> Iterator[list[Watched]]:
    """Record every request sent through an async httpx client inside the block."""
    watched: list[Watched] = []
    with sends_wrapped((module.AsyncClient, functools.partial(_async_send, module, watched))
                       for module in httpx_modules()):
        yield watched
