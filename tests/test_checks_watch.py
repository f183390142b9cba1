"""The one way the checks' recorders patch a client (`helpers.checks.watch.sends_wrapped`),
fed an in-process httpx transport: no server."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import requests

from helpers.checks import watch
from helpers.checks.ch05 import exchanges
from helpers.checks.ch06 import timed


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"echo": request.url.path})


def _sends() -> tuple:
    return httpx.Client.send, httpx.AsyncClient.send, requests.Session.send


def test_a_wrapped_send_is_used_inside_the_block_and_restored_after_an_error() -> None:
    before, calls = _sends(), []

    def wrap(original):
        def send(client, request, *args, **options):
            calls.append(request.url.path)
            return original(client, request, *args, **options)
        return send

    with pytest.raises(RuntimeError), watch.sends_wrapped([(httpx.Client, wrap)]):
        httpx.Client(transport=httpx.MockTransport(_answer)).get("http://x/inside")
        raise RuntimeError("the learner's code failed")
    httpx.Client(transport=httpx.MockTransport(_answer)).get("http://x/after")
    assert calls == ["/inside"] and _sends() == before


def test_the_three_recorders_each_see_the_request_sent_in_their_block() -> None:
    before = _sends()
    with watch.watching() as seen, exchanges.watching() as exchanged:
        httpx.Client(transport=httpx.MockTransport(_answer)).post("http://x/v1/chat/completions",
                                                                   json={"max_tokens": 3})
    assert [(s.path, s.body, s.answer) for s in seen] == [
        ("/v1/chat/completions", {"max_tokens": 3}, {"echo": "/v1/chat/completions"})]
    assert [(e.path, e.body, e.events()) for e in exchanged] == [
        ("/v1/chat/completions", {"max_tokens": 3}, [{"echo": "/v1/chat/completions"}])]

    async def timed_post() -> list:
        async with httpx.AsyncClient(transport=httpx.MockTransport(_answer)) as client:
            with timed.watching() as watched:
                await client.post("http://x/v1/completions", json={"max_tokens": 5})
        return watched

    watched = asyncio.run(timed_post())
    assert [(w.path, w.max_tokens) for w in watched] == [("/v1/completions", 5)]
    assert watched[0].first is not None and watched[0].sent <= watched[0].first
    assert _sends() == before
