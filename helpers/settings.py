"""Where the course's servers are, read from environment variables at call time.

=====================  ===========================================  ==========================
variable               meaning                                      default
=====================  ===========================================  ==========================
``VLLM_API_URL``       base URL of a *remote* legacy server; when   unset: start one locally
                       set, the launcher starts nothing
``VLLM_OPENAI_URL``    base URL of a remote OpenAI-compatible       unset: start one locally
                       server (ending in ``/v1``)
``VLLM_API_KEY``       API key sent as ``Authorization: Bearer``    unset: no key
``VLLM_COURSE_CACHE``  folder for the prepared model, logs, state   ``~/.cache/vllm-course``
=====================  ===========================================  ==========================

``VLLM_API_KEY`` is also what ``vllm serve`` reads, so one variable serves both APIs.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "LEGACY_PORT",
    "OPENAI_PORT",
    "api_key",
    "cache_dir",
    "remote_legacy_url",
    "remote_openai_url",
    "auth_headers",
]

LEGACY_PORT = 8000
OPENAI_PORT = 8001


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def remote_legacy_url() -> str | None:
    """The remote legacy server's base URL (``VLLM_API_URL``), without a trailing slash."""
    url = _env("VLLM_API_URL")
    return url.rstrip("/").removesuffix("/generate") if url else None


def remote_openai_url() -> str | None:
    """The remote OpenAI-compatible server's base URL (``VLLM_OPENAI_URL``), ending in ``/v1``."""
    url = _env("VLLM_OPENAI_URL")
    if not url:
        return None
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def api_key() -> str | None:
    """The API key from ``VLLM_API_KEY``, or ``None``. Never print it."""
    return _env("VLLM_API_KEY")


def auth_headers(key: str | None = None) -> dict[str, str]:
    """``Authorization`` header for ``key`` (default: ``VLLM_API_KEY``), or none."""
    key = key if key is not None else api_key()
    return {"Authorization": f"Bearer {key}"} if key else {}


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
