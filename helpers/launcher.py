"""Start, reuse and stop the course's servers as background processes.

Introduced in chapter 00::

    server = start_server()                  # legacy /generate server, reused if already up
    server.url                               # 'http://127.0.0.1:8000'
    openai_server = start_server("openai")   # `vllm serve`, same model, port 8001
    stop_server()                            # when you are done with the course

Servers run in their own process session, so they outlive the notebook kernel that
started them and every chapter shares one. Each logs to a file (``server.log_path``).
The kinds of server, their ports and default arguments are in :mod:`helpers.servers`;
on a GPU the launcher serves the hub model, on a CPU the bundled model with CPU settings
(:mod:`helpers.runtime`). With ``VLLM_API_URL`` / ``VLLM_OPENAI_URL`` set it starts
nothing and uses that remote server (workshop mode).
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from tqdm.auto import tqdm

from helpers import _processes, diagnosis, settings
from helpers.errors import ServerStartError
from helpers.model import resolve_model
from helpers.runtime import Device, detect_device, engine_environment
from helpers.servers import KINDS, ServerKind, kind_named

__all__ = [
    "ServerHandle",
    "ServerStartError",
    "course_processes",
    "default_model",
    "display_command",
    "is_healthy",
    "server_command",
    "start_server",
    "start_servers",
    "stop_all",
    "stop_server",
    "workshop_variables",
]


@dataclass
class ServerHandle:
    """A server that answers at ``url``; ``managed`` if this machine's launcher runs it.

    ``started`` is True only for the call that started it (False when it was reused or
    is remote). A server that is not ``managed`` (remote, or started by hand) has no
    process or log here, and :meth:`stop` leaves it alone.
    """

    kind: str
    url: str
    model: str | None = None
    pid: int | None = None
    log_path: Path | None = None
    command: list[str] = field(default_factory=list)
    started: bool = False

    @property
    def managed(self) -> bool:
        """True when this machine's launcher started the process (it can stop it)."""
        return self.pid is not None

    @property
    def remote(self) -> bool:
        """True when this machine's launcher did not start it (a workshop server, or one
        started by hand): there is no process to signal and no log to read here."""
        return not self.managed

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    @property
    def health_url(self) -> str:
        return _root(self.url) + kind_named(self.kind).health_path

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the server's log ('' for a remote server)."""
        return diagnosis.tail(self.log_path, lines)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop this server if this launcher started it; False (and nothing done) otherwise."""
        if not self.managed:
            return False
        return stop_server(self.kind, port=self.port, timeout=timeout)


def default_model(device: Device | None = None) -> str:
    """``VLLM_COURSE_MODEL`` if set; else the hub copy of the course model on a GPU,
    the bundled offline copy (``"bundled"``) on a CPU."""
    return settings.model_override() or (
        settings.HUB_MODEL_ID if (device or detect_device()) == "gpu" else "bundled")


def server_command(
    kind: str,
    model: str | None,
    *,
    host: str = settings.LOCAL_HOST,
    port: int | None = None,
    device: Device = "cpu",
    extra_args: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """The command line that starts a server of ``kind`` (``model`` already resolved)."""
    spec = kind_named(kind)
    command = spec.program()
    if spec.serves_model:
        command += ["--model", str(model)]
    command += ["--host", host, "--port", str(port or spec.default_port())]
    if spec.served_model_name and not _mentions(extra_args, "--served-model-name"):
        command += ["--served-model-name", spec.served_model_name]
    if spec.metrics_port_flag and not _mentions(extra_args, spec.metrics_port_flag):
        command += [spec.metrics_port_flag, str(spec.metrics_port(port))]
    defaults = spec.device_args.get(device, ())
    for at, arg in enumerate(defaults):
        if arg.startswith("--") and not _mentions(extra_args, arg):
            value = defaults[at + 1] if at + 1 < len(defaults) else ""
            command += [arg] + ([value] if value and not value.startswith("--") else [])
    return command + list(extra_args)


def display_command(command: list[str]) -> str:
    """How a learner would type ``command``: ``vllm serve MODEL ...`` for the OpenAI server."""
    for spec in KINDS.values():
        program = spec.program()
        if command[:len(program)] == program:
            args = command[len(program):]
            if spec.shows_model_first and "--model" in args:  # vllm serve MODEL ...
                at = args.index("--model")
                args = [args[at + 1], *args[:at], *args[at + 2:]]
            return shlex.join([*spec.shown_as, *args])
    return shlex.join(command)


def is_healthy(url: str, timeout: float = 2.0, path: str = "/health") -> bool:
    """True if ``GET <root of url><path>`` answers 200."""
    try:
        return requests.get(_root(url) + path, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def start_server(
    kind: str = "legacy",
    *,
    model: str | None = None,
    host: str = settings.LOCAL_HOST,
    port: int | None = None,
    extra_args: list[str] | tuple[str, ...] = (),
    timeout: float = 600.0,
    progress: bool = True,
    api_key: str | None = None,
) -> ServerHandle:
    """Return a healthy server of ``kind``: the remote one, a running one, or a new one.

    ``api_key`` makes a new server require ``Authorization: Bearer <key>``; it reaches
    the server through its environment (``VLLM_API_KEY``), never its command line or log.
    A server this launcher started that has since died (its engine crashed, it was
    killed) is replaced, and the cause of its end is printed.

    Raises :class:`ServerStartError` with the cause from the server's log if it does not
    become healthy within ``timeout`` seconds, or if the port is taken by something that
    is not a healthy server.
    """
    spec = kind_named(kind)
    remote = spec.remote_url()
    if remote:
        if not is_healthy(remote, timeout=10, path=spec.health_path):
            raise ServerStartError(
                f"The remote {spec.title} at {remote} does not answer {spec.health_path}.",
                hint=f"Check the URL in {spec.remote_variable} and that the server is up, "
                "or unset the variable to start a local server.",
            )
        return ServerHandle(kind, remote)
    _refuse_in_a_workshop(spec)

    port = port or spec.default_port()
    url = f"http://{_connect_host(host)}:{port}{spec.url_suffix}"
    state = _processes.read(kind, port)
    running = state is not None and _processes.runs(state)
    if running and extra_args and not _started_with(state, extra_args):
        # Ours, but started for something else (a router over other replicas): replace it.
        stop_server(kind, port=port)
        state, running = None, False
    if is_healthy(url, path=spec.health_path):
        if running:
            return _handle(state)
        if extra_args:  # not ours: nothing says it runs with these arguments
            raise ServerStartError(
                f"A {spec.title} already answers on port {port}, but this launcher did not "
                f"start it, so it cannot tell whether it runs with {shlex.join(extra_args)}.",
                hint=f"Stop {_processes.port_owner(port)} (`python -m helpers.launcher stop "
                f"--all` stops every course server on this machine), or use another port.",
            )
        return ServerHandle(kind, url)
    if running:  # ours, still starting (or about to exit): wait for it
        handle = _handle(state)
        try:
            _wait_until_healthy(handle, spec, timeout, progress)
            return handle
        except _ServerExited:
            pass
    if state is not None:
        _report_previous_end(spec, state, progress)
        _processes.forget(kind, port)
    _check_port_free(host, port)
    return _start(spec, model, host, port, url, extra_args, timeout, progress, api_key)


def start_servers(starts: list[dict], *, progress: bool = True) -> list[ServerHandle]:
    """Start several servers: :func:`start_server` with each dict's arguments.

    On a CPU they start at once, each in a thread of its own: a start is mostly one process
    importing vLLM on one core, so three engines are healthy in 0.6x the time of one after
    another (2 cores, measured side by side). On a GPU they start one after another: an
    engine sizes its KV cache from the whole device's free memory, so two starting together
    each count the other's loading as their own (vLLM issue 55827: a KV cache too small, or
    "No available memory for the cache blocks"). Returns the handles in order; if any start
    fails, the first error is raised once every start has ended (the servers that did start
    keep running)."""
    device = detect_device()
    prepared = [dict(options) for options in starts]
    for options in prepared:  # convert the bundled model once, before the threads
        spec = kind_named(options.get("kind", "legacy"))
        if spec.serves_model and not spec.remote_url():
            options["model"] = resolve_model(options.get("model") or default_model(device))
    if not prepared:
        return []
    begun = time.monotonic()

    def start(options: dict) -> ServerHandle:
        handle = start_server(**options, progress=False)
        if progress:
            print(f"{kind_named(handle.kind).title}: healthy at {handle.url} after "
                  f"{time.monotonic() - begun:.0f} s", flush=True)
        return handle

    with ThreadPoolExecutor(len(prepared) if device == "cpu" else 1) as pool:
        futures = [pool.submit(start, options) for options in prepared]
    for future in futures:  # the first failure, once every start has ended
        if future.exception() is not None:
            raise future.exception()
    return [future.result() for future in futures]


def workshop_variables() -> list[str]:
    """The remote-server variables that are set (non-empty: this is an attendee's machine)."""
    return [spec.remote_variable for spec in KINDS.values() if spec.remote_url()]


def _refuse_in_a_workshop(spec: ServerKind) -> None:
    """In a workshop (some remote variable set) never start a server on the attendee's machine."""
    given = workshop_variables()
    if given:
        raise ServerStartError(
            f"This machine uses a workshop's servers ({', '.join(given)} set) but "
            f"{spec.remote_variable} is not set, so there is no {spec.title} to use; the "
            "launcher starts nothing on an attendee's machine.",
            hint=f"Export {spec.remote_variable} as the attendee card says (run "
            "`python -m helpers.setup_check` to check them all), or unset "
            f"{', '.join(given)} to run every server yourself.",
        )


def _started_with(state: _processes.ServerState, extra_args: list[str] | tuple[str, ...]) -> bool:
    """True if the server in ``state`` was started with ``extra_args`` (at the end of its
    command, where :func:`server_command` puts them)."""
    extra = list(extra_args)
    return state.command[len(state.command) - len(extra):] == extra


def stop_server(kind: str = "legacy", *, port: int | None = None, timeout: float = 30.0) -> bool:
    """Stop the server of ``kind`` that this launcher started on ``port``.

    Sends SIGTERM to its process group, then SIGKILL after ``timeout`` seconds.
    Returns False (and stops nothing) if the launcher had no such server running.
    """
    port = port or kind_named(kind).default_port()
    state = _processes.read(kind, port)
    _processes.forget(kind, port)
    if state is None or not _processes.runs(state):
        return False
    _processes.terminate(state.pid, timeout)
    return True


# --- starting ------------------------------------------------------------------------------

def _start(spec: ServerKind, model: str | None, host: str, port: int, url: str,
           extra_args: list[str] | tuple[str, ...], timeout: float, progress: bool,
           api_key: str | None) -> ServerHandle:
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
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_project_root()), env.get("PYTHONPATH")]))
    process = _processes.spawn(command, log_path, env, _project_root())
    _record_start(spec, port)
    handle = ServerHandle(spec.name, url, resolved, process.pid, log_path, command, started=True)
    _processes.write(_processes.ServerState(
        spec.name, port, url, process.pid, process.create_time(), str(log_path), resolved,
        command))
    try:
        _wait_until_healthy(handle, spec, timeout, progress)
    except _ServerExited as exited:
        _processes.forget(spec.name, port)
        causes = diagnosis.root_causes(handle.log_tail(400))
        raise ServerStartError(
            f"The {spec.title} exited{exited.code} before it was healthy.\n"
            f"Cause: {causes or 'not found in the log'}\n"
            f"{_other_servers(handle.pid)}"
            f"Last lines of {log_path}:\n{handle.log_tail(8)}",
            hint=diagnosis.advice(causes),
        ) from None
    return handle


#: When set, each server start appends a line "KIND PORT" to this file (the test session
#: counts the engines a run starts, in its own process and in every process it starts).
START_LOG = "VLLM_COURSE_START_LOG"


def _record_start(spec: ServerKind, port: int) -> None:
    path = os.environ.get(START_LOG)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{spec.name} {port}\n")


class _ServerExited(Exception):
    """The server's process ended while the launcher waited for it."""

    def __init__(self, code: int | None) -> None:
        self.code = f" (code {code})" if code is not None else ""


def _wait_until_healthy(handle: ServerHandle, spec: ServerKind, timeout: float,
                        progress: bool) -> None:
    """Poll the health path until 200; raise :class:`_ServerExited` if the process ends."""
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
                raise _ServerExited(_processes.exit_code(handle.pid))
            if time.monotonic() - start > timeout:
                stop_server(spec.name, port=handle.port)
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


def _report_previous_end(spec: ServerKind, state: _processes.ServerState, progress: bool) -> None:
    """Say why the server this launcher started earlier on this port is gone."""
    causes = diagnosis.root_causes(diagnosis.tail(Path(state.log), 400))
    if progress and causes:
        print(f"The {spec.title} started earlier on port {state.port} has exited.\n"
              f"Cause: {causes}\nHow to fix: {diagnosis.advice(causes)}\n"
              "Starting a fresh one.", file=sys.stderr)


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        busy = probe.connect_ex((_connect_host(host), port)) == 0
    if busy:
        raise ServerStartError(
            f"Port {port} is already in use by {_processes.port_owner(port)}, which is not a "
            "healthy vLLM server.",
            hint=f"Stop that process, or start the server on another port: "
            f"start_server(port={port + 10}).",
        )


def _handle(state: _processes.ServerState) -> ServerHandle:
    return ServerHandle(state.kind, state.url, state.model, state.pid, Path(state.log),
                        state.command)


# --- small helpers -------------------------------------------------------------------------

def _root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _connect_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)


def _mentions(args: list[str] | tuple[str, ...], flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in args)


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def course_processes() -> list:
    """The course's server processes running on this machine for this user, whoever started
    them (found by their command line: each leads its own process group)."""
    return _processes.group_leaders(
        [spec.module or spec.console_script or spec.name for spec in KINDS.values()])


def stop_all(timeout: float = 30.0) -> list[str]:
    """Stop every course server on this machine; what was stopped, one line each.

    First the servers this launcher remembers (any kind, any port), then any course server
    left without a state file (found by its command line: a process that leads its own group,
    as every server the launcher starts does).
    """
    stopped = []
    for state in _processes.running():
        if stop_server(state.kind, port=state.port, timeout=timeout):
            stopped.append(f"{kind_named(state.kind).title} on port {state.port} "
                           f"(pid {state.pid})")
    for process in course_processes():
        command = " ".join(process.cmdline())
        _processes.terminate(process.pid, timeout)
        stopped.append(f"pid {process.pid} without a state file ({command[:80]})")
    return stopped


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.launcher {start,stop,status} [KIND] [-- SERVER ARGS]`` and
    ``stop --all``. A workshop's room has its own command: ``python -m helpers.room``.

    Arguments after ``--`` go to the server: ``start router -- --worker-urls URL URL``.
    """
    parser = argparse.ArgumentParser(prog="python -m helpers.launcher",
                                     description="Start, stop or check the course's servers.")
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("kind", nargs="?", default="legacy", choices=list(KINDS))
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--model", default=None, help="default: the course model")
    parser.add_argument("--all", action="store_true",
                        help="stop: every course server on this machine")
    argv = list(sys.argv[1:] if argv is None else argv)
    server_args = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    spec = KINDS[args.kind]
    port = args.port or spec.default_port()
    try:
        if args.action == "start":
            handle = start_server(args.kind, model=args.model, port=port,
                                  extra_args=server_args)
            how = "started" if handle.started else "already running"
            print(f"{spec.title} {how} at {handle.url}"
                  + (f" (log: {handle.log_path})" if handle.log_path else ""))
            if handle.command:
                print(f"  equivalent command: {display_command(handle.command)}")
        elif args.action == "stop" and args.all:
            stopped = stop_all()
            print("\n".join(f"stopped: {line}" for line in stopped)
                  or "no course server was running")
        elif args.action == "stop":
            stopped = stop_server(args.kind, port=port)
            print(f"{spec.title} on port {port} " + ("stopped" if stopped else
                  "was not started by the launcher"))
        else:
            url = f"http://{settings.LOCAL_HOST}:{port}"
            healthy = is_healthy(url, path=spec.health_path)
            print(f"{spec.title} at {url}: " + ("healthy" if healthy else "not answering"))
    except ServerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
