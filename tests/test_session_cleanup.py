"""A test session stops the servers it started and nothing else: a server that someone else
started on the same machine while the session ran (a learner's notebook, a second test run)
keeps running. (No engine: the "server" is a sleeping process with a launcher state file.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from helpers.course import _processes

ROOT = Path(__file__).resolve().parent.parent

# A plugin for the inner session: it holds the session open, after collection, until the
# outer test says go, so that the other server starts while the session runs.
WAITER = '''
import os, pathlib, time
def pytest_collection_finish(session):
    pathlib.Path(os.environ["WAITER_READY"]).touch()
    deadline = time.monotonic() + 60
    while not pathlib.Path(os.environ["WAITER_GO"]).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
'''


def _wait_for(path: Path, run: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert run.poll() is None, run.communicate()[0][-2000:]
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.1)


def test_a_session_leaves_a_server_it_did_not_start(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "waiter.py").write_text(WAITER)
    cache = tmp_path / "cache"
    env = {**{name: value for name, value in os.environ.items()
              if not name.startswith("VLLM_COURSE_")},
           "VLLM_COURSE_CACHE": str(cache), "PYTHONPATH": str(tmp_path),
           "WAITER_READY": str(tmp_path / "ready"), "WAITER_GO": str(tmp_path / "go")}
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "-p", "waiter", "--collect-only", "tests/test_payload.py"],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    other = None
    try:
        _wait_for(tmp_path / "ready", run)
        # Someone else's server, started while the session runs, with its state file in the
        # same place (its environment without the session's mark, as a learner's would be).
        monkeypatch.setenv("VLLM_COURSE_CACHE", str(cache))
        other = psutil.Process(subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(120)"], env=env,
            start_new_session=True).pid)  # not a server: the fast tier's guard refuses spawn
        _processes.write(_processes.ServerState(
            "legacy", 18765, "http://127.0.0.1:18765", other.pid, other.create_time(),
            str(tmp_path / "other.log")))
        (tmp_path / "go").touch()
        output, _ = run.communicate(timeout=120)
        assert run.returncode == 0, output[-2000:]
        assert _processes.alive(other.pid, other.create_time()), (
            "the test session stopped a server it did not start")
        assert _processes.read("legacy", 18765) is not None
    finally:
        if run.poll() is None:
            run.kill()
        if other is not None:
            _processes.terminate(other.pid, 5)
