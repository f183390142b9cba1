"""Workshop mode, as an instructor and the attendees live it.

The instructor starts the room with its one command (``python -m helpers.course.room``);
an attendee's environment has the client profile only (no torch, no vLLM), takes the
variables from the room's card file, runs the setup check, then every chapter from 01 on
against the room's keyed servers and router, and starts no server of its own.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from helpers import settings
from helpers.course import room
from helpers.course.ports import free_port
from helpers.course.servers import KINDS
from tests.support import PROBE, course_servers_probed, server_fixture

ROOT = Path(__file__).resolve().parent.parent
KEY = "workshop-key-7d41"
ATTENDEE = uuid.uuid4().hex  # every server an attendee's run started would carry it
CHAPTERS = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "notebooks").glob("*.ipynb")
                  if path.name[:2] >= "01")  # every chapter but 00 (starting a server)


@server_fixture(scope="module")
def attendee_python(tmp_path_factory) -> Path:
    """A fresh virtual environment with the client profile, plus the notebook test runner
    (in the server tier with the room it talks to). The attendee's ``pip install`` resolves
    the same packages; uv, where ``make setup`` installed it, takes 11 s instead of pip's 37."""
    venv = tmp_path_factory.mktemp("attendee") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    uv = Path(sys.executable).with_name("uv")
    installer = ([str(uv), "pip", "install", "--compile-bytecode", "--python", str(python)]
                 if uv.exists() else
                 [str(python), "-m", "pip", "install", "--disable-pip-version-check"])
    subprocess.run([*installer, "-q", "-e", f"{ROOT}[client]", "pytest", "nbval"], check=True,
                   cwd=ROOT, stdout=subprocess.DEVNULL)
    return python


@server_fixture(scope="module")
def the_room():
    """The room, started the way the README tells the instructor, on free ports here.

    The session's own two servers keep running beside the room's three engines: five
    engines took 14 GB at most here (2.4 GiB each on a CPU), and stopping and restarting
    the session's two cost half a minute.
    """
    ports = room.RoomPorts(free_port(), free_port(), free_port())
    env = {**os.environ, "VLLM_API_KEY": KEY, "VLLM_COURSE_LEGACY_PORT": str(ports.legacy),
           "VLLM_COURSE_OPENAI_PORT": str(ports.openai),
           "VLLM_COURSE_ROUTER_PORT": str(ports.router)}
    try:
        started = subprocess.run(
            [sys.executable, "-m", "helpers.course.room", "--host", "127.0.0.1",
             "--public-host", "127.0.0.1"], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=1200)
        assert started.returncode == 0, started.stderr[-3000:]
        yield ports, started.stdout
    finally:
        room.stop_room(ports)


def _card_variables() -> dict[str, str]:
    """The variables of the full card the room wrote: exactly what an attendee exports."""
    variables = {}
    for line in room.card_path().read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            variables[name] = value
    return variables


@pytest.fixture
def attendee_env(the_room, tmp_path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("VLLM_COURSE_") and name != "VLLM_API_KEY"}
    return {**env, **_card_variables(), "VLLM_COURSE_CACHE": str(tmp_path / "attendee-cache"),
            PROBE: ATTENDEE}


def test_the_room_prints_the_card_without_the_key(the_room) -> None:
    ports, printed = the_room
    assert KEY not in printed
    for kind in ("legacy", "openai", "router"):
        assert f"{KINDS[kind].remote_variable}=" in printed
    assert "python -m helpers.course.setup_check" in printed and "stop --all" in printed
    card = _card_variables()
    assert card["VLLM_API_KEY"] == KEY
    assert card["VLLM_ROUTER_URL"] == f"http://127.0.0.1:{ports.router}"
    assert stat.S_IMODE(room.card_path().stat().st_mode) == 0o600


@pytest.mark.parametrize(("kind", "path", "guarded"), [
    ("legacy", "/generate", True), ("legacy", "/metrics", True), ("legacy", "/health", False),
    ("openai", "/v1/models", True), ("openai", "/v1/completions", True),
    ("openai", "/health", False), ("openai", "/metrics", False), ("openai", "/tokenize", False),
    ("openai", "/version", False),
    # The router has no key of its own: it passes the client's Authorization header to a
    # replica, which checks it (so the room's key guards /v1 through the router too).
    ("router", "/v1/completions", True), ("router", "/v1/models", True),
    ("router", "/liveness", False), ("router", "/tokenize", False),
])
def test_which_routes_each_servers_key_protects(the_room, kind, path, guarded) -> None:
    """What README and chapter 05 say: the course's server guards every route but /health,
    `vllm serve` only /v1 paths (its /metrics and /tokenize answer anyone)."""
    ports, _ = the_room
    port = {"legacy": ports.legacy, "openai": ports.openai, "router": ports.router}[kind]
    method = "POST" if path in ("/generate", "/v1/completions", "/tokenize") else "GET"
    body = {"prompt": "Hi", "max_tokens": 1}
    if kind != "legacy":  # the legacy API has no model field (it answers 400 to one)
        body["model"] = settings.SERVED_MODEL_NAME
    url = f"http://127.0.0.1:{port}{path}"
    without = requests.request(method, url, json=body, timeout=60)
    assert (without.status_code == 401) is guarded, (without.status_code, without.text[:200])
    if guarded:
        keyed = requests.request(method, url, json=body, timeout=60,
                                 headers=settings.auth_headers(KEY))
        assert keyed.status_code == 200, keyed.text[:200]


def test_the_client_profile_has_no_engine(attendee_python) -> None:
    for module in ("torch", "vllm", "transformers", "vllm_router"):
        probe = subprocess.run([str(attendee_python), "-c", f"import {module}"],
                               capture_output=True, text=True)
        assert probe.returncode != 0, f"{module} is installed in the client profile"


def test_the_setup_check_passes_with_the_card(attendee_python, attendee_env) -> None:
    check = subprocess.run([str(attendee_python), "-m", "helpers.course.setup_check"], cwd=ROOT,
                           env=attendee_env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout
    assert "All set" in check.stdout and "✗" not in check.stdout
    assert "streaming from the legacy server" in check.stdout
    assert KEY not in check.stdout


def test_the_setup_check_says_what_is_wrong(attendee_python, attendee_env) -> None:
    wrong_key = {**attendee_env, "VLLM_API_KEY": "not-the-key"}
    check = subprocess.run([str(attendee_python), "-m", "helpers.course.setup_check"], cwd=ROOT,
                           env=wrong_key, capture_output=True, text=True, timeout=300)
    assert check.returncode == 1 and "refused the key" in check.stdout
    no_router = {**attendee_env, "VLLM_ROUTER_URL": f"http://127.0.0.1:{free_port()}"}
    check = subprocess.run([str(attendee_python), "-m", "helpers.course.setup_check"], cwd=ROOT,
                           env=no_router, capture_output=True, text=True, timeout=300)
    assert check.returncode == 1 and "cannot connect" in check.stdout
    assert "what to do:" in check.stdout


def test_every_chapter_runs_for_an_attendee(attendee_python, attendee_env, the_room) -> None:
    """Chapters 01 to the last run to the end against the room; no server starts on the
    attendee's side."""
    # --noconftest: an attendee runs the notebooks, not the developers' test session (whose
    # conftest gives every run servers of its own).
    result = subprocess.run([str(attendee_python), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "--noconftest", *CHAPTERS], cwd=ROOT, env=attendee_env,
                            capture_output=True, text=True, timeout=2400)
    assert result.returncode == 0, result.stdout[-6000:]
    assert len(CHAPTERS) >= 10
    started = course_servers_probed(ATTENDEE)
    assert not started, f"a course server started during the attendee's run: {started}"
    servers = Path(attendee_env["VLLM_COURSE_CACHE"]) / "servers"
    assert not servers.exists() or not any(servers.iterdir())
    for handle_log in (room.card_path().parent / "logs").glob("*.log"):
        assert KEY not in handle_log.read_text(errors="replace")
