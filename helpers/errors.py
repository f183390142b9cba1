"""Typed errors of the course's client: each says what happened and how to fix it.

Every error carries a ``hint`` (the fix) that is part of its message, so a
learner sees it in a traceback without knowing the attribute exists.
"""

from __future__ import annotations

__all__ = [
    "VLLMCourseError",
    "ServerUnreachableError",
    "RequestTimeoutError",
    "APIStatusError",
    "AuthenticationError",
    "UnexpectedResponseError",
    "StreamProtocolError",
    "StreamInterruptedError",
    "ServerStartError",
    "MissingPackageError",
]


class VLLMCourseError(Exception):
    """Base class: ``message`` says what happened, ``hint`` how to fix it."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message}\n  How to fix: {hint}" if hint else message)


class ServerUnreachableError(VLLMCourseError):
    """No server answered at the URL (connection refused, unknown host, ...)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(
            f"Could not connect to {url}: {reason}",
            hint=(
                "Start the server (helpers.launcher.start_server() or "
                "`python -m helpers.api_server`), or check the host and port in the URL."
            ),
        )


class RequestTimeoutError(VLLMCourseError):
    """The server did not connect or answer within the timeout."""

    def __init__(self, url: str, phase: str, timeout: object) -> None:
        self.url = url
        self.phase = phase
        super().__init__(
            f"The {phase} timed out after {timeout} s at {url}.",
            hint=(
                "Ask for fewer tokens (max_tokens), stream the answer, or pass a larger "
                "timeout=(connect_seconds, read_seconds)."
            ),
        )


class APIStatusError(VLLMCourseError):
    """The server answered with an HTTP error status; ``body`` is its decoded answer."""

    def __init__(self, status_code: int, body: object, url: str) -> None:
        self.status_code = status_code
        self.body = body
        self.url = url
        detail = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(detail, dict):
            detail = detail.get("message", detail)
        super().__init__(
            f"HTTP {status_code} from {url}: {detail}",
            hint=_STATUS_HINTS.get(status_code, "Read the server's message above and its log."),
        )


class AuthenticationError(APIStatusError):
    """HTTP 401: the server wants an API key and did not get the right one."""


_STATUS_HINTS = {
    400: "Fix the request field that the message names, then send it again.",
    401: "Set VLLM_API_KEY (or pass api_key=...) to the key the server was started with.",
    404: "Check the URL path: the legacy API is POST /generate, the OpenAI one /v1/...",
    405: "Use POST for /generate (GET is only for /health and /metrics).",
    413: "Send a smaller body: the prompt is far larger than any model here accepts.",
    500: "The server hit an internal fault: its log (helpers.launcher) shows the traceback.",
}


class UnexpectedResponseError(VLLMCourseError):
    """The server answered, but not with the JSON a vLLM server sends."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        super().__init__(
            f"The answer from {url} is not what a vLLM /generate endpoint sends: {detail}",
            hint="Check the URL (it should end in /generate) and that a vLLM server runs there.",
        )


class StreamProtocolError(VLLMCourseError):
    """A streamed line could not be understood; ``line`` shows (the start of) it."""

    def __init__(self, message: str, *, hint: str = "", line: str = "") -> None:
        self.line = line
        super().__init__(f"{message} Line: {line!r}" if line else message, hint=hint)


class StreamInterruptedError(VLLMCourseError):
    """The stream broke before it finished; ``partial`` keeps every text received so far."""

    def __init__(self, url: str, partial: list[str], reason: str) -> None:
        self.url = url
        self.partial = partial
        received = f"{len(partial)} candidate(s) kept" if partial else "nothing received yet"
        super().__init__(
            f"The stream from {url} broke before it finished ({reason}); {received}.",
            hint=(
                "The partial text is in the error's .partial attribute. Check that the server "
                "is still running (its log says why it stopped), then retry."
            ),
        )


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
