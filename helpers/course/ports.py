"""Free TCP ports for servers started at run time (the tests, the benchmarks).

Introduced in the README's "Tests" section: the test session and the benchmarks start
their servers on free ports, so nothing depends on what else runs on the machine.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

from helpers import settings
from helpers.course.servers import METRICS_PORT_OFFSET

__all__ = ["ephemeral_range", "free_port"]

LOWEST = 20000  # below: ports that services of this machine may own by convention


def free_port() -> int:
    """A TCP port that nothing listens on now, and that no program will be handed by chance.

    Not the kernel's ``bind(0)``: that port comes from the ephemeral range, where a starting
    vLLM engine binds its own internal sockets (and clients their outgoing ones), so it can be
    taken before our server binds it (seen: ``[Errno 98] address already in use``). Ports
    below the ephemeral range are only ever taken on purpose.
    """
    # A router's metrics port is its own + 1000: keep that one below the range too.
    high = min(ephemeral_range()[0], 32768) - METRICS_PORT_OFFSET
    ports = list(range(LOWEST, high))
    random.shuffle(ports)
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind((settings.LOCAL_HOST, port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {LOWEST} and {high}")


def ephemeral_range() -> tuple[int, int]:
    """The ports the kernel hands out for ``bind(0)`` and outgoing connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
