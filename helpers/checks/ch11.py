"""The checkers of chapter 11's exercises (tool calling). See :mod:`helpers.checks.framework`.

Exercises 1 and 2 run the learner's function on inputs of the checker's own (edge cases: a
capital letter, one letter; -40 degrees), read the tool definition the chapter's way (pydantic
reads the schema from the signature, the description from the docstring), and send it to the
learner's OpenAI-compatible server (the room's, with its key, in a workshop): the model's
calls are run through the learner's function, as ``run_call`` does. Exercise 3 runs the
learner's streamed loop against that server with a tool of the checker's own and records what
it prints, piece by piece.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
from typing import Any

from helpers.checks.ch09 import v1_post, v1_url
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe

__all__ = ["chapter", "exercise1", "exercise2", "exercise3", "progress"]

chapter = Chapter("11", "11_tool_calling.ipynb")
QUESTION = "word: strawberry, letter: r. How many?"


def tool_definition(function: Any) -> dict:
    """The chapter's ``tool_from``: a strict tool from a function's signature and docstring."""
    from pydantic import TypeAdapter

    return {"type": "function", "function": {
        "name": function.__name__, "description": inspect.getdoc(function),
        "parameters": TypeAdapter(function).json_schema(), "strict": True}}


def _schema(function: Any, name: str) -> dict:
    try:
        return tool_definition(function)["function"]["parameters"]
    except Exception as error:  # pydantic cannot read the signature
        raise Wrong(f"pydantic could not make a tool schema of {name} ({type(error).__name__}: "
                    f"{str(error).splitlines()[0]}): give each parameter a plain type "
                    "annotation.") from None


def _chat(body: dict) -> dict:
    answer = v1_post("/chat/completions", body)
    if "error" in answer:
        if "tool-call-parser" in answer["error"] or "auto-tool-choice" in answer["error"]:
            raise Wrong(f"your server at {v1_url()} has no tool calling (400: "
                        f"{answer['error'][:90]}): run the chapter's cell that restarts it "
                        "with TOOL_CALLING_ARGS, then this one again.")
        raise RuntimeError(f"the server refused the check's request: {answer['error']}")
    return answer["choices"][0] if body.get("n", 1) == 1 else answer


def _run_call(function: Any, name: str, arguments_json: str) -> Any:
    """Run the learner's function with the model's arguments, validated as run_call does."""
    from pydantic import ValidationError, validate_call

    arguments = json.loads(arguments_json)
    doing = f"running {name}(**{arguments!r}) (the model's arguments)"
    try:
        return call(validate_call(function), **arguments, doing=doing)
    except AnswerRaised as raised:
        if isinstance(raised.error, ValidationError):
            raise Wrong(f"{doing}: the arguments do not fit your function's signature "
                        f"({raised.error.errors()[0]['msg']}).") from None
        raise


def _require_docstring(function: Any, name: str) -> None:
    if not inspect.getdoc(function):
        raise Wrong(f"your {name} has no docstring: it is the tool's description, what the "
                    "model reads about it. Add one, such as \"\"\"" + {
                        "is_palindrome": "Tell whether a word reads the same backwards.",
                        "convert": "Convert a temperature to the given unit.",
                    }[name] + "\"\"\".")


PALINDROMES = [("level", True), ("racecar", True), ("palindrome", False), ("ab", False),
               ("a", True), ("Level", True), ("Noon", True)]


@chapter.exercise("A tool of your own", hints=[
    "def is_palindrome(word: str) -> bool: with a docstring. The annotations become the "
    "tool's JSON schema and the docstring its description; run_tools takes a dict "
    "{name: function}.",
    "return word.lower() == word.lower()[::-1] (a bool; 'Level' is a palindrome too). "
    "Then run_tools('word: level. Is it a palindrome?', {'is_palindrome': is_palindrome, "
    "'word_length': word_length}) and read the calls in the conversation it returns.",
], function="is_palindrome")
def exercise1(is_palindrome: Any) -> str:
    for word, expected in PALINDROMES:
        doing = f"calling is_palindrome({word!r})"
        got = call(is_palindrome, word, doing=doing)
        _is_bool(got, doing, "is_palindrome")
        if got != expected:
            if word[0].isupper():
                raise Wrong(f"{doing} returned {got}: a capital letter changes nothing, "
                            f"{word!r} reads the same backwards. Compare word.lower().")
            raise Wrong(f"{doing} returned {got}; expected {expected}.")
    schema = _schema(is_palindrome, "is_palindrome")
    untyped = [name for name, spec in schema.get("properties", {}).items() if "type" not in spec]
    if untyped:
        raise Wrong(f"your parameter {untyped[0]!r} has no type annotation, so the tool's schema "
                    "lets the model send anything there: write word: str (and -> bool).")
    _require_docstring(is_palindrome, "is_palindrome")

    def word_length(word: str) -> int:
        """Count the letters of a word."""
        return len(word)

    body = {"messages": [{"role": "user", "content": "word: level. Is it a palindrome?"}],
            "tools": [tool_definition(is_palindrome), tool_definition(word_length)],
            "max_tokens": 80, "temperature": 0}
    picked = _chat({**body, "tool_choice": "required"})["message"].get("tool_calls") or []
    names = [c["function"]["name"] for c in picked]
    mine = next((c for c in picked if c["function"]["name"] == "is_palindrome"), None)
    if mine is None:  # required let the model pick word_length: ask for ours by name
        named = {"type": "function", "function": {"name": "is_palindrome"}}
        mine = (_chat({**body, "tool_choice": named})["message"].get("tool_calls") or [None])[0]
    if mine is None:
        raise RuntimeError("a named call of is_palindrome came back without tool_calls")
    result = _run_call(is_palindrome, "is_palindrome", mine["function"]["arguments"])
    _is_bool(result, "running the model's call of is_palindrome", "is_palindrome")
    return (f"right on {len(PALINDROMES)} words (capitals too); with `required` the model "
            f"called {', '.join(names) or 'nothing'}; its call is_palindrome("
            f"{mine['function']['arguments']}) ran your function, which returned {result}.")


def _is_bool(value: Any, doing: str, name: str) -> None:
    if isinstance(value, bool):
        return
    if value is None:
        raise Wrong(f"{doing} returned None: `return` the answer (printing it does not hand it "
                    "to the program, nor to the model).")
    if isinstance(value, str):
        raise Wrong(f"{doing} returned the string {value!r}; expected True or False, a bool "
                    f"(the annotation says -> bool, and json.dumps turns it into true/false).")
    raise Wrong(f"{doing} returned {describe(value)} ({type(value).__name__}); expected True or "
                "False, a bool.")


CONVERSIONS = [(20, "fahrenheit", 68.0), (68, "celsius", 20.0), (100, "celsius", 37.778),
               (-40, "fahrenheit", -40.0), (0, "fahrenheit", 32.0)]


@chapter.exercise("An enum the grammar enforces", hints=[
    "The unit's annotation is Literal['celsius', 'fahrenheit'] (from typing): pydantic "
    "turns it into an enum in the schema, and a strict tool's grammar allows only those two "
    "strings. value: float, and a docstring.",
    "unit is the unit to convert *to*: return value * 9 / 5 + 32 if unit == 'fahrenheit' "
    "else (value - 32) * 5 / 9.",
], function="convert")
def exercise2(convert: Any) -> str:
    for value, unit, expected in CONVERSIONS:
        doing = f"calling convert({value}, {unit!r})"
        got = call(convert, value, unit, doing=doing)
        if isinstance(got, bool) or not isinstance(got, int | float):
            raise Wrong(f"{doing} returned {describe(got)}; expected a number (the temperature "
                        f"in {unit}).")
        if abs(got - expected) > 0.01:
            flipped = value * 9 / 5 + 32 if unit == "celsius" else (value - 32) * 5 / 9
            hint = (" That is the other direction: unit is the unit to convert *to*."
                    if abs(got - flipped) < 0.01 else "")
            raise Wrong(f"{doing} returned {got:g}; expected {expected:g}.{hint}")
    schema = _schema(convert, "convert")
    unit = schema.get("properties", {}).get("unit")
    if unit is None:
        raise Wrong(f"your convert has no parameter named unit (its schema: "
                    f"{describe(schema.get('properties'))}): convert(value, unit).")
    if sorted(unit.get("enum", [])) != ["celsius", "fahrenheit"]:
        raise Wrong(f"the schema of unit is {describe(unit)}: no enum, so the grammar lets the "
                    "model write any string there. Annotate unit: Literal['celsius', "
                    "'fahrenheit'].")
    value = schema["properties"].get("value", {})
    if value.get("type") not in ("number", "integer"):
        raise Wrong(f"the schema of value is {describe(value)}: annotate value: float.")
    _require_docstring(convert, "convert")
    question = {"role": "user", "content": "Convert 20 degrees to Fahrenheit"}
    answer = _chat({"messages": [question], "tools": [tool_definition(convert)],
                    "tool_choice": {"type": "function", "function": {"name": "convert"}},
                    "max_tokens": 150, "temperature": 1.0, "seed": 0, "n": 5})
    units, values, cut_off = [], [], []
    for choice in answer["choices"]:
        calls = choice["message"].get("tool_calls")
        if not calls:  # max_tokens ran out before the call closed
            cut_off.append(choice["finish_reason"])
            continue
        arguments = json.loads(calls[0]["function"]["arguments"])
        units.append(arguments.get("unit"))
        values.append(arguments.get("value"))
        _run_call(convert, "convert", calls[0]["function"]["arguments"])
    if not set(units) <= {"celsius", "fahrenheit"}:
        raise RuntimeError(f"a strict call's unit was outside the enum: {units}")
    return (f"5 sampled calls: units {units} (always one of the two: the grammar), values "
            f"{values} (the model's choice), {len(cut_off)} cut off by max_tokens; your "
            "function ran on each call's arguments.")


def count_letter(word: str, letter: str) -> int:
    """Count how many times a letter occurs in a word."""
    return word.lower().count(letter.lower())


class _Printed(io.StringIO):
    """stdout while the learner's loop runs: keeps each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        if text:
            self.writes.append(text)
        return super().write(text)


def _as_dict(message: Any) -> dict:
    if hasattr(message, "model_dump"):
        return message.model_dump(exclude_none=True)
    return message if isinstance(message, dict) else {}


@chapter.exercise("Streaming the loop", hints=[
    "Replace client.chat.completions.create(...) in run_tools with `with "
    "client.chat.completions.stream(...) as stream:`, loop over the events, print the text "
    "ones, then take stream.get_final_completion().choices[0].message: the rest of the loop "
    "is unchanged.",
    "for event in stream: if event.type == 'content.delta': print(event.delta, end='', "
    "flush=True). A call needs nothing printed: the final message's tool_calls are already "
    "assembled. Append message.model_dump(exclude_none=True), then one tool message per call "
    "with tool_call_id=call.id; return (message.content, messages).",
], function="run_tools_streamed")
def exercise3(run_tools_streamed: Any) -> str:
    calls: list[tuple] = []

    def counting(word: str, letter: str) -> int:
        """Count how many times a letter occurs in a word."""
        calls.append((word, letter))
        return count_letter(word, letter)

    counting.__name__ = "count_letter"
    printed = _Printed()
    doing = f"calling run_tools_streamed({QUESTION!r}, {{'count_letter': count_letter}})"
    with contextlib.redirect_stdout(printed):
        result = call(run_tools_streamed, QUESTION, {"count_letter": counting}, doing=doing)
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise Wrong(f"{doing} returned {describe(result)}; expected (answer, messages), as "
                    "run_tools does.")
    answer, messages = result[0], [_as_dict(m) for m in result[1] or []]
    if not isinstance(answer, str):
        raise Wrong(f"{doing} returned the answer {describe(answer)}; expected the final "
                    "answer's text, message.content.")
    if not calls:
        raise Wrong(f"{doing}: your loop never ran count_letter. With first_choice='required' "
                    "the first turn is a call: run each of message.tool_calls, as run_tools "
                    "does.")
    _check_conversation(messages, doing)
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
    return (f"the call ran (count_letter{calls[0]}), its result went back with the call's id, "
            f"and the answer was printed in {len(pieces)} pieces as it arrived: "
            f"{describe(answer, 50)}.")


def _check_conversation(messages: list[dict], doing: str) -> None:
    tool_messages = [m for m in messages if m.get("role") == "tool"]
    if not tool_messages:
        raise Wrong(f"{doing}: the conversation it returned has no tool message: after "
                    "running a call, append {'role': 'tool', 'tool_call_id': call.id, "
                    "'content': ...}.")
    ids: set = set()
    for message in messages:
        if message.get("role") == "assistant" and message.get("tool_calls"):
            ids |= {c.get("id") for c in message["tool_calls"]}
        if message.get("role") != "tool":
            continue
        if not ids:
            raise Wrong(f"{doing}: a tool message comes before any assistant message with "
                        "tool_calls. Append the assistant's message, "
                        "message.model_dump(exclude_none=True), before the results.")
        if message.get("tool_call_id") not in ids:
            raise Wrong(f"{doing}: a tool message has tool_call_id "
                        f"{describe(message.get('tool_call_id'))}, which is the id of none of "
                        "the calls: use call.id, so that the server knows which call it "
                        "answers.")


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
