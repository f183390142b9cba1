"""The checkers of chapter 11's exercises (tool calling). See :mod:`helpers.checks.framework`.

Exercises 1 and 2 run the learner's function on inputs of the checker's own (capitals included;
decimals and -40), read the tool definition the chapter's way (pydantic's schema of the
signature, ``$ref`` resolved; the docstring), send it to the learner's OpenAI-compatible server
with a question of the checker's own, run the model's calls through the function as ``run_call``
does and say what the model chose. Exercise 3 runs the learner's streamed loop with a tool of the
checker's own, watches its requests and what it prints piece by piece; a loop that keeps asking
with ``tool_choice='required'`` is stopped by the time limit and told what its requests were.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
from typing import Any

from helpers.checks import server
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe
from helpers.checks.values import close, number
from helpers.checks.watch import Sent, watching

__all__ = ["chapter", "exercise1", "exercise2", "exercise3", "progress"]

chapter = Chapter("11", "11_tool_calling.ipynb")
progress = chapter.progress

#: The check's own question for exercise 3 (the notebook asks about strawberry and r).
QUESTION = "word: banana, letter: a. How many?"


def tool_definition(function: Any, name: str) -> dict:
    """The chapter's ``tool_from``, under the exercise's tool name whatever the function is
    called: a strict tool from a function's signature and docstring."""
    from pydantic import TypeAdapter

    return {"type": "function", "function": {
        "name": name, "description": inspect.getdoc(function) or "",
        "parameters": TypeAdapter(function).json_schema(), "strict": True}}


def _schema(function: Any, name: str) -> dict:
    try:
        return resolved(tool_definition(function, name)["function"]["parameters"])
    except Exception as error:  # noqa: BLE001 (pydantic cannot read the signature)
        raise Wrong(f"pydantic could not make a tool schema of your {name} "
                    f"({type(error).__name__}: {str(error).splitlines()[0]}): give each "
                    "parameter a plain type annotation.") from None


def resolved(schema: Any, definitions: dict | None = None, depth: int = 0) -> Any:
    """``schema`` with each ``{"$ref": "#/$defs/X"}`` replaced by its definition (pydantic
    writes an Enum or a model once, in ``$defs``, and refers to it)."""
    if definitions is None and isinstance(schema, dict):
        definitions = schema.get("$defs", schema.get("definitions", {}))
    if depth > 20:
        return schema
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in (definitions or {}):
            target = definitions[ref.rsplit("/", 1)[-1]]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return resolved({**target, **rest}, definitions, depth + 1)
        return {k: resolved(v, definitions, depth + 1) for k, v in schema.items()
                if k not in ("$defs", "definitions")}
    if isinstance(schema, list):
        return [resolved(v, definitions, depth + 1) for v in schema]
    return schema


def allowed_values(spec: dict) -> set | None:
    """The values a (resolved) schema allows, when it lists them (enum, const, anyOf of
    those); None when it allows any value of its type."""
    if "enum" in spec:
        return set(spec["enum"])
    if "const" in spec:
        return {spec["const"]}
    for key in ("anyOf", "oneOf"):
        if key in spec:
            parts = [allowed_values(part) for part in spec[key]]
            return None if any(p is None for p in parts) else set().union(*parts)
    return None


def _types(spec: dict) -> set:
    if "type" in spec:
        return set(spec["type"]) if isinstance(spec["type"], list) else {spec["type"]}
    found: set = set()
    for key in ("anyOf", "oneOf"):
        for part in spec.get(key, []):
            found |= _types(part)
    return found


def _chat(body: dict) -> dict:
    answer = server.ask("openai", "/v1/chat/completions", body)
    if answer.status != 200:
        if "tool-call-parser" in answer.error or "auto-tool-choice" in answer.error:
            raise Wrong(f"your server at {server.base_url('openai')} has no tool calling "
                        f"({answer.status}: {answer.error[:90]}): run the chapter's cell that "
                        "restarts it with TOOL_CALLING_ARGS, then this one again.")
        raise Wrong(f"your server answered {answer.status} to this check's own request with "
                    f"your tool: {answer.error[:200]}")
    return answer.body


def _validated(function: Any) -> Any:
    """The learner's function as run_call runs it: arguments validated and converted to the
    annotated types (a str Enum's member, a float) by pydantic's validate_call."""
    from pydantic import validate_call

    try:
        return validate_call(function)
    except Exception:  # noqa: BLE001 (a callable pydantic cannot wrap: called as it is)
        return function


def _run(function: Any, arguments: dict, doing: str) -> Any:
    """Run the learner's function with ``arguments``, validated as run_call does."""
    from pydantic import ValidationError

    try:
        return call(_validated(function), **arguments, doing=doing, limit=30)
    except AnswerRaised as raised:
        if isinstance(raised.error, ValidationError):
            raise Wrong(f"{doing}: the arguments do not fit your function's signature "
                        f"({raised.error.errors()[0]['msg']}).") from None
        raise


def _require_docstring(function: Any, name: str, example: str) -> None:
    if not inspect.getdoc(function):
        raise Wrong(f"your {name} has no docstring: it is the tool's description, what the "
                    f"model reads about it. Add one, such as \"\"\"{example}\"\"\".")


def _calls(choice: dict) -> list[dict]:
    return (choice.get("message") or {}).get("tool_calls") or []


# Exercise 1 ----------------------------------------------------------------------------------

#: The check's own words (the notebook asks about "level").
PALINDROMES = [("racecar", True), ("palindrome", False), ("ab", False), ("a", True),
               ("Rotor", True), ("Noon", True), ("abca", False), ("xyzzy", False), ("stats", True)]


def _palindrome(word: str) -> bool:
    return word.lower() == word.lower()[::-1]


def _readable(function: Any) -> bool:
    """True if pydantic can write a tool schema from ``function``'s signature."""
    try:
        _schema(function, "function")
    except Wrong:
        return False
    return True


def _check_palindrome_schema(is_palindrome: Any) -> list[str]:
    """The tool's schema: one required parameter, typed; its names."""
    schema = _schema(is_palindrome, "is_palindrome")
    properties = schema.get("properties", {})
    untyped = [name for name, spec in properties.items() if not _types(spec)]
    if untyped:
        raise Wrong(f"your parameter {untyped[0]!r} has no type annotation, so the tool's schema "
                    "lets the model send anything there: write word: str (and -> bool).")
    required = schema.get("required", list(properties))
    if len(required) != 1:
        raise Wrong(f"your is_palindrome needs {sorted(required) or 'no parameters'}; the "
                    "tool takes one, the word: is_palindrome(word: str) -> bool.")
    return required


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
    if _readable(is_palindrome):
        _check_palindrome_schema(is_palindrome)
    for word, expected in PALINDROMES:
        doing = f"calling is_palindrome({word!r})"
        got = call(is_palindrome, word, doing=doing, limit=10)
        _is_bool(got, doing)
        if got != expected:
            if word[0].isupper() and got == (word == word[::-1]):
                raise Wrong(f"{doing} returned {got}: a capital letter changes nothing, "
                            f"{word!r} reads the same backwards. Compare word.lower().")
            raise Wrong(f"{doing} returned {got}; {word!r} "
                        f"{'reads' if expected else 'does not read'} the same backwards.")
    required = _check_palindrome_schema(is_palindrome)
    _require_docstring(is_palindrome, "is_palindrome",
                       "Tell whether a word reads the same backwards.")

    def word_length(word: str) -> int:
        """Count the letters of a word."""
        return len(word)
    question = "word: Rotavator. Is it a palindrome?"
    body = {"messages": [{"role": "user", "content": question}],
            "tools": [tool_definition(is_palindrome, "is_palindrome"),
                      tool_definition(word_length, "word_length")],
            "max_tokens": 80, "temperature": 0}
    picked = _calls(_chat({**body, "tool_choice": "required"})["choices"][0])
    chosen = " and ".join(c["function"]["name"] for c in picked) or "no call"
    mine = next((c for c in picked if c["function"]["name"] == "is_palindrome"), None)
    how = "with `required` the model chose is_palindrome itself"
    if mine is None:  # required let the model pick word_length: ask for ours by name
        how = (f"with `required` the model chose {chosen}, not your tool (`required` promises a "
               "call, not the right one), so the check then named is_palindrome in tool_choice")
        named = {"type": "function", "function": {"name": "is_palindrome"}}
        mine = next(iter(_calls(_chat({**body, "tool_choice": named})["choices"][0])), None)
    if mine is None:
        raise Wrong("your server answered a named call of is_palindrome with no tool call "
                    "(max_tokens ran out, or no tool calling on the server?): run it again.")
    arguments = json.loads(mine["function"]["arguments"])
    doing = f"running is_palindrome(**{arguments!r}) (the model's call)"
    result = _run(is_palindrome, arguments, doing)
    _is_bool(result, doing)
    word = arguments.get(required[0])
    if isinstance(word, str) and result != _palindrome(word):
        raise Wrong(f"{doing} returned {result}; {word!r} "
                    f"{'reads' if _palindrome(word) else 'does not read'} the same backwards.")
    return (f"right on the check's {len(PALINDROMES)} words (capitals too). Asked {question!r}, "
            f"{how}; its call is_palindrome({mine['function']['arguments']}) ran your "
            f"function, which returned {result}, right for {word!r}.")


def _is_bool(value: Any, doing: str) -> None:
    if isinstance(value, bool):
        return
    if value is None:
        raise Wrong(f"{doing} returned None: `return` the answer (printing it does not hand it "
                    "to the program, nor to the model).")
    if isinstance(value, str):
        raise Wrong(f"{doing} returned the string {value!r}; expected True or False, a bool "
                    f"(the annotation says -> bool, and json.dumps turns it into true/false).")
    if type(value).__module__ == "numpy":
        raise Wrong(f"{doing} returned NumPy's {value!r}, not Python's bool: the result goes "
                    "back to the model through json.dumps, which cannot write a NumPy bool "
                    "(TypeError). Return bool(...) or a comparison of strings.")
    raise Wrong(f"{doing} returned {describe(value)} ({type(value).__name__}); expected True or "
                "False, a bool: the tool's result goes to the model as JSON true/false, which "
                f"{type(value).__name__} is not.")


# Exercise 2 ----------------------------------------------------------------------------------

#: The check's own conversions (the notebook converts 20 degrees to Fahrenheit).
CONVERSIONS = [(37.5, "fahrenheit"), (451, "celsius"), (-40, "fahrenheit"), (98.6, "celsius"),
               (0, "fahrenheit"), (-17.5, "fahrenheit")]
#: How far the learner's temperature may be from the exact conversion (one decimal passes).
DEGREES = 0.05


def _convert_parameters(convert: Any) -> dict:
    properties = _schema(convert, "convert").get("properties", {})
    if "unit" not in properties or "value" not in properties:
        raise Wrong(f"your convert takes {sorted(properties) or 'no parameters'}; the tool "
                    "takes two, convert(value, unit), so that the model sends both by name.")
    return properties


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
    if _readable(convert):  # else said after the calls, as in exercise 1
        _convert_parameters(convert)
    for value, to in CONVERSIONS:
        doing = f"calling convert({value}, {to!r})"
        got = number(_run(convert, {"value": value, "unit": to}, doing),
                     f"a number, the temperature in {to}", doing=doing)
        expected = converted(value, to)
        if not close(got, expected, abs=DEGREES):
            other = "celsius" if to == "fahrenheit" else "fahrenheit"
            hint = (" That is the other direction: unit is the unit to convert *to*."
                    if close(got, converted(value, other), abs=DEGREES) else "")
            raise Wrong(f"{doing} returned {got:g}; expected {expected:.4g} (the check allows "
                        f"±{DEGREES}).{hint}")
    properties = _convert_parameters(convert)
    unit = properties["unit"]
    values = allowed_values(unit)
    if values is None or {str(v) for v in values} != {"celsius", "fahrenheit"}:
        shown = f"allows {sorted(map(str, values))}" if values else "has no enum"
        raise Wrong(f"the schema of unit is {describe(unit)}: it {shown}, so the grammar lets "
                    "the model write other strings there. Annotate unit: Literal['celsius', "
                    "'fahrenheit'] (or a str Enum of those two).")
    if not _types(properties["value"]) or not _types(properties["value"]) <= {"number",
                                                                                "integer"}:
        raise Wrong(f"the schema of value is {describe(properties['value'])}: annotate "
                    "value: float.")
    _require_docstring(convert, "convert", "Convert a temperature to the given unit.")
    return _sampled_calls(convert)


def _sampled_calls(convert: Any) -> str:
    """Five sampled named calls of the learner's tool, each run through the function."""
    question = "Convert 451 degrees Fahrenheit to Celsius"
    answer = _chat({"messages": [{"role": "user", "content": question}],
                    "tools": [tool_definition(convert, "convert")],
                    "tool_choice": {"type": "function", "function": {"name": "convert"}},
                    "max_tokens": 150, "temperature": 1.0, "seed": 7, "n": 5})
    units, given, results, cut_off = [], [], [], []
    for choice in answer["choices"]:
        if not (calls := _calls(choice)):  # max_tokens ran out before the call closed
            cut_off.append(choice["finish_reason"])
            continue
        arguments = json.loads(calls[0]["function"]["arguments"])
        units.append(arguments.get("unit"))
        if arguments.get("unit") not in ("celsius", "fahrenheit"):
            raise Wrong(f"a strict call of your tool came back with unit "
                        f"{describe(arguments.get('unit'))}, outside the enum: is your server "
                        "the chapter's, with TOOL_CALLING_ARGS?")
        doing = f"running convert(**{arguments!r}) (the model's call)"
        got = number(_run(convert, arguments, doing), "a number", doing=doing)
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


def _streamed_text(sent: Sent) -> str | None:
    """The content a streamed chat answer carried (None when the check could not read it)."""
    events = sent.events()
    if not events:
        return None
    return "".join(((c.get("delta") or {}).get("content") or "")
                   for event in events for c in event.get("choices") or []
                   if c.get("index", 0) == 0)


@chapter.exercise("Streaming the loop", hints=[
    "Replace client.chat.completions.create(...) in run_tools with `with "
    "client.chat.completions.stream(...) as stream:`, loop over the events, print the text "
    "ones, then take stream.get_final_completion().choices[0].message: the rest of the loop "
    "is unchanged.",
    "for event in stream: if event.type == 'content.delta': print(event.delta, end='', "
    "flush=True). A call needs nothing printed: the final message's tool_calls are already "
    "assembled. Append message.model_dump(exclude_none=True), then one tool message per call "
    "with tool_call_id=call.id; return (message.content, messages).",
], function="run_tools_streamed", limit=240)
def exercise3(run_tools_streamed: Any) -> str:
    calls: list[tuple] = []
    results: list[int] = []

    def count_letter(word: str, letter: str) -> int:
        """Count how many times a letter occurs in a word."""
        calls.append((word, letter))
        results.append(word.lower().count(letter.lower()))
        return results[-1]

    printed = _Printed()
    doing = f"calling run_tools_streamed({QUESTION!r}, {{'count_letter': count_letter}})"
    with watching() as sent, contextlib.redirect_stdout(printed):
        try:
            result = call(run_tools_streamed, QUESTION, {"count_letter": count_letter},
                          doing=doing, limit=150)
        except (Wrong, AnswerRaised):
            _judge_requests(sent, doing, failed=True)
            raise
    asked = [s for s in sent if s.path.endswith("/chat/completions")]
    _judge_requests(sent, doing, failed=False)
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
    _check_results_sent(asked, results, doing)
    streamed = _streamed_text(asked[-1])
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


def _judge_requests(sent: list[Sent], doing: str, *, failed: bool) -> None:
    """What the requests the loop sent say (the server's side of the loop)."""
    asked = [s for s in sent if s.path.endswith("/chat/completions")]
    bodies = [s.body if isinstance(s.body, dict) else {} for s in asked]
    required = [b.get("tool_choice") == "required" for b in bodies]
    if failed:
        if len(asked) >= 2 and all(required):
            raise Wrong(f"{doing}: your loop sent {len(asked)} requests, every one with "
                        "tool_choice='required', so every answer was another call and none "
                        "was the answer (the check stopped it there). Send first_choice only "
                        "in the first round, then tool_choice='auto'.")
        return
    if not asked:
        raise Wrong(f"{doing}: your loop returned without sending a request to your server's "
                    "/v1/chat/completions (the check watches the openai client, requests and "
                    "httpx): the answer has to be the model's, streamed.")
    unstreamed = [i + 1 for i, body in enumerate(bodies) if not body.get("stream")]
    if unstreamed:
        raise Wrong(f"{doing}: your request {unstreamed[0]} of {len(asked)} was not streamed: "
                    "send each turn with client.chat.completions.stream(...) (or "
                    "stream=True).")
    if bodies[0].get("tool_choice") != "required":
        raise Wrong(f"{doing}: your first request had tool_choice "
                    f"{describe(bodies[0].get('tool_choice'))}; the loop starts with "
                    "first_choice ('required' unless told otherwise).")
    if len(asked) < 2:
        raise Wrong(f"{doing}: your loop sent one request: the first turn is a call, so "
                    "its result has to go back in a second request for the answer.")


def _check_results_sent(asked: list[Sent], results: list[int], doing: str) -> None:
    """The tool's results went to the server in the requests after the first."""
    sent = [str(m.get("content")) for s in asked[1:] if isinstance(s.body, dict)
            for m in s.body.get("messages") or [] if isinstance(m, dict)
            and m.get("role") == "tool"]
    if not sent:
        raise Wrong(f"{doing}: your requests after the first carried no tool message, so the "
                    "model never saw count_letter's result: append {'role': 'tool', "
                    "'tool_call_id': call.id, 'content': ...} before asking again.")
    if not any(str(result) in content for result in results for content in sent):
        raise Wrong(f"{doing}: count_letter returned {results}, but the tool messages your "
                    f"loop sent say {describe(sent, 80)}: send the function's result.")


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
