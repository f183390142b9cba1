"""helpers/ is drawn from its imports without circles, hides no dependency in a function, and
has no module or function too long to read at once.

An import inside a function is kept only for a heavy or optional package (one a learner's
client profile may lack, or one that takes seconds to import); every import of the course's own
modules is at the top of its file, where a reader sees it and tools/import_graph.py draws it.
A module has at most 300 lines and a function at most 60 (from its ``def`` to its last line): a
longer one is split by idea (a package, its ``__init__`` and the modules beside it; a named
step).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import import_graph  # noqa: E402 (tools/ is not a package)

#: Packages that may be imported inside a function: heavy (seconds to import) or optional
#: (absent from the client profile or from a plain Python).
LATE_IMPORTS = {"vllm", "torch", "transformers", "ipywidgets", "openai", "tenacity", "pydantic",
                "uvicorn", "msgspec", "prometheus_client", "IPython", "gguf", "xgrammar"}
#: And in one module more: the setup check reports missing packages, so it asks for requests
#: only once it has checked that the installed packages are there.
LATE_IN = {"helpers/course/setup_check.py": {"requests"}}


def test_helpers_has_no_circle_and_no_import_up() -> None:
    figures = import_graph.summary(ROOT)
    assert figures["circles"] == [], figures["circles"]
    assert figures["up"] == [], figures["up"]


def _module_level(body: list[ast.stmt]) -> set[ast.stmt]:
    """The statements run at import time: the module's, and those inside its ``if``
    (``if TYPE_CHECKING:``) and ``try`` blocks, not those of its functions and classes."""
    found = set(body)
    for node in body:
        if isinstance(node, ast.If | ast.Try):
            blocks = [node.body, node.orelse, *([handler.body for handler in node.handlers]
                                                if isinstance(node, ast.Try) else [])]
            for block in blocks:
                found |= _module_level(block)
    return found


def _late_imports() -> list[str]:
    found = []
    for path in sorted((ROOT / "helpers").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = _module_level(tree.body)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom) or node in top:
                continue
            if isinstance(node, ast.ImportFrom) and (node.level or node.module == "__future__"):
                names = [node.module or "."]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module]
            else:
                names = [alias.name for alias in node.names]
            allowed = LATE_IMPORTS | LATE_IN.get(str(path.relative_to(ROOT)), set())
            for name in names:
                if name.split(".")[0] not in allowed:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_imports_inside_functions_are_only_of_heavy_or_optional_packages() -> None:
    assert _late_imports() == []


def test_the_drawing_finds_a_circle_where_there_is_one(tmp_path) -> None:
    """The check above can fail: two modules that import each other are a circle."""
    package = tmp_path / "helpers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from helpers import b\n")
    (package / "b.py").write_text("def f():\n    from helpers.a import x\n")
    (package / "c.py").write_text("import helpers.a\n")
    figures = import_graph.summary(tmp_path)
    assert figures["circles"] == [["helpers.a", "helpers.b"]]
    assert figures["up"] == [("helpers.a", "helpers.b"), ("helpers.b", "helpers.a")]
    assert figures["floors"] == 2 and figures["arrows"] == 3


#: The most lines a module of helpers/ may have, and a function (its ``def`` to its last line).
MODULE_LINES, FUNCTION_LINES = 300, 60


def _oversized(root: Path) -> list[str]:
    """The modules of ``root/helpers`` longer than :data:`MODULE_LINES` and the functions longer
    than :data:`FUNCTION_LINES`, each with its size."""
    found = []
    for path in sorted((root / "helpers").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(root).as_posix()
        if (lines := len(text.splitlines())) > MODULE_LINES:
            found.append(f"{name}: {lines} lines (at most {MODULE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (size := node.end_lineno - node.lineno + 1) > FUNCTION_LINES:
                found.append(f"{name}:{node.lineno} {node.name}(): {size} lines "
                             f"(at most {FUNCTION_LINES})")
    return found


def test_no_module_of_helpers_is_over_300_lines_and_no_function_over_60() -> None:
    oversized = _oversized(ROOT)
    assert oversized == [], "split by idea (a package; a named step):\n" + "\n".join(oversized)


def test_the_size_guard_names_a_module_and_a_function_one_line_too_long(tmp_path) -> None:
    """The check above can fail: one line over either limit is named, with its size; a module
    and a function at the limits pass."""
    package = tmp_path / "helpers"
    (package / "inner").mkdir(parents=True)

    def function(name: str, lines: int, indent: str = "") -> str:
        return f"{indent}def {name}():\n" + "".join(f"{indent}    x = {i}\n"
                                                     for i in range(lines - 1))

    (package / "fits.py").write_text(function("fits", FUNCTION_LINES)
                                     + "\n" * (MODULE_LINES - FUNCTION_LINES))
    (package / "inner" / "long.py").write_text("class A:\n"
                                               + function("method", FUNCTION_LINES + 1, "    ")
                                               + "\n" * (MODULE_LINES - FUNCTION_LINES - 1))
    assert _oversized(tmp_path) == [
        f"helpers/inner/long.py: {MODULE_LINES + 1} lines (at most {MODULE_LINES})",
        f"helpers/inner/long.py:2 method(): {FUNCTION_LINES + 1} lines (at most {FUNCTION_LINES})"]
