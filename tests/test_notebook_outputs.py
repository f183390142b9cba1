"""What a reader sees in the saved notebooks, before running anything."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import saved_notebooks  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_saved_outputs_are_what_a_reader_should_see(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert notebook.metadata["kernelspec"] == saved_notebooks.KERNELSPEC
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} was saved with an error output"
    for cell in code:
        text = "".join(str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs)
        assert "VBox(children=" not in text, "a widget app saved as its repr: run the tool"
        if saved_notebooks.TAG in cell.metadata.get("tags", []):
            assert cell.outputs == [saved_notebooks.placeholder_output()]


def test_the_tool_puts_a_placeholder(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("build_app(x)")])
    notebook.cells[0].metadata["tags"] = [saved_notebooks.TAG]
    notebook.cells[0].outputs = [nbformat.v4.new_output(
        "execute_result", data={"text/plain": "VBox(children=(...))"}, execution_count=1)]
    path = tmp_path / "app.ipynb"
    nbformat.write(notebook, path)
    assert saved_notebooks.apply(path) and not saved_notebooks.apply(path)
    assert nbformat.read(path, as_version=4).cells[0].outputs == [
        saved_notebooks.placeholder_output()]
