"""The saved chapter 07 shows its app: under the app cell (whose saved output is only a
placeholder, tests/test_notebook_outputs.py) a markdown cell shows a screenshot of the app
taken from real JupyterLab by `make screenshots` (tools/browser_check.py), attached to the cell
so that it shows wherever the notebook is opened (Colab included). Reads files only."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import browser_check  # noqa: E402  (imports the standard library only; playwright on use)
import saved_notebooks  # noqa: E402

CHAPTER = ROOT / "notebooks" / "07_playground.ipynb"
IMAGE = re.compile(r"!\[[^\]]+\]\(attachment:([^)\s]+)\)")  # alt text for who cannot see it
PNG = b"\x89PNG\r\n\x1a\n"


def test_the_app_cell_is_followed_by_its_screenshot() -> None:
    cells = nbformat.read(CHAPTER, as_version=4).cells
    at = next(i for i, cell in enumerate(cells) if cell.cell_type == "code"
              and saved_notebooks.TAG in cell.metadata.get("tags", [])
              and "build_app(" in cell.source)
    shown = cells[at + 1]
    assert shown.cell_type == "markdown" and "make screenshots" in shown.source
    (name,) = IMAGE.findall(shown.source)
    attached = shown.get("attachments", {}).get(name, {}).get("image/png")
    assert attached, f"{name} is not attached to the cell: run `make screenshots`"
    image = base64.b64decode(attached)
    assert image[:8] == PNG, f"{name} is not a PNG"
    assert len(image) <= browser_check.APP_IMAGE_LIMIT, f"{name} is too large"
    # `make screenshots` takes the picture under the name the chapter shows
    assert f"--app-image browser-check/{name}" in (ROOT / "Makefile").read_text()
