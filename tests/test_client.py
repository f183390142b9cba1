"""The client helpers against the real server: answers, streams and typed errors."""

from __future__ import annotations

import socket

import pytest
import requests

from helpers import client
from helpers.errors import (
    APIStatusError,
    RequestTimeoutError,
    ServerUnreachableError,
    UnexpectedResponseError,
)
from tests.conftest import PROMPT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def test_generate_and_stream_generate_use_the_local_server_by_default(legacy_server,
                                                                     monkeypatch) -> None:
    monkeypatch.delenv("VLLM_API_URL", raising=False)
    assert legacy_server.url == "http://127.0.0.1:8000"  # the tests' server is the default one
    assert client.generate(PROMPT, max_tokens=2)[0].startswith(PROMPT)
    assert list(client.stream_generate(PROMPT, max_tokens=2))[-1][0].startswith(PROMPT)


def test_strip_prompt() -> None:
    assert client.strip_prompt("Hello world", "Hello") == " world"
    with pytest.raises(ValueError, match="exact prompt"):
        client.strip_prompt("Hello world", "Bye")


def test_connection_refused_says_to_start_the_server() -> None:
    url = f"http://127.0.0.1:{free_port()}/generate"
    with pytest.raises(ServerUnreachableError) as info:
        client.post_http_request(PROMPT, url)
    assert "Connection refused" in str(info.value) and "Start the server" in str(info.value)


def test_http_400_carries_the_decoded_body(generate_url: str) -> None:
    with pytest.raises(APIStatusError) as info:
        client.post_http_request(PROMPT, generate_url, n=2, temperature=0)
    assert info.value.status_code == 400
    assert info.value.body["error"]["param"] == "n"
    assert "Raise temperature" in str(info.value) and "How to fix" in str(info.value)


def test_wrong_path_is_an_http_error_with_a_hint(legacy_server) -> None:
    with pytest.raises(APIStatusError) as info:
        client.post_http_request(PROMPT, legacy_server.url + "/v1/completions")
    assert info.value.status_code == 404 and "/generate" in info.value.hint


def test_a_non_json_answer_is_an_unexpected_response(legacy_server) -> None:
    with pytest.raises(UnexpectedResponseError, match="not JSON"):
        client.get_response(requests.get(legacy_server.url + "/metrics", timeout=10))


def test_read_timeout_is_a_typed_error(generate_url: str) -> None:
    with pytest.raises(RequestTimeoutError) as info:
        client.post_http_request(PROMPT, generate_url, max_tokens=2000, ignore_eos=True,
                                 timeout=(5, 0.5))
    assert "max_tokens" in info.value.hint
