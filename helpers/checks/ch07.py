"""The checkers of chapter 07's exercises (the playground). See :mod:`helpers.checks.framework`.

Both run against the learner's servers (local, or a workshop room's with its key) through a
:class:`~helpers.playground.Playground` of the checker's own. Exercise 1 takes the learner's
settings (a ``Choices``) and runs them on both APIs: the candidates must be the same.
Exercise 2 hands the learner's function a playground that records what it is asked to do
(its runs, how many updates each yielded, when ``stop()`` came), then asks vLLM's metrics
whether the server still generates the request (not on a room's shared server).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from helpers import settings
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

chapter = Chapter("07", "07_playground.ipynb")
LIMIT = 20.0  # seconds exercise 2 waits for the learner's function before stopping it itself


def _base_url(kind: str) -> str:
    """The learner's server of ``kind``: the room's when set, else the local one."""
    from helpers.servers import KINDS

    return KINDS[kind].url()


def _remote() -> bool:
    return settings.remote_legacy_url() is not None


@chapter.exercise("The same candidates on both APIs", hints=[
    "Sampling draws random numbers, on either server. Which control of the app fixes them? "
    "Keep sampling (temperature above 0) and n=2.",
    "same = Choices(prompt='The ocean is', n=2, max_tokens=8, stream=False, seed=7): a fixed "
    "seed, with the same temperature, top_p and max_tokens, repeats the samples on either "
    "server; the api switch does not matter.",
])
def exercise1(same: Any) -> str:
    from helpers.playground import Choices, Playground

    if not isinstance(same, Choices):
        raise Wrong(f"expected your settings as a Choices, as in same = Choices(prompt=..., "
                    f"n=2, ...); got {describe(same)}. This check runs them on both APIs.")
    if same.n != 2:
        raise Wrong(f"your settings ask for n={same.n}; the exercise compares two candidates: "
                    "n=2.")
    if same.beam_search:
        raise Wrong("beam_search=True: beam search does not sample, so it says nothing about "
                    "sampling. Switch it off and find what makes two samples repeat.")
    if same.temperature == 0:
        raise Wrong("temperature=0 with n=2: vLLM refuses it (both candidates would be the same "
                    "greedy text). Keep sampling, and find what makes the samples repeat.")
    if same.seed is None:
        raise Wrong("seed=None: without a seed every run samples anew, on either server, so "
                    "the candidates differ (press Run twice in the app). Fix the seed.")
    playground = Playground(_base_url("legacy"), _base_url("openai"))
    texts = {api: _final(playground, dataclasses.replace(same, api=api))
             for api in ("legacy", "openai")}
    if texts["legacy"] != texts["openai"]:
        raise Wrong(f"with seed={same.seed} the legacy API gave {describe(texts['legacy'], 60)}"
                    f" and the OpenAI API {describe(texts['openai'], 60)}: expected the same. "
                    "(On a shared server another batch can tip a near-tie: run the check "
                    "again.)")
    return (f"with seed={same.seed}, temperature={same.temperature} and top_p={same.top_p}, "
            f"both APIs gave the same two candidates, {describe(texts['legacy'], 70)}.")


def _final(playground: Any, choices: Any) -> list:
    """The candidates' texts once ``choices`` ran to the end on ``choices.api``."""
    try:
        updates = list(playground.run(choices))
    except Exception as error:  # the server refused the learner's settings: say why
        text = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise Wrong(f"the {choices.api} API refused your settings ({type(error).__name__}: "
                    f"{text[:160]}).") from None
    if not updates:
        raise Wrong(f"the {choices.api} API answered nothing for your settings.")
    return updates[-1]


def _recording_playground() -> Any:
    """A playground on the learner's servers that records runs, updates and stops."""
    from helpers.playground import Playground

    class Recording(Playground):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            self.runs: list[dict] = []
            self.stops: list[int] = []  # updates yielded so far, at each stop() of the learner

        def run(self, choices: Any):
            record = {"choices": choices, "updates": 0, "ended": False,
                      "stopped_before": bool(self.stops)}
            self.runs.append(record)
            try:
                for texts in super().run(choices):
                    record["updates"] += 1
                    yield texts
                    if record["stopped_before"]:  # the learner's stop came too early:
                        Playground.stop(self)  # end the 2,000 tokens for them
            finally:
                record["ended"] = True

        def stop(self) -> None:
            self.stops.append(sum(run["updates"] for run in self.runs))
            super().stop()

    return Recording(_base_url("legacy"), _base_url("openai"))


@chapter.exercise("Stop a long request from code", hints=[
    "Read playground.run(Choices(max_tokens=2000, stream=True)) in a threading.Thread that "
    "appends each update to a list; in your function, wait until the list holds a few "
    "updates, then call playground.stop().",
    "worker = threading.Thread(target=lambda: seen.extend(playground.run(Choices("
    "max_tokens=2000, stream=True)))); worker.start(); wait while len(seen) < 3 and "
    "worker.is_alive(); then playground.stop(), worker.join(10), and return seen.",
], function="stop_long_request")
def exercise2(stop_long_request: Any) -> str:
    playground = _recording_playground()
    outcome: dict = {}

    def attempt() -> None:
        try:
            outcome["result"] = call(stop_long_request, playground,
                                     doing="calling stop_long_request(playground)")
        except AnswerRaised as raised:
            outcome["raised"] = raised

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(LIMIT)
    late = worker.is_alive()
    if late:  # stop the stream ourselves, so that the learner's function can return
        from helpers.playground import Playground

        Playground.stop(playground)
        worker.join(10)
    if not playground.runs:
        raise Wrong("your function never called playground.run(...) on the playground it "
                    "receives: run Choices(max_tokens=2000, stream=True) with it.")
    run = playground.runs[0]
    choices = run["choices"]
    if not choices.stream:
        raise Wrong("your Choices have stream=False: the answer then comes as one update at "
                    "the end, with nothing to stop on the way. Use stream=True.")
    if choices.max_tokens < 500:
        raise Wrong(f"your Choices ask for max_tokens={choices.max_tokens}: the stream can "
                    "end on its own before you stop it. Ask for a long one, max_tokens=2000.")
    if run["stopped_before"]:
        raise Wrong("you called playground.stop() before the stream had started: run() "
                    "begins by clearing the stop flag, so that stop was forgotten and the "
                    "request went on. Wait for a few updates, then stop.")
    if late:
        if not playground.stops:
            raise Wrong(f"after {LIMIT:.0f} s your function was still running, and had not "
                        f"called playground.stop() ({run['updates']} updates read): it waits "
                        "for the whole 2,000 tokens. Read the stream in a thread, and stop it "
                        "from your function after a few updates.")
        raise Wrong(f"your function called playground.stop() but had not returned after "
                    f"{LIMIT:.0f} s: join the thread with a timeout, worker.join(10).")
    if "raised" in outcome:
        raise outcome["raised"]
    if not playground.stops:
        running = "" if _remote() else _still_running(within=2)
        raise Wrong(f"your function returned without calling playground.stop(){running}. "
                    "Leaving the loop (or a thread still reading) does not say \"stop\" to "
                    "the server; playground.stop() closes the connection at once, from any "
                    "thread, as the Stop button does.")
    seen = outcome.get("result")
    if seen is None:
        raise Wrong("your function returned None: return the updates it saw (a list).")
    if not isinstance(seen, list) or not seen or not all(isinstance(u, list) for u in seen):
        raise Wrong(f"your function returned {describe(seen)}; expected the updates it saw "
                    "before stopping: a non-empty list of updates, each a list of texts.")
    deadline = time.monotonic() + 5
    while not run["ended"] and time.monotonic() < deadline:
        time.sleep(0.05)
    if not run["ended"]:
        raise Wrong("5 s after your playground.stop() the stream was still being read: stop "
                    "with the same playground whose run() you read.")
    if _remote():
        return (f"stopped after {len(seen)} updates of a 2,000-token stream (a room's shared "
                "server: its metrics were not checked).")
    running = _still_running(within=5)
    if running:
        raise Wrong(f"you stopped after {len(seen)} updates, but 5 s later the server{running}"
                    ": close the connection, which playground.stop() does.")
    return (f"stopped after {len(seen)} updates of a 2,000-token stream; vLLM's metrics "
            "show no request running any more.")


def _still_running(within: float) -> str:
    """'' when the learner's legacy server generates nothing (within ``within`` s), else
    ' (still generating N request(s))'."""
    from helpers.metrics import wait_for_running

    running = wait_for_running(_base_url("legacy"), 0, within=within)
    return f" (it still generates {running} request(s))" if running else ""


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
