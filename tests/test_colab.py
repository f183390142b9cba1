"""Colab readiness: badges and setup cells point at the configured repository, and the
GPU path picks the same code with the GPU package and model (it cannot run here)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import colab_links  # noqa: E402

from helpers import launcher, runtime  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_badge_and_setup_cell_point_at_the_configured_repository(path: Path) -> None:
    slug = colab_links.configured_slug()
    cells = nbformat.read(path, as_version=4).cells
    assert (f"https://colab.research.google.com/github/{slug}/blob/main/notebooks/{path.name}"
            in cells[0].source)
    setup = next(c.source for c in cells if c.cell_type == "code")
    assert '"google.colab" in sys.modules' in setup
    assert f"https://github.com/{slug}.git" in setup
    assert '%pip install -q -e "/content/course[gpu]"' in setup


def test_rewrite_changes_only_the_slug() -> None:
    text = ("[badge](https://colab.research.google.com/github/a/b/blob/main/notebooks/x.ipynb)"
            " !git clone https://github.com/a/b.git /content/course")
    assert colab_links.rewrite(text, "me/course") == text.replace("a/b", "me/course")


def test_colab_is_detected_from_its_environment(monkeypatch) -> None:
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delenv("COLAB_GPU", raising=False)
    assert not runtime.on_colab()
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-2026")
    assert runtime.on_colab()


def test_gpu_path_commands(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_COURSE_DEVICE", "gpu")
    monkeypatch.delenv("VLLM_COURSE_MODEL", raising=False)
    model = launcher.default_model()
    assert model == "HuggingFaceTB/SmolLM2-135M-Instruct"  # the hub copy of the course model
    legacy = launcher.server_command("legacy", model, device="gpu", port=8000)
    assert legacy[1:] == ["-m", "helpers.api_server", "--model", model,
                          "--host", "127.0.0.1", "--port", "8000",
                          "--gpu-memory-utilization", "0.4"]
    env = runtime.engine_environment("gpu", local_model=False)
    assert "HF_HUB_OFFLINE" not in env and "VLLM_CPU_KVCACHE_SPACE" not in env


@pytest.mark.parametrize(("device", "eager"), [("gpu", False), ("cpu", True)])
def test_eager_mode_is_a_cpu_default_only(monkeypatch, device, eager) -> None:
    from helpers.api_server import build_parser

    monkeypatch.setenv("VLLM_COURSE_DEVICE", device)
    assert bool(build_parser().parse_args([]).enforce_eager) is eager
