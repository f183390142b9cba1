"""vLLM's router in front of two of the course's servers: routing, the client's view, failover.

The router (PyPI vllm-router) is a server kind of the registry like the others; these tests
start two legacy replicas and a router on free ports, all real processes over real HTTP.
"""

from __future__ import annotations

import pytest
import requests

from helpers import client
from helpers.launcher import stop_server
from helpers.metrics import metric_value
from tests.support import PROMPT, own_server

pytestmark = pytest.mark.server


def served(replica) -> float:
    """Requests the replica's engine has finished (vLLM's own counter)."""
    return metric_value(replica.url, "vllm:request_success_total")


@pytest.fixture(scope="module")
def replicas():
    with own_server("legacy") as first, own_server("legacy") as second:
        yield first, second


@pytest.fixture(scope="module")
def router(replicas):
    urls = [replica.url for replica in replicas]
    with own_server("router", extra_args=["--worker-urls", *urls, "--policy", "round_robin",
                                          "--health-check-interval-secs", "1"]) as handle:
        yield handle


def test_round_robin_shares_requests_evenly(router, replicas) -> None:
    before = [served(replica) for replica in replicas]
    for _ in range(8):
        assert client.generate(PROMPT, router.url, max_tokens=2)[0].startswith(PROMPT)
    after = [served(replica) for replica in replicas]
    assert [b - a for a, b in zip(before, after, strict=True)] == [4, 4]


def test_the_client_changes_only_its_url(router) -> None:
    """Streams, n and the course's typed errors work through the router unchanged."""
    snapshots = list(client.stream_generate(PROMPT, router.url, n=2, temperature=0.8, seed=1,
                                            max_tokens=6))
    assert len(snapshots) >= 2 and all(len(s) == 2 for s in snapshots)
    response = requests.post(router.url + "/generate", timeout=60,
                             json={"prompt": PROMPT, "n": 2, "temperature": 0})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "n"  # the replica's own error, passed on


def test_a_killed_replica_costs_no_request_once_the_router_knows(router, replicas) -> None:
    survivor, victim = replicas
    stop_server("legacy", port=victim.port)
    answers = [client.generate(PROMPT, router.url, max_tokens=2, timeout=(5, 60))
               for _ in range(6)]
    assert all(texts[0].startswith(PROMPT) for texts in answers)
    assert requests.get(router.url + "/health", timeout=10).status_code == 200
