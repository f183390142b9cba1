"""The bundled model: prepared once, atomically, with clear errors."""

from __future__ import annotations

import importlib.util
import json
import time

import pytest

from helpers.course import model
from helpers.errors import MissingPackageError


def test_prepared_folder_is_a_normal_model_folder() -> None:
    folder = model.prepare_bundled_model(progress=False)
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert (folder / "model.safetensors").stat().st_size > 100_000_000
    assert (folder / "tokenizer.json").is_file() and (folder / "chat_template.jinja").is_file()


def test_second_call_returns_at_once() -> None:
    model.prepare_bundled_model(progress=False)
    start = time.perf_counter()
    assert model.prepare_bundled_model(progress=False) == model.bundled_model_dir()
    assert time.perf_counter() - start < 1.0


def test_resolve_model_passes_other_models_through() -> None:
    assert model.resolve_model("facebook/opt-125m") == "facebook/opt-125m"
    assert model.resolve_model(None) == str(model.bundled_model_dir())


def test_an_interrupted_conversion_is_never_used_and_is_cleaned_up(tmp_path, monkeypatch) -> None:
    target = model.bundled_model_dir(tmp_path)
    target.parent.mkdir(parents=True)
    dead = target.with_name(f"{target.name}.partial-999999999")  # no such process
    dead.mkdir()
    (dead / "config.json").write_text("{}")

    def interrupted(workdir, *, progress):
        workdir.mkdir()
        (workdir / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "_convert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        model.prepare_bundled_model(tmp_path, progress=False)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # both partial folders are gone


def test_missing_package_is_named(tmp_path, monkeypatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gguf" else real_find_spec(name, *a))
    with pytest.raises(MissingPackageError) as info:
        model.prepare_bundled_model(tmp_path, progress=False)
    assert "'gguf'" in str(info.value) and "[cpu]" in str(info.value)
