"""Chapter 01's exercise checkers (helpers.checks.ch01), both ways: right answers written
differently from the reference pass, wrong ones fail with a message naming the mistake.

Tests without a server fixture never reach a server: their answers are refused before the
checker sends anything (fields refused on sight, counts of the wrong type, counts looked up in
the notebook's table, counts that ignore the penalty). The server tests (``legacy_server``)
hold the learner's counts to the check's own requests for penalties the notebook never used.
Generated text is never asserted.
"""

from __future__ import annotations

import collections
import re
import threading
import time
import types
from collections.abc import Mapping
from fractions import Fraction
from functools import partial

import numpy as np
import pytest
import requests

from helpers import errors
from helpers.checks import ch01, limits
from helpers.client import generate, strip_prompt
from tests.support import ReadOnlyMapping


def wrong(exercise, answer, *messages: str) -> None:
    """The check fails, and its message holds one of ``messages``."""
    result = exercise.check(answer)
    assert result.passed is False and any(m in result.message for m in messages), \
        result.message


def right(exercise, answer) -> None:
    result = exercise.check(answer)
    assert result.passed is True, result.message


# Exercise 1: three different fruits ----------------------------------------------------------

@pytest.mark.parametrize("answer, message", [
    (0.9, "expected a dict of fields"),
    ({"temperature": 0.9}, "your fields have no top_k"),
    ({"temperature": 0.9, "top_k": 20, "seed": 1}, "your fields fix the seed"),
    ({"temperature": 0, "top_k": 20}, "temperature 0 is greedy decoding"),
    ({"temperature": np.float32(0.0), "top_k": 20}, "temperature 0 is greedy decoding"),
    ({"temperature": 1.2, "top_k": 1}, "top_k 1 keeps only the most likely token"),
    ({"temperature": 1.2, "top_k": np.int64(1)}, "top_k 1 keeps only the most likely token"),
    ({"temperature": "0.9", "top_k": 20}, "a text is refused"),
    ({"temperature": 0.9, "top_k": 20.5}, "not a whole number"),
    ({"temperature": -0.5, "top_k": 20}, "is below 0"),
], ids=["not-a-dict", "no-top-k", "fixed-seed", "greedy", "greedy-numpy", "top-k-1",
        "top-k-1-numpy", "text-temperature", "fractional-top-k", "negative"])
def test_ch01_ex1_known_mistakes(answer, message, capsys) -> None:
    wrong(ch01.exercise1, answer, message)


@pytest.mark.parametrize("answer", [
    {"temperature": np.float64(0.9), "top_k": np.int64(20)},
    collections.OrderedDict(top_k=30, temperature=Fraction(4, 5)),
    types.MappingProxyType({"temperature": 0.9, "top_k": 20.0, "max_tokens": 8}),
    ReadOnlyMapping(temperature=0.9, top_k=20),
], ids=["numpy", "fraction-ordered", "proxy-float-top-k", "mapping"])
def test_ch01_ex1_fields_in_other_types_pass(answer, legacy_server, capsys) -> None:
    right(ch01.exercise1, answer)


def test_ch01_ex1_the_message_claims_only_what_was_checked(legacy_server, capsys) -> None:
    result = ch01.exercise1.check({"temperature": 0.9, "top_k": 20})
    assert result, result.message
    assert "whether they are fruits, the check cannot tell" in result.message
    assert "three different fruits" not in result.message


def test_ch01_ex1_a_broken_list_at_a_high_temperature_is_named(legacy_server, capsys) -> None:
    wrong(ch01.exercise1, {"temperature": 1.8, "top_k": -1},
          "with no top_k, unlikely tokens get through")


# Exercise 2: commas per frequency_penalty ----------------------------------------------------

def fake_completion(penalty: float) -> str:
    """A made-up completion: fewer commas as the penalty grows."""
    return " four, five, six, seven, eight." if penalty == 0 else " four, five."


SAVED_COMMAS = {0: 13, 0.5: 8, 1: 4, 2: 2}  # the notebook's saved output


@pytest.mark.parametrize("answer, message", [
    (lambda penalty: [fake_completion(penalty)], "complete() returns one completion per"),
    (fake_completion, "return the number of commas in it"),
    (lambda penalty: fake_completion(0).count(","), "the penalty does not reach the request"),
    (lambda penalty: 3.5, "not a whole number"),
    (lambda penalty: 31, "30 tokens hold between 0 and 30 commas"),
    (lambda penalty: SAVED_COMMAS[penalty], "it looks the count up in a table"),
    (lambda penalty: SAVED_COMMAS.get(penalty, 13), "does not ask the server"),
    (lambda penalty: 2 if penalty < 1 else 9, "expected fewer"),
    (lambda penalty: -1, "a count is 0 or more"),
], ids=["list", "text", "penalty-dropped", "float", "too-many", "copied-table",
        "copied-with-default", "backwards", "negative"])
def test_ch01_ex2_known_mistakes(answer, message, capsys) -> None:
    wrong(ch01.exercise2, answer, message)


def test_ch01_ex2_an_answer_that_raises_is_named(capsys) -> None:
    def commas_at(penalty):
        raise errors.ServerUnreachableError("http://127.0.0.1:9/generate", "refused")

    result = ch01.exercise2.check(commas_at)
    assert result.passed is False and "your code raised ServerUnreachableError" in result.message
    assert "with frequency_penalty 0.3" in result.message
    assert "(in commas_at, line" in result.message


def test_ch01_ex2_the_checks_penalties_are_not_the_notebooks() -> None:
    assert not set(ch01.FREQUENCY_PENALTIES) & set(SAVED_COMMAS)
    assert not set(ch01.REPETITION_PENALTIES) & {0.8, 1.0, 1.5}


def _by_requests(url, penalty):  # requests, slicing the prompt off, a NumPy count
    body = requests.post(f"{url}/generate", timeout=120, json={
        "prompt": ch01.COUNTING, "max_tokens": 30, "temperature": 0.0,
        "frequency_penalty": penalty}).json()
    return np.int64(body["text"][0][len(ch01.COUNTING):].count(","))


def _by_client(url, penalty):  # the course client, a float count
    text = strip_prompt(generate(ch01.COUNTING, url, max_tokens=30, temperature=0,
                                 frequency_penalty=penalty)[0], ch01.COUNTING)
    return float(sum(1 for character in text if character == ","))


def _by_regex(url, penalty):  # a regex over the completion, a Fraction
    text = generate(ch01.COUNTING, url, max_tokens=30, temperature=0,
                    frequency_penalty=float(penalty))[0]
    return Fraction(len(re.findall(",", strip_prompt(text, ch01.COUNTING))))


@pytest.mark.parametrize("style", [_by_requests, _by_client, _by_regex],
                         ids=["requests-numpy", "client-float", "regex-fraction"])
def test_ch01_ex2_counts_written_another_way_pass(style, legacy_server, capsys) -> None:
    right(ch01.exercise2, partial(style, legacy_server.url))


def test_ch01_ex2_the_prompts_commas_are_named(legacy_server, capsys) -> None:
    def commas_at(penalty):  # counts prompt + completion: the legacy text holds both
        return generate(ch01.COUNTING, legacy_server.url, max_tokens=30, temperature=0,
                        frequency_penalty=penalty)[0].count(",")

    wrong(ch01.exercise2, commas_at, "the prompt's three commas")


def test_ch01_ex2_the_default_length_is_named(legacy_server, capsys) -> None:
    def commas_at(penalty):  # no max_tokens: the legacy default, 16
        return strip_prompt(generate(ch01.COUNTING, legacy_server.url, temperature=0,
                                     frequency_penalty=penalty)[0], ch01.COUNTING).count(",")

    wrong(ch01.exercise2, commas_at, "16 tokens, the legacy default")


def test_ch01_ex2_made_up_counts_that_fall_fail(legacy_server, capsys) -> None:
    """Counts interpolated from the notebook's table, never asked of the server."""
    wrong(ch01.exercise2, lambda penalty: round(13 - 5 * penalty) + 1,
          "the same request made by this check")


def test_ch01_ex2_sampled_tokens_fail(legacy_server, capsys) -> None:
    def commas_at(penalty):  # no temperature: sampled at the legacy default, 1.0
        return strip_prompt(generate(ch01.COUNTING, legacy_server.url, max_tokens=30,
                                     temperature=1.3, frequency_penalty=penalty)[0],
                            ch01.COUNTING).count(",")

    # Sampled counts are random: whichever symptom shows first, the check names it.
    wrong(ch01.exercise2, commas_at, "your tokens are sampled", "does not reach the request",
          "expected fewer", "greedy tokens")


# Exercise 3: prompt words per repetition_penalty ---------------------------------------------

SAVED_WORDS = {0.8: 20, 1.0: 9, 1.5: 0}  # the notebook's saved output


@pytest.mark.parametrize("answer, message", [
    (lambda penalty: {"text": " cats.", "prompt_words": 9}, "return its ['prompt_words']"),
    (lambda penalty: 9, "the penalty does not reach the request"),
    (lambda penalty: 28 if penalty < 1 else 12, "you count the prompt's own words"),
    (lambda penalty: 0 if penalty < 1 else 20, "expected the count to fall"),
    (lambda penalty: "9/20", "expected the number of generated tokens"),
    (lambda penalty: SAVED_WORDS[penalty], "it looks the count up in a table"),
    (lambda penalty: SAVED_WORDS.get(round(penalty), 9), "does not ask the server"),
    (lambda penalty: [9], "expected the number of generated tokens"),
], ids=["row", "penalty-dropped", "prompt-counted", "backwards", "fraction-text",
        "copied-table", "copied-with-default", "list"])
def test_ch01_ex3_known_mistakes(answer, message, capsys) -> None:
    wrong(ch01.exercise3, answer, message)


def _tokens(url, penalty, temperature=0):
    body = requests.post(f"{url}/generate", timeout=120, json={
        "prompt": ch01.LOOP, "max_tokens": 20, "temperature": temperature, "logprobs": 1,
        "repetition_penalty": penalty}).json()
    return body, [entry["token"] for entry in body["logprobs"][0]["tokens"]]


def _comprehension(url, penalty):  # a comprehension, a NumPy count
    _, tokens = _tokens(url, penalty)
    return np.int64(sum(token.strip().lower() in ch01.PROMPT_WORDS for token in tokens))


def _loop(url, penalty):  # a loop over the entries, a float count
    count = 0.0
    for token in _tokens(url, penalty)[1]:
        if token.strip().lower() in {"i", "like", "cats", "."}:
            count += 1
    return count


def _filtered(url, penalty):  # filter and len, a Fraction
    words = ch01.PROMPT_WORDS
    return Fraction(len(list(filter(lambda t: t.strip().lower() in words,
                                    _tokens(url, float(penalty))[1]))))


@pytest.mark.parametrize("style", [_comprehension, _loop, _filtered],
                         ids=["comprehension-numpy", "loop-float", "filter-fraction"])
def test_ch01_ex3_counts_written_another_way_pass(style, legacy_server, capsys) -> None:
    right(ch01.exercise3, partial(style, legacy_server.url))


def test_ch01_ex3_words_instead_of_tokens_are_named(legacy_server, capsys) -> None:
    def prompt_words(penalty):
        body, _ = _tokens(legacy_server.url, penalty)
        text = strip_prompt(body["text"][0], ch01.LOOP)
        return sum(word.strip(".").lower() in ch01.PROMPT_WORDS for word in text.split())

    wrong(ch01.exercise3, prompt_words, "the *words* of the text")


def test_ch01_ex3_made_up_counts_that_fall_fail(legacy_server, capsys) -> None:
    wrong(ch01.exercise3, lambda penalty: 15 if penalty < 1 else 3,
          "this check's own request")


def test_ch01_ex3_sampled_tokens_fail(legacy_server, capsys) -> None:
    def prompt_words(penalty):
        _, tokens = _tokens(legacy_server.url, penalty, temperature=1.5)
        return sum(token.strip().lower() in ch01.PROMPT_WORDS for token in tokens)

    wrong(ch01.exercise3, prompt_words, "your tokens are sampled",
          "does not reach the request", "expected the count to fall", "20 greedy tokens")


# Every exercise ------------------------------------------------------------------------------

@pytest.mark.parametrize("exercise, name", [(ch01.exercise2, "commas_at"),
                                            (ch01.exercise3, "prompt_words")])
def test_an_answer_that_is_not_a_function_is_named(exercise, name) -> None:
    result = exercise.check(12, reference=True)
    assert result.passed is False and f"expected your function {name}" in result.message


class Endless(Mapping):
    """Fields whose every read hangs: ``how`` loops or blocks."""

    def __init__(self, how):
        self._how = how

    def __getitem__(self, key):
        self._how()

    def __iter__(self):
        self._how()
        return iter(())

    def __len__(self):
        return 2


def _spin():
    while True:
        pass


def _block():
    threading.Event().wait()


@pytest.mark.parametrize("exercise, answer", [
    (ch01.exercise1, Endless(_spin)),
    (ch01.exercise1, Endless(lambda: time.sleep(3600))),
    (ch01.exercise2, lambda penalty: _spin()),
    (ch01.exercise2, lambda penalty: _block()),
    (ch01.exercise3, lambda penalty: _spin()),
    (ch01.exercise3, lambda penalty: time.sleep(3600)),
], ids=["ex1-loop", "ex1-sleep", "ex2-loop", "ex2-block", "ex3-loop", "ex3-sleep"])
def test_ch01_a_hanging_answer_gets_a_verdict(exercise, answer, capsys) -> None:
    with limits.scaled(0.02):
        result = exercise.check(answer)
    assert result.passed is False and "did not return within" in result.message, result.message
