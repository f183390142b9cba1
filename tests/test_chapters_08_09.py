"""Chapters 08 and 09 work against a keyed workshop server: every raw call sends the key.
(Their structure is checked with every chapter's in tests/test_chapter_structure.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHAPTERS = ["08_chat_and_tokens.ipynb", "09_structured_output_and_logprobs.ipynb"]


@pytest.mark.parametrize("name", sorted(CHAPTERS))
def test_every_raw_call_carries_the_key(name: str) -> None:
    """A workshop server needs the key: every requests call in the chapter sends AUTH."""
    cells = nbformat.read(NOTEBOOKS / name, as_version=4).cells
    source = "\n".join(c.source for c in cells if c.cell_type == "code")
    calls = [_arguments(source, match.end()) for match in
             re.finditer(r"requests\.(?:get|post)\(", source)]
    assert calls and all("headers=AUTH" in call for call in calls), calls


def _arguments(source: str, start: int) -> str:
    """The text between an opening parenthesis (just before ``start``) and its match."""
    depth = 1
    for at in range(start, len(source)):
        depth += {"(": 1, ")": -1}.get(source[at], 0)
        if depth == 0:
            return source[start:at]
    raise AssertionError("unbalanced parentheses")
