"""Chapter 02's exercise checkers (helpers.checks.ch02)."""

from __future__ import annotations

import codecs

import pytest

from helpers import errors
from helpers.checks import ch02
from helpers.stream import SnapshotDeltas

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
