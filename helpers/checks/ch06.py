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
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import math
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from numbers import Real
from typing import Any

from helpers.aclient import StreamTiming
from helpers.checks import server
from helpers.checks.framework import Chapter, Wrong, call, describe
from helpers.checks.values import as_list, first_mistake, number

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

# Exercise 2 settles the learner's server itself, first thing (server.settle): a Chapter
# `prepare` would run before exercise 1 too, which needs no server (and its tests run without).
chapter = Chapter("06", "06_concurrency_and_benchmark.ipynb")
#: A speed within this share of the expected one is right (a value rounded to 2 decimals is).
SPEED_TOLERANCE = 0.005


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


def _random_case() -> tuple[str, list[StreamTiming], int]:
    """Streams of the check's own, drawn for each check: a token count and times that no
    saved output holds."""
    tokens = random.randint(10, 60)
    timings = []
    for _ in range(random.randint(2, 5)):
        first = round(random.uniform(0.03, 0.6), 3)
        timings.append(_timing(first, round(first + random.uniform(0.8, 4.0), 3),
                               random.randint(max(2, tokens // 2), tokens)))
    return f"{len(timings)} streams of {tokens} tokens drawn by the check", timings, tokens


def _read(got: Any, n: int, doing: str) -> list[float] | None:
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


def _close(values: list[float] | None, expected: list[float]) -> bool:
    return (values is not None and len(values) == len(expected)
            and all(math.isclose(v, e, rel_tol=SPEED_TOLERANCE)
                    for v, e in zip(values, expected, strict=True)))


@chapter.exercise("Each stream's own speed", hints=[
    "A stream's own speed is its tokens divided by its own total time: t.total is when its "
    "last snapshot arrived, in seconds from sending its request.",
    "`return [tokens / t.total for t in timings]`: one value per stream, in their order.",
], function="stream_speeds", limit=60)
def exercise1(stream_speeds: Any) -> str:
    for label, timings, tokens in [*_cases(), _random_case()]:
        doing = f"calling stream_speeds(timings, {tokens}) on {label}"
        got = call(stream_speeds, list(timings), tokens, doing=doing, limit=20)
        values = _read(got, len(timings), doing)
        expected = [tokens / t.total for t in timings]
        if _close(values, expected):
            continue
        _known_mistake(got if values is None else values, timings, tokens, doing)
        raise Wrong(f"{doing} gave {describe(got)}; expected one value per stream, "
                    f"{describe([round(e, 2) for e in expected])} (its tokens over its total "
                    f"time; within {SPEED_TOLERANCE:.1%}).")
    return ("one value per stream, its tokens over its own total time, for streams that "
            "started and ended at different moments (and a set drawn by the check).")


def _known_mistake(got: Any, timings: list[StreamTiming], tokens: int, doing: str) -> None:
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
    first_mistake((lambda expected=expected: _close(got, expected),
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


# Exercise 2 -----------------------------------------------------------------------------------

#: Seconds a learner's row may differ from the check's own measurement of the same request.
ROW_TOLERANCE = 0.3
#: The watched clients: httpx's (the notebook's) and httpx2's.
HTTPX_MODULES = ("httpx", "httpx2")


class Watched:
    """One request the learner's code sent through an async httpx client: what it asked for
    (the JSON body), and when (the check's clock) it was sent and its first and last bytes
    came."""

    def __init__(self, content: bytes, path: str) -> None:
        try:
            self.body = json.loads(content) if content else {}
        except ValueError:
            self.body = {}
        self.path = path
        self.sent = time.perf_counter()
        self.first: float | None = None
        self.last: float | None = None

    @property
    def max_tokens(self) -> Any:
        return self.body.get("max_tokens") if isinstance(self.body, dict) else None


def _watch(module: Any, watched: list[Watched]) -> Any:
    original = module.AsyncClient.send

    class Tee(module.AsyncByteStream):
        def __init__(self, stream: Any, request: Watched) -> None:
            self.stream, self.request = stream, request

        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in self.stream:
                now = time.perf_counter()
                if chunk:
                    self.request.first = self.request.first or now
                    self.request.last = now
                yield chunk

        async def aclose(self) -> None:
            await self.stream.aclose()

    async def send(client: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        record = Watched(request.content, request.url.path)
        watched.append(record)
        response = await original(client, request, *args, **kwargs)
        if kwargs.get("stream"):
            response.stream = Tee(response.stream, record)
        else:
            record.first = record.last = time.perf_counter()
        return response

    module.AsyncClient.send = send
    return original


@contextlib.contextmanager
def watching() -> Iterator[list[Watched]]:
    """Record every request sent through an async httpx client inside the block."""
    watched: list[Watched] = []
    restore = []
    try:
        for name in HTTPX_MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            restore.append((module.AsyncClient, _watch(module, watched)))
        yield watched
    finally:
        for owner, send in restore:
            owner.send = send


def _run_rows(newcomers: Any, **numbers: Any) -> Any:
    """Call the learner's function; run the coroutine it gives (an ``async def``) in an event
    loop of its own, in a thread (a notebook's loop is running already); the result."""
    result = newcomers(**numbers)
    if not inspect.isawaitable(result):
        return result
    outcome: dict[str, Any] = {}
    loop = asyncio.new_event_loop()
    task: list[asyncio.Future] = []

    async def main() -> Any:
        task.append(asyncio.ensure_future(result))
        return await task[0]

    def target() -> None:
        try:
            outcome["value"] = loop.run_until_complete(main())
        except BaseException as error:  # handed to the caller below
            outcome["error"] = error
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    worker = threading.Thread(target=target, daemon=True, name="check's event loop")
    worker.start()
    try:
        worker.join()
    except BaseException:  # the time limit: cancel the learner's requests, then report
        if task:
            loop.call_soon_threadsafe(task[0].cancel)
        worker.join(5)
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


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
        rows = call(_run_rows, newcomers, doing=doing, limit=120, **numbers)
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
    _compare_rows(rows, long, short, doing, ended - begun)
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


def _compare_rows(rows: Any, long: Watched, short: list[Watched], doing: str,
                  took: float) -> None:
    """The learner's rows (name, sent, first token, finished; seconds from their own start)
    against the check's own timing of the same requests."""
    what = ("expected what staggered returns: one row per request (name, sent, first token, "
            "finished), the long request first")
    rows = as_list(rows, f"a list of rows; {what}", doing=doing)
    if len(rows) != 1 + len(short):
        raise Wrong(f"{doing} returned {len(rows)} rows for the {1 + len(short)} requests the "
                    f"check saw it send: {describe(rows, 60)}; {what}.")
    table = []
    for row in rows:
        items = as_list(row, f"a row; {what}", doing=doing)
        if len(items) != 4:
            raise Wrong(f"{doing}: a row is {describe(row)}; {what}.")
        table.append([items[0]] + [number(v, f"times in seconds; {what}", doing=doing)
                                   for v in items[1:]])
    start = long.sent - table[0][1]  # the rows' zero, on the check's clock
    by_sent = [table[0]] + sorted(table[1:], key=lambda r: r[1])
    for row, request in zip(by_sent, [long, *short], strict=True):
        seen = [request.sent - start, request.first - start, request.last - start]
        for label, got, measured in zip(("sent", "first token", "finished"), row[1:], seen,
                                        strict=True):
            if abs(got - measured) > ROW_TOLERANCE:
                raise Wrong(f"{doing}: your row {describe(row[0], 20)} says {label} at "
                            f"{got:.2f} s; the check timed that request's {label} at "
                            f"{measured:.2f} s (on the same zero, your long request's "
                            f"sending; the call took {took:.1f} s): rows typed in or kept "
                            "from another run do not match. Return the rows of this run.")


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
