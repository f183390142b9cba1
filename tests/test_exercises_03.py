"""Chapter 03's exercise checkers (helpers.checks.ch03): each known mistake, written as a small
wrong answer, gets its own message.

The payloads here are refused before the checker sends them anywhere; the ``parting_step``
answers fail on the checker's made-up pairs of answers, which come before the pair it asks
the learner's server for. The reference solutions pass against both real servers in the
notebook, under nbval.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.checks import ch03

ROOT = Path(__file__).resolve().parent.parent

PROMPT = ch03.PROMPT
BEAMS = {"prompt": PROMPT, "n": 4, "use_beam_search": True, "temperature": 0.0,
         "max_tokens": 12}


def wrong(exercise, answer, message: str) -> None:
    result = exercise.check(answer)
    assert result.passed is False and message in result.message, result.message


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
], ids=["not-a-dict", "still-streams", "model", "greedy-n", "sampled", "n-1", "no-prompt"])
def test_ch03_ex1_known_mistakes(answer, message, capsys) -> None:
    wrong(ch03.exercise1, answer, message)


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
], ids=["entries", "logprobs", "characters", "from-one", "zip-stops", "token", "raises"])
def test_ch03_ex2_known_mistakes(answer, message, capsys) -> None:
    wrong(ch03.exercise2, answer, message)


def test_ch03_ex2_the_made_up_pairs_agree_with_the_reference() -> None:
    """The checker's own pairs: their expected steps are what the reference computes."""
    cases = ch03._cases()
    assert [expected for *_, expected in cases] == [10, None, 0, 7]
    for _, greedy, beam, expected in cases:
        assert ch03._reference(greedy, beam) == expected
        assert tokens(greedy)[0]["logprob"] != tokens(beam)[0]["logprob"]


@pytest.mark.parametrize("exercise, name", [(ch03.exercise2, "parting_step")])
def test_an_answer_that_is_not_a_function_is_named(exercise, name) -> None:
    result = exercise.check({"n": 4}, reference=True)
    assert result.passed is False and f"expected your function {name}" in result.message
