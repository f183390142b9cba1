"""The learner's answers to chapter 01's exercises read as values: exercise 1's fields as the
JSON values a request carries, and the count that exercises 2 and 3's functions return for a
penalty of the check's own.

Used by :mod:`helpers.checks.ch01`. A right answer in another type passes (a NumPy or Fraction
number is a number, :mod:`helpers.checks.values`); a known wrong kind of value, or a count
looked up in a table instead of asked of the server, is named.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

from helpers.checks.framework import AnswerRaised, Wrong, call, describe
from helpers.checks.values import first_mistake, number, whole

__all__ = ["read_count", "read_fields"]


def read_fields(answer: Any) -> dict:
    """The learner's fields as plain JSON values (a NumPy or Fraction number is a number)."""
    if not isinstance(answer, Mapping):
        raise Wrong(f"expected a dict of fields, such as {{'temperature': 0.9, 'top_k': 20}}; "
                    f"got {describe(answer)}.")
    fields = call(dict, answer, doing="reading your fields", limit=10)
    missing = [name for name in ("temperature", "top_k") if name not in fields]
    if missing:
        raise Wrong(f"your fields have no {' and no '.join(missing)}: the exercise asks for "
                    "both, a temperature and a top_k.")
    if "seed" in fields:
        raise Wrong(f"your fields fix the seed ({fields['seed']!r}): then every request is the "
                    "same draw. Leave it out; the check sends seeds 0, 1 and 2 itself.")
    # The server reads JSON numbers: a text "0.9" is not one (it answers 400), so the type
    # matters here; any numeric type is sent as the number it is.
    plain = {}
    for name, value in fields.items():
        if name in ("top_k", "max_tokens"):
            plain[name] = whole(value, f"a whole number for {name} (the server reads JSON "
                                "integers; a text is refused)")
        elif name == "temperature":
            plain[name] = number(value, "a number for temperature (the server reads JSON "
                                 "numbers; a text is refused)")
        elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
            plain[name] = int(value)
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            plain[name] = float(value)
        else:
            plain[name] = value
    return plain


def read_count(function: Any, penalty: float, name: str, what: str, most: int,
               too_many: str, shapes: list) -> int:
    """The learner's count for ``penalty``: a whole number of any numeric type, in range.
    ``shapes``: the exercise's known wrong kinds of value, as (test of the value, message)."""
    doing = f"calling your function with {name} {penalty} (one the notebook never used)"
    try:
        count = call(function, penalty, doing=doing)
    except AnswerRaised as raised:
        if isinstance(raised.error, KeyError | IndexError):
            raise Wrong(f"{doing}, your code raised {type(raised.error).__name__}: "
                        f"{raised.error}: it looks the count up in a table (the notebook's "
                        "printed values?) instead of asking the server. Send the request with "
                        f"{name}=penalty and count in its answer.") from None
        raise
    first_mistake([(lambda test=test: test(count), lambda message=message:
                    f"{doing}, it returned {message(count)}") for test, message in shapes])
    count = whole(count, what, doing=doing)
    if count < 0:
        raise Wrong(f"{doing}, it returned {count}; a count is 0 or more.")
    if count > most:
        raise Wrong(f"{doing}, it returned {count}; {too_many}")
    return count
