"""A small scripted HTTP server of the check's own, and its canned replies: chapter 04's checks
show the learner's function errors the notebook never shows it, from the server's side.

Used by :mod:`helpers.checks.ch04` (both exercises): :class:`Scripted` answers each POST with the
next reply of its script and counts the requests (the attempts of the learner's function);
:func:`busy`, :func:`rate_limited`, :func:`bad_request` and :func:`answered` are the replies, as
vLLM's servers send them; :func:`nowhere` is a URL where nothing listens (a refused connection).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from helpers.course.ports import free_port

__all__ = ["Scripted", "answered", "bad_request", "busy", "nowhere", "rate_limited"]


class Scripted:
    """An HTTP server on a free local port that answers each POST with the next answer of a
    script (the last one repeats) and counts the requests: the attempts of the learner's
    function, seen from the server's side. ``script``: (status, headers, JSON body) triples."""

    def __init__(self, script: list[tuple[int, dict, Any]]) -> None:
        self.script, self.requests = list(script), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    owner.requests.append(json.loads(raw or b"null"))
                except ValueError:
                    owner.requests.append(raw)
                index = min(len(owner.requests), len(owner.script)) - 1
                status, headers, body = owner.script[index]
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, str(value))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/generate"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="check's scripted server")

    def __enter__(self) -> Scripted:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


def _error_body(status: int, message: str, kind: str) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": status}}


def busy(retry_after: int | None = None) -> tuple[int, dict, Any]:
    """A 503 as vLLM's busy server sends it (with ``Retry-After`` when given)."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return 503, headers, _error_body(503, "The server is busy.", "server_busy")


def rate_limited(retry_after: int) -> tuple[int, dict, Any]:
    return 429, {"Retry-After": retry_after}, _error_body(429, "Too many requests.",
                                                          "rate_limit")


def bad_request() -> tuple[int, dict, Any]:
    return 400, {}, _error_body(400, 'Unknown field "max_tokns".', "invalid_request_error")


def answered(text: str) -> tuple[int, dict, Any]:
    return 200, {}, {"text": [text]}


def nowhere() -> str:
    """A /generate URL on a free local port, where nothing listens (a refused connection)."""
    return f"http://127.0.0.1:{free_port()}/generate"
