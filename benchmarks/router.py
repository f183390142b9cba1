"""Router benchmark: chapter 10's figures, measured in one run (not a test).

    .venv/bin/python benchmarks/router.py      # part of `make bench`

Starts two `vllm serve` replicas and vllm-router on free ports, then prints: requests per
replica and prefix-cache hit share for each routing policy (12 sequential requests in three
interleaved conversations with long shared prefixes), throughput of 8 concurrent streams to
one replica versus through the router to both (ratio, side by side), and after replica 2 is
killed: the new requests that failed, and the seconds until a restarted replica 2 serves
again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openai import AsyncOpenAI, OpenAI  # noqa: E402

from helpers.course.launcher import start_server, stop_server  # noqa: E402
from helpers.course.ports import free_port  # noqa: E402
from helpers.metrics import metric_value  # noqa: E402
from helpers.settings import SERVED_MODEL_NAME  # noqa: E402

POLICIES = ("round_robin", "power_of_two", "cache_aware")


def served(roots: list[str]) -> list[float]:
    return [metric_value(root, "vllm:request_success_total") for root in roots]


def route(client: OpenAI, roots: list[str], prompts: list[str]) -> list[int | None]:
    where = []
    for prompt in prompts:
        before = served(roots)
        client.completions.create(model=SERVED_MODEL_NAME, prompt=prompt, max_tokens=2)
        after = served(roots)
        where.append(next((i for i, (a, b) in enumerate(zip(before, after, strict=True))
                           if b > a), None))
    return where


def cache_hits(roots: list[str]) -> tuple[float, float]:
    return (sum(metric_value(r, "vllm:prefix_cache_hits_total") for r in roots),
            sum(metric_value(r, "vllm:prefix_cache_queries_total") for r in roots))


async def throughput(base_url: str, concurrent: int = 8, tokens: int = 32) -> float:
    async with AsyncOpenAI(base_url=base_url, api_key="EMPTY", timeout=300,
                           max_retries=0) as client:
        async def one(seed: int) -> None:
            stream = await client.completions.create(
                model=SERVED_MODEL_NAME, prompt="Once upon a time", max_tokens=tokens,
                temperature=0.8, seed=seed, stream=True, extra_body={"ignore_eos": True})
            async for _ in stream:
                pass
        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(concurrent)))
        return concurrent * tokens / (time.perf_counter() - start)


def main() -> None:
    ports = [free_port(), free_port()]
    router_port = free_port()
    replicas = [start_server("openai", port=port, progress=False) for port in ports]
    roots = [replica.url.removesuffix("/v1") for replica in replicas]

    def router(policy: str):
        stop_server("router", port=router_port)
        return start_server("router", port=router_port, progress=False, extra_args=[
            "--worker-urls", *roots, "--policy", policy, "--health-check-interval-secs", "1"])

    try:
        for policy in POLICIES:
            handle = router(policy)
            client = OpenAI(base_url=handle.url + "/v1", api_key="EMPTY", max_retries=0)
            prefixes = [f"{policy} {topic} " * 200 for topic in ("bridge", "harbor", "cable")]
            hits0, queries0 = cache_hits(roots)
            where = route(client, roots, [prefixes[i % 3] + f"Q{i}:" for i in range(12)])
            hits1, queries1 = cache_hits(roots)
            print(f"{policy:13} requests per replica {[where.count(0), where.count(1)]}, "
                  f"replicas per conversation {[len(set(where[g::3])) for g in range(3)]}, "
                  f"prefix-cache hits {(hits1 - hits0) / (queries1 - queries0):.0%}", flush=True)

        handle = router("round_robin")
        one, two = [], []
        for _ in range(2):  # alternated
            one.append(asyncio.run(throughput(replicas[0].url)))
            two.append(asyncio.run(throughput(handle.url + "/v1")))
        print(f"8 concurrent streams: one replica {max(one):.0f} tok/s, two behind the router "
              f"{max(two):.0f} tok/s, ratio {max(two) / max(one):.2f}", flush=True)

        client = OpenAI(base_url=handle.url + "/v1", api_key="EMPTY", max_retries=0)
        os.killpg(replicas[1].pid, signal.SIGKILL)
        failed = 0
        for _ in range(10):
            try:
                client.completions.create(model=SERVED_MODEL_NAME, prompt="Hi", max_tokens=2)
            except Exception:
                failed += 1
        replicas[1] = start_server("openai", port=ports[1], progress=False)
        start = time.perf_counter()
        while 1 not in route(client, roots, ["Hi"] * 2):
            if time.perf_counter() - start > 120:
                raise SystemExit("replica 2 did not get traffic again within 120 s")
        print(f"replica 2 killed: {failed} of 10 new requests failed; restarted, it served "
              f"again {time.perf_counter() - start:.1f} s after it was healthy", flush=True)
    finally:
        stop_server("router", port=router_port)
        for port in ports:
            stop_server("openai", port=port)


if __name__ == "__main__":
    main()
