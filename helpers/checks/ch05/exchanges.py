"""What the learner's code sends and what the server answers it, recorded: chapter 05's check
of a live chat watches the HTTP exchanges of the learner's function.

Used by :mod:`helpers.checks.ch05` (exercise 1): inside :func:`watching`, every request sent
through httpx (the openai client; httpx2 too, which recent openai clients use) or ``requests``
is an :class:`Exchange`, with the bytes the server answered as the learner's code read them (a
stream piece by piece), so that a check judges the stream from the server's side.
(:mod:`helpers.checks.watch` is the recorder of chapters 09 and 11: it keeps a whole answer as
JSON and tees only httpx's streams.)
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlparse

import requests

from helpers.checks.watch import httpx_modules, sends_wrapped

__all__ = ["Exchange", "watching"]


class Exchange:
    """One HTTP request the learner's code sent, and the bytes the server answered."""

    def __init__(self, url: str, content: bytes | None) -> None:
        self.url, self.chunks, self.status = url, [], None
        try:
            self.body = json.loads(content) if content else None
        except (TypeError, ValueError):
            self.body = None

    @property
    def path(self) -> str:
        return urlparse(self.url).path

    def events(self) -> list[dict]:
        """The server's answer as JSON objects: each ``data:`` event of a stream, or the one
        body of a whole answer."""
        raw = b"".join(self.chunks).decode("utf-8", "replace")
        found = []
        for line in raw.splitlines():
            line = line.strip()
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line[5:].strip()))
        if not found and raw.strip().startswith("{"):
            with contextlib.suppress(ValueError):
                found.append(json.loads(raw))
        return found


def _httpx_send(module: Any, exchanges: list[Exchange], original: Callable) -> Callable:
    """``module.Client.send`` that records each exchange (a stream as it is read)."""

    class Tee(module.SyncByteStream):
        def __init__(self, stream: Any, exchange: Exchange) -> None:
            self.stream, self.exchange = stream, exchange

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self.stream:
                self.exchange.chunks.append(chunk)
                yield chunk

        def close(self) -> None:
            self.stream.close()

    def send(client: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        exchange = Exchange(str(request.url), request.content)
        exchanges.append(exchange)
        response = original(client, request, *args, **kwargs)
        exchange.status = response.status_code
        if kwargs.get("stream"):
            response.stream = Tee(response.stream, exchange)
        else:
            exchange.chunks = [response.content]
        return response

    return send


def _requests_send(exchanges: list[Exchange], original: Callable) -> Callable:
    """``requests.Session.send`` that records each exchange (a stream as it is read)."""

    def send(session: Any, request: Any, **kwargs: Any) -> Any:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        exchange = Exchange(request.url, body)
        exchanges.append(exchange)
        response = original(session, request, **kwargs)
        exchange.status = response.status_code
        if not kwargs.get("stream"):
            exchange.chunks = [response.content]
            return response
        reader = response.iter_content

        def iter_content(*args: Any, **options: Any) -> Iterator[bytes]:
            for chunk in reader(*args, **options):
                exchange.chunks.append(chunk if isinstance(chunk, bytes) else chunk.encode())
                yield chunk

        response.iter_content = iter_content
        return response

    return send


@contextlib.contextmanager
def watching() -> Iterator[list[Exchange]]:
    """Record the requests sent through httpx (the openai client) and requests inside the
    block, and what their server answered (a stream as the caller reads it)."""
    exchanges: list[Exchange] = []
    wraps = [(module.Client, functools.partial(_httpx_send, module, exchanges))
             for module in httpx_modules()]
    wraps.append((requests.Session, functools.partial(_requests_send, exchanges)))
    with sends_wrapped(wraps):
        yield exchanges
