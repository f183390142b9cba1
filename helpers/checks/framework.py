"""Exercises that check themselves: ``check(answer)``, ``hint()``, ``solution()``, ``progress()``.

Introduced in chapter 02 (its exercises are the first with checkers; chapter 04 follows).

In the style of Kaggle Learn's ``learntools``, with the learner's answer passed explicitly::

    from helpers.checks.ch02 import exercise1, exercise2, progress

    exercise1.check(stream_to_deltas)   # one line: correct, or what is wrong, in your terms
    exercise1.hint()                    # a nudge; call again for a stronger one
    exercise1.solution()                # the reference code
    progress()                          # this chapter's exercises: ✓ / ✗ / not tried

- ``check()`` never raises into the notebook. It shows a one-line verdict (coloured HTML in
  Jupyter and Colab, plain text elsewhere) and returns it as a :class:`Result` (truthy when
  passed). An answer that raises gets a message naming *its* exception and where in the
  learner's code it happened. An answer left as ``...`` (the notebook's stub) is "not tried yet".
- ``solution()`` reads the reference code from the chapter's notebook itself: the hidden cell
  tagged ``solution`` that belongs to the exercise. That cell is the one copy of the
  reference: it runs under nbval and calls ``check(..., reference=True)`` on itself.
- ``progress()`` keeps its state in this Python process only; nothing is sent anywhere.

The checkers of each chapter live in ``helpers.checks.chNN``: a checker is a function of the
answer that returns a success message or raises :class:`Wrong`; it calls the learner's code
through :func:`call`, which turns the learner's exception into :class:`AnswerRaised` and an
answer that does not return into a verdict (:mod:`helpers.checks.limits`). The whole check runs
under its exercise's ``limit`` too. :mod:`helpers.checks.values` reads answers of any numeric or
sequence type; :mod:`helpers.checks.server` is how a check asks the learner's server;
:mod:`helpers.checks.show` displays the verdicts, hints, solutions and progress.
"""

from __future__ import annotations

import html
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from helpers.checks.limits import TimedOut, run_limited
from helpers.checks.show import MARKS, Result, Shown, progress_html, show

__all__ = ["AnswerRaised", "Chapter", "Exercise", "NotHere", "Result", "Shown", "Wrong", "call",
           "describe"]

#: How long one call of the learner's function may take unless its checker says otherwise.
CALL_LIMIT = 60.0
#: How long a whole check may take unless its exercise says otherwise.
CHECK_LIMIT = 300.0
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
_HELPERS = str(Path(__file__).resolve().parents[1])
_NO_ANSWER = object()  # check() called without an answer


class Wrong(Exception):
    """Raised by a checker: the answer is wrong; the message says what, in the learner's terms."""


class NotHere(Exception):
    """Raised by a checker that cannot check in this setting (a workshop room's shared
    servers, say): the message says why; the verdict is neither right nor wrong."""


class AnswerRaised(Exception):
    """The learner's code raised ``error`` while the checker called it (``doing``)."""

    def __init__(self, error: BaseException, doing: str) -> None:
        super().__init__(doing)
        self.error, self.doing = error, doing


def call(function: Callable, *args: Any, doing: str = "", limit: float = CALL_LIMIT,
         **kwargs: Any) -> Any:
    """Call the learner's ``function`` for at most ``limit`` seconds; its exception comes out
    as :class:`AnswerRaised`, a call past the limit as :class:`Wrong` saying so."""
    doing = doing or f"calling {_name(function)}"
    try:
        return run_limited(function, args, kwargs, limit)
    except (Wrong, NotHere):
        raise  # a checker's own verdict, from code it runs under the limit (reading values)
    except TimedOut as late:
        raise Wrong(f"{doing}, your code did not return within {late.seconds:g} s, so the "
                    "check stopped it: an endless loop, or a call that waits forever (a "
                    "request without a timeout to a server that never answers, a thread "
                    "joined without one)? Every call in this exercise returns in seconds."
                    ) from None
    except Exception as error:  # the learner's, whatever it is: reported, never re-raised
        raise AnswerRaised(error, doing) from error


def describe(value: Any, limit: int = 80) -> str:
    """A short repr for messages: what the checker got."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _name(function: Any) -> str:
    return getattr(function, "__name__", type(function).__name__)


def _learner_location(error: BaseException) -> str:
    """Where in the learner's code ``error`` came from: the innermost frame outside the
    course's helpers and the installed packages, as ' (in NAME, line N of its cell)'."""
    libraries = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        filename = frame.filename or ""
        if filename.startswith(_HELPERS) or any(filename.startswith(p) for p in libraries):
            continue
        found = frame
    if found is None:
        return ""
    where = "its cell" if "ipykernel" in found.filename or found.filename.startswith("<") \
        else Path(found.filename).name
    return f" (in {found.name}, line {found.lineno} of {where})"


def _raised_message(raised: AnswerRaised) -> str:
    error = raised.error
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    shown = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return f"{raised.doing}, your code raised {shown}{_learner_location(error)}."


class Exercise:
    """One exercise: ``check(answer)``, ``hint()``, ``solution()``."""

    def __init__(self, chapter: Chapter, number: int, title: str,
                 checker: Callable[[Any], str], hints: Sequence[str],
                 function: str | None = None, limit: float = CHECK_LIMIT) -> None:
        self.chapter, self.number, self.title = chapter, number, title
        self.function = function  # the name of the function the learner writes, if one
        self.limit = limit  # seconds the whole check may take
        self._checker, self._hints = checker, list(hints)
        self._hints_given = 0
        self.last: Result | None = None  # the learner's last verdict (progress)

    def __repr__(self) -> str:
        return f"<exercise {self.number} of chapter {self.chapter.number}: {self.title}>"

    def check(self, answer: Any = _NO_ANSWER, *, reference: bool = False) -> Result:
        """Check ``answer``; show the verdict in one line and return it. Never raises.

        ``reference=True`` (the hidden solution cells) checks the course's own answer and
        leaves the learner's progress alone.
        """
        result = self._verdict(answer)
        if reference:
            result.exercise = f"Exercise {self.number} (reference solution) — "
        elif result.passed is not None or self.last is None:
            self.last = result
        result.show()
        return result

    def _verdict(self, answer: Any) -> Result:
        prefix = f"Exercise {self.number} — "
        if answer is _NO_ANSWER:
            return Result(None, "pass your answer, as in "
                          f"exercise{self.number}.check(your_function).", prefix)
        if answer is ...:
            return Result(None, "replace `...` with your answer, then run the cell again "
                          f"(exercise{self.number}.hint() helps).", prefix)
        try:
            if self.function and not callable(answer):
                raise Wrong(f"expected your function {self.function}; got {describe(answer)}.")
            if self.chapter.prepare is not None:
                self.chapter.prepare()
            return Result(True, run_limited(self._checker, (answer,), {}, self.limit), prefix)
        except TimedOut as late:
            return Result(False, f"this check did not finish within {late.seconds:g} s, and "
                          "it stopped there. It was not in your function's own calls (each "
                          "has a limit of its own): was your answer slow to read, or is your "
                          "server overloaded? Run the check again; if it keeps happening, "
                          f"compare with exercise{self.number}.solution().", prefix)
        except Wrong as wrong:
            return Result(False, str(wrong), prefix)
        except NotHere as why:
            return Result(None, str(why), prefix, label="Not checked here")
        except AnswerRaised as raised:
            if isinstance(raised.error, NotImplementedError):
                return Result(None, "your answer still raises NotImplementedError: write it, "
                              "then run the cell again.", prefix)
            return Result(False, _raised_message(raised), prefix)
        except Exception as error:  # a bug of the checker: say so, never a traceback
            return Result(False, "the checker itself failed, which is not your fault "
                          f"({type(error).__name__}: {error}); compare with "
                          f"exercise{self.number}.solution().", prefix)

    def hint(self) -> str:
        """Show the next hint: the first is a nudge, each later one says more."""
        if not self._hints:
            text = "No hint for this one: see the chapter's text."
        else:
            index = min(self._hints_given, len(self._hints) - 1)
            self._hints_given += 1
            last = index == len(self._hints) - 1
            text = (f"Hint {index + 1} of {len(self._hints)}: {self._hints[index]}"
                    + (f" (That is the last hint; exercise{self.number}.solution() shows ours.)"
                       if last else f" (Call exercise{self.number}.hint() again for more.)"))
        show(f"💡 {text}", f'<div style="color:#0969da;font-family:sans-serif">'
              f"💡 {html.escape(text)}</div>")
        return Shown(text)

    def solution(self) -> str:
        """Show the reference code: read from the chapter's hidden solution cell."""
        code = self.chapter.solution_code(self.number)
        show(code, code=code)
        return Shown(code)


class Chapter:
    """A chapter's exercises, its notebook (where the solutions live) and the progress view."""

    def __init__(self, number: str, notebook: str, *,
                 prepare: Callable[[], None] | None = None) -> None:
        """``prepare`` runs before each check (say, waiting out an earlier attempt's requests:
        :func:`helpers.checks.server.settle`); it may raise :class:`NotHere`."""
        self.number, self.notebook, self.prepare = number, notebook, prepare
        self.exercises: list[Exercise] = []

    def exercise(self, title: str, hints: Sequence[str], *, function: str | None = None,
                 limit: float = CHECK_LIMIT) -> Callable[[Callable], Exercise]:
        """Decorator: the checker function below becomes exercise N (in order of definition).
        ``function``: the answer is a function of that name (anything else is refused);
        ``limit``: seconds the whole check may take."""

        def register(checker: Callable[[Any], str]) -> Exercise:
            exercise = Exercise(self, len(self.exercises) + 1, title, checker, hints, function,
                                limit)
            self.exercises.append(exercise)
            return exercise

        return register

    def solution_code(self, number: int) -> str:
        """The code of the ``number``-th cell tagged ``solution`` in the chapter's notebook."""
        path = NOTEBOOKS / self.notebook
        try:
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError) as error:
            return f"# The solution is in {self.notebook}, next to the exercise ({error})."
        solutions = [c for c in cells
                     if c["cell_type"] == "code" and "solution" in c["metadata"].get("tags", [])]
        if number > len(solutions):
            return f"# The solution is in {self.notebook}, in the hidden cell after the exercise."
        source = "".join(solutions[number - 1]["source"])
        return "\n".join(line for line in source.splitlines()
                         if not line.startswith("#@title")).strip() + "\n"

    def progress(self) -> str:
        """Show and return each exercise with ✓ (passed), ✗ (last try failed) or · (not tried)."""
        rows = []
        for exercise in self.exercises:
            state = exercise.last.passed if exercise.last is not None else None
            note = {True: "done", False: "last try failed", None: "not tried"}[state]
            if exercise.last is not None and exercise.last.label:
                note = exercise.last.label.lower()  # "not checked here": no verdict possible
            rows.append((state, f"{MARKS[state]} {exercise.number}. {exercise.title} — {note}"))
        done = sum(state is True for state, _ in rows)
        head = f"Chapter {self.number}: {done} of {len(rows)} exercises done"
        text = "\n".join([head, *("  " + row for _, row in rows)])
        show(text, progress_html(head, rows))
        return Shown(text)
