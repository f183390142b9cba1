"""The learner's fit() called and its kept messages judged: chapter 08's exercise 2 (a
conversation that fits a budget).

Used by :mod:`helpers.checks.ch08`: :func:`run_fit` calls the learner's
``fit(conversation, MAX_TOKENS, budget)`` and makes the checks that need no counting (nothing
mutated, the system message and the last message kept, the oldest turns dropped first, the roles
still alternating); :func:`kept_said` says what was kept; :func:`explain_budget` says, with the
server's counts, how the kept messages differ from those that fit a budget.
"""

from __future__ import annotations

import copy
from typing import Any

from helpers.checks.ch08.counts import count
from helpers.checks.framework import Wrong, call, describe
from helpers.checks.values import as_list, first_mistake

__all__ = ["FIT_LIMIT", "MAX_TOKENS", "explain_budget", "kept_said", "run_fit"]

#: Seconds one call of the learner's fit() may take.
FIT_LIMIT = 20.0
#: The check's own max_tokens for exercise 2 (the budgets leave room for it).
MAX_TOKENS = 24


def run_fit(fit: Any, conversation: list, budget: int, label: str) -> list:
    """The learner's fit(conversation, MAX_TOKENS, budget), with the checks that need no
    counting: nothing mutated, the system message and the last message kept, the oldest
    turns dropped first, the roles still alternating."""
    given = copy.deepcopy(conversation)
    doing = f"calling fit(conversation, {MAX_TOKENS}, {budget}) ({label})"
    kept = call(_fitted, fit, given, MAX_TOKENS, budget, doing=doing, limit=FIT_LIMIT)
    if isinstance(kept, _NotAList):
        raise Wrong(f"{doing} returned {describe(kept.value)}; expected the messages to send, "
                    "a non-empty list.")
    if given != conversation:
        raise Wrong(f"{doing} changed the conversation it was given (now {len(given)} "
                    "messages): build a new list (slices, system + rest[2:]) instead of "
                    "pop() or del on the caller's history.")
    if not kept:
        raise Wrong(f"{doing} returned an empty list; expected the messages to send.")
    if not all(isinstance(m, dict) and "role" in m for m in kept):
        odd = next(m for m in kept if not (isinstance(m, dict) and "role" in m))
        raise Wrong(f"{doing} returned {describe(kept, 60)}: expected messages (dicts with "
                    f"'role' and 'content'), not {describe(odd, 40)}.")
    system = conversation[:1] if conversation[0]["role"] == "system" else []
    rest = kept[len(system):]
    first_mistake([
        (lambda: system and kept[0] != system[0],
         lambda: f"{doing} dropped the system message (your first message is "
                 f"{describe(kept[0], 50)}): keep it, it sets the assistant's behaviour."),
        (lambda: not system and kept[0] == conversation[0] and len(kept) < len(conversation),
         f"{doing}: this conversation has no system message, and you kept its first message, "
         f"{describe(conversation[0], 50)}, while dropping later ones. Keep the first message "
         "only when its role is 'system'."),
        (lambda: kept[-1] != conversation[-1],
         lambda: f"{doing} did not keep the last user message, {describe(conversation[-1])} "
                 f"(your last is {describe(kept[-1], 50)}): drop the oldest turns, from the "
                 "front, never the question being asked."),
        (lambda: rest != conversation[len(conversation) - len(rest):],
         lambda: f"{doing} kept {describe([m.get('content') for m in rest], 70)}: expected "
                 "the newest messages in order, the oldest dropped first."),
        (lambda: rest and rest[0]["role"] != "user",
         lambda: f"{doing} kept a conversation that starts with an {rest[0]['role']} message "
                 "after the system message: drop a user message and its answer together, so "
                 "that the roles still alternate (many templates require it)."),
    ])
    return kept


class _NotAList:
    """What fit() returned when it is not a sequence of messages (said by the caller)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _fitted(fit: Any, conversation: list, max_tokens: int, budget: int) -> Any:
    """fit(...) read as a list (a tuple or a generator will do), else a :class:`_NotAList`.
    Run under :func:`call`: the learner's code (and its iterator) may loop."""
    kept = fit(conversation, max_tokens, budget)
    try:
        return as_list(kept)
    except Wrong:
        return _NotAList(kept)


def kept_said(kept: list, conversation: list) -> str:
    """'the system message and the newest 5 of 9 messages (the 4 oldest dropped)'."""
    system = 1 if conversation[0]["role"] == "system" else 0
    rest, total = len(kept) - system, len(conversation) - system
    head = "the system message and " if system else ""
    dropped = total - rest
    return (f"{head}the newest {rest} of {total} messages"
            + (f" (the {dropped} oldest dropped)" if dropped else " (none dropped)"))


def explain_budget(kept: list, expected: list, conversation: list, budget: int, label: str,
                    exact: bool) -> None:
    """Raise Wrong saying how the learner's ``kept`` differs from ``expected`` for ``budget``."""
    prompt = count(kept)
    first_mistake([
        (lambda: len(kept) > len(expected) and prompt <= budget < prompt + MAX_TOKENS,
         f"with budget={budget} your fit kept {kept_said(kept, conversation)}, {prompt} prompt "
         f"tokens: they fit, but the answer's max_tokens={MAX_TOKENS} does not. Count prompt "
         "tokens + max_tokens."),
        (lambda: len(kept) < len(expected) and exact,
         f"with budget={budget} ({label}) your fit kept {kept_said(kept, conversation)} where "
         f"{len(expected)} messages fit exactly ({budget - MAX_TOKENS} prompt tokens + "
         f"{MAX_TOKENS} = {budget}): it dropped more than needed. A request fits when prompt "
         "tokens + max_tokens <= budget."),
        (lambda: len(kept) < len(expected),
         lambda: f"with budget={budget} ({label}) your fit kept {kept_said(kept, conversation)} "
                 f"where {len(expected)} messages fit ({count(expected)} prompt tokens + "
                 f"{MAX_TOKENS}): it dropped more than needed."),
    ])
    raise Wrong(f"with budget={budget} ({label}) your fit kept {kept_said(kept, conversation)}, "
                f"{prompt} prompt tokens + {MAX_TOKENS} > {budget} (your server's count): keep "
                "dropping while it does not fit.")
