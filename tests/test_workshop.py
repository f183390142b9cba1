"""Workshop mode: an attendee's environment (the client profile only: no torch, no vLLM) runs
notebooks 01-04 against servers an instructor started with an API key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.launcher import start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent
KEY = "workshop-key-7d41"
LEGACY_PORT, OPENAI_PORT = 8110, 8111


@pytest.fixture(scope="module")
def attendee_python(tmp_path_factory) -> Path:
    """A fresh virtual environment with the client profile, plus the notebook test runner."""
    venv = tmp_path_factory.mktemp("attendee") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-e", f"{ROOT}[client]", "pytest", "nbval"], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)
    return python


@pytest.fixture(scope="module")
def instructor_servers():
    legacy = start_server("legacy", port=LEGACY_PORT, api_key=KEY, progress=False)
    openai = start_server("openai", port=OPENAI_PORT, api_key=KEY, progress=False)
    yield legacy, openai
    stop_server("openai", port=OPENAI_PORT)
    stop_server("legacy", port=LEGACY_PORT)


def test_the_client_profile_has_no_engine(attendee_python) -> None:
    for module in ("torch", "vllm", "transformers"):
        probe = subprocess.run([str(attendee_python), "-c", f"import {module}"],
                               capture_output=True, text=True)
        assert probe.returncode != 0, f"{module} is installed in the client profile"


def test_notebooks_01_to_04_run_against_the_remote_servers(attendee_python, instructor_servers,
                                                           tmp_path) -> None:
    legacy, openai = instructor_servers
    env = {**os.environ, "VLLM_API_URL": legacy.url, "VLLM_OPENAI_URL": openai.url,
           "VLLM_API_KEY": KEY, "VLLM_COURSE_CACHE": str(tmp_path / "attendee-cache")}
    notebooks = [f"notebooks/{name}" for name in (
        "01_request_payloads.ipynb", "02_streaming.ipynb",
        "03_candidates_and_beam_search.ipynb", "04_error_handling.ipynb")]
    result = subprocess.run([str(attendee_python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *notebooks], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=1500)
    assert result.returncode == 0, result.stdout[-4000:]
    # Nothing was started locally: the attendee's launcher state folder holds no server.
    servers = tmp_path / "attendee-cache" / "servers"
    assert not servers.exists() or not any(servers.iterdir())
    assert KEY not in legacy.log_path.read_text()
