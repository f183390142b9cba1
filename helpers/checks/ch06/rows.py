"""The learner's experiment run, and the rows it returned compared with the check's own timing:
chapter 06's exercise 2 (four newcomers at once).

Used by :mod:`helpers.checks.ch06`: :func:`run_rows` calls the learner's ``newcomers`` and runs
the coroutine it gives in an event loop of its own (a notebook's loop is running already);
:func:`compare_rows` reads the rows it returned (name, sent, first token, finished) and holds
them against the times :mod:`~helpers.checks.ch06.timed` measured for the same requests, within
:data:`ROW_TOLERANCE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from typing import Any

from helpers.checks.ch06.timed import Watched
from helpers.checks.framework import Wrong, describe
from helpers.checks.values import as_list, number

__all__ = ["ROW_TOLERANCE", "compare_rows", "run_rows"]

#: Seconds a learner's row may differ from the check's own measurement of the same request.
ROW_TOLERANCE = 0.3


def run_rows(newcomers: Any, **numbers: Any) -> Any:
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


def compare_rows(rows: Any, long: Watched, short: list[Watched], doing: str,
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
