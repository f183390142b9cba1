"""A workshop room in one command: every server the course needs, keyed, and the attendee card.

Introduced in the README's "Workshop mode" (for the instructor); chapter 10 uses its router.
On the room's machine::

    python -m helpers.course.room                        # start (or reuse) and print the card
    python -m helpers.course stop --all         # at the end of the day

What the room runs, each keyed with ``VLLM_API_KEY`` (one is made if it is not set):

====================  ======  ===================================================
server                port    for
====================  ======  ===================================================
legacy ``/generate``  8000    chapters 01–04, 07–09
``vllm serve``        8001    chapters 03, 05–11 (and replica 1 of chapter 10)
``vllm serve``        8011    replica 2 of chapter 10, only behind the router
``vllm-router``       8002    chapter 10: round-robin over the two replicas
====================  ======  ===================================================

**The GPU plan** (one 16 GB card; a T4 has 15 GiB usable): three engines at
:data:`ROOM_GPU_SHARE` (0.28) each, 0.84 of the card in all, under the 0.92 vLLM gives one
engine by default. Each share is 4.2 GiB, a budget that vLLM fills in this order: the model's
weights in float16 (135M parameters: 0.25 GiB), the CUDA context and the activations of the
largest batch (estimated at about 1.5 GiB), CUDA graphs, and the rest becomes KV cache: about
2 GiB, some 90,000 tokens at 22.5 KiB a token (30 layers × K and V × 3 KV heads × 64 × 2
bytes), so a room of 30 attendees can each hold a 3,000-token context at once. The engines
start one after another, because vLLM checks at start that the GPU has its share free. The
router uses no GPU. (Estimated from vLLM's source and the model's shape; not measured on a
GPU by this project.)

The key never appears on the screen or in a log: the card printed here shows where the key is,
and the full card (key included) is written to a file only its owner can read
(:func:`card_path`), for the instructor to share with the room.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from helpers import settings
from helpers.course.launcher import start_server, start_servers, stop_server
from helpers.course.runtime import detect_device
from helpers.course.servers import KINDS, replica_port
from helpers.errors import ServerStartError

__all__ = ["ROOM_GPU_SHARE", "Room", "RoomPorts", "attendee_card", "card_path", "key_on_card",
           "room_servers", "skipped", "start_room", "stop_room"]

#: Each engine's share of the room's GPU: three engines fit one 16 GB card (module docstring).
ROOM_GPU_SHARE = "0.28"
#: The router checks its replicas this often in the room (its own default is 60 s).
HEALTH_CHECK_SECONDS = "5"


@dataclass(frozen=True)
class RoomPorts:
    """The room's ports: the course's defaults unless the ``VLLM_COURSE_*_PORT`` variables say
    otherwise (the tests run a room on free ports)."""

    legacy: int
    openai: int
    router: int

    @property
    def replica(self) -> int:
        return replica_port(self.openai)

    @classmethod
    def configured(cls) -> RoomPorts:
        return cls(*(KINDS[kind].default_port() for kind in ("legacy", "openai", "router")))


@dataclass(frozen=True)
class RoomServer:
    """One server of the room: its kind, its port and the arguments it gets."""

    kind: str
    port: int
    extra_args: tuple[str, ...] = ()
    label: str = ""


def room_servers(ports: RoomPorts, device: str) -> list[RoomServer]:
    """What the room starts, in order (pure: the plan, not the processes)."""
    share = ("--gpu-memory-utilization", ROOM_GPU_SHARE) if device == "gpu" else ()
    replicas = [f"http://{settings.LOCAL_HOST}:{port}" for port in (ports.openai, ports.replica)]
    return [
        RoomServer("legacy", ports.legacy, share, "legacy /generate server"),
        # Both replicas can call tools, so chapter 11 works through either (or the router).
        RoomServer("openai", ports.openai, (*share, *settings.TOOL_CALLING_ARGS),
                   "OpenAI-compatible server (replica 1)"),
        RoomServer("openai", ports.replica, (*share, *settings.TOOL_CALLING_ARGS),
                   "OpenAI-compatible server (replica 2)"),
        # The router runs beside the replicas, so it reaches them on the loopback address; it
        # has no key of its own and passes each client's Authorization header on (the replicas
        # check it). Its metrics port stays on 127.0.0.1 (its default).
        RoomServer("router", ports.router, ("--worker-urls", *replicas, "--policy", "round_robin",
                                            "--health-check-interval-secs", HEALTH_CHECK_SECONDS),
                   "vllm-router over replicas 1 and 2"),
    ]


def card_path() -> Path:
    """Where the room writes the full attendee card (with the key), readable by its owner only."""
    return settings.cache_dir() / "room-card.txt"


def attendee_card(public_host: str, ports: RoomPorts, key: str | None) -> str:
    """The lines an attendee runs: the variables to export and the setup check (pure).

    ``key=None`` writes a placeholder that says where the key is instead of the key itself.
    """
    shown_key = key if key is not None else f"<the key: in {card_path()} on the room's machine>"
    urls = [f"export {KINDS[kind].remote_variable}=http://{public_host}:{port}"
            f"{KINDS[kind].url_suffix}"
            for kind, port in (("legacy", ports.legacy), ("openai", ports.openai),
                               ("router", ports.router))]
    return "\n".join([
        "# vLLM HTTP course: workshop setup (run in the course folder, in a terminal)",
        "pip install -e '.[client]'",
        *urls,
        f"export VLLM_API_KEY={shown_key}",
        "python -m helpers.course.setup_check  # before the workshop: what to fix, if anything",
        "jupyter lab notebooks/",
    ])


@dataclass
class Room:
    """The running room: its handles in :func:`room_servers`'s order, and where it answers."""

    handles: list
    ports: RoomPorts
    public_host: str
    key: str


def start_room(*, host: str = "0.0.0.0", public_host: str | None = None,
               ports: RoomPorts | None = None, progress: bool = True) -> Room:
    """Start (or reuse) every server of the room and write the full card (:func:`card_path`).

    ``host`` is where the servers listen (every interface by default: the attendees are on
    other machines); ``public_host`` is the name or address attendees use to reach this
    machine (default: its host name). The key is ``VLLM_API_KEY``, or a new random one that is
    written only to the card file.
    """
    ports = ports or RoomPorts.configured()
    # A room already running keeps the key on its card; a new room gets a new random key.
    key = settings.api_key() or key_on_card() or secrets.token_urlsafe(12)
    plan = room_servers(ports, detect_device())
    options = [dict(kind=server.kind, host=host, port=server.port,
                    extra_args=list(server.extra_args),
                    api_key=key if KINDS[server.kind].serves_model else None) for server in plan]
    # The engines start together (0.6x the time of one after another); the router, which
    # checks them, after them.
    engines = [at for at, server in enumerate(plan) if KINDS[server.kind].serves_model]
    started = dict(zip(engines, start_servers([options[at] for at in engines],
                                              progress=progress), strict=True))
    handles = [started[at] if at in started else start_server(**options[at], progress=progress)
               for at in range(len(plan))]
    if not _key_accepted(handles[0].url, key):
        raise ServerStartError(
            f"The legacy server on port {ports.legacy} refuses the room's key: it was started "
            "earlier with another one.",
            hint="Stop the room (`python -m helpers.course stop --all`) and start it again, "
            "or export the VLLM_API_KEY it was started with.")
    room = Room(handles, ports, public_host or socket.gethostname(), key)
    _write_private(card_path(), attendee_card(room.public_host, ports, key) + "\n")
    return room


def key_on_card() -> str | None:
    """The key written on the room's card file, if there is one."""
    try:
        text = card_path().read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("export VLLM_API_KEY="):
            return line.partition("=")[2].strip() or None
    return None


def _key_accepted(legacy_url: str, key: str) -> bool:
    answer = requests.get(f"{legacy_url}/metrics", headers=settings.auth_headers(key), timeout=10)
    return answer.status_code != 401


def stop_room(ports: RoomPorts | None = None) -> list[str]:
    """Stop the room's servers that this machine's launcher runs; the labels of those stopped."""
    ports = ports or RoomPorts.configured()
    stopped = []
    for server in reversed(room_servers(ports, detect_device())):
        if stop_server(server.kind, port=server.port):
            stopped.append(server.label)
    return stopped


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with permissions 0600 (created so, never world-readable)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    os.chmod(path, 0o600)


def skipped(why: str) -> None:
    """Print the one line a chapter shows instead of an experiment that needs servers of the
    learner's own (it crashes, restarts or reconfigures a server) when the servers are a
    workshop room's. ``why``: what the cell would do, and why not in a room. Used by chapters
    04 and 10."""
    print(f"Skipped in a workshop: {why}. Your instructor runs this cell on screen; the "
          "notebook as published shows its output.")


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.course.room [--host HOST] [--public-host NAME]``: start the workshop room
    and print the attendee card (the key stays in the card file)."""
    parser = argparse.ArgumentParser(prog="python -m helpers.course.room",
                                     description="Start a workshop room and print its card.")
    parser.add_argument("--host", default="0.0.0.0",
                        help="where the servers listen (default 0.0.0.0, every interface)")
    parser.add_argument("--public-host", default=None,
                        help="the name or address attendees reach this machine by "
                        "(default: its host name)")
    args = parser.parse_args(argv)
    print("Starting the room's servers (minutes on a CPU) ...", flush=True)
    try:
        started = start_room(host=args.host, public_host=args.public_host,
                             progress=sys.stderr.isatty())
    except ServerStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for handle, server in zip(started.handles, room_servers(started.ports, detect_device()),
                              strict=True):
        how = "started" if handle.started else "already running"
        print(f"{how:>15}: {server.label} on port {server.port}")
    print("\nThe attendee card (the full card, key included, is in "
          f"{card_path()}, readable only by you: share it with the room):\n")
    print(attendee_card(started.public_host, started.ports, key=None))
    print("\nStop the room with: python -m helpers.course stop --all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
