"""The routes: ``GET /health``, ``GET /metrics``, ``POST /generate``. Read this one first.

Part of :mod:`helpers.api_server` (chapter 00 runs the server). The same three routes as
vLLM's example ``api_server.py``; what each step does lives in the modules it calls.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from helpers.api_server.asgi import ApiKeyMiddleware, StreamAborted, read_body
from helpers.api_server.messages import error_response
from helpers.api_server.payload import PayloadError, parse_generate_request
from helpers.api_server.server import LegacyServer

logger = logging.getLogger("helpers.api_server")


def build_app(server: LegacyServer) -> FastAPI:
    """The FastAPI application around ``server``; its lifespan stops the engine."""
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Shut the engine down here, during uvicorn's own shutdown: after serve() returns,
        # uvicorn re-raises the SIGTERM/SIGINT it caught, and the process would end before
        # a `finally` could stop the engine core (left running as an orphan).
        watchdog = asyncio.create_task(server.death.watch())
        try:
            yield
        finally:
            watchdog.cancel()
            server.death.stopping_on_purpose = True
            server.engine.shutdown()

    app = FastAPI(title="vLLM legacy /generate server (vLLM HTTP course)",
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.add_middleware(ApiKeyMiddleware, api_key=server.api_key)

    @app.exception_handler(Exception)
    async def server_fault(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StreamAborted):  # logged already; the stream had its error line
            return Response(status_code=500)  # never sent: the response has started
        if (dead := server.death.answer(exc)) is not None:
            return dead
        logger.exception("Internal error while serving %s", request.url.path)
        return error_response(500, f"Internal server error ({type(exc).__name__}). The "
                              "server log has the traceback.", kind="internal_error")

    @app.get("/health")
    async def health() -> Response:
        return server.death.answer() or Response(status_code=200)

    @app.get("/metrics")
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
        from vllm.v1.metrics.prometheus import get_prometheus_registry

        return Response(generate_latest(get_prometheus_registry()),
                        media_type=CONTENT_TYPE_LATEST)

    @app.post("/generate")
    async def generate(request: Request) -> Response:
        if (refusal := server.death.answer() or server.busy_answer()) is not None:
            return refusal
        try:
            body = await read_body(request, server.limits.max_body_bytes)
            payload = parse_generate_request(body, server.limits, server.passthrough)
            engine_input, params = await server.prepare(payload)
        except PayloadError as exc:
            return error_response(exc.status, exc.message, param=exc.param)
        request_id = f"generate-{uuid.uuid4().hex}"
        outputs = server.outputs(engine_input, params, request_id)
        if payload.stream:
            return await server.stream(request, payload, outputs, request_id)
        return await server.answer(request, payload, outputs, request_id)

    return app
