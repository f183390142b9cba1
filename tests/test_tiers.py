"""The fast tier cannot start a server: ``make test-fast`` (``-m "not server"``) runs only
tests that need none, and a test that tries anyway fails instead of starting an engine.

A test joins the server tier in one way: it uses (directly or through other fixtures) a
fixture registered with :func:`tests.support.server_fixture` where that fixture is defined.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from helpers.course import _processes
from tests.support import SERVER_FIXTURES

ROOT = Path(__file__).resolve().parent.parent
#: What starts a server (or a process that starts one) in the tests and their fixtures.
STARTERS = {"own_server", "start_server", "start_servers", "router_over", "start_room"}


def _fixtures(path: Path) -> list[tuple[str, str, set[str]]]:
    """``(fixture, decorator, names it calls)`` for every fixture defined in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            name = ast.unparse(target)
            if name in ("pytest.fixture", "server_fixture"):
                called = {ast.unparse(call.func).split(".")[-1] for call in ast.walk(node)
                          if isinstance(call, ast.Call)}
                found.append((node.name, name, called))
    return found


def test_every_fixture_that_starts_a_server_is_registered_as_one() -> None:
    sources = [ROOT / "conftest.py", *sorted((ROOT / "tests").glob("*.py"))]
    unregistered = [f"{path.name}::{name} calls {sorted(called & STARTERS)}"
                    for path in sources for name, decorator, called in _fixtures(path)
                    if called & STARTERS and decorator != "server_fixture"]
    assert unregistered == [], "declare these with tests.support.server_fixture"


def test_no_test_outside_the_server_tier_uses_a_server_fixture(request) -> None:
    leaks = [item.nodeid for item in request.session.items
             if item.get_closest_marker("server") is None
             and set(getattr(item, "fixturenames", ())) & SERVER_FIXTURES]
    assert leaks == []
    assert {"legacy_server", "openai_server", "starts_servers"} <= SERVER_FIXTURES


def test_starting_a_process_outside_the_server_tier_fails_the_test(tmp_path) -> None:
    with pytest.raises(pytest.fail.Exception, match="not in the server tier"):
        _processes.spawn([sys.executable, "-c", "pass"], tmp_path / "log", {}, tmp_path)
