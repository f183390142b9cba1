"""The server's error answers, and the messages TROUBLESHOOTING.md quotes.

Part of :mod:`helpers.api_server` (chapter 04 reads these answers). Every error is the
OpenAI-style ``{"error": {"message", "type", "param", "code"}}``;
``tests/test_troubleshooting.py`` checks that the quoted messages are what the code says.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

BUSY_RETRY_AFTER = 1  # seconds a client should wait when the server sheds load (Retry-After)
RESTART_HINT = ("Restart the server: run start_server() again in the notebook, or "
                "`python -m helpers.api_server` in a terminal.")


def error_body(status: int, message: str, *, param: str | None = None,
               kind: str = "invalid_request_error") -> dict[str, Any]:
    """The OpenAI-style error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


def error_response(status: int, message: str, *, param: str | None = None,
                   kind: str = "invalid_request_error") -> JSONResponse:
    """An error answer with :func:`error_body`."""
    return JSONResponse(error_body(status, message, param=param, kind=kind), status_code=status)


def busy_response(pending: int, limit: int | None) -> JSONResponse:
    """503 with ``Retry-After``: the engine already holds ``limit`` requests."""
    response = error_response(503, busy_message(pending, limit), kind="server_busy")
    response.headers["Retry-After"] = str(BUSY_RETRY_AFTER)
    return response


def engine_stopped_message(reason: str | None) -> str:
    return (f"The engine stopped ({reason}), so this server cannot generate any more and is "
            f"shutting down. {RESTART_HINT}")


def busy_message(pending: int, limit: int | None) -> str:
    return (f"The server is busy: {pending} requests are in progress and it takes at most "
            f"{limit} (--max-pending). Retry after {BUSY_RETRY_AFTER} s, with backoff and "
            "jitter.")
