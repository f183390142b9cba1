"""vLLM's router in front of two OpenAI-compatible servers: routing, the client's view, failover.

The router (PyPI vllm-router) is a server kind of the registry like the others; these tests
start two `vllm serve` replicas and a router on free ports, all real processes over real HTTP.
The router carries the OpenAI API: its /generate rewrites bodies in SGLang's format and drops
the legacy fields (measured; see tests/test_payload.py and chapter 10).
"""

from __future__ import annotations

import contextlib
import time

import pytest
import requests
from openai import OpenAI

from helpers import settings
from helpers.course.launcher import stop_server
from helpers.metrics import metric_value
from tests.support import PROMPT, own_server, server_fixture


def served(replica) -> float:
    """Requests the replica's engine has finished (vLLM's own counter)."""
    return metric_value(replica.url.removesuffix("/v1"), "vllm:request_success_total")


@server_fixture(scope="module")
def replicas(openai_server):
    """The session's OpenAI-compatible server and one more (an engine start and 2.4 GiB
    fewer than two of the module's own)."""
    with own_server("openai") as second:
        yield openai_server, second


@server_fixture(scope="module")
def router(replicas):
    with router_over(replicas) as handle:
        yield handle


@contextlib.contextmanager
def router_over(replicas):
    urls = [replica.url.removesuffix("/v1") for replica in replicas]
    with own_server("router", extra_args=["--worker-urls", *urls, "--policy", "round_robin",
                                          "--health-check-interval-secs", "1"]) as handle:
        yield handle


def client_of(router) -> OpenAI:
    return OpenAI(base_url=router.url + "/v1", api_key="EMPTY", max_retries=0, timeout=120)


@server_fixture
def router_with_a_replica_to_kill(replicas):
    """A router of one test's own over both replicas; the test kills the module's second one
    (it is the module's last test: a third engine would cost a start for one kill)."""
    with router_over(replicas) as router:
        yield router, replicas[0], replicas[1]


@pytest.fixture(scope="module")
def through_router(router) -> OpenAI:
    return client_of(router)


def test_round_robin_shares_requests_evenly(through_router, replicas) -> None:
    before = [served(replica) for replica in replicas]
    for _ in range(8):
        answer = through_router.completions.create(model=settings.SERVED_MODEL_NAME,
                                                   prompt=PROMPT, max_tokens=2)
        assert answer.choices[0].text
    # vLLM counts a request once its output loop has recorded it, which may follow the answer.
    deadline = time.monotonic() + 10
    while True:
        moved = [b - a for a, b in zip(before, [served(r) for r in replicas], strict=True)]
        if sum(moved) >= 8 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert moved == [4, 4]


def test_the_client_changes_only_its_url(through_router) -> None:
    """Streams, n, vLLM extensions and the server's own errors pass through unchanged."""
    texts = ["", ""]
    for event in through_router.completions.create(
            model=settings.SERVED_MODEL_NAME, prompt=PROMPT, max_tokens=6, n=2, seed=1,
            temperature=0.8, stream=True):
        for choice in event.choices:
            texts[choice.index] += choice.text
    assert all(texts)
    beams = through_router.completions.create(model=settings.SERVED_MODEL_NAME, prompt=PROMPT,
                                              max_tokens=4, n=2,
                                              extra_body={"use_beam_search": True})
    assert len({choice.text for choice in beams.choices}) == 2


def test_a_killed_replica_costs_no_request(router_with_a_replica_to_kill) -> None:
    """The router retries a request that fails on a dead replica on the other one; its
    /health says a server is down, while /liveness (what the launcher asks) stays 200."""
    router, _survivor, victim = router_with_a_replica_to_kill
    stop_server("openai", port=victim.port)
    for _ in range(6):
        answer = client_of(router).completions.create(model=settings.SERVED_MODEL_NAME,
                                                   prompt=PROMPT, max_tokens=2)
        assert answer.choices[0].text
    # The health checker runs every second and needs a few failures in a row to mark it down.
    deadline = time.monotonic() + 30
    while requests.get(router.url + "/health", timeout=10).status_code != 503:
        assert time.monotonic() < deadline, "the router's /health never reported the dead replica"
        time.sleep(0.5)
    assert requests.get(router.health_url, timeout=10).status_code == 200
