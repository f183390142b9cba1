"""What a chapter's text quotes from its saved run is in its saved outputs.

A paragraph that says it reports the saved run ("in the run saved here", "the saved run") is
read against the outputs of the same notebook: every quoted phrase ("..."), every decimal
number and every list of numbers ([2, 1]) it contains must be printed by some cell (numbers
compared as numbers, at the precision the text gives). A re-executed chapter whose text was
not updated fails here: the text must be read against the new outputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
MARKER = re.compile(r"in the run saved here|the saved run", re.I)
QUOTED = re.compile(r'"([^"]{3,})"')
# A decimal number that is not part of a version ("vLLM 0.32") or of a longer token.
DECIMAL = re.compile(r"(?<![\w.\-])(?<!vLLM )(\d+\.\d+)(?!\.?\w)")
NUMBER_LIST = re.compile(r"\[(\d+(?:\.\d+)?(?:, \d+(?:\.\d+)?)+)\]")
ANY_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def outputs(cells) -> str:
    return "".join(output.get("text") or output.get("data", {}).get("text/plain", "")
                   for cell in cells if cell.cell_type == "code"
                   for output in cell.get("outputs", []))


def claims(cells) -> list[str]:
    """The paragraphs of the chapter's text that quote its saved run."""
    return [re.sub(r"\s+", " ", paragraph) for cell in cells if cell.cell_type == "markdown"
            for paragraph in re.split(r"\n\s*\n", cell.source) if MARKER.search(paragraph)]


def printed_numbers(text: str) -> list[float]:
    return [float(number) for number in ANY_NUMBER.findall(text)]


def shown(number: str, printed: list[float]) -> bool:
    decimals = len(number.partition(".")[2])
    return any(round(value, decimals) == float(number) for value in printed)


def missing_from(paragraph: str, text: str, printed: list[float]) -> list[str]:
    missing = [phrase for phrase in QUOTED.findall(paragraph) if phrase not in text]
    missing += [number for number in DECIMAL.findall(paragraph) if not shown(number, printed)]
    lists = re.findall(r"\[[^\[\]]*\]", text)
    for listed in NUMBER_LIST.findall(paragraph):
        wanted = [float(value) for value in listed.split(", ")]
        if not any(printed_numbers(candidate) == wanted for candidate in lists):
            missing.append(f"[{listed}]")
    return missing


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_what_the_text_quotes_from_the_saved_run_is_in_the_outputs(path: Path) -> None:
    cells = nbformat.read(path, as_version=4).cells
    text = outputs(cells)
    printed = printed_numbers(text)
    problems = {paragraph[:80]: missing for paragraph in claims(cells)
                if (missing := missing_from(paragraph, text, printed))}
    assert not problems, problems


def test_the_check_can_fail() -> None:
    text = "{'per turn': [[2.0, 1.0]], 'hits': 0.8}\n"
    printed = printed_numbers(text)
    assert missing_from('In the saved run: [2, 1] and 0.80, "hits".', text, printed) == []
    assert missing_from('In the saved run: [1, 2], 0.81 and "misses".', text, printed) == [
        "misses", "0.81", "[1, 2]"]
