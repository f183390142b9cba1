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
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
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
    from vllm.v1.engine.async_llm import AsyncLLM

logger = logging.getLogger("helpers.api_server")

TIMEOUT_KEEP_ALIVE = 5  # seconds
_OPEN_PATHS = {"/health"}  # answered without an API key, so launchers can poll them


class LegacyServer:
    """The ``/generate`` logic around one engine; ``app`` is the FastAPI application."""

    def __init__(self, engine: AsyncLLM, *, api_key: str | None, max_body_bytes: int) -> None:
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

        class _BeamSearch(BeamSearchOnlineMixin):  # vLLM's own, as /v1/completions uses it
            pass

        self._beam = _BeamSearch()
        self._beam.engine_client = engine
        self._beam.renderer = engine.renderer
        self.app = self._build_app()

    # --- routes --------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            # Shut the engine down here, during uvicorn's own shutdown: after serve() returns,
            # uvicorn re-raises the SIGTERM/SIGINT it caught, and the process would end before
            # a `finally` could stop the engine core (left running as an orphan).
            yield
            self.engine.shutdown()

        app = FastAPI(title="vLLM legacy /generate server (vLLM HTTP course)",
                      docs_url=None, redoc_url=None, lifespan=lifespan)

        @app.middleware("http")
        async def require_api_key(request: Request, call_next):
            if self.api_key and request.url.path not in _OPEN_PATHS:
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {self.api_key}".encode()):
                    return error_response(401, "Missing or wrong API key. Send the header "
                                          "'Authorization: Bearer <key>' (set VLLM_API_KEY).",
                                          kind="authentication_error")
            return await call_next(request)

        @app.exception_handler(Exception)
        async def server_fault(request: Request, exc: Exception) -> JSONResponse:
            logger.exception("Internal error while serving %s", request.url.path)
            return error_response(500, f"Internal server error ({type(exc).__name__}). The "
                                  "server log has the traceback.", kind="internal_error")

        @app.get("/health")
        async def health() -> Response:
            await self.engine.check_health()
            return Response(status_code=200)

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
        try:
            body = await _read_body(request, self.limits.max_body_bytes)
            payload = parse_generate_request(body, self.limits)
            engine_input = await self._render(payload)
            check_prompt_length(payload, len(engine_input["prompt_token_ids"]), self.limits)
            params = self._params(payload)
        except PayloadError as exc:
            return error_response(exc.status, exc.message, param=exc.param)

        request_id = f"generate-{uuid.uuid4().hex}"
        if payload.stream:
            return StreamingResponse(self._stream(request, payload, engine_input, params,
                                                  request_id),
                                     media_type="application/x-ndjson")
        work = asyncio.create_task(self._final(payload, engine_input, params, request_id))
        watcher = asyncio.create_task(_wait_for_disconnect(request))
        done, _ = await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
        watcher.cancel()
        if work not in done:  # the client left: cancelling aborts the request in the engine
            work.cancel()
            logger.info("Client disconnected: aborted %s", request_id)
            return Response(status_code=499)  # nginx's "client closed request"; nobody reads it
        return JSONResponse({"text": work.result()})

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
        from vllm.exceptions import VLLMClientError
        from vllm.sampling_params import BeamSearchParams, RequestOutputKind, SamplingParams

        fields = {**self.defaults, **payload.fields}
        try:
            if payload.use_beam_search:
                beam_fields = {k: v for k, v in fields.items()
                               if k in BeamSearchParams.__struct_fields__}
                beam_fields.setdefault("temperature", 1.0)  # as /v1/completions does
                return BeamSearchParams(beam_width=payload.n, max_tokens=payload.max_tokens,
                                        **beam_fields)
            kind = RequestOutputKind.CUMULATIVE if payload.stream else RequestOutputKind.FINAL_ONLY
            return SamplingParams(n=payload.n, max_tokens=payload.max_tokens, output_kind=kind,
                                  **fields)
        except (ValueError, TypeError, VLLMClientError) as exc:
            message = str(exc.args[0]) if exc.args else str(exc)
            raise PayloadError(f"{message} Fix this field and send the request again.",
                               param=getattr(exc, "parameter", None)) from exc

    # --- generation ----------------------------------------------------------------------

    async def _final(self, payload: GenerateRequest, engine_input: dict, params: Any,
                     request_id: str) -> list[str]:
        texts = [""] * payload.n
        async for output in self._outputs(engine_input, params, request_id):
            for candidate in output.outputs:
                texts[candidate.index] = candidate.text
        return [payload.prompt + text for text in texts]

    async def _stream(self, request: Request, payload: GenerateRequest, engine_input: dict,
                      params: Any, request_id: str) -> AsyncIterator[bytes]:
        # With n > 1 each engine step reports only the candidates that advanced, so keep
        # the latest text of each and send all n, in index order, on every line.
        texts = [""] * payload.n
        watcher = asyncio.create_task(_abort_on_disconnect(request, self.engine, request_id))
        try:
            async for output in self._outputs(engine_input, params, request_id):
                for candidate in output.outputs:
                    texts[candidate.index] = candidate.text
                line = {"text": [payload.prompt + text for text in texts]}
                yield (json.dumps(line) + "\n").encode("utf-8")
        finally:
            watcher.cancel()

    def _outputs(self, engine_input: dict, params: Any, request_id: str):
        from vllm.sampling_params import BeamSearchParams

        if isinstance(params, BeamSearchParams):
            return self._beam.beam_search(engine_input, request_id, params)
        return self.engine.generate(engine_input, params, request_id)


# --- HTTP plumbing -----------------------------------------------------------------------

def error_response(status: int, message: str, *, param: str | None = None,
                   kind: str = "invalid_request_error") -> Response:
    """The OpenAI-style error body: ``{"error": {"message", "type", "param", "code"}}``."""
    return JSONResponse({"error": {"message": message, "type": kind, "param": param,
                                   "code": status}}, status_code=status)


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
    parser.add_argument("--max-body-bytes", type=int, default=Limits.max_body_bytes,
                        help="Largest request body accepted (default %(default)s bytes).")
    AsyncEngineArgs.add_cli_args(parser)
    parser.set_defaults(model="bundled")
    if detect_device() == "cpu":  # compiling takes minutes on a CPU; GPU defaults unchanged
        parser.set_defaults(enforce_eager=True)
    return parser


async def serve(args: argparse.Namespace) -> None:
    """Start the engine and the HTTP server; stop both on SIGINT/SIGTERM."""
    import uvicorn
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.usage.usage_lib import UsageContext
    from vllm.v1.engine.async_llm import AsyncLLM

    engine = AsyncLLM.from_engine_args(AsyncEngineArgs.from_cli_args(args),
                                       usage_context=UsageContext.API_SERVER)
    try:
        server = LegacyServer(engine, api_key=args.api_key, max_body_bytes=args.max_body_bytes)
        config = uvicorn.Config(server.app, host=args.host, port=args.port,
                                log_level="info", timeout_keep_alive=TIMEOUT_KEEP_ALIVE,
                                timeout_graceful_shutdown=5)
        logger.info("Legacy /generate server on http://%s:%d (model %s, API key %s)",
                    args.host, args.port, args.model, "required" if args.api_key else "off")
        await uvicorn.Server(config).serve()
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
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
