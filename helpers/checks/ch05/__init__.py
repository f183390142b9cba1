"""The checkers of chapter 05's exercises (the OpenAI API). See :mod:`helpers.checks.framework`.

Exercise 1 runs the learner's live chat on a question of the check's own (picked at random;
the notebook asks for a haiku about fog), with an ``update`` of the checker's that records what
the display would have shown, and watches the HTTP exchanges the learner's code makes through
the openai client (httpx) or ``requests``: the request (its path, ``stream``, its messages) and
the server's own answer, read as it arrives. It judges from the server's side that the stream
was a chat one (``chat.completion.chunk`` events, the check's question among the messages) and
that the text returned is what the server streamed. Exercise 2 feeds the learner's rebuilder
streams of server-sent events shaped as vLLM sends them (with and without the usage event),
then a real stream from the learner's server for a prompt and a ``max_tokens`` of the check's
own (the room's server, with its key, in a workshop).

Exercise 1's harness is apart: :mod:`~helpers.checks.ch05.exchanges` records the learner's HTTP
exchanges; :mod:`~helpers.checks.ch05.chat` judges the request, the updates and the errors.
"""

from __future__ import annotations

import inspect
import json
import random
from typing import Any

from helpers import settings
from helpers.checks import server
from helpers.checks.ch05.chat import check_updates, delta, judge_request, known_error
from helpers.checks.ch05.exchanges import watching
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe
from helpers.checks.values import as_list, whole

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

chapter = Chapter("05", "05_openai_migration.ipynb")
QUESTION = "Write a haiku about fog."  # the notebook's
#: Questions of the check's own, one picked at random for each check.
QUESTIONS = ["Name three colours of the sea.", "What is a good name for a grey cat?",
             "Describe rain in one sentence.", "Give two words that rhyme with moon.",
             "What do bees make?"]


# Exercise 1 -----------------------------------------------------------------------------------

@chapter.exercise("Live chat", hints=[
    "Loop over client.chat.completions.create(..., stream=True, messages=[{'role': 'user', "
    "'content': question}]): each event's choices[0].delta.content is the new text.",
    "Keep `text = ''` before the loop; in it, `text += event.choices[0].delta.content or ''` "
    "and `update(text)`; after it, `return text`. Skip events whose choices list is empty "
    "(the usage event, if you ask for one).",
], function="live_chat", limit=180)
def exercise1(live_chat: Any) -> str:
    try:
        inspect.signature(live_chat).bind(QUESTION, print)
    except ValueError:  # no signature to read (a builtin): let the call tell
        pass
    except TypeError:
        raise Wrong("your function does not take two arguments: write "
                    "live_chat(question, update), which calls update(text) with the text so "
                    "far after each event.") from None
    question = random.choice(QUESTIONS)
    shown: list[Any] = []
    doing = f"calling live_chat({question!r}, update) (the check's own question)"
    with watching() as exchanges:
        try:
            answer = call(live_chat, question, shown.append, doing=doing, limit=120)
        except AnswerRaised as raised:
            known = known_error(raised, doing)
            if known is None:
                raise
            raise Wrong(known) from None
    chat = judge_request(exchanges, question, doing)
    check_updates(shown, answer, doing)
    if chat is None:
        raise Wrong(f"{doing}: this check saw no request from your function (it watches the "
                    "openai client and requests), though update() was called: the text did not "
                    "come from your server. Stream it with client.chat.completions.create("
                    "..., stream=True).")
    streamed = "".join(delta(event) for event in chat.events())
    if answer != streamed:
        raise Wrong(f"{doing} returned {describe(answer, 50)}; your server streamed "
                    f"{describe(streamed, 50)} for that request: return the text the stream "
                    "gave, the deltas joined.")
    texts = [s for s in shown if s]
    return (f"a chat stream (its events are chat.completion.chunk, by your server) for the "
            f"check's own question; {len(texts)} updates, each the text so far, and the whole "
            f"answer returned ({len(answer)} characters: {describe(answer, 50)}).")


# Exercise 2 ---------------------------------------------------------------------------------

PIECES = [" city", " of", " hills", ",", " fog", " and", " café", "s"]


def _event(index: int, text: str, finish: str | None) -> dict:
    """An event of a vLLM completions stream, as ``json.loads`` gives it."""
    return {"id": "cmpl-checker", "object": "text_completion", "created": 1764547200 + index,
            "model": settings.SERVED_MODEL_NAME,
            "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish,
                         "stop_reason": None}],
            "usage": None}


def _made_up_stream(pieces: list[str], usage: bool) -> list[dict]:
    events = [_event(i, piece, "length" if i == len(pieces) - 1 else None)
              for i, piece in enumerate(pieces)]
    if usage:
        events.append({"id": "cmpl-checker", "object": "text_completion",
                       "created": 1764547300, "model": settings.SERVED_MODEL_NAME,
                       "choices": [], "usage": {"prompt_tokens": 5,
                                                "completion_tokens": len(pieces),
                                                "total_tokens": 5 + len(pieces)}})
    return events


#: Prompts of the check's own for the real stream (the notebook streams "San Francisco is a").
PROMPTS = ["The best way to learn is", "Every morning the baker", "In the old library",
           "The river ran"]


def _server_stream(prompt: str, max_tokens: int) -> list[dict]:
    """A real stream from the learner's server, parsed as the chapter parses it."""
    answer = server.ask("openai", "/v1/completions", {
        "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
        "stream_options": {"include_usage": True}})
    if answer.status != 200:
        raise Wrong(f"your OpenAI-compatible server answered {answer.status} to this check's "
                    f"own stream: {answer.error}")
    lines = [line.strip() for line in answer.text.splitlines() if line.strip()]
    return [json.loads(line.removeprefix("data: ")) for line in lines
            if line.startswith("data: ") and line != "data: [DONE]"]


@chapter.exercise("Rebuild a stream by hand", hints=[
    "Each event carries only the new text, in event['choices'][0]['text']: join them all. "
    "The last event (the usage) has an empty choices list.",
    "`with_choice = [e for e in events if e['choices']]`, then return "
    "`''.join(e['choices'][0]['text'] for e in with_choice), len(with_choice)`.",
], function="rebuild")
def exercise2(rebuild: Any) -> str:
    cases = [("a made-up stream of 8 events and the usage event", _made_up_stream(PIECES, True)),
             ("a made-up stream without the usage event", _made_up_stream(PIECES[:5], False)),
             ("a made-up stream of one event", _made_up_stream([" fog"], True))]
    for label, events in cases:
        _check_rebuild(rebuild, label, events)
    prompt, max_tokens = random.choice(PROMPTS), random.randint(4, 9)
    events = _server_stream(prompt, max_tokens)
    _check_rebuild(rebuild, f"a stream from your server for the check's own prompt {prompt!r} "
                   f"({len(events)} events)", events)
    usage = events[-1]["usage"]["completion_tokens"]
    with_choice = sum(1 for e in events if e["choices"])
    return (f"made-up streams, with and without the usage event, and one from your server: "
            f"the text rebuilt, and {with_choice} events with a choice for {usage} completion "
            "tokens.")


def _check_rebuild(rebuild: Any, label: str, events: list[dict]) -> None:
    doing = f"calling rebuild(events) on {label}"
    copy = json.loads(json.dumps(events))  # the learner's code may change what it is given
    try:
        result = call(rebuild, copy, doing=doing)
    except AnswerRaised as raised:
        error, text = raised.error, str(raised.error)
        if isinstance(error, IndexError):
            raise Wrong(f"{doing}, your code raised IndexError: {text}. The usage event "
                        "(stream_options include_usage) has an empty choices list: skip "
                        "events whose choices are empty.") from None
        if isinstance(error, KeyError) and text in ("'delta'", "'content'", "'message'"):
            raise Wrong(f"{doing}, your code raised KeyError: {text}. A completions event "
                        "holds its new text in e['choices'][0]['text']; delta.content "
                        "belongs to chat streams.") from None
        if isinstance(error, AttributeError) and "'dict' object" in text:
            raise Wrong(f"{doing}, your code raised AttributeError: {text}. The events here "
                        "are dicts parsed from JSON: e['choices'][0]['text'], not "
                        "e.choices[0].text (that is the openai client's objects).") from None
        raise
    with_choice = [e for e in events if e["choices"]]
    text = "".join(e["choices"][0]["text"] for e in with_choice)
    if isinstance(result, str):
        raise Wrong(f"{doing} returned one string, {describe(result, 40)}: return two values, "
                    "the text and the number of events that carry a choice.")
    two = as_list(result, "two values: the text and the number of events that carry a choice",
                  doing=doing)
    if len(two) != 2:
        raise Wrong(f"{doing} returned {describe(result)}; expected two values: the text and "
                    "the number of events that carry a choice.")
    rebuilt, count = two
    if not isinstance(rebuilt, str):
        raise Wrong(f"{doing}: your first value is {describe(rebuilt, 50)}; expected the text "
                    "(a str), the events' texts joined.")
    count = whole(count, "the number of events that carry a choice (a whole number)",
                  doing=doing)
    if rebuilt != text:
        last = with_choice[-1]["choices"][0]["text"] if with_choice else ""
        if rebuilt == last and len(with_choice) > 1:
            raise Wrong(f"{doing}: your text is the last event's text only, {describe(last)}. "
                        "SSE events carry deltas, not snapshots: join the texts of all "
                        "events.")
        raise Wrong(f"{doing}: your text is {describe(rebuilt, 50)}; the events' texts join "
                    f"to {describe(text, 50)}.")
    if count == len(events) and len(events) != len(with_choice):
        raise Wrong(f"{doing}: you counted {count} events, every one; only "
                    f"{len(with_choice)} carry a choice (the last, the usage event, has none).")
    if count != len(with_choice):
        raise Wrong(f"{doing}: you counted {describe(count)} events with a choice; there are "
                    f"{len(with_choice)}.")


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
