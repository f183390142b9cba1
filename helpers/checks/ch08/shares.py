"""The learner's share of the budget judged against the server's count: chapter 08's
exercise 3 (where does the budget go?).

Used by :mod:`helpers.checks.ch08`: :func:`judge_share` holds the share the learner's
``answer_share`` returned against ``C / (P + C)``, with ``P`` the prompt tokens the server's
``/tokenize`` counts for the messages and ``C`` any whole number of completion tokens up to
``max_tokens`` (rounded to within :data:`SHARE_TOLERANCE`), and names the known mistakes
(``P / total``, ``C / P``, ``max_tokens`` not passed on).
"""

from __future__ import annotations

from typing import Any

from helpers.checks.ch08.counts import count
from helpers.checks.framework import Wrong, describe
from helpers.checks.values import first_mistake

__all__ = ["SHARE_TOLERANCE", "judge_share"]

#: A share may be rounded to this (three decimals), unless another formula comes closer; the
#: known mistakes are told apart exactly first (two cases: a tie in one is not in the other).
SHARE_TOLERANCE = 5e-4


def _nearest(share: float, formula: Any, completions: range, prompt: int) -> tuple[float, int]:
    """How close ``share`` comes to ``formula(P, C)`` over C in ``completions``: (gap, C)."""
    return min((abs(share - formula(prompt, c)), c) for c in completions)


def judge_share(share: float, messages: list, max_tokens: int) -> str:
    prompt = count(messages)
    doing = f"for {describe(messages, 50)} with max_tokens={max_tokens}, your function"
    allowed = range(1, max_tokens + 1)
    right, completion = _nearest(share, lambda p, c: c / (p + c), allowed, prompt)
    exact = 1e-9
    if right < exact:
        return f"{completion} of {max_tokens} completion tokens after {prompt} prompt tokens"
    inverted = _nearest(share, lambda p, c: p / (p + c), allowed, prompt)[0]
    over_prompt = _nearest(share, lambda p, c: c / p, allowed, prompt)[0]
    beyond = _nearest(share, lambda p, c: c / (p + c), range(max_tokens + 1, 4097), prompt)
    first_mistake([
        (lambda: inverted < exact,
         f"{doing} returned {share:.4f}, which is prompt_tokens / total: the share of the "
         "answer is completion_tokens / (prompt_tokens + completion_tokens)."),
        (lambda: over_prompt < exact,
         f"{doing} returned {share:.4f}, which is completion_tokens / prompt_tokens: divide by "
         "their sum, prompt_tokens + completion_tokens."),
        (lambda: beyond[0] < exact,
         f"{doing} returned {share:.4f}: {beyond[1]} completion tokens after {prompt} prompt "
         f"tokens, more than max_tokens={max_tokens}. Pass max_tokens on to the request."),
    ])
    if right <= SHARE_TOLERANCE and right <= min(inverted, over_prompt):
        return (f"{completion} of {max_tokens} completion tokens after {prompt} prompt tokens, "
                f"rounded to within {SHARE_TOLERANCE:g}")
    implied = round(max_tokens * (1 - share) / share)  # the prompt, if C = max_tokens
    raise Wrong(f"{doing} returned {share:.4f}; your server counts {prompt} prompt tokens for "
                f"these messages, and with at most {max_tokens} completion tokens "
                "completion_tokens / (prompt_tokens + completion_tokens) cannot be that (it "
                f"would fit a prompt of about {implied} tokens). Did you send the messages you "
                "received?")
