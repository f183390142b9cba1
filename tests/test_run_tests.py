"""`make test`'s two sessions (tools/run_tests.py): every test in exactly one of them, and
port ranges that cannot meet."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from helpers import settings
from helpers.ports import LOWEST, ephemeral_range, free_port
from helpers.servers import METRICS_PORT_OFFSET

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("run_tests", ROOT / "tools" / "run_tests.py")
run_tests = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_tests)

#: The most a chapter or test adds to a port it was given (chapter 04's small server: + 30).
DERIVED = METRICS_PORT_OFFSET + 30


def test_the_sessions_port_ranges_and_the_ports_derived_from_them_never_meet() -> None:
    ranges = [tuple(map(int, text.split("-"))) for text in run_tests.port_ranges(2)]
    assert ranges[0][0] == LOWEST
    for (low, high), (next_low, _) in zip(ranges, ranges[1:], strict=False):
        assert low < high and high + DERIVED < next_low
    assert ranges[-1][1] + DERIVED < min(ephemeral_range()[0], 32768)


def test_every_test_file_and_notebook_is_in_exactly_one_session() -> None:
    everything = [*(ROOT / "tests").glob("test_*.py"), *(ROOT / "notebooks").glob("*.ipynb")]
    sessions = [[ROOT / path for path in paths if not path.startswith("-")]
                for paths in run_tests.SESSIONS.values()]
    counts = {path.name: sum(any(path == chosen or chosen in path.parents for chosen in paths)
                             for paths in sessions) for path in everything}
    assert {name: n for name, n in counts.items() if n != 1} == {}


def test_free_ports_come_from_the_given_range(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_COURSE_FREE_PORTS", "23000-23010")
    assert {free_port() for _ in range(50)} <= set(range(23000, 23010))


@pytest.mark.parametrize("value", ["23000", "23010-23000", "a-b", "0-10"])
def test_a_wrong_range_names_the_variable(monkeypatch, value) -> None:
    monkeypatch.setenv("VLLM_COURSE_FREE_PORTS", value)
    with pytest.raises(ValueError, match="VLLM_COURSE_FREE_PORTS"):
        settings.free_port_range()
