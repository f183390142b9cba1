"""The checkers of chapter 06 (helpers.checks.ch06).

Every known mistake, written as a small wrong answer, gets its own message. The checkers read
timings and rows, so no server is needed here; the reference solutions pass against the real
server in the notebook, under nbval.
"""

from __future__ import annotations

import asyncio

import pytest

from helpers.aclient import StreamTiming
from helpers.checks import ch06

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


# Chapter 06, exercise 2: four newcomers at once ----------------------------------------------

def rows(shorts_sent, long_done=6.4):
    return [("long", 0.0, 0.1, long_done),
            *((f"short {i}", s, s + 0.2, s + 0.9) for i, s in enumerate(shorts_sent))]


def test_ch06_ex2_four_together_pass(capsys) -> None:
    result = ch06.exercise2.check(rows([1.0, 1.0, 1.01, 1.01]))
    assert result and "four short requests sent together at 1.00 s" in result.message
    assert "got their first tokens after 0.20 s," in result.message  # not "0.20 to 0.20 s"
    spread = rows([1.0, 1.0, 1.01, 1.01])
    spread[-1] = ("short 3", 1.01, 1.36, 1.9)
    result = ch06.exercise2.check(spread)
    assert result and "got their first tokens after 0.20 to 0.35 s," in result.message


def test_ch06_ex2_a_coroutine_is_named_and_closed(capsys) -> None:
    async def staggered(gap=0.5):
        return rows([1.0] * 4)

    coroutine = staggered(gap=0)
    result = ch06.exercise2.check(coroutine)
    assert result.passed is False and "`await staggered(gap=0)`" in result.message
    with pytest.raises(RuntimeError):  # closed by the checker: it cannot run any more
        asyncio.run(coroutine)


@pytest.mark.parametrize("answer, message", [
    (rows([1.0, 1.5, 2.0, 2.5]), "sent 1.5 s apart"),
    (rows([0.0, 0.0, 0.0, 0.0]), "together with the long one"),
    (rows([1.0] * 4, long_done=1.5), "the long request was too short"),
    (rows([1.0] * 4)[1:], "expected what staggered(gap=0) returns"),
    ([tuple(r[:3]) for r in rows([1.0] * 4)], "a row is"),
    (list(reversed(rows([1.0] * 4))), "the long request first"),
], ids=["staggered", "with-long", "long-too-short", "four-rows", "short-rows", "order"])
def test_ch06_ex2_known_mistakes(answer, message, capsys) -> None:
    result = ch06.exercise2.check(answer)
    assert result.passed is False and message in result.message, result.message


def test_ch06_ex2_takes_the_rows_of_real_timings(capsys) -> None:
    """The rows are the notebook's (name, sent, first, done), from StreamTiming's properties."""
    timing = StreamTiming(arrivals=[0.2, 0.4, 0.9])
    row = ("short 0", 1.0, 1.0 + timing.time_to_first_token, 1.0 + timing.total)
    assert ch06.exercise2.check([("long", 0.0, 0.1, 6.0), *[row] * 4])



def test_solutions_are_the_notebooks_hidden_cells(capsys) -> None:
    for number, name in enumerate(["def stream_speeds", "await staggered(gap=0)"], 1):
        code = getattr(ch06, f"exercise{number}").solution()
        assert name in code and not code.startswith("#@title")
        assert f"exercise{number}.check(" in code and "reference=True" in code
