"""The exercise checkers of chapter 07 (helpers.checks.ch07): the playground.

Both ways, for each exercise: correct answers written another way (a dict, NumPy numbers,
another seed; a thread pool, a timer, a stop from the reading loop, the OpenAI API) pass;
wrong answers of each class fail with a message naming the mistake; an answer that loops or
blocks becomes a verdict naming the time limit. Settings that cannot repeat (no seed, greedy
with n=2, beam search) and answers that hang are judged before the checker reaches a server
(``no_servers`` points both at ports where nothing listens); the rest need the session's real
servers. The reference solutions pass here and in the notebook, under nbval.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from helpers.checks import ch07, limits
from helpers.course.ports import free_port
from helpers.playground import Choices

SEEDED = Choices(prompt="The ocean is", n=2, max_tokens=8, stream=False, seed=7)


@pytest.fixture
def no_servers(monkeypatch) -> None:
    """The learner's servers are local ports where nothing listens: a check that needs one
    says so, and nothing here reaches the session's real servers."""
    from helpers.course.servers import KINDS

    for kind in ("legacy", "openai"):
        monkeypatch.delenv(KINDS[kind].remote_variable, raising=False)
        monkeypatch.setenv(KINDS[kind].port_variable, str(free_port()))


# Chapter 07, exercise 1: the same candidates on both APIs ------------------------------------

@pytest.mark.parametrize("answer, message", [
    ([" teeming with life, from towering cities to", " made of ice.\n- Our Galaxy"],
     "expected your settings as a Choices"),
    (Choices(n=3, seed=7), "n=3; the exercise compares two candidates"),
    (Choices(n=2, seed=7, beam_search=True), "beam search does not sample"),
    (Choices(n=2, seed=7, temperature=0), "temperature=0 with n=2: vLLM refuses it"),
    (Choices(n=2), "seed=None: without a seed every run samples anew"),
    (Choices(n=2, seed="7"), "expected a seed (a whole number, or None)"),
    (Choices(n=2, seed=7.5), "not a whole number; expected a seed"),
    ({"n": 2, "seed": 7, "temprature": 0.8}, "temprature, which a Choices does not have"),
    (Choices(n=2, seed=7, top_p=0), "a top_p in (0, 1]"),
], ids=["saved-texts", "n-3", "beam-search", "greedy", "no-seed", "seed-text", "seed-fraction",
        "misspelt-field", "top-p-0"])
def test_ch07_ex1_known_mistakes(no_servers, answer, message, capsys) -> None:
    result = ch07.exercise1.check(answer)
    assert result.passed is False and message in result.message, result.message


@pytest.mark.parametrize("answer", [
    SEEDED,
    {"prompt": "The ocean is", "n": np.int64(2), "max_tokens": np.int32(8), "seed": np.int64(7)},
    Choices(prompt="Once upon a time", n=2.0, max_tokens=12, temperature=Fraction(9, 10),
            top_p=np.float64(0.95), seed=12345, stream=True, api="openai"),
    Choices(n=2, seed=0, max_tokens=100),  # seed 0 is a seed; compared on the first 16 tokens
], ids=["reference", "dict-numpy", "fraction-stream-openai", "seed-0-long"])
def test_ch07_ex1_seeded_settings_of_any_form_pass(legacy_server, openai_server, answer,
                                                   capsys) -> None:
    result = ch07.exercise1.check(answer)
    assert result, result.message
    assert "the check's own" in result.message and "without the seed they differ" in \
        result.message


def test_ch07_ex1_greedy_in_disguise_fails(legacy_server, openai_server, capsys) -> None:
    """top_p=0.001 keeps only the likeliest token: the seed changes nothing. (A temperature
    of 0.001 still samples here: its candidates differ without a seed, and it passes.)"""
    result = ch07.exercise1.check(Choices(n=2, seed=7, top_p=0.001))
    assert result.passed is False and "greedy decoding" in result.message, result.message


class LoopingSettings(dict):
    def __iter__(self):
        while True:
            pass


class BlockingSettings(dict):
    def __iter__(self):
        threading.Event().wait()


@pytest.mark.parametrize("answer", [LoopingSettings(n=2, seed=7),
                                    BlockingSettings(n=2, seed=7)], ids=["loop", "block"])
def test_ch07_ex1_settings_that_hang_get_a_verdict(no_servers, answer, capsys) -> None:
    with limits.scaled(0.02):
        result = ch07.exercise1.check(answer)
    assert result.passed is False and "did not return within 0.2 s" in result.message, \
        result.message


# Chapter 07, exercise 2: stop a long request --------------------------------------------------

LONG = Choices(max_tokens=2000, stream=True)


def in_a_thread(playground, choices=LONG, stop_first=False, stop=True):
    seen = []
    worker = threading.Thread(target=lambda: seen.extend(playground.run(choices)))
    if stop_first:
        playground.stop()  # too early: run() has not started
    worker.start()
    while len(seen) < 3 and worker.is_alive():
        time.sleep(0.05)
    if stop:
        playground.stop()
    worker.join(10)
    return seen


def leaves_the_loop(playground):
    seen = []
    for texts in playground.run(LONG):
        seen.append(texts)
        if len(seen) == 3:
            break  # and no playground.stop()
    return seen


def reads_on_after_returning(playground):
    seen = []
    threading.Thread(target=lambda: seen.extend(playground.run(LONG)), daemon=True).start()
    while len(seen) < 3:
        time.sleep(0.05)
    return list(seen)  # and no playground.stop(): the thread reads on


def with_a_pool(playground):  # a thread pool, a tuple of tuples returned
    seen, ready = [], threading.Event()

    def read():
        for texts in playground.run(Choices(max_tokens=1500, stream=True)):
            seen.append(tuple(texts))
            if len(seen) >= 2:
                ready.set()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(read)
        ready.wait(30)
        playground.stop()
        future.result(10)
    return tuple(seen)


def stop_in_the_loop(playground):  # no thread: stop from the loop that reads, a deque back
    seen = collections.deque()
    for texts in playground.run(LONG):
        seen.append(texts)
        if len(seen) == 4:
            playground.stop()
    return seen


def with_a_timer_on_openai(playground):  # the OpenAI API; a timer thread stops it
    seen, first = [], threading.Event()

    def read():
        for texts in playground.run(Choices(api="openai", max_tokens=2000, stream=True)):
            seen.append(texts)
            first.set()

    worker = threading.Thread(target=read)
    worker.start()
    first.wait(30)
    timer = threading.Timer(0.3, playground.stop)
    timer.start()
    timer.join()
    worker.join(10)
    return seen


@pytest.mark.parametrize("answer", [in_a_thread, with_a_pool, stop_in_the_loop,
                                    with_a_timer_on_openai],
                         ids=["reference", "thread-pool-tuples", "stop-in-loop", "timer-openai"])
def test_ch07_ex2_stopping_passes(legacy_server, openai_server, answer, capsys) -> None:
    result = ch07.exercise2.check(answer)
    assert result and "showed no request running" in result.message, result.message


def test_ch07_ex2_a_function_that_never_runs_the_playground(no_servers, capsys) -> None:
    result = ch07.exercise2.check(lambda playground: [["saved", "texts"]])
    assert result.passed is False and "never called playground.run" in result.message


@pytest.mark.parametrize("answer, message", [
    (lambda playground: in_a_thread(playground, stop_first=True), "before the stream had started"),
    (leaves_the_loop, "leaving your loop closed the generator"),
    (reads_on_after_returning, "returned without calling playground.stop()"),
    (lambda playground: in_a_thread(playground, Choices(max_tokens=16)), "max_tokens=16"),
    (lambda playground: in_a_thread(playground)[0], "each update is a list of texts"),
    (lambda playground: in_a_thread(playground, Choices(max_tokens=2000, stream=False)),
     "stream=False"),
    (lambda playground: (in_a_thread(playground),
                         [[" teeming with life, from towering cities to"]])[1],
     "not ones the stream yielded"),
    (lambda playground: (in_a_thread(playground), [])[1], "returned an empty list"),
], ids=["stop-too-early", "break-no-stop", "thread-reads-on", "short-stream",
        "returns-one-update", "not-streamed", "saved-updates", "empty"])
def test_ch07_ex2_known_mistakes_on_a_real_stream(legacy_server, answer, message,
                                                  capsys) -> None:
    result = ch07.exercise2.check(answer)
    assert result.passed is False and message in result.message, result.message


def never_stops(playground):
    seen = []
    worker = threading.Thread(target=lambda: seen.extend(playground.run(LONG)))
    worker.start()
    worker.join()  # waits for all 2,000 tokens
    return seen


def test_ch07_ex2_waiting_for_the_whole_stream_is_stopped_and_named(legacy_server,
                                                                    capsys) -> None:
    with limits.scaled(0.1):
        result = ch07.exercise2.check(never_stops)
    assert result.passed is False and "did not return within 2 s" in result.message
    assert "never called playground.stop()" in result.message, result.message


def loops(playground):
    while True:
        pass


def blocks(playground):
    threading.Event().wait()


@pytest.mark.parametrize("answer", [loops, blocks, lambda playground: time.sleep(3600)],
                         ids=["loop", "event-wait", "sleep"])
def test_ch07_ex2_an_answer_that_hangs_gets_a_verdict(no_servers, answer, capsys) -> None:
    with limits.scaled(0.02):
        result = ch07.exercise2.check(answer)
    assert result.passed is False and "did not return within 0.4 s" in result.message, \
        result.message


def test_ch07_ex2_a_stream_false_attempt_does_not_fail_the_next_check(legacy_server,
                                                                      capsys) -> None:
    """The issue's case: an attempt with stream=False, then the reference at once."""
    with limits.scaled(0.15):  # the attempt waits 3 s for updates that never come
        first = ch07.exercise2.check(
            lambda playground: in_a_thread(playground, Choices(max_tokens=2000, stream=False)))
    assert first.passed is False and "stream=False" in first.message, first.message
    second = ch07.exercise2.check(in_a_thread)
    assert second, second.message


def test_ch07_solutions_are_the_notebooks_hidden_cells(capsys) -> None:
    assert "Choices(" in ch07.exercise1.solution()
    assert "def stop_long_request" in ch07.exercise2.solution()
