"""How a check asks the learner's server: one helper for every chapter, one message when the
server does not answer, and a wait for work an earlier attempt left running.

Introduced with the checked exercises (chapter 01). The learner's server is the room's in a
workshop (``VLLM_API_URL`` / ``VLLM_OPENAI_URL``, with the room's key), else the local one
(:meth:`helpers.course.servers.ServerKind.url`). Paths are from the server's root: ``/generate``,
``/v1/chat/completions``, ``/tokenize``, ``/metrics``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

from helpers import settings
from helpers.checks.framework import NotHere, Wrong
from helpers.course.servers import KINDS
from helpers.metrics import IN_SERVER, metric_values

__all__ = ["Answer", "ask", "ask_ok", "base_url", "busy", "settle", "shared"]

#: How long a check waits for requests an earlier attempt left on the learner's server.
SETTLE_WITHIN = 60.0


def shared(kind: str = "legacy") -> bool:
    """True in a workshop room: the server is everyone's, and batches everyone's requests."""
    return KINDS[kind].remote_url() is not None


def base_url(kind: str) -> str:
    """The learner's server of ``kind``, without its suffix (``/v1``): paths start from here."""
    spec = KINDS[kind]
    return spec.url().removesuffix(spec.url_suffix) if spec.url_suffix else spec.url()


@dataclass
class Answer:
    """What the server answered: its status, its JSON body (None if it was not JSON), its text."""

    status: int
    body: Any
    text: str

    @property
    def error(self) -> str:
        """The error message the server gave (vLLM's ``error.message``, the legacy ``error``)."""
        body = self.body
        if isinstance(body, dict):
            error = body.get("error", body.get("detail", body.get("message")))
            if isinstance(error, dict):
                error = error.get("message", error)
            if error:
                return str(error)
        return self.text[:200]


def _unreachable(kind: str, url: str, error: Exception) -> Wrong:
    spec = KINDS[kind]
    where = ("the room's server (check the URL and key your instructor gave)" if shared(kind)
             else f"run the chapter's cells that start it (start_server({kind!r}))")
    return Wrong(f"this check asks your {spec.title} at {url}, which did not answer "
                 f"({type(error).__name__}): {where}, then run the check again.")


def ask(kind: str, path: str, body: dict | None = None, *, timeout: float = 120.0,
        method: str | None = None) -> Answer:
    """Send the check's own request (POST with ``body``, else GET) to the learner's server.

    The OpenAI server's requests get the course model's name unless ``body`` names one. Any
    HTTP status is returned; only a server that does not answer raises :class:`Wrong`."""
    url = base_url(kind) + path
    if body is not None and KINDS[kind].served_model_name and path.startswith("/v1/"):
        body = {"model": KINDS[kind].served_model_name, **body}
    try:
        response = requests.request(method or ("POST" if body is not None else "GET"), url,
                                    json=body, headers=settings.auth_headers(), timeout=timeout)
    except requests.RequestException as error:
        raise _unreachable(kind, url, error) from None
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    return Answer(response.status_code, parsed, response.text)


def ask_ok(kind: str, path: str, body: dict | None = None, **options: Any) -> Any:
    """:func:`ask`, and the JSON body of a 200; any other status raises :class:`Wrong` quoting
    the server (the check's own request was refused: the server's settings, not the answer)."""
    answer = ask(kind, path, body, **options)
    if answer.status != 200:
        raise Wrong(f"your {KINDS[kind].title} answered {answer.status} to this check's own "
                    f"request to {path}: {answer.error}")
    return answer.body


def busy(kind: str) -> int:
    """Requests the learner's server is running or queueing now (from its ``/metrics``)."""
    url = base_url(kind)
    try:
        return int(sum(metric_values(url, IN_SERVER).values()))
    except (requests.RequestException, KeyError) as error:
        raise _unreachable(kind, url + "/metrics", error) from None


def settle(kind: str, within: float = SETTLE_WITHIN) -> None:
    """Wait until the learner's own server has no request left (an earlier attempt's), so
    that a check never judges an answer by the state another one left behind. A room's
    server is everyone's: nothing to wait for there. Raises :class:`NotHere` (no verdict)
    when work is still running after ``within`` seconds."""
    if shared(kind):
        return
    deadline = time.monotonic() + within
    while (left := busy(kind)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left:
        raise NotHere(f"your {KINDS[kind].title} is still generating {left} request(s) after "
                      f"{within:g} s (an earlier attempt's, or another cell's): wait for them "
                      "or restart the server, then run the check again.")
