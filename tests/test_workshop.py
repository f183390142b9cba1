"""Workshop mode, as an instructor and the attendees live it: one room, started once.

The instructor starts the room with its one command (``python -m helpers.course.room``);
an attendee's environment has the client profile only (no torch, no vLLM), takes the
variables from the room's card file, runs the setup check, then every chapter from 01 on
against the room's keyed servers and router, and starts no server of its own.

The room's servers are also where the suite tests what a key protects (401 without it on
every route of the legacy server but /health) and vLLM's router in front of two `vllm serve`
replicas (routing, the client's view, failover), all real processes over real HTTP: the room
starts those three engines anyway, so these tests start none of their own. The two tests
that stop a server of the room (a replica, the legacy server) run last. The router carries
the OpenAI API: its /generate rewrites bodies in SGLang's format and drops the legacy fields
(measured; see tests/test_payload.py and chapter 10).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import requests
from openai import OpenAI

from helpers import aclient, client, settings
from helpers.course import _processes, room
from helpers.course.launcher import ServerHandle, stop_server
from helpers.course.ports import free_port
from helpers.course.servers import KINDS
from helpers.errors import AuthenticationError
from helpers.metrics import metric_value
from tests.support import (
    PROBE,
    PROMPT,
    course_servers_probed,
    group_alive,
    own_server,
    server_fixture,
)

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


# --- the room's servers, as the launcher knows them ------------------------------------------

def room_server(kind: str, port: int) -> ServerHandle:
    """The handle of the room's server of ``kind`` on ``port`` (from the launcher's state)."""
    state = _processes.read(kind, port)
    assert state is not None, f"the room has no {kind} server on port {port}"
    return ServerHandle.of(state)


@server_fixture(scope="module")
def keyed_server(the_room) -> ServerHandle:
    """The room's legacy server, which the room's key protects."""
    ports, _ = the_room
    return room_server("legacy", ports.legacy)


@pytest.fixture
def keyed_server_to_stop(keyed_server):
    """The room's keyed server, for the module's last test, which stops it (a server of that
    test's own would cost an engine start for one stop)."""
    return keyed_server


# --- what the key protects on the legacy server -------------------------------------------

def test_health_is_open(keyed_server) -> None:
    assert requests.get(keyed_server.health_url, timeout=10).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": KEY}], ids=["none", "wrong", "no-bearer"])
@pytest.mark.parametrize(("method", "path"), [("POST", "/generate"), ("GET", "/metrics"),
                                              ("GET", "/docs")])
def test_every_other_route_needs_the_key(keyed_server, headers, method, path) -> None:
    response = requests.request(method, keyed_server.url + path, headers=headers,
                                json={"prompt": "Hi"}, timeout=30)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_the_right_key_works_and_the_client_sends_it(keyed_server, monkeypatch) -> None:
    url = keyed_server.url + "/generate"
    assert client.get_response(client.post_http_request("Hi", url, max_tokens=2, api_key=KEY))
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    assert client.get_response(client.post_http_request("Hi", url, max_tokens=2))


def test_the_async_client_takes_the_key_per_call(keyed_server, monkeypatch) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    url = keyed_server.url + "/generate"

    async def ask(key: str | None) -> list[str]:
        async with httpx.AsyncClient(timeout=aclient.DEFAULT_TIMEOUT) as http:
            return await aclient.agenerate("Hi", url, http=http, max_tokens=2, api_key=key)

    assert asyncio.run(ask(KEY))[0].startswith("Hi")
    with pytest.raises(AuthenticationError) as info:
        asyncio.run(ask(None))
    assert info.value.type == "authentication_error" and KEY not in str(info.value)


def test_a_missing_key_is_an_authentication_error_with_a_hint(keyed_server, monkeypatch) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    with pytest.raises(AuthenticationError) as info:
        client.post_http_request("Hi", keyed_server.url + "/generate")
    assert "VLLM_API_KEY" in str(info.value) and KEY not in str(info.value)


def test_the_key_is_never_logged_nor_on_the_command_line(keyed_server) -> None:
    requests.post(keyed_server.url + "/generate", json={"prompt": "Hi", "max_tokens": 2},
                  headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
    assert keyed_server.log_path.read_text().count(KEY) == 0
    assert KEY not in " ".join(keyed_server.command)
    assert "API key required" in keyed_server.log_path.read_text()


# --- vLLM's router in front of the room's two replicas ------------------------------------

def served(replica) -> float:
    """Requests the replica's engine has finished (vLLM's own counter)."""
    return metric_value(replica.url.removesuffix("/v1"), "vllm:request_success_total")


@server_fixture(scope="module")
def replicas(the_room):
    """The room's two OpenAI-compatible replicas."""
    ports, _ = the_room
    return room_server("openai", ports.openai), room_server("openai", ports.replica)


@server_fixture(scope="module")
def router(the_room) -> ServerHandle:
    """The room's router: round-robin over the two replicas."""
    ports, _ = the_room
    return room_server("router", ports.router)


@contextlib.contextmanager
def router_over(replicas):
    urls = [replica.url.removesuffix("/v1") for replica in replicas]
    with own_server("router", extra_args=["--worker-urls", *urls, "--policy", "round_robin",
                                          "--health-check-interval-secs", "1"]) as handle:
        yield handle


def client_of(router) -> OpenAI:
    return OpenAI(base_url=router.url + "/v1", api_key=KEY, max_retries=0, timeout=120)


@server_fixture
def router_with_a_replica_to_kill(replicas):
    """A router of one test's own over the room's replicas, checking them every second; the
    test kills the room's second replica (it runs after the attendee's chapters)."""
    with router_over(replicas) as router:
        yield router, replicas[0], replicas[1]


@pytest.fixture(scope="module")
def through_router(router) -> OpenAI:
    return client_of(router)


def test_round_robin_shares_requests_evenly(through_router, replicas) -> None:
    before = [served(replica) for replica in replicas]
    for _ in range(8):
        answer = through_router.completions.create(model=settings.SERVED_MODEL_NAME,
                                                   prompt=PROMPT, max_tokens=2)
        assert answer.choices[0].text
    # vLLM counts a request once its output loop has recorded it, which may follow the answer.
    deadline = time.monotonic() + 10
    while True:
        moved = [b - a for a, b in zip(before, [served(r) for r in replicas], strict=True)]
        if sum(moved) >= 8 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert moved == [4, 4]


def test_the_client_changes_only_its_url(through_router) -> None:
    """Streams, n, vLLM extensions and the server's own errors pass through unchanged."""
    texts = ["", ""]
    for event in through_router.completions.create(
            model=settings.SERVED_MODEL_NAME, prompt=PROMPT, max_tokens=6, n=2, seed=1,
            temperature=0.8, stream=True):
        for choice in event.choices:
            texts[choice.index] += choice.text
    assert all(texts)
    beams = through_router.completions.create(model=settings.SERVED_MODEL_NAME, prompt=PROMPT,
                                              max_tokens=4, n=2,
                                              extra_body={"use_beam_search": True})
    assert len({choice.text for choice in beams.choices}) == 2


# --- every chapter, as an attendee ---------------------------------------------------------

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


# --- last: the tests that stop a server of the room ----------------------------------------

def test_a_killed_replica_costs_no_request(router_with_a_replica_to_kill) -> None:
    """The router retries a request that fails on a dead replica on the other one; its
    /health says a server is down, while /liveness (what the launcher asks) stays 200."""
    router, _survivor, victim = router_with_a_replica_to_kill
    stop_server("openai", port=victim.port)
    for _ in range(6):
        answer = client_of(router).completions.create(model=settings.SERVED_MODEL_NAME,
                                                   prompt=PROMPT, max_tokens=2)
        assert answer.choices[0].text
    # The health checker runs every second and needs a few failures in a row to mark it down.
    deadline = time.monotonic() + 30
    while requests.get(router.url + "/health", timeout=10).status_code != 503:
        assert time.monotonic() < deadline, "the router's /health never reported the dead replica"
        time.sleep(0.5)
    assert requests.get(router.health_url, timeout=10).status_code == 200


def test_sigterm_to_the_server_process_stops_it_and_its_engine(keyed_server_to_stop) -> None:
    """`kill PID` (SIGTERM to the API process alone, not its group) must not orphan the
    engine core: the server shuts the engine down before it exits."""
    server = keyed_server_to_stop
    os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while group_alive(server.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not group_alive(server.pid), "a process of the server outlived SIGTERM"
    log = server.log_path.read_text()
    assert "Finished server process" in log  # uvicorn's last words on a clean shutdown
    with pytest.raises(requests.ConnectionError):
        requests.get(server.health_url, timeout=5)
