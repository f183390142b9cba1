"""What the learner's server counts: chapter 08's checks compare the learner's numbers with the
server's own ``/tokenize`` counts and a real request's ``usage``.

Used by :mod:`helpers.checks.ch08` (all three exercises) and its harness
(:mod:`~helpers.checks.ch08.fitting`, :mod:`~helpers.checks.ch08.shares`): :func:`count` is the
prompt tokens of a chat request as ``/tokenize`` counts them, :func:`used_in_chat` the
``usage.prompt_tokens`` of a real chat request, :func:`text_only` the messages' text alone.
"""

from __future__ import annotations

from helpers.checks import server

__all__ = ["count", "text_only", "used_in_chat"]


def count(messages: list, generation_prompt: bool = True) -> int:
    """Prompt tokens of a chat request with ``messages``, as the server's ``/tokenize``
    counts them."""
    return server.ask_ok("openai", "/tokenize", {
        "messages": messages, "add_generation_prompt": generation_prompt})["count"]


def used_in_chat(messages: list) -> int:
    """``usage.prompt_tokens`` of a real chat request (one token generated)."""
    return server.ask_ok("openai", "/v1/chat/completions", {
        "messages": messages, "max_tokens": 1})["usage"]["prompt_tokens"]


def text_only(messages: list) -> int:
    return sum(server.ask_ok("openai", "/tokenize", {"prompt": m["content"]})["count"]
               for m in messages)
