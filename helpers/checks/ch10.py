"""The checkers of chapter 10's exercises (scaling out). See :mod:`helpers.checks.framework`.

Exercise 1 calls the learner's function and watches the same counters the chapter reads: each
replica's ``vllm:request_success_total`` and the router's ``vllm_router_processed_requests``,
so it knows which replica served each call and that the call went through the router.
Exercise 2's answer is what the learner saw (six outcomes); the checker tells a run with the
router's retries still on, or with no replica killed, from the experiment the exercise asks for.
Both need replicas and a router of the learner's own: in a workshop room, whose counters move
with everyone's requests and whose replicas nobody may kill, they say so instead of judging.
"""

from __future__ import annotations

import time
from typing import Any

from helpers import settings
from helpers.checks.framework import Chapter, NotHere, Wrong, call, describe
from helpers.metrics import metric_value
from helpers.servers import KINDS, METRICS_PORT_OFFSET

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

chapter = Chapter("10", "10_scaling_out.ipynb")

QUESTION = [{"role": "user", "content": "Name a bridge in San Francisco."}]
SERVED = "vllm:request_success_total"
ROUTED = "vllm_router_processed_requests_total"


def _local_only(what: str) -> None:
    if KINDS["router"].remote_url() or KINDS["openai"].remote_url():
        raise NotHere(f"{what} needs replicas and a router of your own; in a workshop the "
                      "room's are shared, so this exercise is checked on the instructor's "
                      "screen. exercise.solution() shows ours.")


def _roots() -> list[str]:
    """The chapter's two replicas (ports ``openai_port()`` and ``openai_port() + 10``)."""
    port = settings.openai_port()
    return [f"http://{settings.LOCAL_HOST}:{p}" for p in (port, port + 10)]


def _counts() -> tuple[list[float], float]:
    """Each replica's finished requests, and the requests the router has passed on."""
    router = f"http://{settings.LOCAL_HOST}:{settings.router_port() + METRICS_PORT_OFFSET}"
    try:
        served = [metric_value(root, SERVED) for root in _roots()]
        try:
            routed = metric_value(router, ROUTED)
        except KeyError:  # a router that has passed nothing on yet has no such line
            routed = 0.0
    except (OSError, KeyError) as error:
        raise Wrong("this check reads both replicas' and the router's counters, and could "
                    f"not ({type(error).__name__}): run the chapter's cells from the top, so "
                    "that both replicas and the router run.") from None
    return served, routed


def _counts_after(before: tuple[list[float], float], settle: float = 2.0
                  ) -> tuple[list[float], float]:
    """The counters once the request just answered is counted everywhere (a counter may move
    a moment after the answer arrives), or after ``settle`` seconds."""
    deadline = time.monotonic() + settle
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
    _local_only("telling which replica answered")
    named = []
    for _ in range(3):  # round-robin: both replicas answer within three calls
        before = _counts()
        answer = call(which_replica, QUESTION, doing="calling which_replica(messages)")
        after = _counts_after(before)
        _judge(answer, _moved(before, after), after[1] - before[1])
        named.append(answer)
    return (f"three chats through the router, each placed right: replicas {named}, read from "
            "the counters that moved.")


def _judge(answer: Any, moved: list[int], routed: float) -> None:
    if isinstance(answer, bool) or not isinstance(answer, int):
        if isinstance(answer, list | tuple):
            raise Wrong(f"your function returned {describe(answer)}: return one number, the "
                        "replica that answered (1 or 2), e.g. `flags.index(True) + 1`.")
        raise Wrong(f"your function returned {describe(answer)}; expected the number of the "
                    "replica that answered, 1 or 2.")
    if not moved:
        raise Wrong("during your function's call no replica finished a request: does it send "
                    "a chat completion (and wait for its answer) before reading the counters "
                    "again?")
    if len(moved) > 1:
        raise Wrong("both replicas finished a request during your function's call: send one "
                    "chat completion, not one per replica.")
    if not routed:
        raise Wrong("the request reached a replica without going through the router (its "
                    "counters did not move): send it with the router's client, "
                    "base_url=f\"{router.url}/v1\".")
    if answer == moved[0] - 1:
        raise Wrong(f"replica {moved[0]} answered and your function said {answer}: the chapter "
                    "numbers the replicas 1 and 2 (index + 1).")
    if answer != moved[0]:
        raise Wrong(f"replica {moved[0]}'s counter went up and your function said {answer}. "
                    "Compare each counter before and after the request: the larger total says "
                    "which replica served more so far, not which one served this request.")


@chapter.exercise("No retries, a dead replica", hints=[
    "start_router(\"round_robin\", \"--disable-retries\", health_every=60), then "
    "os.killpg(second.pid, signal.SIGKILL), then six requests, each in try/except, keeping "
    "\"ok\" or type(error).__name__.",
    "Round-robin alternates, so every second request goes to the dead replica: with retries "
    "off, the router answers it with an error. Put replica 2 back afterwards (start_server).",
])
def exercise2(seen: Any) -> str:
    _local_only("killing a replica")
    if not isinstance(seen, list | tuple) or not all(isinstance(s, str) for s in seen):
        raise Wrong(f"your answer is {describe(seen)}; expected the list of six outcomes you "
                    "saw, \"ok\" or the error's class name, e.g. ['ok', 'InternalServerError', "
                    "...].")
    if len(seen) != 6:
        raise Wrong(f"your list has {len(seen)} outcomes; the exercise sends six requests.")
    failed = [s for s in seen if s != "ok"]
    if not failed:
        raise Wrong("all six requests succeeded: either the router still retried (start it "
                    "with \"--disable-retries\") or no replica was dead (kill replica 2 after "
                    "the router started). With retries on, the router hides a dead replica, as "
                    "in the crash experiment.")
    if "APIConnectionError" in failed or "APITimeoutError" in failed:
        raise Wrong("the client could not reach the router at all (APIConnectionError): the "
                    "router is not running. Start it again with start_router(...) and repeat.")
    if len(failed) == 6:
        raise Wrong("every request failed: round-robin should still send every second "
                    "request to the live replica. Did you kill replica 1 (first), or both?")
    if not _alive(_roots()[1]):
        raise Wrong("your outcomes are right, but replica 2 is still dead: put it back with "
                    "second = start_server(\"openai\", port=settings.openai_port() + 10), so "
                    "that the rest of the chapter has two replicas.")
    return (f"{len(failed)} of 6 requests failed ({', '.join(sorted(set(failed)))}) and "
            f"{6 - len(failed)} succeeded: without retries the dead replica's share of the "
            "requests reaches the client, until health checks or the breaker take it out.")


def _alive(root: str) -> bool:
    try:
        metric_value(root, SERVED, timeout=2)
    except (OSError, KeyError):
        return False
    return True


def progress() -> str:
    """Show chapter 10's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
