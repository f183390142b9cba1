"""The checkers of chapter 11's exercises (tool calling). See :mod:`helpers.checks.framework`.

Exercises 1 and 2 run the learner's function on inputs of the checker's own (capitals included;
decimals and -40), read the tool definition the chapter's way (pydantic's schema of the
signature, ``$ref`` resolved; the docstring), send it to the learner's OpenAI-compatible server
with a question of the checker's own, run the model's calls through the function as ``run_call``
does and say what the model chose. Exercise 3 runs the learner's streamed loop with a tool of the
checker's own, watches its requests and what it prints piece by piece; a loop that keeps asking
with ``tool_choice='required'`` is stopped by the time limit and told what its requests were.

The harness is apart: :mod:`~helpers.checks.ch11.schema` reads a tool's definition the
chapter's way, :mod:`~helpers.checks.ch11.calls` asks the learner's server with it and runs the
model's calls through the learner's function, :mod:`~helpers.checks.ch11.loop` judges the
streamed loop's requests, printing and conversation.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from helpers.checks.ch11.calls import chat, check_bool, run_validated, tool_calls
from helpers.checks.ch11.loop import (
    Printed,
    as_dict,
    check_conversation,
    check_results_sent,
    judge_requests,
    streamed_text,
)
from helpers.checks.ch11.schema import (
    allowed_values,
    convert_parameters,
    palindrome_parameters,
    readable,
    require_docstring,
    tool_definition,
    types_of,
)
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe
from helpers.checks.values import close, number
from helpers.checks.watch import watching

__all__ = ["chapter", "exercise1", "exercise2", "exercise3", "progress"]

chapter = Chapter("11", "11_tool_calling.ipynb")
progress = chapter.progress

#: The check's own question for exercise 3 (the notebook asks about strawberry and r).
QUESTION = "word: banana, letter: a. How many?"


# Exercise 1 ----------------------------------------------------------------------------------

#: The check's own words (the notebook asks about "level").
PALINDROMES = [("racecar", True), ("palindrome", False), ("ab", False), ("a", True),
               ("Rotor", True), ("Noon", True), ("abca", False), ("xyzzy", False), ("stats", True)]


def _palindrome(word: str) -> bool:
    return word.lower() == word.lower()[::-1]


@chapter.exercise("A tool of your own", hints=[
    "def is_palindrome(word: str) -> bool: with a docstring. The annotations become the "
    "tool's JSON schema and the docstring its description; run_tools takes a dict "
    "{name: function}.",
    "return word.lower() == word.lower()[::-1] (a bool; 'Level' is a palindrome too). "
    "Then run_tools('word: level. Is it a palindrome?', {'is_palindrome': is_palindrome, "
    "'word_length': word_length}) and read the calls in the conversation it returns.",
], function="is_palindrome")
def exercise1(is_palindrome: Any) -> str:
    # A signature pydantic cannot read is said after the calls (they may say more); one it
    # reads with the wrong parameters is said first (the calls would only raise TypeError).
    if readable(is_palindrome):
        palindrome_parameters(is_palindrome)
    for word, expected in PALINDROMES:
        doing = f"calling is_palindrome({word!r})"
        got = call(is_palindrome, word, doing=doing, limit=10)
        check_bool(got, doing)
        if got != expected:
            if word[0].isupper() and got == (word == word[::-1]):
                raise Wrong(f"{doing} returned {got}: a capital letter changes nothing, "
                            f"{word!r} reads the same backwards. Compare word.lower().")
            raise Wrong(f"{doing} returned {got}; {word!r} "
                        f"{'reads' if expected else 'does not read'} the same backwards.")
    required = palindrome_parameters(is_palindrome)
    require_docstring(is_palindrome, "is_palindrome",
                       "Tell whether a word reads the same backwards.")

    def word_length(word: str) -> int:
        """Count the letters of a word."""
        return len(word)
    question = "word: Rotavator. Is it a palindrome?"
    body = {"messages": [{"role": "user", "content": question}],
            "tools": [tool_definition(is_palindrome, "is_palindrome"),
                      tool_definition(word_length, "word_length")],
            "max_tokens": 80, "temperature": 0}
    picked = tool_calls(chat({**body, "tool_choice": "required"})["choices"][0])
    chosen = " and ".join(c["function"]["name"] for c in picked) or "no call"
    mine = next((c for c in picked if c["function"]["name"] == "is_palindrome"), None)
    how = "with `required` the model chose is_palindrome itself"
    if mine is None:  # required let the model pick word_length: ask for ours by name
        how = (f"with `required` the model chose {chosen}, not your tool (`required` promises a "
               "call, not the right one), so the check then named is_palindrome in tool_choice")
        named = {"type": "function", "function": {"name": "is_palindrome"}}
        mine = next(iter(tool_calls(chat({**body, "tool_choice": named})["choices"][0])), None)
    if mine is None:
        raise Wrong("your server answered a named call of is_palindrome with no tool call "
                    "(max_tokens ran out, or no tool calling on the server?): run it again.")
    arguments = json.loads(mine["function"]["arguments"])
    doing = f"running is_palindrome(**{arguments!r}) (the model's call)"
    result = run_validated(is_palindrome, arguments, doing)
    check_bool(result, doing)
    word = arguments.get(required[0])
    if isinstance(word, str) and result != _palindrome(word):
        raise Wrong(f"{doing} returned {result}; {word!r} "
                    f"{'reads' if _palindrome(word) else 'does not read'} the same backwards.")
    return (f"right on the check's {len(PALINDROMES)} words (capitals too). Asked {question!r}, "
            f"{how}; its call is_palindrome({mine['function']['arguments']}) ran your "
            f"function, which returned {result}, right for {word!r}.")


# Exercise 2 ----------------------------------------------------------------------------------

#: The check's own conversions (the notebook converts 20 degrees to Fahrenheit).
CONVERSIONS = [(37.5, "fahrenheit"), (451, "celsius"), (-40, "fahrenheit"), (98.6, "celsius"),
               (0, "fahrenheit"), (-17.5, "fahrenheit")]
#: How far the learner's temperature may be from the exact conversion (one decimal passes).
DEGREES = 0.05


def converted(value: float, unit: str) -> float:
    return value * 9 / 5 + 32 if unit == "fahrenheit" else (value - 32) * 5 / 9


@chapter.exercise("An enum the grammar enforces", hints=[
    "The unit's annotation is Literal['celsius', 'fahrenheit'] (from typing): pydantic "
    "turns it into an enum in the schema, and a strict tool's grammar allows only those two "
    "strings. value: float, and a docstring.",
    "unit is the unit to convert *to*: return value * 9 / 5 + 32 if unit == 'fahrenheit' "
    "else (value - 32) * 5 / 9.",
], function="convert")
def exercise2(convert: Any) -> str:
    if readable(convert):  # else said after the calls, as in exercise 1
        convert_parameters(convert)
    for value, to in CONVERSIONS:
        doing = f"calling convert({value}, {to!r})"
        got = number(run_validated(convert, {"value": value, "unit": to}, doing),
                     f"a number, the temperature in {to}", doing=doing)
        expected = converted(value, to)
        if not close(got, expected, abs=DEGREES):
            other = "celsius" if to == "fahrenheit" else "fahrenheit"
            hint = (" That is the other direction: unit is the unit to convert *to*."
                    if close(got, converted(value, other), abs=DEGREES) else "")
            raise Wrong(f"{doing} returned {got:g}; expected {expected:.4g} (the check allows "
                        f"±{DEGREES}).{hint}")
    properties = convert_parameters(convert)
    unit = properties["unit"]
    values = allowed_values(unit)
    if values is None or {str(v) for v in values} != {"celsius", "fahrenheit"}:
        shown = f"allows {sorted(map(str, values))}" if values else "has no enum"
        raise Wrong(f"the schema of unit is {describe(unit)}: it {shown}, so the grammar lets "
                    "the model write other strings there. Annotate unit: Literal['celsius', "
                    "'fahrenheit'] (or a str Enum of those two).")
    if not types_of(properties["value"]) or not types_of(properties["value"]) <= {"number",
                                                                                "integer"}:
        raise Wrong(f"the schema of value is {describe(properties['value'])}: annotate "
                    "value: float.")
    require_docstring(convert, "convert", "Convert a temperature to the given unit.")
    return _sampled_calls(convert)


def _sampled_calls(convert: Any) -> str:
    """Five sampled named calls of the learner's tool, each run through the function."""
    question = "Convert 451 degrees Fahrenheit to Celsius"
    answer = chat({"messages": [{"role": "user", "content": question}],
                    "tools": [tool_definition(convert, "convert")],
                    "tool_choice": {"type": "function", "function": {"name": "convert"}},
                    "max_tokens": 150, "temperature": 1.0, "seed": 7, "n": 5})
    units, given, results, cut_off = [], [], [], []
    for choice in answer["choices"]:
        if not (calls := tool_calls(choice)):  # max_tokens ran out before the call closed
            cut_off.append(choice["finish_reason"])
            continue
        arguments = json.loads(calls[0]["function"]["arguments"])
        units.append(arguments.get("unit"))
        if arguments.get("unit") not in ("celsius", "fahrenheit"):
            raise Wrong(f"a strict call of your tool came back with unit "
                        f"{describe(arguments.get('unit'))}, outside the enum: is your server "
                        "the chapter's, with TOOL_CALLING_ARGS?")
        doing = f"running convert(**{arguments!r}) (the model's call)"
        got = number(run_validated(convert, arguments, doing), "a number", doing=doing)
        given.append(number(arguments.get("value"), "a number"))
        if not close(got, expected := converted(given[-1], arguments["unit"]), abs=DEGREES):
            raise Wrong(f"{doing} returned {got:g}; expected {expected:.4g}.")
        results.append(round(got, 1))
    cut = (f"; {len(cut_off)} came back without tool_calls (finish_reason {cut_off[0]!r}: "
           "max_tokens ran out before the call closed)" if cut_off else "")
    return (f"right on the check's {len(CONVERSIONS)} conversions (±{DEGREES}). Asked "
            f"{question!r} 5 times at temperature 1: units {units} (always one of the two: "
            f"the grammar), values [{', '.join(f'{v:g}' for v in given)}] (the model's choice: "
            f"451 is right), your function's results {results}{cut}.")


# Exercise 3 ----------------------------------------------------------------------------------

@chapter.exercise("Streaming the loop", hints=[
    "Replace client.chat.completions.create(...) in run_tools with `with "
    "client.chat.completions.stream(...) as stream:`, loop over the events, print the text "
    "ones, then take stream.get_final_completion().choices[0].message: the rest of the loop "
    "is unchanged.",
    "for event in stream: if event.type == 'content.delta': print(event.delta, end='', "
    "flush=True). A call needs nothing printed: the final message's tool_calls are already "
    "assembled. Append message.model_dump(exclude_none=True), then one tool message per call "
    "with tool_call_id=call.id; return (message.content, messages).",
    "With strict tools, stream() raises openai.LengthFinishReasonError when a turn runs out "
    "of max_tokens (create() would return the cut text): catch it around the `with` block and "
    "take cut.completion.choices[0].message, the text that came.",
], function="run_tools_streamed", limit=240)
def exercise3(run_tools_streamed: Any) -> str:
    calls: list[tuple] = []
    results: list[int] = []

    def count_letter(word: str, letter: str) -> int:
        """Count how many times a letter occurs in a word."""
        calls.append((word, letter))
        results.append(word.lower().count(letter.lower()))
        return results[-1]

    printed = Printed()
    doing = f"calling run_tools_streamed({QUESTION!r}, {{'count_letter': count_letter}})"
    with watching() as sent, contextlib.redirect_stdout(printed):
        try:
            result = call(run_tools_streamed, QUESTION, {"count_letter": count_letter},
                          doing=doing, limit=150)
        except (Wrong, AnswerRaised):
            judge_requests(sent, doing, failed=True)
            raise
    asked = [s for s in sent if s.path.endswith("/chat/completions")]
    judge_requests(sent, doing, failed=False)
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise Wrong(f"{doing} returned {describe(result)}; expected (answer, messages), as "
                    "run_tools does.")
    answer, messages = result[0], [as_dict(m) for m in result[1] or []]
    if not isinstance(answer, str):
        raise Wrong(f"{doing} returned the answer {describe(answer)}; expected the final "
                    "answer's text, message.content.")
    if not calls:
        raise Wrong(f"{doing}: your loop never ran count_letter. With first_choice='required' "
                    "the first turn is a call: run each of message.tool_calls, as run_tools "
                    "does.")
    check_conversation(messages, doing)
    check_results_sent(asked, results, doing)
    streamed = streamed_text(asked[-1])
    if streamed is not None and streamed.strip() != answer.strip():
        raise Wrong(f"{doing} returned the answer {describe(answer, 60)}, but your server's "
                    f"last streamed answer was {describe(streamed, 60)}: return the final "
                    "message's content.")
    text = "".join(printed.writes)
    pieces = [w for w in printed.writes if w.strip() and w.strip() in answer]
    if answer.strip() and answer.strip() not in text and not pieces:
        raise Wrong(f"{doing}: the answer {describe(answer, 50)} was not printed. Print each "
                    "content delta as it arrives: if event.type == 'content.delta': "
                    "print(event.delta, end='', flush=True).")
    if len(answer.split()) > 2 and len(pieces) < 2:
        raise Wrong(f"{doing}: the answer was printed in one piece, after it was complete. "
                    "Print each content delta as it arrives (event.type == 'content.delta'), "
                    "with end='' and flush=True.")
    if '"word"' in text or '"letter"' in text:
        raise Wrong(f"{doing}: what you print contains the call's arguments "
                    f"({describe(text, 60)}): print only the content deltas, the answer's "
                    "text; the call is taken from the final message.")
    return (f"for the check's own question, {len(asked)} streamed requests; the call ran "
            f"(count_letter{calls[0]}), its result went back with the call's id, and the "
            f"answer your server streamed was printed in {len(pieces)} pieces as it arrived: "
            f"{describe(answer, 50)}.")
