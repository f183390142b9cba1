"""The client helpers against the real server: answers, streams and typed errors.

The cases at the end run through both clients, the synchronous one (``helpers.client``,
on requests) and the async one (``helpers.aclient``, on httpx): they share one protocol
core, so the same request must give the same kind of answer or error either way.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import requests

from helpers import aclient, client
from helpers.errors import (
    APIConnectionError,
    APIStatusError,
    RequestTimeoutError,
    ServerUnreachableError,
    StreamInterruptedError,
    UnexpectedResponseError,
)
from helpers.ports import free_port
from tests.support import PROMPT


def test_seed_functions_round_trip(generate_url: str) -> None:
    texts = client.get_response(client.post_http_request(PROMPT, generate_url, max_tokens=4))
    assert len(texts) == 1 and texts[0].startswith(PROMPT)


def test_streaming_snapshots_grow_and_end_with_the_full_texts(generate_url: str) -> None:
    response = client.post_http_request(PROMPT, generate_url, n=2, stream=True,
                                        temperature=0.8, seed=3, max_tokens=8)
    snapshots = list(client.get_streaming_response(response))
    assert len(snapshots) >= 2 and all(len(s) == 2 for s in snapshots)
    assert all(new[i].startswith(old[i]) for old, new in zip(snapshots, snapshots[1:],
                                                             strict=False) for i in range(2))


def test_generate_uses_the_local_server_by_default(legacy_server, monkeypatch) -> None:
    monkeypatch.delenv("VLLM_API_URL", raising=False)
    assert client.generate_url() == legacy_server.url + "/generate"  # the session's port
    assert client.generate(PROMPT, max_tokens=2)[0].startswith(PROMPT)


def test_strip_prompt() -> None:
    assert client.strip_prompt("Hello world", "Hello") == " world"
    with pytest.raises(ValueError, match="exact prompt"):
        client.strip_prompt("Hello world", "Bye")


def test_a_non_json_answer_is_an_unexpected_response(legacy_server) -> None:
    with pytest.raises(UnexpectedResponseError, match="not JSON"):
        client.get_response(requests.get(legacy_server.url + "/metrics", timeout=10))




class SyncClient:
    name = "sync"

    def generate(self, url: str, prompt: str, **options) -> list[str]:
        return client.get_response(client.post_http_request(prompt, url, **options))

    def stream(self, url: str, prompt: str, **options) -> list[list[str]]:
        response = client.post_http_request(prompt, url, stream=True, **options)
        return list(client.get_streaming_response(response))


class AsyncClient:
    name = "async"

    def generate(self, url: str, prompt: str, **options) -> list[str]:
        async def run() -> list[str]:
            async with httpx.AsyncClient(timeout=aclient.DEFAULT_TIMEOUT) as http:
                return await aclient.agenerate(http, url, prompt, **options)
        return asyncio.run(run())

    def stream(self, url: str, prompt: str, **options) -> list[list[str]]:
        async def run() -> list[list[str]]:
            async with httpx.AsyncClient(timeout=aclient.DEFAULT_TIMEOUT) as http:
                return [s async for s in aclient.astream_generate(http, url, prompt, **options)]
        return asyncio.run(run())


@pytest.fixture(params=[SyncClient(), AsyncClient()], ids=lambda c: c.name)
def either(request):
    return request.param


def test_both_clients_return_every_candidate(either, generate_url: str) -> None:
    texts = either.generate(generate_url, PROMPT, n=2, temperature=0.8, seed=1, max_tokens=4)
    assert len(texts) == 2 and all(t.startswith(PROMPT) for t in texts)


def test_both_clients_stream_growing_snapshots(either, generate_url: str) -> None:
    snapshots = either.stream(generate_url, PROMPT, n=2, temperature=0.8, seed=3, max_tokens=8)
    assert len(snapshots) >= 2 and all(len(s) == 2 for s in snapshots)
    assert all(new[i].startswith(old[i]) for old, new in zip(snapshots, snapshots[1:],
                                                             strict=False) for i in range(2))


def test_both_clients_say_to_start_the_server(either) -> None:
    url = f"http://127.0.0.1:{free_port()}/generate"
    with pytest.raises(ServerUnreachableError) as info:
        either.generate(url, PROMPT)
    assert "Connection refused" in str(info.value) and "Start the server" in str(info.value)
    assert isinstance(info.value, APIConnectionError)


@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "stream"])
def test_both_clients_carry_the_servers_message_param_and_type(either, generate_url: str,
                                                               streaming) -> None:
    call = either.stream if streaming else either.generate
    with pytest.raises(APIStatusError) as info:
        call(generate_url, PROMPT, n=2, temperature=0)
    error = info.value
    assert (error.status_code, error.param, error.type) == (400, "n", "invalid_request_error")
    assert "Raise temperature" in error.message and "How to fix" in str(error)


def test_both_clients_name_a_wrong_path(either, legacy_server) -> None:
    with pytest.raises(APIStatusError) as info:
        either.generate(legacy_server.url + "/v1/completions", PROMPT)
    assert info.value.status_code == 404 and "/generate" in info.value.hint


@pytest.mark.parametrize("streaming", [False, True], ids=["plain", "stream"])
def test_both_clients_take_a_timeout_per_call(either, generate_url: str, streaming) -> None:
    """Without streaming the whole answer is late; a stream's first line is late too, since
    the server sends nothing before the first token (the prompt is processed first)."""
    call = either.stream if streaming else either.generate
    with pytest.raises((RequestTimeoutError, StreamInterruptedError)) as info:
        call(generate_url, "word " * 2000, max_tokens=500, ignore_eos=True, timeout=(5, 0.05))
    assert isinstance(info.value, APIConnectionError)
