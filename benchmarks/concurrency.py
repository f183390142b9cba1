"""Concurrency benchmark: what the async client gains over one request at a time (not a test).

    .venv/bin/python benchmarks/concurrency.py      # part of `make bench`

Sends streaming requests of 32 tokens (ignore_eos) through helpers.aclient to the legacy
server, one at a time and then 8 at once, and prints the ratio (goal: >= 6x on the embedded
CPU server). The same with AsyncOpenAI against the OpenAI-compatible server on the same
engine tells whether the course's client or the engine is the limit.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import settings  # noqa: E402
from helpers.aclient import DEFAULT_TIMEOUT, timed_stream  # noqa: E402
from helpers.course.launcher import start_server  # noqa: E402

TOKENS = 32
CONCURRENT = 8


async def throughput(url: str, concurrent: int, batches: int) -> float:
    """Generated tokens per second over ``batches`` rounds of ``concurrent`` requests."""
    fields = {"max_tokens": TOKENS, "ignore_eos": True, "temperature": 0.8}
    async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as http:
        start = time.perf_counter()
        for batch in range(batches):
            await asyncio.gather(*(timed_stream(http, url, settings.DEFAULT_PROMPT,
                                                seed=batch * concurrent + i, **fields)
                                   for i in range(concurrent)))
        return batches * concurrent * TOKENS / (time.perf_counter() - start)


async def openai_throughput(base_url: str, concurrent: int, batches: int) -> float:
    from openai import AsyncOpenAI

    async with AsyncOpenAI(base_url=base_url, api_key="EMPTY", timeout=300) as client:
        async def one(seed: int) -> None:
            stream = await client.completions.create(
                model=settings.SERVED_MODEL_NAME, prompt=settings.DEFAULT_PROMPT, stream=True,
                max_tokens=TOKENS, temperature=0.8, seed=seed, extra_body={"ignore_eos": True})
            async for _ in stream:
                pass

        start = time.perf_counter()
        for batch in range(batches):
            await asyncio.gather(*(one(batch * concurrent + i) for i in range(concurrent)))
        return batches * concurrent * TOKENS / (time.perf_counter() - start)


def report(label: str, measure, target: str) -> None:
    asyncio.run(measure(target, 2, 1))  # warm-up
    sequential = asyncio.run(measure(target, 1, 4))
    concurrent = asyncio.run(measure(target, CONCURRENT, 2))
    print(f"{label}, {TOKENS}-token streams: 1 at a time {sequential:.1f} tok/s, "
          f"{CONCURRENT} at once {concurrent:.1f} tok/s, ratio {concurrent / sequential:.2f}",
          flush=True)


def main() -> None:
    report("helpers.aclient -> legacy server (goal >= 6x)", throughput,
           start_server(progress=False).url + "/generate")
    report("AsyncOpenAI -> OpenAI server, same engine", openai_throughput,
           start_server("openai", progress=False).url)


if __name__ == "__main__":
    main()
