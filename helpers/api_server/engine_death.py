"""A dead engine is never silent: the one object every route asks, and the server's exit.

Part of :mod:`helpers.api_server` (chapter 04 kills an engine and reads what follows).
Once vLLM's engine has died, every request gets 503 with the reason
(``{"error": {..., "type": "engine_dead_error", "code": 503}}``), a stream it broke gets
that body as its last line, ``/health`` answers 503, and the process exits with status 1
(:data:`ENGINE_DEAD_EXIT_STATUS`) :data:`EXIT_GRACE` seconds later, so a supervisor or the
course's launcher can start a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse

from helpers.api_server.asgi import StreamAborted
from helpers.api_server.messages import engine_stopped_message, error_body

if TYPE_CHECKING:
    import uvicorn
    from vllm.v1.engine.async_llm import AsyncLLM

logger = logging.getLogger("helpers.api_server")

ENGINE_DEAD_EXIT_STATUS = 1  # the process's exit status once its engine has died
ENGINE_WATCH_INTERVAL = 0.5  # seconds between two looks at `engine.errored`
EXIT_GRACE = 1.5  # seconds in-flight requests get to receive their error before the exit
HARD_EXIT_AFTER = 30.0  # seconds after the exit began: os._exit if shutdown hangs


class EngineDeath:
    """Whether ``engine`` died and why; the 503 answer; the exit that follows a death."""

    def __init__(self, engine: AsyncLLM) -> None:
        self.engine = engine
        self.reason: str | None = None  # why the engine stopped, once it has
        self.exit_status = 0  # what the server returns: ENGINE_DEAD_EXIT_STATUS once it died
        self.uvicorn: uvicorn.Server | None = None  # told to exit after a death
        self.stopping_on_purpose = False  # the engine is being shut down (SIGTERM, Ctrl-C)
        self._exit_task: asyncio.Task | None = None

    def answer(self, exc: BaseException | None = None) -> JSONResponse | None:
        """The 503 for a dead engine, or None while it lives (see :meth:`body`)."""
        body = self.body(exc)
        return None if body is None else JSONResponse(body, status_code=503)

    def body(self, exc: BaseException | None = None) -> dict[str, Any] | None:
        """The error body once the engine died, recording the death; None while it lives.

        With ``exc``: whether that error is vLLM's ``EngineDeadError``. Without: whether a
        death was recorded or the engine reports itself errored (the watchdog may not have
        looked yet).
        """
        dead = is_engine_dead(exc) if exc is not None else (
            self.reason is not None or self.engine.errored)
        if not dead:
            return None
        self.record(exc)
        return error_body(503, engine_stopped_message(self.reason), kind="engine_dead_error")

    def record(self, exc: BaseException | None = None) -> None:
        """Record that the engine died and schedule the server's exit (first call only).

        The exit gives in-flight requests ``EXIT_GRACE`` seconds to receive their error,
        then tells uvicorn to stop; the server returns ``ENGINE_DEAD_EXIT_STATUS``.
        """
        if self.reason is not None or self.stopping_on_purpose:
            return
        self.reason = why_engine_stopped(self.engine, exc)
        self.exit_status = ENGINE_DEAD_EXIT_STATUS
        logger.error("The engine stopped (%s): the server exits with status %d so that a "
                     "supervisor or the course's launcher can start a fresh one.",
                     self.reason, self.exit_status)
        self._exit_task = asyncio.get_running_loop().create_task(self._exit_soon())

    async def watch(self) -> None:
        """Notice an engine that died while no request was running."""
        while not self.engine.errored:
            await asyncio.sleep(ENGINE_WATCH_INTERVAL)
        self.record()

    async def _exit_soon(self) -> None:
        await asyncio.sleep(EXIT_GRACE)
        if self.uvicorn is not None:
            self.uvicorn.should_exit = True
        _hard_exit_later(self.exit_status, HARD_EXIT_AFTER)


def is_engine_dead(exc: BaseException) -> bool:
    from vllm.v1.engine.exceptions import EngineDeadError

    return isinstance(exc, EngineDeadError)


def describe(exc: BaseException) -> str:
    """``Type: message``, with the cause when vLLM wraps one (``EngineGenerateError``)."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    cause = exc.__cause__
    if cause is not None and not isinstance(cause, StreamAborted):
        text += f", caused by {describe(cause)}"
    return text


def why_engine_stopped(engine: AsyncLLM, exc: BaseException | None) -> str:
    """The error's text and, where vLLM knows it, how the engine core process ended."""
    reasons = [describe(exc)] if exc is not None else []
    reasons += [exit_reason(name, code) for name, code in _finished_engine_procs(engine)]
    return "; ".join(reasons) or "the engine reports itself dead"


def _finished_engine_procs(engine: AsyncLLM) -> list[tuple[str, int]]:
    """``(name, exit code)`` of the engine's processes that ended; [] where unknown."""
    try:  # vLLM internals: AsyncMPClient -> BackgroundResources -> CoreEngineProcManager
        manager = engine.engine_core.resources.engine_manager
        return [(name, code) for name, code in manager.finished_procs().items()
                if code is not None]
    except Exception:  # in-process engine, another vLLM version: the error text must do
        return []


def exit_reason(name: str, code: int) -> str:
    """How a process ended, in words: its exit status or the signal that killed it."""
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
