"""Nothing a test run starts outlives it: a subset of the notebooks run by pytest in a process
of its own leaves no course server behind, whether it ends normally or is stopped by SIGTERM
(what `timeout`, a CI runner or `kill` send)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.support import PROBE, course_servers_probed

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = "notebooks/00_start_the_server.ipynb"


def _run_pytest(probe: str, *args: str) -> subprocess.Popen:
    """A test session of its own (the cache kept, the session's ports not); every server it
    starts carries ``PROBE=probe``."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("VLLM_COURSE_") or name == "VLLM_COURSE_CACHE"}
    return subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *args], cwd=ROOT, env={**env, PROBE: probe},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _left_behind(probe: str, timeout: float = 60) -> list:
    deadline = time.monotonic() + timeout  # a SIGTERMed server may take seconds to exit
    while (left := course_servers_probed(probe)) and time.monotonic() < deadline:
        time.sleep(1)
    return [" ".join(process.cmdline())[:120] for process in left]


def test_a_subset_run_that_ends_leaves_no_server(starts_servers) -> None:
    probe = uuid.uuid4().hex
    run = _run_pytest(probe, CHAPTER)
    output, _ = run.communicate(timeout=900)
    assert run.returncode == 0, output[-3000:]
    assert _left_behind(probe) == []


def test_a_subset_run_stopped_by_sigterm_leaves_no_server(starts_servers) -> None:
    probe = uuid.uuid4().hex
    run = _run_pytest(probe, CHAPTER)
    try:
        deadline = time.monotonic() + 600
        while not course_servers_probed(probe) and time.monotonic() < deadline:
            assert run.poll() is None, "the run ended before its server started"
            time.sleep(1)
        assert course_servers_probed(probe), "the run never started a server"
        run.send_signal(signal.SIGTERM)  # mid-run, with its server up
        output, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert _left_behind(probe) == [], output[-2000:]
