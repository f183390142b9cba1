"""The exercise checkers of chapter 11 (helpers.checks.ch11).

Every known mistake, written as a small wrong answer, gets its own message. Most answers here
are wrong before the checker would reach a server: a tool in its schema or on the checker's own
inputs, a streamed loop in the conversation it returns. A right answer gets as far as the
server, which the fast tier points at a port where nothing listens, so the check says
so. The reference solutions pass against the real server in the notebooks, under nbval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest

from helpers.checks import ch11
from tests.support import nowhere, verdict_given  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parent.parent


# Chapter 11, exercise 1: a tool of your own (its own inputs and its schema come first) -------

def palindrome_untyped(word):
    """Tell whether a word reads the same backwards."""
    return word.lower() == word.lower()[::-1]


def palindrome_no_docstring(word: str) -> bool:
    return word.lower() == word.lower()[::-1]


def palindrome_printed(word: str) -> bool:
    """Tell whether a word reads the same backwards."""
    print(word == word[::-1])


def palindrome_case(word: str) -> bool:
    """Tell whether a word reads the same backwards."""
    return word == word[::-1]


def palindrome_yes(word: str) -> str:
    """Tell whether a word reads the same backwards."""
    return "yes" if word.lower() == word.lower()[::-1] else "no"


def palindrome(word: str) -> bool:
    """Tell whether a word reads the same backwards."""
    return word.lower() == word.lower()[::-1]


@pytest.mark.parametrize("answer, message", [
    (palindrome_untyped, "has no type annotation"),
    (palindrome_no_docstring, "has no docstring"),
    (palindrome_printed, "returned None: `return` the answer"),
    (palindrome_case, "a capital letter changes nothing"),
    (palindrome_yes, "returned the string 'yes'; expected True or False"),
], ids=["untyped", "no-docstring", "printed", "case", "string"])
def test_ch11_ex1_known_mistakes(answer, message, capsys) -> None:
    result = verdict_given(ch11.exercise1, answer)
    assert result.passed is False and message in result.message, result.message


def test_ch11_ex1_a_right_tool_goes_on_to_the_server(nowhere, capsys) -> None:  # noqa: F811 (the fixture)
    result = verdict_given(ch11.exercise1, palindrome)
    assert result.passed is False and "did not answer" in result.message, result.message


# Chapter 11, exercise 2: an enum the grammar enforces ----------------------------------------

def convert_flipped(value: float, unit: Literal["celsius", "fahrenheit"]) -> float:
    """Convert a temperature to the given unit."""
    return (value - 32) * 5 / 9 if unit == "fahrenheit" else value * 9 / 5 + 32


def convert_str_unit(value: float, unit: str) -> float:
    """Convert a temperature to the given unit."""
    return value * 9 / 5 + 32 if unit == "fahrenheit" else (value - 32) * 5 / 9


def convert_no_docstring(value: float, unit: Literal["celsius", "fahrenheit"]) -> float:
    return value * 9 / 5 + 32 if unit == "fahrenheit" else (value - 32) * 5 / 9


def convert_text(value: float, unit: Literal["celsius", "fahrenheit"]) -> str:
    """Convert a temperature to the given unit."""
    return f"{value * 9 / 5 + 32 if unit == 'fahrenheit' else (value - 32) * 5 / 9:.1f} degrees"


def convert(value: float, unit: Literal["celsius", "fahrenheit"]) -> float:
    """Convert a temperature to the given unit."""
    return value * 9 / 5 + 32 if unit == "fahrenheit" else (value - 32) * 5 / 9


@pytest.mark.parametrize("answer, message", [
    (convert_flipped, "That is the other direction"),
    (convert_str_unit, "no enum, so the grammar lets the model write any string"),
    (convert_no_docstring, "has no docstring"),
    (convert_text, "expected a number"),
], ids=["flipped", "str-unit", "no-docstring", "text"])
def test_ch11_ex2_known_mistakes(answer, message, capsys) -> None:
    result = verdict_given(ch11.exercise2, answer)
    assert result.passed is False and message in result.message, result.message


def test_ch11_ex2_a_right_tool_goes_on_to_the_server(nowhere, capsys) -> None:  # noqa: F811 (the fixture)
    result = verdict_given(ch11.exercise2, convert)
    assert result.passed is False and "did not answer" in result.message, result.message


# Chapter 11, exercise 3: a streamed loop (answers that make up their own conversation) -------

ANSWER_PIECES = ["The", " word", " has", " 3", " r", "."]
CALL = {"id": "call-1", "type": "function",
        "function": {"name": "count_letter", "arguments": '{"word": "strawberry", "letter": "r"}'}}


def made_up_loop(*, assistant=True, call_id="call-1", printed="pieces"):
    """A loop that runs the call itself and returns what a streamed loop would."""

    def run_tools_streamed(question, functions, first_choice="required", max_rounds=3):
        result = functions["count_letter"]("strawberry", "r")
        messages = [{"role": "user", "content": question}]
        if assistant:
            messages.append({"role": "assistant", "content": "", "tool_calls": [CALL]})
        messages.append({"role": "tool", "tool_call_id": call_id,
                         "content": json.dumps({"result": result})})
        if printed == "pieces":
            for piece in ANSWER_PIECES:
                print(piece, end="", flush=True)
            print()
        elif printed == "at once":
            print("".join(ANSWER_PIECES))
        elif printed == "arguments":
            for piece in ['{"word": ', '"strawberry"}', *ANSWER_PIECES]:
                print(piece, end="", flush=True)
        return "".join(ANSWER_PIECES), messages

    return run_tools_streamed


def test_ch11_ex3_a_made_up_loop_that_does_it_all_passes(capsys) -> None:
    assert verdict_given(ch11.exercise3, made_up_loop())


@pytest.mark.parametrize("answer, message", [
    (made_up_loop(assistant=False), "Append the assistant's message"),
    (made_up_loop(call_id="count_letter"), "which is the id of none of the calls"),
    (made_up_loop(printed="nothing"), "was not printed"),
    (made_up_loop(printed="at once"), "printed in one piece, after it was complete"),
    (made_up_loop(printed="arguments"), "contains the call's arguments"),
    (lambda question, functions: ("3", [{"role": "user", "content": question}]),
     "your loop never ran count_letter"),
    (lambda question, functions: print("3"), "expected (answer, messages)"),
], ids=["no-assistant", "wrong-id", "not-printed", "at-once", "arguments", "no-call",
        "returned-none"])
def test_ch11_ex3_known_mistakes(answer, message, capsys) -> None:
    result = verdict_given(ch11.exercise3, answer)
    assert result.passed is False and message in result.message, result.message


# The chapter's exercises ---------------------------------------------------------------------

@pytest.mark.parametrize("index, name", [(0, "def is_palindrome"), (1, "def convert"),
                                         (2, "def run_tools_streamed")])
def test_solution_is_the_notebooks_hidden_cell(index, name, capsys) -> None:
    code = ch11.chapter.exercises[index].solution()
    assert name in code and "reference=True" in code and not code.startswith("#@title")
