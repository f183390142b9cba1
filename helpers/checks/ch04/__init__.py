"""The checkers of chapter 04's exercises (error handling). See :mod:`helpers.checks.framework`.

Both checks call the learner's function itself, on inputs of the check's own that the notebook
never uses, and judge what it did:

- Exercise 1 (``generate_or_explain``): a prompt and a ``max_tokens`` the check picks at random,
  at temperature 0, compared with what the learner's legacy server answers the check's own
  request now; a field with a typo of the check's own (a real 400 from that server); a free
  port where nothing listens (not the notebook's port 9); and a 503 from a small scripted
  server of the check's own (an error the notebook never shows this function).
- Exercise 2 (``careful``, a tenacity policy): the learner's decorated function is run, body
  and all, against a scripted server of the check's own that answers a table of failures (a
  503 and a 429, each with a ``Retry-After`` the check picks at random; 503s without one; a
  400), and against a free port where nothing listens, with tenacity's sleep replaced by one
  that records the waits instead of waiting (a fake clock: the check takes no time). It
  measures the attempts (counted by the scripted server), the waits, whether ``Retry-After``
  is followed, whether the backoff has jitter, whether the policy stops, and what the caller
  gets. Then one real request to the learner's server, compared with the check's own.

The harness is apart: :mod:`~helpers.checks.ch04.scripted` (the check's scripted server and its
replies), :mod:`~helpers.checks.ch04.answers` (the learner's texts judged against the learner's
server), :mod:`~helpers.checks.ch04.policy` (the learner's policy run on a fake clock).
"""

from __future__ import annotations

import inspect
import random
from typing import Any

from helpers import errors
from helpers.checks.ch04.answers import expected_error, judge_texts, printed_call, server_url
from helpers.checks.ch04.policy import ENDLESS, Run, decorated, tenacity_module
from helpers.checks.ch04.scripted import (
    Scripted,
    answered,
    bad_request,
    busy,
    nowhere,
    rate_limited,
)
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, describe

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

chapter = Chapter("04", "04_error_handling.ipynb")

#: Prompts of the check's own (the notebook uses "Hi" and "Once upon a time"): open-ended, so
#: that a greedy answer runs on (a request that drops the check's max_tokens cannot match).
PROMPTS = ["The old lighthouse keeper", "In the middle of the forest there", "Every morning, my "
           "neighbour", "The train left the station and", "She opened the letter and",
           "On the first day of school,"]
#: Field-name typos of the check's own (the notebook shows max_token).
TYPOS = ["temprature", "max_tokns", "top_pp", "seeds"]


# Exercise 1 -----------------------------------------------------------------------------------

@chapter.exercise("Generate, or explain why not", hints=[
    "Wrap get_response(post_http_request(prompt, url, **fields)) in try/except, and catch "
    "the course client's base class, errors.VLLMCourseError.",
    "In the except branch: print(type(error).__name__, '->', error.hint) and return []. "
    "Give the function a url=api_url parameter, so that you can try a wrong port.",
], function="generate_or_explain", limit=240)
def exercise1(generate_or_explain: Any) -> str:
    try:
        parameters = inspect.signature(generate_or_explain).parameters
    except (TypeError, ValueError):
        parameters = {}
    if parameters and "url" not in parameters:
        raise Wrong("your function has no `url` parameter: give it one, `url=api_url`, so that "
                    "you (and this check) can try a wrong port.")
    url = server_url(generate_or_explain)
    # The refused connection first: it needs no server, and the learner sees it soonest.
    refused = nowhere()
    _explains(generate_or_explain, "a free port where nothing listens", {"url": refused},
              expected_error(refused))
    with Scripted([busy(retry_after=2)]) as scripted:
        _explains(generate_or_explain, "a server of the check's own that answers 503",
                  {"url": scripted.url}, expected_error(scripted.url))
    prompt, max_tokens = random.choice(PROMPTS), random.randint(3, 7)
    doing = (f"calling generate_or_explain({prompt!r}, max_tokens={max_tokens}, "
             "temperature=0, ignore_eos=True) (the check's own request)")
    texts, printed = printed_call(generate_or_explain, doing, prompt, max_tokens=max_tokens,
                                  temperature=0, ignore_eos=True)
    compared = judge_texts(texts, prompt, max_tokens, doing, printed)
    typo = random.choice(TYPOS)
    _explains(generate_or_explain, f"a typo of the check's own, {typo}", {typo: 1},
              expected_error(url, **{typo: 1}))
    return (f"[] and the error's hint for a refused connection, a 503 and a typo ({typo}: a "
            f"400); for a good request, {compared}.")


def _explains(function: Any, label: str, kwargs: dict, expected: errors.VLLMCourseError) -> None:
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    doing = f"calling generate_or_explain('Hi', {shown}) ({label})"
    try:
        result, printed = printed_call(function, doing, "Hi", **kwargs)
    except AnswerRaised as raised:
        if isinstance(raised.error, errors.VLLMCourseError):
            raise Wrong(f"{doing}, your function let {type(raised.error).__name__} escape: "
                        "catch errors.VLLMCourseError, the base class of every error of the "
                        "course client (it does not raise requests' exceptions).") from None
        raise
    if result is None:
        raise Wrong(f"{doing} returned None: return [] after printing the hint, so that a "
                    "caller can still loop over the answer.")
    if not (isinstance(result, list | tuple) and len(result) == 0):
        raise Wrong(f"{doing} returned {describe(result)}; expected [] (an empty list).")
    if not printed.strip():
        raise Wrong(f"{doing} returned [] but printed nothing: print the error's hint "
                    "(error.hint), which says how to fix it.")
    if expected.hint and expected.hint[:40] not in printed:
        raise Wrong(f"{doing} printed {describe(printed.strip(), 60)}, but not this error's "
                    f"hint ({type(expected).__name__}: {describe(expected.hint, 60)}): print "
                    "error.hint, the hint of the error that was raised.")


# Exercise 2 -----------------------------------------------------------------------------------

def _no_request(run: Run, scripted: Scripted) -> None:
    if not scripted.requests:
        got = describe(run.result if run.error is None else run.error, 60)
        raise Wrong(f"{run.doing}: the check's server got no request at all, and your function "
                    f"gave {got}. Its body must send the request to the url it is given: "
                    "get_response(post_http_request(prompt, url, **fields)).")


def _retry_after(careful: Any, make: Any, name: str, seconds: int) -> Run:
    text = f"Hi from the check's server ({seconds})"
    with Scripted([make(seconds), answered(text)]) as scripted:
        run = Run(careful, f"{name} with Retry-After: {seconds}, then an answer", scripted.url)
        _no_request(run, scripted)
    if len(scripted.requests) == 1:
        raise Wrong(f"{run.doing}: {name} was not retried: the server says \"not now\", "
                    "worth a retry (errors.RateLimitError and errors.InternalServerError, "
                    "whose subclass ServiceUnavailableError is).")
    if run.error is not None or run.result != [text]:
        got = describe(run.error if run.error is not None else run.result, 60)
        raise Wrong(f"{run.doing}: your function gave {got}; expected the second try's "
                    f"answer, {[text]!r} (return what get_response gives).")
    waited = run.waits[0] if run.waits else 0.0
    if waited < seconds - 1e-6:
        raise Wrong(f"{run.doing}: the server said Retry-After: {seconds} s and your policy "
                    f"waited {waited:.2f} s: use the error's .retry_after in your wait "
                    "function when it is set.")
    if waited > seconds + 1 + 0.25 * seconds:
        raise Wrong(f"{run.doing}: the server said Retry-After: {seconds} s and your policy "
                    f"waited {waited:.2f} s: a wait that does not follow the error's "
                    ".retry_after (a fixed wait?) makes every caller wait too long or too "
                    "little. Return .retry_after when it is set.")
    return run


@chapter.exercise("A retry policy that cannot hang a notebook", hints=[
    "Start from generate_with_retry: keep retry=retry_if_exception(worth_retrying) and the "
    "Retry-After wait, and stop after a number of attempts instead of a delay.",
    "stop=stop_after_attempt(3) (the first try counts), reraise=True (the caller sees the "
    "client's error, not tenacity's RetryError), and a wait that returns the error's "
    ".retry_after when it has one, else a short wait_random_exponential(multiplier=0.05, "
    "max=0.2).",
], limit=240)
def exercise2(careful: Any) -> str:
    careful = decorated(careful)
    refused = _refused(careful)
    # 503 and 429, each with a Retry-After of the check's own, then an answer.
    first, second = random.sample(range(2, 10), 2)
    _retry_after(careful, busy, "a 503 (ServiceUnavailableError)", first)
    _retry_after(careful, rate_limited, "a 429 (RateLimitError)", second)
    jitter = _backoff_has_jitter(careful)
    _bad_request_once(careful)
    compared = _on_your_server(careful)
    return (f"a refused connection tried 3 times (waits {_seconds(refused.waits)}), the "
            f"client's error re-raised; a 503 and a 429 retried after their Retry-After "
            f"({first} s, {second} s); 503s without it after a short backoff "
            f"({'with' if jitter else 'without'} jitter); a 400 tried once; and on your "
            f"server, {compared}.")


def _refused(careful: Any) -> Run:
    """A refused connection (a free port of the check's own): retried, 3 attempts in all."""
    tenacity = tenacity_module()
    refused = Run(careful, "a free port where nothing listens", nowhere())
    if refused.endless:
        raise Wrong(f"{refused.doing}: still retried after {ENDLESS} attempts (the check's "
                    "clock does not move, so a delay alone never stops it): stop after 3 in "
                    "all, stop=stop_after_attempt(3).")
    if isinstance(refused.error, tenacity.RetryError):
        raise Wrong(f"{refused.doing}: after {refused.attempts} attempts your function raised "
                    "tenacity's RetryError, which hides the client's ServerUnreachableError: "
                    "add reraise=True.")
    if refused.error is None:
        raise Wrong(f"{refused.doing}: your function returned {describe(refused.result)} "
                    "without an error, for a port where nothing listens, after "
                    f"{refused.attempts} attempt(s). Its body must send the request to the url "
                    "it is given and let the client's error out (no try/except in it): a "
                    "policy retries only what the function raises.")
    if refused.attempts == 1:
        raise Wrong(f"{refused.doing}: tried once. A refused connection "
                    f"({type(refused.error).__name__}) is worth retrying (the "
                    "APIConnectionError family: the server may be restarting).")
    if refused.attempts != 3:
        extra = (" \"At most 3 times in all\" counts the first try: stop_after_attempt(3)."
                 if refused.attempts == 4 else "")
        raise Wrong(f"{refused.doing}: tried {refused.attempts} times; expected exactly 3."
                    f"{extra}")
    if max(refused.waits, default=0) > 10:
        raise Wrong(f"{refused.doing}: your policy waits up to {max(refused.waits):.0f} s "
                    "between tries of a refused connection: make the waits short (max=0.2 for "
                    "the test).")
    return refused


def _backoff_has_jitter(careful: Any) -> bool:
    """503s without Retry-After: the backoff (twice, to see whether it has jitter)."""
    backoffs = []
    for attempt in range(2):
        text = f"Hi after two 503s ({attempt})"
        with Scripted([busy(), busy(), answered(text)]) as scripted:
            run = Run(careful, "two 503s without Retry-After, then an answer", scripted.url)
            _no_request(run, scripted)
        if run.error is not None or run.result != [text] or len(scripted.requests) != 3:
            got = describe(run.error if run.error is not None else run.result, 60)
            raise Wrong(f"{run.doing}: your function sent {len(scripted.requests)} request(s) "
                        f"and gave {got}; expected 3 requests and the third one's answer, "
                        f"{[text]!r}.")
        if max(run.waits, default=0) > 10:
            raise Wrong(f"{run.doing}: your policy waited {describe(run.waits)} s without a "
                        "Retry-After: make the backoff short (max=0.2 for the test).")
        backoffs.append(run.waits)
    return backoffs[0] != backoffs[1]


def _bad_request_once(careful: Any) -> None:
    """A 400 from the check's server: never retried, the client's error re-raised."""
    tenacity = tenacity_module()
    with Scripted([bad_request()]) as scripted:
        run = Run(careful, "a server of the check's own that answers 400", scripted.url)
        _no_request(run, scripted)
    if len(scripted.requests) > 1:
        raise Wrong(f"{run.doing}: tried {len(scripted.requests)} times: a 4xx fails the same "
                    "way every time. Retry only what is worth it: "
                    "retry=retry_if_exception(worth_retrying).")
    if isinstance(run.error, tenacity.RetryError):
        raise Wrong(f"{run.doing}: your function raised tenacity's RetryError, which hides the "
                    "client's BadRequestError: add reraise=True.")
    if not isinstance(run.error, errors.BadRequestError):
        raise Wrong(f"{run.doing}: your function gave {describe(run.result, 60)}; expected "
                    "the client's BadRequestError to reach the caller.")


def _on_your_server(careful: Any) -> str:
    """One real request to the learner's own server, compared with the check's own, then a
    typo of the check's own there (a real 400, tried once); returns what was compared."""
    url = server_url(careful)
    prompt, max_tokens = random.choice(PROMPTS), random.randint(3, 7)
    real = Run(careful, "your server, the check's own request", url, prompt,
               max_tokens=max_tokens, temperature=0, ignore_eos=True)
    if real.error is not None:
        raise Wrong(f"{real.doing}: your function raised {type(real.error).__name__}: "
                    f"{str(real.error).splitlines()[0] if str(real.error) else ''} (is your "
                    "server running? start_server())")
    compared = judge_texts(real.result, prompt, max_tokens, real.doing)
    typo = random.choice(TYPOS)
    real400 = Run(careful, f"your server, a typo of the check's own ({typo})", url,
                  **{typo: 1})
    if real400.attempts > 1 or not isinstance(real400.error, errors.BadRequestError):
        got = describe(real400.error if real400.error is not None else real400.result, 60)
        raise Wrong(f"{real400.doing}: {real400.attempts} attempt(s), and your function gave "
                    f"{got}; expected one attempt and the client's BadRequestError.")
    return compared


def _seconds(waits: list[float]) -> str:
    return ", ".join(f"{w:.2f}" for w in waits) + " s" if waits else "none"


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
