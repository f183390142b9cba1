"""Every setting of the course in one place: constants, and environment variables read at call time.

Introduced in chapter 00. Nothing else in ``helpers`` reads ``os.environ`` for the course's
own variables; vLLM's variables are set in :mod:`helpers.course.runtime`.

==========================  =============================================  =======================
variable                    meaning                                        default
==========================  =============================================  =======================
``VLLM_API_KEY``            API key sent as ``Authorization: Bearer``      unset: no key
``VLLM_COURSE_CACHE``       folder for the prepared model, logs, state     ``~/.cache/vllm-course``
``VLLM_COURSE_MODEL``       the model the launcher serves (hub id or       the hub copy on a GPU,
                            folder)                                        the bundled copy on CPU
``VLLM_COURSE_DEVICE``      ``gpu`` or ``cpu``: overrides detection        ``nvidia-smi`` decides
==========================  =============================================  =======================

Each kind of server (:data:`helpers.course.servers.KINDS`) declares two more: the variable that
moves its local port (``VLLM_COURSE_LEGACY_PORT``, default 8000; ``VLLM_COURSE_OPENAI_PORT``,
8001; ``VLLM_COURSE_ROUTER_PORT``, 8002) and the one that points at a remote server instead,
when the launcher starts nothing (``VLLM_API_URL``; ``VLLM_OPENAI_URL``, ending in ``/v1``;
``VLLM_ROUTER_URL``). :func:`port` and :func:`url` read them.

``VLLM_API_KEY`` is also what ``vllm serve`` reads, so one variable serves both APIs.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DEFAULT_PROMPT",
    "HUB_MODEL_ID",
    "LOCAL_HOST",
    "SERVED_MODEL_NAME",
    "TOOL_CALLING_ARGS",
    "api_key",
    "auth_headers",
    "cache_dir",
    "forced_device",
    "model_override",
    "port",
    "url",
]

#: Where local servers listen unless told otherwise: this machine only.
LOCAL_HOST = "127.0.0.1"
#: The course model's name on every server (``model=`` in OpenAI requests).
SERVED_MODEL_NAME = "SmolLM2-135M-Instruct"
#: The same model on the Hugging Face hub, for machines that can reach it (Colab, GPU).
HUB_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
#: The prompt of vLLM's example client, used throughout the course.
DEFAULT_PROMPT = "San Francisco is a"
#: ``vllm serve`` flags for tool calling (chapter 11): ``tool_choice`` "auto" allowed, and the
#: parser that finds calls in the model's text (Hermes' ``<tool_call>{...}</tool_call>``).
TOOL_CALLING_ARGS = ("--enable-auto-tool-choice", "--tool-call-parser", "hermes")

def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def port(variable: str, default: int) -> int:
    """The port number in ``variable``, or ``default`` when it is unset."""
    value = _env(variable)
    if value is None:
        return default
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"{variable}={value!r} is not a port number (1-65535); fix or unset it.")
    return int(value)


def url(variable: str) -> str | None:
    """The URL in ``variable`` without a trailing slash, or ``None`` when it is unset."""
    value = _env(variable)
    return value.rstrip("/") if value else None


def api_key() -> str | None:
    """The API key from ``VLLM_API_KEY``, or ``None``. Never print it."""
    return _env("VLLM_API_KEY")


def auth_headers(key: str | None = None) -> dict[str, str]:
    """``Authorization`` header for ``key`` (default: ``VLLM_API_KEY``), or none."""
    key = key if key is not None else api_key()
    return {"Authorization": f"Bearer {key}"} if key else {}


def model_override() -> str | None:
    """The model named by ``VLLM_COURSE_MODEL``, or ``None``."""
    return _env("VLLM_COURSE_MODEL")


def forced_device() -> str | None:
    """``"gpu"`` or ``"cpu"`` from ``VLLM_COURSE_DEVICE``, or ``None`` to detect."""
    value = (_env("VLLM_COURSE_DEVICE") or "").lower()
    return value if value in ("gpu", "cpu") else None


def cache_dir() -> Path:
    """The course's per-user cache folder (``VLLM_COURSE_CACHE``), created if missing."""
    configured = _env("VLLM_COURSE_CACHE")
    if configured:
        path = Path(configured).expanduser()
    else:
        base = _env("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "vllm-course"
    path.mkdir(parents=True, exist_ok=True)
    return path
