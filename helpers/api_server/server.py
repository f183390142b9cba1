"""The legacy server's work on one engine: admission, rendering, generation, answers.

Part of :mod:`helpers.api_server` (chapter 00 runs it). :class:`LegacyServer` adapts vLLM's
``AsyncLLM`` to what the routes of :mod:`helpers.api_server.app` need: the checks before a
request reaches the engine, its outputs (or vLLM's own beam search), the plain and streamed
answers, and the HTTP answer for every error the engine raises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse, Response, StreamingResponse

from helpers.api_server.answers import Snapshot
from helpers.api_server.asgi import guard_stream, on_disconnect
from helpers.api_server.engine_death import EngineDeath, describe
from helpers.api_server.messages import busy_response, error_body, error_response
from helpers.api_server.params import (
    engine_params,
    field_at_fault,
    passthrough_fields,
    refusal_message,
)
from helpers.api_server.payload import GenerateRequest, Limits, PayloadError, check_prompt_length

if TYPE_CHECKING:
    from starlette.requests import Request
    from vllm.v1.engine.async_llm import AsyncLLM

logger = logging.getLogger("helpers.api_server")


class LegacyServer:
    """The ``/generate`` logic around one engine; :func:`~helpers.api_server.app.build_app`
    puts routes on it."""

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
        self.death = EngineDeath(engine)

        class _BeamSearch(BeamSearchOnlineMixin):  # vLLM's own, as /v1/completions uses it
            pass

        self._beam = _BeamSearch()
        self._beam.engine_client = engine
        self._beam.renderer = engine.renderer

    def busy_answer(self) -> Response | None:
        """503 with ``Retry-After`` while the engine holds ``max_pending`` requests."""
        if self.max_pending is None:
            return None
        pending = self.engine.output_processor.get_num_unfinished_requests()
        return busy_response(pending, self.max_pending) if pending >= self.max_pending else None

    async def prepare(self, payload: GenerateRequest) -> tuple[dict[str, Any], Any]:
        """The engine's input and parameters for a checked request; raises PayloadError."""
        from vllm.exceptions import VLLMClientError
        from vllm.renderers.inputs.preprocess import parse_model_prompt

        parsed = parse_model_prompt(self.engine.model_config, payload.prompt)
        try:  # tokenized exactly as /v1/completions does
            (engine_input,) = await self.engine.renderer.render_cmpl_async([parsed])
        except (ValueError, VLLMClientError) as exc:  # e.g. the prompt alone exceeds the context
            message = str(exc.args[0]) if exc.args else str(exc)
            raise PayloadError(f"{message} The model's context is "
                               f"{self.limits.max_model_len:,} tokens.", param="prompt") from exc
        check_prompt_length(payload, len(engine_input["prompt_token_ids"]), self.limits)
        return engine_input, engine_params(payload, self.defaults)

    def outputs(self, engine_input: dict, params: Any, request_id: str) -> AsyncIterator:
        """vLLM's ``RequestOutput``s for one request: sampling, or vLLM's own beam search."""
        from vllm.sampling_params import BeamSearchParams

        if isinstance(params, BeamSearchParams):
            return self._beam.beam_search(engine_input, request_id, params)
        return self.engine.generate(engine_input, params, request_id)

    def decode(self, token_id: int) -> str:
        """The text of one token, from the engine's own tokenizer."""
        return self.engine.renderer.tokenizer.decode([token_id])

    async def answer(self, request: Request, payload: GenerateRequest, outputs: AsyncIterator,
                     request_id: str) -> Response:
        """The whole answer at once; 499 (nobody reads it) if the client left first."""
        async def final() -> dict[str, Any]:
            snapshot = Snapshot(payload, self.decode)
            async for output in outputs:
                snapshot.update(output)
            return snapshot.body()

        work = asyncio.create_task(final())
        async with on_disconnect(request, work.cancel, request_id):  # cancelling aborts it
            await asyncio.wait({work})
        if work.cancelled():
            return Response(status_code=499)  # nginx's "client closed request"
        try:
            return JSONResponse(work.result())
        except Exception as exc:
            return self.refused(exc, payload)

    async def stream(self, request: Request, payload: GenerateRequest, outputs: AsyncIterator,
                     request_id: str) -> Response:
        """One cumulative JSON line per engine step; an error line and a broken transfer if
        the generation fails after the first line."""
        try:  # vLLM checks the request when the first output is asked for
            first = await anext(outputs, None)
        except Exception as exc:
            return self.refused(exc, payload)

        async def lines() -> AsyncIterator[bytes]:
            snapshot = Snapshot(payload, self.decode)
            async with on_disconnect(request, lambda: self.engine.abort(request_id),
                                     request_id):
                if first is not None:
                    snapshot.update(first)
                    yield snapshot.line()
                async for output in outputs:
                    snapshot.update(output)
                    yield snapshot.line()

        return StreamingResponse(guard_stream(lines(), self.stream_failure),
                                 media_type="application/x-ndjson")

    def refused(self, exc: Exception, payload: GenerateRequest) -> Response:
        """The answer for an error the engine raised: 503 once it died, its status for
        admission control, 400 for a request it refused (vLLM's own request checks)."""
        from vllm.exceptions import GracefulHTTPError, VLLMClientError

        if (dead := self.death.answer(exc)) is not None:
            return dead
        if isinstance(exc, GracefulHTTPError):
            return error_response(int(exc.http_status), exc.message, kind="server_busy")
        if isinstance(exc, VLLMClientError):
            return error_response(400, refusal_message(exc),
                                  param=field_at_fault(exc, payload.fields))
        raise exc  # the generic handler answers 500 and logs the traceback

    def stream_failure(self, exc: Exception) -> dict[str, Any]:
        """The error body for a stream that ``exc`` broke after its first line."""
        if (dead := self.death.body(exc)) is not None:
            return dead
        logger.error("A stream failed mid-way (%s); its client gets an error line and a "
                     "broken transfer.", describe(exc), exc_info=exc)
        return error_body(500, f"The generation failed mid-way ({describe(exc)}); the text "
                          "received so far is incomplete. The server log has the traceback. "
                          "Send the request again; if it keeps failing, restart the server.",
                          kind="internal_error")
