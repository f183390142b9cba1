"""How a check shows itself: a verdict, a hint, the reference code and a chapter's progress,
as coloured HTML in Jupyter and Colab and as plain text elsewhere.

Introduced with the checked exercises (chapter 01; every chapter's checks show through it).
:mod:`helpers.checks.framework` decides what to say; this module only displays it. IPython is
imported only under a running kernel, so that importing a checker needs nothing but the course's
libraries.
"""

from __future__ import annotations

import html
import sys
from dataclasses import dataclass
from typing import Any

__all__ = ["COLOURS", "MARKS", "Result", "Shown", "progress_html", "show"]

#: A verdict's colour and mark: passed (True), failed (False), not tried or not judged (None).
COLOURS = {True: "#1a7f37", False: "#cf222e", None: "#6e7781"}
MARKS = {True: "✓", False: "✗", None: "·"}


@dataclass
class Result:
    """A verdict: ``passed`` is True, False, or None (not tried yet); truthy when passed."""

    passed: bool | None
    message: str
    exercise: str = ""
    label: str = ""  #: instead of Correct / Not yet / Not tried yet, when set
    _shown: bool = False

    def __bool__(self) -> bool:
        return bool(self.passed)

    @property
    def text(self) -> str:
        label = self.label or {True: "Correct", False: "Not yet", None: "Not tried yet"}[
            self.passed]
        return f"{MARKS[self.passed]} {self.exercise}{label}: {self.message}"

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return (f'<div style="color:{COLOURS[self.passed]};font-family:sans-serif">'
                f"{html.escape(self.text)}</div>")

    def _ipython_display_(self) -> None:
        # check() has shown the verdict already: as a cell's last value, show it only once.
        if not self._shown:
            self.show()

    def show(self) -> None:
        self._shown = True
        show(self.text, self._repr_html_())


class Shown(str):
    """Text that has been displayed already: as a cell's last value it is not shown again."""

    def _ipython_display_(self) -> None:
        pass


def _in_notebook() -> Any:
    """IPython's display function when running under a kernel (Jupyter, Colab), else None."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return None
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    ipython = get_ipython()
    return display if ipython is not None and hasattr(ipython, "kernel") else None


def show(text: str, rich: str | None = None, *, code: str | None = None) -> None:
    """Display ``text`` (with its HTML form ``rich``, if any) in a notebook, else print it;
    ``code``: Python source, shown highlighted."""
    display = _in_notebook()
    if display is None:
        print(text)
        return
    if code is not None:
        from IPython.display import Code
        display(Code(code, language="python"))
    else:  # both forms: HTML where it renders, the plain line where it does not
        display({"text/html": rich or html.escape(text), "text/plain": text}, raw=True)


def progress_html(head: str, rows: list[tuple[bool | None, str]]) -> str:
    """A chapter's progress as HTML: its head line in bold, then each exercise's row in the
    colour of its state."""
    return (f'<div style="font-family:sans-serif"><b>{html.escape(head)}</b>'
            + "".join(f'<div style="color:{COLOURS[state]}">{html.escape(row)}</div>'
                      for state, row in rows) + "</div>")
