"""The legacy ``/generate`` client: vLLM's example ``api_client.py`` functions, done right.

Introduced in chapter 01. The three functions keep the example's names and shapes::

    response = post_http_request("San Francisco is a", api_url, n=1, stream=False)
    texts = get_response(response)              # ["San Francisco is a city ..."]

    response = post_http_request(prompt, api_url, stream=True)
    for texts in get_streaming_response(response):   # cumulative snapshots
        ...

What they add: default timeouts, the API key header, errors that say what went
wrong and how to fix it (:mod:`helpers.errors`), a stream decoder that accepts
both delimiters and any chunk split (:mod:`helpers.stream`), and a broken stream
that keeps the text received so far. What is sent and how answers are read is
decided in :mod:`helpers.protocol`, shared with the async client (:mod:`helpers.aclient`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from helpers import protocol
from helpers.errors import (
    RequestTimeoutError,
    ServerUnreachableError,
    StreamInterruptedError,
)
from helpers.protocol import generate_url

__all__ = [
    "DEFAULT_TIMEOUT",
    "generate",
    "generate_url",
    "get_response",
    "get_streaming_response",
    "post_http_request",
    "raise_for_status",
    "strip_prompt",
]

#: (connect, read) seconds. Reading allows for a slow CPU server between two tokens.
DEFAULT_TIMEOUT: tuple[float, float] = (protocol.CONNECT_TIMEOUT, protocol.READ_TIMEOUT)


def post_http_request(
    prompt: str,
    api_url: str,
    n: int = 1,
    stream: bool = False,
    *,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    api_key: str | None = None,
    session: requests.Session | None = None,
    **sampling: Any,
) -> requests.Response:
    """POST a prompt to ``api_url``; extra keywords are sampling fields (``max_tokens=16``...).

    Raises a :class:`~helpers.errors.VLLMCourseError` subclass for connection
    problems, timeouts and HTTP errors, so the caller gets a usable response or
    a message that says what to fix.
    """
    sender = session or requests
    try:
        response = sender.post(api_url, headers=protocol.request_headers(api_key),
                               json=protocol.request_body(prompt, n, stream, sampling),
                               stream=stream, timeout=timeout)
    except requests.ConnectTimeout as exc:
        raise RequestTimeoutError(api_url, "connection", _connect_part(timeout)) from exc
    except requests.ReadTimeout as exc:
        raise RequestTimeoutError(api_url, "wait for the answer", _read_part(timeout)) from exc
    except requests.ConnectionError as exc:
        raise ServerUnreachableError(api_url, protocol.connection_reason(exc)) from exc
    raise_for_status(response)
    return response


def raise_for_status(response: requests.Response) -> None:
    """Raise :class:`APIStatusError` (or its 401 subclass) with the server's message on 4xx/5xx."""
    if response.status_code < 400:
        return
    try:
        content = response.content
    finally:
        response.close()
    raise protocol.status_error(response.status_code, content, response.url, response.headers)


def get_response(response: requests.Response) -> list[str]:
    """The candidate texts of a non-streaming answer (each starts with the prompt)."""
    try:
        content = response.content
    except requests.RequestException as exc:
        raise StreamInterruptedError(response.url, [], protocol.connection_reason(exc)) from exc
    finally:
        response.close()
    return protocol.parse_answer(content, response.url)


def get_streaming_response(response: requests.Response) -> Iterator[list[str]]:
    """Yield cumulative snapshots (one text per candidate) as they arrive.

    If the connection breaks mid-way, or the server ends the stream with an error
    object, :class:`StreamInterruptedError` is raised with ``.partial`` holding the
    last complete snapshot. The response is closed when the loop ends, breaks early
    or fails, which tells the server to stop.
    """
    reader = protocol.SnapshotReader(response.url)
    try:
        for chunk in response.iter_content(chunk_size=None):
            yield from reader.feed(chunk)
        yield from reader.finish()
    except requests.RequestException as exc:
        raise reader.interrupted(protocol.connection_reason(exc)) from exc
    finally:
        response.close()


def generate(prompt: str, base_url: str | None = None, **fields: Any) -> list[str]:
    """One non-streaming request: ``generate("Hello", max_tokens=8)`` -> candidate texts."""
    fields.setdefault("max_tokens", 16)
    return get_response(post_http_request(prompt, generate_url(base_url), **fields))


def strip_prompt(text: str, prompt: str) -> str:
    """The completion alone: ``text`` without its leading ``prompt``.

    Raises ``ValueError`` rather than cutting blindly if ``text`` does not start
    with ``prompt`` (as when the prompt was altered or a wrong prompt is passed).
    """
    if not text.startswith(prompt):
        raise ValueError(
            "The text does not start with this prompt; pass the exact prompt you sent."
        )
    return text[len(prompt):]


def _connect_part(timeout: float | tuple[float, float]) -> float:
    return timeout[0] if isinstance(timeout, tuple) else timeout


def _read_part(timeout: float | tuple[float, float]) -> float:
    return timeout[1] if isinstance(timeout, tuple) else timeout
