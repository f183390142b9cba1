"""Chapter 04's exercise checkers (helpers.checks.ch04), both ways.

Correct answers written differently from the reference (other clients, other return types,
other tenacity styles) pass against the session's legacy server; wrong answers of each class
fail with a message naming the mistake. The checks try the refused connection and their own
scripted server (503, 429, 400, with Retry-After values of their own) before the learner's
server, so most wrong answers fail without one (those tests run in `make test-fast`).
"""

from __future__ import annotations

import random
import sys
import threading
import time
from fractions import Fraction

import numpy as np
import pytest
from tenacity import (
    Retrying,
    retry,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
    wait_random_exponential,
)

from helpers import errors
from helpers.checks import ch04, limits
from helpers.client import generate, get_response, post_http_request

NOWHERE = "http://127.0.0.1:9/generate"


# Chapter 04, exercise 1: generate or explain ---------------------------------------------------

def no_url(prompt, **fields):
    return []


def catches_requests_errors(prompt, url=NOWHERE, **fields):
    import requests
    try:
        return get_response(post_http_request(prompt, url, **fields))
    except requests.RequestException as error:  # the course client raises its own errors
        print(error)
        return []


def make(on_error, url=NOWHERE, on_success=None):
    def generate_or_explain(prompt, url=url, **fields):
        try:
            texts = get_response(post_http_request(prompt, url, **fields))
        except errors.VLLMCourseError as error:
            return on_error(error)
        return on_success(prompt, texts) if on_success else texts
    return generate_or_explain


@pytest.mark.parametrize("answer, message", [
    (no_url, "has no `url` parameter"),
    (catches_requests_errors, "let ServerUnreachableError escape: catch errors.VLLMCourseError"),
    (make(lambda error: print(error.hint)), "returned None: return []"),
    (make(lambda error: []), "printed nothing"),
    (make(lambda error: print(error.message) or []), "but not this error's hint"),
    (make(lambda error: str(error)), "expected [] (an empty list)"),
    # One hint typed in for every error: the check's own 503 shows it is not this error's.
    (make(lambda error: print(errors.ServerUnreachableError(NOWHERE, "x").hint) or []),
     "not this error's hint (ServiceUnavailableError"),
], ids=["no-url", "requests-errors", "none", "silent", "message-only", "returns-text",
        "fixed-hint"])
def test_ch04_ex1_known_mistakes(answer, message, capsys) -> None:
    result = ch04.exercise1.check(answer)
    assert result.passed is False and message in result.message, result.message


def test_ch04_ex1_answers_that_never_ask_the_server_fail(legacy_server, capsys) -> None:
    url = legacy_server.url + "/generate"
    explain = lambda error: print(error.hint) or []  # noqa: E731
    copied = make(explain, url, on_success=lambda prompt, texts: ["Hi-and-"])  # saved output
    result = ch04.exercise1.check(copied)
    assert result.passed is False and "does not start with the check's prompt" in result.message
    echoed = make(explain, url, on_success=lambda prompt, texts: [prompt + " a fixed end."])
    result = ch04.exercise1.check(echoed)
    assert result.passed is False and "your server answers the same request" in result.message

    def fields_dropped(prompt, url=url, **fields):  # the check's max_tokens never sent
        try:
            return get_response(post_http_request(prompt, url, max_tokens=16, temperature=0))
        except errors.VLLMCourseError as error:
            print(error.hint)
            return []

    result = ch04.exercise1.check(fields_dropped)
    assert result.passed is False and "fields left out?" in result.message


def explain_with_generate(prompt, url=None, **fields):
    """helpers.client.generate instead of the two calls, and a tuple for 'nothing'."""
    try:
        return generate(prompt, url, **fields)
    except errors.VLLMCourseError as error:
        sys.stdout.write(f"{error.__class__.__name__}: {error.hint}\n")
        return ()


class Explainer:
    """A callable object, catching the two families by name, printing with a logger-ish."""

    def __init__(self, url):
        self.url = url

    def __call__(self, prompt, url=None, **fields):
        try:
            response = post_http_request(prompt, url or self.url, **fields)
            return tuple(get_response(response))
        except (errors.APIStatusError, errors.APIConnectionError) as error:
            print("Could not generate.", error.hint, sep="\n")
            return []


def test_ch04_ex1_correct_answers_written_otherwise_pass(legacy_server, capsys) -> None:
    url = legacy_server.url + "/generate"

    def reference(prompt, url=url, **fields):
        try:
            return get_response(post_http_request(prompt, url, **fields))
        except errors.VLLMCourseError as error:
            print(type(error).__name__, "->", error.hint)
            return []

    def with_generate(prompt, url=url, **fields):
        return explain_with_generate(prompt, url, **fields)

    explainer = Explainer(url)

    def through_object(prompt, url=url, **fields):
        return explainer(prompt, url, **fields)

    for answer in (reference, with_generate, through_object):
        result = ch04.exercise1.check(answer)
        assert result.passed, result.message
        assert "the same text as your server gives the check's own request" in result.message


def test_ch04_ex1_answers_that_hang_get_a_verdict(capsys) -> None:
    def endless(prompt, url=NOWHERE, **fields):
        while True:
            pass

    def blocked(prompt, url=NOWHERE, **fields):
        threading.Event().wait()

    for answer in (endless, blocked):
        begun = time.monotonic()
        with limits.scaled(0.02):
            result = ch04.exercise1.check(answer)
        assert result.passed is False and "did not return within" in result.message
        assert time.monotonic() - begun < 30


# Chapter 04, exercise 2: the retry policy --------------------------------------------------

TEMPORARY = (errors.APIConnectionError, errors.RateLimitError, errors.InternalServerError)


def worth_retrying(error):
    return isinstance(error, TEMPORARY)


def retry_after_or(backoff):
    return lambda state: getattr(state.outcome.exception(), "retry_after", None) or backoff(state)


SHORT = retry_after_or(wait_random_exponential(multiplier=0.05, max=0.2))


def policy(url=NOWHERE, body=None, **options):
    settings = dict(retry=retry_if_exception(worth_retrying), stop=stop_after_attempt(3),
                    reraise=True, wait=SHORT)
    settings.update(options)

    @retry(**settings)
    def careful(prompt, url=url, **fields):
        if body is not None:
            return body(prompt, url, **fields)
        return get_response(post_http_request(prompt, url, **fields))

    return careful


def no_tenacity(prompt, url=NOWHERE, **fields):
    return []


def busy_only_retry_after(state):
    error = state.outcome.exception()
    if isinstance(error, errors.ServiceUnavailableError) and error.retry_after:
        return error.retry_after
    return 0.05


@pytest.mark.parametrize("answer, message", [
    (no_tenacity, "decorated with tenacity's @retry"),
    (Retrying(stop=stop_after_attempt(3)), "you gave the policy alone"),
    (policy(stop=stop_after_delay(300)), "still retried after 10 attempts"),
    (policy(stop=stop_after_attempt(4)), "counts the first try: stop_after_attempt(3)"),
    (policy(reraise=False), "add reraise=True"),
    (policy(retry=retry_if_exception_type(errors.APIConnectionError)),
     "a 503 (ServiceUnavailableError) was not retried"),
    (policy(retry=retry_if_exception_type((errors.APIConnectionError,
                                           errors.InternalServerError))),
     "a 429 (RateLimitError) was not retried"),
    (policy(wait=wait_random_exponential(multiplier=0.05, max=0.2)),
     "your policy waited 0."),
    (policy(wait=wait_fixed(2)), "your policy waited 2.00 s"),  # 'honours' one of two, never both
    (policy(wait=busy_only_retry_after), "a 429 (RateLimitError) with Retry-After"),
    (policy(wait=lambda state: getattr(state.outcome.exception(), "retry_after", None)),
     "your wait function returned None"),
    (policy(wait=lambda state: state.outcome.exception().retry_after or 0.1),
     "only the status errors have .retry_after"),
    (policy(retry=retry_if_exception(lambda error: error.status_code >= 500)),
     "your code raised AttributeError"),
    (policy(wait=wait_fixed(30)), "make the waits short"),
    (policy(retry=retry_if_exception(lambda error: True)),
     "tried 3 times: a 4xx fails the same way every time"),
], ids=["plain-function", "policy-alone", "endless", "four-tries", "retry-error",
        "503-not-retried", "429-not-retried", "retry-after-ignored", "wait-fixed",
        "retry-after-503-only", "wait-none", "retry-after-attribute", "predicate-raises",
        "long-waits", "400-retried"])
def test_ch04_ex2_known_mistakes(answer, message, capsys) -> None:
    result = ch04.exercise2.check(answer)
    assert result.passed is False and message in result.message, result.message


@pytest.mark.parametrize("body, message", [
    (lambda prompt, url, **fields: ["San Francisco is a city"], "without an error"),
    (lambda prompt, url, **fields: get_response(post_http_request(prompt, NOWHERE, **fields)),
     "the check's server got no request at all"),
], ids=["never-asks", "ignores-url"])
def test_ch04_ex2_a_body_that_does_not_send_the_request_fails(body, message, capsys) -> None:
    result = ch04.exercise2.check(policy(body=body))
    assert result.passed is False and message in result.message, result.message


def test_ch04_ex2_a_400_is_real_and_retrying_it_is_named(legacy_server, capsys) -> None:
    url = legacy_server.url + "/generate"
    wrong = ch04.exercise2.check(policy(url, retry=retry_if_exception(lambda e: True)))
    assert wrong.passed is False and "tried 3 times: a 4xx" in wrong.message
    result = ch04.exercise2.check(policy(url))
    assert result.passed and "(with jitter)" in result.message, result.message


def test_ch04_ex2_fixed_texts_fail_on_the_learners_server(legacy_server, capsys) -> None:
    url = legacy_server.url + "/generate"

    def copied(prompt, url, **fields):  # the check's own servers answered; the real one is not
        if url.startswith(legacy_server.url):
            return [prompt + " 100 degrees."]
        return get_response(post_http_request(prompt, url, **fields))

    result = ch04.exercise2.check(policy(url, body=copied))
    assert result.passed is False and "your server answers the same request" in result.message


def retry_after_plus_jitter(state):
    """Retry-After plus up to half a second, as a Fraction; else a random short wait."""
    after = getattr(state.outcome.exception(), "retry_after", None)
    extra = Fraction(random.randint(0, 50), 100)
    return after + extra if after is not None else np.float64(random.uniform(0.01, 0.1))


def test_ch04_ex2_correct_answers_written_otherwise_pass(legacy_server, capsys) -> None:
    url = legacy_server.url + "/generate"

    def body(prompt, url=url, **fields):
        return get_response(post_http_request(prompt, url, **fields))

    # A Retrying object's .wraps instead of the decorator, a type-based predicate, and a stop
    # that also has a delay: any one that stops after 3 passes.
    wrapped = Retrying(retry=retry_if_exception_type(TEMPORARY),
                       stop=stop_after_attempt(3) | stop_after_delay(60), reraise=True,
                       wait=retry_after_or(wait_random_exponential(max=0.1))).wraps(body)
    # No jitter (an exponential backoff): it passes; the verdict says so.
    no_jitter = policy(url, wait=retry_after_or(wait_exponential(multiplier=0.01, max=0.1)))
    # Retry-After plus some jitter, in other numeric types.
    jittered = policy(url, wait=retry_after_plus_jitter)
    # The helpers' generate() in the body.
    with_generate = policy(url, body=lambda prompt, url, **fields: generate(prompt, url,
                                                                            **fields))
    for answer, note in ((wrapped, "with jitter"), (no_jitter, "without jitter"),
                         (jittered, "with jitter"), (with_generate, "with jitter")):
        result = ch04.exercise2.check(answer)
        assert result.passed and note in result.message, result.message


def endless_body(prompt, url=NOWHERE, **fields):
    while True:
        pass


@pytest.mark.parametrize("answer", [
    policy(body=lambda prompt, url, **fields: endless_body(prompt)),
    policy(body=lambda prompt, url, **fields: threading.Event().wait()),
    policy(wait=lambda state: time.sleep(3600)),
], ids=["endless-body", "blocking-body", "blocking-wait"])
def test_ch04_ex2_answers_that_hang_get_a_verdict(answer, capsys) -> None:
    begun = time.monotonic()
    with limits.scaled(0.02):
        result = ch04.exercise2.check(answer)
    assert result.passed is False and "did not return within" in result.message, result.message
    assert time.monotonic() - begun < 30
