"""Where chapter 10's replicas and router are, and whether a check may judge them: the two
replicas' roots, the router's metrics, the workshop room (shared: no verdict), and the wait for
an earlier attempt's requests before a check.

Used by :mod:`helpers.checks.ch10` (both exercises): the second replica's port is the
registry's (:func:`helpers.course.servers.replica_port`), the router's metrics port its kind's.
"""

from __future__ import annotations

import time

from helpers import settings
from helpers.checks.framework import NotHere
from helpers.course.servers import KINDS, replica_port
from helpers.metrics import IN_SERVER, metric_values

__all__ = ["SETTLE_WITHIN", "local_only", "roots", "router_metrics_root", "settle", "shared"]

#: How long a check waits for an earlier attempt's requests to finish on the replicas.
SETTLE_WITHIN = 60.0


def shared() -> bool:
    """True in a workshop room: the router or the replicas are the room's, everyone's."""
    return bool(KINDS["router"].remote_url() or KINDS["openai"].remote_url())


def local_only(what: str) -> None:
    """Raise :class:`NotHere` (no verdict) in a workshop room: ``what`` needs the learner's
    own replicas and router."""
    if shared():
        raise NotHere(f"{what} needs replicas and a router of your own; in a workshop the "
                      "room's are shared, so this exercise is checked on the instructor's "
                      "screen. exercise.solution() shows ours.")


def roots() -> list[str]:
    """The chapter's two replicas (the OpenAI server's port and :func:`replica_port`)."""
    return [f"http://{settings.LOCAL_HOST}:{p}"
            for p in (KINDS["openai"].default_port(), replica_port())]


def router_metrics_root() -> str:
    """Where the learner's router serves its metrics (its own port, not its API's)."""
    return f"http://{settings.LOCAL_HOST}:{KINDS['router'].metrics_port()}"


def settle() -> None:
    """Wait until neither replica runs or queues a request (an earlier attempt's), so that
    the counters move only with this check's calls. A replica that does not answer is left
    to the checker (it says so); a room's replicas are everyone's: nothing to wait for."""
    if shared():
        return
    deadline = time.monotonic() + SETTLE_WITHIN
    for root in roots():
        while True:
            try:
                left = sum(metric_values(root, IN_SERVER, timeout=2).values())
            except (OSError, KeyError, ValueError):
                break
            if not left:
                break
            if time.monotonic() > deadline:
                raise NotHere(f"the replica at {root} is still generating {left:g} request(s) "
                              f"after {SETTLE_WITHIN:g} s (an earlier attempt's, or another "
                              "cell's): wait for them, then run the check again.")
            time.sleep(0.2)
