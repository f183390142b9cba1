"""The checkers of chapter 05 (helpers.checks.ch05), both ways.

Every known mistake, written as a small wrong answer, gets its own message. Most need no
server: the live chats stream made-up events built from the openai package's own types (the
objects its client yields), and the rebuilders fail on the checker's made-up streams, which
come before the real one. The tests with the `openai_server` fixture stream from the session's
OpenAI-compatible server: correct live chats written in other styles (the openai client, plain
requests, httpx) pass; a completions stream, a fixed question, a non-streamed chat and a
text that is not the server's fail, each with its message.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import numpy as np
import pytest
import requests
from openai import OpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from helpers import settings
from helpers.checks import ch05, limits
from tests.support import nowhere  # noqa: F401 (a fixture)

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


def test_ch05_ex1_a_live_chat_of_made_up_events_never_asked_the_server(capsys) -> None:
    """Right in shape (updates with the text so far, the whole text returned), but no
    request: the check says it saw none."""
    result = ch05.exercise1.check(live_chat_over(chat_stream(usage=True), good_step))
    assert result.passed is False and "saw no request from your function" in result.message


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


def test_ch05_without_a_server_the_check_says_to_start_it(nowhere, capsys) -> None:  # noqa: F811
    result = ch05.exercise2.check(good_rebuild)
    assert result.passed is False and "which did not answer" in result.message
    assert "start_server('openai')" in result.message



def test_solutions_are_the_notebooks_hidden_cells(capsys) -> None:
    for number, name in enumerate(["def live_chat", "def rebuild"], 1):
        code = getattr(ch05, f"exercise{number}").solution()
        assert name in code and not code.startswith("#@title")
        assert f"exercise{number}.check(" in code and "reference=True" in code


def test_ch05_ex2_correct_answers_in_other_types_pass_on_made_up_streams(capsys) -> None:
    """Other styles and types (a list, a generator, NumPy's count, a float count): the made-up
    streams are judged before the server's; each answer must pass them all."""
    def loop(events):
        text, count = "", 0
        for event in events:
            if event["choices"]:
                text += event["choices"][0]["text"]
                count += 1
        return [text, np.int64(count)]

    def generator(events):
        pieces = [e["choices"][0]["text"] for e in events if len(e["choices"]) > 0]
        yield "".join(pieces)
        yield float(len(pieces))

    def with_map(events):
        texts = list(map(lambda e: e["choices"][0]["text"], filter(lambda e: e["choices"],
                                                                  events)))
        return "".join(texts), len(texts)

    for answer in (loop, generator, with_map):
        for label, events in (("usage", ch05._made_up_stream(ch05.PIECES, True)),
                              ("no usage", ch05._made_up_stream(ch05.PIECES[:3], False))):
            ch05._check_rebuild(answer, label, events)  # raises Wrong if judged wrong


def test_ch05_ex2_correct_answers_pass_on_the_servers_stream(openai_server, capsys) -> None:
    def loop(events):
        text, count = "", 0
        for event in events:
            for choice in event["choices"][:1]:
                text += choice["text"]
                count += 1
        return (text, np.int64(count))

    for answer in (good_rebuild, loop, lambda events: iter(good_rebuild(events))):
        result = ch05.exercise2.check(answer)
        assert result.passed, result.message


def test_ch05_ex2_values_copied_from_the_saved_output_fail(capsys) -> None:
    result = ch05.exercise2.check(lambda events: (" city of the sea, with", 6))
    assert result.passed is False and "the events' texts join to" in result.message
    result = ch05.exercise2.check(lambda events: (good_rebuild(events)[0], "8"))
    assert result.passed is False and "expected the number of events" in result.message


def endless(*args):
    while True:
        pass


def blocked(*args):
    threading.Event().wait()


@pytest.mark.parametrize("exercise", [ch05.exercise1, ch05.exercise2], ids=["ex1", "ex2"])
@pytest.mark.parametrize("answer", [endless, blocked], ids=["endless", "blocking"])
def test_ch05_answers_that_hang_get_a_verdict(exercise, answer, capsys) -> None:
    begun = time.monotonic()
    with limits.scaled(0.02):
        result = exercise.check(answer)
    assert result.passed is False and "did not return within" in result.message, result.message
    assert time.monotonic() - begun < 30


# Chapter 05, exercise 1 against the session's OpenAI-compatible server -----------------------

@pytest.fixture
def client(openai_server):
    return OpenAI(base_url=openai_server.url, api_key=settings.api_key() or "EMPTY")


def openai_chat(client, **options):
    def live_chat(question, update):
        text = ""
        for event in client.chat.completions.create(
                model=settings.SERVED_MODEL_NAME, max_tokens=10,
                messages=[{"role": "user", "content": question}], **options):
            if event.choices:
                text += event.choices[0].delta.content or ""
                update(text)
        return text
    return live_chat


def chat_over_requests(base):
    def live_chat(question, update):
        body = {"model": settings.SERVED_MODEL_NAME, "max_tokens": 10, "stream": True,
                "messages": [{"role": "system", "content": "Be brief."},
                             {"role": "user", "content": question}]}
        parts = []
        with requests.post(f"{base}/chat/completions", json=body, stream=True, timeout=60,
                           headers=settings.auth_headers()) as response:
            for line in response.iter_lines(decode_unicode=True):
                if line.startswith("data: ") and line != "data: [DONE]":
                    event = json.loads(line[6:])
                    if event["choices"]:
                        parts.append(event["choices"][0]["delta"].get("content") or "")
                        update("".join(parts))
        return "".join(parts)
    return live_chat


def chat_over_httpx(base):
    def live_chat(question, update):
        body = {"model": settings.SERVED_MODEL_NAME, "max_tokens": 10, "stream": True,
                "messages": [{"role": "user", "content": [{"type": "text", "text": question}]}],
                "stream_options": {"include_usage": True}}
        text = ""
        with httpx.stream("POST", f"{base}/chat/completions", json=body, timeout=60,
                          headers=settings.auth_headers()) as response:
            for line in response.iter_lines():
                if line.startswith("data:") and "[DONE]" not in line:
                    choices = json.loads(line[5:])["choices"]
                    if choices and choices[0]["delta"].get("content"):
                        text = text + choices[0]["delta"]["content"]
                        update(text)
        return text
    return live_chat


def test_ch05_ex1_correct_live_chats_in_other_styles_pass(client, openai_server,
                                                           capsys) -> None:
    for answer in (openai_chat(client, stream=True),
                   openai_chat(client, stream=True, stream_options={"include_usage": True},
                               temperature=0),
                   chat_over_requests(openai_server.url), chat_over_httpx(openai_server.url)):
        result = ch05.exercise1.check(answer)
        assert result.passed, result.message
        assert "chat.completion.chunk" in result.message


def test_ch05_ex1_a_completions_stream_is_not_a_chat(client, capsys) -> None:
    def live_chat(question, update):
        text = ""
        for event in client.completions.create(model=settings.SERVED_MODEL_NAME, prompt=question,
                                               max_tokens=10, stream=True):
            text += event.choices[0].text or ""
            update(text)
        return text

    result = ch05.exercise1.check(live_chat)
    assert result.passed is False and "sent a completions request" in result.message
    assert "text_completion" in result.message  # what the server answered, as seen


def test_ch05_ex1_a_fixed_question_fails(client, capsys) -> None:
    chat = openai_chat(client, stream=True)
    result = ch05.exercise1.check(lambda question, update: chat(ch05.QUESTION, update))
    assert result.passed is False and "without the question your function was given" \
        in result.message


def test_ch05_ex1_a_whole_answer_shown_piece_by_piece_is_not_a_stream(client, capsys) -> None:
    def live_chat(question, update):
        whole = client.chat.completions.create(
            model=settings.SERVED_MODEL_NAME, max_tokens=10,
            messages=[{"role": "user", "content": question}]).choices[0].message.content
        text = ""
        for word in whole.split(" "):
            text += word + " "
            update(text)
        return text

    result = ch05.exercise1.check(live_chat)
    assert result.passed is False and "did not ask for a stream" in result.message


def test_ch05_ex1_a_text_that_is_not_the_servers_fails(client, capsys) -> None:
    chat = openai_chat(client, stream=True)

    def live_chat(question, update):  # consistent updates, but not the server's text
        return "Sure! " + chat(question, lambda text: update("Sure! " + text))

    result = ch05.exercise1.check(live_chat)
    assert result.passed is False and "your server streamed" in result.message, result.message
