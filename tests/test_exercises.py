"""The exercise framework (helpers.checks.framework); chapters 02 and 04 have files of their own.

Every known mistake, written as a small wrong answer, gets its own message; an answer that
raises gets a message naming its exception; check() never raises; hint() progresses;
progress() shows ✓ / ✗ / not tried; outside Jupyter the verdict is one plain line. The
answers here need no server: they are wrong before the checker would reach one (the refused
connection comes first in chapter 04), or they produce their pieces themselves. The reference
solutions pass against the real server in the notebooks, under nbval; one server test below
shows the retry checker on a real 400.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.checks import ch02, ch04
from helpers.checks.framework import Chapter, Wrong
from tests.support import verdict

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def chapter() -> Chapter:
    """A small chapter of its own, so that progress starts empty."""
    book = Chapter("99", "02_streaming.ipynb")

    @book.exercise("Double it", hints=["Multiply.", "Return x * 2."])
    def double(function):
        value = function(21) if callable(function) else None
        if value != 42:
            raise Wrong(f"double(21) gave {value!r}; expected 42.")
        return "42."

    return book


# The framework ------------------------------------------------------------------------------

def test_a_stub_is_not_tried_and_passing_and_failing_show_in_progress(chapter, capsys) -> None:
    exercise = chapter.exercises[0]
    result, out = verdict(exercise, ..., capsys)
    assert result.passed is None and not result and "Not tried yet" in out
    assert "pass your answer, as in exercise1.check(" in exercise.check().message
    assert "· 1. Double it — not tried" in chapter.progress()
    capsys.readouterr()
    result, out = verdict(exercise, lambda x: x + 2, capsys)
    assert result.passed is False and not result
    assert out.strip() == "✗ Exercise 1 — Not yet: double(21) gave 23; expected 42."
    assert "✗ 1. Double it — last try failed" in chapter.progress()
    exercise.check(...)  # running the stub again keeps the last verdict
    assert "✗ 1. Double it" in chapter.progress()
    capsys.readouterr()
    result, out = verdict(exercise, lambda x: x * 2, capsys)
    assert result and result.passed and out.startswith("✓ Exercise 1 — Correct")
    text = chapter.progress()
    assert "1 of 1 exercises done" in text and "✓ 1. Double it — done" in text


def test_a_reference_check_leaves_progress_alone(chapter, capsys) -> None:
    result = chapter.exercises[0].check(lambda x: x * 2, reference=True)
    assert result and "reference solution" in capsys.readouterr().out
    assert "not tried" in chapter.progress()


def test_an_answer_that_raises_is_named_with_where_it_raised(capsys) -> None:
    def decode_chunks(chunks):
        return {}["missing key"]

    result, out = verdict(ch02.exercise2, decode_chunks, capsys)
    assert result.passed is False and "Traceback" not in out
    assert "your code raised KeyError: 'missing key'" in result.message
    assert "(in decode_chunks, line" in result.message


def test_check_never_raises_even_when_the_checker_fails(capsys) -> None:
    book = Chapter("99", "02_streaming.ipynb")

    @book.exercise("Broken", hints=[])
    def broken(answer):
        return 1 / 0  # a bug of the checker, not of the learner

    result = broken.check(lambda: None)
    assert result.passed is False and "the checker itself failed" in result.message
    assert "ZeroDivisionError" in result.message and "not your fault" in result.message
    assert ch04.exercise2.check(object()).passed is False  # not a function at all


def test_hints_progress_from_a_nudge_to_the_last(chapter, capsys) -> None:
    exercise = chapter.exercises[0]
    first, second, third = exercise.hint(), exercise.hint(), exercise.hint()
    assert first.startswith("Hint 1 of 2: Multiply.") and "hint() again" in first
    assert second.startswith("Hint 2 of 2: Return x * 2.") and "solution()" in second
    assert third == second
    assert capsys.readouterr().out.count("💡") == 3


def test_plain_text_outside_jupyter_and_html_inside(capsys) -> None:
    result = ch02.exercise2.check(...)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "<" not in out  # one plain line
    assert 'style="color:' in result._repr_html_()
    result._ipython_display_()  # shown already by check(): not again as the cell's value
    assert capsys.readouterr().out == ""


def test_solution_is_the_notebooks_hidden_cell(capsys) -> None:
    """One copy: solution() shows the code of the chapter's hidden solution cell."""
    cells = json.loads((ROOT / "notebooks" / "02_streaming.ipynb").read_text())["cells"]
    hidden = ["".join(c["source"]) for c in cells if "solution" in c["metadata"].get("tags", [])]
    for number, source in enumerate(hidden, 1):
        code = getattr(ch02, f"exercise{number}").solution()
        assert code.strip() in source and not code.startswith("#@title")
    assert "def stream_to_deltas" in ch02.exercise1.solution()
    assert "def generate_or_explain" in ch04.exercise1.solution()
    assert "@retry" in ch04.exercise2.solution()
