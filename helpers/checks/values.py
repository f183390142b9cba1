"""Reading a learner's answer as a value: any numeric type, any sequence, compared as values.

Introduced with the checked exercises (chapter 01). A right answer in another type passes:
``np.int64(10)``, ``10.0``, ``Fraction(10)`` and ``Decimal("10")`` are all the count 10; a tuple,
a ``map`` or a NumPy array is a list. Each reader raises :class:`Wrong` with what it got when the
value is not of the kind the exercise asks for (``what`` names it, ``doing`` says where).

>>> number(__import__("fractions").Fraction(3, 4), "a share")
0.75
>>> whole(12.0, "a count")
12
>>> as_list(map(int, "123"), "a list of digits")
[1, 2, 3]
>>> close(37.8, 37.778, rel=0.01)
True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from helpers.checks.framework import Wrong, describe

__all__ = ["as_list", "close", "first_mistake", "number", "whole"]


def _where(doing: str) -> str:
    return f"{doing}, it returned" if doing else "you gave"


def number(value: Any, what: str = "a number", *, doing: str = "") -> float:
    """``value`` as a float when it is a real number of any type (not a bool, not text)."""
    if isinstance(value, bool) or isinstance(value, str | bytes) or value is None:
        raise Wrong(f"{_where(doing)} {describe(value)}; expected {what}.")
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        raise Wrong(f"{_where(doing)} {describe(value)}, a complex number; expected {what}.")
    try:
        result = float(value)  # numbers.Real, Decimal, NumPy scalars and 0-d arrays
    except (TypeError, ValueError):
        raise Wrong(f"{_where(doing)} {describe(value)}; expected {what}.") from None
    if math.isnan(result):
        raise Wrong(f"{_where(doing)} NaN; expected {what}.")
    return result


def whole(value: Any, what: str = "a whole number", *, doing: str = "") -> int:
    """``value`` as an int when it is a whole number of any numeric type (10, 10.0, np.int64)."""
    result = number(value, what, doing=doing)
    if not result.is_integer():
        raise Wrong(f"{_where(doing)} {describe(value)}, not a whole number; expected {what}.")
    return int(result)


def as_list(value: Any, what: str = "a list", *, doing: str = "") -> list:
    """Any sequence or iterable (list, tuple, map, generator, NumPy array) as a list; a text,
    a dict or a single value is refused with what it was."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise Wrong(f"{_where(doing)} {describe(value)}; expected {what}.")
    return list(value)


def close(got: float, expected: float, *, rel: float = 0.0, abs: float = 0.0) -> bool:  # noqa: A002
    """``math.isclose`` with the exercise's stated tolerance."""
    return math.isclose(got, expected, rel_tol=rel, abs_tol=abs)


def first_mistake(table: Iterable[tuple[Callable[[], bool], str | Callable[[], str]]]) -> None:
    """Raise :class:`Wrong` with the message of the first known mistake whose condition holds.

    ``table`` is a chapter's known mistakes as ``(condition, message)`` pairs, in the order
    they are tried; each condition is a function of no arguments (evaluated only when the ones
    before it were false), each message a text or a function that writes it."""
    for condition, message in table:
        if condition():
            raise Wrong(message() if callable(message) else message)
