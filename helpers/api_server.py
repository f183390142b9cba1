"""The legacy vLLM ``/generate`` server, rebuilt on vLLM's ``AsyncLLM``.

vLLM no longer ships ``vllm.entrypoints.api_server`` (it moved to the repository's
examples), so the course carries this replacement. Start it with::

    python -m helpers.api_server                       # the bundled model, 127.0.0.1:8000
    python -m helpers.api_server --model facebook/opt-125m --port 8000
    python -m helpers.api_server --host 0.0.0.0 --api-key "$KEY"   # a workshop server

Every vLLM engine argument works (``--max-model-len``, ``--dtype`` ...). The wire
format is the legacy one: ``{"text": [prompt + completion, ...]}``, or with
``"stream": true`` one cumulative JSON object per line. What it adds: every
candidate in every answer, real beam search (``use_beam_search``, vLLM's own
implementation, as in ``/v1/completions``), 400 answers that name the bad field
where the original answered ``500 Internal Server Error``, aborting requests
whose client left, Prometheus ``/metrics`` and an optional API key.

A dead engine is never silent: a stream it breaks ends with one error line
(``{"error": {..., "type": "engine_dead_error", "code": 503}}``) and then the
connection closes *without* the chunked terminator, so every client sees a
broken transfer; other requests get 503, ``/health`` answers 503, and the
process exits with status 1 (``ENGINE_DEAD_EXIT_STATUS``) a moment later, so a
supervisor or the course's launcher can start a fresh one.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import os
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from helpers import settings
from helpers.payload import (
    GenerateRequest,
    Limits,
    PayloadError,
    check_prompt_length,
    parse_generate_request,
)

if TYPE_CHECKING:
    import uvicorn
    from starlette.types import ASGIApp, Receive, Scope, Send
    from vllm.v1.engine.async_llm import AsyncLLM

logger = logging.getLogger("helpers.api_server")

TIMEOUT_KEEP_ALIVE = 5  # seconds
_OPEN_PATHS = {"/health"}  # answered without an API key, so launchers can poll them

BUSY_RETRY_AFTER = 1  # seconds a client should wait when the server sheds load (Retry-After)
ENGINE_DEAD_EXIT_STATUS = 1  # the process's exit status once its engine has died
ENGINE_WATCH_INTERVAL = 0.5  # seconds between two looks at `engine.errored`
EXIT_GRACE = 1.5  # seconds in-flight requests get to receive their error before the exit
HARD_EXIT_AFTER = 30.0  # seconds after the exit began: os._exit if shutdown hangs
RESTART_HINT = ("Restart the server: run start_server() again in the notebook, or "
                "`python -m helpers.api_server` in a terminal.")


class StreamAborted(Exception):
    """Raised after a stream's error line, so that the server closes the connection
    without the chunked terminator and no client mistakes the answer for a complete one."""


class LegacyServer:
    """The ``/generate`` logic around one engine; ``app`` is the FastAPI application."""

    def __init__(self, engine: AsyncLLM, *, api_key: str | None, max_body_bytes: int,
                 max_pending: int | None = None) -> None:
        from vllm.entrypoints.generate.beam_search.online import BeamSearchOnlineMixin

        self.engine = engine
        self.api_key = api_key
        model_config = engine.model_config
        self.limits = Limits(max_model_len=model_config.max_model_len,
                             vocab_size=model_config.get_vocab_size(),
                             max_body_bytes=max_body_bytes)
        # The model's generation_config defaults (temperature, top_p, ...), as /v1/completions
        # applies them; max_tokens keeps the legacy default of 16.
        self.defaults: dict[str, Any] = {
            name: value for name, value in model_config.get_diff_sampling_param().items()
            if name not in ("max_tokens", "n")}
        self.passthrough = passthrough_fields()
        self.max_pending = max_pending  # refuse new requests past this many in the engine

        class _BeamSearch(BeamSearchOnlineMixin):  # vLLM's own, as /v1/completions uses it
            pass

        self._beam = _BeamSearch()
        self._beam.engine_client = engine
        self._beam.renderer = engine.renderer
        self.death: str | None = None  # why the engine stopped, once it has
        self.exit_status = 0  # what serve() returns: ENGINE_DEAD_EXIT_STATUS once it died
        self.uvicorn: uvicorn.Server | None = None  # set by serve(); told to exit on death
        self._shutting_down = False  # the engine is being stopped on purpose
        self._exit_task: asyncio.Task | None = None
        self.app = self._build_app()

    # --- routes --------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            # Shut the engine down here, during uvicorn's own shutdown: after serve() returns,
            # uvicorn re-raises the SIGTERM/SIGINT it caught, and the process would end before
            # a `finally` could stop the engine core (left running as an orphan).
            watchdog = asyncio.create_task(self._watch_engine())
            try:
                yield
            finally:
                watchdog.cancel()
                self._shutting_down = True
                self.engine.shutdown()

        app = FastAPI(title="vLLM legacy /generate server (vLLM HTTP course)",
                      docs_url=None, redoc_url=None, lifespan=lifespan)

        app.add_middleware(ApiKeyMiddleware, api_key=self.api_key)

        @app.exception_handler(Exception)
        async def server_fault(request: Request, exc: Exception) -> Response:
            if isinstance(exc, StreamAborted):  # logged already; the stream had its error line
                return Response(status_code=500)  # never sent: the response has started
            if _is_engine_dead(exc):
                self.engine_stopped(exc)
                return self.dead_response()
            logger.exception("Internal error while serving %s", request.url.path)
            return error_response(500, f"Internal server error ({type(exc).__name__}). The "
                                  "server log has the traceback.", kind="internal_error")

        @app.get("/health")
        async def health() -> Response:
            if self.death is None and not self.engine.errored:
                return Response(status_code=200)
            self.engine_stopped()  # the watchdog may not have looked yet
            return self.dead_response()

        @app.get("/metrics")
        async def metrics() -> Response:
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
            from vllm.v1.metrics.prometheus import get_prometheus_registry

            return Response(generate_latest(get_prometheus_registry()),
                            media_type=CONTENT_TYPE_LATEST)

        @app.post("/generate")
        async def generate(request: Request) -> Response:
            return await self.generate(request)

        return app

    async def generate(self, request: Request) -> Response:
        """Answer one ``POST /generate``."""
        if self.death is not None or self.engine.errored:
            self.engine_stopped()
            return self.dead_response()
        if self.max_pending is not None:
            pending = self.engine.output_processor.get_num_unfinished_requests()
            if pending >= self.max_pending:
                return self.busy_response(pending)
        try:
            body = await _read_body(request, self.limits.max_body_bytes)
            payload = parse_generate_request(body, self.limits, self.passthrough)
            engine_input = await self._render(payload)
            check_prompt_length(payload, len(engine_input["prompt_token_ids"]), self.limits)
            params = self._params(payload)
        except PayloadError as exc:
            return error_response(exc.status, exc.message, param=exc.param)

        request_id = f"generate-{uuid.uuid4().hex}"
        outputs = self._outputs(engine_input, params, request_id)
        if payload.stream:
            try:  # vLLM checks the request when the first output is asked for
                first = await anext(outputs, None)
            except Exception as exc:
                return self._refused(exc, payload)
            lines = self._stream(request, payload, first, outputs, request_id)
            return StreamingResponse(guard_stream(lines, self._stream_failure),
                                     media_type="application/x-ndjson")
        work = asyncio.create_task(self._final(payload, outputs))
        watcher = asyncio.create_task(_wait_for_disconnect(request))
        done, _ = await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
        watcher.cancel()
        if work not in done:  # the client left: cancelling aborts the request in the engine
            work.cancel()
            logger.info("Client disconnected: aborted %s", request_id)
            return Response(status_code=499)  # nginx's "client closed request"; nobody reads it
        try:
            return JSONResponse(work.result())
        except Exception as exc:
            return self._refused(exc, payload)

    def _refused(self, exc: Exception, payload: GenerateRequest) -> Response:
        """The answer for an error the engine raised: 400 for a request it refused (vLLM's
        own request checks), its status for admission control, 503 once it died."""
        from vllm.exceptions import GracefulHTTPError, VLLMClientError

        if _is_engine_dead(exc):
            self.engine_stopped(exc)
            return self.dead_response()
        if isinstance(exc, GracefulHTTPError):
            return error_response(int(exc.http_status), exc.message, kind="server_busy")
        if isinstance(exc, VLLMClientError):
            message = str(exc.args[0]) if exc.args else str(exc)
            return error_response(400, f"{message} Fix this field and send the request again.",
                                  param=_field_at_fault(exc, payload.fields))
        raise exc  # the generic handler answers 500 and logs the traceback

    async def _render(self, payload: GenerateRequest) -> dict[str, Any]:
        """Tokenize the prompt exactly as ``/v1/completions`` does."""
        from vllm.exceptions import VLLMClientError
        from vllm.renderers.inputs.preprocess import parse_model_prompt

        parsed = parse_model_prompt(self.engine.model_config, payload.prompt)
        try:
            (engine_input,) = await self.engine.renderer.render_cmpl_async([parsed])
        except (ValueError, VLLMClientError) as exc:  # e.g. the prompt alone exceeds the context
            message = str(exc.args[0]) if exc.args else str(exc)
            raise PayloadError(f"{message} The model's context is "
                               f"{self.limits.max_model_len:,} tokens.", param="prompt") from exc
        return engine_input

    def _params(self, payload: GenerateRequest) -> Any:
        """vLLM's sampling (or beam search) parameters, typed and checked by vLLM itself."""
        from vllm.sampling_params import BeamSearchParams, RequestOutputKind, SamplingParams

        fields = {**self.defaults, **payload.fields}
        if payload.use_beam_search:
            beam = {k: v for k, v in fields.items() if k in BeamSearchParams.__struct_fields__}
            beam.setdefault("temperature", 1.0)  # as /v1/completions does
            return _build(BeamSearchParams, {**beam, "beam_width": payload.n,
                                             "max_tokens": payload.max_tokens}, payload.fields)
        kind = RequestOutputKind.CUMULATIVE if payload.stream else RequestOutputKind.FINAL_ONLY
        return _build(SamplingParams, {**fields, "n": payload.n, "max_tokens": payload.max_tokens,
                                       "output_kind": kind.value}, payload.fields)

    # --- generation ----------------------------------------------------------------------

    async def _final(self, payload: GenerateRequest, outputs: AsyncIterator) -> dict[str, Any]:
        snapshot = Snapshot(payload, self.decode)
        async for output in outputs:
            snapshot.update(output)
        return snapshot.body()

    async def _stream(self, request: Request, payload: GenerateRequest, first: Any,
                      outputs: AsyncIterator, request_id: str) -> AsyncIterator[bytes]:
        snapshot = Snapshot(payload, self.decode)
        watcher = asyncio.create_task(_abort_on_disconnect(request, self.engine, request_id))
        try:
            if first is not None:
                snapshot.update(first)
                yield snapshot.line()
            async for output in outputs:
                snapshot.update(output)
                yield snapshot.line()
        finally:
            watcher.cancel()

    def decode(self, token_id: int) -> str:
        """The text of one token, from the engine's own tokenizer."""
        return self.engine.renderer.tokenizer.decode([token_id])

    def _outputs(self, engine_input: dict, params: Any, request_id: str):
        from vllm.sampling_params import BeamSearchParams

        if isinstance(params, BeamSearchParams):
            return self._beam.beam_search(engine_input, request_id, params)
        return self.engine.generate(engine_input, params, request_id)

    def _stream_failure(self, exc: Exception) -> dict[str, Any]:
        """The error body for a stream that ``exc`` broke after its first line."""
        if _is_engine_dead(exc):
            self.engine_stopped(exc)
            return self.dead_body()
        logger.error("A stream failed mid-way (%s); its client gets an error line and a "
                     "broken transfer.", _describe(exc), exc_info=exc)
        return error_body(500, f"The generation failed mid-way ({_describe(exc)}); the text "
                          "received so far is incomplete. The server log has the traceback. "
                          "Send the request again; if it keeps failing, restart the server.",
                          kind="internal_error")

    # --- engine death --------------------------------------------------------------------

    async def _watch_engine(self) -> None:
        """Notice an engine that died while no request was running."""
        while not self.engine.errored:
            await asyncio.sleep(ENGINE_WATCH_INTERVAL)
        self.engine_stopped()

    def engine_stopped(self, exc: BaseException | None = None) -> None:
        """Record that the engine died and schedule the server's exit (first call only).

        The exit gives in-flight requests ``EXIT_GRACE`` seconds to receive their error,
        then tells uvicorn to stop; ``serve`` returns ``ENGINE_DEAD_EXIT_STATUS``.
        """
        if self.death is not None or self._shutting_down:
            return
        self.death = _why_engine_stopped(self.engine, exc)
        self.exit_status = ENGINE_DEAD_EXIT_STATUS
        logger.error("The engine stopped (%s): the server exits with status %d so that a "
                     "supervisor or the course's launcher can start a fresh one.",
                     self.death, self.exit_status)
        self._exit_task = asyncio.get_running_loop().create_task(self._exit_soon())

    async def _exit_soon(self) -> None:
        await asyncio.sleep(EXIT_GRACE)
        if self.uvicorn is not None:
            self.uvicorn.should_exit = True
        _hard_exit_later(self.exit_status, HARD_EXIT_AFTER)

    def dead_body(self) -> dict[str, Any]:
        """The error body every request gets once the engine has died."""
        return error_body(503, engine_stopped_message(self.death), kind="engine_dead_error")

    def busy_response(self, pending: int) -> JSONResponse:
        """503 with ``Retry-After``: the engine already holds ``max_pending`` requests."""
        response = error_response(503, busy_message(pending, self.max_pending),
                                  kind="server_busy")
        response.headers["Retry-After"] = str(BUSY_RETRY_AFTER)
        return response

    def dead_response(self) -> JSONResponse:
        return JSONResponse(self.dead_body(), status_code=503)


# --- messages (TROUBLESHOOTING.md quotes them; tests/test_troubleshooting.py checks) -------

def engine_stopped_message(reason: str | None) -> str:
    return (f"The engine stopped ({reason}), so this server cannot generate any more and is "
            f"shutting down. {RESTART_HINT}")


def busy_message(pending: int, limit: int | None) -> str:
    return (f"The server is busy: {pending} requests are in progress and it takes at most "
            f"{limit} (--max-pending). Retry after {BUSY_RETRY_AFTER} s, with backoff and "
            "jitter.")


# --- answers ------------------------------------------------------------------------------

#: SamplingParams fields that only the server sets (how outputs are reported, internals).
_SERVER_ONLY = {"output_kind", "skip_clone", "output_text_buffer_length", "stream_interval"}


def passthrough_fields() -> frozenset[str]:
    """Every public ``SamplingParams`` field a client may send, as the original server took."""
    from vllm.sampling_params import SamplingParams

    return frozenset(name for name in SamplingParams.__struct_fields__
                     if not name.startswith("_") and name not in _SERVER_ONLY)


#: What a parameter type needs besides the request's own fields, to be built at all.
_REQUIRED = {"BeamSearchParams": {"beam_width": 1, "max_tokens": 16}}


def _convert(kind: type, values: dict[str, Any]) -> Any:
    """``kind(**values)`` converted from JSON types by msgspec, then checked by vLLM."""
    import msgspec

    return msgspec.convert(values, kind, strict=False)


def _build_errors() -> tuple[type[BaseException], ...]:
    import msgspec
    from vllm.exceptions import VLLMClientError

    return (msgspec.ValidationError, ValueError, TypeError, VLLMClientError)


def _build(kind: type, values: dict[str, Any], given: dict[str, Any]) -> Any:
    """:func:`_convert`, or a 400 that names the request field at fault."""
    try:
        return _convert(kind, values)
    except _build_errors() as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        raise PayloadError(f"{message} Fix this field and send the request again.",
                           param=_field_at_fault(exc, given, kind)) from exc


def _field_at_fault(exc: BaseException, given: dict[str, Any], kind: type | None = None
                    ) -> str | None:
    """The request field an error of vLLM's is about: named by it, or found by trying each
    given field alone (when ``kind`` is known)."""
    import re

    named = getattr(exc, "parameter", None)
    match = re.search(r"at `\$\.(\w+)", str(exc))  # msgspec: "... - at `$.logprobs`"
    if named or match:
        return named or match.group(1)
    for name in given:
        if str(exc).startswith(name):
            return name
    for name, value in (given.items() if kind is not None else ()):
        try:
            _convert(kind, {**_REQUIRED.get(kind.__name__, {}), name: value})
        except _build_errors():
            return name
    return None


class Snapshot:
    """The latest text (and, when asked for, log-probabilities) of every candidate.

    With n > 1 each engine step reports only the candidates that advanced, so the latest
    output of each is kept and all n are sent, in index order, every time. The answer is the
    legacy ``{"text": [prompt + completion, ...]}``; a request with ``"logprobs": k`` also
    gets the extension key ``"logprobs"``: for each candidate its ``cumulative_logprob`` and,
    per generated token, the token, its log-probability and the ``k`` most likely tokens.
    """

    def __init__(self, payload: GenerateRequest, decode: Callable[[int], str]) -> None:
        self.prompt = payload.prompt
        self.top = payload.fields.get("logprobs")
        self.decode = decode  # for tokens the engine left undecoded (beam search's)
        self.outputs: list[Any] = [None] * payload.n

    def update(self, output: Any) -> None:
        for candidate in output.outputs:
            self.outputs[candidate.index] = candidate

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"text": [self.prompt + (o.text if o else "")
                                         for o in self.outputs]}
        if self.top is not None:
            body["logprobs"] = [_logprobs(o, self.top, self.decode) for o in self.outputs]
        return body

    def line(self) -> bytes:
        return (json.dumps(self.body()) + "\n").encode("utf-8")


#: What a token that may not come gets instead of -inf (JSON has no infinity): the OpenAI
#: server's floor, so that both APIs report the same number.
LOGPROB_FLOOR = -9999.0


def _logprobs(output: Any, top: int, decode: Callable[[int], str]) -> dict[str, Any] | None:
    """One candidate's log-probabilities in JSON types (``None`` before its first token).

    A structured-output constraint gives the tokens it forbids -inf: they are reported at
    :data:`LOGPROB_FLOOR`, as ``/v1/completions`` does.
    """
    if output is None:
        return None

    def entry(token_id: int, logprob: Any) -> dict[str, Any]:
        text = logprob.decoded_token if logprob.decoded_token is not None else decode(token_id)
        return {"token": text, "logprob": max(logprob.logprob, LOGPROB_FLOOR)}

    tokens = []
    for token_id, table in zip(output.token_ids, output.logprobs or [], strict=False):
        ranked = sorted(table.items(), key=lambda item: item[1].rank)[:top]
        chosen = entry(token_id, table[token_id]) if token_id in table else {
            "token": decode(token_id), "logprob": None}
        tokens.append({**chosen, "top_logprobs": [entry(i, lp) for i, lp in ranked]})
    cumulative = output.cumulative_logprob
    return {"cumulative_logprob": None if cumulative is None else max(cumulative, LOGPROB_FLOOR),
            "tokens": tokens}


# --- HTTP plumbing -----------------------------------------------------------------------

def error_body(status: int, message: str, *, param: str | None = None,
               kind: str = "invalid_request_error") -> dict[str, Any]:
    """The OpenAI-style error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


def error_response(status: int, message: str, *, param: str | None = None,
                   kind: str = "invalid_request_error") -> Response:
    """An error answer with :func:`error_body`."""
    return JSONResponse(error_body(status, message, param=param, kind=kind), status_code=status)


async def guard_stream(lines: AsyncIterator[bytes],
                       on_error: Callable[[Exception], dict[str, Any]]) -> AsyncIterator[bytes]:
    """Pass ``lines`` through; if they fail, send ``on_error(exc)`` as one last JSON line and
    raise :class:`StreamAborted`.

    The raise makes uvicorn close the connection without the chunked terminator: a client
    that ignores the error line still gets a broken transfer (``ChunkedEncodingError`` in
    ``requests``, exit status 18 in curl), never an answer that looks complete.
    """
    try:
        async for line in lines:
            yield line
    except Exception as exc:
        yield (json.dumps(on_error(exc)) + "\n").encode("utf-8")
        raise StreamAborted(f"stream ended by {type(exc).__name__}") from exc


class ApiKeyMiddleware:
    """Answer 401 on every path but ``/health`` unless ``Authorization: Bearer <api_key>``.

    A plain ASGI middleware on purpose: Starlette's ``@app.middleware("http")``
    (``BaseHTTPMiddleware``) relays a streaming body and, when the endpoint raises
    mid-stream, still ends the response with the chunked terminator, so a broken stream
    looked complete to every client.
    """

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and self.api_key and scope["path"] not in _OPEN_PATHS
                and not self._authorized(scope)):
            response = error_response(401, "Missing or wrong API key. Send the header "
                                      "'Authorization: Bearer <key>' (set VLLM_API_KEY).",
                                      kind="authentication_error")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        given = next((value for name, value in scope["headers"] if name == b"authorization"),
                     b"")
        return hmac.compare_digest(given, f"Bearer {self.api_key}".encode())


class _OneLineForStreamAborts(logging.Filter):
    """Shorten uvicorn's "Exception in ASGI application" for a stream broken on purpose
    (the cause is logged once already) to one line without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, StreamAborted):
            record.msg = "Closed a stream's connection without the chunked terminator (%s)."
            record.args, record.exc_info, record.exc_text = (exc,), None, None
        return True


def _is_engine_dead(exc: BaseException) -> bool:
    from vllm.v1.engine.exceptions import EngineDeadError

    return isinstance(exc, EngineDeadError)


def _describe(exc: BaseException) -> str:
    """``Type: message``, with the cause when vLLM wraps one (``EngineGenerateError``)."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    cause = exc.__cause__
    if cause is not None and not isinstance(cause, StreamAborted):
        text += f", caused by {_describe(cause)}"
    return text


def _why_engine_stopped(engine: AsyncLLM, exc: BaseException | None) -> str:
    """The error's text and, where vLLM knows it, how the engine core process ended."""
    reasons = [_describe(exc)] if exc is not None else []
    reasons += [_exit_reason(name, code) for name, code in _finished_engine_procs(engine)]
    return "; ".join(reasons) or "the engine reports itself dead"


def _finished_engine_procs(engine: AsyncLLM) -> list[tuple[str, int]]:
    """``(name, exit code)`` of the engine's processes that ended; [] where unknown."""
    try:  # vLLM internals: AsyncMPClient -> BackgroundResources -> CoreEngineProcManager
        manager = engine.engine_core.resources.engine_manager
        return [(name, code) for name, code in manager.finished_procs().items()
                if code is not None]
    except Exception:  # in-process engine, another vLLM version: the error text must do
        return []


def _exit_reason(name: str, code: int) -> str:
    import signal

    if code < 0:
        try:
            return f"process {name} was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"process {name} was killed by signal {-code}"
    return f"process {name} exited with status {code}"


def _hard_exit_later(status: int, delay: float) -> None:
    """End the process after ``delay`` seconds even if the orderly shutdown hangs."""
    def hard_exit() -> None:
        logger.error("The shutdown after the engine stopped took over %.0f s: exiting "
                     "now with status %d.", delay, status)
        os._exit(status)

    timer = threading.Timer(delay, hard_exit)
    timer.daemon = True  # never keeps a finished process alive
    timer.start()


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadError(f"The request body is {int(declared):,} bytes; this server accepts "
                           f"at most {limit:,}. Send a shorter prompt.", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadError(f"The request body is over {limit:,} bytes, the most this "
                               "server accepts. Send a shorter prompt.", status=413)
    return bytes(body)


async def _wait_for_disconnect(request: Request) -> None:
    """Return once the client has closed the connection (the body is already read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _abort_on_disconnect(request: Request, engine: AsyncLLM, request_id: str) -> None:
    await _wait_for_disconnect(request)
    await engine.abort(request_id)
    logger.info("Client disconnected: aborted %s", request_id)


# --- command line ------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The server's options followed by all of vLLM's engine arguments."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    from helpers.runtime import detect_device

    parser = FlexibleArgumentParser(
        prog="python -m helpers.api_server",
        description="The legacy vLLM /generate server (POST /generate, GET /health, "
        "GET /metrics) on vLLM's AsyncLLM.")
    parser.add_argument("--host", default=settings.LOCAL_HOST,
                        help="Address to bind (default 127.0.0.1, this machine only; "
                        "0.0.0.0 for a workshop server).")
    parser.add_argument("--port", type=int, default=settings.legacy_port(),
                        help="Port (default %(default)s).")
    parser.add_argument("--api-key", default=None,
                        help="Require 'Authorization: Bearer KEY' on every route but /health. "
                        "Default: the VLLM_API_KEY environment variable, if set.")
    parser.add_argument("--max-pending", type=int, default=None,
                        help="Answer 503 with Retry-After to new requests while the engine "
                        "holds this many (running and waiting); a shared workshop server sheds "
                        "load instead of queueing without end. Default: no limit.")
    parser.add_argument("--max-body-bytes", type=int, default=Limits.max_body_bytes,
                        help="Largest request body accepted (default %(default)s bytes).")
    AsyncEngineArgs.add_cli_args(parser)
    parser.set_defaults(model="bundled")
    if detect_device() == "cpu":  # compiling takes minutes on a CPU; GPU defaults unchanged
        parser.set_defaults(enforce_eager=True)
    return parser


async def serve(args: argparse.Namespace) -> int:
    """Start the engine and the HTTP server; stop both on SIGINT/SIGTERM.

    Returns the exit status: 0, or ``ENGINE_DEAD_EXIT_STATUS`` if the engine died.
    """
    import uvicorn
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.usage.usage_lib import UsageContext
    from vllm.v1.engine.async_llm import AsyncLLM

    engine = AsyncLLM.from_engine_args(AsyncEngineArgs.from_cli_args(args),
                                       usage_context=UsageContext.API_SERVER)
    try:
        server = LegacyServer(engine, api_key=args.api_key, max_body_bytes=args.max_body_bytes,
                              max_pending=args.max_pending)
        config = uvicorn.Config(server.app, host=args.host, port=args.port,
                                log_level="info", timeout_keep_alive=TIMEOUT_KEEP_ALIVE,
                                timeout_graceful_shutdown=5)
        logger.info("Legacy /generate server on http://%s:%d (model %s, API key %s)",
                    args.host, args.port, args.model, "required" if args.api_key else "off")
        logging.getLogger("uvicorn.error").addFilter(_OneLineForStreamAborts())
        server.uvicorn = uvicorn.Server(config)
        await server.uvicorn.serve()
        return server.exit_status
    finally:
        engine.shutdown()


def main(argv: list[str] | None = None) -> None:
    from helpers.model import resolve_model
    from helpers.runtime import detect_device, engine_environment

    args = build_parser().parse_args(argv)
    args.model = resolve_model(args.model)
    args.api_key = args.api_key or settings.api_key()
    for name, value in engine_environment(detect_device(),
                                          local_model=Path(args.model).is_dir()).items():
        os.environ.setdefault(name, value)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(asctime)s %(message)s")
    status = asyncio.run(serve(args))
    if status:
        sys.exit(status)


if __name__ == "__main__":
    main()
