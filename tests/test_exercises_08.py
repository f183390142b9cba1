"""The exercise checkers of chapter 08 (helpers.checks.ch08): chat and tokens.

Both ways, for each exercise: correct answers written another way (requests, httpx, the
openai client; NumPy numbers, a Fraction, a rounded share; a tuple, a generator, a fit that
builds up from the newest turn) pass; wrong answers of each class fail with a message naming
the mistake (fixed values that never ask the server with the messages given, right shape and
wrong meaning, the wrong type); an answer that loops or blocks becomes a verdict naming the
time limit. Mistakes found before any counting need no server (``nowhere``); the rest need
the session's real OpenAI-compatible server. The reference solutions pass here and in the
notebook, under nbval.
"""

from __future__ import annotations

import json
import threading
import time
from fractions import Fraction

import httpx
import numpy as np
import pytest
import requests

from helpers.checks import ch08, limits
from helpers.settings import SERVED_MODEL_NAME
from tests.support import nowhere  # noqa: F401 (a fixture)

# Chapter 08, helpers for answers that talk to the session's OpenAI-compatible server --------

NOTEBOOK_MESSAGES = [{"role": "user", "content": "Tell me a joke about tokens."}]


def tokenize(server, **body):
    answer = requests.post(server.url.removesuffix("/v1") + "/tokenize", timeout=60,
                           json={"model": SERVED_MODEL_NAME, **body})
    answer.raise_for_status()
    return answer.json()


def loops(*args):
    while True:
        pass


def blocks(*args):
    threading.Event().wait()


def sleeps(*args):
    time.sleep(3600)


HANGS = pytest.mark.parametrize("answer", [loops, blocks, sleeps],
                                ids=["loop", "event-wait", "sleep"])


# Chapter 08, exercise 1: count before you send -----------------------------------------------

@pytest.mark.parametrize("answer, message", [
    (lambda messages: {"count": 12, "tokens": [1] * 12}, "take its ['count']"),
    (lambda messages: [1, 2, 3], "(the token ids?)"),
    (lambda messages: 37, "37 tokens for each of the check's 3 conversations"),
    (lambda messages: "37", "expected a number of tokens"),
    (lambda messages: 37.5, "not a whole number"),
], ids=["dict", "ids", "fixed-saved-value", "text", "fraction"])
def test_ch08_ex1_known_mistakes(nowhere, answer, message, capsys) -> None:  # noqa: F811
    result = ch08.exercise1.check(answer)
    assert result.passed is False and message in result.message, result.message


@HANGS
def test_ch08_ex1_an_answer_that_hangs_gets_a_verdict(nowhere, answer, capsys) -> None:  # noqa: F811
    with limits.scaled(0.02):
        result = ch08.exercise1.check(answer)
    assert result.passed is False and "did not return within 0.6 s" in result.message, \
        result.message


def counts_with_requests(server):
    def chat_prompt_tokens(messages):
        return tokenize(server, messages=messages, add_generation_prompt=True)["count"]
    return chat_prompt_tokens


def counts_with_httpx_numpy(server):
    def chat_prompt_tokens(messages):
        answer = httpx.post(server.url.removesuffix("/v1") + "/tokenize", timeout=60, json={
            "model": SERVED_MODEL_NAME, "messages": list(messages),
            "add_generation_prompt": True})
        return np.int64(len(answer.json()["tokens"]))
    return chat_prompt_tokens


def counts_as_float(server):
    def chat_prompt_tokens(messages):
        body = {"model": SERVED_MODEL_NAME, "messages": tuple(messages),
                "add_generation_prompt": True}
        return float(requests.post(server.url.removesuffix("/v1") + "/tokenize", json=body,
                                   timeout=60).json()["count"])
    return chat_prompt_tokens


@pytest.mark.parametrize("make", [counts_with_requests, counts_with_httpx_numpy,
                                  counts_as_float], ids=["requests", "httpx-numpy", "float"])
def test_ch08_ex1_right_counts_of_any_type_pass(openai_server, make, capsys) -> None:
    result = ch08.exercise1.check(make(openai_server))
    assert result and "counted exactly as real chat requests used them" in result.message, \
        result.message


@pytest.mark.parametrize("how, message", [
    ("no-generation-prompt", "without add_generation_prompt=True"),
    ("text-only", "counted the messages' text only"),
    ("notebook-messages", "it does not count the messages it receives"),
    ("estimate", "a real chat request with it used"),
])
def test_ch08_ex1_counts_checked_against_real_chat_requests(openai_server, how, message,
                                                            capsys) -> None:
    def chat_prompt_tokens(messages):
        if how == "text-only":
            return sum(tokenize(openai_server, prompt=m["content"])["count"] for m in messages)
        if how == "notebook-messages":  # asks the server, but not about the messages given
            return tokenize(openai_server, messages=NOTEBOOK_MESSAGES,
                            add_generation_prompt=True)["count"]
        if how == "estimate":
            return round(1.3 * sum(len(m["content"].split()) for m in messages)) + 20
        return tokenize(openai_server, messages=messages, add_generation_prompt=False)["count"]

    result = ch08.exercise1.check(chat_prompt_tokens)
    assert result.passed is False and message in result.message, result.message


# Chapter 08, exercise 2: a conversation that fits --------------------------------------------

def words(messages):
    """A stand-in for the server's count, for mistakes found before any counting."""
    return sum(len(m["content"].split()) + 4 for m in messages)


def fit_with(count, *, system_always=False, pairs=True, mutate=False, newest=False,
             guard=True, with_max_tokens=True, strict=False):
    def fit(conversation, max_tokens, budget):
        first = conversation[:1] if system_always else \
            [m for m in conversation[:1] if m["role"] == "system"]
        rest = conversation[len(first):]

        def over():
            total = count(first + rest) + (max_tokens if with_max_tokens else 0)
            return total >= budget if strict else total > budget

        while (len(rest) > 1 or not guard) and over():
            if newest:
                rest = rest[:-2]
            elif pairs and len(rest) > 2:
                rest = rest[2:]
            else:
                rest = rest[1:]
        if mutate:
            del conversation[len(first):len(conversation) - len(rest)]
            return conversation
        return first + rest
    return fit


@pytest.mark.parametrize("answer, message", [
    (fit_with(words, system_always=True), "no system message, and you kept its first message"),
    (lambda conversation, max_tokens, budget: conversation[-1:], "dropped the system message"),
    (fit_with(words, newest=True), "did not keep the last user message"),
    (fit_with(words, mutate=True), "changed the conversation it was given"),
    (lambda conversation, max_tokens, budget: None, "expected the messages to send"),
    (lambda conversation, max_tokens, budget: [conversation[0], conversation[-1]],
     "budget that everything fits (100000), your fit kept the system message and the newest "
     "1 of 9 messages (the 8 oldest dropped)"),
    (lambda conversation, max_tokens, budget: [m["content"] for m in conversation],
     "expected messages (dicts with 'role' and 'content')"),
    (lambda conversation, max_tokens, budget: json.dumps(conversation),
     "expected the messages to send"),
], ids=["first-kept", "system-dropped", "newest-dropped", "mutates", "none",
        "saved-output-2-messages", "texts", "json-text"])
def test_ch08_ex2_known_mistakes(nowhere, answer, message, capsys) -> None:  # noqa: F811
    result = ch08.exercise2.check(answer)
    assert result.passed is False and message in result.message, result.message


def test_ch08_ex2_a_loop_that_cannot_end_is_named(nowhere, capsys) -> None:  # noqa: F811
    with limits.scaled(0.05):
        result = ch08.exercise2.check(fit_with(words, guard=False))
    assert result.passed is False and "did not return within 1 s" in result.message
    assert "nothing is left to drop" in result.message, result.message


@HANGS
def test_ch08_ex2_an_answer_that_hangs_gets_a_verdict(nowhere, answer, capsys) -> None:  # noqa: F811
    with limits.scaled(0.02):
        result = ch08.exercise2.check(answer)
    assert result.passed is False and "did not return within 0.4 s" in result.message, \
        result.message


def server_count(server):
    def count(messages):
        return tokenize(server, messages=list(messages), add_generation_prompt=True)["count"]
    return count


@pytest.mark.parametrize("options, message", [
    ({"pairs": False}, "drop a user message and its answer together"),
    ({"with_max_tokens": False}, "Count prompt tokens + max_tokens"),
    ({"strict": True}, "it dropped more than needed"),
], ids=["one-at-a-time", "no-max-tokens", "off-by-one"])
def test_ch08_ex2_budgets_counted_by_the_server(openai_server, options, message,
                                                capsys) -> None:
    result = ch08.exercise2.check(fit_with(server_count(openai_server), **options))
    assert result.passed is False and message in result.message, result.message


def test_ch08_ex2_a_fit_that_ignores_the_budget_fails(openai_server, capsys) -> None:
    reference = fit_with(server_count(openai_server))
    result = ch08.exercise2.check(lambda conversation, max_tokens, budget:
                                  reference(conversation, 32, 100))  # the notebook's numbers
    assert result.passed is False and "your fit kept" in result.message, result.message


def builds_up(server):
    """From the newest message backwards, one pair at a time while it fits; a tuple back."""
    count = server_count(server)

    def fit(conversation, max_tokens, budget):
        system = tuple(conversation[:1]) if conversation[0]["role"] == "system" else ()
        rest = list(conversation[len(system):])
        kept = rest[-1:]
        for start in range(len(rest) - 3, -1, -2):
            if count([*system, *rest[start:]]) + np.int64(max_tokens) > budget:
                break
            kept = rest[start:]
        return system + tuple(kept)
    return fit


def recursive(server):
    count = server_count(server)

    def fit(conversation, max_tokens, budget):
        head = [m for m in conversation[:1] if m["role"] == "system"]
        body = conversation[len(head):]
        if len(body) <= 1 or count(head + body) + max_tokens <= budget:
            yield from head + body  # a generator of the messages
            return
        yield from fit(head + body[2:], max_tokens, budget)
    return fit


@pytest.mark.parametrize("make", [lambda server: fit_with(server_count(server)), builds_up,
                                  recursive], ids=["reference", "builds-up-tuple",
                                                   "recursive-generator"])
def test_ch08_ex2_fits_written_another_way_pass(openai_server, make, capsys) -> None:
    result = ch08.exercise2.check(make(openai_server))
    assert result, result.message
    assert "kept the system message and the newest 7 of 9 messages (the 2 oldest dropped)" \
        in result.message, result.message


# Chapter 08, exercise 3: where does the budget go? -------------------------------------------

def raises(error):
    def answer_share(messages, max_tokens):
        raise error
    return answer_share


@pytest.mark.parametrize("answer, message", [
    (lambda messages, max_tokens: print(0.4), "returned None: return the share"),
    (lambda messages, max_tokens: 40, "between 0 and 1"),
    (lambda messages, max_tokens: "0.32", "expected a number between 0 and 1"),
    (lambda messages, max_tokens: 0.32, "returned 0.32 for both of the check's conversations"),
    (raises(IndexError("list index out of range")), "has an empty choices list"),
    (raises(AttributeError("'NoneType' object has no attribute 'completion_tokens'")),
     "stream_options={'include_usage': True}"),
], ids=["printed", "percent", "text", "fixed-saved-value", "index-error", "no-usage"])
def test_ch08_ex3_known_mistakes(nowhere, answer, message, capsys) -> None:  # noqa: F811
    result = ch08.exercise3.check(answer)
    assert result.passed is False and message in result.message, result.message


@HANGS
def test_ch08_ex3_an_answer_that_hangs_gets_a_verdict(nowhere, answer, capsys) -> None:  # noqa: F811
    with limits.scaled(0.02):
        result = ch08.exercise3.check(answer)
    assert result.passed is False and "did not return within 0.6 s" in result.message, \
        result.message


def usage_by_openai(server, messages, max_tokens):
    from openai import OpenAI

    with OpenAI(base_url=server.url, api_key="EMPTY") as client:
        stream = client.chat.completions.create(
            model=SERVED_MODEL_NAME, messages=messages, max_tokens=max_tokens,
            stream=True, stream_options={"include_usage": True})
        usage = [event.usage for event in stream if event.usage][-1]
    return usage.prompt_tokens, usage.completion_tokens


def usage_by_requests(server, messages, max_tokens):
    body = {"model": SERVED_MODEL_NAME, "messages": messages, "max_tokens": max_tokens,
            "stream": True, "stream_options": {"include_usage": True}}
    usage = None
    with requests.post(server.url + "/chat/completions", json=body, stream=True,
                       timeout=120) as response:
        for line in response.iter_lines():
            if line.startswith(b"data: {"):
                usage = json.loads(line[len(b"data: "):]).get("usage") or usage
    return usage["prompt_tokens"], usage["completion_tokens"]


@pytest.mark.parametrize("read, share", [
    (usage_by_openai, lambda p, c: c / (p + c)),
    (usage_by_requests, lambda p, c: Fraction(c, p + c)),
    (usage_by_openai, lambda p, c: np.float64(round(c / (p + c), 3))),
], ids=["openai", "requests-fraction", "numpy-rounded"])
def test_ch08_ex3_right_shares_pass(openai_server, read, share, capsys) -> None:
    def answer_share(messages, max_tokens):
        return share(*read(openai_server, messages, max_tokens))

    result = ch08.exercise3.check(answer_share)
    assert result and "with the prompt tokens your server counts" in result.message, \
        result.message


@pytest.mark.parametrize("how, message", [
    ("inverted", "which is prompt_tokens / total"),
    ("over-prompt", "which is completion_tokens / prompt_tokens"),
    ("fixed-question", "Did you send the messages you received?"),
    ("fixed-max-tokens", "more than max_tokens=5. Pass max_tokens on"),
])
def test_ch08_ex3_a_real_streams_usage(openai_server, how, message, capsys) -> None:
    def answer_share(messages, max_tokens):
        if how == "fixed-question":  # the notebook's question, whatever messages are given
            messages = [{"role": "user", "content": "Name three colors."}]
        if how == "fixed-max-tokens":
            max_tokens = 24
        p, c = usage_by_openai(openai_server, messages, max_tokens)
        return {"inverted": p / (p + c), "over-prompt": c / p}.get(how, c / (p + c))

    result = ch08.exercise3.check(answer_share)
    assert result.passed is False and message in result.message, result.message


def test_ch08_solutions_are_the_notebooks_hidden_cells(capsys) -> None:
    assert "def chat_prompt_tokens" in ch08.exercise1.solution()
    assert "def fit" in ch08.exercise2.solution()
    assert "def answer_share" in ch08.exercise3.solution()
