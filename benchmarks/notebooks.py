"""Headless execution time of each notebook with the servers already up (not a test).

    make bench-notebooks     # or: .venv/bin/python benchmarks/notebooks.py [NAME ...]

Starts (or reuses) the legacy and OpenAI servers first, so the times are the notebooks'
own, then runs each notebook top to bottom in a fresh kernel without saving it.
Goals: <= 60 s for chapters 00-02, <= 90 s for 03-05, on 2 cores.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.course.launcher import start_server  # noqa: E402

GOALS = {"00": 60, "01": 60, "02": 60, "03": 90, "04": 90, "05": 90}


def run(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main(names: list[str]) -> None:
    start_server("legacy", progress=False)
    start_server("openai", progress=False)
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if names:
        paths = [p for p in paths if any(name in p.name for name in names)]
    print(f"{'notebook':40} {'seconds':>8} {'goal':>6}")
    for path in paths:
        seconds = run(path)
        goal = GOALS.get(path.name[:2])
        print(f"{path.name:40} {seconds:8.1f} {goal or '-':>6}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
