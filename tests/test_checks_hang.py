"""No check can hang a notebook: every exercise of chapters 01-11 gets an endless loop and a
blocking call as its answer, and each check gives a verdict within its limits.

A function answer is called by the checker through ``call``: past its limit the learner's
code is stopped and the verdict says so. An answer that is a value cannot loop by itself; a
hostile one can (a dict whose every method loops), and the whole check's own limit stops it.
The limits are shortened (``limits.scaled``) so that the 26 exercises take seconds each. The
servers are the session's, so that a checker that first asks its server gets that far.
"""

from __future__ import annotations

import importlib
import threading
import time
from pathlib import Path

import pytest

from helpers.checks import limits

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(path.name[:2] for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
                  if path.name[:2] != "00")
EXERCISES = [(number, exercise.number) for number in CHAPTERS for exercise in
             importlib.import_module(f"helpers.checks.ch{number}").chapter.exercises]
SCALE = 0.02  # 60 s per call of the learner's code -> 1.2 s; 300 s per check -> 6 s


#: Where a checker reads the answer's parameters before calling it, the hanging answers take
#: the same ones as the reference solution (anything else is refused before any call).
SIGNATURES = {
    "04.1": "(prompt, url=None, **fields)",
}


def _hanging(key: str, body: str):
    """A function with the exercise's signature (default ``*args, **kwargs``) running ``body``."""
    scope = {"threading": threading}
    exec(f"def answer{SIGNATURES.get(key, '(*args, **kwargs)')}:\n    {body}", scope)
    return scope["answer"]


class EndlessDict(dict):
    """A value answer whose every method loops."""

    def _loop(self, *args, **kwargs):
        while True:
            pass

    __getitem__ = __contains__ = __iter__ = __len__ = __eq__ = __repr__ = __str__ = _loop
    get = keys = items = values = copy = _loop


def _answers(key: str, exercise) -> dict:
    if exercise.function:
        return {"loop": _hanging(key, "while True: pass"),
                "block": _hanging(key, "threading.Event().wait()")}
    return {"endless-dict": EndlessDict()}


def test_every_exercise_is_listed() -> None:
    assert len(EXERCISES) >= 26 and {number for number, _ in EXERCISES} == set(CHAPTERS)


@pytest.mark.parametrize("number, index", EXERCISES, ids=[f"{c}.{e}" for c, e in EXERCISES])
def test_no_check_hangs(number, index, legacy_server, openai_server, capsys) -> None:
    exercise = importlib.import_module(f"helpers.checks.ch{number}").chapter.exercises[index - 1]
    for name, answer in _answers(f"{number}.{index}", exercise).items():
        begun = time.monotonic()
        with limits.scaled(SCALE):
            result = exercise.check(answer)
        took = time.monotonic() - begun
        assert result.passed is not True, (name, result.message)
        # Within the whole check's limit and the settling wait, with room for a busy machine.
        assert took < exercise.limit * SCALE + 90, (name, took)
        if exercise.function:
            assert result.passed is False, (name, result.message)
            assert "did not return within" in result.message or (
                "did not finish within" in result.message), (name, result.message)
