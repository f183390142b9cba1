"""The checks' time limits and value readers (helpers.checks.limits, helpers.checks.values): a
hang becomes a verdict; a right answer in another type is read as the same value."""

from __future__ import annotations

import decimal
import fractions
import threading
import time

import numpy as np
import pytest

from helpers.checks import limits, values
from helpers.checks.framework import Chapter, Wrong, call

# Limits -------------------------------------------------------------------------------------


def endless() -> None:
    while True:
        pass


def swallowing() -> None:
    """A loop that catches every Exception, as a retry loop does: the limit is not one."""
    while True:
        try:
            time.sleep(0.01)
        except Exception:  # noqa: BLE001 (the point of the test)
            pass


@pytest.mark.parametrize("function", [endless, swallowing, lambda: time.sleep(3600),
                                      lambda: threading.Event().wait()],
                         ids=["loop", "except-Exception", "sleep", "blocking-wait"])
def test_code_past_its_limit_is_stopped_and_said(function) -> None:
    begun = time.monotonic()
    with pytest.raises(limits.TimedOut, match="did not return within 0.3 s"):
        limits.run_limited(function, (), {}, 0.3)
    assert time.monotonic() - begun < 5


def test_a_value_or_an_exception_comes_back_as_it_is() -> None:
    assert limits.run_limited(divmod, (7, 2), {}, 5) == (3, 1)
    with pytest.raises(ZeroDivisionError):
        limits.run_limited(divmod, (7, 0), {}, 5)


def test_nested_limits_each_report_their_own() -> None:
    inner = lambda: limits.run_limited(time.sleep, (3600,), {}, 0.2)  # noqa: E731
    with pytest.raises(limits.TimedOut, match="0.2 s"):
        limits.run_limited(inner, (), {}, 5)
    outer_first = lambda: limits.run_limited(time.sleep, (3600,), {}, 5)  # noqa: E731
    with pytest.raises(limits.TimedOut, match="0.2 s"):
        limits.run_limited(outer_first, (), {}, 0.2)
    assert limits.run_limited(lambda: limits.run_limited(abs, (-3,), {}, 1), (), {}, 1) == 3


def test_in_a_thread_the_caller_gets_its_verdict_at_once() -> None:
    seen = []
    worker = threading.Thread(target=lambda: seen.append(
        _outcome(lambda: limits.run_limited(endless, (), {}, 0.3))))
    worker.start()
    worker.join(10)
    assert seen == ["TimedOut"]


def _outcome(function) -> str:
    try:
        function()
    except limits.TimedOut:
        return "TimedOut"
    return "returned"


def test_scaled_shortens_every_limit() -> None:
    with limits.scaled(0.01), pytest.raises(limits.TimedOut, match="0.5 s"):
        limits.run_limited(endless, (), {}, 50)


def test_call_turns_a_hang_into_a_wrong_that_names_it() -> None:
    with pytest.raises(Wrong, match="calling answer, your code did not return within 0.2 s"):
        call(endless, doing="calling answer", limit=0.2)


def test_a_whole_check_past_its_limit_is_a_verdict_not_a_frozen_notebook(capsys) -> None:
    book = Chapter("99", "02_streaming.ipynb")

    @book.exercise("Slow", hints=[], limit=0.3)
    def slow(answer):
        time.sleep(3600)

    result = slow.check(1)
    assert result.passed is False and "did not finish within 0.3 s" in result.message


# Values --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [10, 10.0, np.int64(10), np.float32(10), fractions.Fraction(10),
                                   decimal.Decimal("10"), np.array(10)])
def test_a_whole_number_of_any_type_is_read(value) -> None:
    assert values.whole(value, "a count") == 10


@pytest.mark.parametrize("value, fragment", [
    (True, "True; expected a count"), ("10", "'10'; expected a count"),
    (None, "None; expected a count"), (10.5, "not a whole number"),
    (float("nan"), "NaN"), (1j, "complex"), ([10], "[10]; expected a count"),
])
def test_what_is_not_a_number_is_named(value, fragment) -> None:
    with pytest.raises(Wrong, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        values.whole(value, "a count", doing="")


@pytest.mark.parametrize("value", [[1, 2], (1, 2), map(int, "12"), (x for x in (1, 2)),
                                   np.array([1, 2])])
def test_any_sequence_is_a_list(value) -> None:
    assert [int(x) for x in values.as_list(value)] == [1, 2]


@pytest.mark.parametrize("value", ["12", {"a": 1}, 12, None])
def test_a_text_a_dict_or_a_single_value_is_not_a_list(value) -> None:
    with pytest.raises(Wrong, match="expected a list"):
        values.as_list(value)


def test_the_first_known_mistake_that_holds_is_said() -> None:
    seen = []
    table = [(lambda: seen.append(1) or False, "first"), (lambda: True, lambda: "second"),
             (lambda: seen.append(3) or True, "third")]
    with pytest.raises(Wrong, match="^second$"):
        values.first_mistake(table)
    assert seen == [1]  # conditions after the one that held are not evaluated
    values.first_mistake([(lambda: False, "never")])


def test_a_checkers_own_verdict_inside_call_stays_a_verdict() -> None:
    """A checker that reads the learner's values under the limit may judge them there: its
    Wrong is not reported as 'your code raised Wrong'."""
    def read(value):
        raise Wrong(f"{value} is not a count.")

    with pytest.raises(Wrong, match="^x is not a count.$"):
        call(read, "x", doing="reading your answer", limit=5)
