"""Every exercise of chapters 01 on checks itself, in the same shape (issue 18).

Each chapter's ``helpers.checks.chNN`` names the chapter's notebook; the notebook imports it; each
exercise has a stub cell that calls ``exerciseN.check(answer)`` and a hidden solution cell that
checks the reference answer (``reference=True``, so nbval proves that it passes), in order, and
at least two hints (a nudge, then more); a ``progress()`` cell comes before the questionnaire.
Importing any checker starts nothing and needs only the ``libs`` profile; an answer that is not
the expected function is named as such.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))[1:]  # 00 only starts the server
MODULES = [f"helpers.checks.ch{path.name[:2]}" for path in CHAPTERS]


def cells_of(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def is_solution(cell: dict) -> bool:
    return cell["cell_type"] == "code" and "solution" in cell["metadata"].get("tags", [])


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_each_exercise_has_a_stub_a_checked_solution_and_hints(path: Path) -> None:
    module = importlib.import_module(f"helpers.checks.ch{path.name[:2]}")
    chapter = module.chapter
    assert (chapter.number, chapter.notebook) == (path.name[:2], path.name)
    assert chapter.exercises, f"{module.__name__} has no exercise"
    cells = cells_of(path)
    texts = [source(cell) for cell in cells]
    assert any(f"from {module.__name__} import" in text for text in texts)
    solutions = [source(cell) for cell in cells if is_solution(cell)]
    assert len(solutions) == len(chapter.exercises), "one hidden solution per exercise"
    for exercise, solution in zip(chapter.exercises, solutions, strict=True):
        n = exercise.number
        assert re.search(rf"exercise{n}\.check\([^)]*reference=True\)", solution), \
            f"solution {n} checks the reference answer"
        stubs = [text for cell, text in zip(cells, texts, strict=True)
                 if cell["cell_type"] == "code" and not is_solution(cell)
                 and f"exercise{n}.check(" in text]
        assert len(stubs) == 1 and re.search(r"^\w+ = \.\.\.$", stubs[0], re.M), \
            f"exercise {n} has one stub cell, `answer = ...` then exercise{n}.check(answer)"
        assert len(exercise._hints) >= 2, f"exercise {n}: a nudge, then a stronger hint"
    questionnaire = next(i for i, text in enumerate(texts) if text.startswith("## Questionnaire"))
    last_solution = max(i for i, cell in enumerate(cells) if is_solution(cell))
    assert any("progress()" in text for text in texts[last_solution:questionnaire])


def test_importing_every_checker_starts_nothing_and_needs_only_libs() -> None:
    code = (f"import sys, {', '.join(MODULES)};"
            "print(sorted(m for m in ('vllm', 'torch', 'IPython', 'tenacity', 'openai', "
            "'pydantic', 'ipywidgets') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert run.stdout.strip() == "[]" and run.stderr == ""


FUNCTIONS = [exercise for name in MODULES
             for exercise in importlib.import_module(name).chapter.exercises
             if exercise.function]


@pytest.mark.parametrize("exercise", FUNCTIONS, ids=repr)
def test_an_answer_that_is_not_the_expected_function_is_named(exercise) -> None:
    result = exercise.check("a string", reference=True)
    assert result.passed is False
    assert f"expected your function {exercise.function}" in result.message
