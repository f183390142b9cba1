"""Typed errors of the course's clients: each says what happened and how to fix it.

Introduced in chapter 04. The hierarchy follows openai-python's ``_exceptions.py``::

    VLLMCourseError                  every error below; .message, .hint
    ├── APIConnectionError           no usable answer came back (retrying may help); .url
    │   ├── ServerUnreachableError   nothing answered at the URL
    │   ├── RequestTimeoutError      connecting or waiting took longer than the timeout
    │   └── StreamInterruptedError   a stream broke before its end; .partial keeps the text
    ├── APIStatusError               an HTTP error status; .status_code, .message, .param, .type
    │   └── AuthenticationError      HTTP 401: missing or wrong API key
    ├── ProtocolError                an answer that is not what a vLLM server sends
    │   ├── UnexpectedResponseError  a whole answer of the wrong shape
    │   └── StreamProtocolError      one streamed line of the wrong shape; .line
    │       └── StreamServerError    a streamed line that is the server's error object
    ├── ServerStartError             a local server could not be started
    └── MissingPackageError          an optional package is not installed

Every error carries a ``hint`` (the fix) that is part of its ``str()``, so a learner sees
it in a traceback without knowing the attribute exists.
"""

from __future__ import annotations

__all__ = [
    "VLLMCourseError",
    "APIConnectionError",
    "ServerUnreachableError",
    "RequestTimeoutError",
    "StreamInterruptedError",
    "APIStatusError",
    "AuthenticationError",
    "ProtocolError",
    "UnexpectedResponseError",
    "StreamProtocolError",
    "StreamServerError",
    "ServerStartError",
    "MissingPackageError",
]


class VLLMCourseError(Exception):
    """Base class: ``message`` says what happened, ``hint`` how to fix it."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}\n  How to fix: {hint}" if hint else message)


# --- no usable answer ----------------------------------------------------------------------

class APIConnectionError(VLLMCourseError):
    """No usable answer came back from ``url``: the kind of failure a retry may cure."""

    def __init__(self, url: str, message: str, *, hint: str) -> None:
        self.url = url
        super().__init__(message, hint=hint)


class ServerUnreachableError(APIConnectionError):
    """No server answered at the URL (connection refused, unknown host, ...)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            url, f"Could not connect to {url}: {reason}",
            hint=(
                "Start the server (helpers.launcher.start_server() or "
                "`python -m helpers.api_server`), or check the host and port in the URL."
            ),
        )


class RequestTimeoutError(APIConnectionError):
    """The server did not connect or answer within the timeout."""

    def __init__(self, url: str, phase: str, timeout: object) -> None:
        self.phase = phase
        super().__init__(
            url, f"The {phase} timed out after {timeout} s at {url}.",
            hint=(
                "Ask for fewer tokens (max_tokens), stream the answer, or pass a larger "
                "timeout=(connect_seconds, read_seconds)."
            ),
        )


class StreamInterruptedError(APIConnectionError):
    """The stream broke before it finished; ``partial`` keeps every text received so far.

    ``server_error`` is the server's own error object when it said why (an engine that
    died mid-generation), else ``None`` (the connection simply broke).
    """

    def __init__(self, url: str, partial: list[str], reason: str, *,
                 server_error: dict | None = None) -> None:
        self.partial = partial
        self.server_error = server_error
        received = f"{len(partial)} candidate(s) kept" if partial else "nothing received yet"
        super().__init__(
            url, f"The stream from {url} broke before it finished ({reason}); {received}.",
            hint=(
                "The partial text is in the error's .partial attribute. Check that the server "
                "is still running (its log says why it stopped), then retry."
            ),
        )


# --- an HTTP error status ------------------------------------------------------------------

class APIStatusError(VLLMCourseError):
    """The server answered with an HTTP error status.

    ``message``, ``param`` and ``type`` come from the server's JSON error object
    (``{"error": {"message", "type", "param", "code"}}``) when it sent one; ``body`` is the
    whole decoded answer (a dict, or the start of a non-JSON text); ``retry_after`` the seconds
    of a ``Retry-After`` header (a busy server's 503 or 429), else ``None``.
    """

    def __init__(self, status_code: int, body: object, url: str) -> None:
        self.status_code = status_code
        self.body = body
        self.url = url
        detail = body.get("error", body) if isinstance(body, dict) else body
        fields = detail if isinstance(detail, dict) else {}
        server_message = fields.get("message", detail)
        self.param: str | None = fields.get("param")
        self.type: str | None = fields.get("type")
        self.retry_after: float | None = None  #: seconds, from a Retry-After header
        super().__init__(
            f"HTTP {status_code} from {url}: {server_message}",
            hint=_STATUS_HINTS.get(status_code, "Read the server's message above and its log."),
        )
        self.message = str(server_message)


class AuthenticationError(APIStatusError):
    """HTTP 401: the server wants an API key and did not get the right one."""


_STATUS_HINTS = {
    400: "Fix the request field that the message names, then send it again.",
    401: "Set VLLM_API_KEY (or pass api_key=...) to the key the server was started with.",
    404: "Check the URL path: the legacy API is POST /generate, the OpenAI one /v1/...",
    405: "Use POST for /generate (GET is only for /health and /metrics).",
    413: "Send a smaller body: the prompt is far larger than any model here accepts.",
    429: "The server is busy: wait the number of seconds in its Retry-After header, then retry.",
    500: "The server hit an internal fault: its log (helpers.launcher) shows the traceback.",
    503: "The server cannot serve right now (its engine stopped, or it is overloaded): "
         "read the message, restart the server if it says so (start_server()), then retry.",
}


# --- an answer of the wrong shape ----------------------------------------------------------

class ProtocolError(VLLMCourseError):
    """The server answered, but not in the shape a vLLM server's answer has."""


class UnexpectedResponseError(ProtocolError):
    """The server answered, but not with the JSON a vLLM server sends."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        super().__init__(
            f"The answer from {url} is not what a vLLM /generate endpoint sends: {detail}",
            hint="Check the URL (it should end in /generate) and that a vLLM server runs there.",
        )


class StreamProtocolError(ProtocolError):
    """A streamed line could not be understood; ``line`` shows (the start of) it."""

    def __init__(self, message: str, *, hint: str = "", line: str = "") -> None:
        self.line = line
        super().__init__(f"{message} Line: {line!r}" if line else message, hint=hint)


class StreamServerError(StreamProtocolError):
    """A streamed line is the server's error object (``{"error": {...}}``), not a snapshot.

    The course's server sends one when generation fails mid-stream (the engine died), then
    breaks the connection. The stream helpers turn it into :class:`StreamInterruptedError`
    with the partial text; ``error`` is the object the server sent.
    """

    def __init__(self, error: dict, line: str) -> None:
        self.error = error
        super().__init__(
            f"The server ended the stream with an error: {error.get('message', error)}",
            hint="Read the server's message; if its engine stopped, restart the server "
            "(start_server()) and send the request again.",
            line=line,
        )


# --- local set-up --------------------------------------------------------------------------

class ServerStartError(VLLMCourseError):
    """A server could not be started; the message shows the end of its log."""


class MissingPackageError(VLLMCourseError):
    """An optional package this feature needs is not installed."""

    def __init__(self, package: str, feature: str, profile: str) -> None:
        self.package = package
        super().__init__(
            f"{feature} needs the package '{package}', which is not installed.",
            hint=f"Install the '{profile}' profile: pip install -e '.[{profile}]' (or make setup).",
        )
