"""The checkers of chapter 06's exercises (concurrency). See :mod:`helpers.checks.framework`.

Exercise 1 feeds the learner's ``stream_speeds`` stream timings the checker makes up:
streams that started their answers at different moments, finished at different times, and
sent fewer snapshots than tokens. Exercise 2 reads the learner's own measurement, the rows
that ``staggered(gap=0)`` returned from the learner's server, and checks what the
experiment asked for (four short requests sent together, a second after the long one) and
what continuous batching promises (every short one finished before the long one).
"""

from __future__ import annotations

import inspect
import math
from numbers import Real
from typing import Any

from helpers.aclient import StreamTiming
from helpers.checks.framework import Chapter, Wrong, call, describe

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

chapter = Chapter("06", "06_concurrency_and_benchmark.ipynb")


def _timing(first: float, total: float, snapshots: int) -> StreamTiming:
    """A stream whose first snapshot came at ``first`` s and its last at ``total`` s."""
    step = (total - first) / (snapshots - 1) if snapshots > 1 else 0.0
    return StreamTiming(arrivals=[first + i * step for i in range(snapshots)],
                        texts=["San Francisco is a city"])


def _cases() -> list[tuple[str, list[StreamTiming], int]]:
    alone = [_timing(0.05, 1.6, 32)]
    # Four streams started together: the first tokens came at different steps, and the
    # streams ended at different times; some snapshots held two tokens (fewer snapshots).
    four = [_timing(0.08, 2.1, 32), _timing(0.3, 2.6, 29), _timing(0.12, 3.4, 25),
            _timing(0.9, 2.9, 32)]
    shorter = [_timing(0.1, 1.5, 24), _timing(0.2, 1.8, 20)]
    return [("four streams of 32 tokens", four, 32), ("one stream of 32 tokens", alone, 32),
            ("two streams of 24 tokens", shorter, 24)]


def _close(values: Any, expected: list[float]) -> bool:
    return (isinstance(values, list) and len(values) == len(expected)
            and all(isinstance(v, Real) and math.isclose(v, e, rel_tol=1e-6)
                    for v, e in zip(values, expected, strict=True)))


@chapter.exercise("Each stream's own speed", hints=[
    "A stream's own speed is its tokens divided by its own total time: t.total is when its "
    "last snapshot arrived, in seconds from sending its request.",
    "`return [tokens / t.total for t in timings]`: one value per stream, in their order.",
], function="stream_speeds")
def exercise1(stream_speeds: Any) -> str:
    for label, timings, tokens in _cases():
        doing = f"calling stream_speeds(timings, {tokens}) on {label}"
        got = call(stream_speeds, timings, tokens, doing=doing)
        got = list(got) if isinstance(got, tuple) else got
        expected = [tokens / t.total for t in timings]
        if _close(got, expected):
            continue
        _known_mistake(got, timings, tokens, doing)
        raise Wrong(f"{doing} gave {describe(got)}; expected one value per stream, "
                    f"{describe([round(e, 2) for e in expected])} (its tokens over its total "
                    "time).")
    return ("one value per stream, its tokens over its own total time, for streams that "
            "started and ended at different moments.")


def _known_mistake(got: Any, timings: list[StreamTiming], tokens: int, doing: str) -> None:
    n = len(timings)
    if isinstance(got, Real):
        wall = max(t.total for t in timings)
        if math.isclose(got, n * tokens / wall, rel_tol=1e-6) and n > 1:
            raise Wrong(f"{doing} gave one number, {got:.2f}: the tokens of all {n} streams "
                        "over the slowest one's time is the throughput (the table's tokens/s). "
                        "The exercise asks what each stream sees: return one value per "
                        "stream.")
        raise Wrong(f"{doing} gave one number, {got:.2f}, for {n} stream(s): return a list, "
                    "one value per stream.")
    if not isinstance(got, list) or len(got) != n:
        raise Wrong(f"{doing} gave {describe(got)}; expected a list of {n} numbers, one per "
                    "stream.")
    rules = [
        ([n * tokens / t.total for t in timings],
         "you multiplied by the number of streams: that is a throughput. A stream's own "
         "speed is its own tokens over its own total time."),
        ([tokens / (t.total - t.time_to_first_token) for t in timings],
         "you left out the wait for the first token (t.total - t.time_to_first_token). The "
         "stream's user waits from sending the request: divide by t.total."),
        ([tokens / max(x.total for x in timings) for _ in timings],
         "you divided every stream's tokens by the slowest stream's time. Each stream has "
         "its own total time: t.total."),
        ([len(t.arrivals) / t.total for t in timings],
         "you counted snapshots (len(t.arrivals)), not tokens: a snapshot can carry more "
         "than one token. Use the tokens argument (each stream asked for exactly that many)."),
        ([tokens / t.time_to_first_token for t in timings],
         "you divided by the time to the first token; a stream's tokens take until its "
         "last one, t.total."),
    ]
    for expected, message in rules:
        if _close(got, expected):
            raise Wrong(f"{doing} gave {describe([round(v, 2) for v in got])}: {message}")
    if all(isinstance(v, Real) for v in got):
        used = got[0] * timings[0].total
        if _close(got, [used / t.total for t in timings]):
            raise Wrong(f"{doing} gave {describe([round(v, 2) for v in got])}: you divided "
                        f"{used:g} tokens by each stream's time, but these streams asked for "
                        f"{tokens}. Use the tokens argument, not a fixed number.")


@chapter.exercise("Four newcomers at once", hints=[
    "staggered() sends short request i at 1 + i * gap seconds: with gap=0, all four go at "
    "1 s, while the long one runs.",
    "`together = await staggered(gap=0)` (it returns one row per request: name, sent, first "
    "token, finished), then compare each row's first - sent with the staggered run's.",
])
def exercise2(together: Any) -> str:
    rows = _rows(together)
    long_sent, long_done = rows[0][1], rows[0][3]
    shorts = rows[1:]
    sent = [row[1] for row in shorts]
    spread = max(sent) - min(sent)
    if spread >= 0.3:
        raise Wrong(f"your short requests were sent {spread:.1f} s apart (at "
                    f"{', '.join(f'{s:.2f}' for s in sent)} s): that is the staggered run. "
                    "Send all four at once: staggered(gap=0).")
    if min(sent) - long_sent < 0.5:
        raise Wrong(f"your short requests were sent at {min(sent):.2f} s, together with the "
                    "long one: send them one second after it starts, while it runs "
                    "(staggered(gap=0) does).")
    late = [row[0] for row in shorts if row[3] >= long_done]
    if late:
        raise Wrong(f"{', '.join(late)} finished at or after the long request "
                    f"({long_done:.2f} s): the long request was too short to show anything. "
                    "Keep its default length, LONG_TOKENS, sized to last about six seconds.")
    waits = [round(row[2] - row[1], 2) for row in shorts]  # as printed
    after = (f"{min(waits):.2f} s" if min(waits) == max(waits)
             else f"{min(waits):.2f} to {max(waits):.2f} s")
    return (f"four short requests sent together at {min(sent):.2f} s got their first tokens "
            f"after {after}, and all finished before the long one ({long_done:.2f} s).")


def _rows(together: Any) -> list[tuple]:
    expected = ("expected what staggered(gap=0) returns: five rows (name, sent, first token, "
                "finished), the long request first")
    if inspect.iscoroutine(together):
        together.close()  # never run: no warning that it was not awaited
        raise Wrong("you passed a coroutine: `await staggered(gap=0)` runs it and gives its "
                    "rows.")
    if not isinstance(together, list | tuple) or len(together) != 5:
        raise Wrong(f"got {describe(together)}; {expected}.")
    rows = []
    for row in together:
        if not (isinstance(row, list | tuple) and len(row) == 4 and isinstance(row[0], str)
                and all(isinstance(v, Real) for v in row[1:])):
            raise Wrong(f"a row is {describe(row)}; {expected}.")
        rows.append(tuple(row))
    if rows[0][0] != "long" or any(row[0] == "long" for row in rows[1:]):
        raise Wrong(f"the rows are named {[row[0] for row in rows]}; {expected}.")
    return rows


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
