"""The HTTP plumbing under the routes: the API key, reading a body, a client that leaves,
a stream that breaks.

Part of :mod:`helpers.api_server` (the README's workshop section introduces the key;
chapter 04 breaks streams and leaves requests). Plain ASGI where it matters: Starlette's
``BaseHTTPMiddleware`` would end a broken stream with the chunked terminator.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from helpers.api_server.messages import error_response
from helpers.api_server.payload import PayloadError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("helpers.api_server")

OPEN_PATHS = frozenset({"/health"})  # answered without an API key, so launchers can poll them


class ApiKeyMiddleware:
    """Answer 401 on every path but ``/health`` unless ``Authorization: Bearer <api_key>``.

    A plain ASGI middleware on purpose: Starlette's ``@app.middleware("http")``
    (``BaseHTTPMiddleware``) relays a streaming body and, when the endpoint raises
    mid-stream, still ends the response with the chunked terminator, so a broken stream
    looked complete to every client.
    """

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and self.api_key and scope["path"] not in OPEN_PATHS
                and not self.authorized(scope)):
            response = error_response(401, "Missing or wrong API key. Send the header "
                                      "'Authorization: Bearer <key>' (set VLLM_API_KEY).",
                                      kind="authentication_error")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def authorized(self, scope: Scope) -> bool:
        given = next((value for name, value in scope["headers"] if name == b"authorization"),
                     b"")
        return hmac.compare_digest(given, f"Bearer {self.api_key}".encode())


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body; a 413 :class:`PayloadError` past ``limit`` bytes, declared or sent."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadError(f"The request body is {int(declared):,} bytes; this server accepts "
                           f"at most {limit:,}. Send a shorter prompt.", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadError(f"The request body is over {limit:,} bytes, the most this "
                               "server accepts. Send a shorter prompt.", status=413)
    return bytes(body)


@asynccontextmanager
async def on_disconnect(request: Request, action: Callable[[], Awaitable[Any] | Any],
                        what: str) -> AsyncIterator[None]:
    """While the block runs, call ``action()`` (awaited if it returns an awaitable) once the
    client closes the connection; ``what`` names the request in the log.

    The only watch for clients that leave: a plain request cancels its work (which aborts
    it in the engine), a stream aborts its request in the engine.
    """
    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":  # the body is read
            pass
        result = action()
        if inspect.isawaitable(result):
            await result
        logger.info("Client disconnected: aborted %s", what)

    watcher = asyncio.create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()


class StreamAborted(Exception):
    """Raised after a stream's error line, so that the server closes the connection
    without the chunked terminator and no client mistakes the answer for a complete one."""


async def guard_stream(lines: AsyncIterator[bytes],
                       on_error: Callable[[Exception], dict[str, Any]]) -> AsyncIterator[bytes]:
    """Pass ``lines`` through; if they fail, send ``on_error(exc)`` as one last JSON line and
    raise :class:`StreamAborted`.

    The raise makes uvicorn close the connection without the chunked terminator: a client
    that ignores the error line still gets a broken transfer (``ChunkedEncodingError`` in
    ``requests``, exit status 18 in curl), never an answer that looks complete.
    """
    try:
        async for line in lines:
            yield line
    except Exception as exc:
        yield (json.dumps(on_error(exc)) + "\n").encode("utf-8")
        raise StreamAborted(f"stream ended by {type(exc).__name__}") from exc


class OneLineForStreamAborts(logging.Filter):
    """Shorten uvicorn's "Exception in ASGI application" for a stream broken on purpose
    (the cause is logged once already) to one line without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, StreamAborted):
            record.msg = "Closed a stream's connection without the chunked terminator (%s)."
            record.args, record.exc_info, record.exc_text = (exc,), None, None
        return True
