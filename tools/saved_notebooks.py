"""Save executed notebooks as a reader should find them (run it after executing them).

- A widget lives only in a running kernel: saved, it shows as ``VBox(children=(...`` on
  GitHub, or "Error displaying widget: model not found" once JupyterLab re-saves the notebook.
  Cells tagged ``widget-app`` get one plain output that says to run the cell instead.
- The kernelspec is written as JupyterLab writes it (``Python 3 (ipykernel)``); otherwise
  JupyterLab marks every notebook modified the moment it opens, and asks to save on close.

    python tools/saved_notebooks.py notebooks/*.ipynb

tests/test_notebook_outputs.py checks that it was run.
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


KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def apply(path: Path) -> bool:
    """Put placeholders and JupyterLab's kernelspec into ``path``; True if it changed."""
    notebook = nbformat.read(path, as_version=4)
    changed = notebook.metadata.get("kernelspec") != KERNELSPEC
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
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
            print(f"{name}: normalized")
