"""The registry of server kinds: each kind is one entry of data (ports, variables, URL suffix,
how it is shown), read by the settings' generic readers, the launcher and the test session."""

from __future__ import annotations

import os

import pytest

from helpers.course import launcher
from helpers.course.servers import KINDS, METRICS_PORT_OFFSET, REPLICA_PORT_OFFSET, replica_port


@pytest.fixture
def clean_env(monkeypatch):
    for spec in KINDS.values():
        monkeypatch.delenv(spec.port_variable, raising=False)
        monkeypatch.delenv(spec.remote_variable, raising=False)
    return monkeypatch


def test_each_kind_has_its_own_port_and_variables() -> None:
    for field in ("port", "port_variable", "remote_variable"):
        values = [getattr(spec, field) for spec in KINDS.values()]
        assert len(set(values)) == len(values), field


def test_a_port_comes_from_the_kind_s_variable_or_its_entry(clean_env) -> None:
    assert {name: spec.default_port() for name, spec in KINDS.items()} == {
        name: spec.port for name, spec in KINDS.items()}
    clean_env.setenv(KINDS["router"].port_variable, "8123")
    assert KINDS["router"].default_port() == 8123
    clean_env.setenv(KINDS["router"].port_variable, "80x")
    with pytest.raises(ValueError, match="VLLM_COURSE_ROUTER_PORT='80x' is not a port"):
        KINDS["router"].default_port()


@pytest.mark.parametrize(("kind", "given", "url"), [
    ("legacy", "http://box:8000/", "http://box:8000"),
    ("legacy", "http://box:8000/generate", "http://box:8000"),  # the route itself is fine
    ("openai", "http://box:8001", "http://box:8001/v1"),       # the suffix is added
    ("openai", "http://box:8001/v1/", "http://box:8001/v1"),
    ("router", "http://box:8002/", "http://box:8002"),
])
def test_a_remote_url_is_the_kind_s_base_url(clean_env, kind, given, url) -> None:
    assert KINDS[kind].remote_url() is None
    clean_env.setenv(KINDS[kind].remote_variable, given)
    assert KINDS[kind].remote_url() == url
    assert KINDS[kind].url() == url  # the remote one wins over the local port


def test_a_kind_s_url_is_its_local_port_unless_a_remote_one_is_set(clean_env) -> None:
    clean_env.setenv("VLLM_COURSE_OPENAI_PORT", "8101")
    assert KINDS["openai"].url() == "http://127.0.0.1:8101/v1"
    assert KINDS["legacy"].url() == "http://127.0.0.1:8000"


def test_a_kind_s_ports_are_read_from_the_registry_only(clean_env) -> None:
    """Replica 2 of chapter 10 and the router's metrics: one place each, in the registry."""
    clean_env.setenv("VLLM_COURSE_OPENAI_PORT", "8100")
    clean_env.setenv("VLLM_COURSE_ROUTER_PORT", "8102")
    assert replica_port() == 8100 + REPLICA_PORT_OFFSET and replica_port(9000) == 9010
    assert KINDS["router"].metrics_port() == 8102 + METRICS_PORT_OFFSET
    assert KINDS["openai"].metrics_port() is None  # vLLM's /metrics is on its own port


def test_the_test_session_moved_every_kind_to_a_port_of_its_own() -> None:
    """conftest gives every kind of the registry a free port and forgets remote servers."""
    for spec in KINDS.values():
        assert os.environ[spec.port_variable] != str(spec.port)
        assert spec.remote_variable not in os.environ


def test_how_a_command_is_shown_is_data_of_its_kind() -> None:
    openai = launcher.server_command("openai", "/m", port=9)
    assert launcher.display_command(openai).startswith("vllm serve /m --host")
    router = launcher.server_command("router", None, port=9)
    assert launcher.display_command(router).startswith("vllm-router --host 127.0.0.1 --port 9")
