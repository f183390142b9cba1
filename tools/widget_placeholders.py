"""Replace the saved output of every widget app cell by a short placeholder.

A widget lives only in a running kernel: saved, it shows as ``VBox(children=(...`` on GitHub,
or "Error displaying widget: model not found" once JupyterLab re-saves the notebook. Cells
tagged ``widget-app`` get one plain output that says to run the cell instead. Run it after
executing the notebooks (tests/test_notebook_outputs.py checks it was):

    python tools/widget_placeholders.py notebooks/*.ipynb
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

TAG = "widget-app"
PLACEHOLDER = ("(The app appears here when you run this cell: widgets live only in a running "
               "kernel.)")


def placeholder_output() -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data={"text/plain": PLACEHOLDER})


def apply(path: Path) -> bool:
    """Put placeholders into ``path``; True if it changed."""
    notebook = nbformat.read(path, as_version=4)
    changed = False
    for cell in notebook.cells:
        if cell.cell_type == "code" and TAG in cell.metadata.get("tags", []):
            if cell.outputs != [placeholder_output()]:
                cell.outputs = [placeholder_output()]
                changed = True
    if changed:
        notebook.metadata.pop("widgets", None)  # the saved widget state of the app
        nbformat.write(notebook, path)
    return changed


if __name__ == "__main__":
    for name in sys.argv[1:]:
        if apply(Path(name)):
            print(f"{name}: placeholder written")
