"""Read vLLM's Prometheus metrics (``GET /metrics``) from a running server.

Introduced in chapter 02 (a closed stream aborts its request) and used in chapter 04.
"""

from __future__ import annotations

import re
import time

import requests

from helpers import settings

__all__ = ["metric_value", "requests_running", "wait_for_running"]


def metric_value(base_url: str, name: str, *, timeout: float = 5.0) -> float:
    """The sum of every sample of metric ``name`` (over its labels) at ``base_url``."""
    response = requests.get(base_url.rstrip("/") + "/metrics", headers=settings.auth_headers(),
                            timeout=timeout)
    response.raise_for_status()
    pattern = rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$"
    values = re.findall(pattern, response.text, re.M)
    if not values:
        raise KeyError(f"{name} is not in {base_url}/metrics")
    return sum(float(value) for value in values)


def requests_running(base_url: str) -> int:
    """How many requests the engine is generating right now (``vllm:num_requests_running``)."""
    return int(metric_value(base_url, "vllm:num_requests_running"))


def wait_for_running(base_url: str, expected: int, *, within: float = 30.0,
                     interval: float = 0.1) -> int:
    """Poll :func:`requests_running` until it equals ``expected`` or ``within`` seconds have
    passed; return the last value (``expected`` unless the wait timed out)."""
    deadline = time.monotonic() + within
    while (value := requests_running(base_url)) != expected and time.monotonic() < deadline:
        time.sleep(interval)
    return value
