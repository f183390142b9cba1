"""The checkers of chapter 08's exercises (chat and tokens). See :mod:`helpers.checks.framework`.

All three call the learner's function, which talks to the learner's OpenAI-compatible server
(local, or a workshop room's with its key), on conversations of the check's own that the
notebook never sends, and compare with what that server says now:

- Exercise 1: the ``usage.prompt_tokens`` of a real chat request (one token generated) for
  three conversations of the check's own (with and without a system message, non-ASCII text).
- Exercise 2: the check's own conversation (ten messages), its own ``max_tokens`` (24) and
  budgets computed from ``/tokenize`` counts so that exactly some of the newest turns fit; a
  budget that everything fits and one that nothing fits; the verdict says how many messages
  were kept and dropped.
- Exercise 3: two conversations and two ``max_tokens`` (5 and 9) of the check's own: the share
  returned must be ``C / (P + C)`` with ``P`` the prompt tokens ``/tokenize`` counts for the
  messages sent and ``C`` a whole number of completion tokens, at most ``max_tokens``.

Generated text is never compared. Every call of the learner's code has a time limit.
"""

from __future__ import annotations

import copy
from typing import Any

from helpers.checks import server
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe
from helpers.checks.values import as_list, first_mistake, number, whole

__all__ = ["chapter", "exercise1", "exercise2", "exercise3", "progress"]

chapter = Chapter("08", "08_chat_and_tokens.ipynb")
progress = chapter.progress

#: Seconds one call of the learner's function may take (each asks the server a few times).
CALL_LIMIT = 30.0
#: Seconds one call of the learner's fit() may take.
FIT_LIMIT = 20.0


def _count(messages: list, generation_prompt: bool = True) -> int:
    """Prompt tokens of a chat request with ``messages``, as the server's ``/tokenize``
    counts them."""
    return server.ask_ok("openai", "/tokenize", {
        "messages": messages, "add_generation_prompt": generation_prompt})["count"]


def _used(messages: list) -> int:
    """``usage.prompt_tokens`` of a real chat request (one token generated)."""
    return server.ask_ok("openai", "/v1/chat/completions", {
        "messages": messages, "max_tokens": 1})["usage"]["prompt_tokens"]


def _text_only(messages: list) -> int:
    return sum(server.ask_ok("openai", "/tokenize", {"prompt": m["content"]})["count"]
               for m in messages)


# The check's own conversations: none of them is in the notebook.
COUNT_CASES = [
    [{"role": "user", "content": "Which is heavier, a kilo of feathers or a kilo of lead?"}],
    [{"role": "system", "content": "Reply in German."},
     {"role": "user", "content": "Wie spät ist es in Zürich? ⏰"}],
    [{"role": "system", "content": "You are a patient gardening coach."},
     {"role": "user", "content": "My basil wilts every afternoon."},
     {"role": "assistant", "content": "Water it in the morning and give it some shade."},
     {"role": "user", "content": "And the tomatoes next to it?"}],
]


@chapter.exercise("Count before you send", hints=[
    "/tokenize takes the same messages as a chat request; the chapter's tokenize(**body) "
    "sends them. Which option makes it count what a chat request counts?",
    "return tokenize(messages=messages, add_generation_prompt=True)['count']: the open "
    "assistant turn that a chat request appends counts too.",
], function="chat_prompt_tokens")
def exercise1(chat_prompt_tokens: Any) -> str:
    counted = [_counted_by(chat_prompt_tokens, messages) for messages in COUNT_CASES]
    if len(set(counted)) == 1:
        raise Wrong(f"your function counted {counted[0]} tokens for each of the check's "
                    f"{len(COUNT_CASES)} conversations, of different lengths: it does not "
                    "count the messages it receives (a fixed number, or a fixed conversation?).")
    for messages, got in zip(COUNT_CASES, counted, strict=True):
        _compare_count(messages, got)
    return (f"the check's {len(COUNT_CASES)} own conversations (one without a system prompt) "
            f"counted exactly as real chat requests used them: {counted} prompt tokens.")


def _counted_by(chat_prompt_tokens: Any, messages: list) -> int:
    doing = f"calling chat_prompt_tokens({describe(messages, 60)})"
    got = call(chat_prompt_tokens, copy.deepcopy(messages), doing=doing, limit=CALL_LIMIT)
    first_mistake([
        (lambda: isinstance(got, dict),
         lambda: f"{doing} returned a dict, {describe(got, 50)}: " + (
             "take its ['count']." if "count" in got else "return the number of tokens.")),
        (lambda: isinstance(got, list | tuple),
         lambda: f"{doing} returned a {type(got).__name__} of {len(got)} items (the token "
                 "ids?): return how many tokens, a number."),
    ])
    return whole(got, "a number of tokens", doing=doing)


def _compare_count(messages: list, got: int) -> None:
    used = _used(messages)
    if got == used:
        return
    shown = describe(messages, 60)
    first_mistake([
        (lambda: got == _count(messages, generation_prompt=False),
         f"for {shown} you counted {got}, a chat request used {used}: you counted without "
         "add_generation_prompt=True. A chat request ends its prompt with the open "
         f"assistant turn ({used - got} tokens)."),
        (lambda: got == _text_only(messages),
         f"for {shown} you counted {got}, a chat request used {used}: you counted the "
         "messages' text only. The chat template adds role markers and special tokens (and "
         "a default system prompt when there is none): send the messages to /tokenize."),
    ])
    raise Wrong(f"for the check's own conversation {shown} you counted {got}; a real chat "
                f"request with it used {used} prompt tokens (its usage.prompt_tokens).")


# Exercise 2: the check's own conversation, its own max_tokens.
CONVERSATION = [
    {"role": "system", "content": "You are a patient gardening coach."},
    {"role": "user", "content": "Hi! I have a small balcony facing west."},
    {"role": "assistant", "content": "Lovely: afternoon sun suits herbs and tomatoes."},
    {"role": "user", "content": "Which herbs are easiest?"},
    {"role": "assistant", "content": "Mint, chives and parsley forgive a lot."},
    {"role": "user", "content": "How often should I water the mint?"},
    {"role": "assistant", "content": "When the top centimetre of soil is dry, often daily."},
    {"role": "user", "content": "And in winter?"},
    {"role": "assistant", "content": "Much less: once a week, and keep it out of frost."},
    {"role": "user", "content": "Can chives stay outside all year?"},
]
MAX_TOKENS = 24


def _fit(fit: Any, conversation: list, budget: int, label: str) -> list:
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


def _kept(kept: list, conversation: list) -> str:
    """'the system message and the newest 5 of 9 messages (the 4 oldest dropped)'."""
    system = 1 if conversation[0]["role"] == "system" else 0
    rest, total = len(kept) - system, len(conversation) - system
    head = "the system message and " if system else ""
    dropped = total - rest
    return (f"{head}the newest {rest} of {total} messages"
            + (f" (the {dropped} oldest dropped)" if dropped else " (none dropped)"))


@chapter.exercise("A conversation that fits", hints=[
    "Keep the system message (if the first message is one) apart; drop messages from the "
    "front of the rest while chat_prompt_tokens(system + rest) + max_tokens > budget.",
    "Drop a user message and its answer together, rest = rest[2:], and stop when only the "
    "last message is left (while len(rest) > 1 and ...): it may still not fit. Build new "
    "lists; do not change the conversation you were given.",
], function="fit")
def exercise2(fit: Any) -> str:
    no_system = CONVERSATION[1:]
    # First what needs no counting: a budget that everything fits, one that nothing fits.
    kept = _fit(fit, CONVERSATION, 100_000, "everything fits")
    if kept != CONVERSATION:
        raise Wrong(f"with a budget that everything fits (100000), your fit kept "
                    f"{_kept(kept, CONVERSATION)}: drop only while prompt tokens + "
                    "max_tokens > budget.")
    for conversation, label in ((CONVERSATION, "with a system message"),
                                (no_system, "without a system message")):
        try:
            kept = _fit(fit, conversation, 1, f"nothing fits, {label}")
        except Wrong as wrong:
            if "did not return within" in str(wrong):
                raise Wrong(f"{wrong} With budget=1 even the system message and the last "
                            "user message do not fit, and nothing is left to drop: stop the "
                            "loop there (while len(rest) > 1 and ...).") from None
            raise
        if len(kept) != len(conversation) - 8:
            raise Wrong(f"with a budget nothing fits ({label}) your fit kept "
                        f"{_kept(kept, conversation)}: expected the system message (if any) "
                        "and the last user message, which are never dropped.")
    # Then budgets that fit the newest turns exactly, counted by the learner's server.
    seen = []
    for conversation, label in ((CONVERSATION, "with a system message"),
                                (no_system, "without a system message")):
        system = conversation[:1] if conversation[0]["role"] == "system" else []
        rest = conversation[len(system):]
        # The budget fits the newest messages from `fits` on; pairs are dropped: from `drop`.
        for fits, drop in ((2, 2), (3, 4), (6, 6)):
            expected = system + rest[drop:]
            budget = _count(system + rest[fits:]) + MAX_TOKENS
            kept = _fit(fit, conversation, budget, f"{label}, {drop} messages to drop")
            if kept != expected:
                _explain_budget(kept, expected, conversation, budget, label, exact=fits == drop)
            seen.append((budget, kept, conversation))
    budget, kept, conversation = seen[0]
    return (f"for the check's own conversation of {len(CONVERSATION)} messages and "
            f"max_tokens={MAX_TOKENS}, budget={budget} kept {_kept(kept, conversation)}: the "
            "oldest turns dropped in pairs just enough to fit (6 budgets counted by your "
            "server, with and without a system message, and when nothing or everything fits), "
            "the caller's list unchanged.")


def _explain_budget(kept: list, expected: list, conversation: list, budget: int, label: str,
                    exact: bool) -> None:
    """Raise Wrong saying how the learner's ``kept`` differs from ``expected`` for ``budget``."""
    prompt = _count(kept)
    first_mistake([
        (lambda: len(kept) > len(expected) and prompt <= budget < prompt + MAX_TOKENS,
         f"with budget={budget} your fit kept {_kept(kept, conversation)}, {prompt} prompt "
         f"tokens: they fit, but the answer's max_tokens={MAX_TOKENS} does not. Count prompt "
         "tokens + max_tokens."),
        (lambda: len(kept) < len(expected) and exact,
         f"with budget={budget} ({label}) your fit kept {_kept(kept, conversation)} where "
         f"{len(expected)} messages fit exactly ({budget - MAX_TOKENS} prompt tokens + "
         f"{MAX_TOKENS} = {budget}): it dropped more than needed. A request fits when prompt "
         "tokens + max_tokens <= budget."),
        (lambda: len(kept) < len(expected),
         lambda: f"with budget={budget} ({label}) your fit kept {_kept(kept, conversation)} "
                 f"where {len(expected)} messages fit ({_count(expected)} prompt tokens + "
                 f"{MAX_TOKENS}): it dropped more than needed."),
    ])
    raise Wrong(f"with budget={budget} ({label}) your fit kept {_kept(kept, conversation)}, "
                f"{prompt} prompt tokens + {MAX_TOKENS} > {budget} (your server's count): keep "
                "dropping while it does not fit.")


# Exercise 3: the check's own conversations and max_tokens (the notebook asks "Name three
# colors." with 24): long answers are asked, so that max_tokens is likely reached.
SHARE_CASES = [
    ([{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}],
     5),
    ([{"role": "system", "content": "You are a storyteller who never stops talking."},
      {"role": "user", "content": "Tell me about a ship that sails to the edge of the map."},
      {"role": "assistant", "content": "The Albatross left port at dawn, its sails full."},
      {"role": "user", "content": "Go on, and describe every sailor on board."}], 9),
]
#: A share may be rounded to this (three decimals), unless another formula comes closer; the
#: known mistakes are told apart exactly first (two cases: a tie in one is not in the other).
SHARE_TOLERANCE = 5e-4


@chapter.exercise("Where does the budget go?", hints=[
    "client.chat.completions.create(..., stream=True, stream_options={'include_usage': True})"
    ": the last event of the stream carries usage (and no choices).",
    "usage = [event.usage for event in stream if event.usage][-1]; return "
    "usage.completion_tokens / (usage.prompt_tokens + usage.completion_tokens). Pass "
    "messages and max_tokens on to the request.",
], function="answer_share")
def exercise3(answer_share: Any) -> str:
    shares = [_share_of(answer_share, messages, max_tokens)
              for messages, max_tokens in SHARE_CASES]
    if shares[0] == shares[1]:
        raise Wrong(f"your function returned {shares[0]!r} for both of the check's "
                    f"conversations, of different lengths and max_tokens ({SHARE_CASES[0][1]} "
                    f"and {SHARE_CASES[1][1]}): it does not send the messages and max_tokens it "
                    "receives (a fixed question, or a fixed share?).")
    told = []
    for (messages, max_tokens), share in zip(SHARE_CASES, shares, strict=True):
        told.append(_judge_share(share, messages, max_tokens))
    return (f"for the check's own conversations ({'; '.join(told)}), your shares are "
            "completion_tokens / (prompt_tokens + completion_tokens), with the prompt tokens "
            "your server counts for the messages sent.")


def _share_of(answer_share: Any, messages: list, max_tokens: int) -> float:
    doing = f"calling answer_share({describe(messages, 50)}, {max_tokens})"
    try:
        got = call(answer_share, copy.deepcopy(messages), max_tokens, doing=doing,
                   limit=CALL_LIMIT)
    except AnswerRaised as raised:
        error = raised.error
        first_mistake([
            (lambda: isinstance(error, AttributeError) and "NoneType" in str(error),
             f"{doing}, your code raised AttributeError ({error}): a stream carries usage "
             "only when asked, stream_options={'include_usage': True}, and only on its last "
             "event; the others have usage None."),
            (lambda: isinstance(error, IndexError),
             f"{doing}, your code raised IndexError ({error}): the stream's last event, the "
             "one with usage, has an empty choices list. Skip it when you read "
             "event.choices[0]."),
        ])
        raise
    if got is None:
        raise Wrong(f"{doing} returned None: return the share (a number between 0 and 1), "
                    "not only print it.")
    share = number(got, "a number between 0 and 1", doing=doing)
    if not 0 < share < 1:
        raise Wrong(f"{doing} returned {describe(got)}; a share of the tokens is between 0 "
                    "and 1 (completion_tokens / (prompt_tokens + completion_tokens)).")
    return share


def _nearest(share: float, formula: Any, completions: range, prompt: int) -> tuple[float, int]:
    """How close ``share`` comes to ``formula(P, C)`` over C in ``completions``: (gap, C)."""
    return min((abs(share - formula(prompt, c)), c) for c in completions)


def _judge_share(share: float, messages: list, max_tokens: int) -> str:
    prompt = _count(messages)
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
