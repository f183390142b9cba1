"""The legacy ``/generate`` client: vLLM's example ``api_client.py`` functions, done right.

The three functions keep the example's names and shapes::

    response = post_http_request("San Francisco is a", api_url, n=1, stream=False)
    texts = get_response(response)              # ["San Francisco is a city ..."]

    response = post_http_request(prompt, api_url, stream=True)
    for texts in get_streaming_response(response):   # cumulative snapshots
        ...

What they add: default timeouts, the API key header, errors that say what went
wrong and how to fix it (:mod:`helpers.errors`), a stream decoder that accepts
both delimiters and any chunk split (:mod:`helpers.stream`), and a broken stream
that keeps the text received so far.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import requests

from helpers import settings
from helpers.errors import (
    APIStatusError,
    AuthenticationError,
    RequestTimeoutError,
    ServerUnreachableError,
    StreamInterruptedError,
    UnexpectedResponseError,
)
from helpers.stream import iter_snapshots

__all__ = [
    "DEFAULT_TIMEOUT",
    "generate",
    "generate_url",
    "get_response",
    "get_streaming_response",
    "post_http_request",
    "raise_for_status",
    "stream_generate",
    "strip_prompt",
]

#: (connect, read) seconds. Reading allows for a slow CPU server between two tokens.
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 120.0)


def generate_url(base_url: str | None = None) -> str:
    """The ``/generate`` URL of ``base_url`` (default: ``VLLM_API_URL`` or the local server)."""
    base = base_url or settings.remote_legacy_url() or f"http://127.0.0.1:{settings.LEGACY_PORT}"
    base = base.rstrip("/")
    return base if base.endswith("/generate") else base + "/generate"


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
    payload = {"prompt": prompt, "n": n, "stream": stream, **sampling}
    headers = {"User-Agent": "vllm-course-client", **settings.auth_headers(api_key)}
    sender = session or requests
    try:
        response = sender.post(api_url, headers=headers, json=payload, stream=stream,
                               timeout=timeout)
    except requests.ConnectTimeout as exc:
        raise RequestTimeoutError(api_url, "connection", _connect_part(timeout)) from exc
    except requests.ReadTimeout as exc:
        raise RequestTimeoutError(api_url, "wait for the answer", _read_part(timeout)) from exc
    except requests.ConnectionError as exc:
        raise ServerUnreachableError(api_url, _short_reason(exc)) from exc
    raise_for_status(response)
    return response


def raise_for_status(response: requests.Response) -> None:
    """Raise :class:`APIStatusError` (or its 401 subclass) with the decoded body on 4xx/5xx."""
    if response.status_code < 400:
        return
    try:
        body: object = response.json()
    except ValueError:
        body = response.text[:500]
    finally:
        response.close()
    error_type = AuthenticationError if response.status_code == 401 else APIStatusError
    raise error_type(response.status_code, body, response.url)


def get_response(response: requests.Response) -> list[str]:
    """The candidate texts of a non-streaming answer (each starts with the prompt)."""
    try:
        data = json.loads(response.content)
    except ValueError as exc:
        snippet = response.content[:80].decode("utf-8", "replace")
        raise UnexpectedResponseError(response.url, f"not JSON ({snippet!r})") from exc
    except requests.RequestException as exc:
        raise StreamInterruptedError(response.url, [], _short_reason(exc)) from exc
    finally:
        response.close()
    texts = data.get("text") if isinstance(data, dict) else None
    if not isinstance(texts, list):
        raise UnexpectedResponseError(response.url, f'no "text" list in {str(data)[:80]!r}')
    return texts


def get_streaming_response(response: requests.Response) -> Iterator[list[str]]:
    """Yield cumulative snapshots (one text per candidate) as they arrive.

    If the connection breaks mid-way, :class:`StreamInterruptedError` is raised
    with ``.partial`` holding the last complete snapshot. The response is closed
    when the loop ends, breaks early or fails, which tells the server to stop.
    """
    last: list[str] = []
    try:
        for snapshot in iter_snapshots(response.iter_content(chunk_size=None)):
            last = snapshot
            yield snapshot
    except requests.RequestException as exc:
        raise StreamInterruptedError(response.url, last, _short_reason(exc)) from exc
    finally:
        response.close()


def generate(prompt: str, base_url: str | None = None, **fields: Any) -> list[str]:
    """One non-streaming request: ``generate("Hello", max_tokens=8)`` -> candidate texts."""
    fields.setdefault("max_tokens", 16)
    return get_response(post_http_request(prompt, generate_url(base_url), **fields))


def stream_generate(prompt: str, base_url: str | None = None, **fields: Any) -> Iterator[list[str]]:
    """One streaming request; yields cumulative snapshots like :func:`get_streaming_response`."""
    fields.setdefault("max_tokens", 16)
    response = post_http_request(prompt, generate_url(base_url), stream=True, **fields)
    yield from get_streaming_response(response)


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


def _short_reason(exc: BaseException) -> str:
    """A short reason: urllib3 wraps its errors several times in long messages."""
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "Connection reset",
                   "IncompleteRead", "Response ended prematurely", "Read timed out",
                   "Connection broken", "Failed to resolve", "timed out"):
        if marker in text:
            return marker
    return text[:160]
