"""The launcher: commands, device choice, reuse, remote mode and start-up failures."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import psutil
import pytest

from helpers import settings
from helpers.course import __main__ as command_line
from helpers.course import _processes, diagnosis, launcher
from helpers.course.launcher import ServerStartError
from helpers.course.ports import ephemeral_range, free_port
from helpers.course.servers import KINDS


def test_legacy_command_binds_loopback_by_default(monkeypatch) -> None:
    monkeypatch.delenv("VLLM_COURSE_LEGACY_PORT")  # the test session's own port
    command = launcher.server_command("legacy", "/m")
    assert command == [sys.executable, "-m", "helpers.api_server", "--model", "/m",
                       "--host", "127.0.0.1", "--port", "8000"]
    assert launcher.display_command(command) == (
        "python -m helpers.api_server --model /m --host 127.0.0.1 --port 8000")


def test_openai_command_uses_the_current_entry_point_and_is_shown_as_vllm_serve(
        monkeypatch) -> None:
    monkeypatch.delenv("VLLM_COURSE_OPENAI_PORT")
    command = launcher.server_command("openai", "/m", device="cpu")
    assert command[1:3] == ["-m", "vllm.entrypoints.launchers.api_server.entry"]
    assert "--enforce-eager" in command and command[command.index("--port") + 1] == "8001"
    assert command[command.index("--served-model-name") + 1] == settings.SERVED_MODEL_NAME
    shown = launcher.display_command(command)
    assert shown.startswith("vllm serve /m --host 127.0.0.1 --port 8001")


def test_both_servers_always_get_an_explicit_host() -> None:
    """`vllm serve` binds every interface when --host is missing: the launcher always sets it."""
    for kind in KINDS:
        for device in ("cpu", "gpu"):
            command = launcher.server_command(kind, "/m", device=device)
            assert command[command.index("--host") + 1] == "127.0.0.1"


def test_gpu_path_keeps_vllms_defaults_but_shares_the_gpu() -> None:
    command = launcher.server_command("openai", "m", device="gpu", extra_args=["--dtype", "half"])
    assert "--enforce-eager" not in command and command[-2:] == ["--dtype", "half"]
    assert command[command.index("--gpu-memory-utilization") + 1] == "0.4"


def test_servers_that_run_together_fit_one_gpu() -> None:
    """vLLM gives one engine 0.92 of the GPU by default; a second one could not start."""
    shares = []
    for kind in [kind for kind, spec in KINDS.items() if spec.serves_model]:
        command = launcher.server_command(kind, "m", device="gpu")
        shares.append(float(command[command.index("--gpu-memory-utilization") + 1]))
    assert sum(shares) <= 0.9


def test_a_caller_s_own_share_wins() -> None:
    command = launcher.server_command("legacy", "m", device="gpu",
                                      extra_args=["--gpu-memory-utilization", "0.2"])
    assert command.count("--gpu-memory-utilization") == 1 and command[-1] == "0.2"


def test_an_unknown_kind_lists_the_kinds() -> None:
    with pytest.raises(ValueError, match="the kinds are: legacy, openai, router"):
        launcher.server_command("ollama", "m")


def test_a_handle_that_the_launcher_does_not_manage_is_never_stopped() -> None:
    """A remote server on port 8000 must not stop the local server on port 8000."""
    remote = launcher.ServerHandle(KINDS["legacy"], "http://workshop.example:8000")
    assert not remote.managed and remote.remote
    assert remote.stop() is False


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
    handle = launcher.start_server("legacy", port=free_port(), progress=False)
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


def test_a_server_that_cannot_start_shows_the_cause_from_its_log(starts_servers) -> None:
    port = free_port()
    start = time.monotonic()
    with pytest.raises(ServerStartError) as info:
        launcher.start_server("legacy", model="/no/such/model", port=port, progress=False,
                              timeout=300)
    assert "exited" in str(info.value) and "/no/such/model" in str(info.value)
    assert time.monotonic() - start < 200  # it noticed the exit; it did not wait for a timeout
    assert not launcher.is_healthy(f"http://127.0.0.1:{port}")
    assert _processes.read("legacy", port) is None  # no state left for a server that never was


def test_not_enough_memory_for_the_kv_cache_is_diagnosed(starts_servers, monkeypatch) -> None:
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "100000")  # GiB: far beyond this machine
    with pytest.raises(ServerStartError) as info:
        launcher.start_server("legacy", port=free_port(), progress=False, timeout=300)
    message = str(info.value)
    assert "Cause: ValueError: Available memory" in message
    assert "Not enough memory for the KV cache" in info.value.hint


def test_a_port_lost_while_the_engine_started_is_diagnosed() -> None:
    """uvicorn's own words when another program bound the port during the engine's start."""
    log = ("INFO:     Application startup complete.\n"
           "ERROR:    [Errno 98] error while attempting to bind on address ('127.0.0.1', 41521): "
           "address already in use\nINFO:     Waiting for application shutdown.\n")
    cause = diagnosis.root_causes(log)
    assert cause.startswith("ERROR: [Errno 98] error while attempting to bind")
    assert "Another process holds the port" in diagnosis.advice(cause)


def test_test_ports_stay_below_the_ephemeral_range() -> None:
    assert 20000 <= free_port() < ephemeral_range()[0]


def test_the_router_is_one_registry_entry(monkeypatch) -> None:
    """vllm-router: no model, its workers from the caller, its metrics port beside its own."""
    monkeypatch.delenv("VLLM_COURSE_ROUTER_PORT", raising=False)
    command = launcher.server_command(
        "router", None, extra_args=["--worker-urls", "http://127.0.0.1:8000",
                                    "http://127.0.0.1:8010", "--policy", "round_robin"])
    assert command[1:3] == ["-m", "vllm_router.launch_router"] and "--model" not in command
    assert command[command.index("--port") + 1] == "8002"
    assert command[command.index("--prometheus-port") + 1] == "9002"
    assert launcher.display_command(command).startswith(
        "vllm-router --host 127.0.0.1 --port 8002 --prometheus-port 9002 --worker-urls")


def test_the_command_line_passes_server_arguments_after_a_double_dash(monkeypatch) -> None:
    seen = {}
    monkeypatch.setattr(command_line, "start_server", lambda kind, **options: seen.update(
        kind=kind, **options) or launcher.ServerHandle(KINDS[kind], "http://127.0.0.1:8002"))
    assert command_line.main(["start", "router", "--", "--worker-urls", "http://a:1"]) == 0
    assert seen["kind"] == "router" and seen["extra_args"] == ["--worker-urls", "http://a:1"]


def test_a_warning_that_quotes_an_error_is_no_cause() -> None:
    log = ("(APIServer pid=19594) WARNING 11-27 08:03:32 [system_utils.py:255] Found ulimit of "
           "20000 and failed to automatically increase with error current limit exceeds "
           "maximum limit. This can cause fd limit errors like `OSError: [Errno 24] Too many "
           "open files`. Consider increasing with ulimit -n\n"
           "(EngineCore pid=8) ERROR 11-27 08:03:40 [core.py:1] ValueError: No available memory "
           "for the cache blocks.\n")
    assert diagnosis.root_causes(log) == "ValueError: No available memory for the cache blocks."


def test_a_server_is_still_known_after_the_clock_was_stepped(tmp_path) -> None:
    """psutil's creation times move with the boot time when a VM steps its clock (23 s was
    measured here): the launcher then recognises its server by pid and command line."""
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    # A sleeping process, not a server (the fast tier's guard refuses _processes.spawn).
    process = psutil.Process(subprocess.Popen(command, start_new_session=True).pid)
    try:
        # Until the child has exec'd, its command line is still its parent's (pytest): on a
        # busy machine that lasts long enough for the comparison below to see it.
        deadline = time.monotonic() + 30
        while process.cmdline() != command and time.monotonic() < deadline:
            time.sleep(0.05)
        state = _processes.ServerState("legacy", 1, "http://127.0.0.1:1", process.pid,
                                       process.create_time() - 23, str(tmp_path / "log"),
                                       command=command)
        assert _processes.runs(state)
        other = _processes.ServerState(**{**vars(state), "command": [*command, "other"]})
        assert not _processes.runs(other), "a reused pid with another command is not ours"
    finally:
        _processes.terminate(process.pid, 5)
    assert not _processes.runs(state)


@pytest.mark.parametrize(("device", "together"), [("cpu", True), ("gpu", False)])
def test_several_servers_start_together_on_a_cpu_only(monkeypatch, device, together) -> None:
    """On a GPU, engines starting together would size their KV caches from each other's
    loading (vLLM issue 55827): there ``start_servers`` starts them one after another."""
    import threading

    monkeypatch.setenv("VLLM_COURSE_DEVICE", device)
    running, most = set(), [0]
    lock = threading.Lock()

    def start(kind, **options):  # a start that takes a while, in place of an engine
        with lock:
            running.add(options["port"])
            most[0] = max(most[0], len(running))
        time.sleep(0.3)
        with lock:
            running.discard(options["port"])
        return launcher.ServerHandle(KINDS[kind], f"http://127.0.0.1:{options['port']}")

    monkeypatch.setattr(launcher, "start_server", start)
    handles = launcher.start_servers([dict(kind="openai", model="/a/model", port=port)
                                      for port in (1, 2, 3)], progress=False)
    assert [handle.port for handle in handles] == [1, 2, 3]
    assert (most[0] == 3) is together and (most[0] == 1) is not together


@pytest.mark.parametrize(("asked", "expected"), [
    ({}, ("/the/dead/one's/model", ["--max-pending", "1"])),
    ({"extra_args": ["--max-pending", "4"]}, (None, ["--max-pending", "4"])),
    ({"model": "/another/model"}, ("/another/model", [])),
])
def test_a_dead_server_is_replaced_as_it_was_unless_asked_otherwise(
        tmp_path, monkeypatch, asked, expected) -> None:
    """After a crash, ``start_server()`` gives back the server that crashed (chapter 04 restarts
    a tool-calling OpenAI server with its tool-calling arguments); a caller's own model or
    arguments win."""
    monkeypatch.setenv("VLLM_COURSE_CACHE", str(tmp_path))
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()  # a server that has exited
    log = tmp_path / "dead.log"
    log.write_text("RuntimeError: the engine died\n")
    _processes.write(_processes.ServerState(
        "legacy", port, f"http://127.0.0.1:{port}", process.pid, time.time(), str(log),
        "/the/dead/one's/model", ["python", "-m", "helpers.api_server"],
        ["--max-pending", "1"]))
    seen = {}

    def spawn(spec, model, host, port, url, extra_args, *rest):  # in place of a real start
        seen.update(model=model, extra_args=list(extra_args))
        return launcher.ServerHandle(spec, url)

    monkeypatch.setattr(launcher, "spawn", spawn)
    launcher.start_server("legacy", port=port, progress=False, **asked)
    assert (seen["model"], seen["extra_args"]) == expected
    assert _processes.read("legacy", port) is None  # the dead one is forgotten
