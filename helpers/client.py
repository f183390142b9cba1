"""The legacy ``/generate`` client: vLLM's example ``api_client.py`` functions, done right.

Introduced in chapter 01. The three functions keep the example's names and shapes::

    response = post_http_request("San Francisco is a", api_url, n=1, stream=False)
    texts = get_response(response)              # ["San Francisco is a city ..."]

    response = post_http_request(prompt, api_url, stream=True)
    for texts in get_streaming_response(response):   # cumulative snapshots
        ...

and :func:`generate` does one request in one call (``generate("Hi", server.url)``; its async
twin is :func:`helpers.aclient.agenerate`, with the same arguments).

What they add: default timeouts, the API key header, errors that say what went
wrong and how to fix it (:mod:`helpers.errors`), a stream decoder that accepts
both delimiters and any chunk split (:mod:`helpers.stream`), and a broken stream
that keeps the text received so far. What is sent and how answers and failures are read
is decided in :mod:`helpers.protocol`, shared with the async client (:mod:`helpers.aclient`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from helpers import _transport, protocol
from helpers._transport import generate_url
from helpers.errors import StreamInterruptedError

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

#: What ``requests`` raises, sorted for :func:`helpers.protocol.request_error`.
_ERRORS = protocol.LibraryErrors(
    sending=(requests.ConnectionError, requests.Timeout),
    reading=(requests.RequestException,),  # a broken chunked body is not a ConnectionError
    connect_timeout=requests.ConnectTimeout,
    timeout=requests.Timeout,
)


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
        response = sender.post(api_url, headers=_transport.request_headers(api_key),
                               json=protocol.request_body(prompt, n, stream, sampling),
                               stream=stream, timeout=timeout)
    except _ERRORS.sending as exc:
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        raise protocol.request_error(exc, api_url, _ERRORS, connect_timeout=connect,
                                     read_timeout=read) from exc
    raise_for_status(response)
    return response


def raise_for_status(response: requests.Response) -> None:
    """Raise the :class:`~helpers.errors.APIStatusError` subclass of a 4xx/5xx status
    (``BadRequestError``, ``NotFoundError``, ...) with the server's message."""
    if response.status_code < 400:
        return
    try:
        content = response.content
    finally:
        response.close()
    raise _transport.status_error(response.status_code, content, response.url, response.headers)


def get_response(response: requests.Response) -> list[str]:
    """The candidate texts of a non-streaming answer (each starts with the prompt)."""
    try:
        content = response.content
    except _ERRORS.reading as exc:
        raise StreamInterruptedError(response.url, [], protocol.connection_reason(exc)) from exc
    finally:
        response.close()
    return protocol.parse_answer(content, response.url)


def get_streaming_response(response: requests.Response) -> Iterator[list[str]]:
    """Yield cumulative snapshots (one text per candidate) as they arrive.

    If the connection breaks mid-way, :class:`~helpers.errors.StreamInterruptedError` is
    raised with ``.partial`` holding the last complete snapshot; if the server ends the
    stream with its error object, its subclass :class:`~helpers.errors.StreamServerError`
    (``.server_error`` is the object). The response is closed when the loop ends, breaks
    early or fails, which tells the server to stop.
    """
    reader = protocol.SnapshotReader(response.url)
    try:
        yield from reader.read(response.iter_content(chunk_size=None))
    except _ERRORS.reading as exc:
        raise reader.interrupted(protocol.connection_reason(exc)) from exc
    finally:
        response.close()


def generate(prompt: str, base_url: str | None = None, *, n: int = 1,
             timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
             api_key: str | None = None, session: requests.Session | None = None,
             **fields: Any) -> list[str]:
    """One non-streaming request: ``generate("Hello", server.url, max_tokens=8)`` -> the
    candidate texts. ``base_url`` may end in ``/generate`` or not (default: ``VLLM_API_URL``,
    else the local server); ``max_tokens`` defaults to 16."""
    fields.setdefault("max_tokens", protocol.DEFAULT_MAX_TOKENS)
    return get_response(post_http_request(prompt, generate_url(base_url), n, timeout=timeout,
                                          api_key=api_key, session=session, **fields))


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
