"""Start one fresh server process and wait until it is healthy, or say why it is not.

Introduced in chapter 00 (its progress bar and its errors are what ``start_server`` shows).
:mod:`helpers.course.launcher` decides whether a fresh start is needed; this module does it:
the command (:mod:`helpers.course.commands`), the engine's environment
(:mod:`helpers.course.runtime`), the process and its log (:mod:`helpers.course._processes`),
and the cause of a failed start read from that log (:mod:`helpers.course.diagnosis`).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

from helpers.course import _processes, diagnosis
from helpers.course.commands import default_model, server_command
from helpers.course.handle import ServerHandle, connect_host, is_healthy
from helpers.course.model import resolve_model
from helpers.course.runtime import detect_device, engine_environment
from helpers.course.servers import ServerKind
from helpers.errors import ServerStartError

__all__ = ["START_LOG", "ServerExited", "check_port_free", "report_previous_end", "spawn",
           "wait_until_healthy"]

#: The folder that holds the ``helpers`` package: a server runs there, with it on its path.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def spawn(spec: ServerKind, model: str | None, host: str, port: int, url: str,
           extra_args: list[str] | tuple[str, ...], timeout: float, progress: bool,
           api_key: str | None) -> ServerHandle:
    """Start a fresh server of ``spec`` on ``port`` and wait until it answers ``url``.

    Raises :class:`ServerStartError` with the cause read from its log if it exits first.
    """
    device = detect_device()
    resolved = None
    if spec.serves_model:
        resolved = resolve_model(model or default_model(device))
    command = server_command(spec.name, resolved, host=host, port=port, device=device,
                             extra_args=extra_args)
    log_path = _processes.state_dir("logs") / f"{spec.name}-{port}.log"
    local_model = resolved is not None and Path(resolved).is_dir()
    env = {**os.environ, **engine_environment(device, local_model=local_model)}
    if api_key:
        env["VLLM_API_KEY"] = api_key
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    process = _processes.spawn(command, log_path, env, PROJECT_ROOT)
    handle = ServerHandle(spec, url, resolved, process.pid, log_path, command, started=True)
    _processes.write(_processes.ServerState(
        spec.name, port, url, process.pid, process.create_time(), str(log_path), resolved,
        command, list(extra_args)))
    outcome = "failed"
    try:
        wait_until_healthy(handle, spec, timeout, progress)
        outcome = "healthy"
    except ServerExited as exited:
        _processes.forget(spec.name, port)
        causes = diagnosis.root_causes(handle.log_tail(400))
        raise ServerStartError(
            f"The {spec.title} exited{exited.code} before it was healthy.\n"
            f"Cause: {causes or 'not found in the log'}\n"
            f"{_other_servers(handle.pid)}"
            f"Last lines of {log_path}:\n{handle.log_tail(8)}",
            hint=diagnosis.advice(causes),
        ) from None
    finally:
        _record_start(spec, port, outcome)
    return handle



#: When set, each server start appends a line "KIND PORT WHERE OUTCOME" to this file once it
#: ends (the test session counts the engines a run starts, in its own process and in every
#: process it starts; WHERE is the test that started it, from pytest's ``PYTEST_CURRENT_TEST``,
#: which a notebook's kernel inherits, or ``-``; OUTCOME is ``healthy`` or ``failed``).
START_LOG = "VLLM_COURSE_START_LOG"


def _record_start(spec: ServerKind, port: int, outcome: str) -> None:
    path = os.environ.get(START_LOG)
    if path:
        where = (os.environ.get("PYTEST_CURRENT_TEST") or "-").split("::")[0].split(" ")[0]
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{spec.name} {port} {where} {outcome}\n")


class ServerExited(Exception):
    """The server's process ended while the launcher waited for it."""

    def __init__(self, code: int | None) -> None:
        self.code = f" (code {code})" if code is not None else ""


def wait_until_healthy(handle: ServerHandle, spec: ServerKind, timeout: float,
                        progress: bool) -> None:
    """Poll the health path until 200; raise :class:`ServerExited` if the process ends."""
    start = time.monotonic()
    bar = tqdm(total=None, desc=f"Starting the {spec.title}", unit="s", disable=not progress,
               bar_format="{desc}: {elapsed}{postfix}")
    try:
        while True:
            bar.set_postfix_str(diagnosis.last_line(handle.log_path)[:60])
            bar.update(0)
            if is_healthy(handle.url, timeout=1, path=spec.health_path):
                bar.set_postfix_str(f"healthy at {handle.url}")
                return
            if not _processes.alive(handle.pid):
                raise ServerExited(_processes.exit_code(handle.pid))
            if time.monotonic() - start > timeout:
                handle.stop()
                raise ServerStartError(
                    f"The {spec.title} was not healthy after {timeout:.0f} s. "
                    f"Last lines of {handle.log_path}:\n{handle.log_tail()}",
                    hint="A first start on a slow machine can take minutes: pass a larger "
                    "timeout=..., or read the log for the cause.",
                )
            time.sleep(0.5)
    finally:
        bar.close()


def _other_servers(pid: int | None) -> str:
    """A line naming the other servers this launcher runs (they hold memory), or ''."""
    others = [f"{s.kind} on port {s.port} (pid {s.pid})" for s in _processes.running()
              if s.pid != pid]
    return f"Other servers the launcher runs here: {', '.join(others)}.\n" if others else ""


def report_previous_end(spec: ServerKind, state: _processes.ServerState, progress: bool) -> None:
    """Say why the server this launcher started earlier on this port is gone."""
    causes = diagnosis.root_causes(diagnosis.tail(Path(state.log), 400))
    if progress and causes:
        print(f"The {spec.title} started earlier on port {state.port} has exited.\n"
              f"Cause: {causes}\nHow to fix: {diagnosis.advice(causes)}\n"
              "Starting a fresh one.", file=sys.stderr)


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        busy = probe.connect_ex((connect_host(host), port)) == 0
    if busy:
        raise ServerStartError(
            f"Port {port} is already in use by {_processes.port_owner(port)}, which is not a "
            "healthy vLLM server.",
            hint=f"Stop that process, or start the server on another port: "
            f"start_server(port={port + 10}).",
        )
