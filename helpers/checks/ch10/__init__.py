"""The checkers of chapter 10's exercises (scaling out). See :mod:`helpers.checks.framework`.

Exercise 1 calls the learner's function with conversations of the check's own (the notebook
asks about a bridge) and watches the same counters the chapter reads: each replica's
``vllm:request_success_total`` and the router's ``vllm_router_processed_requests_total``, so it
knows which replica served each call and that the call went through the router; before each
check it waits until neither replica has work left from an earlier attempt. Exercise 2's answer
is what the learner saw (six outcomes); the checker compares it with what the router itself
counted since it was started: its retries (none, with ``--disable-retries``), the requests it
passed on, and the failures it recorded per replica, so that outcomes typed in, or a run with
retries on, or with no replica killed, show.
Both need replicas and a router of the learner's own: in a workshop room, whose counters move
with everyone's requests and whose replicas nobody may kill, they say so instead of judging.
Where the replicas and the router are, and the wait before each check, are in
:mod:`~helpers.checks.ch10.replicas`.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

import requests

from helpers.checks.ch10.replicas import local_only, roots, router_metrics_root, settle
from helpers.checks.framework import Chapter, Wrong, call, describe
from helpers.checks.values import as_list, whole
from helpers.metrics import metric_value

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

SERVED = "vllm:request_success_total"
ROUTED = "vllm_router_processed_requests_total"


chapter = Chapter("10", "10_scaling_out.ipynb", prepare=settle)
progress = chapter.progress


# Exercise 1 ----------------------------------------------------------------------------------

#: The check's own conversations, one a call (the notebook asks about a bridge).
QUESTIONS = [[{"role": "user", "content": "Name a river in Portugal."}],
             [{"role": "user", "content": "Say one word about rain."}],
             [{"role": "user", "content": "What colour is a lemon?"}],
             [{"role": "user", "content": "Name a mountain in Chile."}]]


def _counts() -> tuple[list[float], float]:
    """Each replica's finished requests, and the requests the router has passed on."""
    try:
        served = [metric_value(root, SERVED) for root in roots()]
        try:
            routed = metric_value(router_metrics_root(), ROUTED)
        except KeyError:  # a router that has passed nothing on yet has no such line
            routed = 0.0
    except (OSError, KeyError) as error:
        raise Wrong("this check reads both replicas' and the router's counters, and could "
                    f"not ({type(error).__name__}): run the chapter's cells from the top, so "
                    "that both replicas and the router run.") from None
    return served, routed


def _counts_after(before: tuple[list[float], float], within: float = 2.0
                  ) -> tuple[list[float], float]:
    """The counters once the request just answered is counted everywhere (a counter may move
    a moment after the answer arrives), or after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        after = _counts()
        if (_moved(before, after) and after[1] > before[1]) or time.monotonic() > deadline:
            return after
        time.sleep(0.1)


def _moved(before: tuple[list[float], float], after: tuple[list[float], float]) -> list[int]:
    """The replicas (numbered 1 and 2) that finished a request between the two readings."""
    return [i + 1 for i, (a, b) in enumerate(zip(before[0], after[0], strict=True)) if b > a]


@chapter.exercise("Which replica answered?", hints=[
    "Read both replicas' vllm:request_success_total (served() in the chapter) before and "
    "after one chat completion sent through the router's client.",
    "The replica whose counter went up answered: return its number, 1 or 2 — "
    "`[b > a for a, b in zip(before, after)].index(True) + 1`.",
], function="which_replica")
def exercise1(which_replica: Any) -> str:
    local_only("telling which replica answered")
    calls = []  # (the number it said, the replica whose counter moved, what was called)
    for messages in QUESTIONS:  # round-robin: both replicas answer within these calls
        doing = f"calling which_replica({messages!r})"
        try:
            before = _counts()
        except Wrong:  # no replicas to watch: still run the function (a hang is a verdict)
            call(which_replica, [dict(m) for m in messages], doing=doing, limit=60)
            raise
        answer = call(which_replica, [dict(m) for m in messages], doing=doing, limit=60)
        after = _counts_after(before)
        moved = _moved(before, after)
        calls.append((_read(answer, moved, after[1] - before[1], doing), moved[0], doing))
    said, served = [c[0] for c in calls], [c[1] for c in calls]
    if said != served:
        if len(set(said)) == 1 and len(set(served)) == 2:
            raise Wrong(f"your function said {said[0]} every time, while the counters show "
                        f"that replicas {served} answered the check's {len(calls)} chats: it "
                        "has to read whose counter moved for its own request (each counter "
                        "before and after it); the larger total says which replica served "
                        "more so far, not which one served this request.")
        number, replica, doing = next(c for c in calls if c[0] != c[1])
        _judge(number, [replica], 1, doing)
    named = said
    both = " (both replicas)" if len(set(named)) == 2 else ""
    return (f"{len(QUESTIONS)} chats of the check's own through the router, each placed "
            f"right: replicas {named}{both}, read from the counters that moved.")


def _judge(answer: Any, moved: list[int], routed: float,
           doing: str = "calling which_replica") -> int:
    """The replica ``answer`` names, when it is the one whose counter moved (``moved``) for
    a request that went through the router (``routed`` requests passed on)."""
    number = _read(answer, moved, routed, doing)
    if number == moved[0] - 1:
        raise Wrong(f"{doing}: replica {moved[0]} answered and your function said {number}: "
                    "the chapter numbers the replicas 1 and 2 (index + 1).")
    if number != moved[0]:
        raise Wrong(f"{doing}: replica {moved[0]}'s counter went up and your function said "
                    f"{number}. Compare each counter before and after the request: the larger "
                    "total says which replica served more so far, not which one served this "
                    "request.")
    return number


def _read(answer: Any, moved: list[int], routed: float, doing: str) -> int:
    """The number ``answer`` says, once the call is known to have sent one request through
    the router to one replica."""
    if isinstance(answer, list | tuple):
        raise Wrong(f"{doing} returned {describe(answer)}: return one number, the replica "
                    "that answered (1 or 2), e.g. `flags.index(True) + 1`.")
    number = whole(answer, "the number of the replica that answered, 1 or 2", doing=doing)
    if not moved:
        raise Wrong(f"{doing}: no replica finished a request during the call: does it send a "
                    "chat completion (and wait for its answer) before reading the counters "
                    "again?")
    if len(moved) > 1:
        raise Wrong(f"{doing}: both replicas finished a request during the call: send one "
                    "chat completion, not one per replica.")
    if not routed:
        raise Wrong(f"{doing}: the request reached replica {moved[0]} without going through "
                    "the router (its counters did not move): send it with the router's "
                    "client, base_url=f\"{router.url}/v1\".")
    return number


# Exercise 2 ----------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$")


def _router_samples() -> list[tuple[str, dict, float]]:
    """The router's metrics: (name, labels, value) for each sample (Wrong if it does not
    answer)."""
    url = router_metrics_root() + "/metrics"
    try:
        text = requests.get(url, timeout=5).text
    except requests.RequestException as error:
        raise Wrong(f"this check reads your router's counters at {url}, which did not answer "
                    f"({type(error).__name__}): is the router running? Start it again with "
                    "start_router(...), repeat the six requests, then this check.") from None
    samples = []
    for line in text.splitlines():
        found = _SAMPLE.match(line)
        if found:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', found.group(2) or ""))
            try:
                samples.append((found.group(1), labels, float(found.group(3))))
            except ValueError:
                continue
    return samples


def _total(samples: list[tuple[str, dict, float]], name: str, **labels: str) -> float:
    return sum(value for n, found, value in samples
               if n == name and all(found.get(k) == v for k, v in labels.items()))


def _alive(root: str) -> bool:
    try:
        metric_value(root, SERVED, timeout=2)
    except (OSError, KeyError):
        return False
    return True


def _outcomes(seen: Any) -> list[str]:
    outcomes = as_list(seen, "the list of six outcomes you saw, \"ok\" or the error's class "
                       "name, e.g. ['ok', 'InternalServerError', ...]")
    for position, outcome in enumerate(outcomes, 1):
        if not isinstance(outcome, str):
            raise Wrong(f"outcome {position} of your list is {describe(outcome)}; expected "
                        "\"ok\" or the error's class name (type(error).__name__), a string.")
    return ["ok" if outcome.strip().lower() == "ok" else outcome.strip() for outcome in outcomes]


@chapter.exercise("No retries, a dead replica", hints=[
    "start_router(\"round_robin\", \"--disable-retries\", health_every=60), then "
    "os.killpg(second.pid, signal.SIGKILL), then six requests, each in try/except, keeping "
    "\"ok\" or type(error).__name__.",
    "Round-robin alternates, so every second request goes to the dead replica: with retries "
    "off, the router answers it with an error.",
])
def exercise2(seen: Any) -> str:
    local_only("killing a replica")
    outcomes = _outcomes(seen)
    if len(outcomes) != 6:
        raise Wrong(f"your list has {len(outcomes)} outcomes ({describe(outcomes)}); the "
                    "exercise sends six requests.")
    failed = [s for s in outcomes if s != "ok"]
    kinds = ", ".join(f"{n} × {k}" for k, n in Counter(failed).items())
    if "APIConnectionError" in failed or "APITimeoutError" in failed:
        raise Wrong(f"your outcomes include {kinds}: the client could not reach the router "
                    "at all, so the router is not running. Start it again with "
                    "start_router(...) and repeat.")
    samples = _router_samples()
    retried = _total(samples, "vllm_router_retries_total")
    passed_on = _total(samples, ROUTED)
    router_failures = {labels.get("worker", "?"): value for name, labels, value in samples
                       if name == "vllm_router_cb_outcomes_total"
                       and labels.get("outcome") == "failure" and value}
    if retried:
        raise Wrong(f"your router has retried {retried:g} request(s) since it started, so it "
                    "runs with retries on, and your outcomes ("
                    f"{len(failed)} failed) are not from a router without them: restart it with "
                    "start_router(\"round_robin\", \"--disable-retries\", health_every=60), "
                    "kill replica 2, and send the six requests again.")
    if not failed:
        raise Wrong("all six requests succeeded, and your router (without retries) recorded "
                    + ("no failed request: no replica was dead. Kill replica 2 after the "
                       "router started, then send the six requests." if not router_failures
                       else f"failures at {sorted(router_failures)}: did you send the six "
                       "requests before killing the replica?"))
    if passed_on < 6:
        raise Wrong(f"your router has passed on only {passed_on:g} request(s) since it "
                    "started, but your list has six outcomes: send the six requests through "
                    "this router (the client with base_url=f\"{router.url}/v1\"), keeping "
                    "each one's outcome.")
    if not router_failures:
        raise Wrong(f"your list has {len(failed)} failed request(s) ({kinds}), but your router "
                    "recorded no failed request since it started: the outcomes are not what "
                    "this router answered. Kill replica 2, send the six requests through it, "
                    "and keep what each one gave.")
    if sum(router_failures.values()) < len(failed):
        raise Wrong(f"your list has {len(failed)} failed request(s) ({kinds}), but your router "
                    f"recorded {sum(router_failures.values()):g} since it started: keep each "
                    "request's own outcome, \"ok\" or type(error).__name__.")
    if len(failed) == 6:
        alive = [i + 1 for i, root in enumerate(roots()) if _alive(root)]
        raise Wrong(f"every request failed ({kinds}); your router recorded failures at "
                    f"{sorted(router_failures)}, and replica(s) {alive or 'none'} answer now. "
                    "Round-robin sends every second request to each replica, so with one "
                    "replica dead half should succeed: was replica 1 dead too?")
    return (f"{len(failed)} of 6 requests failed ({kinds}) and {6 - len(failed)} succeeded, "
            f"as your router counted (no retries; failures at {sorted(router_failures)}): "
            "without retries the dead replica's share of the requests reaches the client, "
            "until health checks or the breaker take it out.")
