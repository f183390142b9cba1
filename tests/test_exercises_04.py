"""Chapter 04's exercise checkers (helpers.checks.ch04)."""

from __future__ import annotations

import pytest
import requests
from tenacity import (
    retry,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from helpers import errors
from helpers.checks import ch04

# Chapter 04, exercise 1: generate or explain (the refused connection comes first) -----------

NOWHERE = "http://127.0.0.1:9/generate"


def no_url(prompt, **fields):
    return []


def catches_requests_errors(prompt, url=NOWHERE, **fields):
    from helpers.client import get_response, post_http_request
    try:
        return get_response(post_http_request(prompt, url, **fields))
    except requests.RequestException as error:  # the course client raises its own errors
        print(error)
        return []


def make(on_error):
    def generate_or_explain(prompt, url=NOWHERE, **fields):
        from helpers.client import get_response, post_http_request
        try:
            return get_response(post_http_request(prompt, url, **fields))
        except errors.VLLMCourseError as error:
            return on_error(error)
    return generate_or_explain


@pytest.mark.parametrize("answer, message", [
    (no_url, "has no `url` parameter"),
    (catches_requests_errors, "let ServerUnreachableError escape: catch errors.VLLMCourseError"),
    (make(lambda error: print(error.hint)), "returned None: return []"),
    (make(lambda error: []), "printed nothing"),
    (make(lambda error: print(error.message) or []), "but not the error's hint"),
    (make(lambda error: str(error)), "expected []"),
], ids=["no-url", "requests-errors", "none", "silent", "message-only", "returns-text"])
def test_ch04_ex1_known_mistakes(answer, message, capsys) -> None:
    result = ch04.exercise1.check(answer)
    assert result.passed is False and message in result.message, result.message


# Chapter 04, exercise 2: the retry policy ----------------------------------------------------

TEMPORARY = (errors.APIConnectionError, errors.RateLimitError, errors.InternalServerError)


def worth_retrying(error):
    return isinstance(error, TEMPORARY)


def retry_after_or(backoff):
    return lambda state: getattr(state.outcome.exception(), "retry_after", None) or backoff(state)


SHORT = retry_after_or(wait_random_exponential(multiplier=0.05, max=0.2))


def policy(url=NOWHERE, **options):
    settings = dict(retry=retry_if_exception(worth_retrying), stop=stop_after_attempt(3),
                    reraise=True, wait=SHORT)
    settings.update(options)

    @retry(**settings)
    def careful(prompt, url=url, **fields):
        from helpers.client import get_response, post_http_request
        return get_response(post_http_request(prompt, url, **fields))

    return careful


def no_tenacity(prompt, url=NOWHERE, **fields):
    return []


@pytest.mark.parametrize("answer, message", [
    (no_tenacity, "decorated with tenacity's @retry"),
    (policy(stop=stop_after_delay(300)), "still retried after 10 attempts"),
    (policy(stop=stop_after_attempt(4)), "counts the first try: stop_after_attempt(3)"),
    (policy(reraise=False), "add reraise=True"),
    (policy(retry=retry_if_exception_type(errors.APIConnectionError)),
     "a 503 (ServiceUnavailableError) was not retried"),
    (policy(wait=wait_random_exponential(multiplier=0.05, max=0.2)),
     "said Retry-After: 1.5 s, your policy waited"),
    (policy(wait=lambda state: getattr(state.outcome.exception(), "retry_after", None)),
     "your wait function returned None"),
    (policy(wait=lambda state: state.outcome.exception().retry_after or 0.1),
     "only the status errors have .retry_after"),
    (policy(retry=retry_if_exception(lambda error: error.status_code >= 500)),
     "your code raised AttributeError"),
], ids=["plain-function", "endless", "four-tries", "retry-error", "503-not-retried",
        "retry-after-ignored", "wait-none", "retry-after-attribute", "predicate-raises"])
def test_ch04_ex2_known_mistakes(answer, message, capsys) -> None:
    result = ch04.exercise2.check(answer)
    assert result.passed is False and message in result.message, result.message


def test_ch04_ex2_a_400_is_real_and_retrying_it_is_named(legacy_server, capsys) -> None:
    url = legacy_server.url + "/generate"
    wrong = ch04.exercise2.check(policy(url, retry=retry_if_exception(lambda e: True)))
    assert wrong.passed is False and "a 400 (BadRequestError) was tried 3 times" in wrong.message
    assert ch04.exercise2.check(policy(url))
