"""``python -m helpers.api_server``: the command line, the engine, uvicorn.

Part of :mod:`helpers.api_server` (chapter 00 runs it; the launcher starts it). Every vLLM
engine argument works after the server's own options; a CPU gets eager mode by default.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from helpers import settings
from helpers.api_server.app import build_app
from helpers.api_server.asgi import OneLineForStreamAborts
from helpers.api_server.payload import Limits
from helpers.api_server.server import LegacyServer
from helpers.course.model import resolve_model
from helpers.course.runtime import detect_device, engine_environment
from helpers.course.servers import KINDS

logger = logging.getLogger("helpers.api_server")

TIMEOUT_KEEP_ALIVE = 5  # seconds


def build_parser() -> argparse.ArgumentParser:
    """The server's options followed by all of vLLM's engine arguments."""
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    parser = FlexibleArgumentParser(
        prog="python -m helpers.api_server",
        description="The legacy vLLM /generate server (POST /generate, GET /health, "
        "GET /metrics) on vLLM's AsyncLLM.")
    parser.add_argument("--host", default=settings.LOCAL_HOST,
                        help="Address to bind (default 127.0.0.1, this machine only; "
                        "0.0.0.0 for a workshop server).")
    parser.add_argument("--port", type=int, default=KINDS["legacy"].default_port(),
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
        config = uvicorn.Config(build_app(server), host=args.host, port=args.port,
                                log_level="info", timeout_keep_alive=TIMEOUT_KEEP_ALIVE,
                                timeout_graceful_shutdown=5)
        logger.info("Legacy /generate server on http://%s:%d (model %s, API key %s)",
                    args.host, args.port, args.model, "required" if args.api_key else "off")
        logging.getLogger("uvicorn.error").addFilter(OneLineForStreamAborts())
        server.death.uvicorn = uvicorn.Server(config)
        await server.death.uvicorn.serve()
        return server.death.exit_status
    finally:
        engine.shutdown()


def main(argv: list[str] | None = None) -> None:
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
