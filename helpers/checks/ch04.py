"""The checkers of chapter 04's exercises (error handling). See :mod:`helpers.checks.framework`.

Exercise 1 calls the learner's function against the learner's server (the ``url`` its
signature defaults to, else the legacy server of :mod:`helpers.settings`, with the room's key
when one is set): a good request, a field with a typo (a real 400) and a port where nothing
listens. Exercise 2 takes the learner's tenacity policy (``careful.retry``) and applies it to
the checker's own calls, with a sleep that records the waits instead of waiting: a real 400
from the server, a real refused connection, and the client's own 503 (with ``Retry-After``)
and 429 errors.
"""

from __future__ import annotations

import contextlib
import inspect
import io
from typing import Any

from helpers import errors
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

chapter = Chapter("04", "04_error_handling.ipynb")
NOWHERE = "http://127.0.0.1:9/generate"  # nothing listens on port 9 (the chapter's example)


def _server_url(function: Any) -> str:
    """The URL the learner's function uses by default, else the course's legacy server."""
    try:
        default = inspect.signature(function).parameters["url"].default
    except (KeyError, TypeError, ValueError):
        default = inspect.Parameter.empty
    if isinstance(default, str) and default.startswith("http"):
        return default
    from helpers.servers import KINDS

    return KINDS["legacy"].url() + "/generate"


def _expected_error(url: str, **fields: Any) -> errors.VLLMCourseError:
    from helpers.client import get_response, post_http_request

    try:
        get_response(post_http_request("Hi", url, **fields))
    except errors.VLLMCourseError as error:
        return error
    raise RuntimeError(f"the server at {url} accepted {fields}; expected an error")


@chapter.exercise("Generate, or explain why not", hints=[
    "Wrap get_response(post_http_request(prompt, url, **fields)) in try/except, and catch "
    "the course client's base class, errors.VLLMCourseError.",
    "In the except branch: print(type(error).__name__, '->', error.hint) and return []. "
    "Give the function a url=api_url parameter, so that you can try a wrong port.",
], function="generate_or_explain")
def exercise1(generate_or_explain: Any) -> str:
    try:
        parameters = inspect.signature(generate_or_explain).parameters
    except (TypeError, ValueError):
        parameters = {}
    if parameters and "url" not in parameters:
        raise Wrong("your function has no `url` parameter: give it one, `url=api_url`, so that "
                    "you (and this check) can try a wrong port.")
    url = _server_url(generate_or_explain)
    # The refused connection first: it needs no server, and the learner sees it soonest.
    _explains(generate_or_explain, "a port where nothing listens", {"url": NOWHERE},
              _expected_error(NOWHERE))
    doing = "calling generate_or_explain('Hi', max_tokens=4)"
    texts, printed = _run(generate_or_explain, doing, "Hi", max_tokens=4)
    if hasattr(texts, "status_code"):
        raise Wrong(f"{doing} returned the HTTP response itself: get_response(response) "
                    "turns it into the texts.")
    if texts == []:
        raise Wrong(f"{doing}, a request that works, returned [] (it printed "
                    f"{describe(printed.strip(), 60)}): return the texts when there is no error.")
    if not (isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts)
            and texts[0].startswith("Hi")):
        raise Wrong(f"{doing}, a request that works, returned {describe(texts)}; expected "
                    "the list of texts (each starts with the prompt), as get_response gives.")
    _explains(generate_or_explain, "a typo in a field name", {"max_token": 4},
              _expected_error(url, max_token=4))
    return ("[] and the error's hint for a port where nothing listens and for a typo (400); "
            "the texts for a good request.")


def _explains(function: Any, label: str, kwargs: dict, expected: errors.VLLMCourseError) -> None:
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    doing = f"calling generate_or_explain('Hi', {shown}) ({label})"
    try:
        result, printed = _run(function, doing, "Hi", **kwargs)
    except AnswerRaised as raised:
        if isinstance(raised.error, errors.VLLMCourseError):
            raise Wrong(f"{doing}, your function let {type(raised.error).__name__} escape: "
                        "catch errors.VLLMCourseError, the base class of every error of the "
                        "course client (it does not raise requests' exceptions).") from None
        raise
    if result is None:
        raise Wrong(f"{doing} returned None: return [] after printing the hint, so that a "
                    "caller can still loop over the answer.")
    if result != []:
        raise Wrong(f"{doing} returned {describe(result)}; expected [].")
    if not printed.strip():
        raise Wrong(f"{doing} returned [] but printed nothing: print the error's hint "
                    "(error.hint), which says how to fix it.")
    if expected.hint and expected.hint[:40] not in printed:
        raise Wrong(f"{doing} printed {describe(printed.strip(), 60)}, but not the error's "
                    f"hint, {describe(expected.hint, 60)}: print error.hint.")


def _run(function: Any, doing: str, *args: Any, **kwargs: Any) -> tuple[Any, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = call(function, *args, doing=doing, **kwargs)
    return result, out.getvalue()


class _Endless(Exception):
    pass


class _Scenario:
    """The checker's own call, made through the learner's policy: counts attempts and waits."""

    def __init__(self, policy: Any, make_error: Any, fail_times: int) -> None:
        self.attempts, self.waits = 0, []
        self.make_error, self.fail_times = make_error, fail_times
        self.policy = policy.copy(sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) >= 10:
            raise _Endless()

    def _attempt(self) -> str:
        self.attempts += 1
        if self.attempts <= self.fail_times:
            raise self.make_error()
        return "answered"

    def run(self) -> Any:
        import tenacity

        try:
            return self.policy(self._attempt)
        except (errors.VLLMCourseError, tenacity.RetryError, _Endless) as error:
            return error
        except TypeError as error:
            if "NoneType" in str(error):
                raise Wrong("your wait function returned None (an error without Retry-After, "
                            "whose .retry_after is None): fall back to a backoff, "
                            "`... or wait_random_exponential(...)(state)`.") from None
            raise AnswerRaised(error, "running your policy (its retry or wait function)") \
                from error
        except AttributeError as error:
            if "retry_after" in str(error):
                raise Wrong(f"your wait function read .retry_after of a {type(error.obj).__name__}"
                            ", but only the status errors have .retry_after: use "
                            "getattr(error, 'retry_after', None).") from None
            raise AnswerRaised(error, "running your policy (its retry or wait function)") \
                from error
        except Exception as error:  # the learner's predicate or wait function failed
            raise AnswerRaised(error, "running your policy (its retry or wait function)") \
                from error


def _policy(answer: Any) -> Any:
    import tenacity

    if isinstance(answer, tenacity.BaseRetrying):
        return answer
    if isinstance(getattr(answer, "retry", None), tenacity.BaseRetrying):
        return answer.retry
    raise Wrong(f"expected your function decorated with tenacity's @retry(...) (it carries its "
                f"policy in .retry); got {describe(answer)}. This check reads that policy.")


@chapter.exercise("A retry policy that cannot hang a notebook", hints=[
    "Start from generate_with_retry: keep retry=retry_if_exception(worth_retrying) and the "
    "Retry-After wait, and stop after a number of attempts instead of a delay.",
    "stop=stop_after_attempt(3) (the first try counts), reraise=True (the caller sees the "
    "client's error, not tenacity's RetryError), and a wait that returns the error's "
    ".retry_after when it has one, else a short wait_random_exponential(multiplier=0.05, "
    "max=0.2).",
])
def exercise2(careful: Any) -> str:
    import tenacity

    policy = _policy(careful)
    url = _server_url(careful)

    from helpers.client import get_response, post_http_request

    def bad_request():  # a real 400 from the learner's server
        try:
            get_response(post_http_request("Hi", url, n=2, temperature=0))
        except errors.APIStatusError as error:
            return error
        except errors.APIConnectionError as error:
            raise Wrong(f"this check sends a request to your server, {url}, which did not "
                        f"answer ({type(error).__name__}): run the chapter's first cells "
                        "(start_server()), then this one again.") from None
        raise RuntimeError("the server accepted n=2 with temperature=0")

    def unreachable():  # a real refused connection
        try:
            post_http_request("Hi", NOWHERE, timeout=(2, 2))
        except errors.APIConnectionError as error:
            return error
        raise RuntimeError(f"something answered at {NOWHERE}")

    def busy():
        return errors.ServiceUnavailableError(
            503, {"error": {"message": "The server is busy.", "type": "server_busy"}}, url,
            retry_after=1.5)

    def rate_limited():
        return errors.RateLimitError(429, {"error": {"message": "Too many requests."}}, url)

    outcome = _Scenario(policy, unreachable, 99)
    result = outcome.run()
    if isinstance(result, _Endless):
        raise Wrong("a refused connection was still retried after 10 attempts: stop after 3 "
                    "in all, stop=stop_after_attempt(3) (a delay-based stop can keep a "
                    "notebook waiting for minutes).")
    if outcome.attempts == 1:
        raise Wrong("a refused connection (ServerUnreachableError) was tried once: it is "
                    "worth retrying (the APIConnectionError family: the server may be "
                    "restarting).")
    if outcome.attempts != 3:
        extra = (" \"At most 3 times in all\" counts the first try: stop_after_attempt(3)."
                 if outcome.attempts == 4 else "")
        raise Wrong(f"a refused connection was tried {outcome.attempts} times; expected "
                    f"exactly 3.{extra}")
    if isinstance(result, tenacity.RetryError):
        raise Wrong("after 3 refused connections your function raised tenacity's RetryError, "
                    "which hides the client's ServerUnreachableError: add reraise=True.")
    if max(outcome.waits, default=0) > 10:
        raise Wrong(f"your policy waits up to {max(outcome.waits):.0f} s between tries of a "
                    "refused connection: make the waits short (max=0.2 for the test).")

    for make, name in ((busy, "a 503 (ServiceUnavailableError)"),
                       (rate_limited, "a 429 (RateLimitError)")):
        outcome = _Scenario(policy, make, 1)
        result = outcome.run()
        if outcome.attempts == 1:
            raise Wrong(f"{name} was not retried: the server says \"not now\", worth a "
                        "retry (errors.RateLimitError and errors.InternalServerError, whose "
                        "subclass ServiceUnavailableError is).")
        if result != "answered":
            raise Wrong(f"{name}, then an answer: your function gave {describe(result)}; "
                        "expected the answer of the second try.")
    outcome = _Scenario(policy, busy, 1)
    outcome.run()
    if not outcome.waits or outcome.waits[0] < 1.5 - 1e-6:
        waited = f"{outcome.waits[0]:.2f} s" if outcome.waits else "not at all"
        raise Wrong(f"the server's 503 said Retry-After: 1.5 s, your policy waited {waited}: "
                    "use the error's .retry_after in your wait function when it is set.")
    bad_request()  # the server answers (else this check cannot run): a real 400
    outcome = _Scenario(policy, bad_request, 99)
    result = outcome.run()
    if outcome.attempts > 1:
        raise Wrong(f"a 400 (BadRequestError) was tried {outcome.attempts} times: a 4xx fails "
                    "the same way every time. Retry only what is worth it: "
                    "retry=retry_if_exception(worth_retrying).")
    if isinstance(result, tenacity.RetryError):
        raise Wrong("after a 400 your function raised tenacity's RetryError, which hides the "
                    "client's BadRequestError: add reraise=True.")

    return ("a 400 tried once, a refused connection exactly 3 times (the client's error "
            "re-raised), 503 and 429 retried, and the 503's Retry-After honoured.")


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
