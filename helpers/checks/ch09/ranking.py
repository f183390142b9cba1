"""Candidates made up so that every order differs, and the learner's ranking judged: chapter
09's exercise 2 (rank by the mean, not the total).

Used by :mod:`helpers.checks.ch09`: :func:`made_up_candidates` are four choices whose orders by
total, by mean per token, by mean per character and by mean upside down all differ
(:func:`orders_of`); :func:`check_ranking` calls the learner's ``rank_by_mean`` on candidates (made
up, or the server's) and names the order it used when it is not the mean's, best first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from helpers.checks.framework import Wrong, call, describe
from helpers.checks.values import first_mistake

__all__ = ["check_ranking", "made_up_candidates", "orders_of"]


def _candidate(text: str, logprobs: list[float]) -> dict:
    return {"index": 0, "text": text, "finish_reason": "stop",
            "logprobs": {"tokens": ["x"] * len(logprobs), "token_logprobs": logprobs}}


def made_up_candidates() -> list[dict]:
    """Four candidates whose orders by total, by mean per token, by mean per character and
    by mean upside down all differ."""
    made = [_candidate(" Paris, for sure", [-2.0, -2.0]),  # short: the best total
            _candidate(" a city of light and of many bridges", [-1.5] * 5),
            _candidate(" an old port on a bay", [-0.8] * 10),
            _candidate(" x", [-0.1])]
    for index, candidate in enumerate(made):
        candidate["index"] = index
    return [made[i] for i in (2, 0, 3, 1)]  # in none of the orders


def _mean(candidate: dict) -> float:
    values = candidate["logprobs"]["token_logprobs"]
    return sum(values) / len(values)


def orders_of(candidates: list[dict]) -> dict[str, list[int]]:
    def order(key, reverse=True):
        return [c["index"] for c in sorted(candidates, key=key, reverse=reverse)]

    def total(c):
        return sum(c["logprobs"]["token_logprobs"])

    return {"mean": order(_mean), "total": order(total),
            "characters": order(lambda c: total(c) / max(len(c["text"]), 1)),
            "upside down": order(_mean, reverse=False)}


def check_ranking(rank_by_mean: Any, candidates: list[dict], label: str) -> None:
    doing = f"calling rank_by_mean on {label}"
    given = [json.loads(json.dumps(c)) for c in candidates]  # copies: the learner may sort them
    ranked = call(rank_by_mean, given, doing=doing, limit=30)
    if ranked is None:
        sorted_in_place = [c.get("index") for c in given] == orders_of(candidates)["mean"]
        raise Wrong(f"{doing} returned None" + (
            ": list.sort() sorts the list in place and returns None. Return the list, or "
            "use sorted(choices, key=...)." if sorted_in_place else
            ": return the choices, best first."))
    if not isinstance(ranked, list):
        if isinstance(ranked, str | bytes | Mapping) or not isinstance(ranked, Iterable):
            raise Wrong(f"{doing} returned {describe(ranked)}; expected the "
                        f"{len(candidates)} choices themselves (the dicts), best first.")
        ranked = call(list, ranked, doing=doing, limit=30)  # a tuple, a generator...
    if len(ranked) != len(candidates) or not all(isinstance(c, dict) for c in ranked):
        raise Wrong(f"{doing} returned {describe(ranked)}; expected the {len(candidates)} "
                    "choices themselves (the dicts), best first.")
    try:
        indexes = [c["index"] for c in ranked]
    except (KeyError, TypeError):
        raise Wrong(f"{doing} returned dicts that are not the choices (no 'index' or "
                    "'logprobs'): return the choices themselves, sorted, not new rows."
                    ) from None
    if sorted(indexes) != sorted(c["index"] for c in candidates):
        raise Wrong(f"{doing} returned the choices {indexes} (by their 'index'); expected each "
                    f"of {sorted(c['index'] for c in candidates)} once.")
    given_by_index = {c["index"]: c for c in candidates}
    if any(c.get("logprobs") != given_by_index[c["index"]]["logprobs"] for c in ranked):
        raise Wrong(f"{doing} returned dicts that are not the choices it was given (their "
                    "logprobs differ): return the choices themselves, sorted, not new rows.")
    orders = orders_of(candidates)
    means = [_mean(given_by_index[i]) for i in indexes]
    if all(a >= b - 1e-9 for a, b in zip(means, means[1:], strict=False)):
        return  # best first by mean (equal means in any order)
    first_mistake([
        (lambda: indexes == orders["total"],
         f"{doing}: your order is by the total log-probability, which favours short "
         "candidates (every token adds a negative number). Divide each total by its number "
         "of tokens."),
        (lambda: indexes == orders["upside down"],
         f"{doing}: your order is by mean, but worst first. Logprobs are at most 0: the best "
         "is the highest, closest to 0 (reverse=True)."),
        (lambda: indexes == orders["characters"],
         f"{doing}: your order divides by the text's length in characters. The mean is per "
         "token: divide by len(choice['logprobs']['token_logprobs'])."),
    ])
    raise Wrong(f"{doing}: your order is choices {indexes} (by their 'index'); by mean "
                f"log-probability per token, best first, it is {orders['mean']}.")
