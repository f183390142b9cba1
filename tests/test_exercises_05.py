"""The checkers of chapter 05 (helpers.checks.ch05).

Every known mistake, written as a small wrong answer, gets its own message. The answers here
need no server: the live chats stream made-up events built from the openai package's own types
(the objects its client yields), and the rebuilders fail on the checker's made-up streams,
which come before the real one. The reference solutions pass against the real servers in the
notebook, under nbval.
"""

from __future__ import annotations

import json

import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from helpers.checks import ch05

WORDS = ["Fog", " rolls", " over", " the", " bay", "."]


def chunk(content: str | None, role: str | None = None, finish: str | None = None,
          choices: bool = True) -> ChatCompletionChunk:
    """One event of a chat stream, as the openai client yields it."""
    delta = {"content": content, **({"role": role} if role else {})}
    return ChatCompletionChunk.model_validate({
        "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else [],
        "usage": None if choices else {"prompt_tokens": 5, "completion_tokens": 6,
                                       "total_tokens": 11}})


def chat_stream(first: str | None = "", usage: bool = False) -> list[ChatCompletionChunk]:
    events = [chunk(first, role="assistant"), *(chunk(w) for w in WORDS),
              chunk(None, finish="stop")]
    return events + ([chunk(None, choices=False)] if usage else [])


WHOLE = ChatCompletion.model_validate({
    "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "".join(WORDS)}}]})


def live_chat_over(events, step):
    """A live chat over ``events``; ``step(text, event)`` returns the new text so far."""
    def live_chat(question, update):
        text = ""
        for event in events:
            text = step(text, event)
            update(text)
        return text
    return live_chat


def good_step(text, event):
    return text + (event.choices[0].delta.content or "") if event.choices else text


def test_ch05_ex1_a_live_chat_passes(capsys) -> None:
    assert ch05.exercise1.check(live_chat_over(chat_stream(usage=True), good_step))


def pieces_only(question, update):
    for event in chat_stream():
        update(event.choices[0].delta.content or "")
    return "".join(WORDS)


def markdown_while_streaming(question, update):
    from IPython.display import Markdown
    text = ""
    for word in WORDS:
        text += word
        update(Markdown(text))
    return text


def no_return(question, update):
    live_chat_over(chat_stream(), good_step)(question, update)


def not_streamed(question, update):
    update(WHOLE.choices[0].message.content)
    return WHOLE.choices[0].message.content


@pytest.mark.parametrize("answer, message", [
    (live_chat_over(chat_stream(first=None), lambda text, e: text + e.choices[0].delta.content),
     "add `or ''`"),
    (live_chat_over(WHOLE, good_step), "pass stream=True"),
    (live_chat_over(chat_stream(), lambda text, e: text + (e.choices[0].text or "")),
     "a chat stream's events carry the new text in choices[0].delta.content"),
    (live_chat_over(chat_stream(usage=True),
                    lambda text, e: text + (e.choices[0].delta.content or "")),
     "skip events without choices"),
    (pieces_only, "pass the text so far"),
    (markdown_while_streaming, "pass the plain text while streaming"),
    (not_streamed, "the whole answer at once"),
    (no_return, "returned None"),
    (lambda question: "", "does not take two arguments"),
], ids=["none-content", "not-streamed-loop", "completions-text", "usage-event", "pieces",
        "markdown", "not-streamed", "no-return", "one-argument"])
def test_ch05_ex1_known_mistakes(answer, message, capsys) -> None:
    result = ch05.exercise1.check(answer)
    assert result.passed is False and message in result.message, result.message


def test_ch05_ex1_an_error_of_the_server_is_named(capsys) -> None:
    def live_chat(question, update):
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    result = ch05.exercise1.check(live_chat)
    assert "your code raised ConnectionRefusedError" in result.message
    assert "in live_chat" in result.message


# Chapter 05, exercise 2: rebuild a stream (the made-up streams come before the server's) ----

def good_rebuild(events):
    with_choice = [e for e in events if e["choices"]]
    return "".join(e["choices"][0]["text"] for e in with_choice), len(with_choice)


@pytest.mark.parametrize("answer, message", [
    (lambda events: ("".join(e["choices"][0]["text"] for e in events), len(events)),
     "has an empty choices list: skip events whose choices are empty"),
    (lambda events: ("".join(e["choices"][0]["delta"]["content"] for e in events if e["choices"]),
                     0), "delta.content belongs to chat streams"),
    (lambda events: ("".join(e.choices[0].text for e in events if e.choices), 0),
     "not e.choices[0].text"),
    (lambda events: (good_rebuild(events)[0], len(events)), "you counted 9 events, every one"),
    (lambda events: ([e for e in events if e["choices"]][-1]["choices"][0]["text"],
                     good_rebuild(events)[1]), "SSE events carry deltas, not snapshots"),
    (lambda events: good_rebuild(events)[0], "return two values"),
    (lambda events: {"text": good_rebuild(events)[0]}, "expected two values"),
], ids=["usage-event", "chat-keys", "attributes", "count-all", "last-only", "text-only",
        "dict"])
def test_ch05_ex2_known_mistakes(answer, message, capsys) -> None:
    result = ch05.exercise2.check(answer)
    assert result.passed is False and message in result.message, result.message


def test_ch05_ex2_the_made_up_streams_are_shaped_like_the_chapters(capsys) -> None:
    """The checker's events are what the chapter's parsing gives: a usage event without
    choices last, every other event with one choice that has a text."""
    events = ch05._made_up_stream(ch05.PIECES, True)
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 8
    assert good_rebuild(json.loads(json.dumps(events))) == ("".join(ch05.PIECES), 8)
    assert events[-2]["choices"][0]["finish_reason"] == "length"


def test_ch05_without_a_server_the_check_says_to_start_it(monkeypatch, capsys) -> None:
    monkeypatch.setenv("VLLM_OPENAI_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    result = ch05.exercise2.check(good_rebuild)
    assert result.passed is False and "which did not answer" in result.message
    assert "start_server('openai')" in result.message



def test_solutions_are_the_notebooks_hidden_cells(capsys) -> None:
    for number, name in enumerate(["def live_chat", "def rebuild"], 1):
        code = getattr(ch05, f"exercise{number}").solution()
        assert name in code and not code.startswith("#@title")
        assert f"exercise{number}.check(" in code and "reference=True" in code
