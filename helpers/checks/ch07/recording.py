"""A playground that records what the learner's code asks of it, and the updates read back:
chapter 07's exercise 2 (stop a long request from code).

Used by :mod:`helpers.checks.ch07`: :func:`recording_playground` is a
:class:`~helpers.playground.Playground` on the learner's servers that records each run, every
update it yielded, and when ``stop()`` came; :func:`read_updates` reads the updates the learner's
function returned (any sequences) and :func:`in_order` says whether they are ones the stream
yielded, in order.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from helpers.checks.framework import Wrong, describe
from helpers.checks.values import as_list
from helpers.playground import Playground

__all__ = ["in_order", "read_updates", "recording_playground"]


def recording_playground(legacy: str, openai: str) -> Any:
    """A playground on the learner's servers (their URLs) that records runs, updates and
    stops. A run with stream=False is read as a stream underneath (one update at the end, as
    before), so that stop() can close it: the check never leaves a 2,000-token request
    behind."""
    class Recording(Playground):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.runs: list[dict] = []
            self.stops: list[dict] = []  # at each stop() of the learner: what had happened

        def run(self, choices: Any):
            record = {"choices": choices, "updates": [], "ended": False,
                      "stopped_before": bool(self.stops), "closed": False}
            self.runs.append(record)
            try:
                for texts in self._streamed(choices):
                    record["updates"].append(list(texts))
                    yield texts
                    if record["stopped_before"]:  # the learner's stop came too early:
                        Playground.stop(self)  # end the 2,000 tokens for them
                        record["closed"] = True
            finally:
                record["ended"] = True

        def _streamed(self, choices: Any):
            if choices.stream or choices.beam_search:
                yield from Playground.run(self, choices)
                return
            last = None
            for texts in Playground.run(self, dataclasses.replace(choices, stream=True)):
                last = texts
            if last is not None and not self.stopped:
                yield last

        def stop(self) -> None:
            live = [run for run in self.runs if not run["ended"]]
            self.stops.append({"live": bool(live),
                               "updates": sum(len(run["updates"]) for run in self.runs)})
            super().stop()

    return Recording(legacy, openai)


def read_updates(seen: Any) -> list | str:
    """The learner's returned updates as lists of texts (any sequences will do), or a short
    description of what is not one. Run under :func:`call`: the answer's methods may loop."""
    try:
        updates = as_list(seen)
    except Wrong:
        return describe(seen, 40)
    read = []
    for update in updates:
        try:
            texts = as_list(update)
        except Wrong:
            return f"an update {describe(update, 40)}"
        if not all(isinstance(text, str) for text in texts):
            return f"an update {describe(update, 40)}"
        read.append(texts)
    return read


def in_order(read: list, yielded: list) -> bool:
    """``read`` is a subsequence of ``yielded`` (compared as values)."""
    position = 0
    for texts in read:
        while position < len(yielded) and yielded[position] != texts:
            position += 1
        if position == len(yielded):
            return False
        position += 1
    return True
