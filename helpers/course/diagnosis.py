"""Read a server's log: its last lines, the root cause of a failure, and the fix for it.

Introduced in chapter 00 (a server that does not start) and used again in chapter 04
(a server whose engine died). The launcher shows what these functions find, so a learner
sees ``Cause: ValueError: ...`` and a fix instead of hundreds of log lines.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path

__all__ = ["advice", "last_line", "root_causes", "tail"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_ERROR_LINE = re.compile(r"\b(\w+(?:Error|Exception)): (.+)")
_UVICORN_ERROR = re.compile(r"^(ERROR):\s+(.+)")  # e.g. "ERROR:    [Errno 98] error while ..."
#: A log line at one of these levels is no cause, even when it quotes an error (vLLM warns
#: "... can cause fd limit errors like `OSError: [Errno 24] Too many open files`").
_NOT_A_CAUSE = re.compile(r"^(?:\([^)]*\)\s*)?(?:DEBUG|INFO|WARNING)\b")
#: (a fragment of the cause, case-insensitive) -> the fix a learner should try.
_ADVICE = (
    ("Address already in use", "Another process holds the port: stop it or pass port=..."),
    ("Free memory on device", "Another engine holds this GPU's memory: stop the other server "
     "(stop_server('openai') / stop_server('legacy')), or give each server a smaller share: "
     "extra_args=['--gpu-memory-utilization', '0.3']."),
    ("kv cache", "Not enough memory for the KV cache: close other servers or lower "
                 "VLLM_CPU_KVCACHE_SPACE (GiB) / --gpu-memory-utilization / --max-model-len."),
    ("out of memory", "The machine ran out of memory: stop other servers or use a smaller model."),
    ("EngineDead", "The engine process died (often: the machine ran out of memory). "
                   "start_server() starts a fresh server; stop other servers if it happens again."),
    ("No module named", "A package is missing: run `make setup` or install the cpu/gpu profile."),
    ("PackageNotFoundError", "Install the cpu or gpu profile (make setup)."),
    ("does not appear to have", "The model folder or hub id is wrong: check --model / model=."),
)


def tail(path: Path | None, lines: int) -> str:
    """The last ``lines`` lines of the file at ``path`` ('' if there is none), without colours."""
    if not path or not path.exists():
        return ""
    with open(path, "rb") as log:
        text = b"".join(deque(log, maxlen=lines)).decode("utf-8", "replace")
    return _ANSI.sub("", text)


def last_line(path: Path | None) -> str:
    """The log's last line without its ``LEVEL date time [file:line]`` prefix."""
    text = tail(path, 1).strip()
    return text.split("] ", 1)[-1] if text else ""


def root_causes(log: str) -> str:
    """The distinct ``SomeError: message`` lines of a log, first (the root cause) first."""
    causes: list[str] = []
    for line in log.splitlines():
        if _NOT_A_CAUSE.match(line):
            continue
        match = _ERROR_LINE.search(line) or _UVICORN_ERROR.match(line)
        if match and "See root cause above" not in line:
            cause = f"{match.group(1)}: {match.group(2).strip()}"
            if cause not in causes:
                causes.append(cause)
    return "\n       ".join(causes[:3])


def advice(causes: str) -> str:
    """The fix for the first known cause in ``causes``."""
    for needle, fix in _ADVICE:
        if needle.lower() in causes.lower():
            return fix
    return "Read the cause and the log lines above (the first error is the one that matters)."
