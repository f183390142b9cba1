"""The checkers of chapter 06's exercises (concurrency). See :mod:`helpers.checks.framework`.

Exercise 1 feeds the learner's ``stream_speeds`` stream timings the checker makes up: streams
that started their answers at different moments, finished at different times, and sent fewer
snapshots than tokens, and one set drawn at random for each check (a token count and times
the notebook never uses). Speeds of any numeric type in any sequence pass, within 0.5 %.

Exercise 2 runs the learner's ``newcomers`` itself, with numbers of the check's own (a number
of short requests other than the notebook's 4, a short length other than 12, and a long
length sized from the check's own measurement of the learner's server: about 3 s of it), and
watches every request it sends (httpx's ``AsyncClient``): what it asked for, when it was sent,
when its first and last bytes came. It judges what the experiment asked for from those
measurements (the short ones sent together, a second after the long one; every short one
finished before the long one) and compares the rows the learner's function returned with
them (within 0.3 s). Before it measures, the server's leftover requests are waited out.

Exercise 1's made-up streams and known mistakes are in :mod:`~helpers.checks.ch06.speeds`;
exercise 2's harness is apart: :mod:`~helpers.checks.ch06.timed` times the learner's requests,
:mod:`~helpers.checks.ch06.rows` runs the learner's coroutine and compares its rows.
"""

from __future__ import annotations

import inspect
import random
import time
from typing import Any

from helpers.checks import server
from helpers.checks.ch06.rows import ROW_TOLERANCE, compare_rows, run_rows
from helpers.checks.ch06.speeds import (
    SPEED_TOLERANCE,
    cases,
    close_to,
    known_mistake,
    random_case,
    read_speeds,
)
from helpers.checks.ch06.timed import Watched, watching
from helpers.checks.framework import Chapter, Wrong, call, describe

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

# Exercise 2 settles the learner's server itself, first thing (server.settle): a Chapter
# `prepare` would run before exercise 1 too, which needs no server (and its tests run without).
chapter = Chapter("06", "06_concurrency_and_benchmark.ipynb")


@chapter.exercise("Each stream's own speed", hints=[
    "A stream's own speed is its tokens divided by its own total time: t.total is when its "
    "last snapshot arrived, in seconds from sending its request.",
    "`return [tokens / t.total for t in timings]`: one value per stream, in their order.",
], function="stream_speeds", limit=60)
def exercise1(stream_speeds: Any) -> str:
    for label, timings, tokens in [*cases(), random_case()]:
        doing = f"calling stream_speeds(timings, {tokens}) on {label}"
        got = call(stream_speeds, list(timings), tokens, doing=doing, limit=20)
        values = read_speeds(got, len(timings), doing)
        expected = [tokens / t.total for t in timings]
        if close_to(values, expected):
            continue
        known_mistake(got if values is None else values, timings, tokens, doing)
        raise Wrong(f"{doing} gave {describe(got)}; expected one value per stream, "
                    f"{describe([round(e, 2) for e in expected])} (its tokens over its total "
                    f"time; within {SPEED_TOLERANCE:.1%}).")
    return ("one value per stream, its tokens over its own total time, for streams that "
            "started and ended at different moments (and a set drawn by the check).")


# Exercise 2 -----------------------------------------------------------------------------------

def _long_tokens() -> tuple[int, float]:
    """A long request of about 3 s on the learner's server, from the check's own timing of
    32 tokens (the server settled before); and that speed, in tokens/s."""
    begun = time.perf_counter()
    server.ask_ok("legacy", "/generate", {"prompt": "Count slowly:", "max_tokens": 32,
                                          "ignore_eos": True, "temperature": 0.8, "seed": 7})
    speed = 32 / max(time.perf_counter() - begun, 1e-3)
    return min(2048, max(40, int(3 * speed))), speed


@chapter.exercise("Four newcomers at once", hints=[
    "staggered() sends short request i at 1 + i * gap seconds: with gap=0, all of them go at "
    "1 s, while the long one runs. Pass your function's numbers on to it.",
    "`async def newcomers(shorts=4, short_tokens=12, long_tokens=LONG_TOKENS): return await "
    "staggered(long_tokens, short_tokens, shorts, gap=0)`; then `together = await "
    "newcomers()` and compare each row's first - sent with the staggered run's.",
], function="newcomers", limit=300)
def exercise2(newcomers: Any) -> str:
    server.settle("legacy")  # an earlier attempt's requests would slow this one's down
    long_tokens, speed = _long_tokens()
    shorts = random.choice([2, 3, 5])
    short_tokens = random.choice([6, 8, 10])
    numbers = {"shorts": shorts, "short_tokens": short_tokens, "long_tokens": long_tokens}
    doing = ("calling newcomers(" + ", ".join(f"{k}={v}" for k, v in numbers.items())
             + ") (the check's own numbers)")
    with watching() as watched:
        begun = time.perf_counter()
        rows = call(run_rows, newcomers, doing=doing, limit=120, **numbers)
        ended = time.perf_counter()
    if inspect.iscoroutine(rows):
        rows.close()
    requests = [w for w in watched if w.path.endswith("/generate")]
    asked = sorted((w.max_tokens for w in requests), key=lambda v: (v is None, v or 0))
    expected = sorted([long_tokens] + [short_tokens] * shorts)
    if not requests:
        raise Wrong(f"{doing}: this check saw no request to /generate from your function (it "
                    "watches httpx's AsyncClient, which staggered uses), and it returned "
                    f"{describe(rows, 60)}: rows typed in or kept from an earlier run are not "
                    "a measurement. Run the experiment: return await staggered(...).")
    if asked != expected:
        raise Wrong(f"{doing}: your function sent {len(requests)} request(s), of "
                    f"max_tokens {asked}; these numbers ask for one of {long_tokens} and "
                    f"{shorts} of {short_tokens}: pass your function's arguments on to "
                    "staggered(long_tokens, short_tokens, shorts, gap=0).")
    long = next(w for w in requests if w.max_tokens == long_tokens)
    short = sorted((w for w in requests if w is not long), key=lambda w: w.sent)
    sent = _sent_together(long, short, doing)
    if any(w.last is None for w in requests):
        raise Wrong(f"{doing}: some of your requests had not finished when your function "
                    "returned: await them all (await staggered(...)).")
    late = [i for i, w in enumerate(short) if w.last >= long.last]
    crowded = bool(late) and server.shared("legacy")  # a room's server runs everyone's work
    if late and not crowded:
        raise Wrong(f"{doing}: the check saw short request(s) {late} finish at or after the "
                    f"long one ({long.last - long.sent:.2f} s after it was sent), though "
                    f"{long_tokens} tokens take about 3 s on your server alone "
                    f"({speed:.0f} tokens/s when the check timed it): was your server busy "
                    "with other work? Run the check again.")
    compare_rows(rows, long, short, doing, ended - begun)
    waits = [w.first - w.sent for w in short]
    after = (f"{min(waits):.2f} s" if round(min(waits), 2) == round(max(waits), 2)
             else f"{min(waits):.2f} to {max(waits):.2f} s")
    return (f"with the check's own numbers ({shorts} short requests of {short_tokens} tokens, "
            f"a long one of {long_tokens}), the check saw the short ones sent together "
            f"{min(sent):.2f} s after the long one, their first bytes after {after}, "
            + ("some finished after the long one (the room's server was busy with everyone's "
               "requests, so that is not held against you)" if crowded
               else "all finished before the long one")
            + ", and your rows agree with its own timing.")


def _sent_together(long: Watched, short: list[Watched], doing: str) -> list[float]:
    """When the short requests were sent, in seconds after the long one: all at once (gap=0),
    about a second after it, while it runs."""
    sent = [w.sent - long.sent for w in short]
    spread = max(sent) - min(sent)
    if spread >= ROW_TOLERANCE:
        raise Wrong(f"{doing}: the check saw your short requests sent {spread:.1f} s apart "
                    f"(at {', '.join(f'{s:.2f}' for s in sent)} s after the long one): that "
                    "is the staggered run. Send them all at once: gap=0.")
    if min(sent) < 0.5:
        raise Wrong(f"{doing}: the check saw your short requests sent {min(sent):.2f} s after "
                    "the long one: send them one second after it starts, while it runs "
                    "(staggered(..., gap=0) does).")
    return sent


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
