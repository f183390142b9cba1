"""Stream timings made up by the check, and the learner's speeds read and told apart: chapter
06's exercise 1 (each stream's own speed).

Used by :mod:`helpers.checks.ch06`: :func:`cases` and :func:`random_case` are the streams the
check feeds ``stream_speeds`` (fixed ones, and one set drawn for each check); :func:`read_speeds`
reads the answer as floats (any sequence, any numeric type); :func:`close_to` says whether they
are the expected speeds within :data:`SPEED_TOLERANCE`; :func:`known_mistake` names a known
mistake (a throughput, the first token's wait left out, snapshots counted...).
"""

from __future__ import annotations

import math
import random
from numbers import Real
from typing import Any

from helpers.aclient import StreamTiming
from helpers.checks.framework import Wrong, describe
from helpers.checks.values import first_mistake, number

__all__ = ["SPEED_TOLERANCE", "cases", "close_to", "known_mistake", "random_case",
           "read_speeds"]

#: A speed within this share of the expected one is right (a value rounded to 2 decimals is).
SPEED_TOLERANCE = 0.005


def _timing(first: float, total: float, snapshots: int) -> StreamTiming:
    """A stream whose first snapshot came at ``first`` s and its last at ``total`` s."""
    step = (total - first) / (snapshots - 1) if snapshots > 1 else 0.0
    return StreamTiming(arrivals=[first + i * step for i in range(snapshots)],
                        texts=["San Francisco is a city"])


def cases() -> list[tuple[str, list[StreamTiming], int]]:
    alone = [_timing(0.05, 1.6, 32)]
    # Four streams started together: the first tokens came at different steps, and the
    # streams ended at different times; some snapshots held two tokens (fewer snapshots).
    four = [_timing(0.08, 2.1, 32), _timing(0.3, 2.6, 29), _timing(0.12, 3.4, 25),
            _timing(0.9, 2.9, 32)]
    shorter = [_timing(0.1, 1.5, 24), _timing(0.2, 1.8, 20)]
    return [("four streams of 32 tokens", four, 32), ("one stream of 32 tokens", alone, 32),
            ("two streams of 24 tokens", shorter, 24)]


def random_case() -> tuple[str, list[StreamTiming], int]:
    """Streams of the check's own, drawn for each check: a token count and times that no
    saved output holds."""
    tokens = random.randint(10, 60)
    timings = []
    for _ in range(random.randint(2, 5)):
        first = round(random.uniform(0.03, 0.6), 3)
        timings.append(_timing(first, round(first + random.uniform(0.8, 4.0), 3),
                               random.randint(max(2, tokens // 2), tokens)))
    return f"{len(timings)} streams of {tokens} tokens drawn by the check", timings, tokens


def read_speeds(got: Any, n: int, doing: str) -> list[float] | None:
    """The learner's speeds as floats (any sequence, any numeric type), or None when the
    answer is not n numbers (the known mistakes then say what it is)."""
    if isinstance(got, Real) or got is None or isinstance(got, str | bytes | dict):
        return None
    try:
        values = list(got)
    except TypeError:
        return None
    if len(values) != n:
        return None
    try:
        return [number(v, "a speed", doing=doing) for v in values]
    except Wrong:
        return None


def close_to(values: list[float] | None, expected: list[float]) -> bool:
    return (values is not None and len(values) == len(expected)
            and all(math.isclose(v, e, rel_tol=SPEED_TOLERANCE)
                    for v, e in zip(values, expected, strict=True)))


def known_mistake(got: Any, timings: list[StreamTiming], tokens: int, doing: str) -> None:
    """``got`` is the learner's speeds read as floats when it was n numbers, else as given."""
    n = len(timings)
    if isinstance(got, Real) and not isinstance(got, bool):
        wall = max(t.total for t in timings)
        if math.isclose(got, n * tokens / wall, rel_tol=SPEED_TOLERANCE) and n > 1:
            raise Wrong(f"{doing} gave one number, {float(got):.2f}: the tokens of all {n} "
                        "streams over the slowest one's time is the throughput (the table's "
                        "tokens/s). The exercise asks what each stream sees: return one value "
                        "per stream.")
        raise Wrong(f"{doing} gave one number, {float(got):.2f}, for {n} stream(s): return a "
                    "list, one value per stream.")
    if not (isinstance(got, list) and len(got) == n
            and all(isinstance(v, float) for v in got)):
        raise Wrong(f"{doing} gave {describe(got)}; expected a list of {n} numbers, one per "
                    "stream.")
    shown = describe([round(v, 2) for v in got])
    used = got[0] * timings[0].total
    first_mistake((lambda expected=expected: close_to(got, expected),
                   f"{doing} gave {shown}: {message}") for expected, message in [
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
        ([used / t.total for t in timings] if n > 1 else [math.nan],
         f"you divided {used:g} tokens by each stream's time, but these streams asked for "
         f"{tokens}. Use the tokens argument, not a fixed number."),
    ])
