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
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import random
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import requests

from helpers import settings
from helpers.checks import server
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe
from helpers.checks.values import as_list, whole

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

chapter = Chapter("05", "05_openai_migration.ipynb")
QUESTION = "Write a haiku about fog."  # the notebook's
#: Questions of the check's own, one picked at random for each check.
QUESTIONS = ["Name three colours of the sea.", "What is a good name for a grey cat?",
             "Describe rain in one sentence.", "Give two words that rhyme with moon.",
             "What do bees make?"]


# What the learner's code sends and what the server answers it ---------------------------------

class Exchange:
    """One HTTP request the learner's code sent, and the bytes the server answered."""

    def __init__(self, url: str, content: bytes | None) -> None:
        self.url, self.chunks, self.status = url, [], None
        try:
            self.body = json.loads(content) if content else None
        except (TypeError, ValueError):
            self.body = None

    @property
    def path(self) -> str:
        return urlparse(self.url).path

    def events(self) -> list[dict]:
        """The server's answer as JSON objects: each ``data:`` event of a stream, or the one
        body of a whole answer."""
        raw = b"".join(self.chunks).decode("utf-8", "replace")
        found = []
        for line in raw.splitlines():
            line = line.strip()
            if line.startswith("data:") and line[5:].strip() != "[DONE]":
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line[5:].strip()))
        if not found and raw.strip().startswith("{"):
            with contextlib.suppress(ValueError):
                found.append(json.loads(raw))
        return found


#: The HTTP libraries watched: httpx (and httpx2, which recent openai clients use), requests.
HTTPX_MODULES = ("httpx", "httpx2")


def _watch_httpx(module: Any, exchanges: list[Exchange]) -> Any:
    """Replace ``module.Client.send`` with one that records; returns the original."""
    original = module.Client.send

    class Tee(module.SyncByteStream):
        def __init__(self, stream: Any, exchange: Exchange) -> None:
            self.stream, self.exchange = stream, exchange

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self.stream:
                self.exchange.chunks.append(chunk)
                yield chunk

        def close(self) -> None:
            self.stream.close()

    def send(client: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        exchange = Exchange(str(request.url), request.content)
        exchanges.append(exchange)
        response = original(client, request, *args, **kwargs)
        exchange.status = response.status_code
        if kwargs.get("stream"):
            response.stream = Tee(response.stream, exchange)
        else:
            exchange.chunks = [response.content]
        return response

    module.Client.send = send
    return original


def _watch_requests(exchanges: list[Exchange]) -> Any:
    original = requests.Session.send

    def send(session: Any, request: Any, **kwargs: Any) -> Any:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        exchange = Exchange(request.url, body)
        exchanges.append(exchange)
        response = original(session, request, **kwargs)
        exchange.status = response.status_code
        if not kwargs.get("stream"):
            exchange.chunks = [response.content]
            return response
        reader = response.iter_content

        def iter_content(*args: Any, **options: Any) -> Iterator[bytes]:
            for chunk in reader(*args, **options):
                exchange.chunks.append(chunk if isinstance(chunk, bytes) else chunk.encode())
                yield chunk

        response.iter_content = iter_content
        return response

    requests.Session.send = send
    return original


@contextlib.contextmanager
def watching() -> Iterator[list[Exchange]]:
    """Record the requests sent through httpx (the openai client) and requests inside the
    block, and what their server answered (a stream as the caller reads it)."""
    exchanges: list[Exchange] = []
    restore = []
    try:
        for name in HTTPX_MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            restore.append((module.Client, _watch_httpx(module, exchanges)))
        restore.append((requests.Session, _watch_requests(exchanges)))
        yield exchanges
    finally:
        for owner, send in restore:
            owner.send = send


def _user_texts(messages: Any) -> list[str]:
    """The texts of the user messages of a chat request (a content string or text parts)."""
    texts = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(part.get("text", "") for part in content if isinstance(part, dict))
    return texts


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
            known = _known_error(raised, doing)
            if known is None:
                raise
            raise Wrong(known) from None
    chat = _judge_request(exchanges, question, doing)
    _check_updates(shown, answer, doing)
    if chat is None:
        raise Wrong(f"{doing}: this check saw no request from your function (it watches the "
                    "openai client and requests), though update() was called: the text did not "
                    "come from your server. Stream it with client.chat.completions.create("
                    "..., stream=True).")
    streamed = "".join(_delta(event) for event in chat.events())
    if answer != streamed:
        raise Wrong(f"{doing} returned {describe(answer, 50)}; your server streamed "
                    f"{describe(streamed, 50)} for that request: return the text the stream "
                    "gave, the deltas joined.")
    texts = [s for s in shown if s]
    return (f"a chat stream (its events are chat.completion.chunk, by your server) for the "
            f"check's own question; {len(texts)} updates, each the text so far, and the whole "
            f"answer returned ({len(answer)} characters: {describe(answer, 50)}).")


def _delta(event: dict) -> str:
    choices = event.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    return (choices[0].get("delta") or {}).get("content") or ""


def _judge_request(exchanges: list[Exchange], question: str, doing: str) -> Exchange | None:
    """The learner's chat request, judged by what it sent and what the server answered;
    None when the check saw no request at all."""
    if not exchanges:
        return None
    chats = [e for e in exchanges if e.path.endswith("/chat/completions")]
    if not chats:
        completions = [e for e in exchanges if e.path.endswith("/completions")]
        if completions:
            kinds = sorted({str(e.get("object")) for e in completions[0].events()})
            answered = f", which your server answered with {', '.join(kinds)} events" \
                if kinds else ""
            raise Wrong(f"{doing}: your function sent a completions request (POST "
                        f"{completions[0].path}, a prompt{answered}): this exercise asks for "
                        "a chat. Use "
                        "client.chat.completions.create(messages=[{'role': 'user', 'content': "
                        "question}], stream=True).")
        paths = ", ".join(sorted({e.path for e in exchanges}))
        raise Wrong(f"{doing}: your function sent requests to {paths}, none of them a chat "
                    "(/v1/chat/completions).")
    chat = chats[-1]
    body = chat.body if isinstance(chat.body, dict) else {}
    if chat.status != 200:
        events = chat.events()
        said = events[0] if events else b"".join(chat.chunks)[:120]
        raise Wrong(f"{doing}: your server answered your chat request with {chat.status}: "
                    f"{describe(said, 120)}.")
    if not body.get("stream"):
        raise Wrong(f"{doing}: your chat request did not ask for a stream (its body has "
                    f"stream={body.get('stream')!r}): pass stream=True, so that the display "
                    "follows the tokens as they come.")
    users = _user_texts(body.get("messages"))
    if not any(question in text for text in users):
        raise Wrong(f"{doing}: your chat request's user messages were {describe(users, 80)}, "
                    "without the question your function was given: send "
                    "messages=[{'role': 'user', 'content': question}].")
    kinds = {event.get("object") for event in chat.events()}
    if "chat.completion.chunk" not in kinds:
        raise Wrong(f"{doing}: your server's answer to your request had events of kind "
                    f"{sorted(map(str, kinds))}, not chat.completion.chunk: was it a chat "
                    "stream?")
    return chat


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
