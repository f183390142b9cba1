"""Typed errors of the course's clients: each says what happened and how to fix it.

Introduced in chapter 04. The hierarchy follows openai-python's ``_exceptions.py``::

    VLLMCourseError                    every error below; .message, .hint
    ├── APIConnectionError             no usable answer came back (retrying may help); .url
    │   ├── ServerUnreachableError     nothing answered at the URL
    │   ├── RequestTimeoutError        connecting or waiting took longer than the timeout
    │   └── StreamInterruptedError     a stream broke before its end; .partial keeps the text
    │       └── StreamServerError      the server ended the stream with its error object
    ├── APIStatusError                 an HTTP error status; .status_code, .message, .param,
    │   │                              .type, .body, .retry_after
    │   ├── BadRequestError            400: a field of the request is wrong
    │   ├── AuthenticationError        401: missing or wrong API key
    │   ├── PermissionDeniedError      403
    │   ├── NotFoundError              404: wrong path
    │   ├── ConflictError              409
    │   ├── UnprocessableEntityError   422
    │   ├── RateLimitError             429: too many requests, wait .retry_after
    │   └── InternalServerError        500 and above: a fault on the server's side
    │       └── ServiceUnavailableError  503: the engine stopped, or the server is busy
    └── ProtocolError                  an answer that is not what a vLLM server sends
        ├── UnexpectedResponseError    a whole answer of the wrong shape
        └── StreamProtocolError        one streamed line of the wrong shape; .line

The status classes carry openai-python's names (``openai.BadRequestError`` ...), so code
written against one client reads the same against the other; :func:`status_error_class`
picks the class for a status. Every error carries a ``hint`` (the fix) that is part of its
``str()``, so a learner sees it in a traceback without knowing the attribute exists.

Two more, raised on the server side (by the launcher and the bundled model), sit at the end:
``ServerStartError`` and ``MissingPackageError``. One module holds the whole tree, so one
``except VLLMCourseError`` catches everything the course raises.
"""

from __future__ import annotations

__all__ = [
    "VLLMCourseError",
    "APIConnectionError",
    "ServerUnreachableError",
    "RequestTimeoutError",
    "StreamInterruptedError",
    "StreamServerError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "ServiceUnavailableError",
    "status_error_class",
    "ProtocolError",
    "UnexpectedResponseError",
    "StreamProtocolError",
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

    def __init__(self, url: str | None, message: str, *, hint: str) -> None:
        self.url = url
        super().__init__(message, hint=hint)


class ServerUnreachableError(APIConnectionError):
    """No server answered at the URL (connection refused, unknown host, ...)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            url, f"Could not connect to {url}: {reason}",
            hint=(
                "Start the server (helpers.course.launcher.start_server() or "
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

    ``server_error`` is the server's own error object when it said why (then the error is
    a :class:`StreamServerError`), else ``None`` (the connection simply broke).
    ``url`` is ``None`` when the bytes came from elsewhere (:func:`helpers.stream.iter_snapshots`
    over a list).
    """

    def __init__(self, url: str | None, partial: list[str], reason: str, *,
                 server_error: dict | None = None) -> None:
        self.partial = partial
        self.server_error = server_error
        received = f"{len(partial)} candidate(s) kept" if partial else "nothing received yet"
        source = f"The stream from {url}" if url else "The stream"
        super().__init__(
            url, f"{source} broke before it finished ({reason}); {received}.",
            hint=(
                "The partial text is in the error's .partial attribute. Check that the server "
                "is still running (its log says why it stopped), then retry."
            ),
        )


class StreamServerError(StreamInterruptedError):
    """The server ended the stream with its error object (``{"error": {...}}``) in place of a line.

    The course's server sends one when generation fails mid-stream (its engine died), then
    breaks the connection. Every reader of the stream raises this one class for that line
    (:func:`~helpers.stream.parse_snapshot` alone, without ``url`` and ``partial``; the
    stream readers with both): ``server_error`` is the object the server sent, ``line``
    (the start of) the line.
    """

    def __init__(self, server_error: dict, line: str, *, url: str | None = None,
                 partial: list[str] | None = None) -> None:
        self.line = line
        super().__init__(url, partial or [],
                         f"the server said: {server_error.get('message', server_error)}",
                         server_error=server_error)


# --- an HTTP error status ------------------------------------------------------------------

class APIStatusError(VLLMCourseError):
    """The server answered with an HTTP error status.

    ``message``, ``param`` and ``type`` come from the server's JSON error object
    (``{"error": {"message", "type", "param", "code"}}``) when it sent one; ``body`` is the
    whole decoded answer (a dict, or the start of a non-JSON text); ``retry_after`` the seconds
    of a ``Retry-After`` header (a busy server's 503 or 429), else ``None``.
    """

    def __init__(self, status_code: int, body: object, url: str, *,
                 retry_after: float | None = None) -> None:
        self.status_code = status_code
        self.body = body
        self.url = url
        detail = body.get("error", body) if isinstance(body, dict) else body
        fields = detail if isinstance(detail, dict) else {}
        server_message = fields.get("message", detail)
        self.param: str | None = fields.get("param")
        self.type: str | None = fields.get("type")
        self.retry_after = retry_after  #: seconds, from a Retry-After header
        super().__init__(
            f"HTTP {status_code} from {url}: {server_message}",
            hint=_STATUS_HINTS.get(status_code, "Read the server's message above and its log."),
        )
        self.message = str(server_message)


class BadRequestError(APIStatusError):
    """HTTP 400: the server refused a field of the request (``param`` names it)."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the server wants an API key and did not get the right one."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the key is known but may not do this."""


class NotFoundError(APIStatusError):
    """HTTP 404: nothing at this path (or no such model)."""


class ConflictError(APIStatusError):
    """HTTP 409: the request conflicts with the server's state."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422: the body is well-formed JSON the server cannot use."""


class RateLimitError(APIStatusError):
    """HTTP 429: too many requests; wait ``retry_after`` seconds, then retry."""


class InternalServerError(APIStatusError):
    """HTTP 500 or above: a fault on the server's side; a retry may pass."""


class ServiceUnavailableError(InternalServerError):
    """HTTP 503: the server cannot serve now (its engine stopped, or it is busy)."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError, 401: AuthenticationError, 403: PermissionDeniedError,
    404: NotFoundError, 409: ConflictError, 422: UnprocessableEntityError,
    429: RateLimitError, 503: ServiceUnavailableError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The class for an HTTP error status, as openai-python picks it (503 has its own)."""
    if status_code in _STATUS_CLASSES:
        return _STATUS_CLASSES[status_code]
    return InternalServerError if status_code >= 500 else APIStatusError


_STATUS_HINTS = {
    400: "Fix the request field that the message names, then send it again.",
    401: "Set VLLM_API_KEY (or pass api_key=...) to the key the server was started with.",
    404: "Check the URL path: the legacy API is POST /generate, the OpenAI one /v1/...",
    405: "Use POST for /generate (GET is only for /health and /metrics).",
    413: "Send a smaller body: the prompt is far larger than any model here accepts.",
    429: "The server is busy: wait the number of seconds in its Retry-After header, then retry.",
    500: "The server hit an internal fault: its log (helpers.course.launcher) shows the traceback.",
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


# --- starting a local server (the launcher, the bundled model) -----------------------------

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
