"""The exercise checkers of chapter 11 (helpers.checks.ch11), both ways.

Fast tier: the known mistakes that show on the checker's own inputs or in a tool's schema, and
whole checks against a small fake OpenAI-compatible server in this process (``fake_server``:
it answers a `required` or named tool_choice with a call, `auto` with text, whole or streamed;
``pick`` is the tool a `required` choice calls, ``cut`` how many of ``n`` answers are cut off),
so that right answers written other ways pass and loops that never ask, never stream or keep
asking fail, without an engine. Server tier: right tools against the real server, which the
session starts with tool calling on (``TOOL_CALLING_ARGS``, in conftest, as chapter 11 does).
"""

from __future__ import annotations

import enum
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Literal

import numpy as np
import pytest

from helpers.checks import ch11, limits
from helpers.checks.ch11.schema import allowed_values, resolved, schema_of, tool_definition
from helpers.settings import SERVED_MODEL_NAME
from tests.support import nowhere, verdict_given  # noqa: F401 (a fixture)


def endless(*args, **kwargs):
    while True:
        pass


def blocking(*args, **kwargs):
    threading.Event().wait()


# A fake OpenAI-compatible server with tool calling -------------------------------------------

def _arguments(tool: dict, question: str) -> dict:
    """Arguments a model might send for ``tool``, read off the question."""
    found = {}
    for name, spec in tool["function"]["parameters"].get("properties", {}).items():
        spec = resolved({**spec, "$defs": tool["function"]["parameters"].get("$defs", {})})
        values = allowed_values(spec)
        if values:
            wanted = "celsius" if "to Celsius" in question else "fahrenheit"
            found[name] = wanted if wanted in values else sorted(values)[0]
        elif spec.get("type") == "boolean":
            found[name] = True
        elif spec.get("type") in ("number", "integer"):
            found[name] = int(re.search(r"-?\d+", question).group())
        else:
            match = re.search(rf"{name}: (\w+)", question) or re.search(r"word: (\w+)", question)
            found[name] = match.group(1) if match else "x"
    return found


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FakeHandler)
        self.bodies: list[dict] = []
        self.answer = "The word has 3 of that letter."
        self.pick = 0  # the index of the tool a `required` choice calls
        self.cut = 0  # how many of n answers come back cut off, without tool_calls


class FakeHandler(BaseHTTPRequestHandler):
    server: FakeServer

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        tools, choice = body.get("tools") or [], body.get("tool_choice", "auto")
        question = next(m["content"] for m in body["messages"] if m["role"] == "user")
        messages = []
        for index in range(body.get("n", 1)):
            if index < self.server.cut:
                messages.append(({"role": "assistant", "content": "<tool_call>"}, "length"))
            elif tools and (choice == "required" or isinstance(choice, dict)):
                name = choice["function"]["name"] if isinstance(choice, dict) else \
                    tools[self.server.pick]["function"]["name"]
                tool = next(t for t in tools if t["function"]["name"] == name)
                call = {"id": f"call-{len(self.server.bodies)}-{index}", "type": "function",
                        "function": {"name": name,
                                     "arguments": json.dumps(_arguments(tool, question))}}
                messages.append(({"role": "assistant", "content": None, "tool_calls": [call]},
                                 "tool_calls"))
            else:
                messages.append(({"role": "assistant", "content": self.server.answer}, "stop"))
        if body.get("stream"):
            self._stream(messages)
            return
        self._send(200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                         "model": SERVED_MODEL_NAME,
                         "choices": [{"index": i, "message": m, "finish_reason": f}
                                     for i, (m, f) in enumerate(messages)]})

    def _send(self, status: int, answer: dict) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, messages: list) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        message, finish = messages[0]

        def chunk(delta: dict, finish_reason=None) -> None:
            event = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                     "model": SERVED_MODEL_NAME,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()

        chunk({"role": "assistant", "content": ""})
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            chunk({"tool_calls": [{"index": 0, **call}]})
        else:
            for piece in re.findall(r"\S+\s*", message["content"]):
                chunk({"content": piece})
        chunk({}, finish)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


@pytest.fixture
def fake_server(monkeypatch):
    """The learner's OpenAI-compatible server is a fake with tool calling, in this process."""
    from helpers.course.servers import KINDS

    fake = FakeServer()
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    monkeypatch.delenv(KINDS["openai"].remote_variable, raising=False)
    monkeypatch.setenv(KINDS["openai"].port_variable, str(fake.server_address[1]))
    try:
        yield fake
    finally:
        fake.shutdown()
        fake.server_close()


def client():
    from openai import OpenAI

    from helpers.checks import server

    return OpenAI(base_url=server.base_url("openai") + "/v1", api_key="EMPTY", max_retries=0)


# Chapter 11, exercise 1: a tool of your own --------------------------------------------------

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


def palindrome_numpy(word: str) -> bool:
    """Tell whether a word reads the same backwards."""
    letters = np.array(list(word.lower()))
    return (letters == letters[::-1]).all()


def palindrome_level_only(word: str) -> bool:
    """The notebook's one question, answered: True."""
    return True


def palindrome_two_parameters(word: str, strict: bool) -> bool:
    """Tell whether a word reads the same backwards."""
    return word.lower() == word.lower()[::-1]


def palindrome_optional_case(word: str, ignore_case: bool = True) -> bool:
    """Tell whether a word reads the same backwards (capitals ignored unless told)."""
    word = word.lower() if ignore_case else word
    return word == word[::-1]


def palindrome(word: str) -> bool:
    """Tell whether a word reads the same backwards."""
    return word.lower() == word.lower()[::-1]


def reads_the_same(text: Annotated[str, "a word"]) -> bool:
    """Tell whether a word reads the same backwards (another name, another parameter)."""
    letters = text.casefold()
    return all(a == b for a, b in zip(letters, reversed(letters), strict=True))


def mirrored(word: str) -> bool:
    """Tell whether a word reads the same backwards (recursively, letter by letter)."""
    word = word.lower()
    return len(word) < 2 or (word[0] == word[-1] and mirrored(word[1:-1]))


@pytest.mark.parametrize("answer, message", [
    (palindrome_untyped, "has no type annotation"),
    (palindrome_no_docstring, "has no docstring"),
    (palindrome_printed, "returned None: `return` the answer"),
    (palindrome_case, "a capital letter changes nothing"),
    (palindrome_yes, "returned the string 'yes'; expected True or False"),
    (palindrome_numpy, "json.dumps, which cannot write a NumPy bool"),
    (palindrome_level_only, "'palindrome' does not read the same backwards"),
    (palindrome_two_parameters, "the tool takes one, the word"),
], ids=["untyped", "no-docstring", "printed", "case", "string", "numpy-bool", "always-true",
        "two-parameters"])
def test_ch11_ex1_known_mistakes(answer, message, capsys) -> None:
    result = verdict_given(ch11.exercise1, answer)
    assert result.passed is False and message in result.message, result.message


def test_ch11_ex1_a_right_tool_goes_on_to_the_server(nowhere, capsys) -> None:  # noqa: F811 (the fixture)
    result = verdict_given(ch11.exercise1, palindrome)
    assert result.passed is False and "did not answer" in result.message, result.message


@pytest.mark.parametrize("answer", [palindrome, reads_the_same, mirrored,
                                    palindrome_optional_case],
                         ids=["reference", "other-name", "recursive", "optional-parameter"])
def test_ch11_ex1_right_tools_pass(answer, fake_server, capsys) -> None:
    result = verdict_given(ch11.exercise1, answer)
    assert result.passed is True and "Rotavator" in result.message, result.message
    assert "the model chose is_palindrome itself" in result.message, result.message
    assert "right for 'Rotavator'" in result.message and "named" not in result.message
    assert all(body["tools"][0]["function"]["name"] == "is_palindrome"
               for body in fake_server.bodies)


def test_ch11_ex1_says_when_required_chose_the_other_tool(fake_server, capsys) -> None:
    fake_server.pick = 1  # `required` calls word_length, as the course's model often does
    result = verdict_given(ch11.exercise1, palindrome)
    assert result.passed is True, result.message
    assert "the model chose word_length, not your tool" in result.message, result.message
    assert "named is_palindrome in tool_choice" in result.message
    assert [body["tool_choice"] for body in fake_server.bodies][-1] == {
        "type": "function", "function": {"name": "is_palindrome"}}


def test_ch11_ex1_a_tool_wrong_on_the_models_own_word_fails(fake_server, capsys) -> None:
    calls = []

    def is_palindrome(word: str) -> bool:
        """Tell whether a word reads the same backwards (wrong past nine letters)."""
        calls.append(word)
        return word.lower() == word.lower()[::-1] if len(word) < 9 else False

    result = verdict_given(ch11.exercise1, is_palindrome)
    assert result.passed is False and "'Rotavator' reads the same backwards" in result.message


@pytest.mark.parametrize("answer", [endless, blocking], ids=["loop", "blocking"])
def test_ch11_ex1_a_hanging_tool_gets_a_verdict(answer, capsys) -> None:
    def hanging(word: str) -> bool:
        """Tell whether a word reads the same backwards."""
        return answer()

    with limits.scaled(0.02):
        result = verdict_given(ch11.exercise1, hanging)
    assert result.passed is False and "did not return within 0.2 s" in result.message


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


def convert_int_value(value: int, unit: Literal["celsius", "fahrenheit"]) -> float:
    """Convert a temperature to the given unit."""
    return value * 9 / 5 + 32 if unit == "fahrenheit" else (value - 32) * 5 / 9


def convert_saved(value: float, unit: Literal["celsius", "fahrenheit"]) -> float:
    """The notebook's one question, answered: 20 degrees are 68 Fahrenheit."""
    return 68.0


def convert_other_names(temperature: float, to: Literal["celsius", "fahrenheit"]) -> float:
    """Convert a temperature to the given unit."""
    return temperature * 9 / 5 + 32 if to == "fahrenheit" else (temperature - 32) * 5 / 9


def convert_capitalised(value: float, unit: Literal["Celsius", "Fahrenheit"]) -> float:
    """Convert a temperature to the given unit."""
    return value * 9 / 5 + 32 if unit == "Fahrenheit" else (value - 32) * 5 / 9


def convert(value: float, unit: Literal["celsius", "fahrenheit"]) -> float:
    """Convert a temperature to the given unit."""
    return value * 9 / 5 + 32 if unit == "fahrenheit" else (value - 32) * 5 / 9


class Unit(str, enum.Enum):  # noqa: UP042 (the classic str Enum, as learners write it)
    celsius = "celsius"
    fahrenheit = "fahrenheit"


def convert_enum(value: float, unit: Unit) -> float:
    """Convert a temperature to the given unit (a str Enum: the schema refers to $defs)."""
    if unit is Unit.fahrenheit:
        return value * 1.8 + 32
    return (value - 32) / 1.8


def convert_rounded_numpy(value: float, unit: Literal["celsius", "fahrenheit"]) -> float:
    """Convert a temperature to the given unit, rounded to a tenth of a degree."""
    factor = np.float64(9) / 5
    return round(value * factor + 32, 1) if unit == "fahrenheit" else \
        np.round((value - 32) / factor, 1)


def convert_two_literals(value: float,
                         unit: Literal["celsius"] | Literal["fahrenheit"]) -> float:
    """Convert a temperature to the given unit."""
    return {"fahrenheit": lambda v: v * 9 / 5 + 32, "celsius": lambda v: (v - 32) * 5 / 9}[
        unit](value)


@pytest.mark.parametrize("answer, message", [
    (convert_flipped, "That is the other direction"),
    (convert_str_unit, "has no enum, so the grammar lets the model write other strings"),
    (convert_no_docstring, "has no docstring"),
    (convert_text, "expected a number"),
    (convert_int_value, "the arguments do not fit your function's signature"),
    (convert_saved, "calling convert(37.5, 'fahrenheit') returned 68; expected 99.5"),
    (convert_other_names, "the tool takes two, convert(value, unit)"),
    (convert_capitalised, "the arguments do not fit your function's signature"),
], ids=["flipped", "str-unit", "no-docstring", "text", "int-value", "saved", "other-names",
        "capitalised"])
def test_ch11_ex2_known_mistakes(answer, message, capsys) -> None:
    result = verdict_given(ch11.exercise2, answer)
    assert result.passed is False and message in result.message, result.message


def test_ch11_ex2_a_right_tool_goes_on_to_the_server(nowhere, capsys) -> None:  # noqa: F811 (the fixture)
    result = verdict_given(ch11.exercise2, convert)
    assert result.passed is False and "did not answer" in result.message, result.message


def test_ch11_ex2_a_str_enum_is_an_enum_once_refs_are_resolved() -> None:
    schema = schema_of(convert_enum, "convert")
    assert allowed_values(schema["properties"]["unit"]) == {"celsius", "fahrenheit"}
    assert "$defs" not in schema


@pytest.mark.parametrize("answer", [convert, convert_enum, convert_rounded_numpy,
                                    convert_two_literals],
                         ids=["reference", "str-enum", "rounded-numpy", "two-literals"])
def test_ch11_ex2_right_tools_pass(answer, fake_server, capsys) -> None:
    result = verdict_given(ch11.exercise2, answer)
    assert result.passed is True and "451 degrees Fahrenheit" in result.message, result.message
    assert "values [451, 451, 451, 451, 451]" in result.message, result.message
    assert "cut" not in result.message and "without tool_calls" not in result.message


def test_ch11_ex2_says_how_many_calls_were_cut_off_when_some_were(fake_server, capsys) -> None:
    fake_server.cut = 2
    result = verdict_given(ch11.exercise2, convert)
    assert result.passed is True, result.message
    assert "2 came back without tool_calls (finish_reason 'length'" in result.message
    assert "units ['celsius', 'celsius', 'celsius']" in result.message, result.message


@pytest.mark.parametrize("answer", [endless, blocking], ids=["loop", "blocking"])
def test_ch11_ex2_a_hanging_tool_gets_a_verdict(answer, capsys) -> None:
    def hanging(value: float, unit: Literal["celsius", "fahrenheit"]) -> float:
        """Convert a temperature to the given unit."""
        return answer()

    with limits.scaled(0.02):
        result = verdict_given(ch11.exercise2, hanging)
    assert result.passed is False and "did not return within 0.6 s" in result.message


# Chapter 11, exercise 3: a streamed loop -----------------------------------------------------

def run_call(function, arguments_json):
    from pydantic import validate_call

    return validate_call(function)(**json.loads(arguments_json)), None


def tool_from(function):
    return tool_definition(function, function.__name__)


def reference_loop(question, functions, first_choice="required", max_rounds=3):
    """The notebook's solution: the openai client's stream helper."""
    messages = [{"role": "user", "content": question}]
    definitions = [tool_from(function) for function in functions.values()]
    tool_choice = first_choice
    for _ in range(max_rounds):
        with client().chat.completions.stream(
                model=SERVED_MODEL_NAME, messages=messages, tools=definitions,
                tool_choice=tool_choice, max_tokens=80, temperature=0) as stream:
            for event in stream:
                if event.type == "content.delta":
                    print(event.delta, end="", flush=True)
            message = stream.get_final_completion().choices[0].message
        if not message.tool_calls:
            print()
            return message.content, messages
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            result, problem = run_call(functions[call.function.name], call.function.arguments)
            messages.append({"role": "tool", "tool_call_id": call.id,
                             "content": json.dumps({"error": problem} if problem
                                                   else {"result": result})})
        tool_choice = "auto"
    raise RuntimeError(f"no answer after {max_rounds} rounds")


def create_stream_loop(question, functions, first_choice="required", max_rounds=3):
    """create(stream=True), the calls gathered from the chunks by hand; a while loop."""
    messages, tool_choice, rounds = [{"role": "user", "content": question}], first_choice, 0
    while rounds < max_rounds:
        rounds += 1
        text, calls = "", {}
        for chunk in client().chat.completions.create(
                model=SERVED_MODEL_NAME, messages=messages, stream=True, max_tokens=80,
                tools=[tool_from(f) for f in functions.values()], tool_choice=tool_choice):
            delta = chunk.choices[0].delta
            if delta.content:
                print(delta.content, end="", flush=True)
                text += delta.content
            for part in delta.tool_calls or []:
                entry = calls.setdefault(part.index, {"id": part.id, "type": "function",
                                                      "function": {"name": "", "arguments": ""}})
                entry["function"]["name"] += part.function.name or ""
                entry["function"]["arguments"] += part.function.arguments or ""
        if not calls:
            return text, messages
        messages.append({"role": "assistant", "content": text or None,
                         "tool_calls": list(calls.values())})
        messages += [{"role": "tool", "tool_call_id": c["id"], "content": str(
            functions[c["function"]["name"]](**json.loads(c["function"]["arguments"])))}
            for c in calls.values()]
        tool_choice = "auto"
    return None, messages


def requests_loop(question, functions, first_choice="required", max_rounds=3):
    """requests with stream=True, the server-sent events read line by line; a tuple back."""
    import requests

    from helpers.checks import server

    messages, tool_choice = [{"role": "user", "content": question}], first_choice
    for _ in range(max_rounds):
        text, calls = [], []
        with requests.post(server.base_url("openai") + "/v1/chat/completions", stream=True,
                           timeout=60, json={
                               "model": SERVED_MODEL_NAME, "messages": messages, "stream": True,
                               "tools": [tool_from(f) for f in functions.values()],
                               "tool_choice": tool_choice}) as response:
            for line in response.iter_lines(decode_unicode=True):
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                delta = json.loads(line[6:])["choices"][0]["delta"]
                if delta.get("content"):
                    print(delta["content"], end="", flush=True)
                    text.append(delta["content"])
                calls += delta.get("tool_calls") or []
        if not calls:
            return ("".join(text), tuple(messages))
        messages.append({"role": "assistant", "tool_calls": calls})
        for c in calls:
            result = functions[c["function"]["name"]](**json.loads(c["function"]["arguments"]))
            messages.append({"role": "tool", "tool_call_id": c["id"],
                             "content": json.dumps(result)})
        tool_choice = "auto"
    raise RuntimeError("no answer")


@pytest.mark.parametrize("answer", [reference_loop, create_stream_loop, requests_loop],
                         ids=["stream-helper", "create-stream", "requests"])
def test_ch11_ex3_right_loops_pass(answer, fake_server, capsys) -> None:
    result = verdict_given(ch11.exercise3, answer)
    assert result.passed is True and "banana" in result.message, result.message
    assert fake_server.bodies[0]["tool_choice"] == "required"


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
        return "".join(ANSWER_PIECES), messages

    return run_tools_streamed


def mangled(loop, *, conversation=None, printing=None, answer=None):
    """``loop`` (which really streams), with what it returns or prints changed."""

    def run_tools_streamed(question, functions, first_choice="required", max_rounds=3):
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            text, messages = loop(question, functions, first_choice, max_rounds)
        messages = conversation(messages) if conversation else messages
        for piece in (printing(text) if printing else [out.getvalue()]):
            print(piece, end="", flush=True)
        return (answer if answer is not None else text), messages

    return run_tools_streamed


def not_streamed(question, functions, first_choice="required", max_rounds=3):
    messages, tool_choice = [{"role": "user", "content": question}], first_choice
    for _ in range(max_rounds):
        message = client().chat.completions.create(
            model=SERVED_MODEL_NAME, messages=messages, max_tokens=80,
            tools=[tool_from(f) for f in functions.values()],
            tool_choice=tool_choice).choices[0].message
        if not message.tool_calls:
            for word in message.content.split(" "):
                print(word, end=" ", flush=True)
            return message.content, messages
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            messages.append({"role": "tool", "tool_call_id": call.id, "content": str(
                functions[call.function.name](**json.loads(call.function.arguments)))})
        tool_choice = "auto"
    raise RuntimeError("no answer")


def result_left_out(question, functions, first_choice="required", max_rounds=3):
    """Streams both turns, but sends the call's result as an empty tool message."""
    messages, tool_choice = [{"role": "user", "content": question}], first_choice
    for _ in range(max_rounds):
        with client().chat.completions.stream(
                model=SERVED_MODEL_NAME, messages=messages, tool_choice=tool_choice,
                tools=[tool_from(f) for f in functions.values()]) as stream:
            for event in stream:
                if event.type == "content.delta":
                    print(event.delta, end="", flush=True)
            message = stream.get_final_completion().choices[0].message
        if not message.tool_calls:
            return message.content, messages
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            functions[call.function.name](**json.loads(call.function.arguments))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": "done"})
        tool_choice = "auto"
    raise RuntimeError("no answer")


def required_forever(question, functions, first_choice="required", max_rounds=3):
    """tool_choice stays 'required': every answer is a call; the loop has no bound."""
    messages = [{"role": "user", "content": question}]
    while True:
        with client().chat.completions.stream(
                model=SERVED_MODEL_NAME, messages=messages,
                tools=[tool_from(f) for f in functions.values()],
                tool_choice=first_choice) as stream:
            message = stream.get_final_completion().choices[0].message
        if not message.tool_calls:
            return message.content, messages
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls:
            messages.append({"role": "tool", "tool_call_id": call.id, "content": str(
                functions[call.function.name](**json.loads(call.function.arguments)))})


def required_each_round(question, functions, first_choice="required", max_rounds=3):
    """The reference, but tool_choice never goes back to 'auto': it gives up after
    max_rounds."""
    messages = [{"role": "user", "content": question}]
    for _ in range(max_rounds):
        with client().chat.completions.stream(
                model=SERVED_MODEL_NAME, messages=messages,
                tools=[tool_from(f) for f in functions.values()],
                tool_choice=first_choice) as stream:
            message = stream.get_final_completion().choices[0].message
        messages.append(message.model_dump(exclude_none=True))
        for call in message.tool_calls or []:
            messages.append({"role": "tool", "tool_call_id": call.id, "content": str(
                functions[call.function.name](**json.loads(call.function.arguments)))})
    raise RuntimeError(f"no answer after {max_rounds} rounds")


@pytest.mark.parametrize("answer, message", [
    (made_up_loop(), "without sending a request to your server"),
    (not_streamed, "was not streamed"),
    (mangled(reference_loop, conversation=lambda m: [x for x in m if x["role"] != "assistant"]),
     "Append the assistant's message"),
    (mangled(reference_loop, conversation=lambda m: [
        {**x, "tool_call_id": "count_letter"} if x["role"] == "tool" else x for x in m]),
     "which is the id of none of the calls"),
    (mangled(reference_loop, printing=lambda text: []), "was not printed"),
    (mangled(reference_loop, printing=lambda text: [text + "\n"]),
     "printed in one piece, after it was complete"),
    (mangled(reference_loop, printing=lambda text: ['{"word": ', '"banana"} ', *text.split()]),
     "contains the call's arguments"),
    (mangled(reference_loop, answer="The word has 3 r."), "your server's last streamed answer"),
    (required_each_round, "every one with tool_choice='required'"),
    (result_left_out, "but the tool messages your loop sent say"),
    (lambda question, functions: ("3", [{"role": "user", "content": question}]),
     "without sending a request"),
    (lambda question, functions: print("3"), "without sending a request"),
], ids=["never-asks", "not-streamed", "no-assistant", "wrong-id", "not-printed", "at-once",
        "arguments", "fixed-answer", "required-each-round", "result-left-out", "no-call",
        "returned-none"])
def test_ch11_ex3_known_mistakes(answer, message, fake_server, capsys) -> None:
    result = verdict_given(ch11.exercise3, answer)
    assert result.passed is False and message in result.message, result.message


def test_ch11_ex3_a_loop_that_keeps_requiring_calls_is_stopped_and_told(fake_server,
                                                                       capsys) -> None:
    start = time.monotonic()
    with limits.scaled(0.02):
        result = verdict_given(ch11.exercise3, required_forever)
    assert result.passed is False and "every one with tool_choice='required'" in result.message
    assert len(fake_server.bodies) >= 2 and time.monotonic() - start < 60


@pytest.mark.parametrize("answer", [endless, blocking], ids=["loop", "blocking"])
def test_ch11_ex3_a_hanging_loop_gets_a_verdict(answer, capsys) -> None:
    with limits.scaled(0.02):
        result = verdict_given(ch11.exercise3, answer)
    assert result.passed is False and "did not return within 3 s" in result.message


# On the real server, when it runs with tool calling ------------------------------------------

@pytest.fixture
def tool_server(openai_server, monkeypatch):
    """The session's OpenAI-compatible server, which conftest starts with tool calling on
    (TOOL_CALLING_ARGS, as chapter 11 restarts it)."""
    import requests

    monkeypatch.setenv("VLLM_COURSE_OPENAI_PORT", str(openai_server.port))
    monkeypatch.delenv("VLLM_OPENAI_URL", raising=False)
    probe = requests.post(f"{openai_server.url}/chat/completions", timeout=120, json={
        "model": SERVED_MODEL_NAME, "max_tokens": 20,
        "messages": [{"role": "user", "content": "word: level"}],
        "tools": [tool_from(palindrome)], "tool_choice": "required"})
    assert probe.status_code == 200, f"no tool calling on the session's server: {probe.text}"
    return openai_server


@pytest.mark.parametrize("exercise, answer", [(1, palindrome), (2, convert), (2, convert_enum)],
                         ids=["palindrome", "convert", "convert-enum"])
def test_ch11_right_tools_pass_on_the_server(exercise, answer, tool_server, capsys) -> None:
    result = verdict_given(ch11.chapter.exercises[exercise - 1], answer)
    assert result.passed is True, result.message


# The chapter's exercises ---------------------------------------------------------------------

@pytest.mark.parametrize("index, name", [(0, "def is_palindrome"), (1, "def convert"),
                                         (2, "def run_tools_streamed")])
def test_solution_is_the_notebooks_hidden_cell(index, name, capsys) -> None:
    code = ch11.chapter.exercises[index].solution()
    assert name in code and "reference=True" in code and not code.startswith("#@title")
