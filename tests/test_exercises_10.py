"""Chapter 10's checkers (helpers.checks.ch10): each known mistake gets its own message.

Exercise 1's verdict on one call (`_judge`: what the function returned against the counters
that moved) is pure and tested here; the whole checker runs against two real replicas and a
real router in the chapter, under nbval. Exercise 2's answer is what the learner saw, so its
mistakes are lists; in a workshop room both checkers say they cannot judge there.
"""

from __future__ import annotations

import pytest

from helpers.checks import ch10
from helpers.checks.framework import Wrong


@pytest.mark.parametrize(("answer", "moved", "routed", "message"), [
    ([False, True], [2], 1, "return one number"),
    ("replica 2", [2], 1, "expected the number of the replica"),
    (True, [1], 1, "expected the number of the replica"),
    (1, [], 1, "no replica finished a request"),
    (1, [1, 2], 2, "send one chat completion, not one per replica"),
    (1, [1], 0, "without going through the router"),
    (1, [2], 1, "numbers the replicas 1 and 2"),
    (2, [1], 1, "not which one served this request"),
])
def test_ch10_ex1_known_mistakes(answer, moved, routed, message) -> None:
    with pytest.raises(Wrong, match=message):
        ch10._judge(answer, moved, routed)


def test_ch10_ex1_the_replica_whose_counter_moved_passes() -> None:
    ch10._judge(2, [2], 1)  # no Wrong raised
    ch10._judge(1, [1], 1)


@pytest.mark.parametrize(("seen", "message"), [
    ("ok ok ok", "expected the list of six outcomes"),
    (["ok", "InternalServerError"], "has 2 outcomes"),
    (["ok"] * 6, "the router still retried"),
    (["APIConnectionError"] * 6, "could not reach the router"),
    (["InternalServerError"] * 6, "Did you kill replica 1"),
])
def test_ch10_ex2_known_mistakes(seen, message, capsys) -> None:
    result = ch10.exercise2.check(seen)
    assert result.passed is False
    assert message in result.message
    assert message in capsys.readouterr().out


def test_ch10_ex2_right_outcomes_with_replica_2_still_dead_say_to_put_it_back(
        monkeypatch, capsys) -> None:
    monkeypatch.setenv("VLLM_COURSE_OPENAI_PORT", "1")  # replica 2 at port 11: nothing there
    result = ch10.exercise2.check(["ok", "InternalServerError"] * 3)
    assert result.passed is False and "replica 2 is still dead" in result.message


@pytest.mark.parametrize("exercise", [ch10.exercise1, ch10.exercise2])
def test_ch10_in_a_workshop_room_the_checkers_do_not_judge(exercise, monkeypatch) -> None:
    monkeypatch.setenv("VLLM_ROUTER_URL", "http://room.example:8002")
    result = exercise.check(["ok"] * 6 if exercise is ch10.exercise2 else lambda m: 1)
    assert result.passed is None
    assert "Not checked here" in result.text and "workshop" in result.message
