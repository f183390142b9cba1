"""Start, reuse and stop the course's servers as background processes.

>>> server = start_server()            # legacy /generate server, reused if already up
>>> server.url                         # 'http://127.0.0.1:8000'
>>> openai_server = start_server("openai")   # `vllm serve`, same model, port 8001
>>> stop_server()                      # when you are done with the course

Servers run in their own process session, so they outlive the notebook kernel
that started them and every chapter shares one. Each logs to a file
(``server.log_path``). On a GPU the launcher serves the hub model; on a CPU it
serves the bundled model with CPU settings (:mod:`helpers.runtime`). With
``VLLM_API_URL`` / ``VLLM_OPENAI_URL`` set it starts nothing and uses that
remote server (workshop mode).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import requests

from helpers import settings
from helpers.errors import ServerStartError
from helpers.runtime import Device, detect_device, engine_environment

__all__ = [
    "ServerHandle",
    "default_model",
    "display_command",
    "is_healthy",
    "server_command",
    "start_server",
    "stop_server",
]

Kind = Literal["legacy", "openai"]
_DEFAULT_PORTS: dict[str, int] = {"legacy": settings.LEGACY_PORT, "openai": settings.OPENAI_PORT}
_OPENAI_MODULE = "vllm.entrypoints.openai.api_server"
#: The name the OpenAI-compatible server gives the bundled model (``model=`` in requests).
SERVED_MODEL_NAME = "SmolLM2-135M-Instruct"


@dataclass
class ServerHandle:
    """A running server: where it answers, and (if local) its process and log."""

    kind: Kind
    url: str
    model: str | None = None
    pid: int | None = None
    log_path: Path | None = None
    command: list[str] = field(default_factory=list)
    started: bool = False  #: True if this call started it, False if it was reused or remote

    @property
    def remote(self) -> bool:
        """True when this machine's launcher did not start it (a workshop server, or one
        started by hand): then there is no process to signal and no log to read here."""
        return self.pid is None and self.log_path is None

    @property
    def health_url(self) -> str:
        return _root(self.url) + "/health"

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the server's log ('' for a remote server)."""
        return _tail(self.log_path, lines) if self.log_path else ""

    def stop(self) -> None:
        """Stop this server (only if this machine's launcher started it)."""
        stop_server(self.kind, port=urlsplit(self.url).port)


def default_model(device: Device | None = None) -> str:
    """``VLLM_COURSE_MODEL`` if set; else the hub copy of the course model on a GPU,
    the bundled offline copy (``"bundled"``) on a CPU."""
    from helpers.model import HUB_MODEL_ID

    configured = os.environ.get("VLLM_COURSE_MODEL", "").strip()
    if configured:
        return configured
    return HUB_MODEL_ID if (device or detect_device()) == "gpu" else "bundled"


def server_command(
    kind: Kind,
    model: str,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    device: Device = "cpu",
    extra_args: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """The command line that starts a server (``model`` must already be resolved).

    The OpenAI server is vLLM's own; its console script ``vllm serve`` is broken in
    the CPU build (it looks for a distribution named ``vllm``), so the launcher runs
    the module entry point, which takes the same arguments.
    """
    port = port or _DEFAULT_PORTS[kind]
    module = "helpers.api_server" if kind == "legacy" else _OPENAI_MODULE
    command = [sys.executable, "-m", module, "--model", model, "--host", host, "--port", str(port)]
    if kind == "openai":
        command += ["--served-model-name", SERVED_MODEL_NAME]
        if device == "cpu" and not _mentions(extra_args, "enforce-eager"):
            command.append("--enforce-eager")  # compiling takes minutes on a CPU
    return command + list(extra_args)


def display_command(command: list[str]) -> str:
    """How a learner would type ``command``: ``vllm serve MODEL ...`` for the OpenAI server."""
    if command[1:3] == ["-m", _OPENAI_MODULE]:
        args = command[3:]
        at = args.index("--model")
        return shlex.join(["vllm", "serve", args[at + 1], *args[:at], *args[at + 2:]])
    return shlex.join(["python", *command[1:]])


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """True if ``GET <root of url>/health`` answers 200."""
    try:
        return requests.get(_root(url) + "/health", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def start_server(
    kind: Kind = "legacy",
    *,
    model: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    extra_args: list[str] | tuple[str, ...] = (),
    timeout: float = 600.0,
    progress: bool = True,
    api_key: str | None = None,
) -> ServerHandle:
    """Return a healthy server of ``kind``: the remote one, a running one, or a new one.

    ``api_key`` makes a new server require ``Authorization: Bearer <key>``; it reaches
    the server through its environment (``VLLM_API_KEY``), never its command line or log.

    Raises :class:`ServerStartError` with the end of the server's log if it does
    not become healthy within ``timeout`` seconds, or if the port is taken by
    something that is not a healthy server.
    """
    remote = settings.remote_legacy_url() if kind == "legacy" else settings.remote_openai_url()
    if remote:
        if not is_healthy(remote, timeout=10):
            raise ServerStartError(
                f"The remote {kind} server at {remote} does not answer /health.",
                hint="Check the URL in VLLM_API_URL / VLLM_OPENAI_URL and that the server is up, "
                "or unset the variable to start a local server.",
            )
        return ServerHandle(kind, remote)

    port = port or _DEFAULT_PORTS[kind]
    url = f"http://{_connect_host(host)}:{port}" + ("/v1" if kind == "openai" else "")
    state = _read_state(kind, port)
    if is_healthy(url):
        return _handle_from_state(kind, url, state)
    if state and _pid_alive(state["pid"]):  # ours, still starting: wait for it
        handle = _handle_from_state(kind, url, state)
        _wait_until_healthy(handle, None, timeout, progress)
        return handle
    _check_port_free(host, port)

    device = detect_device()
    chosen = model or default_model(device)
    from helpers.model import resolve_model  # imports nothing heavy until it converts

    resolved = resolve_model(chosen)
    command = server_command(kind, resolved, host=host, port=port, device=device,
                             extra_args=extra_args)
    log_path = _state_dir("logs") / f"{kind}-{port}.log"
    env = {**os.environ, **engine_environment(device, local_model=Path(resolved).is_dir())}
    if api_key:
        env["VLLM_API_KEY"] = api_key
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_project_root()), env.get("PYTHONPATH")]))
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, cwd=_project_root(), start_new_session=True,
        )
    handle = ServerHandle(kind, url, resolved, process.pid, log_path, command, started=True)
    _write_state(handle, port)
    _wait_until_healthy(handle, process, timeout, progress)
    return handle


def stop_server(kind: Kind = "legacy", *, port: int | None = None, timeout: float = 30.0) -> bool:
    """Stop the server of ``kind`` that the launcher started on ``port``.

    Sends SIGTERM to its process group, then SIGKILL after ``timeout`` seconds.
    Returns False if the launcher had no such server running.
    """
    port = port or _DEFAULT_PORTS[kind]
    state = _read_state(kind, port)
    state_file = _state_dir("servers") / f"{kind}-{port}.json"
    if not state or not _pid_alive(state["pid"]):
        state_file.unlink(missing_ok=True)
        return False
    pid = state["pid"]
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _pid_alive(pid):
        _signal_group(pid, signal.SIGKILL)
    _reap(pid)
    state_file.unlink(missing_ok=True)
    return True


# --- waiting -------------------------------------------------------------------------------

def _wait_until_healthy(
    handle: ServerHandle, process: subprocess.Popen | None, timeout: float, progress: bool
) -> None:
    from tqdm.auto import tqdm

    start = time.monotonic()
    bar = tqdm(total=int(timeout), desc=f"Starting the {handle.kind} server", unit="s",
               disable=not progress, bar_format="{desc}: {n:.0f}s elapsed {postfix}")
    try:
        while True:
            elapsed = time.monotonic() - start
            bar.n = elapsed
            bar.set_postfix_str(_last_line(handle.log_path)[:60])
            if is_healthy(handle.url, timeout=1):
                bar.set_postfix_str(f"healthy at {handle.url}")
                return
            exited = process.poll() if process else (None if _pid_alive(handle.pid) else -1)
            if exited is not None:
                _forget(handle)
                causes = _root_causes(handle.log_tail(400))
                raise ServerStartError(
                    f"The {handle.kind} server exited (code {exited}) before it was healthy.\n"
                    f"Cause: {causes or 'not found in the log'}\n"
                    f"Last lines of {handle.log_path}:\n{handle.log_tail(8)}",
                    hint=_diagnose(causes),
                )
            if elapsed > timeout:
                stop_server(handle.kind, port=urlsplit(handle.url).port)
                raise ServerStartError(
                    f"The {handle.kind} server was not healthy after {timeout:.0f} s. "
                    f"Last lines of {handle.log_path}:\n{handle.log_tail()}",
                    hint="A first start on a slow machine can take minutes: pass a larger "
                    "timeout=..., or read the log for the cause.",
                )
            time.sleep(0.5)
    finally:
        bar.close()


_DIAGNOSES = (
    ("Address already in use", "Another process holds the port: stop it or pass port=..."),
    ("kv cache", "Not enough memory for the KV cache: close other servers or lower "
                 "VLLM_CPU_KVCACHE_SPACE (GiB) / --gpu-memory-utilization / --max-model-len."),
    ("out of memory", "The machine ran out of memory: stop other servers or use a smaller model."),
    ("No module named", "A package is missing: run `make setup` or install the cpu/gpu profile."),
    ("PackageNotFoundError", "Install the cpu or gpu profile (make setup)."),
    ("does not appear to have", "The model folder or hub id is wrong: check --model / model=."),
)
_ERROR_LINE = re.compile(r"\b(\w+(?:Error|Exception)): (.+)")


def _root_causes(log: str) -> str:
    """The distinct ``SomeError: message`` lines of a log, first (the root cause) first."""
    causes: list[str] = []
    for line in log.splitlines():
        match = _ERROR_LINE.search(line)
        if match and "See root cause above" not in line:
            cause = f"{match.group(1)}: {match.group(2).strip()}"
            if cause not in causes:
                causes.append(cause)
    return "\n       ".join(causes[:3])


def _diagnose(causes: str) -> str:
    for needle, advice in _DIAGNOSES:
        if needle.lower() in causes.lower():
            return advice
    return "Read the cause and the log lines above (the first error is the one that matters)."


# --- ports and processes -------------------------------------------------------------------

def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        busy = probe.connect_ex((_connect_host(host), port)) == 0
    if busy:
        raise ServerStartError(
            f"Port {port} is already in use by {_port_owner(port)}, which is not a healthy "
            "vLLM server.",
            hint=f"Stop that process, or start the server on another port: "
            f"start_server(port={port + 10}).",
        )


def _port_owner(port: int) -> str:
    try:
        import psutil
    except ImportError:
        return "another process"
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == "LISTEN" and conn.pid:
                proc = psutil.Process(conn.pid)
                return f"process {conn.pid} ({' '.join(proc.cmdline()[:3])[:80]})"
    except (psutil.Error, OSError):
        pass
    return "another process"


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this process counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# --- state files ---------------------------------------------------------------------------

def _state_dir(name: str) -> Path:
    path = settings.cache_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_state(handle: ServerHandle, port: int) -> None:
    state = {"pid": handle.pid, "model": handle.model, "log": str(handle.log_path),
             "command": handle.command, "url": handle.url}
    (_state_dir("servers") / f"{handle.kind}-{port}.json").write_text(json.dumps(state))


def _read_state(kind: Kind, port: int) -> dict | None:
    try:
        return json.loads((_state_dir("servers") / f"{kind}-{port}.json").read_text())
    except (OSError, ValueError):
        return None


def _forget(handle: ServerHandle) -> None:
    port = urlsplit(handle.url).port
    (_state_dir("servers") / f"{handle.kind}-{port}.json").unlink(missing_ok=True)


def _handle_from_state(kind: Kind, url: str, state: dict | None) -> ServerHandle:
    if not state:
        return ServerHandle(kind, url)
    return ServerHandle(kind, url, state.get("model"), state.get("pid"),
                        Path(state["log"]) if state.get("log") else None, state.get("command", []))


# --- small helpers -------------------------------------------------------------------------

def _root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)


def _mentions(args: list[str] | tuple[str, ...], flag: str) -> bool:
    return any(flag in arg for arg in args)


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def _tail(path: Path | None, lines: int) -> str:
    if not path or not path.exists():
        return ""
    with open(path, "rb") as log:
        return b"".join(deque(log, maxlen=lines)).decode("utf-8", "replace")


def _last_line(path: Path | None) -> str:
    text = _tail(path, 1).strip()
    return text.split("] ", 1)[-1] if text else ""


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.launcher {start,stop,status} [legacy|openai]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m helpers.launcher",
                                     description="Start, stop or check the course's servers.")
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("kind", nargs="?", default="legacy", choices=["legacy", "openai"])
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--model", default=None, help="default: the course model")
    args = parser.parse_args(argv)
    port = args.port or _DEFAULT_PORTS[args.kind]
    try:
        if args.action == "start":
            handle = start_server(args.kind, model=args.model, port=port)
            how = "started" if handle.started else "already running"
            print(f"{args.kind} server {how} at {handle.url}"
                  + (f" (log: {handle.log_path})" if handle.log_path else ""))
            if handle.command:
                print(f"  equivalent command: {display_command(handle.command)}")
        elif args.action == "stop":
            stopped = stop_server(args.kind, port=port)
            print(f"{args.kind} server on port {port} " + ("stopped" if stopped else
                  "was not started by the launcher"))
        else:
            url = f"http://127.0.0.1:{port}"
            print(f"{args.kind} server at {url}: "
                  + ("healthy" if is_healthy(url) else "not answering"))
    except ServerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
