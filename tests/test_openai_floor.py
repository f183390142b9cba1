"""The lowest `openai` the profiles allow has every openai API the course calls.

pyproject's `libs` profile says ``openai>=FLOOR``. A laptop or Colab runtime may hold any
release from FLOOR on, so this installs exactly FLOOR (``pip install --no-deps --target``,
cached in ``.cache/openai-floor/<version>``; PyPI must be reachable; its dependencies come from
this environment, but for any it lacks, such as ``distro``) and checks, in a
subprocess that imports that copy, every call the notebooks, helpers and benchmarks make on
an ``OpenAI``/``AsyncOpenAI`` instance (``client.chat.completions.parse(...)``: the attribute
chain and the keyword names), the clients' own keywords, and every ``openai.X`` name they
use. Raising the floor in pyproject.toml re-checks it; no vLLM server is needed.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "openai-floor"
SOURCES = (sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "helpers").rglob("*.py"))
           + sorted((ROOT / "benchmarks").glob("*.py")))
CLIENT_CLASSES = {"OpenAI": "sync", "AsyncOpenAI": "async"}


def openai_floor() -> str:
    """The ``X`` of ``openai>=X`` in pyproject's `libs` profile (the only openai requirement)."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    mentions = {name: [d for d in deps if re.match(r"openai(?![\w-])", d)]
                for name, deps in extras.items()}
    assert {name: len(found) for name, found in mentions.items() if found} == {"libs": 1}
    floor = re.fullmatch(r"openai\s*>=\s*([0-9][0-9.]*)", mentions["libs"][0])
    assert floor, f"libs should say openai>=X, not {mentions['libs'][0]!r}"
    return floor.group(1)


def code_of(path: Path) -> list[str]:
    """A Python file, or each code cell of a notebook (IPython magics commented out)."""
    if path.suffix == ".py":
        return [path.read_text(encoding="utf-8")]
    cells = nbformat.read(path, as_version=4).cells
    return [re.sub(r"(?m)^(\s*)([!%])", r"\1#\2", c.source) for c in cells
            if c.cell_type == "code"]


def parse(source: str) -> ast.AST:
    # Notebook cells may `await` at top level.
    return compile(source, "<cell>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def client_class(node: ast.AST | None) -> str | None:
    """"sync"/"async" when ``node`` names ``OpenAI``/``AsyncOpenAI`` (or ``openai.X``)."""
    if isinstance(node, ast.Name):
        return CLIENT_CLASSES.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.value.id == "openai":
        return CLIENT_CLASSES.get(node.attr)
    return None


def constructed(node: ast.AST | None) -> str | None:
    """"sync"/"async" when ``node`` is ``OpenAI(...)``/``AsyncOpenAI(...)``."""
    return client_class(node.func) if isinstance(node, ast.Call) else None


def openai_uses(sources: list[str]) -> set[tuple[str, str, tuple[str, ...]]]:
    """``(kind, chain, keywords)`` for every use of openai in ``sources`` (one file's code):

    - ``("sync"|"async", "chat.completions.parse", ("model", ...))``: a call on a client;
    - ``("sync"|"async", "", (...))``: a client constructed with these keywords;
    - ``("module", "BadRequestError", ())``: a name taken from the ``openai`` module.

    A client is a name assigned from ``OpenAI(...)``/``AsyncOpenAI(...)``, bound by ``with ...
    as name``, or a parameter annotated with the class, anywhere in the file (one notebook is
    one scope: a helper function's ``client`` parameter gets the notebook's clients), or the
    constructor call itself (``OpenAI(...).models.list()``).
    """
    trees = [parse(source) for source in sources]
    clients: dict[str, set[str]] = {}
    uses: set[tuple[str, str, tuple[str, ...]]] = set()
    for tree in trees:
        for node in ast.walk(tree):
            targets: list[ast.AST] = []
            kind = None
            if isinstance(node, ast.Assign | ast.AnnAssign):
                kind = constructed(node.value)
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            elif isinstance(node, ast.withitem):
                kind = constructed(node.context_expr)
                targets = [node.optional_vars] if node.optional_vars else []
            elif isinstance(node, ast.arg):
                kind = client_class(node.annotation)
                targets = [ast.Name(id=node.arg)]
            for target in targets:
                if kind and isinstance(target, ast.Name):
                    clients.setdefault(target.id, set()).add(kind)
            if isinstance(node, ast.ImportFrom) and node.module == "openai":
                uses.update(("module", alias.name, ()) for alias in node.names)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "openai":
                uses.add(("module", node.attr, ()))
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
                kind = constructed(node.context_expr)
                if kind:  # `with OpenAI() as c` / `async with AsyncOpenAI() as c`
                    uses.add((kind, "__enter__" if kind == "sync" else "__aenter__", ()))
            if not isinstance(node, ast.Call):
                continue
            keywords = tuple(sorted(k.arg for k in node.keywords if k.arg))
            if constructed(node):
                uses.add((constructed(node), "", keywords))
                continue
            chain, base = [], node.func
            while isinstance(base, ast.Attribute):
                chain.insert(0, base.attr)
                base = base.value
            if not chain:
                continue
            if isinstance(base, ast.Name):
                kinds = clients.get(base.id, set())
            else:
                kinds = {constructed(base)} - {None}
            uses.update((kind, ".".join(chain), keywords) for kind in kinds)
    return uses


def course_uses() -> list[tuple[str, str, tuple[str, ...]]]:
    uses: set[tuple[str, str, tuple[str, ...]]] = set()
    for path in SOURCES:
        uses |= openai_uses(code_of(path))
    return sorted(uses)


#: Run with the floor's openai first on sys.path: reads the uses as JSON on stdin, prints
#: ``{"version", "file", "missing"}``.
CHECK = r'''
import inspect, json, sys
import openai

def accepts(function, keywords):
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return []
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return []
    return [k for k in keywords if k not in parameters]

missing, clients = [], {}
for kind, name, http in [("sync", "OpenAI", "Client"), ("async", "AsyncOpenAI", "AsyncClient")]:
    options = {"api_key": "x", "base_url": "http://127.0.0.1:9/v1"}
    try:
        clients[kind] = getattr(openai, name)(**options)
    except Exception as error:  # e.g. openai < 1.55.3 with httpx >= 0.28 ("proxies")
        missing.append(f"{name}(...) fails with this environment: {error!r}")
        import httpx  # go on with a client of our own, to report the rest
        clients[kind] = getattr(openai, name)(**options, http_client=getattr(httpx, http)())
for kind, chain, keywords in json.load(sys.stdin):
    if kind == "module":
        if not hasattr(openai, chain):
            missing.append(f"openai.{chain}")
        continue
    name = "OpenAI" if kind == "sync" else "AsyncOpenAI"
    target = clients[kind] if chain else getattr(openai, name)
    for part in chain.split(".") if chain else []:
        if not hasattr(target, part):
            missing.append(f"{name}().{chain}")
            break
        target = getattr(target, part)
    else:
        unknown = accepts(target, keywords)
        if unknown:
            missing.append(f"{name}(){'.' + chain if chain else ''}(" +
                           ", ".join(f"{k}=" for k in unknown) + ")")
print(json.dumps({"version": openai.__version__, "file": openai.__file__,
                  "missing": missing}))
'''


def pip_install_into(target: Path, *requirements: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q",
         "--no-deps", "--no-compile", "--upgrade", "--target", str(target), *requirements],
        capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        pytest.fail(f"could not install {' '.join(requirements)} from the package index (is "
                    f"PyPI reachable?); pip said:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")


def unmet_requirements(target: Path) -> list[str]:
    """The requirements of the openai in ``target`` that this environment does not meet
    (e.g. ``distro``, which older openai releases need and newer ones dropped)."""
    from importlib import metadata

    (dist,) = [d for d in metadata.distributions(path=[str(target)])
               if d.metadata["Name"] == "openai"]
    unmet = []
    for line in dist.requires or []:
        requirement = Requirement(line)
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or not requirement.specifier.contains(installed, prereleases=True):
            unmet.append(str(requirement))
    return unmet


def install_openai(version: str) -> Path:
    """``openai==version`` in ``.cache/openai-floor/<version>``, without its dependencies but
    for those this environment lacks (also installed without theirs)."""
    target = CACHE / version
    if (target / "openai" / "__init__.py").is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = CACHE / f"{version}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    pip_install_into(partial, f"openai=={version}")
    unmet = unmet_requirements(partial)
    if unmet:
        pip_install_into(partial, *unmet)
    try:
        partial.rename(target)
    except OSError:  # another run got there first
        shutil.rmtree(partial, ignore_errors=True)
    return target


def check_with(target: Path, uses: list) -> dict:
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(target), *filter(None, [
               os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", CHECK], input=json.dumps(uses), env=env,
                          capture_output=True, text=True, timeout=120, cwd=target)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_extraction_finds_client_calls() -> None:
    source = """
import openai
from openai import AsyncOpenAI, OpenAI
c = OpenAI(base_url="u", max_retries=0)
c.chat.completions.create(model="m", stream=True)
OpenAI().models.list().data[0].id
def f(x: OpenAI, y):
    x.completions.with_raw_response.create()
    y.foo.bar()
async def g():
    async with AsyncOpenAI(timeout=1) as a:
        await a.completions.create(**{"model": "m"})
try:
    pass
except openai.APIError:
    pass
"""
    uses = openai_uses([source])
    assert uses == {
        ("module", "AsyncOpenAI", ()), ("module", "OpenAI", ()), ("module", "APIError", ()),
        ("sync", "", ("base_url", "max_retries")), ("sync", "", ()),
        ("sync", "chat.completions.create", ("model", "stream")),
        ("sync", "models.list", ()), ("sync", "completions.with_raw_response.create", ()),
        ("async", "", ("timeout",)), ("async", "__aenter__", ()),
        ("async", "completions.create", ()),
    }


def test_the_openai_floor_has_every_api_the_course_calls() -> None:
    uses = course_uses()
    calls = {(kind, chain) for kind, chain, _ in uses if kind != "module"}
    assert ("sync", "chat.completions.parse") in calls, "the extraction missed chapter 09"
    assert ("async", "completions.create") in calls and len(calls) >= 6, sorted(calls)
    floor = openai_floor()
    target = install_openai(floor)
    result = check_with(target, [list(use) for use in uses])
    assert Version(result["version"]) == Version(floor), result  # the floor's copy was used
    assert result["file"].startswith(str(target)), result
    assert not result["missing"], (
        f"openai {floor} (the floor in pyproject.toml) lacks what the course uses: "
        f"{result['missing']}; raise the floor")
