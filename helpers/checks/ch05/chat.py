"""A live chat judged: chapter 05's exercise 1, from what the learner's function sent, what its
server streamed back, and what the function showed and returned.

Used by :mod:`helpers.checks.ch05`: :func:`judge_request` judges the chat request recorded by
:mod:`~helpers.checks.ch05.exchanges` (a chat, streamed, with the check's question; the server
answered ``chat.completion.chunk`` events); :func:`check_updates` judges the texts passed to
``update`` and the one returned; :func:`known_error` names what a live chat typically raises.
"""

from __future__ import annotations

from typing import Any

from helpers.checks.ch05.exchanges import Exchange
from helpers.checks.framework import AnswerRaised, Wrong, describe

__all__ = ["check_updates", "delta", "judge_request", "known_error"]


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


def delta(event: dict) -> str:
    """The new text a chat stream's event carries ("" when it has none)."""
    choices = event.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    return (choices[0].get("delta") or {}).get("content") or ""


def judge_request(exchanges: list[Exchange], question: str, doing: str) -> Exchange | None:
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


def known_error(raised: AnswerRaised, doing: str) -> str | None:
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


def check_updates(shown: list, answer: Any, doing: str) -> None:
    """What the learner's function passed to ``update`` (``shown``) and returned: the text so
    far at each event, growing, and the whole text at the end."""
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
