"""The exercise checkers: ``check(answer)``, ``hint()``, ``solution()``, ``progress()``.

- :mod:`~helpers.checks.framework`: an exercise, its verdict, its hints and solution, a chapter's
  progress; the learner's code called under a time limit.
- :mod:`~helpers.checks.show`: how a verdict, a hint, a solution and the progress are shown
  (HTML in a notebook, plain text elsewhere).
- :mod:`~helpers.checks.limits`: the time limits (a hang becomes a verdict).
- :mod:`~helpers.checks.values`: answers read as values (any numeric type, any sequence) and a
  chapter's known mistakes as ``(condition, message)`` tables.
- :mod:`~helpers.checks.server`: how a check asks the learner's server.
- :mod:`~helpers.checks.watch`: the learner's requests watched (what its code sent through the
  openai client, ``requests`` or httpx, and what its server answered).
- ``chNN``: one module a chapter (``from helpers.checks.ch02 import exercise1, progress``), or a
  package where the chapter's checks have a harness of their own: the exercises in its
  ``__init__`` (imported the same way), the harness beside them (``ch04/scripted.py``: the
  check's scripted server). No chapter's module imports another's.

Importing this package does nothing.
"""
