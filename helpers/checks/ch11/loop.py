"""The learner's streamed tool loop seen from both sides: chapter 11's exercise 3 reads what
the loop printed, the requests it sent and the conversation it returned.

Used by :mod:`helpers.checks.ch11`: :class:`Printed` keeps each write to stdout apart (pieces
printed as they arrived); :func:`judge_requests` reads the requests
:mod:`helpers.checks.watch` recorded (streamed, ``tool_choice='required'`` first and only
first); :func:`check_results_sent` finds the tool's results in the later requests;
:func:`check_conversation` reads the returned messages (each tool message after its call, with
its id); :func:`streamed_text` is the text a streamed answer carried, :func:`as_dict` a message
as a dict.
"""

from __future__ import annotations

import io
from typing import Any

from helpers.checks.framework import Wrong, describe
from helpers.checks.watch import Sent

__all__ = ["Printed", "as_dict", "check_conversation", "check_results_sent", "judge_requests",
           "streamed_text"]


class Printed(io.StringIO):
    """stdout while the learner's loop runs: keeps each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        if text:
            self.writes.append(text)
        return super().write(text)


def as_dict(message: Any) -> dict:
    if hasattr(message, "model_dump"):
        return message.model_dump(exclude_none=True)
    return message if isinstance(message, dict) else {}


def streamed_text(sent: Sent) -> str | None:
    """The content a streamed chat answer carried (None when the check could not read it)."""
    events = sent.events()
    if not events:
        return None
    return "".join(((c.get("delta") or {}).get("content") or "")
                   for event in events for c in event.get("choices") or []
                   if c.get("index", 0) == 0)


def judge_requests(sent: list[Sent], doing: str, *, failed: bool) -> None:
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


def check_results_sent(asked: list[Sent], results: list[int], doing: str) -> None:
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


def check_conversation(messages: list[dict], doing: str) -> None:
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
