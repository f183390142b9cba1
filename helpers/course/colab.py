"""Install the course into a Google Colab runtime once, loudly: every step checks its result.

Introduced in chapter 00. Each notebook's first cell clones the course (if this runtime has
not yet) and calls :func:`install`, which installs the ``colab`` profile (CUDA vLLM and what
the notebooks import) the first time and takes a second afterwards. A step that fails stops
with what it tried and what went wrong, instead of a ``ModuleNotFoundError`` three cells later.

Everything here reads only the standard library (and :mod:`helpers.course.runtime`, which does too),
so it runs before anything is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from helpers.course.runtime import gpu_listed  # the standard library only, like this module

__all__ = ["NoGPUError", "SetupError", "install", "installed_marker"]

#: The profile a Colab runtime installs; a test installs ``client`` instead (no CUDA here).
PROFILE_VARIABLE = "VLLM_COURSE_PROFILE"


class SetupError(RuntimeError):
    """A setup step failed; the message says which, what it said, and what to do."""


class NoGPUError(SetupError):
    """The runtime has no GPU, which the ``colab`` profile's engine needs."""


def installed_marker(course: Path, profile: str) -> Path:
    """The file that says this runtime already installed ``profile`` from ``course``."""
    return course / f".installed-{profile}"


_COURSE = Path(__file__).resolve().parents[2]


def install(course: str | Path = _COURSE, profile: str | None = None) -> None:
    """Install ``course`` with pip (``profile``, default ``colab``) unless already done.

    Raises :class:`NoGPUError` on a runtime without a GPU (the engine cannot run there),
    and :class:`SetupError` with pip's own words when the installation fails.
    """
    course = Path(course)
    profile = profile or os.environ.get(PROFILE_VARIABLE, "colab")
    marker = installed_marker(course, profile)
    if marker.exists():
        print(f"The course is already installed in this runtime ({profile} profile).")
        return
    if profile == "colab" and not gpu_listed():
        raise NoGPUError(
            "This runtime has no GPU, and the course's engine needs one on Colab. "
            "Choose Runtime → Change runtime type → T4 GPU, then run this cell again. "
            "(Or run the course on your own machine: see the README, 'Two commands'.)")
    print(f"Installing the course ({profile} profile): a few minutes the first time …")
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e",
                           f"{course}[{profile}]"], capture_output=True, text=True)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()[-2000:]
        raise SetupError(
            f"pip could not install the course ({profile} profile) from {course}:\n{said}\n"
            "Run this cell again; if the same error comes back, see TROUBLESHOOTING.md.")
    marker.touch()
    print(f"Installed in {time.monotonic() - start:.0f} s.")

