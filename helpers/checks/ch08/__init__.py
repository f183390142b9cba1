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

The harness is apart: :mod:`~helpers.checks.ch08.counts` asks the learner's server for its
counts, :mod:`~helpers.checks.ch08.fitting` calls the learner's fit() and judges what it kept,
:mod:`~helpers.checks.ch08.shares` judges a share against the server's count.
"""

from __future__ import annotations

import copy
from typing import Any

from helpers.checks.ch08.counts import count, text_only, used_in_chat
from helpers.checks.ch08.fitting import MAX_TOKENS, explain_budget, kept_said, run_fit
from helpers.checks.ch08.shares import judge_share
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe
from helpers.checks.values import first_mistake, number, whole

__all__ = ["chapter", "exercise1", "exercise2", "exercise3", "progress"]

chapter = Chapter("08", "08_chat_and_tokens.ipynb")
progress = chapter.progress

#: Seconds one call of the learner's function may take (each asks the server a few times).
CALL_LIMIT = 30.0


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
    used = used_in_chat(messages)
    if got == used:
        return
    shown = describe(messages, 60)
    first_mistake([
        (lambda: got == count(messages, generation_prompt=False),
         f"for {shown} you counted {got}, a chat request used {used}: you counted without "
         "add_generation_prompt=True. A chat request ends its prompt with the open "
         f"assistant turn ({used - got} tokens)."),
        (lambda: got == text_only(messages),
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
    kept = run_fit(fit, CONVERSATION, 100_000, "everything fits")
    if kept != CONVERSATION:
        raise Wrong(f"with a budget that everything fits (100000), your fit kept "
                    f"{kept_said(kept, CONVERSATION)}: drop only while prompt tokens + "
                    "max_tokens > budget.")
    for conversation, label in ((CONVERSATION, "with a system message"),
                                (no_system, "without a system message")):
        try:
            kept = run_fit(fit, conversation, 1, f"nothing fits, {label}")
        except Wrong as wrong:
            if "did not return within" in str(wrong):
                raise Wrong(f"{wrong} With budget=1 even the system message and the last "
                            "user message do not fit, and nothing is left to drop: stop the "
                            "loop there (while len(rest) > 1 and ...).") from None
            raise
        if len(kept) != len(conversation) - 8:
            raise Wrong(f"with a budget nothing fits ({label}) your fit kept "
                        f"{kept_said(kept, conversation)}: expected the system message (if any) "
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
            budget = count(system + rest[fits:]) + MAX_TOKENS
            kept = run_fit(fit, conversation, budget, f"{label}, {drop} messages to drop")
            if kept != expected:
                explain_budget(kept, expected, conversation, budget, label, exact=fits == drop)
            seen.append((budget, kept, conversation))
    budget, kept, conversation = seen[0]
    return (f"for the check's own conversation of {len(CONVERSATION)} messages and "
            f"max_tokens={MAX_TOKENS}, budget={budget} kept {kept_said(kept, conversation)}: the "
            "oldest turns dropped in pairs just enough to fit (6 budgets counted by your "
            "server, with and without a system message, and when nothing or everything fits), "
            "the caller's list unchanged.")


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
        told.append(judge_share(share, messages, max_tokens))
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

