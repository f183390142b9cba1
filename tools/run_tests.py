"""``make test``: the whole suite as two pytest sessions at once, on this machine's cores.

    python tools/run_tests.py [pytest options]      # what `make test` runs
    python -m pytest                                # the same tests in one session

Most of the suite's time is engines starting (one core each, importing vLLM) and generating
(one torch thread each on a CPU): one session left the two cores of this project's machines
46 % idle on average, two sessions 19 % (sampled every 10 s, 2026-12-01). Two sessions that
share nothing run side by side:

- ``tests``: every test file (the workshop test pauses this session's servers while
  the room's three engines run, so that both sessions' engines fit in memory);
- ``chapters``: the notebooks, in order.

The two took 22 and 35 minutes with the workshop test among the chapters; it moved to even
them out (measured 2026-12-01 on 2 cores).

Each session starts and stops servers of its own (``conftest.py``: its own ports, and a
mark on every process it starts) and picks free ports in a range of its own
(``VLLM_COURSE_FREE_PORTS``), so neither touches the other's servers. The ``tests`` session
prints as it runs; the ``chapters`` session's output follows when both have ended. The exit
status is the first non-zero one. SIGTERM or Ctrl-C reaches both sessions, and each stops
its servers (what conftest does on an interruption).
With too few ports below the ephemeral range for two ranges, it runs one session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.ports import LOWEST, ephemeral_range  # noqa: E402
from helpers.servers import METRICS_PORT_OFFSET  # noqa: E402

SESSIONS = {"tests": ["tests"], "chapters": ["notebooks"]}


def port_ranges(count: int) -> list[str]:
    """``count`` disjoint ``LOW-HIGH`` ranges below the ephemeral ports, each with room above
    it for the ports a session derives from its own (a router's metrics port: + 1000)."""
    top = min(ephemeral_range()[0], 32768) - METRICS_PORT_OFFSET - 100
    size = (top - LOWEST) // count
    return [f"{LOWEST + i * size}-{LOWEST + (i + 1) * size - METRICS_PORT_OFFSET - 100}"
            for i in range(count)]


def main(options: list[str]) -> int:
    command = [sys.executable, "-m", "pytest"]
    if min(ephemeral_range()[0], 32768) - LOWEST < 4 * METRICS_PORT_OFFSET:
        print("The ephemeral port range starts too low for two sessions' ports: one session.")
        return subprocess.call([*command, *options], cwd=ROOT)
    runs: dict[str, subprocess.Popen] = {}
    logs: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="course-tests-") as folder:
        for (name, paths), ports in zip(SESSIONS.items(), port_ranges(len(SESSIONS)),
                                        strict=True):
            env = {**os.environ, "VLLM_COURSE_FREE_PORTS": ports}
            if name == "tests":  # the one that prints as it runs
                runs[name] = subprocess.Popen([*command, *paths, *options], cwd=ROOT, env=env)
            else:
                logs[name] = Path(folder) / f"{name}.log"
                with logs[name].open("w") as log:
                    runs[name] = subprocess.Popen([*command, "--color=yes", *paths, *options],
                                                  cwd=ROOT, env=env, stdout=log,
                                                  stderr=subprocess.STDOUT)

        def forward(signum, frame) -> None:
            for run in runs.values():
                if run.poll() is None:
                    run.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        # Ctrl-C reaches the sessions from the terminal already (one process group): a second
        # interruption would cut their clean-up short, so this process only waits for them.
        signal.signal(signal.SIGINT, lambda signum, frame: None)
        codes = {name: run.wait() for name, run in runs.items()}
        for name, log in logs.items():
            print(f"\n===== the {name} session ({' '.join(SESSIONS[name])}) =====", flush=True)
            sys.stdout.write(log.read_text(errors="replace"))
    print("\n" + ", ".join(f"{name}: exit {code}" for name, code in codes.items()))
    return next((code for code in codes.values() if code), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
