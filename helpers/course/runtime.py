"""Which accelerator is here, and the engine settings that suit it.

Introduced in chapter 00.
Used by both the launcher (to start servers) and ``helpers.api_server`` (when
started by hand), so a server gets the same settings either way. Nothing here
imports torch or vLLM: detection asks ``nvidia-smi``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Literal

from helpers import settings

__all__ = ["Device", "detect_device", "device_description", "engine_environment", "gpu_listed"]

Device = Literal["gpu", "cpu"]


def detect_device() -> Device:
    """``"gpu"`` if ``nvidia-smi`` lists a GPU, else ``"cpu"``; ``VLLM_COURSE_DEVICE`` overrides."""
    forced = settings.forced_device()
    if forced:
        return forced  # type: ignore[return-value]
    return "gpu" if gpu_listed() else "cpu"


def gpu_listed(timeout: float = 10) -> bool:
    """True if ``nvidia-smi -L`` lists a GPU (False without it, or when it fails or hangs)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return False
    return listing.returncode == 0 and "GPU" in listing.stdout


def device_description() -> str:
    """What the local engines run on, in words: ``"an NVIDIA T4 GPU"`` or ``"2 CPU cores"``.

    Chapters print it beside a measurement, so that a saved output says which machine it
    comes from.
    """
    if detect_device() == "gpu":
        smi = shutil.which("nvidia-smi")
        try:
            names = subprocess.run([smi or "nvidia-smi", "--query-gpu=name",
                                    "--format=csv,noheader"], capture_output=True, text=True,
                                   timeout=10).stdout.split("\n")
        except (OSError, subprocess.SubprocessError):
            names = []
        name = next((line.strip() for line in names if line.strip()), "")
        return f"a GPU ({name})" if name else "a GPU"
    cores = len(_cpu_ids())
    return f"{cores} CPU core{'s' if cores != 1 else ''}" + (" (a Colab runtime)" if _on_colab()
                                                             else "")


def _on_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "COLAB_RELEASE_TAG" in os.environ or "COLAB_GPU" in os.environ


def _cpu_ids() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def _cpu_list(ids: list[int]) -> str:
    """``[0, 1, 2]`` -> ``"0-2"``; a gappy set -> ``"0,2,5"``."""
    if ids == list(range(ids[0], ids[-1] + 1)):
        return f"{ids[0]}-{ids[-1]}" if len(ids) > 1 else str(ids[0])
    return ",".join(map(str, ids))


def engine_environment(device: Device, *, local_model: bool) -> dict[str, str]:
    """Environment variables for a vLLM server process; values already set win.

    On a CPU: a 1 GiB KV cache (vLLM's default is far larger), OpenMP threads on
    every core (vLLM's ``auto`` leaves one idle), and the model run inside the engine-core
    process instead of a worker process of its own (``VLLM_ENABLE_V1_MULTIPROCESSING=0``:
    one process fewer to start, 0.7x the start time and 0.4 GiB less memory at the same
    speed, measured side by side; ``benchmarks/foundation.py``). Everywhere: vLLM's caches
    inside the course cache. ``local_model`` turns the hub off, so nothing tries the network.
    """
    cache = settings.cache_dir()
    env = {
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "VLLM_CACHE_ROOT": str(cache / "vllm"),
        "TORCHINDUCTOR_CACHE_DIR": str(cache / "torchinductor"),
        "PYTHONUNBUFFERED": "1",
    }
    if local_model:
        env["HF_HUB_OFFLINE"] = "1"
    if device == "cpu":
        env["VLLM_CPU_KVCACHE_SPACE"] = "1"
        env["VLLM_CPU_OMP_THREADS_BIND"] = _cpu_list(_cpu_ids())
        # The server's engine core stays a process of its own (AsyncLLM always runs it
        # apart); this only stops it from starting a further worker process for the model.
        env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    return {name: os.environ.get(name, value) for name, value in env.items()}
