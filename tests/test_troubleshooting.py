"""TROUBLESHOOTING.md quotes messages the course really produces (checked on a few)."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from helpers import client
from helpers.api_server.payload import Limits, PayloadError, parse_generate_request
from helpers.course import diagnosis, launcher, spawn
from helpers.course.ports import free_port
from helpers.errors import ServerStartError, ServerUnreachableError

HEADINGS = [line[3:].strip() for line in
            (Path(__file__).resolve().parent.parent / "TROUBLESHOOTING.md").read_text()
            .splitlines() if line.startswith("## ")]


def quoted(fragment: str) -> str:
    """The quoted message of the heading that contains ``fragment``."""
    (heading,) = [h for h in HEADINGS if fragment in h]
    return re.search(r"`([^`]+)`", heading).group(1)


def as_pattern(message: str) -> re.Pattern[str]:
    """A heading's message with its examples (numbers, '...') made into wildcards."""
    pattern = re.escape(message).replace(r"\ \.\.\.\ ", ".*").replace(r"\.\.\.", ".*")
    return re.compile(re.sub(r"\d+", r"\\d+", pattern))


def test_port_in_use() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        with pytest.raises(ServerStartError) as info:
            spawn.check_port_free("127.0.0.1", squatter.getsockname()[1])
    assert as_pattern(quoted("already in use")).match(str(info.value))


def test_greedy_n() -> None:
    with pytest.raises(PayloadError) as info:
        parse_generate_request(b'{"prompt": "x", "n": 3, "temperature": 0}', Limits())
    assert as_pattern(quoted("greedy answers")).match(info.value.message)


def test_retired_best_of() -> None:
    with pytest.raises(PayloadError) as info:
        parse_generate_request(b'{"prompt": "x", "best_of": 2}', Limits())
    assert as_pattern(quoted("best_of")).match(info.value.message)


def test_connection_refused() -> None:
    with pytest.raises(ServerUnreachableError) as info:
        client.post_http_request("x", f"http://127.0.0.1:{free_port()}/generate")
    assert as_pattern(quoted("Connection refused")).match(str(info.value))


def test_old_delimiter() -> None:
    stream = b'{"text": ["a"]}\0{"text": ["ab"]}\0'
    with pytest.raises(json.JSONDecodeError) as info:
        json.loads(stream.split(b"\n")[0])
    assert quoted("Extra data").endswith(str(info.value).split(":")[0])


def test_a_second_engine_on_one_gpu() -> None:
    """vLLM's own words (vllm/v1/worker/utils.py), as the launcher reads them from a log."""
    log = ("(EngineCore pid=812) ERROR ... ValueError: Free memory on device cuda:0 (6.1/14.7 "
           "GiB) on startup is less than desired GPU memory utilization (0.9, 13.2 GiB).")
    cause = diagnosis.root_causes(log)
    assert as_pattern(quoted("Free memory on device")).match(cause)
    assert "--gpu-memory-utilization" in diagnosis.advice(cause)


def test_a_body_rewritten_by_the_router() -> None:
    with pytest.raises(PayloadError) as info:
        parse_generate_request(b'{"prompt": "x", "stream": false, "return_logprob": false}',
                               Limits())
    assert as_pattern(quoted("came through vllm-router")).match(info.value.message)


def test_a_busy_server() -> None:
    from helpers.api_server.messages import busy_message

    message = f"HTTP 503 from http://x/generate: {busy_message(3, 2)}"
    assert as_pattern(quoted("The server is busy")).match(message)


def test_a_dead_engine() -> None:
    from helpers.api_server.messages import engine_stopped_message

    message = engine_stopped_message("EngineDeadError: EngineCore encountered an issue.")
    assert as_pattern(quoted("The engine stopped")).match(message)


def test_the_workshop_refusal_is_quoted(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_API_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("VLLM_OPENAI_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("VLLM_ROUTER_URL", raising=False)
    with pytest.raises(ServerStartError) as info:
        launcher.start_server("router", progress=False)
    assert as_pattern(quoted("workshop's servers")).match(str(info.value))


def test_a_router_this_launcher_did_not_start_is_not_reused_blindly() -> None:
    """Any server answering the router's health path on its port, started by someone else:
    the launcher cannot tell which replicas it routes to, so it says so instead of reusing it."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Healthy(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    with HTTPServer(("127.0.0.1", free_port()), Healthy) as stranger:
        threading.Thread(target=stranger.serve_forever, daemon=True).start()
        try:
            with pytest.raises(ServerStartError) as info:
                launcher.start_server("router", port=stranger.server_port, progress=False,
                                      extra_args=["--worker-urls", "http://127.0.0.1:9"])
        finally:
            stranger.shutdown()
    message = str(info.value).replace(str(stranger.server_port), "8002")
    assert as_pattern(quoted("did not start it")).match(message)


def test_tool_calling_without_its_flags() -> None:
    """vLLM's own message (not the course's): as chapter 11's saved run received it."""
    chapter = json.loads((Path(__file__).resolve().parent.parent
                          / "notebooks" / "11_tool_calling.ipynb").read_text())
    printed = "".join("".join(output.get("text", "")) for cell in chapter["cells"]
                      if cell["cell_type"] == "code" for output in cell.get("outputs", []))
    assert quoted("requires --tool-call-parser") in printed
