"""The checkers of chapter 06 (helpers.checks.ch06), both ways.

Exercise 1 reads timings the checker makes up (no server): correct answers in other types
(a tuple, a map, NumPy, Fractions, rounded floats) pass; each known mistake gets its own
message. Exercise 2 runs the learner's function against the session's legacy server, with
the check's own numbers, and times the requests itself: correct functions written otherwise
pass; the staggered run, arguments ignored, rows typed in or altered, fail.
"""

from __future__ import annotations

import asyncio
import threading
import time
from fractions import Fraction

import httpx
import numpy as np
import pytest

from helpers.aclient import DEFAULT_TIMEOUT, timed_stream
from helpers.checks import ch06, limits

# Chapter 06, exercise 1: each stream's own speed ---------------------------------------------

def test_ch06_ex1_one_speed_per_stream_passes(capsys) -> None:
    assert ch06.exercise1.check(lambda timings, tokens: [tokens / t.total for t in timings])


@pytest.mark.parametrize("answer, message", [
    (lambda timings, tokens: len(timings) * tokens / max(t.total for t in timings),
     "over the slowest one's time is the throughput"),
    (lambda timings, tokens: [len(timings) * tokens / t.total for t in timings],
     "you multiplied by the number of streams"),
    (lambda timings, tokens: [tokens / (t.total - t.time_to_first_token) for t in timings],
     "you left out the wait for the first token"),
    (lambda timings, tokens: [tokens / max(x.total for x in timings) for _ in timings],
     "by the slowest stream's time"),
    (lambda timings, tokens: [len(t.arrivals) / t.total for t in timings],
     "you counted snapshots"),
    (lambda timings, tokens: [32 / t.total for t in timings], "Use the tokens argument"),
    (lambda timings, tokens: sum(tokens / t.total for t in timings) / len(timings),
     "return a list, one value per stream"),
], ids=["throughput", "times-n", "no-ttft", "slowest", "snapshots", "fixed-32", "mean"])
def test_ch06_ex1_known_mistakes(answer, message, capsys) -> None:
    result = ch06.exercise1.check(answer)
    assert result.passed is False and message in result.message, result.message


def test_ch06_ex1_correct_answers_in_other_types_pass(capsys) -> None:
    answers = [
        lambda timings, tokens: tuple(tokens / t.total for t in timings),
        lambda timings, tokens: map(lambda t: tokens / t.total, timings),
        lambda timings, tokens: np.array([t.total for t in timings]) ** -1 * tokens,
        lambda timings, tokens: [Fraction(tokens) / Fraction(t.total) for t in timings],
        lambda timings, tokens: [round(tokens / t.total, 2) for t in timings],  # as printed
    ]
    for answer in answers:
        result = ch06.exercise1.check(answer)
        assert result.passed, result.message


def test_ch06_ex1_values_copied_from_a_run_fail(capsys) -> None:
    copied = [15.24, 12.31, 9.41, 11.03]  # a right-looking list, whatever the timings
    result = ch06.exercise1.check(lambda timings, tokens: copied[:len(timings)])
    assert result.passed is False and "expected one value per stream" in result.message


def endless(*args, **kwargs):
    while True:
        pass


def blocked(*args, **kwargs):
    threading.Event().wait()


@pytest.mark.parametrize("answer", [endless, blocked], ids=["endless", "blocking"])
def test_ch06_ex1_answers_that_hang_get_a_verdict(answer, capsys) -> None:
    begun = time.monotonic()
    with limits.scaled(0.02):
        result = ch06.exercise1.check(answer)
    assert result.passed is False and "did not return within" in result.message
    assert time.monotonic() - begun < 30


# Chapter 06, exercise 2: four newcomers at once, run by the check -----------------------------

PROMPT = "San Francisco is a"


def make_staggered(url, prompt=PROMPT):
    """The notebook's staggered(), against ``url``."""
    async def staggered(long_tokens=200, short_tokens=12, shorts=4, gap=0.5, delay=1.0):
        t0 = time.perf_counter()
        async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as http:
            async def one(name, wait, tokens):
                await asyncio.sleep(wait)
                sent = time.perf_counter() - t0
                timing = await timed_stream(http, url, prompt, max_tokens=tokens,
                                            ignore_eos=True, temperature=0.8, seed=len(name))
                return name, sent, sent + timing.time_to_first_token, sent + timing.total
            return await asyncio.gather(one("long", 0, long_tokens),
                                        *(one(f"short {i}", delay + i * gap, short_tokens)
                                          for i in range(shorts)))
    return staggered


@pytest.fixture
def staggered(legacy_server):
    return make_staggered(legacy_server.url + "/generate")


def test_ch06_ex2_correct_functions_written_otherwise_pass(staggered, legacy_server,
                                                            capsys) -> None:
    async def reference(shorts=4, short_tokens=12, long_tokens=200):
        return await staggered(long_tokens, short_tokens, shorts, gap=0)

    def returns_the_coroutine(**numbers):  # not async itself: the check awaits what it gives
        return staggered(numbers["long_tokens"], numbers["short_tokens"], numbers["shorts"], 0)

    async def own_gather(shorts=4, short_tokens=12, long_tokens=200):
        """Without staggered: NumPy rows, the shorts in one gather of their own."""
        url = legacy_server.url + "/generate"
        t0 = time.perf_counter()
        async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as http:
            async def timed(tokens, seed):
                sent = time.perf_counter() - t0
                t = await timed_stream(http, url, "Once upon a time", max_tokens=tokens,
                                       ignore_eos=True, seed=seed)
                return np.array([sent, sent + t.time_to_first_token, sent + t.total])

            async def later():
                await asyncio.sleep(1)
                return await asyncio.gather(*(timed(short_tokens, i) for i in range(shorts)))

            long, shorts_rows = await asyncio.gather(timed(long_tokens, 99), later())
        return [("long", *long)] + [(f"s{i}", *row) for i, row in enumerate(shorts_rows)]

    async def rounded(**numbers):  # the rows as printed: two decimals
        rows = await staggered(numbers["long_tokens"], numbers["short_tokens"],
                               numbers["shorts"], gap=0)
        return [[name, *(round(v, 2) for v in times)] for name, *times in rows]

    for answer in (reference, returns_the_coroutine, own_gather, rounded):
        result = ch06.exercise2.check(answer)
        assert result.passed, result.message
        assert "the check's own numbers" in result.message


SAVED = [("long", 0.04, 0.09, 6.05), *((f"short {i}", 1.02, 1.10, 1.45) for i in range(4))]


def test_ch06_ex2_rows_typed_in_fail(legacy_server, capsys) -> None:
    result = ch06.exercise2.check(lambda **numbers: SAVED)
    assert result.passed is False and "saw no request to /generate" in result.message


def test_ch06_ex2_arguments_ignored_fail(staggered, capsys) -> None:
    async def newcomers(**numbers):  # the notebook's numbers, whatever it is asked
        return await staggered(60, 12, 4, gap=0)

    result = ch06.exercise2.check(newcomers)
    assert result.passed is False and "pass your function's arguments on" in result.message


def test_ch06_ex2_the_staggered_run_fails(staggered, capsys) -> None:
    async def newcomers(shorts=4, short_tokens=12, long_tokens=200):
        return await staggered(long_tokens, short_tokens, shorts)  # gap=0.5: staggered

    result = ch06.exercise2.check(newcomers)
    assert result.passed is False and "that is the staggered run" in result.message


def test_ch06_ex2_shorts_sent_with_the_long_one_fail(staggered, capsys) -> None:
    async def newcomers(shorts=4, short_tokens=12, long_tokens=200):
        return await staggered(long_tokens, short_tokens, shorts, gap=0, delay=0)

    result = ch06.exercise2.check(newcomers)
    assert result.passed is False and "send them one second after it starts" in result.message


def test_ch06_ex2_rows_altered_after_the_run_fail(staggered, capsys) -> None:
    async def newcomers(shorts=4, short_tokens=12, long_tokens=200):
        rows = await staggered(long_tokens, short_tokens, shorts, gap=0)
        return [rows[0][:3] + (rows[0][3] + 1.0,), *rows[1:]]  # the long one's end, moved

    result = ch06.exercise2.check(newcomers)
    assert result.passed is False and "do not match" in result.message


def test_ch06_ex2_rows_instead_of_a_function_are_named(capsys) -> None:
    result = ch06.exercise2.check(SAVED)
    assert result.passed is False and "expected your function newcomers" in result.message

    async def staggered(gap=0.5):
        return SAVED

    coroutine = staggered(gap=0)
    result = ch06.exercise2.check(coroutine)
    coroutine.close()
    assert result.passed is False and "expected your function newcomers" in result.message


async def waits_forever(**numbers):
    await asyncio.Event().wait()


@pytest.mark.parametrize("answer", [endless, blocked, waits_forever],
                         ids=["endless", "blocking", "async-wait"])
def test_ch06_ex2_answers_that_hang_get_a_verdict(answer, legacy_server, capsys) -> None:
    begun = time.monotonic()
    with limits.scaled(0.08):
        result = ch06.exercise2.check(answer)
    assert result.passed is False and "did not return within" in result.message, result.message
    assert time.monotonic() - begun < 60


def test_solutions_are_the_notebooks_hidden_cells(capsys) -> None:
    for number, name in enumerate(["def stream_speeds", "def newcomers("], 1):
        code = getattr(ch06, f"exercise{number}").solution()
        assert name in code and not code.startswith("#@title")
        assert f"exercise{number}.check(" in code and "reference=True" in code
