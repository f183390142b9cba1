"""Start, reuse and stop the course's servers as background processes.

Introduced in chapter 00::

    server = start_server()                  # legacy /generate server, reused if already up
    server.url                               # 'http://127.0.0.1:8000'
    openai_server = start_server("openai")   # `vllm serve`, same model, port 8001
    stop_server()                            # when you are done with the course

Servers run in their own process session, so they outlive the notebook kernel that
started them and every chapter shares one. Each logs to a file (``server.log_path``).
The kinds of server, their ports and default arguments are in :mod:`helpers.course.servers`;
on a GPU the launcher serves the hub model, on a CPU the bundled model with CPU settings
(:mod:`helpers.course.runtime`). With ``VLLM_API_URL`` / ``VLLM_OPENAI_URL`` set it starts
nothing and uses that remote server (workshop mode).
"""

from __future__ import annotations

import shlex
import time
from concurrent.futures import ThreadPoolExecutor

from helpers import settings
from helpers.course import _processes
from helpers.course.commands import default_model, display_command, server_command
from helpers.course.handle import ServerHandle, connect_host, is_healthy, stop_server
from helpers.course.model import resolve_model
from helpers.course.runtime import detect_device
from helpers.course.servers import KINDS, ServerKind, kind_named
from helpers.course.spawn import (
    ServerExited,
    check_port_free,
    report_previous_end,
    spawn,
    wait_until_healthy,
)
from helpers.errors import ServerStartError

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
    killed) is replaced, and the cause of its end is printed; unless ``model`` or
    ``extra_args`` are given, the replacement serves the model with the arguments the dead
    server had (a restart after a crash gives back the server that crashed).

    Raises :class:`ServerStartError` with the cause from the server's log if it does not
    become healthy within ``timeout`` seconds, or if the port is taken by something that
    is not a healthy server.
    """
    spec = kind_named(kind)
    if spec.remote_url():
        return _remote(spec)
    _refuse_in_a_workshop(spec)
    port = port or spec.default_port()
    url = f"http://{connect_host(host)}:{port}{spec.url_suffix}"
    previous = _processes.read(spec.name, port)
    running = _running(spec, previous, port, url, extra_args, timeout, progress)
    if running is not None:
        return running
    if previous is not None and not (model or extra_args):  # replacing a server that died
        model, extra_args = previous.model, previous.extra_args
    check_port_free(host, port)
    return spawn(spec, model, host, port, url, extra_args, timeout, progress, api_key)


def _remote(spec: ServerKind) -> ServerHandle:
    """The workshop's server of ``spec`` (its variable is set), once it answers."""
    remote = spec.remote_url()
    if not is_healthy(remote, timeout=10, path=spec.health_path):
        raise ServerStartError(
            f"The remote {spec.title} at {remote} does not answer {spec.health_path}.",
            hint=f"Check the URL in {spec.remote_variable} and that the server is up, "
            "or unset the variable to start a local server.",
        )
    return ServerHandle(spec, remote)


def _running(spec: ServerKind, state: _processes.ServerState | None, port: int, url: str,
             extra_args: list[str] | tuple[str, ...], timeout: float,
             progress: bool) -> ServerHandle | None:
    """The server already on ``port`` (``state``: what this launcher wrote about it) if it can
    be used: one this launcher started (waited for while it is still starting), or one started
    by hand when no ``extra_args`` are asked for. ``None`` when a fresh start is needed; a
    server of ours that has died is forgotten, and the cause of its end printed."""
    running = state is not None and _processes.runs(state)
    if running and extra_args and not _started_with(state, extra_args):
        # Ours, but started for something else (a router over other replicas): replace it.
        stop_server(spec.name, port=port)
        state, running = None, False
    if is_healthy(url, path=spec.health_path):
        if running:
            return ServerHandle.of(state)
        if extra_args:  # not ours: nothing says it runs with these arguments
            raise ServerStartError(
                f"A {spec.title} already answers on port {port}, but this launcher did not "
                f"start it, so it cannot tell whether it runs with {shlex.join(extra_args)}.",
                hint=f"Stop {_processes.port_owner(port)} (`python -m helpers.course stop "
                f"--all` stops every course server on this machine), or use another port.",
            )
        return ServerHandle(spec, url)
    if running:  # ours, still starting (or about to exit): wait for it
        handle = ServerHandle.of(state)
        try:
            wait_until_healthy(handle, spec, timeout, progress)
            return handle
        except ServerExited:
            pass
    if state is not None:
        report_previous_end(spec, state, progress)
        _processes.forget(spec.name, port)
    return None


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
            print(f"{handle.spec.title}: healthy at {handle.url} after "
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
            "`python -m helpers.course.setup_check` to check them all), or unset "
            f"{', '.join(given)} to run every server yourself.",
        )


def _started_with(state: _processes.ServerState, extra_args: list[str] | tuple[str, ...]) -> bool:
    """True if the server in ``state`` was started with ``extra_args`` (at the end of its
    command, where :func:`server_command` puts them)."""
    extra = list(extra_args)
    return state.command[len(state.command) - len(extra):] == extra


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
