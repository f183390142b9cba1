"""Foundation benchmark: each figure measured side by side in this one run (not a test).

    make bench          # or: .venv/bin/python benchmarks/foundation.py

Prints: model preparation (first call in an empty cache, then a second call),
server start until healthy in vLLM's two process layouts on a CPU, alternated, with the
single-stream speed and memory of each (the engine core always runs in a process of its own;
the course's default runs the model inside it, ``VLLM_ENABLE_V1_MULTIPROCESSING=0``, and
vLLM's own default adds a worker process for the model), single-stream tokens/s through
the helpers versus a raw ``requests`` loop, and the stream decoder's lines/s versus ``iter_lines``
(``--decoder``: that last figure alone, which needs no server).
It starts its own servers on free ports and stops them at the end.
"""

from __future__ import annotations

import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import client, settings  # noqa: E402
from helpers.course import launcher
from helpers.course.ports import free_port  # noqa: E402
from helpers.stream import iter_snapshots  # noqa: E402

PORT = free_port()
PROMPT = settings.DEFAULT_PROMPT
TOKENS = 96
#: The CPU process layouts compared: name -> VLLM_ENABLE_V1_MULTIPROCESSING.
LAYOUTS = {"model in the engine core (course default)": "0",
           "model in a worker process (vLLM's default)": "1"}
ROUNDS = 4  # runs of each client, in ABBA order so that drift hits both alike
DECODER_ROUNDS = 8  # ABBA rounds of the decoder comparison (16 runs of each)


def model_preparation() -> tuple[float, float]:
    """Seconds for the first conversion (empty cache, separate process) and a second call."""
    code = ("import time; from helpers.course.model import prepare_bundled_model as p; "
            "t = time.perf_counter(); p(progress=False); a = time.perf_counter() - t; "
            "t = time.perf_counter(); p(progress=False); b = time.perf_counter() - t; "
            "print(a, b)")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "VLLM_COURSE_CACHE": cache}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    first, second = map(float, out.stdout.split()[-2:])
    return first, second


def server_start(layout: str | None = None) -> tuple[float, launcher.ServerHandle]:
    """Seconds until a fresh legacy server is healthy, with ``layout``'s process layout."""
    launcher.stop_server("legacy", port=PORT)
    saved = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")
    if layout:
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = LAYOUTS[layout]
    try:
        start = time.perf_counter()
        handle = launcher.start_server("legacy", port=PORT, progress=False)
        return time.perf_counter() - start, handle
    finally:
        if saved is None:
            os.environ.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)
        else:
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = saved


def processes(handle: launcher.ServerHandle) -> tuple[list[str], float]:
    """The server's child process names and the whole group's unique memory (GiB)."""
    leader = psutil.Process(handle.pid)
    group = [leader, *leader.children(recursive=True)]
    return ([child.name() for child in group[1:]],
            sum(process.memory_full_info().uss for process in group) / 2**30)


def layouts(rounds: int = 2) -> None:
    """Start time, single-stream speed and memory of each layout, alternated (ABAB)."""
    starts: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    speeds: dict[str, list[float]] = {name: [] for name in LAYOUTS}
    shapes: dict[str, tuple[list[str], float]] = {}
    try:
        for _ in range(rounds):
            for name in LAYOUTS:
                seconds, handle = server_start(name)
                starts[name].append(seconds)
                helpers_stream(handle.url + "/generate")  # warm-up
                speeds[name].append(helpers_stream(handle.url + "/generate"))
                shapes[name] = processes(handle)
    finally:
        launcher.stop_server("legacy", port=PORT)
    base = next(iter(LAYOUTS))
    for name in LAYOUTS:
        start, speed = statistics.median(starts[name]), statistics.median(speeds[name])
        children, memory = shapes[name]
        print(f"{name:44} start -> healthy {start:5.1f} s (ratio "
              f"{start / statistics.median(starts[base]):.2f}), single stream {speed:5.1f} tok/s "
              f"(ratio {speed / statistics.median(speeds[base]):.2f}), {memory:.2f} GiB, "
              f"children {children}")


def raw_requests_stream(url: str) -> float:
    payload = {"prompt": PROMPT, "max_tokens": TOKENS, "ignore_eos": True, "temperature": 0,
               "stream": True}
    start = time.perf_counter()
    with requests.post(url, json=payload, stream=True, timeout=300) as response:
        for line in response.iter_lines():
            if line:
                json.loads(line)["text"]
    return TOKENS / (time.perf_counter() - start)


def helpers_stream(url: str) -> float:
    start = time.perf_counter()
    response = client.post_http_request(PROMPT, url, stream=True, max_tokens=TOKENS,
                                        ignore_eos=True, temperature=0)
    for _ in client.get_streaming_response(response):
        pass
    return TOKENS / (time.perf_counter() - start)


def decoder_vs_iter_lines() -> tuple[float, float, int]:
    """Lines/s over the same bytes in the same random chunks; both parse each line's JSON.

    Parsing is most of the work on both sides (splitting the bytes into lines is about a
    quarter of it), so the decoder is ahead only while it parses a line for less than
    ``json.loads(line)`` does (``helpers.stream.parse_snapshot``).
    """
    rng = random.Random(0)
    words = "the city of San Francisco is known for its hills, fog and bridges".split()
    text, lines = PROMPT, []
    for _ in range(4000):
        text += " " + rng.choice(words)
        if len(text) > 2000:
            text = PROMPT
        lines.append(json.dumps({"text": [text]}).encode() + b"\n")
    data = b"".join(lines)
    sizes = [rng.choice([64, 512, 1500, 4096, 16384]) for _ in range(len(data) // 64 + 1)]
    chunks, at = [], 0
    for size in sizes:
        if at >= len(data):
            break
        chunks.append(data[at:at + size])
        at += size

    class ChunkedRaw(io.RawIOBase):
        def __init__(self) -> None:
            self._chunks = iter(chunks)

        def read(self, size: int = -1) -> bytes:
            return next(self._chunks, b"")

    def with_iter_lines() -> float:
        response = requests.Response()
        response.raw = ChunkedRaw()
        start = time.perf_counter()
        count = sum(1 for line in response.iter_lines(chunk_size=16384) if line
                    and json.loads(line)["text"])
        return count / (time.perf_counter() - start)

    def with_decoder() -> float:
        start = time.perf_counter()
        count = sum(1 for _ in iter_snapshots(chunks))
        return count / (time.perf_counter() - start)

    # Alternated (ABBA), as the other figures: measuring one side's runs all first let
    # drift (a server still exiting, a neighbour's load) fall on one side only.
    rates: dict[str, list[float]] = {"ours": [], "theirs": []}
    runs = {"ours": with_decoder, "theirs": with_iter_lines}
    for name in ["ours", "theirs", "theirs", "ours"] * DECODER_ROUNDS:
        rates[name].append(runs[name]())
    return statistics.median(rates["ours"]), statistics.median(rates["theirs"]), len(lines)


def decoder() -> None:
    ours, theirs, count = decoder_vs_iter_lines()
    print(f"decoder, {count} lines: LineDecoder {ours:,.0f} lines/s, iter_lines {theirs:,.0f} "
          f"lines/s, ratio {ours / theirs:.2f} (goal >= 1)")


def main() -> None:
    if sys.argv[1:] == ["--decoder"]:  # the decoder alone: no server, a few seconds
        decoder()
        return
    first, second = model_preparation()
    print(f"model preparation: first {first:.1f} s, second {second * 1000:.2f} ms")

    layouts()
    seconds, handle = server_start()
    try:
        print(f"server start -> healthy: {seconds:.1f} s (goal <= 25 s on 2 cores)")
        url = handle.url + "/generate"
        helpers_stream(url)  # warm-up
        clients = {"raw": raw_requests_stream, "helpers": helpers_stream}
        rates: dict[str, list[float]] = {"raw": [], "helpers": []}
        for name in ["helpers", "raw", "raw", "helpers"] * (ROUNDS // 2):  # ABBA order
            rates[name].append(clients[name](url))
        raw_tps, our_tps = statistics.median(rates["raw"]), statistics.median(rates["helpers"])
        print(f"single stream, {TOKENS} tokens: helpers {our_tps:.1f} tok/s, raw requests "
              f"{raw_tps:.1f} tok/s, ratio {our_tps / raw_tps:.3f} (goal >= 0.97)")
    finally:
        launcher.stop_server("legacy", port=PORT)

    decoder()


if __name__ == "__main__":
    main()
