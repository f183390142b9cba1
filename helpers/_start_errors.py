"""The errors of starting a local server: the launcher's and the bundled model's.

They belong to the server side (:mod:`helpers.launcher`, :mod:`helpers.model`), not to the
clients' errors in :mod:`helpers.errors`; they share its base class, so one
``except VLLMCourseError`` still catches everything the course raises, and
``from helpers.errors import ServerStartError`` (chapter 00) still imports them.
"""

from __future__ import annotations

from helpers.errors import VLLMCourseError

__all__ = ["MissingPackageError", "ServerStartError"]


class ServerStartError(VLLMCourseError):
    """A server could not be started; the message shows the end of its log."""


class MissingPackageError(VLLMCourseError):
    """An optional package this feature needs is not installed."""

    def __init__(self, package: str, feature: str, profile: str) -> None:
        self.package = package
        super().__init__(
            f"{feature} needs the package '{package}', which is not installed.",
            hint=f"Install the '{profile}' profile: pip install -e '.[{profile}]' (or make setup).",
        )
