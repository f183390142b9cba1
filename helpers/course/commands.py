"""The command line that starts a server of each kind, and how a learner would type it.

Introduced in chapter 00 (``display_command`` prints the ``vllm serve`` line the launcher runs).
Pure apart from :func:`default_model`, which asks the device: the launcher
(:mod:`helpers.course.launcher`) runs what these build.
"""

from __future__ import annotations

import shlex

from helpers import settings
from helpers.course.runtime import Device, detect_device
from helpers.course.servers import KINDS, kind_named

__all__ = ["default_model", "display_command", "server_command", "mentions"]


def default_model(device: Device | None = None) -> str:
    """``VLLM_COURSE_MODEL`` if set; else the hub copy of the course model on a GPU,
    the bundled offline copy (``"bundled"``) on a CPU."""
    return settings.model_override() or (
        settings.HUB_MODEL_ID if (device or detect_device()) == "gpu" else "bundled")


def server_command(
    kind: str,
    model: str | None,
    *,
    host: str = settings.LOCAL_HOST,
    port: int | None = None,
    device: Device = "cpu",
    extra_args: list[str] | tuple[str, ...] = (),
) -> list[str]:
    """The command line that starts a server of ``kind`` (``model`` already resolved)."""
    spec = kind_named(kind)
    command = spec.program()
    if spec.serves_model:
        command += ["--model", str(model)]
    command += ["--host", host, "--port", str(port or spec.default_port())]
    if spec.served_model_name and not mentions(extra_args, "--served-model-name"):
        command += ["--served-model-name", spec.served_model_name]
    if spec.metrics_port_flag and not mentions(extra_args, spec.metrics_port_flag):
        command += [spec.metrics_port_flag, str(spec.metrics_port(port))]
    defaults = spec.device_args.get(device, ())
    for at, arg in enumerate(defaults):
        if arg.startswith("--") and not mentions(extra_args, arg):
            value = defaults[at + 1] if at + 1 < len(defaults) else ""
            command += [arg] + ([value] if value and not value.startswith("--") else [])
    return command + list(extra_args)


def display_command(command: list[str]) -> str:
    """How a learner would type ``command``: ``vllm serve MODEL ...`` for the OpenAI server."""
    for spec in KINDS.values():
        program = spec.program()
        if command[:len(program)] == program:
            args = command[len(program):]
            if spec.shows_model_first and "--model" in args:  # vllm serve MODEL ...
                at = args.index("--model")
                args = [args[at + 1], *args[:at], *args[at + 2:]]
            return shlex.join([*spec.shown_as, *args])
    return shlex.join(command)


def mentions(args: list[str] | tuple[str, ...], flag: str) -> bool:
    """True if ``args`` pass ``flag`` (as ``--flag value`` or ``--flag=value``)."""
    return any(arg == flag or arg.startswith(flag + "=") for arg in args)
