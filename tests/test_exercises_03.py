"""Chapter 03's exercise checkers (helpers.checks.ch03): each known mistake, written as a small
wrong answer, gets its own message.

The wrong payloads here are refused before the checker sends them anywhere; the wrong
``parting_step`` answers fail on the checker's made-up pairs of answers, which come before the
pairs it asks the learner's server for. Right answers in other types and styles pass against
the real servers (``legacy_server``, ``openai_server``); the reference solutions pass in the
notebook, under nbval. Generated text is never asserted.
"""

from __future__ import annotations

import collections
import itertools
import random
import threading
import time
import types
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from helpers.checks import ch03, limits
from tests.support import ReadOnlyMapping

ROOT = Path(__file__).resolve().parent.parent

PROMPT = ch03.PROMPT
BEAMS = {"prompt": PROMPT, "n": 4, "use_beam_search": True, "temperature": 0.0,
         "max_tokens": 12}


def wrong(exercise, answer, message: str) -> None:
    result = exercise.check(answer)
    assert result.passed is False and message in result.message, result.message


def right(exercise, answer) -> None:
    result = exercise.check(answer)
    assert result.passed is True, result.message


# Exercise 1: the old payload, fixed ----------------------------------------------------------

@pytest.mark.parametrize("answer, message", [
    ([BEAMS], "expected your fixed payload, a dict"),
    ({**BEAMS, "stream": True}, "your payload still streams: beam search cannot"),
    ({**BEAMS, "model": "SmolLM2-135M-Instruct"}, "Unknown field \"model\""),
    ({key: value for key, value in BEAMS.items() if key != "use_beam_search"},
     "4 greedy answers, which both servers refuse"),
    ({**{k: v for k, v in BEAMS.items() if k != "use_beam_search"}, "temperature": 0.8},
     "4 sampled candidates, not beams"),
    ({**BEAMS, "n": 1}, "n is the beam width"),
    ({key: value for key, value in BEAMS.items() if key != "prompt"}, "has no prompt"),
    ({**BEAMS, "stream": "false"}, "not a boolean"),
    ({**BEAMS, "use_beam_search": "true"}, "not a boolean"),
    ({**BEAMS, "n": "4"}, "a whole number for n"),
    ({**BEAMS, "n": np.int64(2)}, "n is the beam width"),
    ({**BEAMS, "stream": np.bool_(True)}, "your payload still streams"),
], ids=["not-a-dict", "still-streams", "model", "greedy-n", "sampled", "n-1", "no-prompt",
        "stream-text", "beam-text", "n-text", "n-2-numpy", "stream-numpy"])
def test_ch03_ex1_known_mistakes(answer, message, capsys) -> None:
    wrong(ch03.exercise1, answer, message)


@pytest.mark.parametrize("answer", [
    {"prompt": PROMPT, "n": np.int64(4), "use_beam_search": np.bool_(True), "max_tokens": 12},
    collections.OrderedDict(prompt=PROMPT, n=4.0, use_beam_search=True, stream=False,
                            temperature=Fraction(0), max_tokens=Fraction(12)),
    types.MappingProxyType({"use_beam_search": True, "n": 4, "prompt": PROMPT}),
    ReadOnlyMapping(prompt=PROMPT, n=4, use_beam_search=True, max_tokens=8, logprobs=1),
], ids=["numpy", "ordered-float-fraction", "proxy-default-length", "mapping-logprobs"])
def test_ch03_ex1_payloads_in_other_types_pass(answer, legacy_server, openai_server,
                                                capsys) -> None:
    right(ch03.exercise1, answer)


def test_ch03_ex1_a_payload_the_server_refuses_is_quoted(legacy_server, openai_server,
                                                         capsys) -> None:
    wrong(ch03.exercise1, {**BEAMS, "stream": False, "max_tokens": 0}, "answered 400")


# Exercise 2: where greedy and a beam of width 1 part ----------------------------------------

def tokens(answer):
    return answer["logprobs"][0]["tokens"]


def pairs(greedy, beam):
    return enumerate(zip(tokens(greedy), tokens(beam), strict=False))  # as a learner would


def by_entries(greedy, beam):  # whole entries: their logprobs differ at every step
    return next((n for n, (g, b) in pairs(greedy, beam) if g != b), None)


def by_logprobs(greedy, beam):
    return next((n for n, (g, b) in pairs(greedy, beam) if g["logprob"] != b["logprob"]), None)


def by_characters(greedy, beam):
    first, second = greedy["text"][0], beam["text"][0]
    found = next((n for n, (a, b) in enumerate(zip(first, second, strict=False))
                  if a != b), None)
    return None if found is None else found - len(PROMPT)


def zipped(greedy, beam):  # right but for an answer that stopped early
    return next((n for n, (g, b) in pairs(greedy, beam) if g["token"] != b["token"]), None)


def from_one(greedy, beam):
    step = zipped(greedy, beam)
    if step is None and len(tokens(greedy)) != len(tokens(beam)):
        step = min(len(tokens(greedy)), len(tokens(beam)))
    return None if step is None else step + 1


def the_token(greedy, beam):
    step = zipped(greedy, beam)
    return None if step is None else tokens(greedy)[step]["token"]


@pytest.mark.parametrize("answer, message", [
    (by_entries, "Compare entry['token'] only"),
    (by_logprobs, "Compare entry['token'] only"),
    (by_characters, "the first *character* where the texts differ"),
    (from_one, "count steps from 0"),
    (zipped, "they part where the shorter one ends"),
    (the_token, "it returned the token"),
    (lambda greedy, beam: greedy["logprobs"][1], "your code raised IndexError"),
    (lambda greedy, beam: -1 if zipped(greedy, beam) is None else zipped(greedy, beam),
     "return None, not -1"),
    (lambda greedy, beam: 3, "both took"),  # the notebook's saved output: step 3
    (lambda greedy, beam: zipped(greedy, beam) is not None, "not whether they differ"),
    (lambda greedy, beam: tokens(greedy)[zipped(greedy, beam) or 0], "it returned an entry"),
    (lambda greedy, beam: 99, "past the end of both answers"),
    (lambda greedy, beam: 2.5, "not a whole number"),
], ids=["entries", "logprobs", "characters", "from-one", "zip-stops", "token", "raises",
        "minus-one", "copied-step", "bool", "entry", "past-the-end", "fraction"])
def test_ch03_ex2_known_mistakes(answer, message, capsys) -> None:
    wrong(ch03.exercise2, answer, message)


def test_ch03_ex2_the_made_up_pairs_agree_with_the_reference() -> None:
    """The checker's own pairs: their expected steps are what the reference computes."""
    cases = ch03._cases()
    assert [expected for *_, expected in cases] == [10, None, 0, 7]
    drawn = ch03._cases(random.Random(5))
    assert len(drawn) == 5 and 1 <= drawn[-1][-1] < len(ch03.WORDS) - 1
    cases += drawn
    for _, greedy, beam, expected in cases:
        assert ch03._reference(greedy, beam) == expected
        assert tokens(greedy)[0]["logprob"] != tokens(beam)[0]["logprob"]


def by_loop(greedy, beam):  # a loop, a NumPy index
    first, second = tokens(greedy), tokens(beam)
    for n in range(min(len(first), len(second))):
        if first[n]["token"] != second[n]["token"]:
            return np.int64(n)
    return None if len(first) == len(second) else np.int64(min(len(first), len(second)))


def by_zip_longest(greedy, beam):  # zip_longest: a missing entry differs too; a float index
    pairs = itertools.zip_longest(tokens(greedy), tokens(beam), fillvalue={"token": None})
    return next((float(n) for n, (g, b) in enumerate(pairs) if g["token"] != b["token"]), None)


def by_indices(greedy, beam):  # every differing step listed, the first taken; a Fraction
    first = [entry["token"] for entry in tokens(greedy)]
    second = tuple(map(lambda entry: entry["token"], tokens(beam)))
    steps = [n for n in range(max(len(first), len(second)))
             if n >= len(first) or n >= len(second) or first[n] != second[n]]
    return Fraction(steps[0]) if steps else None


@pytest.mark.parametrize("answer", [by_loop, by_zip_longest, by_indices],
                         ids=["loop-numpy", "zip-longest-float", "indices-fraction"])
def test_ch03_ex2_steps_written_another_way_pass(answer, legacy_server, capsys) -> None:
    right(ch03.exercise2, answer)


def _spin(*args, **kwargs):
    while True:
        pass


class Endless(Mapping):
    """A payload whose every read hangs: ``how`` loops or blocks."""

    def __init__(self, how):
        self._how = how

    def __getitem__(self, key):
        self._how()

    def __iter__(self):
        self._how()
        return iter(())

    def __len__(self):
        return 5


@pytest.mark.parametrize("exercise, answer", [
    (ch03.exercise1, Endless(_spin)),
    (ch03.exercise1, Endless(lambda: threading.Event().wait())),
    (ch03.exercise2, _spin),
    (ch03.exercise2, lambda greedy, beam: time.sleep(3600)),
], ids=["ex1-loop", "ex1-block", "ex2-loop", "ex2-sleep"])
def test_ch03_a_hanging_answer_gets_a_verdict(exercise, answer, capsys) -> None:
    with limits.scaled(0.02):
        result = exercise.check(answer)
    assert result.passed is False and "did not return within" in result.message, result.message


@pytest.mark.parametrize("exercise, name", [(ch03.exercise2, "parting_step")])
def test_an_answer_that_is_not_a_function_is_named(exercise, name) -> None:
    result = exercise.check({"n": 4}, reference=True)
    assert result.passed is False and f"expected your function {name}" in result.message
