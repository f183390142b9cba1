"""Reliability against the real server: fuzzed bad input, real faults, sustained load.

`make test` runs a quick version; `make reliability` runs the full one (RELIABILITY=full:
1,000 fuzzed requests, 32 clients x 5 rounds) and prints the figures recorded here.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import httpx
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import client
from helpers.api_server.payload import FIELDS
from helpers.course.launcher import start_server
from helpers.errors import StreamInterruptedError
from helpers.metrics import wait_for_running
from tests.support import PROMPT, record, server_fixture

FULL = os.environ.get("RELIABILITY") == "full"
FUZZ_EXAMPLES = 1000 if FULL else 150
CLIENTS, ROUNDS = (32, 5) if FULL else (8, 3)
#: The README promises that sustained load grows the server's memory by less than this.
MAX_RSS_GROWTH = 0.10


# --- bad input at scale ----------------------------------------------------------------

odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                          max_size=2))
# Cheap when valid: at most 8 tokens and 16 candidates, and never beam search.
objects = st.fixed_dictionaries({}, optional={
    **{name: odd_values for name in FIELDS},
    "prompt": st.one_of(st.text(max_size=40), odd_values),
    "max_tokens": st.one_of(st.integers(min_value=-3, max_value=8), odd_values),
    "n": st.one_of(st.integers(min_value=-2, max_value=20), odd_values),
    "stream": st.one_of(st.booleans(), odd_values),
    "use_beam_search": st.sampled_from([False, None, "yes", 1, [], {}]),
    "junk": odd_values, "Prompt": odd_values, "": odd_values,
})
special_bodies = st.sampled_from([
    b"", b"null", b"[]", b"42", b'"prompt"', b"{", b'{"prompt": "x"',
    b'{"prompt": "x", "temperature": NaN}', b'{"prompt": "x", "top_p": Infinity}',
    b'{"prompt": "x", "seed": -Infinity}', b'{"prompt": "\xff\xfe"}', b"\xef\xbb\xbf{}",
    b'{"prompt": "x", "max_tokens": 1' + b"0" * 5000 + b"}",
    b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b'{"prompt": "x", "prompt": 5}', b'{"prompt": "' + "é".encode() * 300_000 + b'"}',
])
# Near-valid requests: a real prompt and a few fields with plausible, often valid, values.
plausible = st.one_of(st.integers(min_value=-2, max_value=16), st.booleans(), st.none(),
                      st.floats(min_value=-1, max_value=2.5, allow_nan=False),
                      st.text(max_size=3), st.lists(st.text(min_size=1, max_size=3), max_size=2))
near_valid = st.builds(
    lambda prompt, fields, tokens: {"prompt": prompt, **fields, "max_tokens": tokens},
    st.text(min_size=1, max_size=40),
    st.dictionaries(st.sampled_from([f for f in FIELDS if f not in ("max_tokens", "n")]),
                    plausible, max_size=3),
    st.one_of(st.integers(min_value=1, max_value=8), plausible))
bodies = st.one_of(objects.map(lambda o: json.dumps(o).encode()),
                   near_valid.map(lambda o: json.dumps(o).encode()),
                   special_bodies, st.binary(max_size=300))
FUZZ = {"requests": 0, "2xx": 0, "4xx": 0, "5xx": 0, "dropped": 0, "4xx without a message": 0}


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=not FULL,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=bodies)
def test_fuzzed_requests_never_break_the_server(generate_url, body) -> None:
    FUZZ["requests"] += 1
    try:
        response = requests.post(generate_url, data=body, stream=True, timeout=(5, 120),
                                 headers={"Content-Type": "application/json"})
    except requests.ConnectionError:
        FUZZ["dropped"] += 1
        raise
    with response:
        status = response.status_code
        FUZZ[f"{status // 100}xx"] = FUZZ.get(f"{status // 100}xx", 0) + 1
        assert status < 500, response.text[:300]
        if status >= 400:
            error = response.json().get("error", {})
            if not (isinstance(error.get("message"), str) and len(error["message"]) > 10):
                FUZZ["4xx without a message"] += 1
            assert "param" in error and error["message"]
        else:
            first = json.loads(next(response.iter_lines()))
            assert isinstance(first["text"], list) and first["text"]
    record("fuzz", FUZZ)


def test_server_is_healthy_and_correct_after_the_fuzz(legacy_server, post) -> None:
    assert requests.get(legacy_server.health_url, timeout=10).status_code == 200
    texts = post({"prompt": PROMPT, "n": 2, "temperature": 0.7, "max_tokens": 4}).json()["text"]
    assert len(texts) == 2 and all(t.startswith(PROMPT) for t in texts)
    assert wait_for_running(legacy_server.url, 0, within=10) == 0  # the gauge may lag


# --- sustained load ----------------------------------------------------------------------

def server_rss(pid: int) -> int:
    import psutil

    parent = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])


async def one_stream(http: httpx.AsyncClient, url: str, seed: int) -> bool:
    payload = {"prompt": PROMPT, "n": 1, "temperature": 0.8, "seed": seed, "max_tokens": 24,
               "ignore_eos": True, "stream": True}
    previous = PROMPT
    lines = 0
    async with http.stream("POST", url, json=payload) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line:
                continue
            (text,) = json.loads(line)["text"]
            assert text.startswith(previous)
            previous, lines = text, lines + 1
    # vLLM may merge steps into one line when a reader lags, so at most one line per token.
    return 1 <= lines <= 24 and len(previous) > len(PROMPT)


def test_concurrent_streaming_clients_all_complete(legacy_server, generate_url) -> None:
    assert legacy_server.managed, "the session's server is always one the launcher started"

    async def rounds() -> tuple[list[int], list[int]]:
        complete, rss = [], []
        async with httpx.AsyncClient(timeout=httpx.Timeout(300, connect=10),
                                     limits=httpx.Limits(max_connections=CLIENTS)) as http:
            for r in range(ROUNDS):
                results = await asyncio.gather(*(one_stream(http, generate_url, r * 100 + i)
                                                 for i in range(CLIENTS)))
                complete.append(sum(results))
                rss.append(server_rss(legacy_server.pid))
        return complete, rss

    start = time.perf_counter()
    complete, rss = asyncio.run(rounds())
    # The first round warms the engine up (buffers, caches); growth is measured after it.
    growth = (rss[-1] - rss[0]) / rss[0]
    load = {"clients": CLIENTS, "rounds": ROUNDS, "complete": complete,
            "rss_mib": [round(r / 2**20) for r in rss], "rss_growth": growth,
            "seconds": round(time.perf_counter() - start, 1)}
    record("load", load)
    assert complete == [CLIENTS] * ROUNDS
    assert growth < MAX_RSS_GROWTH, f"memory grew {growth:.1%} under load: {load}"


def test_disconnect_stops_the_engine_request_quickly(legacy_server, post) -> None:
    response = post({"prompt": PROMPT, "max_tokens": 4000, "ignore_eos": True, "stream": True},
                    stream=True)
    next(response.iter_lines())
    assert wait_for_running(legacy_server.url, 1, within=10) == 1  # the gauge may lag
    response.close()
    closed = time.perf_counter()
    left = wait_for_running(legacy_server.url, 0, within=10, interval=0.02)
    record("abort_seconds", round(time.perf_counter() - closed, 3))
    assert left == 0


# --- real faults -------------------------------------------------------------------------

@server_fixture
def fault_server(legacy_server):
    """The session's legacy server: it is killed, and the test's replacement is the session's
    from then on (a server of the test's own would cost a second engine start)."""
    return legacy_server


def test_a_killed_server_raises_with_the_partial_text_and_is_replaced(fault_server) -> None:
    """Killed mid-stream (the whole process group, engine included): the client raises
    with the text so far; the launcher then starts a fresh server on the same port."""
    url = fault_server.url + "/generate"
    response = client.post_http_request(PROMPT, url, stream=True, max_tokens=4000,
                                        ignore_eos=True, timeout=(5, 30))
    received = 0
    start = None
    with pytest.raises(StreamInterruptedError) as info:
        for received, _ in enumerate(client.get_streaming_response(response), 1):
            if received == 5:
                os.killpg(fault_server.pid, signal.SIGKILL)
                start = time.perf_counter()
    record("kill_to_error_seconds", round(time.perf_counter() - start, 3))
    assert info.value.partial[0].startswith(PROMPT) and len(info.value.partial[0]) > len(PROMPT)
    assert received >= 5

    time.sleep(1)
    start = time.perf_counter()
    fresh = start_server("legacy", port=fault_server.port, progress=False)
    record("restart_seconds", round(time.perf_counter() - start, 1))
    assert fresh.started and fresh.pid != fault_server.pid
    assert client.generate(PROMPT, fresh.url, max_tokens=2)[0].startswith(PROMPT)
