"""The vLLM names the course uses exist in the installed vLLM (the CUDA release: make
check-vllm-cuda), and the list that tools/vllm_names.py checks is complete."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import vllm_names  # noqa: E402


def test_every_name_exists_in_the_installed_vllm() -> None:
    sources = vllm_names.read_sources(vllm_names.installed_vllm_root())
    assert vllm_names.missing(sources) == []
    assert vllm_names.mixin_surprises(sources) == []


def test_a_mixin_that_needs_a_new_attribute_is_reported() -> None:
    source = ("class Mixin:\n    renderer: object\n    def run(self):\n"
              "        return self.renderer, self.tokenizer\n")
    surprises = vllm_names.mixin_surprises({"vllm/m.py": source},
                                           {"vllm.m:Mixin": {"renderer"}})
    assert surprises == ["vllm.m:Mixin reads self.tokenizer, which the course does not set"]


def test_the_list_covers_every_vllm_import_of_the_helpers_and_the_launcher() -> None:
    listed = {entry.partition(":")[0] + ":" + entry.partition(":")[2].split(".")[0]
              for entry in vllm_names.NAMES}
    modules = {entry.partition(":")[0] for entry in vllm_names.NAMES}
    for path in sorted((ROOT / "helpers").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vllm"):
                for alias in node.names:
                    assert f"{node.module}:{alias.name}" in listed, (path.name, alias.name)
        for constant in ast.walk(tree):
            if isinstance(constant, ast.Constant) and str(constant.value).startswith("vllm."):
                assert constant.value in modules, (path.name, constant.value)


def test_a_missing_name_is_reported() -> None:
    sources = {"vllm/sampling_params.py": "class SamplingParams:\n    pass\n"}
    absent = vllm_names.missing(sources, ["vllm.sampling_params:SamplingParams",
                                          "vllm.sampling_params:BeamSearchParams",
                                          "vllm.sampling_params:SamplingParams.clone",
                                          "vllm.gone:Thing"])
    assert absent == [
        "vllm.sampling_params:BeamSearchParams (BeamSearchParams not in vllm.sampling_params)",
        "vllm.sampling_params:SamplingParams.clone (clone not in class SamplingParams)",
        "vllm.gone:Thing (no module vllm.gone)",
    ]
