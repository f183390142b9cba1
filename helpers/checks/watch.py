"""Watching the learner's requests: what the learner's code sent to a server, and what it got
back, through the openai client (which uses httpx2 or httpx), ``requests`` or ``httpx``.

Introduced with the checks of chapters 09 and 11: a check that cannot see inside the learner's
function (a classifier, a tool loop) still sees its requests, and judges them against the
server's own answers::

    with watching() as seen:
        label = call(classify, review)
    sent = [s for s in seen if s.path.endswith("/completions")]

Only the requests sent inside the block are recorded; the clients are restored after it.

:func:`sends_wrapped` is the one way every recorder of the checks patches a client's ``send``
and puts it back (this one; chapter 05's, which also tees ``requests`` streams; chapter 06's,
which times an async client's requests).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

__all__ = ["HTTPX_MODULES", "Sent", "httpx_modules", "sends_wrapped", "watching"]

#: The httpx packages whose clients a check watches: httpx, and httpx2 (recent openai clients).
HTTPX_MODULES = ("httpx2", "httpx")


def httpx_modules() -> list[Any]:
    """The packages of :data:`HTTPX_MODULES` that this environment has."""
    found = []
    for name in HTTPX_MODULES:
        with contextlib.suppress(ImportError):
            found.append(importlib.import_module(name))
    return found


@contextlib.contextmanager
def sends_wrapped(wraps: Iterable[tuple[type, Callable[[Callable], Callable]]]) -> Iterator[None]:
    """For each ``(client class, wrap)``: the class's ``send`` is ``wrap(its send)`` inside the
    block, and its own again after it (the one way every recorder of the checks patches a
    client)."""
    restore: list[tuple[type, Callable]] = []
    try:
        for owner, wrap in wraps:
            restore.append((owner, owner.send))
            owner.send = wrap(owner.send)
        yield
    finally:
        for owner, send in reversed(restore):
            owner.send = send


@dataclass
class Sent:
    """One request the learner's code sent while watched: its path, its JSON body, and the
    JSON answer (``answer``) or, for a stream, the bytes read from it (``streamed``)."""

    url: str
    body: Any
    stream: bool
    status: int | None = None
    answer: Any = None
    streamed: list[bytes] = field(default_factory=list)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def events(self) -> list[dict]:
        """The JSON events of a streamed answer (its ``data:`` lines), in order."""
        events = []
        for line in b"".join(self.streamed).decode("utf-8", "replace").splitlines():
            data = line.removeprefix("data:").strip()
            if line.startswith("data:") and data and data != "[DONE]":
                with contextlib.suppress(ValueError):
                    events.append(json.loads(data))
        return events


def _json(content: Any) -> Any:
    try:
        return json.loads(content) if content else None
    except (ValueError, TypeError):
        return None


def _tee(module: Any, response: Any, sent: Sent) -> None:
    """Keep a copy of each piece of a streamed httpx answer as the learner's code reads it."""
    inner = response.stream

    class Tee(module.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            for chunk in inner:
                sent.streamed.append(bytes(chunk))
                yield chunk

        def close(self) -> None:
            inner.close()

    response.stream = Tee()


def _requests_send(seen: list[Sent], original: Callable) -> Callable:
    def send(self: Any, request: Any, **options: Any) -> Any:
        sent = Sent(request.url, _json(request.body), bool(options.get("stream")))
        seen.append(sent)
        response = original(self, request, **options)
        sent.status = response.status_code
        if not sent.stream:
            sent.answer = _json(response.content)
        return response

    return send


def _httpx_send(module: Any, seen: list[Sent], original: Callable) -> Callable:
    def send(self: Any, request: Any, *args: Any, **options: Any) -> Any:
        try:
            content = request.content
        except Exception:  # noqa: BLE001 (a streamed request body: not JSON we can read)
            content = None
        sent = Sent(str(request.url), _json(content), bool(options.get("stream")))
        seen.append(sent)
        response = original(self, request, *args, **options)
        sent.status = response.status_code
        if sent.stream:
            _tee(module, response, sent)
        else:
            sent.answer = _json(response.content)
        return response

    return send


@contextlib.contextmanager
def watching() -> Iterator[list[Sent]]:
    """Record every request sent inside the block (and its answer), as :class:`Sent`."""
    seen: list[Sent] = []
    wraps = [(requests.Session, functools.partial(_requests_send, seen))]
    wraps += [(module.Client, functools.partial(_httpx_send, module, seen))
              for module in httpx_modules()]
    with sends_wrapped(wraps):
        yield seen
