"""Free ports: ``VLLM_COURSE_FREE_PORTS`` keeps a test session's ports in a range of its own
(two sessions at once on one machine, given ranges apart, never pick the same port)."""

from __future__ import annotations

import pytest

from helpers import settings
from helpers.ports import free_port


def test_free_ports_come_from_the_given_range(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_COURSE_FREE_PORTS", "23000-23010")
    assert {free_port() for _ in range(50)} <= set(range(23000, 23010))


@pytest.mark.parametrize("value", ["23000", "23010-23000", "a-b", "0-10"])
def test_a_wrong_range_names_the_variable(monkeypatch, value) -> None:
    monkeypatch.setenv("VLLM_COURSE_FREE_PORTS", value)
    with pytest.raises(ValueError, match="VLLM_COURSE_FREE_PORTS"):
        settings.free_port_range()
