"""The exercise checkers of chapter 08 (helpers.checks.ch08): chat and tokens.

Every known mistake, written as a small wrong answer, gets its own message. Most are wrong
before the checker reaches a server (a function that returns the wrong kind of thing, a
conversation trimmed from the wrong end, counted with a stand-in counter, an error from a
stream read carelessly); the rest need the session's real OpenAI-compatible server: a count
or a budget that the server's tokenizer contradicts, a share that a real stream's usage
cannot give. The reference solutions pass here and in the notebook, under nbval.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from helpers.checks import ch08
from helpers.settings import SERVED_MODEL_NAME

ROOT = Path(__file__).resolve().parent.parent


# Chapter 08, helpers for answers that talk to the session's OpenAI-compatible server --------

def tokenize(server, **body):
    answer = requests.post(server.url.removesuffix("/v1") + "/tokenize", timeout=60,
                           json={"model": SERVED_MODEL_NAME, **body})
    answer.raise_for_status()
    return answer.json()


# Chapter 08, exercise 1: count before you send -----------------------------------------------

@pytest.mark.parametrize("answer, message", [
    (lambda messages: {"count": 12, "tokens": [1] * 12}, "returned a dict"),
    (lambda messages: [1, 2, 3], "(the token ids?)"),
    (lambda messages: 37, "37 tokens for each of 3 different conversations"),
    (lambda messages: "37", "expected a number of tokens"),
], ids=["dict", "ids", "fixed", "text"])
def test_ch08_ex1_known_mistakes(answer, message, capsys) -> None:
    result = ch08.exercise1.check(answer)
    assert result.passed is False and message in result.message, result.message


@pytest.mark.parametrize("generation_prompt, text_only, message", [
    (False, False, "without add_generation_prompt=True"),
    (True, True, "counted the messages' text only"),
    (True, False, None),
], ids=["no-generation-prompt", "text-only", "reference"])
def test_ch08_ex1_counts_checked_against_real_chat_requests(openai_server, generation_prompt,
                                                            text_only, message,
                                                            capsys) -> None:
    def chat_prompt_tokens(messages):
        if text_only:
            return sum(tokenize(openai_server, prompt=m["content"])["count"] for m in messages)
        return tokenize(openai_server, messages=messages,
                        add_generation_prompt=generation_prompt)["count"]

    result = ch08.exercise1.check(chat_prompt_tokens)
    if message is None:
        assert result, result.message
    else:
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
    (fit_with(words, guard=False), "had not returned after 1 s"),
    (lambda conversation, max_tokens, budget: None, "expected the messages to send"),
], ids=["first-kept", "system-dropped", "newest-dropped", "mutates", "endless", "none"])
def test_ch08_ex2_known_mistakes(answer, message, monkeypatch, capsys) -> None:
    monkeypatch.setattr(ch08, "FIT_LIMIT", 1.0)
    result = ch08.exercise2.check(answer)
    assert result.passed is False and message in result.message, result.message


@pytest.mark.parametrize("options, message", [
    ({"pairs": False}, "drop a user message and its answer together"),
    ({"with_max_tokens": False}, "Count prompt tokens + max_tokens"),
    ({"strict": True}, "it dropped more than needed"),
    ({}, None),
], ids=["one-at-a-time", "no-max-tokens", "off-by-one", "reference"])
def test_ch08_ex2_budgets_counted_by_the_server(openai_server, options, message,
                                                capsys) -> None:
    def count(messages):
        return tokenize(openai_server, messages=messages, add_generation_prompt=True)["count"]

    result = ch08.exercise2.check(fit_with(count, **options))
    if message is None:
        assert result, result.message
    else:
        assert result.passed is False and message in result.message, result.message


# Chapter 08, exercise 3: where does the budget go? -------------------------------------------

def raises(error):
    def answer_share(messages, max_tokens):
        raise error
    return answer_share


@pytest.mark.parametrize("answer, message", [
    (lambda messages, max_tokens: print(0.4), "returned None: return the share"),
    (lambda messages, max_tokens: 40, "between 0 and 1"),
    (raises(IndexError("list index out of range")), "has an empty choices list"),
    (raises(AttributeError("'NoneType' object has no attribute 'completion_tokens'")),
     "stream_options={'include_usage': True}"),
], ids=["printed", "percent", "index-error", "no-usage"])
def test_ch08_ex3_known_mistakes(answer, message, capsys) -> None:
    result = ch08.exercise3.check(answer)
    assert result.passed is False and message in result.message, result.message


@pytest.mark.parametrize("share, message", [
    (lambda p, c: p / (p + c), "which is prompt_tokens / total"),
    (lambda p, c: c / p, "which is completion_tokens / prompt_tokens"),
    (lambda p, c: c / (p + c), None),
], ids=["inverted", "over-prompt", "reference"])
def test_ch08_ex3_a_real_streams_usage(openai_server, share, message, capsys) -> None:
    from openai import OpenAI

    def answer_share(messages, max_tokens):
        with OpenAI(base_url=openai_server.url, api_key="EMPTY") as client:
            stream = client.chat.completions.create(
                model=SERVED_MODEL_NAME, messages=messages, max_tokens=max_tokens,
                stream=True, stream_options={"include_usage": True})
            usage = [event.usage for event in stream if event.usage][-1]
        return share(usage.prompt_tokens, usage.completion_tokens)

    result = ch08.exercise3.check(answer_share)
    if message is None:
        assert result, result.message
    else:
        assert result.passed is False and message in result.message, result.message


def test_ch08_solutions_are_the_notebooks_hidden_cells(capsys) -> None:
    assert "def chat_prompt_tokens" in ch08.exercise1.solution()
    assert "def fit" in ch08.exercise2.solution()
    assert "def answer_share" in ch08.exercise3.solution()
