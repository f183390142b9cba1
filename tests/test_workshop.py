"""Workshop mode: an attendee's environment (the client profile only: no torch, no vLLM) runs
notebooks 01-04 against servers an instructor started with an API key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from helpers import settings
from tests.support import own_server

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parent.parent
KEY = "workshop-key-7d41"


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
    with own_server("legacy", api_key=KEY) as legacy, own_server("openai", api_key=KEY) as openai:
        yield legacy, openai


@pytest.mark.parametrize(("kind", "path", "guarded"), [
    ("legacy", "/generate", True), ("legacy", "/metrics", True), ("legacy", "/health", False),
    ("openai", "/v1/models", True), ("openai", "/v1/completions", True),
    ("openai", "/health", False), ("openai", "/metrics", False), ("openai", "/tokenize", False),
    ("openai", "/version", False),
])
def test_which_routes_each_servers_key_protects(instructor_servers, kind, path, guarded) -> None:
    """What README and chapter 05 say: the course's server guards every route but /health,
    `vllm serve` only /v1 paths (its /metrics and /tokenize answer anyone)."""
    legacy, openai = instructor_servers
    root = (legacy if kind == "legacy" else openai).url.removesuffix("/v1")
    method = "POST" if path in ("/generate", "/v1/completions", "/tokenize") else "GET"
    body = {"prompt": "Hi", "max_tokens": 1, "model": settings.SERVED_MODEL_NAME}
    response = requests.request(method, root + path, json=body, timeout=60)
    assert (response.status_code == 401) is guarded, (response.status_code, response.text[:200])


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
    # --noconftest: an attendee runs the notebooks, not the developers' test session (whose
    # conftest gives every run servers of its own).
    result = subprocess.run([str(attendee_python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--noconftest",
                             *notebooks], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=1500)
    assert result.returncode == 0, result.stdout[-4000:]
    # Nothing was started locally: the attendee's launcher state folder holds no server.
    servers = tmp_path / "attendee-cache" / "servers"
    assert not servers.exists() or not any(servers.iterdir())
    assert KEY not in legacy.log_path.read_text()
