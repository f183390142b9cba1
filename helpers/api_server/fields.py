"""One field of a legacy ``/generate`` request: its type, and the few bounds vLLM lacks.

Part of :mod:`helpers.api_server` (chapter 04 reads the 400 answers). Pure Python, no vLLM:
:mod:`helpers.api_server.payload` checks a whole body with it, and the unit tests share it.
A value's bounds are vLLM's own wherever vLLM has them (see :data:`FIELDS`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["FIELDS", "SEED_RANGE", "Limits", "PayloadError", "check_field", "json_type", "show"]


class PayloadError(Exception):
    """A request the server refuses: ``status`` (400/413), the ``param`` at fault, a message."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status


@dataclass(frozen=True)
class Limits:
    """What this server accepts; the engine's numbers come from the loaded model."""

    max_model_len: int = 8192
    vocab_size: int = 49152
    max_n: int = 16
    max_body_bytes: int = 1_000_000
    max_stop_strings: int = 16


# name -> (kind, low, high). The kind is checked here, so that a string where a number belongs
# gets a message a learner can read. A bound is here only where vLLM has none of its own (or
# would fail with a 500 instead of a 400): every other value is vLLM's to refuse, when
# ``SamplingParams`` is built (``params.engine_params``: its error becomes a 400 that names the
# field), so the server follows vLLM wherever vLLM moves its bounds (tests/test_api_server_parts
# asserts both at every boundary). Bounds are inclusive, None = open. Kinds: int, number, bool,
# stop (a string or a list of strings), ids (a list of token ids).
#: ``seed``: the range of vLLM's OpenAI server (a 64-bit signed integer, torch's ``long``); the
#: engine itself takes any integer and fails on one out of that range.
SEED_RANGE = (-(2**63), 2**63 - 1)
FIELDS: dict[str, tuple[str, float | None, float | None]] = {
    "n": ("int", None, None),  # the high bound is this server's: Limits.max_n
    "max_tokens": ("int", None, None),  # high bound: the model's context (Limits.max_model_len)
    "min_tokens": ("int", None, None),
    "temperature": ("number", None, None),
    "top_p": ("number", None, None),
    "top_k": ("int", None, None),
    "min_p": ("number", None, None),
    "seed": ("int", *SEED_RANGE),
    "presence_penalty": ("number", None, None),
    "frequency_penalty": ("number", None, None),
    "repetition_penalty": ("number", None, None),
    "length_penalty": ("number", None, None),
    "stop": ("stop", None, None),
    "stop_token_ids": ("ids", None, None),
    "ignore_eos": ("bool", None, None),
    "skip_special_tokens": ("bool", None, None),
    "include_stop_str_in_output": ("bool", None, None),
}


def check_field(name: str, value: Any, limits: Limits) -> Any:
    """``value`` of field ``name`` if it has the field's type and lies within the bounds this
    server keeps (:data:`FIELDS`); a :class:`PayloadError` naming the field otherwise."""
    kind, low, high = FIELDS[name]
    if name == "n":
        low, high = 1, limits.max_n  # vLLM says "at least 1" too; this server's cap needs both
    elif name == "max_tokens":
        low, high = 1, limits.max_model_len
    elif name == "stop_token_ids":
        high = limits.vocab_size - 1
    if kind == "bool":
        if not isinstance(value, bool):
            raise PayloadError(f'"{name}" must be true or false, not {show(value)}.', param=name)
        return value
    if kind == "stop":
        return check_stop(value, limits)
    if kind == "ids":
        if not isinstance(value, list) or not all(is_int(v) and 0 <= v <= high for v in value):
            raise PayloadError(f'"{name}" must be a list of token ids between 0 and {high}.',
                               param=name)
        return value
    if kind == "int" and not is_int(value):
        hint = " (a whole number, e.g. 16)" if isinstance(value, float) else ""
        raise PayloadError(f'"{name}" must be an integer{hint}, not {show(value)}.', param=name)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PayloadError(f'"{name}" must be a number, not {show(value)}.', param=name)
        value = float(value)
        if not math.isfinite(value):
            raise PayloadError(f'"{name}" must be a finite number.', param=name)
    if (low is not None and value < low) or (high is not None and value > high):
        raise PayloadError(f'"{name}" must be between {bound(low)} and {bound(high)}, '
                           f"got {show(value)}.", param=name)
    return value


def check_stop(value: Any, limits: Limits) -> list[str]:
    """``stop`` as a list of non-empty strings (one string is a list of one)."""
    strings = [value] if isinstance(value, str) else value
    if not isinstance(strings, list) or not all(isinstance(s, str) and s for s in strings):
        raise PayloadError('"stop" must be a non-empty string or a list of non-empty strings, '
                           f"not {show(value)}.", param="stop")
    if len(strings) > limits.max_stop_strings:
        raise PayloadError(f'"stop" may hold at most {limits.max_stop_strings} strings.',
                           param="stop")
    return strings


def is_int(value: Any) -> bool:
    """True for a JSON integer (``true`` is a boolean, not 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def json_type(value: Any) -> str:
    """The JSON name of a value's type, as a learner wrote it ("number", "null"...)."""
    for kind, name in ((bool, "boolean"), (int, "number"), (float, "number"), (str, "string"),
                       (list, "array"), (dict, "object"), (type(None), "null")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


def show(value: Any) -> str:
    """A value for an error message: its JSON type and its first 40 characters."""
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else value
    text = str(text)
    return f"{json_type(value)} {text[:40]}{'...' if len(text) > 40 else ''}"


def bound(value: float | None) -> str:
    """A bound for an error message ("any" when open)."""
    return "any" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
