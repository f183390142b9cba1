"""The workshop room's plan and card, and the attendee's setup check: the pure parts.

The room itself, started with its one command and used by an attendee's client-only
environment through every chapter, is tested in ``tests/test_workshop.py``.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from helpers.course import launcher, room, setup_check
from helpers.course.launcher import ServerStartError
from helpers.course.servers import KINDS
from helpers.settings import TOOL_CALLING_ARGS

ROOT = Path(__file__).resolve().parent.parent
PORTS = room.RoomPorts(legacy=8000, openai=8001, router=8002)


def test_the_room_runs_every_kind_the_chapters_use_and_the_router_over_two_replicas() -> None:
    plan = room.room_servers(PORTS, "cpu")
    assert [(server.kind, server.port) for server in plan] == [
        ("legacy", 8000), ("openai", 8001), ("openai", 8011), ("router", 8002)]
    router = plan[-1].extra_args
    workers = router[router.index("--worker-urls") + 1:router.index("--policy")]
    assert list(workers) == ["http://127.0.0.1:8001", "http://127.0.0.1:8011"]
    for replica in plan[1:3]:  # chapter 11 calls tools through the room's OpenAI URL
        assert replica.extra_args[-len(TOOL_CALLING_ARGS):] == TOOL_CALLING_ARGS


def test_the_room_s_engines_fit_one_16_gb_gpu() -> None:
    """Three engines on one card: each gets an explicit share, and the shares leave room."""
    shares = []
    for server in room.room_servers(PORTS, "gpu"):
        command = launcher.server_command(server.kind, "m", device="gpu", port=server.port,
                                          extra_args=server.extra_args)
        if KINDS[server.kind].serves_model:
            assert command.count("--gpu-memory-utilization") == 1
            shares.append(float(command[command.index("--gpu-memory-utilization") + 1]))
        else:
            assert "--gpu-memory-utilization" not in command
    assert len(shares) == 3 and sum(shares) <= 0.9
    assert min(shares) * 15 >= 4  # GiB of a T4's 15 usable: weights, activations, a KV cache


def test_the_printed_card_never_shows_the_key_and_names_every_variable() -> None:
    shown = room.attendee_card("gpu-box", PORTS, key=None)
    full = room.attendee_card("gpu-box", PORTS, key="s3cret-key")
    assert "s3cret-key" not in shown and "s3cret-key" in full
    for line in ("export VLLM_API_URL=http://gpu-box:8000",
                 "export VLLM_OPENAI_URL=http://gpu-box:8001/v1",
                 "export VLLM_ROUTER_URL=http://gpu-box:8002",
                 "python -m helpers.course.setup_check"):
        assert line in full
    assert full.splitlines()[-1].startswith("jupyter lab")


def test_the_card_file_is_readable_by_its_owner_only(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("VLLM_COURSE_CACHE", str(tmp_path))
    room._write_private(room.card_path(), room.attendee_card("h", PORTS, "k3y") + "\n")
    assert stat.S_IMODE(room.card_path().stat().st_mode) == 0o600
    assert room.key_on_card() == "k3y"


@pytest.mark.parametrize("variable", ["VLLM_API_URL", "VLLM_OPENAI_URL", "VLLM_ROUTER_URL"])
def test_an_attendee_s_machine_never_starts_a_server(monkeypatch, variable) -> None:
    """With any room variable set, a kind whose variable is missing is a clear error, not an
    engine (or a router with no replicas) started on the attendee's laptop."""
    for spec in KINDS.values():
        monkeypatch.delenv(spec.remote_variable, raising=False)
    monkeypatch.setenv(variable, "http://127.0.0.1:9")
    missing = next(spec for spec in KINDS.values() if spec.remote_variable != variable)
    with pytest.raises(ServerStartError) as raised:
        launcher.start_server(missing.name, progress=False)
    assert missing.remote_variable in str(raised.value) and "attendee card" in str(raised.value)


# --- the attendee's setup check ------------------------------------------------------------

@pytest.mark.parametrize(("arrivals", "total", "live"), [
    ([0.05, 0.1, 0.2, 0.4, 0.8], 0.8, True),      # lines as they are generated
    ([0.02, 0.03, 0.05], 0.06, True),             # a fast GPU: still spread from the start
    ([1.49, 1.49, 1.5, 1.5], 1.5, False),         # a buffering proxy: everything at the end
    ([0.1, 0.2], 0.2, False),                     # too short to tell
    ([], 0.5, False),
])
def test_a_buffered_stream_is_told_from_a_live_one(arrivals, total, live) -> None:
    assert setup_check.stream_verdict(arrivals, total)[0] is live


@pytest.mark.parametrize(("minimum", "installed", "problem"), [
    ("1.92.0", "1.99.3", None), ("1.92.0", "1.92.0", None), (None, "0.1", None),
    ("1.92.0", "1.60.1", "openai 1.60.1 is older than 1.92.0"),
    ("1.92.0", "1.9.0", "older"), ("1.92.0", None, "not installed"),
])
def test_package_versions_are_compared_as_numbers(minimum, installed, problem) -> None:
    found = setup_check.package_problem("openai", minimum, installed)
    assert (found is None) if problem is None else (problem in found)


def test_the_setup_check_reads_the_packages_from_the_libs_profile() -> None:
    packages = dict(setup_check.required_packages((ROOT / "pyproject.toml").read_text()))
    assert {"requests", "httpx", "openai", "matplotlib", "ipywidgets"} <= set(packages)
    assert all(version for version in packages.values())


def test_the_report_says_what_to_do_about_each_failure() -> None:
    text = setup_check.report([
        setup_check.Check("packages", True, "requests 2.32"),
        setup_check.Check("router at http://h:8002", False, "cannot connect", "join the Wi-Fi"),
    ])
    assert "✓ packages: requests 2.32" in text and "✗ router at http://h:8002" in text
    assert "what to do: join the Wi-Fi" in text and "1 problem(s)" in text
    assert "All set" in setup_check.report([setup_check.Check("x", True)])


def test_without_the_room_s_variables_the_check_says_which_to_export(monkeypatch) -> None:
    for spec in KINDS.values():
        monkeypatch.delenv(spec.remote_variable, raising=False)
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    checks = setup_check.check_variables()
    assert not any(check.ok for check in checks)
    assert "VLLM_ROUTER_URL" in checks[0].detail and "attendee card" in checks[0].fix
