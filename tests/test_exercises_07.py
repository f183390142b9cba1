"""The exercise checkers of chapter 07 (helpers.checks.ch07): the playground.

Every known mistake, written as a small wrong answer, gets its own message. Settings that
cannot repeat (no seed, greedy with n=2, beam search) are refused before the checker reaches
a server; the mistakes of stopping a stream (too early, never, a stream too short to stop)
need the session's real legacy server. The reference solutions pass here and in the
notebook, under nbval.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from helpers.checks import ch07
from helpers.playground import Choices

# Chapter 07, exercise 1: the same candidates on both APIs ------------------------------------

ROOT = Path(__file__).resolve().parent.parent
SEEDED = Choices(prompt="The ocean is", n=2, max_tokens=8, stream=False, seed=7)


@pytest.mark.parametrize("answer, message", [
    (["a", "b"], "expected your settings as a Choices"),
    (Choices(n=3, seed=7), "n=3; the exercise compares two candidates"),
    (Choices(n=2, seed=7, beam_search=True), "beam search does not sample"),
    (Choices(n=2, seed=7, temperature=0), "temperature=0 with n=2: vLLM refuses it"),
    (Choices(n=2), "seed=None: without a seed every run samples anew"),
], ids=["not-choices", "n-3", "beam-search", "greedy", "no-seed"])
def test_ch07_ex1_known_mistakes(answer, message, capsys) -> None:
    result = ch07.exercise1.check(answer)
    assert result.passed is False and message in result.message, result.message


def test_ch07_ex1_a_seed_gives_the_same_candidates_on_both_servers(legacy_server, openai_server,
                                                                   capsys) -> None:
    result = ch07.exercise1.check(SEEDED)
    assert result and "both APIs gave the same two candidates" in result.message


# Chapter 07, exercise 2: stop a long request --------------------------------------------------

LONG = Choices(max_tokens=2000, stream=True)


def in_a_thread(playground, choices=LONG, stop_first=False, stop=True):
    seen = []
    worker = threading.Thread(target=lambda: seen.extend(playground.run(choices)))
    if stop_first:
        playground.stop()  # too early: run() has not started
    worker.start()
    while len(seen) < 3 and worker.is_alive():
        time.sleep(0.05)
    if stop:
        playground.stop()
    worker.join(10)
    return seen


def leaves_the_loop(playground):
    seen = []
    for texts in playground.run(LONG):
        seen.append(texts)
        if len(seen) == 3:
            break  # and no playground.stop()
    return seen


def test_ch07_ex2_a_function_that_never_runs_the_playground(capsys) -> None:
    result = ch07.exercise2.check(lambda playground: [])
    assert result.passed is False and "never called playground.run" in result.message


@pytest.mark.parametrize("answer, message", [
    (lambda playground: in_a_thread(playground, stop_first=True), "before the stream had started"),
    (leaves_the_loop, "returned without calling playground.stop()"),
    (lambda playground: in_a_thread(playground, Choices(max_tokens=16)), "max_tokens=16"),
    (lambda playground: in_a_thread(playground)[0], "expected the updates it saw"),
], ids=["stop-too-early", "no-stop", "short-stream", "returns-one-update"])
def test_ch07_ex2_known_mistakes_on_a_real_stream(legacy_server, answer, message,
                                                  capsys) -> None:
    result = ch07.exercise2.check(answer)
    assert result.passed is False and message in result.message, result.message


def test_ch07_ex2_stopping_in_a_thread_passes(legacy_server, capsys) -> None:
    result = ch07.exercise2.check(in_a_thread)
    assert result and "no request running" in result.message, result.message


def test_ch07_solutions_are_the_notebooks_hidden_cells(capsys) -> None:
    assert "Choices(" in ch07.exercise1.solution()
    assert "def stop_long_request" in ch07.exercise2.solution()
