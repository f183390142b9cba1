"""Chapter 02's exercise checkers (helpers.checks.ch02), both ways: right answers written
differently from the reference pass, wrong ones fail with a message naming the mistake.

Exercise 1's wrong answers that make up their own stream fail on its shape before the checker
asks any server (tests without a server fixture); a made-up stream of the right shape fails
only against the server's own answer to the check's request (``legacy_server``), as do the
right generators. Exercise 2 needs no server. Generated text is never asserted.
"""

from __future__ import annotations

import codecs
import json
import operator
import threading
import time

import pytest
import requests

from helpers import errors
from helpers.checks import ch02, limits
from helpers.client import get_streaming_response, post_http_request
from helpers.stream import SnapshotDeltas


def wrong(exercise, answer, *messages: str) -> None:
    """The check fails, and its message holds one of ``messages``."""
    result = exercise.check(answer)
    assert result.passed is False and any(m in result.message for m in messages), \
        result.message


def right(exercise, answer) -> None:
    result = exercise.check(answer)
    assert result.passed is True, result.message


# Chapter 02, exercise 1: deltas as a generator (answers that make up their own stream) -------

def snapshots_for(prompt, max_tokens=16, **fields):
    """What a server's cumulative snapshots look like: the prompt, then a word per token."""
    return [prompt + "".join(f" w{i}" for i in range(n)) for n in range(max_tokens + 1)]


def deltas_of(prompt, **fields):
    deltas = SnapshotDeltas()
    for snapshot in snapshots_for(prompt, **fields):
        yield deltas.update([snapshot])[0]


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
    (lambda prompt, **fields: (d.encode() for d in deltas_of(prompt, **fields)),
     "expected strings"),
    (lambda prompt, **fields: iter(()), "yielded nothing"),
    (lambda prompt, **fields: 42, "not a generator"),
], ids=["list", "printed", "lists", "snapshots", "no-prompt", "not-streamed", "fields-dropped",
        "shared-deltas", "fixed-prompt", "bytes", "nothing", "number"])
def test_ch02_ex1_known_mistakes(answer, message, capsys) -> None:
    wrong(ch02.exercise1, answer, message)


def test_ch02_ex1_a_server_error_is_named(capsys) -> None:
    def stream_to_deltas(prompt, **fields):
        raise errors.ServerUnreachableError("http://127.0.0.1:9/generate", "refused")
        yield

    result = ch02.exercise1.check(stream_to_deltas)
    assert "your code raised ServerUnreachableError" in result.message
    assert "in stream_to_deltas" in result.message


def test_ch02_ex1_the_checks_prompts_and_budgets_are_its_own() -> None:
    assert ch02.DEFAULT_PROMPT not in ch02.PROMPTS
    assert not set(ch02.BUDGETS) & {12, 16, 64}


def test_ch02_ex1_a_made_up_stream_of_the_right_shape_fails(legacy_server, capsys) -> None:
    """The right shape (prompt first, then deltas, the budget kept), never asked of a server."""
    wrong(ch02.exercise1, deltas_of, "does your generator ask the server")


def test_ch02_ex1_a_sampled_stream_fails(legacy_server, capsys) -> None:
    def stream_to_deltas(prompt, **fields):  # drops the check's temperature=0
        fields = {**fields, "temperature": 1.5}
        deltas = SnapshotDeltas()
        for snapshot in get_streaming_response(post_http_request(
                prompt, f"{legacy_server.url}/generate", stream=True, **fields)):
            yield deltas.update(snapshot)[0]

    wrong(ch02.exercise1, stream_to_deltas, "your server answers the same request")


def _by_slicing(url):
    def stream_to_deltas(prompt, **fields):  # slices each snapshot after the previous one
        seen = ""
        response = post_http_request(prompt, f"{url}/generate", stream=True, **fields)
        for (text,) in get_streaming_response(response):
            yield text[len(seen):]
            seen = text
    return stream_to_deltas


def _by_requests(url):
    def stream_to_deltas(prompt, **fields):  # raw requests and iter_lines
        with requests.post(f"{url}/generate", stream=True, timeout=(5, 120),
                           json={"prompt": prompt, "stream": True, **fields}) as response:
            before = ""
            for line in response.iter_lines():
                if line:
                    now = json.loads(line)["text"][0]
                    yield now[len(before):]
                    before = now
    return stream_to_deltas


def _as_map(url):
    def stream_to_deltas(prompt, **fields):  # a map object, not a generator function
        deltas = SnapshotDeltas()
        response = post_http_request(prompt, f"{url}/generate", stream=True, **fields)
        return map(operator.itemgetter(0), map(deltas.update, get_streaming_response(response)))
    return stream_to_deltas


class _Iterator:
    """An iterator class with __next__: as good as a generator."""

    def __init__(self, url, prompt, **fields):
        response = post_http_request(prompt, f"{url}/generate", stream=True, **fields)
        self._snapshots, self._deltas = get_streaming_response(response), SnapshotDeltas()

    def __iter__(self):
        return self

    def __next__(self):
        return self._deltas.update(next(self._snapshots))[0]


@pytest.mark.parametrize("style", [
    _by_slicing, _by_requests, _as_map,
    lambda url: lambda prompt, **fields: _Iterator(url, prompt, **fields),
], ids=["slicing", "requests", "map", "iterator-class"])
def test_ch02_ex1_generators_written_another_way_pass(style, legacy_server, capsys) -> None:
    right(ch02.exercise1, style(legacy_server.url))


# Chapter 02, exercise 2: decoding chunks -----------------------------------------------------

def incremental(chunks):
    decoder = codecs.getincrementaldecoder("utf-8")()
    texts = [decoder.decode(chunk) for chunk in chunks]
    return texts + [decoder.decode(b"", final=True)]


def as_tuple(chunks):
    decoder = codecs.getincrementaldecoder("utf-8")()
    return (*(decoder.decode(chunk) for chunk in chunks), decoder.decode(b"", final=True))


def by_map(chunks):
    decoder = codecs.getincrementaldecoder("utf-8")()
    yield from map(decoder.decode, chunks)
    yield decoder.decode(b"", final=True)


@pytest.mark.parametrize("answer", [
    incremental, as_tuple, by_map, lambda chunks: codecs.iterdecode(chunks, "utf-8"),
], ids=["list", "tuple", "map-generator", "iterdecode"])
def test_ch02_ex2_decoders_written_another_way_pass(answer, capsys) -> None:
    right(ch02.exercise2, answer)


def without_final(chunks):
    decoder = codecs.getincrementaldecoder("utf-8")()
    return [decoder.decode(chunk) for chunk in chunks]


def printed(chunks):
    decoder = codecs.getincrementaldecoder("utf-8")()
    for chunk in chunks:
        print(decoder.decode(chunk), end="")


SAVED = ['": ["Caf', 'it 🌉"]}\n', '']  # the notebook's saved output (its last 8 characters)


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
    (printed, "returned None"),
    (lambda chunks: len(chunks), "expected texts, one per chunk"),
    (lambda chunks: list(SAVED), "your texts join to"),
], ids=["per-chunk", "decoder-per-chunk", "joined", "replace", "ignore", "no-final", "bytes",
        "none", "number", "copied-output"])
def test_ch02_ex2_known_mistakes(answer, message, capsys) -> None:
    wrong(ch02.exercise2, answer, message)


def test_ch02_ex2_none_is_named_not_the_checkers_own_error(capsys) -> None:
    result = ch02.exercise2.check(printed)
    assert "TypeError" not in result.message and "checker" not in result.message


# Both exercises: an answer that hangs ---------------------------------------------------------

def _spin_generator(*args, **kwargs):
    while True:
        pass
    yield


def _spin(*args, **kwargs):
    while True:
        pass


def _block(*args, **kwargs):
    threading.Event().wait()


def _sleep_generator(*args, **kwargs):
    yield from ()
    time.sleep(3600)


@pytest.mark.parametrize("exercise, answer", [
    (ch02.exercise1, _spin), (ch02.exercise1, _block), (ch02.exercise1, _spin_generator),
    (ch02.exercise2, _spin), (ch02.exercise2, _block), (ch02.exercise2, _sleep_generator),
], ids=["ex1-loop", "ex1-block", "ex1-loop-in-generator", "ex2-loop", "ex2-block",
        "ex2-sleep-in-generator"])
def test_ch02_a_hanging_answer_gets_a_verdict(exercise, answer, capsys) -> None:
    with limits.scaled(0.02):
        result = exercise.check(answer)
    assert result.passed is False and "did not return within" in result.message, result.message
