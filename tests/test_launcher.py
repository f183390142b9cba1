"""The launcher: commands, device choice, reuse, remote mode and start-up failures."""

from __future__ import annotations

import socket
import sys
import time

import pytest

from helpers import launcher
from helpers.errors import ServerStartError


def test_legacy_command_binds_loopback_by_default() -> None:
    command = launcher.server_command("legacy", "/m")
    assert command == [sys.executable, "-m", "helpers.api_server", "--model", "/m",
                       "--host", "127.0.0.1", "--port", "8000"]


def test_openai_command_uses_the_module_entry_point_and_is_shown_as_vllm_serve() -> None:
    command = launcher.server_command("openai", "/m", device="cpu")
    assert command[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert "--enforce-eager" in command and command[command.index("--port") + 1] == "8001"
    shown = launcher.display_command(command)
    assert shown.startswith("vllm serve /m --host 127.0.0.1 --port 8001")


def test_gpu_path_keeps_vllms_defaults() -> None:
    command = launcher.server_command("openai", "m", device="gpu", extra_args=["--dtype", "half"])
    assert "--enforce-eager" not in command and command[-2:] == ["--dtype", "half"]


@pytest.mark.parametrize(("forced", "model"), [("gpu", "HuggingFaceTB/SmolLM2-135M-Instruct"),
                                               ("cpu", "bundled")])
def test_default_model_follows_the_device(monkeypatch, forced, model) -> None:
    monkeypatch.delenv("VLLM_COURSE_MODEL", raising=False)
    monkeypatch.setenv("VLLM_COURSE_DEVICE", forced)
    assert launcher.default_model() == model
    monkeypatch.setenv("VLLM_COURSE_MODEL", "facebook/opt-125m")
    assert launcher.default_model() == "facebook/opt-125m"


def test_a_running_server_is_reused(legacy_server) -> None:
    again = launcher.start_server("legacy", progress=False)
    assert not again.started and again.url == legacy_server.url


def test_remote_mode_starts_nothing(legacy_server, monkeypatch) -> None:
    monkeypatch.setenv("VLLM_API_URL", legacy_server.url + "/generate")
    handle = launcher.start_server("legacy", port=8199, progress=False)
    assert handle.remote and handle.url == legacy_server.url and not handle.started


def test_unreachable_remote_server_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_API_URL", "http://127.0.0.1:9")
    with pytest.raises(ServerStartError, match="does not answer /health"):
        launcher.start_server("legacy", progress=False)


def test_port_taken_by_another_program_names_the_port_and_process() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(ServerStartError) as info:
            launcher.start_server("legacy", port=port, progress=False)
    message = str(info.value)
    assert f"Port {port} is already in use by process" in message and "python" in message


def test_a_server_that_cannot_start_shows_the_cause_from_its_log() -> None:
    start = time.monotonic()
    with pytest.raises(ServerStartError) as info:
        launcher.start_server("legacy", model="/no/such/model", port=8197, progress=False,
                              timeout=300)
    assert "exited" in str(info.value) and "/no/such/model" in str(info.value)
    assert time.monotonic() - start < 200  # it noticed the exit; it did not wait for a timeout
    assert not launcher.is_healthy("http://127.0.0.1:8197")


def test_not_enough_memory_for_the_kv_cache_is_diagnosed(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "100000")  # GiB: far beyond this machine
    with pytest.raises(ServerStartError) as info:
        launcher.start_server("legacy", port=8196, progress=False, timeout=300)
    message = str(info.value)
    assert "Cause: ValueError: Available memory" in message
    assert "Not enough memory for the KV cache" in info.value.hint
