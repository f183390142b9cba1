"""``python -m helpers.course {start,stop,status} [KIND] [-- SERVER ARGS]``: the launcher's
command line (the library is :mod:`helpers.course.launcher`).

Introduced in chapter 00::

    python -m helpers.course start openai       # or legacy, router
    python -m helpers.course status
    python -m helpers.course stop --all         # every course server on this machine

A workshop's room has its own command: ``python -m helpers.course.room``.
"""

from __future__ import annotations

import argparse
import sys

from helpers import settings
from helpers.course.launcher import (
    display_command,
    is_healthy,
    start_server,
    stop_all,
    stop_server,
)
from helpers.course.servers import KINDS
from helpers.errors import ServerStartError


def main(argv: list[str] | None = None) -> int:
    """``python -m helpers.course {start,stop,status} [KIND] [-- SERVER ARGS]`` and
    ``stop --all``. A workshop's room has its own command: ``python -m helpers.course.room``.

    Arguments after ``--`` go to the server: ``start router -- --worker-urls URL URL``.
    """
    parser = argparse.ArgumentParser(prog="python -m helpers.course",
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
