"""A checked ``/generate`` request → vLLM's ``SamplingParams`` or ``BeamSearchParams``.

Part of :mod:`helpers.api_server` (chapter 00 runs the server; chapter 04 reads its 400s).
Pure: no engine, no HTTP. vLLM itself types and checks every value (msgspec converts the
JSON types); a value it refuses becomes a
:class:`~helpers.api_server.payload.PayloadError` that names the request field at fault,
found from vLLM's message or by trying each given field alone.
vLLM is imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import re
from typing import Any

from helpers.api_server.payload import GenerateRequest, PayloadError

#: SamplingParams fields that only the server sets (how outputs are reported, internals).
SERVER_ONLY = frozenset({"output_kind", "skip_clone", "output_text_buffer_length",
                         "stream_interval"})

#: What a parameter type needs besides the request's own fields, to be built at all.
REQUIRED = {"BeamSearchParams": {"beam_width": 1, "max_tokens": 16}}


def passthrough_fields() -> frozenset[str]:
    """Every public ``SamplingParams`` field a client may send, as the original server took."""
    from vllm.sampling_params import SamplingParams

    return frozenset(name for name in SamplingParams.__struct_fields__
                     if not name.startswith("_") and name not in SERVER_ONLY)


def engine_params(payload: GenerateRequest, defaults: dict[str, Any]) -> Any:
    """vLLM's sampling (or beam search) parameters for ``payload``, typed and checked by vLLM.

    ``defaults`` are the model's generation_config values (temperature, top_p, ...), which
    the request's own fields override, as ``/v1/completions`` does. Raises PayloadError.
    """
    from vllm.sampling_params import BeamSearchParams, RequestOutputKind, SamplingParams

    fields = {**defaults, **payload.fields}
    given = {**payload.fields, "n": payload.n, "max_tokens": payload.max_tokens}
    if payload.use_beam_search:
        beam = {k: v for k, v in fields.items() if k in BeamSearchParams.__struct_fields__}
        beam.setdefault("temperature", 1.0)  # as /v1/completions does
        # BeamSearchParams checks no value: the ones it shares with sampling (temperature,
        # max_tokens...) are checked by vLLM's SamplingParams, as for any other request.
        build(SamplingParams, {k: v for k, v in beam.items()
                               if k in SamplingParams.__struct_fields__}, given)
        return build(BeamSearchParams, {**beam, "beam_width": payload.n,
                                        "max_tokens": payload.max_tokens}, given)
    kind = RequestOutputKind.CUMULATIVE if payload.stream else RequestOutputKind.FINAL_ONLY
    return build(SamplingParams, {**fields, "n": payload.n, "max_tokens": payload.max_tokens,
                                  "output_kind": kind.value}, given)


def build(kind: type, values: dict[str, Any], given: dict[str, Any]) -> Any:
    """:func:`convert`, or a 400 that names the request field at fault."""
    try:
        return convert(kind, values)
    except build_errors() as exc:
        raise PayloadError(refusal_message(exc), param=field_at_fault(exc, given, kind)) from exc


def convert(kind: type, values: dict[str, Any]) -> Any:
    """``kind(**values)`` converted from JSON types by msgspec, then checked by vLLM."""
    import msgspec

    return msgspec.convert(values, kind, strict=False)


def build_errors() -> tuple[type[BaseException], ...]:
    """What vLLM and msgspec raise for a value they refuse."""
    import msgspec
    from vllm.exceptions import VLLMClientError

    return (msgspec.ValidationError, ValueError, TypeError, VLLMClientError)


def field_at_fault(exc: BaseException, given: dict[str, Any], kind: type | None = None
                   ) -> str | None:
    """The request field an error of vLLM's is about: named by it, or found by trying each
    given field alone (when ``kind`` is known)."""
    named = getattr(exc, "parameter", None)
    match = re.search(r"at `\$\.(\w+)", str(exc))  # msgspec: "... - at `$.logprobs`"
    if named or match:
        return named or match.group(1)
    for name in given:
        if str(exc).startswith(name):
            return name
    for name, value in (given.items() if kind is not None else ()):
        try:
            convert(kind, {**REQUIRED.get(kind.__name__, {}), name: value})
        except build_errors():
            return name
    return None


def refusal_message(exc: BaseException) -> str:
    """The 400 message for a request vLLM refused (its own text, then what to do)."""
    return f"{_message(exc)} Fix this field and send the request again."


def _message(exc: BaseException) -> str:
    return str(exc.args[0]) if exc.args else str(exc)
