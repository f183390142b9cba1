"""Background server processes and the state files that remember them (private, on psutil).

The launcher (:mod:`helpers.course.launcher`) starts each server in its own process session, so
it outlives the notebook kernel that started it, and writes a small JSON state file per
server (kind and port). A state file names the process by pid *and* creation time, so a
pid that the system has since given to another program is never taken for the server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from helpers import settings

__all__ = ["ServerState", "alive", "exit_code", "forget", "group_leaders", "marked", "port_owner",
           "read", "running", "runs", "spawn", "state_dir", "terminate", "write"]


@dataclass
class ServerState:
    """What the launcher remembers about a server it started."""

    kind: str
    port: int
    url: str
    pid: int
    created: float  #: the process's creation time (psutil), to tell a reused pid apart
    log: str
    model: str | None = None
    command: list[str] = field(default_factory=list)
    #: The arguments asked for beyond the kind's defaults (a replacement gets them again).
    extra_args: list[str] = field(default_factory=list)


def state_dir(name: str) -> Path:
    """``<course cache>/<name>``, created if missing (``servers`` for state, ``logs``)."""
    path = settings.cache_dir() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _state_file(kind: str, port: int) -> Path:
    return state_dir("servers") / f"{kind}-{port}.json"


def write(state: ServerState) -> None:
    _state_file(state.kind, state.port).write_text(json.dumps(asdict(state)))


def read(kind: str, port: int) -> ServerState | None:
    """The state the launcher wrote for ``kind`` on ``port``, or ``None``."""
    try:
        return ServerState(**json.loads(_state_file(kind, port).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def running() -> list[ServerState]:
    """Every server this launcher started that still runs (any kind, any port)."""
    states = []
    for path in sorted(state_dir("servers").glob("*.json")):
        kind, _, port = path.stem.rpartition("-")
        state = read(kind, int(port)) if port.isdigit() else None
        if state and runs(state):
            states.append(state)
    return states


def forget(kind: str, port: int) -> None:
    _state_file(kind, port).unlink(missing_ok=True)


def spawn(command: list[str], log_path: Path, env: dict[str, str], cwd: Path) -> psutil.Process:
    """Start ``command`` in a new process session, its output going to ``log_path``."""
    with open(log_path, "wb") as log:
        popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                 start_new_session=True)
    return psutil.Process(popen.pid)


def alive(pid: int | None, created: float | None = None,
          command: list[str] | None = None) -> bool:
    """True if ``pid`` runs (a zombie counts as gone) and, if given, was created at ``created``.

    A process's creation time is computed from the boot time, which moves when the machine's
    clock is stepped (a VM syncing its clock moved it by 23 s here). So when the times differ
    and ``command`` is given, the same command line also identifies the process."""
    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        if created is not None and abs(process.create_time() - created) > 1:
            return command is not None and process.cmdline() == command
        return True
    except psutil.Error:
        return False


def runs(state: ServerState) -> bool:
    """True if the server ``state`` describes still runs (the same process, not a reused pid)."""
    return alive(state.pid, state.created, state.command or None)


def exit_code(pid: int) -> int | None:
    """The exit status of ``pid`` if it was this process's child and has ended, else ``None``."""
    try:
        return psutil.Process(pid).wait(timeout=0)
    except (psutil.Error, ChildProcessError):
        return None


def terminate(pid: int, timeout: float) -> None:
    """SIGTERM ``pid``'s whole process group, then SIGKILL what is left after ``timeout`` s."""
    try:
        leader = psutil.Process(pid)
        group = [leader, *leader.children(recursive=True)]
    except psutil.Error:
        return
    _signal_group(pid, signal.SIGTERM)
    _, left = psutil.wait_procs(group, timeout=timeout)
    if left:
        _signal_group(pid, signal.SIGKILL)
        for process in left:
            try:
                process.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(left, timeout=5)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the server leads its own session, so its group id is its pid
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _own_group_leaders() -> Iterator[psutil.Process]:
    """This user's live processes (other than this one) that lead their own process group, as
    every server the launcher spawns does."""
    for process in psutil.process_iter(["pid", "uids"]):
        try:
            if (process.info["uids"].real == os.getuid() and process.pid != os.getpid()
                    and os.getpgid(process.pid) == process.pid
                    and process.status() != psutil.STATUS_ZOMBIE):
                yield process
        except (ProcessLookupError, psutil.Error):
            continue


def group_leaders(markers: list[str]) -> list[psutil.Process]:
    """This user's process-group leaders whose command line contains one of ``markers``."""
    found = []
    for process in _own_group_leaders():
        try:
            if any(marker in " ".join(process.cmdline()) for marker in markers):
                found.append(process)
        except psutil.Error:
            continue
    return found


def marked(variable: str, value: str) -> list[psutil.Process]:
    """This user's process-group leaders whose environment has ``variable=value`` (a test
    session's mark, inherited by every server started during it)."""
    found = []
    for process in _own_group_leaders():
        try:
            if process.environ().get(variable) == value:
                found.append(process)
        except psutil.Error:
            continue
    return found


def port_owner(port: int) -> str:
    """``process 1234 (python -m ...)`` listening on ``port``, or ``another process``."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == "LISTEN" and conn.pid:
                command = " ".join(psutil.Process(conn.pid).cmdline()[:3])[:80]
                return f"process {conn.pid} ({command})"
    except (psutil.Error, OSError):
        pass
    return "another process"
