"""Chapter 01's exercise checkers (helpers.checks.ch01): each known mistake, written as a small
wrong answer, gets its own message.

Most answers here are wrong before the checker reaches a server (fields it refuses on sight,
counts of the wrong type, counts that ignore the penalty); two server tests show the
mistakes that only the learner's server can reveal: a temperature so high that the lists
break, and commas counted with the prompt's. The reference solutions pass against the real
server in the notebook, under nbval.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import errors
from helpers.checks import ch01

ROOT = Path(__file__).resolve().parent.parent


def wrong(exercise, answer, message: str) -> None:
    result = exercise.check(answer)
    assert result.passed is False and message in result.message, result.message


# Exercise 1: three different fruits (refused before any request) ----------------------------

@pytest.mark.parametrize("answer, message", [
    (0.9, "expected a dict of fields"),
    ({"temperature": 0.9}, "your fields have no top_k"),
    ({"temperature": 0.9, "top_k": 20, "seed": 1}, "your fields fix the seed"),
    ({"temperature": 0, "top_k": 20}, "temperature 0 is greedy decoding"),
    ({"temperature": 1.2, "top_k": 1}, "top_k 1 keeps only the most likely token"),
], ids=["not-a-dict", "no-top-k", "fixed-seed", "greedy", "top-k-1"])
def test_ch01_ex1_known_mistakes(answer, message, capsys) -> None:
    wrong(ch01.exercise1, answer, message)


def test_ch01_ex1_a_broken_list_at_a_high_temperature_is_named(legacy_server, capsys) -> None:
    wrong(ch01.exercise1, {"temperature": 1.8, "top_k": -1},
          "with no top_k, unlikely tokens get through")
    assert ch01.exercise1.check({"temperature": 0.9, "top_k": 20})


# Exercise 2: commas per frequency_penalty ----------------------------------------------------

def fake_completion(penalty: float) -> str:
    """A made-up completion: fewer commas as the penalty grows."""
    return " four, five, six, seven, eight." if penalty == 0 else " four, five."


@pytest.mark.parametrize("answer, message", [
    (lambda penalty: [fake_completion(penalty)], "complete() returns one completion per"),
    (fake_completion, "return the number of commas in it"),
    (lambda penalty: fake_completion(0).count(","), "the penalty does not reach the request"),
    (lambda penalty: 3.5, "expected a number of commas"),
    (lambda penalty: 31, "30 tokens hold between 0 and 30 commas"),
], ids=["list", "text", "penalty-dropped", "float", "too-many"])
def test_ch01_ex2_known_mistakes(answer, message, capsys) -> None:
    wrong(ch01.exercise2, answer, message)


def test_ch01_ex2_an_answer_that_raises_is_named(capsys) -> None:
    def commas_at(penalty):
        raise errors.ServerUnreachableError("http://127.0.0.1:9/generate", "refused")

    result = ch01.exercise2.check(commas_at)
    assert result.passed is False and "your code raised ServerUnreachableError" in result.message
    assert "with frequency_penalty 0" in result.message and "(in commas_at, line" in result.message


def test_ch01_ex2_the_prompts_commas_are_named(legacy_server, capsys) -> None:
    from helpers.client import generate

    counting = ch01.COUNTING

    def commas_at(penalty):  # counts prompt + completion: the legacy text holds both
        return generate(counting, legacy_server.url, max_tokens=30, temperature=0,
                        frequency_penalty=penalty)[0].count(",")

    wrong(ch01.exercise2, commas_at, "you counted the prompt's three commas")


# Exercise 3: prompt words per repetition_penalty (pure: made-up counts) ----------------------

@pytest.mark.parametrize("answer, message", [
    (lambda penalty: {"text": " cats.", "prompt_words": 9}, "return its ['prompt_words']"),
    (lambda penalty: 9, "the penalty does not reach the request"),
    (lambda penalty: {0.8: 28, 1.0: 23, 1.5: 12}[penalty], "you count the prompt's own words"),
    (lambda penalty: {0.8: 0, 1.0: 9, 1.5: 20}[penalty], "expected the count to fall"),
    (lambda penalty: "9/20", "expected the number of generated tokens"),
], ids=["row", "penalty-dropped", "prompt-counted", "backwards", "fraction"])
def test_ch01_ex3_known_mistakes(answer, message, capsys) -> None:
    wrong(ch01.exercise3, answer, message)


def test_ch01_ex3_counts_that_fall_as_the_penalty_rises_pass(capsys) -> None:
    result = ch01.exercise3.check(lambda penalty: {0.8: 20, 1.0: 9, 1.5: 0}[penalty])
    assert result and "20 of 20" in result.message and "0 at 1.5" in result.message


@pytest.mark.parametrize("exercise, name", [(ch01.exercise2, "commas_at"),
                                            (ch01.exercise3, "prompt_words")])
def test_an_answer_that_is_not_a_function_is_named(exercise, name) -> None:
    result = exercise.check(12, reference=True)
    assert result.passed is False and f"expected your function {name}" in result.message
