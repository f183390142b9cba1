"""The learner's settings read as a ``Choices``, run on both APIs, and their candidates
compared: chapter 07's exercise 1.

Used by :mod:`helpers.checks.ch07`: :func:`read_settings` reads the answer (a ``Choices``, or a
dict of its fields; numbers of any numeric type) into a clean ``Choices``; :func:`final` runs it
to the end on one API through a playground; :func:`same_candidates` says whether the two APIs'
candidates are the same (on a room's shared server, whether each pair starts the same).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from helpers.checks.framework import Wrong, describe
from helpers.checks.values import number, whole
from helpers.playground import Choices

__all__ = ["final", "read_settings", "same_candidates"]


def read_settings(same: Any) -> Any:
    """:func:`_choices_from`, run under :func:`call` (the answer's own methods may loop): the
    ``Choices``, or the text of the :class:`Wrong` it raised."""
    try:
        return _choices_from(same)
    except Wrong as wrong:
        return str(wrong)


def _choices_from(same: Any) -> Any:
    """The learner's settings as a clean ``Choices``: every number as a plain int or float
    (a NumPy int or a Fraction is fine; it would not go into a JSON request as it is)."""
    names = [field.name for field in dataclasses.fields(Choices)]
    if isinstance(same, Choices):
        given = {name: getattr(same, name) for name in names}
    elif isinstance(same, Mapping):
        unknown = sorted(str(key) for key in same if key not in names)
        if unknown:
            raise Wrong(f"your settings name {', '.join(unknown)}, which a Choices does not "
                        f"have (its fields: {', '.join(names)}).")
        given = {**{name: getattr(Choices(), name) for name in names}, **dict(same)}
    else:
        raise Wrong(f"expected your settings as a Choices, as in same = Choices(prompt=..., "
                    f"n=2, seed=...), or a dict of its fields; got {describe(same)}. This "
                    "check runs them on both APIs.")
    if not isinstance(given["prompt"], str) or not given["prompt"]:
        raise Wrong(f"your settings' prompt is {describe(given['prompt'])}; expected a text.")
    seed = given["seed"]
    return Choices(
        prompt=given["prompt"], api="legacy",
        temperature=number(given["temperature"], "a temperature (a number)"),
        top_p=number(given["top_p"], "a top_p (a number)"),
        max_tokens=whole(given["max_tokens"], "max_tokens (a whole number)"),
        n=whole(given["n"], "n (a whole number)"),
        seed=None if seed is None else whole(seed, "a seed (a whole number, or None)"),
        stream=bool(given["stream"]), beam_search=bool(given["beam_search"]))


def same_candidates(legacy: list, openai: list, shared: bool) -> bool:
    """The two APIs' candidates are the same; on a room's shared server, where another
    batch may tip a near-tie, each pair of candidates starts the same (its first half)."""
    if legacy == openai:
        return True
    if not shared or len(legacy) != len(openai):
        return False
    for one, other in zip(legacy, openai, strict=True):
        common = len(_common_prefix(one, other))
        if common < min(len(one), len(other)) / 2:
            return False
    return True


def _common_prefix(one: str, other: str) -> str:
    end = 0
    while end < min(len(one), len(other)) and one[end] == other[end]:
        end += 1
    return one[:end]


def final(playground: Any, choices: Any) -> list:
    """The candidates' texts once ``choices`` ran to the end on ``choices.api``."""
    try:
        updates = list(playground.run(choices))
    except Exception as error:  # the server refused the learner's settings: say why
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise Wrong(f"the {choices.api} API refused your settings ({type(error).__name__}: "
                    f"{text[:160]}).") from None
    if not updates:
        raise Wrong(f"the {choices.api} API answered nothing for your settings.")
    return updates[-1]
