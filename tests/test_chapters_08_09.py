"""Chapters 08 and 09: the parts every chapter shares (badge, exercises with solutions, a
questionnaire with hidden answers, a self-check, the link to the next chapter). Reads the
notebooks only; running them is nbval's job (``pytest notebooks/``)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHAPTERS = {
    "08_chat_and_tokens.ipynb": "[09 — Structured output and logprobs]"
                                "(09_structured_output_and_logprobs.ipynb)",
    "09_structured_output_and_logprobs.ipynb": "[10 — Scaling out behind vLLM's router]"
                                               "(10_scaling_out.ipynb)",
}


@pytest.mark.parametrize("name", sorted(CHAPTERS))
def test_chapter_structure(name: str) -> None:
    cells = nbformat.read(NOTEBOOKS / name, as_version=4).cells
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert cells[0].source.startswith(f"# {name[:2]} — ")
    assert "**What you will learn**" in cells[0].source and "**Time:**" in cells[0].source
    solutions = re.findall(r"<summary>Solution</summary>\s*```python\n(.+?)```", markdown, re.S)
    assert len(solutions) >= 2
    for solution in solutions:
        compile(solution, name, "exec")  # each solution is valid Python
    questionnaire = markdown.split("## Questionnaire", 1)[1].split("### Further research")[0]
    questions = re.findall(r"^(\d+)\. ", questionnaire.split("<details>")[0], re.M)
    assert 6 <= len(questions) <= 10 and questions == [str(i + 1) for i in range(len(questions))]
    assert "<summary>Answers</summary>" in questionnaire
    assert "### Further research" in markdown and "## Summary" in markdown
    at = next(i for i, c in enumerate(cells)
              if c.cell_type == "markdown" and "## Self-check" in c.source)
    assert cells[at + 1].cell_type == "code" and "assert " in cells[at + 1].source
    assert 'print("All good: ' in cells[at + 1].source
    assert cells[-1].source.rstrip().splitlines()[-1] == f"**Next:** {CHAPTERS[name]}"


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
