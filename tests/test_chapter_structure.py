"""Every chapter has the course's structure: objectives and time, a self-check, exercises with
solutions, a questionnaire with hidden answers and further research, a summary, and links to
the previous and the next chapter. Reads the notebooks only; running them (and so the hidden
solution cells) is nbval's job in `make test`."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
TITLES = {path.name: nbformat.read(path, as_version=4).cells[0].source.splitlines()[0]
          for path in NOTEBOOKS}
HIDDEN = {"jupyter": {"source_hidden": True}, "cellView": "form"}


def chapter(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_chapter_structure(path: Path) -> None:
    cells = chapter(path)
    markdown = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert cells[0].source.startswith(f"# {path.name[:2]} — ")
    assert "**What you will learn**" in cells[0].source and "**Time:**" in cells[0].source

    hidden = [c for c in cells
              if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])]
    assert all({k: c.metadata.get(k) for k in HIDDEN} == HIDDEN for c in hidden)
    in_markdown = re.findall(r"<summary>Solution</summary>\s*```python\n(.+?)```", markdown, re.S)
    for solution in in_markdown:
        compile(solution, path.name, "exec")
    assert len(hidden) + len(in_markdown) >= (1 if path.name.startswith("00") else 2)

    questionnaire = markdown.split("## Questionnaire", 1)[1].split("### Further research")[0]
    questions = re.findall(r"^(\d+)\. ", questionnaire.split("<details>")[0], re.M)
    assert 6 <= len(questions) <= 10 and questions == [str(i + 1) for i in range(len(questions))]
    assert "<summary>Answers</summary>" in questionnaire
    assert "### Further research" in markdown and "## Summary" in markdown

    at = next(i for i, c in enumerate(cells)
              if c.cell_type == "markdown" and "## Self-check" in c.source)
    assert cells[at + 1].cell_type == "code" and "assert " in cells[at + 1].source
    assert "All good" in cells[at + 1].source


@pytest.mark.parametrize("path", NOTEBOOKS[:-1], ids=[p.name for p in NOTEBOOKS[:-1]])
def test_each_chapter_links_to_the_next(path: Path) -> None:
    following = NOTEBOOKS[NOTEBOOKS.index(path) + 1]
    title = TITLES[following.name].removeprefix("# ")
    short = title.split(":")[0].split(" — ")[0]  # the link names the chapter by number first
    last = [c for c in chapter(path) if c.cell_type == "markdown"][-1].source
    assert re.search(rf"\*\*Next:\*\* \[{re.escape(short)} — [^\]]+\]\({following.name}\)",
                     last), last[-200:]


@pytest.mark.parametrize("path", NOTEBOOKS[1:], ids=[p.name for p in NOTEBOOKS[1:]])
def test_each_chapter_links_to_the_previous(path: Path) -> None:
    preceding = NOTEBOOKS[NOTEBOOKS.index(path) - 1]
    number = preceding.name[:2]
    last = [c for c in chapter(path) if c.cell_type == "markdown"][-1].source
    assert re.search(rf"\*\*Previous:\*\* \[{number} — [^\]]+\]\({preceding.name}\)",
                     last), last[-200:]
