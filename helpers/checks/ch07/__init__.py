"""The checkers of chapter 07's exercises (the playground). See :mod:`helpers.checks.framework`.

Both run against the learner's servers (local, or a workshop room's with its key) through a
:class:`~helpers.playground.Playground` of the checker's own.

- Exercise 1 reads the learner's settings (a ``Choices``, or a dict of its fields; numbers of
  any numeric type) and runs them on both APIs, with the notebook's prompt and with a prompt
  of the check's own: the candidates must be the same on both. Then it runs them on its own
  prompt *without* the seed: if the two APIs still agree and the two candidates are one text,
  the settings do not sample (a temperature or top_p so small that decoding is greedy), and
  the seed is not what made them repeat.
- Exercise 2 hands the learner's function a playground that records what it is asked to do
  (its runs, every update each yielded, when ``stop()`` came), then waits (with a deadline)
  for the server's own ``/metrics`` to show that the request is no longer generated, on the
  server of the API the learner chose. The updates returned must be ones the stream yielded.
  Before each check both servers are settled (an earlier attempt's requests waited out), and
  after it the checker closes whatever the learner's code left open.

The harness is apart: :mod:`~helpers.checks.ch07.choices` (exercise 1: the settings read and
their candidates compared) and :mod:`~helpers.checks.ch07.recording` (exercise 2: the recording
playground, the updates read back).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from helpers.checks import server
from helpers.checks.ch07.choices import final, read_settings, same_candidates
from helpers.checks.ch07.recording import in_order, read_updates, recording_playground
from helpers.checks.framework import Chapter, Wrong, call, describe
from helpers.checks.values import first_mistake
from helpers.course.servers import KINDS
from helpers.playground import Playground

__all__ = ["chapter", "exercise1", "exercise2", "progress"]


def _settle() -> None:
    """Wait out an earlier attempt's requests on both servers. A server that does not answer
    is left to the check itself, which says so when (and if) it needs that server."""
    for kind in ("legacy", "openai"):
        try:
            server.settle(kind)
        except Wrong:
            pass


chapter = Chapter("07", "07_playground.ipynb", prepare=_settle)
progress = chapter.progress

#: The check's own prompt (the notebook uses "The ocean is" and the default prompt).
OWN_PROMPT = "My grandmother's kitchen always smelled of"
#: Runs of exercise 1 are cut to this many tokens (the seed's effect shows in the first ones).
MAX_COMPARED = 16
#: Seconds the learner's stop_long_request(playground) may take (the reference takes ~1 s).
LIMIT = 20.0
#: Seconds the server may take to drop a request once its connection was closed.
ABORT_WITHIN = 10.0


@chapter.exercise("The same candidates on both APIs", hints=[
    "Sampling draws random numbers, on either server. Which control of the app fixes them? "
    "Keep sampling (temperature above 0) and n=2.",
    "same = Choices(prompt='The ocean is', n=2, max_tokens=8, stream=False, seed=7): a fixed "
    "seed, with the same temperature, top_p and max_tokens, repeats the samples on either "
    "server; the api switch does not matter.",
], limit=180)
def exercise1(same: Any) -> str:
    choices = call(read_settings, same, doing="reading your settings", limit=10)
    if isinstance(choices, str):
        raise Wrong(choices)
    first_mistake([
        (lambda: choices.n != 2,
         f"your settings ask for n={choices.n}; the exercise compares two candidates: n=2."),
        (lambda: choices.beam_search,
         "beam_search=True: beam search does not sample, so it says nothing about sampling. "
         "Switch it off and find what makes two samples repeat."),
        (lambda: choices.temperature == 0,
         "temperature=0 with n=2: vLLM refuses it (both candidates would be the same greedy "
         "text). Keep sampling, and find what makes the samples repeat."),
        (lambda: choices.temperature < 0 or not 0 < choices.top_p <= 1,
         f"temperature={choices.temperature:g}, top_p={choices.top_p:g}: the servers accept "
         "a temperature of 0 or more and a top_p in (0, 1]."),
        (lambda: choices.max_tokens < 1,
         f"max_tokens={choices.max_tokens}: ask for at least one token."),
        (lambda: choices.seed is None,
         "seed=None: without a seed every run samples anew, on either server, so the "
         "candidates differ (press Run twice in the app). Fix the seed."),
    ])
    cut = min(choices.max_tokens, MAX_COMPARED)
    playground = Playground(*_urls())
    shared = server.shared("legacy") or server.shared("openai")
    compared = []
    for prompt in (choices.prompt, OWN_PROMPT):
        run = dataclasses.replace(choices, prompt=prompt, max_tokens=cut)
        texts = {api: final(playground, dataclasses.replace(run, api=api))
                 for api in ("legacy", "openai")}
        if not same_candidates(texts["legacy"], texts["openai"], shared):
            whose = "your prompt" if prompt == choices.prompt else f"the check's own prompt " \
                f"{prompt!r}"
            raise Wrong(f"with seed={choices.seed}, for {whose}, the legacy API gave "
                        f"{describe(texts['legacy'], 60)} and the OpenAI API "
                        f"{describe(texts['openai'], 60)}: expected the same two candidates."
                        + (" (A room's shared server batches everyone's requests, which can "
                           "tip a near-tie: run the check again.)" if shared else ""))
        compared.append(texts["legacy"])
    # Without the seed: do these settings sample at all?
    unseeded = dataclasses.replace(choices, prompt=OWN_PROMPT, max_tokens=cut, seed=None)
    free = {api: final(playground, dataclasses.replace(unseeded, api=api))
            for api in ("legacy", "openai")}
    if free["legacy"] == free["openai"] and len(set(free["legacy"])) == 1:
        raise Wrong(f"with temperature={choices.temperature:g} and top_p={choices.top_p:g}, "
                    f"even without a seed both APIs gave one text four times "
                    f"({describe(free['legacy'][0], 50)}) for the check's own prompt: these "
                    "settings always picked the likeliest token, which is greedy decoding, "
                    "so the seed is not what made them repeat. Keep sampling (the default "
                    "temperature=0.8, top_p=1.0) and fix the seed.")
    capped = (f" (the first {cut} tokens compared)" if cut < choices.max_tokens else "")
    how = ("the same or differing only after a common start (a room's shared server)"
           if shared else "the same")
    return (f"with seed={choices.seed}, temperature={choices.temperature:g} and "
            f"top_p={choices.top_p:g}, both APIs gave {how} two candidates for your prompt "
            f"and for the check's own, {OWN_PROMPT!r}{capped}; without the seed they "
            f"differ. Yours: {describe(compared[0], 70)}.")


def _urls() -> tuple[str, str]:
    """The learner's legacy and OpenAI-compatible servers, as a Playground takes them."""
    return KINDS["legacy"].url(), KINDS["openai"].url()


@chapter.exercise("Stop a long request from code", hints=[
    "Read playground.run(Choices(max_tokens=2000, stream=True)) in a threading.Thread that "
    "appends each update to a list; in your function, wait until the list holds a few "
    "updates, then call playground.stop().",
    "worker = threading.Thread(target=lambda: seen.extend(playground.run(Choices("
    "max_tokens=2000, stream=True)))); worker.start(); wait while len(seen) < 3 and "
    "worker.is_alive(); then playground.stop(), worker.join(10), and return seen.",
], function="stop_long_request", limit=120)
def exercise2(stop_long_request: Any) -> str:
    playground = recording_playground(*_urls())
    try:
        return _judge_stop(stop_long_request, playground)
    finally:  # whatever the learner's code left open is closed, so the next check starts clean
        Playground.stop(playground)


def _judge_stop(stop_long_request: Any, playground: Any) -> str:
    doing = "calling stop_long_request(playground)"
    try:
        seen = call(stop_long_request, playground, doing=doing, limit=LIMIT)
    except Wrong as late:  # the time limit: say what the function had done by then
        run = playground.runs[0] if playground.runs else None
        if run is None:
            raise Wrong(f"{late} It had not called playground.run(...).") from None
        _choices_mistakes(run, f"{late} ")
        if not playground.stops:
            raise Wrong(f"{late} It had read {len(run['updates'])} updates and never called "
                        "playground.stop(): it waits for the whole 2,000 tokens. Read the "
                        "stream in a thread, and stop it from your function after a few "
                        "updates.") from None
        raise Wrong(f"{late} It had called playground.stop(), then did not return: join the "
                    "thread with a timeout, worker.join(10).") from None
    if not playground.runs:
        raise Wrong("your function never called playground.run(...) on the playground it "
                    "receives: run Choices(max_tokens=2000, stream=True) with it.")
    run = playground.runs[0]
    choices = run["choices"]
    kind = "openai" if choices.api == "openai" else "legacy"
    _choices_mistakes(run)
    if not playground.stops:
        raise Wrong(_no_stop_message(run, kind))
    if not any(stop["live"] for stop in playground.stops):
        raise Wrong(f"your playground.stop() came after the stream had ended "
                    f"({len(run['updates'])} updates): stop it while it runs.")
    updates = call(read_updates, seen, doing="reading the updates your function returned",
                   limit=10)
    if isinstance(updates, str):
        raise Wrong(f"{doing} returned {describe(seen, 60)}; expected the updates it saw before "
                    "stopping, a list of updates, and each update is a list of texts (one "
                    f"per candidate), not {updates}.")
    yielded = run["updates"]
    if not updates:
        raise Wrong(f"{doing} returned an empty list, but the stream had yielded "
                    f"{len(yielded)} updates: return the updates your function saw.")
    read = updates
    if not in_order(read, yielded):
        raise Wrong(f"{doing} returned {len(read)} updates, {describe(read, 60)}, that are "
                    f"not ones the stream yielded in this run ({len(yielded)} updates, the "
                    f"first {describe(yielded[:1], 50)}): return the updates your function "
                    "read from playground.run(...), as they came.")
    ended = _wait(lambda: run["ended"], within=5)
    if not ended:
        raise Wrong("5 s after your playground.stop() the stream was still being read: stop "
                    "with the same playground whose run() you read.")
    if server.shared(kind):
        return (f"stopped after {len(read)} updates of a {choices.max_tokens}-token stream (a "
                "room's shared server: its metrics were not checked).")
    left = _wait_idle(kind, ABORT_WITHIN)
    if left:
        raise Wrong(f"you stopped after {len(read)} updates, but {ABORT_WITHIN:g} s later your "
                    f"server still generated {left} request(s): close the connection, which "
                    "playground.stop() does.")
    return (f"stopped after {len(read)} of a {choices.max_tokens}-token stream's updates "
            f"(the updates returned are the ones it yielded); your server's /metrics then "
            "showed no request running.")


def _choices_mistakes(run: dict, before: str = "") -> None:
    """The known mistakes of the learner's Choices (``before``: what happened first)."""
    choices = run["choices"]

    def after(text: str) -> str:
        return f"{before}{text[0].upper()}{text[1:]}" if before else text

    first_mistake([
        (lambda: not choices.stream,
         after("your Choices have stream=False: the answer then comes as one update at the "
               "end, with nothing to stop on the way. Use stream=True.")),
        (lambda: choices.max_tokens < 500,
         after(f"your Choices ask for max_tokens={choices.max_tokens}: the stream can end on "
               "its own before you stop it. Ask for a long one, max_tokens=2000.")),
        (lambda: run["stopped_before"],
         after("you called playground.stop() before the stream had started: run() begins "
               "by clearing the stop flag, so that stop was forgotten and the request went "
               "on. Wait for a few updates, then stop.")),
    ])


def _no_stop_message(run: dict, kind: str) -> str:
    seen = f"{len(run['updates'])} updates read"
    base = (f"your function returned without calling playground.stop() ({seen}). "
            "playground.stop() closes the connection at once, from any thread, as the Stop "
            "button does.")
    if run["ended"]:  # the learner's loop dropped the generator, which closed the stream
        return (base + " Here the stream did end, because leaving your loop closed the "
                "generator; the exercise asks for the Stop button's way, which stops a stream "
                "that another thread is reading.")
    if server.shared(kind):
        return base + " The stream was still being read when your function returned."
    left = _wait_idle(kind, 2.0)
    still = (f" 2 s later your server still generated {left} request(s)." if left else
             " The stream was still open when your function returned.")
    return base + still


def _wait(condition: Any, within: float) -> bool:
    deadline = time.monotonic() + within
    while not (done := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(done)


def _wait_idle(kind: str, within: float) -> int:
    """Wait (up to ``within`` s) until the learner's server of ``kind`` runs no request;
    the number still running or waiting then (0: idle)."""
    deadline = time.monotonic() + within
    while (left := server.busy(kind)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
