"""Concurrency benchmark: what the async client gains over one request at a time (not a test).

    .venv/bin/python benchmarks/concurrency.py      # part of `make bench`

Sends streaming requests of 32 tokens (ignore_eos) to the legacy server through
helpers.aclient, first one at a time, then 8 at once, and prints both throughputs and
their ratio (goal: >= 6x on the embedded CPU server).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.aclient import DEFAULT_TIMEOUT, timed_stream  # noqa: E402
from helpers.launcher import start_server  # noqa: E402

TOKENS = 32
CONCURRENT = 8


async def throughput(url: str, concurrent: int, batches: int) -> float:
    """Generated tokens per second over ``batches`` rounds of ``concurrent`` requests."""
    fields = {"max_tokens": TOKENS, "ignore_eos": True, "temperature": 0.8}
    async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as http:
        start = time.perf_counter()
        for batch in range(batches):
            await asyncio.gather(*(timed_stream(http, url, "San Francisco is a",
                                                seed=batch * concurrent + i, **fields)
                                   for i in range(concurrent)))
        return batches * concurrent * TOKENS / (time.perf_counter() - start)


def main() -> None:
    url = start_server(progress=False).url + "/generate"
    asyncio.run(throughput(url, 2, 1))  # warm-up
    sequential = asyncio.run(throughput(url, 1, 4))
    concurrent = asyncio.run(throughput(url, CONCURRENT, 2))
    print(f"async client, {TOKENS}-token streams: 1 at a time {sequential:.1f} tok/s, "
          f"{CONCURRENT} at once {concurrent:.1f} tok/s, ratio {concurrent / sequential:.2f} "
          "(goal >= 6)")


if __name__ == "__main__":
    main()
