"""Validate a legacy ``POST /generate`` body before it reaches the engine.

Introduced in chapter 04 (the 400 answers it produces).

The original legacy server passed every field straight to ``SamplingParams``, so
a typo, a string where a number belongs or a missing prompt surfaced as
``500 Internal Server Error`` with no explanation. Here every problem becomes a
:class:`PayloadError` (HTTP 400 or 413) whose message names the field and says
how to fix it. Pure Python, no vLLM: the server and the unit tests share it.

The fields in :data:`FIELDS` are typed here, with messages a learner can read; their values are
vLLM's to check, except the few bounds vLLM does not have (see :data:`FIELDS`). Every other
field of vLLM's ``SamplingParams`` (``logprobs``, ``logit_bias``, ``structured_outputs``,
``bad_words``...) is accepted too, as the original server accepted it: the server passes its
names as ``passthrough`` and lets vLLM check the values (a wrong one is still a 400 that names
the field). A name that is no field at all gets a "did you mean".
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from helpers.api_server.fields import (
    FIELDS,
    SEED_RANGE,
    Limits,
    PayloadError,
    check_field,
    json_type,
    show,
)

__all__ = ["FIELDS", "SEED_RANGE", "GenerateRequest", "Limits", "PayloadError",
           "parse_generate_request"]


@dataclass
class GenerateRequest:
    """A valid request: the prompt, the mode, and the sampling fields that were given."""

    prompt: str
    stream: bool = False
    use_beam_search: bool = False
    n: int = 1
    max_tokens: int = 16
    fields: dict[str, Any] = field(default_factory=dict)  # every other given field


_MODE_FIELDS = {"prompt", "stream", "use_beam_search"}
#: What vLLM's beam search takes (``BeamSearchParams``), plus ``logprobs``: the answer then
#: carries each beam's score.
_BEAM_FIELDS = {"n", "max_tokens", "temperature", "ignore_eos", "length_penalty",
                "include_stop_str_in_output", "skip_special_tokens", "structured_outputs",
                "logprobs"}
_BEST_OF = ("best_of was removed from vLLM's V1 engine (only best_of equal to n, which "
            "changes nothing, is still accepted). Use n with temperature > 0 (sampling), or "
            "use_beam_search: true with n as the beam width.")
_RETIRED = {
    "early_stopping": "early_stopping was removed from vLLM with the old beam search. "
                      "Remove the field; use_beam_search: true still works here.",
}
#: Fields of SGLang's /generate. vllm-router (0.1.x) rewrites every /generate body it
#: forwards into that format: it adds the first two and DROPS the legacy fields (max_tokens,
#: temperature, n, seed, use_beam_search...). Such a body cannot be answered as asked.
_ROUTER_FIELDS = ("return_logprob", "return_hidden_states", "sampling_params")
_ROUTED = ('This request has "{name}", a field of SGLang\'s /generate: it came through '
           "vllm-router, which rewrites /generate bodies in that format and drops the legacy "
           "fields (max_tokens, temperature, n, seed, use_beam_search...), so it cannot be "
           "answered as you asked. Send the OpenAI API through the router (/v1/completions, "
           "/v1/chat/completions pass unchanged), or call this server directly.")


def parse_generate_request(body: bytes, limits: Limits,
                           passthrough: Collection[str] = ()) -> GenerateRequest:
    """Parse and check a raw request body; raise :class:`PayloadError` on the first problem.

    ``passthrough`` names further fields that are accepted as they are (the server passes
    the rest of ``SamplingParams``' fields, which vLLM checks when it builds them).
    """
    if len(body) > limits.max_body_bytes:
        raise PayloadError(
            f"The request body is {len(body):,} bytes; this server accepts at most "
            f"{limits.max_body_bytes:,}. Send a shorter prompt.", status=413)
    data = _load_json(body)
    if not isinstance(data, dict):
        raise PayloadError(
            f"The body must be a JSON object like {{\"prompt\": \"Hello\"}}, "
            f"not a JSON {json_type(data)}.")
    _check_known_fields(data, passthrough)
    data = {name: value for name, value in data.items() if value is not None or name == "prompt"}

    prompt = data.get("prompt")
    if "prompt" not in data:
        raise PayloadError('The field "prompt" is missing. Send {"prompt": "your text", ...}.',
                           param="prompt")
    if not isinstance(prompt, str):
        raise PayloadError(f'"prompt" must be a string, not a JSON {json_type(prompt)}. '
                           "Send one prompt per request.", param="prompt")
    if not prompt:
        raise PayloadError('"prompt" is empty. Give the model some text to continue.',
                           param="prompt")

    request = GenerateRequest(prompt=prompt,
                              stream=_boolean(data, "stream"),
                              use_beam_search=_boolean(data, "use_beam_search"))
    best_of = data.pop("best_of", None)
    for name, value in data.items():
        if name in FIELDS:
            request.fields[name] = check_field(name, value, limits)
        elif name not in _MODE_FIELDS:
            request.fields[name] = value  # vLLM checks it
    request.n = request.fields.pop("n", 1)
    request.max_tokens = request.fields.pop("max_tokens", 16)
    if best_of is not None and best_of != request.n:  # best_of == n always was a no-op
        raise PayloadError(_BEST_OF, param="best_of")
    _check_combinations(request)
    return request


def check_prompt_length(request: GenerateRequest, prompt_tokens: int, limits: Limits) -> None:
    """Refuse a prompt that, with ``max_tokens``, does not fit the model's context."""
    if prompt_tokens + request.max_tokens > limits.max_model_len:
        room = limits.max_model_len - prompt_tokens
        fix = (f"Lower max_tokens to at most {room}" if room > 0
               else "Shorten the prompt")
        raise PayloadError(
            f"The prompt is {prompt_tokens:,} tokens and max_tokens is {request.max_tokens:,}: "
            f"together more than the model's context of {limits.max_model_len:,} tokens. "
            f"{fix}.", param="prompt" if room <= 0 else "max_tokens")


def _load_json(body: bytes) -> Any:
    if not body.strip():
        raise PayloadError('The body is empty. Send JSON like {"prompt": "Hello"} with '
                           "Content-Type: application/json.")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise PayloadError(f"The body is not valid UTF-8 ({exc.reason}). "
                           "Encode the JSON text as UTF-8.") from exc
    except json.JSONDecodeError as exc:
        raise PayloadError(f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, "
                           f"column {exc.colno}. Send a JSON object, e.g. "
                           'requests.post(url, json={"prompt": "Hello"}).') from exc
    except RecursionError as exc:
        raise PayloadError("The body is nested too deeply to be a /generate request.") from exc
    except ValueError as exc:  # e.g. an integer with thousands of digits
        raise PayloadError(f"The body could not be read as JSON: {exc}.") from exc


def _reject_constant(name: str) -> None:
    raise PayloadError(f"{name} is not a valid JSON number. Send a finite number.")


def _check_known_fields(data: dict[str, Any], passthrough: Collection[str]) -> None:
    allowed = FIELDS.keys() | _MODE_FIELDS | set(passthrough) | {"best_of"}
    for name in data:
        if name in allowed:
            continue
        if name in _ROUTER_FIELDS:
            raise PayloadError(_ROUTED.format(name=name), param=name)
        if name in _RETIRED:
            raise PayloadError(_RETIRED[name], param=name)
        close = difflib.get_close_matches(str(name), sorted(allowed), n=1)
        guess = f' Did you mean "{close[0]}"?' if close else ""
        common = sorted(FIELDS.keys() | _MODE_FIELDS)
        more = " and the rest of vLLM's SamplingParams" if passthrough else ""
        raise PayloadError(f'Unknown field "{name}".{guess} Allowed fields: '
                           f"{', '.join(common)}{more}.", param=str(name))


def _boolean(data: dict[str, Any], name: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise PayloadError(f'"{name}" must be true or false, not {show(value)}.', param=name)
    return value


def _check_combinations(request: GenerateRequest) -> None:
    fields = request.fields
    if request.use_beam_search:  # with "stream": true, one line comes, at the end
        extra = sorted(set(fields) - _BEAM_FIELDS)
        if extra:
            raise PayloadError(
                f'"{extra[0]}" does not apply to beam search, which only takes '
                f"{', '.join(sorted(_BEAM_FIELDS))}. Remove it or drop use_beam_search.",
                param=extra[0])
        return
    if "length_penalty" in fields:
        raise PayloadError('"length_penalty" only applies with "use_beam_search": true.',
                           param="length_penalty")
    # vLLM refuses this too ("n must be 1 when using greedy sampling"; a test asserts both):
    # the course's own words say why, and what to send instead.
    if request.n > 1 and fields.get("temperature", 1.0) == 0:
        raise PayloadError(
            f"n={request.n} with temperature 0 asks for {request.n} greedy answers, which would "
            "all be the same, so vLLM refuses it (n must be 1 when using greedy sampling). "
            "Raise temperature (e.g. 0.8, with a seed to make it reproducible) or set "
            '"use_beam_search": true for the n best distinct beams.', param="n")


