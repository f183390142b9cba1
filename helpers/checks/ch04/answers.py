"""The learner's function called, and what it returns judged against the learner's own server:
chapter 04's checks of a request that works, and of the error a request that does not raises.

Used by :mod:`helpers.checks.ch04` (both exercises; :mod:`~helpers.checks.ch04.policy` calls the
learner's function through :func:`printed_call` too). :func:`judge_texts` compares the texts the
learner's function returned for the check's own greedy request with what the learner's legacy
server answers the same request now; :func:`expected_error` is the error the course client
raises for a request, the one whose hint the learner's function should print.
"""

from __future__ import annotations

import contextlib
import inspect
import io
from typing import Any

from helpers import errors
from helpers.checks import server
from helpers.checks.framework import Wrong, call, describe
from helpers.client import get_response, post_http_request

__all__ = ["CALL_SECONDS", "expected_error", "judge_texts", "printed_call", "server_url"]

#: Seconds a check's call of the learner's function may take (a refused connection is quick).
CALL_SECONDS = 60.0


def printed_call(function: Any, doing: str, *args: Any, **kwargs: Any) -> tuple[Any, str]:
    """Call the learner's ``function`` under :func:`call`; what it returned and what it
    printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = call(function, *args, doing=doing, limit=CALL_SECONDS, **kwargs)
    return result, out.getvalue()


def server_url(function: Any) -> str:
    """The URL the learner's function uses by default, else the course's legacy server."""
    try:
        default = inspect.signature(function).parameters["url"].default
    except (KeyError, TypeError, ValueError):
        default = inspect.Parameter.empty
    if isinstance(default, str) and default.startswith("http"):
        return default
    return server.base_url("legacy") + "/generate"


def expected_error(url: str, **fields: Any) -> errors.VLLMCourseError:
    """The error the course client raises for the check's own request to ``url``."""
    try:
        get_response(post_http_request("Hi", url, timeout=(5, 60), **fields))
    except errors.VLLMCourseError as error:
        return error
    raise Wrong(f"this check sent {fields} to {url} and it was accepted, where an error was "
                "expected: is that the course's legacy server?")


def _server_texts(prompt: str, max_tokens: int) -> list[str]:
    body = server.ask_ok("legacy", "/generate", {"prompt": prompt, "max_tokens": max_tokens,
                                                 "temperature": 0, "ignore_eos": True})
    return list(body.get("text", [])) if isinstance(body, dict) else []


def judge_texts(texts: Any, prompt: str, max_tokens: int, doing: str, printed: str = "") -> str:
    """The learner's texts for the check's own greedy request, against the server's answer
    to the same request now; returns what was compared (for the verdict)."""
    if hasattr(texts, "status_code"):
        raise Wrong(f"{doing} returned the HTTP response itself: get_response(response) "
                    "turns it into the texts.")
    if isinstance(texts, list) and texts == []:
        said = f" (it printed {describe(printed.strip(), 60)})" if printed.strip() else ""
        raise Wrong(f"{doing}, a request that works, returned []{said}: return the texts "
                    "when there is no error.")
    if isinstance(texts, str):
        raise Wrong(f"{doing} returned one string, {describe(texts, 50)}; expected the list "
                    "of texts, as get_response gives.")
    try:
        texts = list(texts)
    except TypeError:
        raise Wrong(f"{doing}, a request that works, returned {describe(texts)}; expected the "
                    "list of texts (each starts with the prompt), as get_response gives."
                    ) from None
    if not (len(texts) == 1 and isinstance(texts[0], str)):
        raise Wrong(f"{doing}, a request that works, returned {describe(texts)}; expected a "
                    "list of one text (n=1), as get_response gives.")
    if not texts[0].startswith(prompt):
        raise Wrong(f"{doing} returned {describe(texts[0], 60)}, which does not start with "
                    f"the check's prompt {prompt!r}: it did not send the prompt it was given "
                    "(the legacy server's texts start with their prompt).")
    expected = _server_texts(prompt, max_tokens)
    if texts == expected:
        return f"the same text as your server gives the check's own request, {prompt!r}"
    if server.shared("legacy"):  # a room's server batches everyone's requests
        return (f"a text that starts with the check's prompt {prompt!r} (the room's server "
                "batches everyone's requests, so its greedy text can vary)")
    again = _server_texts(prompt, max_tokens)  # greedy, but batching can tip a close call
    if texts == again:
        return f"the same text as your server gives the check's own request, {prompt!r}"
    raise Wrong(f"{doing} returned {describe(texts[0], 70)}; your server answers the same "
                f"request (temperature 0, exactly {max_tokens} tokens) with "
                f"{describe(expected[0] if expected else expected, 70)}: your function did "
                "not return what the server answered it (fixed text, or fields left out?).")
