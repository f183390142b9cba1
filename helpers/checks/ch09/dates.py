"""A learner's grammar for dates tried on dates of the check's own, and the texts sampled under
it judged: chapter 09's exercise 3 (a grammar for dates).

Used by :mod:`helpers.checks.ch09`: :func:`acceptor` tells whether a grammar allows a text, with
xgrammar (vLLM's grammar library) where it is installed, so that the check tries it on
:data:`DATES_IN` (dates it must allow) and :data:`DATES_OUT` (texts it must refuse);
:func:`refused` says why the server refused a grammar; :func:`judge_date` judges a text sampled
under it.
"""

from __future__ import annotations

import re
from typing import Any

from helpers.checks import server
from helpers.checks.framework import Wrong
from helpers.checks.values import first_mistake

__all__ = ["DATES_IN", "DATES_OUT", "acceptor", "judge_date", "refused"]

DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
#: Texts a grammar for dates must allow, and texts it must not (the check's own).
DATES_IN = ["1989-11-09", "2024-02-29", "2031-12-31", "1066-10-14"]
DATES_OUT = {"2024-13-01": "month 13", "2024-00-10": "month 00", "2024-05-32": "day 32",
             "2024-05-00": "day 00", "2024-5-17": "a one-digit month",
             "2024-05-17 was a Friday": "text after the date", "20240517": "no dashes"}


def acceptor(grammar: str) -> Any:
    """A function telling whether ``grammar`` allows a text, with xgrammar (vLLM's grammar
    library), or None where it is not installed or cannot read the grammar."""
    try:
        import xgrammar
        from xgrammar.testing import _is_grammar_accept_string
    except ImportError:
        return None
    try:
        compiled = xgrammar.Grammar.from_ebnf(grammar)
    except Exception:  # noqa: BLE001 (its parser's errors; the server's 400 says more)
        return None
    return lambda text: _is_grammar_accept_string(compiled, text)


def refused(grammar: str, answer: server.Answer) -> None:
    message = answer.error.splitlines()[0][:160] if answer.error else answer.text[:160]
    first_mistake([
        (lambda: "::=" not in grammar,
         f"your server refused the grammar ({answer.status}: {message}). It looks like a "
         "regular expression: a grammar is written as rules, root ::= ..., with [0-9] for a "
         "digit (a regex would go in {'regex': ...})."),
        (lambda: not re.search(r"^\s*root\s*::=", grammar, re.M),
         f"your server refused the grammar ({answer.status}: {message}): the grammar needs "
         "a rule named root, where the text starts."),
    ])
    raise Wrong(f"your server refused the grammar ({answer.status}: {message}).")


def judge_date(text: str, finish_reason: str) -> str:
    if finish_reason == "length":
        raise Wrong(f"a sampled answer ran to max_tokens: {text!r}. Your grammar lets the "
                    "text go on (a `+` or a `*`?): give each part a fixed number of digits, so "
                    "that it ends after the day.")
    found = DATE_RE.fullmatch(text)
    if not found:
        raise Wrong(f"your grammar allowed {text!r}, which is not a date like 2024-05-17 "
                    "(four digits, two, two, with dashes).")
    month, day = int(found.group(2)), int(found.group(3))
    if not 1 <= month <= 12:
        raise Wrong(f"your grammar allowed {text!r}: month {month:02d}. Allow only 01 to "
                    "12: month ::= \"0\" [1-9] | \"1\" [0-2].")
    if not 1 <= day <= 31:
        raise Wrong(f"your grammar allowed {text!r}: day {day:02d}. Allow only 01 to 31: "
                    "day ::= \"0\" [1-9] | [12] [0-9] | \"3\" [01].")
    return text
