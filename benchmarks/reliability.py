"""`make reliability`: the full reliability run, then a table of its figures (not a test).

Runs tests/test_reliability.py with RELIABILITY=full (1,000 fuzzed requests, 32 streaming
clients x 5 rounds, real faults), the engine-death tests and the launcher's start-up failure
tests, and prints what they recorded next to the goals.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report_path = Path(tmp) / "report.json"
        env = {**os.environ, "RELIABILITY": "full", "RELIABILITY_REPORT": str(report_path)}
        tests = ["tests/test_reliability.py", "tests/test_engine_death.py",
                 "tests/test_launcher.py", "tests/test_model.py"]
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 *tests], cwd=ROOT, env=env)
        report = json.loads(report_path.read_text()) if report_path.exists() else {}

    fuzz = report.get("fuzz", {})
    load = report.get("load", {})
    rows = [
        ("fuzzed requests sent", fuzz.get("requests"), ">= 1000"),
        ("  answered 2xx / 4xx", f"{fuzz.get('2xx')} / {fuzz.get('4xx')}", ""),
        ("  answered >= 500", fuzz.get("5xx"), "0"),
        ("  dropped connections", fuzz.get("dropped"), "0"),
        ("  4xx without a JSON message", fuzz.get("4xx without a message"), "0"),
        ("streams complete per round", load.get("complete"),
         f"{load.get('clients')} every round"),
        ("server RSS per round (MiB)", load.get("rss_mib"), ""),
        ("RSS growth, round 1 -> last", f"{load.get('rss_growth', float('nan')):+.1%}", "< 10%"),
        ("client leaves -> engine stops (s)", report.get("abort_seconds"), "<= 1"),
        ("server killed -> typed error (s)", report.get("kill_to_error_seconds"),
         "within the read timeout (30)"),
        ("dead server replaced, start (s)", report.get("restart_seconds"), ""),
        ("engine core killed -> client error (s)", report.get("engine_kill_to_error_seconds"),
         "seconds, not silence"),
        ("engine core killed -> server exits (s)", report.get("engine_kill_to_exit_seconds"),
         "a few seconds, status 1"),
        ("dead engine's server -> healthy replacement (s)",
         report.get("dead_server_to_healthy_replacement_seconds"), "one start"),
    ]
    print(f"\n{'figure':38} {'measured':>24}  goal")
    for name, value, goal in rows:
        print(f"{name:38} {str(value):>24}  {goal}")
    print(f"\npytest exit code: {result.returncode}")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
