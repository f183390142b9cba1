"""Chapter 10's checkers (helpers.checks.ch10), both ways, without a server.

Exercise 1's checker runs whole against a fake pair of replicas behind a fake round-robin
router (``world``: the counters the checker reads are the fake's), so that right functions
written other ways pass and wrong ones fail with their own message; its verdict on one call
(``_judge``) is tested on its own too. Exercise 2's answer is what the learner saw; the checker
compares it with the router's own counters, here a fake router's metrics. The whole chapter,
with two real replicas and a real router, runs under nbval. In a workshop room both checkers
say they cannot judge there.
"""

from __future__ import annotations

import threading
from fractions import Fraction

import numpy as np
import pytest

from helpers.checks import ch10, limits
from helpers.checks.ch10.replicas import roots
from helpers.checks.framework import Wrong
from helpers.course.ports import free_port
from helpers.course.servers import KINDS


@pytest.fixture
def local(monkeypatch):
    """A learner's own machine (no room's URLs), with nothing on the chapter's ports: the
    checker's wait for leftover requests finds no replica and moves on."""
    for kind in ("router", "openai"):
        monkeypatch.delenv(KINDS[kind].remote_variable, raising=False)
    monkeypatch.setenv(KINDS["openai"].port_variable, str(free_port()))
    monkeypatch.setenv(KINDS["router"].port_variable, str(free_port()))


class World:
    """Two replicas behind a round-robin router, as counters."""

    def __init__(self, served=(5.0, 2.0)) -> None:
        self.served, self.routed, self.turn = list(served), 0.0, 0

    def chat(self, *, through_router: bool = True) -> None:
        if through_router:
            self.routed += 1
            replica, self.turn = self.turn % 2, self.turn + 1
        else:
            replica = 0  # sent to replica 1's own address
        self.served[replica] += 1

    def counts(self) -> tuple[list[float], float]:
        return list(self.served), self.routed


@pytest.fixture
def world(local, monkeypatch) -> World:
    fake = World()
    monkeypatch.setattr(ch10, "_counts", fake.counts)
    return fake


# Chapter 10, exercise 1: which replica answered? ---------------------------------------------

@pytest.mark.parametrize(("answer", "moved", "routed", "message"), [
    ([False, True], [2], 1, "return one number"),
    ("replica 2", [2], 1, "expected the number of the replica"),
    (True, [1], 1, "expected the number of the replica"),
    (1, [], 1, "no replica finished a request"),
    (1, [1, 2], 2, "send one chat completion, not one per replica"),
    (1, [1], 0, "without going through the router"),
    (1, [2], 1, "numbers the replicas 1 and 2"),
    (2, [1], 1, "not which one served this request"),
    (1.5, [1], 1, "not a whole number"),
])
def test_ch10_ex1_known_mistakes(answer, moved, routed, message) -> None:
    with pytest.raises(Wrong, match=message):
        ch10._judge(answer, moved, routed)


@pytest.mark.parametrize("answer", [2, np.int64(2), 2.0, Fraction(4, 2)],
                         ids=["int", "numpy", "float", "fraction"])
def test_ch10_ex1_the_replica_whose_counter_moved_passes_in_any_numeric_type(answer) -> None:
    assert ch10._judge(answer, [2], 1) == 2


def reference(world):
    def which_replica(messages):
        before = world.counts()[0]
        world.chat()
        return [b > a for a, b in zip(before, world.counts()[0], strict=True)].index(True) + 1

    return which_replica


def with_numpy(world):
    def which_replica(messages):
        before = np.array(world.counts()[0])
        world.chat()
        return np.argmax(np.array(world.counts()[0]) - before) + 1  # an np.int64

    return which_replica


def with_a_loop(world):
    def which_replica(messages):
        before = world.counts()[0]
        world.chat()
        for number, (a, b) in enumerate(zip(before, world.counts()[0], strict=True), start=1):
            if b != a:
                return float(number)
        return None

    return which_replica


@pytest.mark.parametrize("right", [reference, with_numpy, with_a_loop],
                         ids=["reference", "numpy", "loop-float"])
def test_ch10_ex1_right_functions_pass(right, world, capsys) -> None:
    result = ch10.exercise1.check(right(world))
    assert result.passed is True and "(both replicas)" in result.message, result.message
    assert world.routed == len(ch10.QUESTIONS)


def fixed(world):
    return lambda messages: (world.chat(), 1)[1]


def index(world):
    return lambda messages: reference(world)(messages) - 1


def larger_total(world):
    def which_replica(messages):
        world.chat()
        served = world.counts()[0]
        return served.index(max(served)) + 1

    return which_replica


def direct(world):
    return lambda messages: (world.chat(through_router=False), 1)[1]


def one_per_replica(world):
    return lambda messages: (world.chat(), world.chat(), 1)[2]


def never_asks(world):
    return lambda messages: 1


def flags(world):
    def which_replica(messages):
        before = world.counts()[0]
        world.chat()
        return [b > a for a, b in zip(before, world.counts()[0], strict=True)]

    return which_replica


@pytest.mark.parametrize(("wrong", "message"), [
    (fixed, "your function said 1 every time, while the counters show that replicas "
            "[1, 2, 1, 2] answered"),
    (index, "numbers the replicas 1 and 2"),
    (larger_total, "the larger total says which replica served more so far"),
    (direct, "without going through the router"),
    (one_per_replica, "not one per replica"),
    (never_asks, "no replica finished a request"),
    (flags, "return one number"),
], ids=["fixed", "index", "larger-total", "direct", "one-per-replica", "never-asks", "flags"])
def test_ch10_ex1_wrong_functions_fail(wrong, message, world, capsys) -> None:
    result = ch10.exercise1.check(wrong(world))
    assert result.passed is False and message in result.message, result.message


def endless(*args):
    while True:
        pass


def blocking(*args):
    threading.Event().wait()


@pytest.mark.parametrize("answer", [endless, blocking], ids=["loop", "blocking"])
def test_ch10_ex1_a_hanging_function_gets_a_verdict(answer, world, capsys) -> None:
    with limits.scaled(0.02):
        result = ch10.exercise1.check(answer)
    assert result.passed is False and "did not return within 1.2 s" in result.message


def test_ch10_ex1_without_replicas_the_check_says_so(local, capsys) -> None:
    result = ch10.exercise1.check(lambda messages: 1)
    assert result.passed is False and "could not" in result.message
    assert "both replicas and the router run" in result.message


# Chapter 10, exercise 2: what the client saw, against what the router counted ----------------

REPLICA_2 = "http://127.0.0.1:8011"


def router(*, retries=0, processed=(3, 3), failures=3):
    """A router's metrics: its retries, the requests it passed to each replica, the failures
    it recorded at replica 2."""
    samples = [("vllm_router_processed_requests_total", {"worker": "http://127.0.0.1:8001"},
                float(processed[0])),
               ("vllm_router_processed_requests_total", {"worker": REPLICA_2},
                float(processed[1])),
               ("vllm_router_cb_outcomes_total", {"worker": "http://127.0.0.1:8001",
                                                  "outcome": "success"}, float(processed[0]))]
    if failures:
        samples.append(("vllm_router_cb_outcomes_total",
                        {"worker": REPLICA_2, "outcome": "failure"}, float(failures)))
    if retries:
        samples.append(("vllm_router_retries_total", {"route": "/v1/completions"},
                        float(retries)))
    return samples


@pytest.fixture
def metrics(local, monkeypatch):
    """Set the router's metrics (and whether the replicas answer) the checker reads."""
    state = {"samples": router(), "alive": [True, True]}
    monkeypatch.setattr(ch10, "_router_samples", lambda: state["samples"])
    monkeypatch.setattr(ch10, "_alive",
                        lambda root: state["alive"][roots().index(root)])
    return state


HALF = ["ok", "InternalServerError"] * 3


@pytest.mark.parametrize("seen", [
    HALF,
    tuple(outcome.upper() if outcome == "ok" else outcome for outcome in HALF),
    (outcome for outcome in ["ok ", "HTTPError"] * 3),
    np.array(HALF),
], ids=["list", "tuple-OK", "generator-requests", "numpy"])
def test_ch10_ex2_what_the_router_counted_passes(seen, metrics, capsys) -> None:
    result = ch10.exercise2.check(seen)
    assert result.passed is True and "3 of 6 requests failed" in result.message, result.message


@pytest.mark.parametrize(("seen", "samples", "message"), [
    ("ok ok ok", router(), "expected the list of six outcomes"),
    (["ok", "InternalServerError"], router(), "has 2 outcomes"),
    ([200, 500] * 3, router(), "expected \"ok\" or the error's class name"),
    (["ok"] * 6, router(failures=0), "no replica was dead"),
    (["ok"] * 6, router(), "before killing the replica"),
    (["APIConnectionError"] * 6, router(), "could not reach the router"),
    (HALF, router(retries=3, failures=0), "runs with retries on"),
    (HALF, router(processed=(0, 0), failures=0), "passed on only 0 request(s)"),
    (HALF, router(failures=0), "recorded no failed request"),
    (HALF, router(failures=1), "recorded 1 since it started"),
    (["InternalServerError"] * 6, router(failures=6), "was replica 1 dead too?"),
], ids=["text", "two", "status-codes", "none-dead", "killed-after", "no-router", "retries",
        "typed-in-nothing-sent", "typed-in-no-failures", "fewer-failures", "all-failed"])
def test_ch10_ex2_known_mistakes(seen, samples, message, metrics, capsys) -> None:
    metrics["samples"] = samples
    result = ch10.exercise2.check(seen)
    assert result.passed is False and message in result.message, result.message
    assert message in capsys.readouterr().out


def test_ch10_ex2_right_outcomes_pass_with_replica_2_left_dead(metrics, capsys) -> None:
    """Nothing after the exercise uses replica 2 (the chapter's last cell stops it)."""
    metrics["alive"] = [True, False]
    result = ch10.exercise2.check(HALF)
    assert result.passed is True and "3 of 6 requests failed" in result.message, result.message


def test_ch10_ex2_without_a_router_the_check_says_so(local, capsys) -> None:
    result = ch10.exercise2.check(HALF)
    assert result.passed is False and "is the router running?" in result.message


class EndlessOutcomes:
    """A list-like answer whose iteration never ends."""

    def __iter__(self):
        while True:
            yield "ok"


def test_ch10_ex2_an_answer_that_never_ends_gets_a_verdict(metrics, capsys) -> None:
    with limits.scaled(0.005):
        result = ch10.exercise2.check(EndlessOutcomes())
    assert result.passed is False and "did not finish within 1.5 s" in result.message


def test_ch10_the_second_replica_is_ten_ports_up(monkeypatch) -> None:
    monkeypatch.setenv(KINDS["openai"].port_variable, "8101")
    assert roots() == ["http://127.0.0.1:8101", "http://127.0.0.1:8111"]


@pytest.mark.parametrize("exercise", [ch10.exercise1, ch10.exercise2])
def test_ch10_in_a_workshop_room_the_checkers_do_not_judge(exercise, monkeypatch) -> None:
    monkeypatch.setenv("VLLM_ROUTER_URL", "http://room.example:8002")
    result = exercise.check(["ok"] * 6 if exercise is ch10.exercise2 else lambda m: 1)
    assert result.passed is None
    assert "Not checked here" in result.text and "workshop" in result.message


@pytest.mark.parametrize("index, name", [(0, "def which_replica"), (1, "seen = []")])
def test_solution_is_the_notebooks_hidden_cell(index, name, capsys) -> None:
    code = ch10.chapter.exercises[index].solution()
    assert name in code and "reference=True" in code and not code.startswith("#@title")
