"""The checkers of chapter 05's exercises (the OpenAI API). See :mod:`helpers.checks.framework`.

Exercise 1 runs the learner's live chat, which streams from the learner's OpenAI-compatible
server through the notebook's ``client``, with an ``update`` of the checker's that records
what the display would have shown. Exercise 2 feeds the learner's rebuilder streams of
server-sent events shaped as vLLM sends them (with and without the usage event), then a
real stream from the learner's server (the room's, with its key, in a workshop).
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from helpers import settings
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

chapter = Chapter("05", "05_openai_migration.ipynb")
QUESTION = "Write a haiku about fog."


@chapter.exercise("Live chat", hints=[
    "Loop over client.chat.completions.create(..., stream=True, messages=[{'role': 'user', "
    "'content': question}]): each event's choices[0].delta.content is the new text.",
    "Keep `text = ''` before the loop; in it, `text += event.choices[0].delta.content or ''` "
    "and `update(text)`; after it, `return text`. Skip events whose choices list is empty "
    "(the usage event, if you ask for one).",
], function="live_chat")
def exercise1(live_chat: Any) -> str:
    try:
        inspect.signature(live_chat).bind(QUESTION, print)
    except ValueError:  # no signature to read (a builtin): let the call tell
        pass
    except TypeError:
        raise Wrong("your function does not take two arguments: write "
                    "live_chat(question, update), which calls update(text) with the text so "
                    "far after each event.") from None
    shown: list[Any] = []
    doing = f"calling live_chat({QUESTION!r}, update)"
    try:
        answer = call(live_chat, QUESTION, shown.append, doing=doing)
    except AnswerRaised as raised:
        known = _known_error(raised, doing)
        if known is None:
            raise
        raise Wrong(known) from None
    _check_updates(shown, answer, doing)
    texts = [s for s in shown if s]
    return (f"{len(texts)} updates, each the text so far, and the whole answer returned "
            f"({len(answer)} characters: {describe(answer, 50)}).")


def _known_error(raised: AnswerRaised, doing: str) -> str | None:
    """The specific message for an exception a live chat typically raises, else None."""
    error, text = raised.error, str(raised.error)
    name = type(error).__name__
    if isinstance(error, TypeError) and "NoneType" in text:
        return (f"{doing}, your code raised {name}: {text}. An event's delta.content can be "
                "None (an event with only the role, or only the finish_reason): add "
                "`or ''`, as in text += event.choices[0].delta.content or ''.")
    if isinstance(error, AttributeError) and "'tuple' object" in text:
        return (f"{doing}, your code raised {name}: {text}. Without stream=True the client "
                "returns one whole ChatCompletion, and looping over it gives its fields as "
                "tuples: pass stream=True to client.chat.completions.create.")
    if isinstance(error, AttributeError) and "attribute 'text'" in text:
        return (f"{doing}, your code raised {name}: {text}. choices[0].text belongs to "
                "completions; a chat stream's events carry the new text in "
                "choices[0].delta.content.")
    if isinstance(error, AttributeError) and "attribute 'message'" in text:
        return (f"{doing}, your code raised {name}: {text}. A whole chat answer has "
                "choices[0].message; a stream's events carry choices[0].delta instead "
                "(delta.content is the new text).")
    if isinstance(error, IndexError):
        return (f"{doing}, your code raised {name}: {text}. The usage event that "
                "stream_options={'include_usage': True} adds has an empty choices list: skip "
                "events without choices (`if event.choices:`).")
    return None


def _check_updates(shown: list, answer: Any, doing: str) -> None:
    if not shown:
        raise Wrong(f"{doing}: your function never called update(text). Call it after each "
                    "event with the text so far, so that the display follows the stream.")
    odd = next((s for s in shown if not isinstance(s, str)), None)
    if odd is not None and type(odd).__name__ == "Markdown":
        raise Wrong(f"{doing}: your function passed Markdown objects to update() while "
                    "streaming. A partial answer is often broken Markdown (chapter 02): pass "
                    "the plain text while streaming; the caller renders Markdown at the end.")
    if odd is not None:
        raise Wrong(f"{doing}: update() got {describe(odd, 50)}; expected the text so far "
                    "(a str). The caller decides how to show it.")
    texts = [s for s in shown if s]
    for before, after in zip(texts, texts[1:], strict=False):
        if not after.startswith(before):
            raise Wrong(f"{doing}: update() got {describe(before, 30)}, then "
                        f"{describe(after, 30)}: each event carries only the new text (a "
                        "delta), so pass the text so far, `text += delta`, not each piece.")
    if len(set(texts)) < 2:
        raise Wrong(f"{doing}: update() got the whole answer at once ({describe(texts, 50)}): "
                    "did you pass stream=True? A stream updates the display as the tokens "
                    "come.")
    if answer is None:
        raise Wrong(f"{doing} returned None: return the whole answer (the last text), so that "
                    "the caller can show it as Markdown at the end.")
    if answer != texts[-1]:
        raise Wrong(f"{doing} returned {describe(answer, 40)}, but the last update was "
                    f"{describe(texts[-1], 40)}: return the whole text, the same as the last "
                    "update.")


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


def _openai_v1() -> str:
    from helpers.servers import KINDS

    return KINDS["openai"].url()


def _server_stream(v1: str) -> list[dict]:
    """A real stream from the learner's server, parsed as the chapter parses it."""
    import requests

    body = {"model": settings.SERVED_MODEL_NAME, "prompt": settings.DEFAULT_PROMPT,
            "max_tokens": 6, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    try:
        with requests.post(f"{v1}/completions", headers=settings.auth_headers(), json=body,
                           stream=True, timeout=(5, 120)) as response:
            response.raise_for_status()
            lines = [line.decode("utf-8") for line in response.iter_lines() if line]
    except requests.RequestException as error:
        raise Wrong(f"this check streams from your OpenAI-compatible server, {v1}, which did "
                    f"not answer ({type(error).__name__}): run the chapter's first cells "
                    "(start_server('openai')), then this one again.") from None
    return [json.loads(line.removeprefix("data: ")) for line in lines if line != "data: [DONE]"]


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
    v1 = _openai_v1()
    events = _server_stream(v1)
    _check_rebuild(rebuild, f"a stream from your server ({len(events)} events)", events)
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
    if not (isinstance(result, tuple | list) and len(result) == 2):
        raise Wrong(f"{doing} returned {describe(result)}; expected two values: the text and "
                    "the number of events that carry a choice.")
    rebuilt, count = result
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
