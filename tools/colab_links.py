"""Point every notebook's "Open in Colab" badge and Colab setup cell at one repository.

The slug lives in pyproject.toml ([tool.vllm-http-course] repository). `make colab-links`
runs this after it changes; tests/test_colab.py checks that the notebooks agree with it.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
_BADGE = re.compile(r"colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/main/notebooks/")
_CLONE = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+\.git")


def configured_slug() -> str:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["vllm-http-course"]["repository"]


def rewrite(text: str, slug: str) -> str:
    """``text`` with every Colab badge URL and course clone URL pointing at ``slug``."""
    text = _BADGE.sub(f"colab.research.google.com/github/{slug}/blob/main/notebooks/", text)
    return _CLONE.sub(f"https://github.com/{slug}.git", text)


def main() -> int:
    slug = configured_slug()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        changed = False
        for cell in notebook.cells:
            new = rewrite(cell.source, slug)
            changed |= new != cell.source
            cell.source = new
        if changed:
            nbformat.write(notebook, path)
            print(f"{path.name}: now points at {slug}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
