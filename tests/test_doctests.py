"""The examples in the helpers' docstrings run: each ``>>>`` example is a doctest run here,
and an example that cannot run (it would start a server) is written without ``>>>``."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _modules_with_examples() -> list[str]:
    return sorted(".".join(path.relative_to(ROOT).with_suffix("").parts)
                  for path in (ROOT / "helpers").rglob("*.py") if ">>> " in path.read_text())


def test_the_modules_with_examples_are_these() -> None:
    assert _modules_with_examples() == ["helpers.checks.limits", "helpers.checks.values",
                                        "helpers.course.servers", "helpers.stream"]


@pytest.mark.parametrize("name", _modules_with_examples())
def test_the_examples_run(name: str) -> None:
    results = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert results.attempted and not results.failed
