"""Colab readiness: badges and setup cells point at the configured repository, and the
GPU path picks the same code with the GPU package and model (it cannot run here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import colab_links  # noqa: E402

from helpers.course import launcher, runtime  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SETUP_CELL = next(c.source for c in nbformat.read(NOTEBOOKS[0], as_version=4).cells
                  if c.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_badge_and_setup_cell_point_at_the_configured_repository(path: Path) -> None:
    slug = colab_links.configured_slug()
    cells = nbformat.read(path, as_version=4).cells
    assert (f"https://colab.research.google.com/github/{slug}/blob/main/notebooks/{path.name}"
            in cells[0].source)
    setup = next(c.source for c in cells if c.cell_type == "code")
    assert setup == SETUP_CELL  # one setup cell, the same in every chapter
    assert f"https://github.com/{slug}.git" in setup
    # No shell escape or magic: IPython raises on neither when the command fails.
    assert not any(line.lstrip().startswith(("!", "%")) for line in setup.splitlines())


def test_rewrite_changes_only_the_slug() -> None:
    text = ("[badge](https://colab.research.google.com/github/a/b/blob/main/notebooks/x.ipynb)"
            " !git clone https://github.com/a/b.git /content/course")
    assert colab_links.rewrite(text, "me/course") == text.replace("a/b", "me/course")


def test_colab_is_detected_from_its_environment(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_COURSE_DEVICE", "cpu")
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delenv("COLAB_GPU", raising=False)
    assert "Colab" not in runtime.device_description()
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-2026")
    assert runtime.device_description().endswith("CPU cores (a Colab runtime)")


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
    # A GPU worker keeps vLLM's default process layout; only the CPU drops the worker process.
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in env
    cpu = runtime.engine_environment("cpu", local_model=True)
    assert cpu["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"


@pytest.mark.parametrize(("device", "eager"), [("gpu", False), ("cpu", True)])
def test_eager_mode_is_a_cpu_default_only(monkeypatch, device, eager) -> None:
    from helpers.api_server.cli import build_parser

    monkeypatch.setenv("VLLM_COURSE_DEVICE", device)
    assert bool(build_parser().parse_args([]).enforce_eager) is eager


def test_the_gpu_profiles_pin_the_vllm_that_was_checked() -> None:
    """Every profile that installs CUDA vLLM pins exactly what `make check-vllm-cuda` checks,
    and that is the release of the cpu profile's vllm-cpu (the one the saved outputs come
    from): one vLLM version everywhere."""
    import re
    import tomllib

    checked = re.search(r"^VLLM_CUDA := (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    pins = {name: [d for d in deps if re.match(r"vllm\b(?!-)", d)] for name, deps in
            extras.items()}
    assert {name: pin for name, pin in pins.items() if pin} == {"gpu": [checked],
                                                                "colab": [checked]}
    cpu_pins = {name: [d for d in deps if d.startswith("vllm-cpu")] for name, deps in
                extras.items()}
    assert {name: len(pin) for name, pin in cpu_pins.items() if pin} == {"cpu": 1}
    cuda = re.fullmatch(r"vllm==(\d+\.\d+\.\d+)", checked)
    cpu = re.fullmatch(r"vllm-cpu==(\d+\.\d+\.\d+)", cpu_pins["cpu"][0])
    assert cuda and cpu, f"pin exact releases: {checked!r}, {cpu_pins['cpu'][0]!r}"
    assert cuda.group(1) == cpu.group(1), "the CUDA vllm and vllm-cpu must be the same release"
    assert not any("jupyterlab" in d for d in extras["colab"])  # Colab is the notebook UI


def test_a_colab_runtime_without_a_gpu_is_told_how_to_switch(tmp_path, monkeypatch) -> None:
    from helpers.course import colab

    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi here
    with pytest.raises(colab.NoGPUError, match="Runtime → Change runtime type → T4 GPU"):
        colab.install(tmp_path, "colab")


def run_setup_cell(python: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The setup cell as a Colab runtime runs it: ``google.colab`` imported, then the cell."""
    code = "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    return subprocess.run([str(python), "-c", code + SETUP_CELL + "\nimport helpers.client\n"],
                          env=env, capture_output=True, text=True, timeout=900)


def test_the_colab_setup_cell_installs_once_and_a_chapter_runs(tmp_path, legacy_server) -> None:
    """The Colab path as far as a machine without a GPU goes: the setup cell clones the course
    (a local copy, through VLLM_COURSE_REPO), installs it with pip (the engine-free `libs`
    profile instead of `colab`), is quick the second time, and chapter 01's first cells then
    run against a server."""
    venv = tmp_path / "runtime"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    course = tmp_path / "content" / "course"
    env = {**os.environ, "VLLM_COURSE_REPO": str(ROOT), "VLLM_COURSE_DIR": str(course),
           "VLLM_COURSE_PROFILE": "libs", "VLLM_API_URL": legacy_server.url,
           "VLLM_COURSE_CACHE": str(tmp_path / "cache"), "PYTHONPATH": ""}
    first = run_setup_cell(python, env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (course / "helpers").is_dir() and "Installed in" in first.stdout
    again = run_setup_cell(python, env)
    assert again.returncode == 0 and "already installed" in again.stdout, again.stderr[-2000:]

    cells = [c.source for c in nbformat.read(ROOT / "notebooks" / "01_request_payloads.ipynb",
                                             as_version=4).cells if c.cell_type == "code"]
    script = ("import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
              + "\n".join(cells[:3]) + "\nprint('TEXT:', response.json()['text'][0])\n")
    chapter = subprocess.run([str(python), "-c", script], env=env, capture_output=True,
                             text=True, timeout=300, cwd=tmp_path)
    assert chapter.returncode == 0, chapter.stderr[-3000:]
    assert "TEXT: San Francisco is a" in chapter.stdout


def test_a_wrong_repository_stops_with_a_clear_message(tmp_path) -> None:
    env = {**os.environ, "VLLM_COURSE_REPO": str(tmp_path / "no-such-repo"),
           "VLLM_COURSE_DIR": str(tmp_path / "course"), "PYTHONPATH": ""}
    failed = run_setup_cell(Path(sys.executable), env)
    assert failed.returncode != 0
    assert f"Could not clone the course from {tmp_path / 'no-such-repo'}" in failed.stderr
    assert "Publishing the course" in failed.stderr
