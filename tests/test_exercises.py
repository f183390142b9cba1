"""The exercise framework (helpers.checks.framework) and the checkers of chapters 02 and 04.

Every known mistake, written as a small wrong answer, gets its own message; an answer that
raises gets a message naming its exception; check() never raises; hint() progresses;
progress() shows ✓ / ✗ / not tried; outside Jupyter the verdict is one plain line. The
answers here need no server: they are wrong before the checker would reach one (the refused
connection comes first in chapter 04), or they produce their pieces themselves. The reference
solutions pass against the real server in the notebooks, under nbval; one server test below
shows the retry checker on a real 400.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

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
from helpers.checks import ch02, ch04
from helpers.checks.framework import Chapter, Result, Wrong
from helpers.stream import SnapshotDeltas

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def chapter() -> Chapter:
    """A small chapter of its own, so that progress starts empty."""
    book = Chapter("99", "02_streaming.ipynb")

    @book.exercise("Double it", hints=["Multiply.", "Return x * 2."])
    def double(function):
        value = function(21) if callable(function) else None
        if value != 42:
            raise Wrong(f"double(21) gave {value!r}; expected 42.")
        return "42."

    return book


def verdict(exercise, answer, capsys) -> tuple[Result, str]:
    result = exercise.check(answer)
    return result, capsys.readouterr().out


# The framework ------------------------------------------------------------------------------

def test_a_stub_is_not_tried_and_passing_and_failing_show_in_progress(chapter, capsys) -> None:
    exercise = chapter.exercises[0]
    result, out = verdict(exercise, ..., capsys)
    assert result.passed is None and not result and "Not tried yet" in out
    assert "pass your answer, as in exercise1.check(" in exercise.check().message
    assert "· 1. Double it — not tried" in chapter.progress()
    capsys.readouterr()
    result, out = verdict(exercise, lambda x: x + 2, capsys)
    assert result.passed is False and not result
    assert out.strip() == "✗ Exercise 1 — Not yet: double(21) gave 23; expected 42."
    assert "✗ 1. Double it — last try failed" in chapter.progress()
    exercise.check(...)  # running the stub again keeps the last verdict
    assert "✗ 1. Double it" in chapter.progress()
    capsys.readouterr()
    result, out = verdict(exercise, lambda x: x * 2, capsys)
    assert result and result.passed and out.startswith("✓ Exercise 1 — Correct")
    text = chapter.progress()
    assert "1 of 1 exercises done" in text and "✓ 1. Double it — done" in text


def test_a_reference_check_leaves_progress_alone(chapter, capsys) -> None:
    result = chapter.exercises[0].check(lambda x: x * 2, reference=True)
    assert result and "reference solution" in capsys.readouterr().out
    assert "not tried" in chapter.progress()


def test_an_answer_that_raises_is_named_with_where_it_raised(capsys) -> None:
    def decode_chunks(chunks):
        return {}["missing key"]

    result, out = verdict(ch02.exercise2, decode_chunks, capsys)
    assert result.passed is False and "Traceback" not in out
    assert "your code raised KeyError: 'missing key'" in result.message
    assert "(in decode_chunks, line" in result.message


def test_check_never_raises_even_when_the_checker_fails(capsys) -> None:
    book = Chapter("99", "02_streaming.ipynb")

    @book.exercise("Broken", hints=[])
    def broken(answer):
        return 1 / 0  # a bug of the checker, not of the learner

    result = broken.check(lambda: None)
    assert result.passed is False and "the checker itself failed" in result.message
    assert "ZeroDivisionError" in result.message and "not your fault" in result.message
    assert ch04.exercise2.check(object()).passed is False  # not a function at all


def test_hints_progress_from_a_nudge_to_the_last(chapter, capsys) -> None:
    exercise = chapter.exercises[0]
    first, second, third = exercise.hint(), exercise.hint(), exercise.hint()
    assert first.startswith("Hint 1 of 2: Multiply.") and "hint() again" in first
    assert second.startswith("Hint 2 of 2: Return x * 2.") and "solution()" in second
    assert third == second
    assert capsys.readouterr().out.count("💡") == 3


def test_plain_text_outside_jupyter_and_html_inside(capsys) -> None:
    result = ch02.exercise2.check(...)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "<" not in out  # one plain line
    assert 'style="color:' in result._repr_html_()
    result._ipython_display_()  # shown already by check(): not again as the cell's value
    assert capsys.readouterr().out == ""


def test_solution_is_the_notebooks_hidden_cell(capsys) -> None:
    """One copy: solution() shows the code of the chapter's hidden solution cell."""
    cells = json.loads((ROOT / "notebooks" / "02_streaming.ipynb").read_text())["cells"]
    hidden = ["".join(c["source"]) for c in cells if "solution" in c["metadata"].get("tags", [])]
    for number, source in enumerate(hidden, 1):
        code = getattr(ch02, f"exercise{number}").solution()
        assert code.strip() in source and not code.startswith("#@title")
    assert "def stream_to_deltas" in ch02.exercise1.solution()
    assert "def generate_or_explain" in ch04.exercise1.solution()
    assert "@retry" in ch04.exercise2.solution()


# Chapter 02, exercise 1: deltas as a generator (answers that make up their own stream) -------

def snapshots_for(prompt, max_tokens=16, **fields):
    """What a server's cumulative snapshots look like: the prompt, then a word per token."""
    return [prompt + "".join(f" w{i}" for i in range(n)) for n in range(max_tokens + 1)]


def deltas_of(prompt, **fields):
    deltas = SnapshotDeltas()
    for snapshot in snapshots_for(prompt, **fields):
        yield deltas.update([snapshot])[0]


def test_ch02_ex1_a_generator_of_deltas_passes(capsys) -> None:
    assert ch02.exercise1.check(deltas_of)


SHARED = SnapshotDeltas()


def shared_deltas(prompt, **fields):
    for snapshot in snapshots_for(prompt, **fields):
        yield SHARED.update([snapshot])[0]


@pytest.mark.parametrize("answer, message", [
    (lambda prompt, **fields: list(deltas_of(prompt, **fields)), "has to be a generator"),
    (lambda prompt, **fields: print(*deltas_of(prompt, **fields)), "returned None"),
    (lambda prompt, **fields: ([d] for d in deltas_of(prompt, **fields)), "yield its [0]"),
    (lambda prompt, **fields: iter(snapshots_for(prompt, **fields)), "you yield whole snapshots"),
    (lambda prompt, **fields: (d for i, d in enumerate(deltas_of(prompt, **fields)) if i),
     "Did you skip the first piece?"),
    (lambda prompt, **fields: iter(["".join(deltas_of(prompt, **fields))]),
     "Did you pass stream=True"),
    (lambda prompt, **fields: deltas_of(prompt), "pass the **fields on"),
    (shared_deltas, "one SnapshotDeltas is shared"),
    (lambda prompt, **fields: deltas_of("San Francisco is a", **fields), "not a fixed prompt"),
], ids=["list", "printed", "lists", "snapshots", "no-prompt", "not-streamed", "fields-dropped",
        "shared-deltas", "fixed-prompt"])
def test_ch02_ex1_known_mistakes(answer, message, capsys) -> None:
    result = ch02.exercise1.check(answer)
    assert result.passed is False and message in result.message, result.message


def test_ch02_ex1_a_server_error_is_named(capsys) -> None:
    def stream_to_deltas(prompt, **fields):
        raise errors.ServerUnreachableError("http://127.0.0.1:9/generate", "refused")
        yield

    result = ch02.exercise1.check(stream_to_deltas)
    assert "your code raised ServerUnreachableError" in result.message
    assert "in stream_to_deltas" in result.message


# Chapter 02, exercise 2: decoding chunks -----------------------------------------------------

def incremental(chunks):
    decoder = codecs.getincrementaldecoder("utf-8")()
    texts = [decoder.decode(chunk) for chunk in chunks]
    return texts + [decoder.decode(b"", final=True)]


def test_ch02_ex2_an_incremental_decoder_passes(capsys) -> None:
    assert ch02.exercise2.check(incremental)


def without_final(chunks):
    decoder = codecs.getincrementaldecoder("utf-8")()
    return [decoder.decode(chunk) for chunk in chunks]


@pytest.mark.parametrize("answer, message", [
    (lambda chunks: [c.decode("utf-8") for c in chunks],
     "raised UnicodeDecodeError: chunk 1 ends inside a character"),
    (lambda chunks: [codecs.getincrementaldecoder("utf-8")().decode(c, final=True)
                     for c in chunks], "with a new decoder for each"),
    (lambda chunks: b"".join(chunks).decode("utf-8"), "joining the bytes first"),
    (lambda chunks: [c.decode("utf-8", errors="replace") for c in chunks],
     "errors='replace' hides the split"),
    (lambda chunks: [c.decode("utf-8", errors="ignore") for c in chunks],
     "errors='ignore' drops"),
    (without_final, "final=True"),
    (lambda chunks: b"".join(chunks), "returned bytes"),
], ids=["per-chunk", "decoder-per-chunk", "joined", "replace", "ignore", "no-final", "bytes"])
def test_ch02_ex2_known_mistakes(answer, message, capsys) -> None:
    result = ch02.exercise2.check(answer)
    assert result.passed is False and message in result.message, result.message


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
