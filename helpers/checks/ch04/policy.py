"""The learner's retry policy run on a fake clock: chapter 04's exercise 2 calls the learner's
tenacity-decorated function, body and all, with tenacity's sleep replaced by one that records
each wait instead of waiting, so that a check of a policy takes no time.

Used by :mod:`helpers.checks.ch04`: a :class:`Run` is one call through the learner's policy
(its attempts, its waits, what came out, and whether it would retry forever);
:func:`decorated` reads the answer as a decorated function; the known mistakes of a policy's
own functions (a wait function that returns None, or reads ``.retry_after`` of an error that
has none) are named instead of reported as raised. tenacity is imported only by a check, so
that importing the checkers needs only the course's libraries.
"""

from __future__ import annotations

import traceback
from typing import Any

from helpers import errors
from helpers.checks.ch04.answers import printed_call
from helpers.checks.framework import AnswerRaised, Wrong, describe

__all__ = ["ENDLESS", "Run", "decorated", "tenacity_module"]

#: A policy still retrying after this many attempts does not stop (the fake clock never runs
#: out, so a delay-based stop never fires).
ENDLESS = 10


class _Endless(BaseException):
    """Raised by the fake sleep once a policy has made ENDLESS attempts (not an Exception:
    a learner's predicate that catches everything must not swallow it)."""


class Run:
    """One call of the learner's decorated function through its own policy, with tenacity's
    sleep replaced by one that records each wait: attempts, waits, and what came out."""

    def __init__(self, careful: Any, label: str, url: str, prompt: str = "Hi",
                 **fields: Any) -> None:
        self.label, self.waits = label, []
        self.result: Any = None
        self.error: BaseException | None = None
        self.endless = False
        shown = "".join(f", {k}={v!r}" for k, v in fields.items())
        self.doing = f"calling careful({prompt!r}, url=...{shown}) ({label})"
        try:
            patient = careful.retry_with(sleep=self._sleep)
        except Exception as error:  # a policy tenacity cannot copy (its own arguments' fault)
            raise AnswerRaised(error, "copying your policy (careful.retry_with)") from error
        self.statistics = getattr(patient, "statistics", {})
        try:
            self.result, _ = printed_call(patient, self.doing, prompt, url=url, **fields)
        except AnswerRaised as raised:
            self.error = raised.error
            expected = errors.VLLMCourseError | tenacity_module().RetryError
            if not isinstance(raised.error, expected):
                _policy_failed(raised)
        except _Endless:
            self.endless = True

    def _sleep(self, seconds: float) -> None:
        self.waits.append(float(seconds))
        if len(self.waits) >= ENDLESS - 1:
            raise _Endless()

    @property
    def attempts(self) -> int:
        """Attempts by tenacity's count (the calls of the body), else by the waits."""
        counted = self.statistics.get("attempt_number") if self.statistics else None
        return int(counted) if counted else len(self.waits) + 1


def tenacity_module() -> Any:
    """tenacity, imported when a check needs it."""
    import tenacity

    return tenacity


def _in_policy(error: BaseException) -> bool:
    """True when ``error`` came out of tenacity's own code or the check's sleep (a wait
    function's value that tenacity could not use), not out of the learner's function."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and ("tenacity" in frames[-1].filename
                             or frames[-1].filename == __file__)


def _policy_failed(raised: AnswerRaised) -> None:
    """The learner's code raised something else than the client's errors: name the known
    mistakes of a policy (its wait or retry function), else report it as raised."""
    error = raised.error
    if isinstance(error, TypeError) and "NoneType" in str(error) and _in_policy(error):
        raise Wrong("your wait function returned None (an error without Retry-After, "
                    "whose .retry_after is None): fall back to a backoff, "
                    "`... or wait_random_exponential(...)(state)`.") from None
    if isinstance(error, AttributeError) and "retry_after" in str(error):
        raise Wrong(f"your wait function read .retry_after of a {type(error.obj).__name__}, "
                    "but only the status errors have .retry_after: use "
                    "getattr(error, 'retry_after', None).") from None
    raise raised


def decorated(answer: Any) -> Any:
    """The answer, when it is a function decorated with a tenacity policy (else Wrong)."""
    tenacity = tenacity_module()
    if isinstance(getattr(answer, "retry", None), tenacity.BaseRetrying) and callable(
            getattr(answer, "retry_with", None)):
        return answer
    if isinstance(answer, tenacity.BaseRetrying):
        raise Wrong("you gave the policy alone (a tenacity Retrying); expected your function "
                    "decorated with it, @retry(...) def careful(prompt, url=api_url, "
                    "**fields): the check runs the function, body and all.")
    raise Wrong(f"expected your function decorated with tenacity's @retry(...) (it carries its "
                f"policy in .retry); got {describe(answer)}. This check runs it through that "
                "policy.")
