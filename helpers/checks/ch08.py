"""The checkers of chapter 08's exercises (chat and tokens). See :mod:`helpers.checks.framework`.

All three call the learner's function, which talks to the learner's OpenAI-compatible server
(local, or a workshop room's with its key), and compare with what that server says: the
``usage.prompt_tokens`` of a real chat request (exercise 1), the prompt tokens that
``/tokenize`` counts for conversations and budgets the checker builds (exercise 2), and the
arithmetic a streamed ``usage`` must satisfy (exercise 3). Generated text is never compared.
"""

from __future__ import annotations

import copy
import sys
import time
from typing import Any

import requests

from helpers import settings
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe

__all__ = ["chapter", "exercise1", "exercise2", "exercise3", "progress"]

chapter = Chapter("08", "08_chat_and_tokens.ipynb")
FIT_LIMIT = 20.0  # seconds one call of the learner's fit() may take


def _v1() -> str:
    """The learner's OpenAI-compatible server: the room's when set, else the local one."""
    from helpers.servers import KINDS

    return KINDS["openai"].url()


def _post(path: str, body: dict) -> dict:
    url = (_v1().removesuffix("/v1") if path == "/tokenize" else _v1()) + path
    try:
        answer = requests.post(url, headers=settings.auth_headers(), timeout=120,
                               json={"model": settings.SERVED_MODEL_NAME, **body})
    except requests.ConnectionError:
        raise Wrong(f"this check asks your OpenAI-compatible server, {_v1()}, which did not "
                    "answer: run the chapter's first cells (start_server('openai')), then "
                    "this one again.") from None
    answer.raise_for_status()
    return answer.json()


def _count(messages: list, generation_prompt: bool = True) -> int:
    """Prompt tokens of a chat request with ``messages``, as ``/tokenize`` counts them."""
    return _post("/tokenize", {"messages": messages,
                               "add_generation_prompt": generation_prompt})["count"]


def _used(messages: list) -> int:
    """``usage.prompt_tokens`` of a real chat request (one token generated)."""
    return _post("/chat/completions", {"messages": messages, "max_tokens": 1})[
        "usage"]["prompt_tokens"]


SYSTEM = {"role": "system", "content": "You are a concise assistant."}
COUNT_CASES = [
    [{"role": "user", "content": "Tell me a joke about tokens."}],
    [{"role": "system", "content": "Answer in French."},
     {"role": "user", "content": "Café au lait, or tea? 🌉"}],
    [SYSTEM, {"role": "user", "content": "Hello! My name is Ada."},
     {"role": "assistant", "content": "Hello Ada! How can I help?"},
     {"role": "user", "content": "What is my name?"}],
]


@chapter.exercise("Count before you send", hints=[
    "/tokenize takes the same messages as a chat request; the chapter's tokenize(**body) "
    "sends them. Which option makes it count what a chat request counts?",
    "return tokenize(messages=messages, add_generation_prompt=True)['count']: the open "
    "assistant turn that a chat request appends counts too.",
], function="chat_prompt_tokens")
def exercise1(chat_prompt_tokens: Any) -> str:
    counted = []
    for messages in COUNT_CASES:
        doing = f"calling chat_prompt_tokens({describe(messages, 60)})"
        got = call(chat_prompt_tokens, copy.deepcopy(messages), doing=doing)
        if isinstance(got, dict):
            hint = " take its ['count']" if "count" in got else " return the number of tokens"
            raise Wrong(f"{doing} returned a dict, {describe(got, 50)}:{hint}.")
        if isinstance(got, list):
            raise Wrong(f"{doing} returned a list of {len(got)} items (the token ids?): "
                        "return how many tokens, a number.")
        if isinstance(got, bool) or not isinstance(got, int):
            raise Wrong(f"{doing} returned {describe(got)}; expected a number of tokens (int).")
        counted.append(got)
    if len(set(counted)) == 1:
        raise Wrong(f"your function counted {counted[0]} tokens for each of "
                    f"{len(COUNT_CASES)} different conversations: count the messages it "
                    "receives, not a fixed list.")
    for messages, got in zip(COUNT_CASES, counted, strict=True):
        used = _used(messages)
        if got == used:
            continue
        shown = describe(messages, 60)
        if got == _count(messages, generation_prompt=False):
            raise Wrong(f"for {shown} you counted {got}, a chat request used {used}: you "
                        "counted without add_generation_prompt=True. A chat request ends its "
                        f"prompt with the open assistant turn ({used - got} tokens).")
        text_only = sum(_post("/tokenize", {"prompt": m["content"]})["count"]
                        for m in messages)
        if got == text_only:
            raise Wrong(f"for {shown} you counted {got}, a chat request used {used}: you "
                        "counted the messages' text only. The chat template adds role markers "
                        "and special tokens (and a default system prompt when there is none): "
                        "send the messages to /tokenize.")
        raise Wrong(f"for {shown} you counted {got}; a real chat request used {used} prompt "
                    "tokens.")
    return (f"{len(COUNT_CASES)} conversations (one without a system prompt) counted "
            f"exactly as real chat requests used them: {counted}.")


class _TooLong(BaseException):  # not an Exception: the learner's `except Exception` lets it by
    pass


def _within(seconds: float, function: Any, *args: Any, doing: str, **kwargs: Any) -> Any:
    """Call the learner's ``function``, interrupting it (:class:`_TooLong`) after ``seconds``:
    a loop that cannot end must not hang the notebook. Only the learner's own frames are
    traced line by line (the installed packages' are not: they would run slowly)."""
    deadline = time.monotonic() + seconds
    libraries = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
    previous = sys.gettrace()

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise _TooLong()
        return None if frame.f_code.co_filename.startswith(libraries) else tracer

    sys.settrace(tracer)
    try:
        return call(function, *args, doing=doing, **kwargs)
    finally:
        sys.settrace(previous)


CONVERSATION = [
    SYSTEM,
    {"role": "user", "content": "Hello! My name is Ada."},
    {"role": "assistant", "content": "Hello Ada! How can I help you today?"},
    {"role": "user", "content": "What is two plus two?"},
    {"role": "assistant", "content": "Two plus two is four."},
    {"role": "user", "content": "And three plus three?"},
    {"role": "assistant", "content": "Six."},
    {"role": "user", "content": "Is Lisbon by the sea?"},
]
MAX_TOKENS = 32


def _fit(fit: Any, conversation: list, budget: int, label: str) -> list:
    """The learner's fit(conversation, MAX_TOKENS, budget), with the checks that need no
    counting: nothing mutated, the system message and the last message kept, the oldest
    turns dropped first, the roles still alternating."""
    given = copy.deepcopy(conversation)
    doing = f"calling fit(conversation, max_tokens={MAX_TOKENS}, budget={budget}) ({label})"
    try:
        kept = _within(FIT_LIMIT, fit, given, max_tokens=MAX_TOKENS, budget=budget,
                       doing=doing)
    except _TooLong:
        raise Wrong(f"{doing} had not returned after {FIT_LIMIT:.0f} s: when even the system "
                    "message and the last user message do not fit, nothing is left to drop. "
                    "Stop the loop there (while len(rest) > 1 and ...).") from None
    if given != conversation:
        raise Wrong(f"{doing} changed the conversation it was given (now {len(given)} "
                    "messages): build a new list (slices, system + rest[2:]) instead of "
                    "pop() or del on the caller's history.")
    if not isinstance(kept, list) or not kept:
        raise Wrong(f"{doing} returned {describe(kept)}; expected the messages to send, a "
                    "non-empty list.")
    system = conversation[:1] if conversation[0]["role"] == "system" else []
    if system and kept[0] != system[0]:
        raise Wrong(f"{doing} dropped the system message (your first message is "
                    f"{describe(kept[0], 50)}): keep it, it sets the assistant's behaviour.")
    if not system and kept[0] == conversation[0] and len(kept) < len(conversation):
        raise Wrong(f"{doing}: this conversation has no system message, and you kept its first "
                    f"message, {describe(conversation[0], 50)}, while dropping later ones. Keep "
                    "the first message only when its role is 'system'.")
    if kept[-1] != conversation[-1]:
        raise Wrong(f"{doing} did not keep the last user message, {describe(conversation[-1])}"
                    f" (your last is {describe(kept[-1], 50)}): drop the oldest turns, from the "
                    "front, never the question being asked.")
    rest = kept[len(system):]
    if rest != conversation[len(conversation) - len(rest):]:
        raise Wrong(f"{doing} kept {describe([m['content'] for m in rest], 70)}: expected the "
                    "newest messages in order, the oldest dropped first.")
    if rest and rest[0]["role"] != "user":
        raise Wrong(f"{doing} kept a conversation that starts with an {rest[0]['role']} "
                    "message after the system message: drop a user message and its answer "
                    "together, so that the roles still alternate (many templates require it).")
    return kept


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
        raise Wrong(f"with a budget that everything fits, fit(...) kept {len(kept)} of "
                    f"{len(CONVERSATION)} messages: drop only while prompt tokens + "
                    "max_tokens > budget.")
    for conversation, label in ((CONVERSATION, "with a system message"),
                                (no_system, "without a system message")):
        kept = _fit(fit, conversation, 1, f"nothing fits, {label}")
        if len(kept) != len(conversation) - 6:
            raise Wrong(f"with a budget nothing fits ({label}) fit(...) kept {len(kept)} "
                        "messages: expected the system message (if any) and the last user "
                        "message, which are never dropped.")
    # Then budgets that fit the newest turns exactly, counted by the learner's server.
    for conversation, label in ((CONVERSATION, "with a system message"),
                                (no_system, "without a system message")):
        system = conversation[:1] if conversation[0]["role"] == "system" else []
        rest = conversation[len(system):]
        # The budget fits the newest messages from `fits` on; pairs are dropped: from `drop`.
        for fits, drop in ((2, 2), (1, 2), (4, 4)):
            expected = system + rest[drop:]
            budget = _count(system + rest[fits:]) + MAX_TOKENS
            kept = _fit(fit, conversation, budget, f"{label}, {drop} messages to drop")
            if kept == expected:
                continue
            prompt = _count(kept)
            if len(kept) > len(expected) and prompt <= budget < prompt + MAX_TOKENS:
                raise Wrong(f"with budget={budget} your fit kept {len(kept)} messages, "
                            f"{prompt} prompt tokens: they fit, but the answer's max_tokens="
                            f"{MAX_TOKENS} does not. Count prompt tokens + max_tokens.")
            if len(kept) < len(expected):
                raise Wrong(f"with budget={budget} ({label}) your fit kept {len(kept)} "
                            f"messages where {len(expected)} fit ({_count(expected)} prompt "
                            f"tokens + {MAX_TOKENS}): it dropped more than needed.")
            raise Wrong(f"with budget={budget} ({label}) your fit kept {len(kept)} messages, "
                        f"{prompt} prompt tokens + {MAX_TOKENS} > {budget}: keep dropping "
                        "while it does not fit.")
    return ("the system message and the last question kept, the oldest turns dropped in "
            "pairs just enough to fit (with and without a system message, and when nothing "
            "fits), the caller's list unchanged.")


@chapter.exercise("Where does the budget go?", hints=[
    "client.chat.completions.create(..., stream=True, stream_options={'include_usage': True})"
    ": the last event of the stream carries usage (and no choices).",
    "usage = [event.usage for event in stream if event.usage][-1]; return "
    "usage.completion_tokens / (usage.prompt_tokens + usage.completion_tokens). Pass "
    "messages and max_tokens on to the request.",
], function="answer_share")
def exercise3(answer_share: Any) -> str:
    messages = [{"role": "user", "content": "Name three colors."}]
    max_tokens = 16
    doing = f"calling answer_share({describe(messages)}, max_tokens={max_tokens})"
    try:
        share = call(answer_share, messages, max_tokens=max_tokens, doing=doing)
    except AnswerRaised as raised:
        error = raised.error
        if isinstance(error, AttributeError) and "NoneType" in str(error):
            raise Wrong(f"{doing}, your code raised AttributeError ({error}): a stream carries "
                        "usage only when asked, stream_options={'include_usage': True}, and "
                        "only on its last event; the others have usage None.") from None
        if isinstance(error, IndexError):
            raise Wrong(f"{doing}, your code raised IndexError ({error}): the stream's last "
                        "event, the one with usage, has an empty choices list. Skip it when "
                        "you read event.choices[0].") from None
        raise
    if share is None:
        raise Wrong(f"{doing} returned None: return the share (a number between 0 and 1), "
                    "not only print it.")
    if isinstance(share, bool) or not isinstance(share, int | float):
        raise Wrong(f"{doing} returned {describe(share)}; expected a number between 0 and 1.")
    if not 0 < share < 1:
        raise Wrong(f"{doing} returned {share!r}; a share of the tokens is between 0 and 1 "
                    "(completion_tokens / (prompt_tokens + completion_tokens)).")
    prompt = _count(messages)
    completion = _whole(share * prompt / (1 - share))  # share = C / (P + C)
    if completion is not None and 1 <= completion <= max_tokens:
        return (f"{share:.0%} of the budget went to the answer: {completion} completion "
                f"tokens, after {prompt} prompt tokens that the template made of a 3-word "
                "question.")
    inverted = _whole((1 - share) * prompt / share)  # share = P / (P + C)
    if inverted is not None and 1 <= inverted <= max_tokens:
        raise Wrong(f"{doing} returned {share:.3f}, which is prompt_tokens / total: the "
                    "share of the answer is completion_tokens / (prompt_tokens + "
                    "completion_tokens).")
    only_prompt = _whole(share * prompt)  # share = C / P
    if only_prompt is not None and 1 <= only_prompt <= max_tokens:
        raise Wrong(f"{doing} returned {share:.3f}, which is completion_tokens / "
                    "prompt_tokens: divide by their sum, prompt_tokens + completion_tokens.")
    if completion is not None and completion > max_tokens:
        raise Wrong(f"{doing} returned {share:.3f}: {completion} completion tokens, more than "
                    f"max_tokens={max_tokens}. Pass max_tokens on to the request.")
    raise Wrong(f"{doing} returned {share:.3f}; with {prompt} prompt tokens (your server's "
                f"count for these messages) and at most {max_tokens} completion tokens, "
                "completion_tokens / (prompt_tokens + completion_tokens) cannot be that. Did "
                "you send the messages you received?")


def _whole(value: float) -> int | None:
    """``value`` as an int when it is one (up to float rounding), else None."""
    nearest = round(value)
    return nearest if abs(value - nearest) < 1e-6 * max(1, abs(value)) else None


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
