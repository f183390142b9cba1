"""Time limits for the exercise checks: a learner's endless loop or blocking call becomes a
verdict instead of a frozen notebook.

Introduced with the checked exercises (chapter 01). :func:`run_limited` runs a function for
at most N seconds. In the main thread on a system with ``SIGALRM`` (Linux, macOS: Jupyter,
Colab, pytest), the limit is a timer signal that raises :class:`TimeLimitExceeded` *inside* the
running code, so the code really stops: a ``while True`` is left, ``time.sleep`` and a socket
read are interrupted, and a request in flight is closed (vLLM then aborts it). The exception
is a ``BaseException``, like ``KeyboardInterrupt``: an ``except Exception`` in the learner's
code does not swallow it, and a bare ``except:`` that does is interrupted again a second later.
Elsewhere (Windows, a thread), the function runs in a daemon thread: past the limit the caller
gets its verdict at once, and the thread is asked to stop at its next Python instruction.

>>> run_limited(sum, ([1, 2, 3],), {}, 5)
6
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["TimedOut", "TimeLimitExceeded", "run_limited", "scaled"]

#: While interrupted code keeps catching the signal's exception, it is raised again this often.
REPEAT = 1.0
_scale = 1.0  # every limit is multiplied by this (the tests shorten them with `scaled`)


class TimeLimitExceeded(BaseException):
    """Raised inside code that ran past its limit (not an ``Exception``: see the module)."""


class TimedOut(Exception):
    """What :func:`run_limited`'s caller gets when the function ran past ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"did not return within {seconds:g} s")
        self.seconds = seconds


class _Limit:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds
        self.active = True


_limits: list[_Limit] = []  # the main thread's limits, innermost last


@contextlib.contextmanager
def scaled(factor: float) -> Iterator[None]:
    """Multiply every limit by ``factor`` inside the block (tests of hanging answers)."""
    global _scale
    before, _scale = _scale, _scale * factor
    try:
        yield
    finally:
        _scale = before


def run_limited(function: Callable, args: tuple, kwargs: dict, seconds: float) -> Any:
    """``function(*args, **kwargs)``, or :class:`TimedOut` once ``seconds`` have passed."""
    seconds = seconds * _scale
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM"):
        return _by_signal(function, args, kwargs, seconds)
    return _by_thread(function, args, kwargs, seconds)


def _arm() -> None:
    """Set the timer for the earliest active deadline (or clear it when none is left)."""
    live = [limit.deadline for limit in _limits if limit.active]
    if live:
        signal.setitimer(signal.ITIMER_REAL, max(min(live) - time.monotonic(), 0.001), REPEAT)
    else:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _on_alarm(signum: int, frame: Any) -> None:
    now = time.monotonic()
    if any(limit.active and limit.deadline <= now for limit in _limits):
        raise TimeLimitExceeded()
    _arm()  # an outer limit's timer fired early (its inner one just ended): set it again


def _by_signal(function: Callable, args: tuple, kwargs: dict, seconds: float) -> Any:
    limit = _Limit(seconds)
    previous = signal.getsignal(signal.SIGALRM) if not _limits else None
    if not _limits:
        signal.signal(signal.SIGALRM, _on_alarm)
    _limits.append(limit)
    expired = False
    try:
        _arm()
        return function(*args, **kwargs)
    except TimeLimitExceeded:
        if time.monotonic() < limit.deadline:
            raise  # an outer limit's: it reaches its own run_limited
        expired = True
    finally:
        limit.active = False
        _limits.remove(limit)
        if _limits:
            _arm()
        else:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous or signal.SIG_DFL)
    if expired:  # raised here, outside the except block: no traceback keeps the frames alive
        raise TimedOut(seconds)


def _by_thread(function: Callable, args: tuple, kwargs: dict, seconds: float) -> Any:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as error:  # handed to the caller below
            outcome["error"] = error

    worker = threading.Thread(target=target, daemon=True, name="checked answer")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident),
                                                   ctypes.py_object(TimeLimitExceeded))
        raise TimedOut(seconds)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
