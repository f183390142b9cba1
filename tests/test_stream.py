"""Unit tests of the stream decoder: bytes in, lines and snapshots out (no server)."""

from __future__ import annotations

import json
import random

import pytest

from helpers.errors import StreamInterruptedError, StreamProtocolError, StreamServerError
from helpers.stream import (
    LineDecoder,
    SnapshotDeltas,
    SnapshotReader,
    iter_snapshots,
    parse_snapshot,
)

SNAPSHOTS = [["Hé"], ["Héllo, "], ["Héllo, wörld 🌍"], ["Héllo, wörld 🌍!\nnext"]]


def encode(snapshots: list[list[str]], delimiter: bytes = b"\n") -> bytes:
    return b"".join(json.dumps({"text": s}, ensure_ascii=False).encode() + delimiter
                    for s in snapshots)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@pytest.mark.parametrize("delimiter", [b"\n", b"\0", b"\r\n"])
def test_whole_stream_in_one_chunk(delimiter: bytes) -> None:
    assert list(iter_snapshots([encode(SNAPSHOTS, delimiter)])) == SNAPSHOTS


@pytest.mark.parametrize("delimiter", [b"\n", b"\0"])
def test_every_single_split_point(delimiter: bytes) -> None:
    data = encode(SNAPSHOTS, delimiter)
    for cut in range(1, len(data)):
        assert list(iter_snapshots(split_at(data, [cut]))) == SNAPSHOTS, cut


def test_one_byte_at_a_time_splits_utf8_characters() -> None:
    data = encode(SNAPSHOTS)
    assert "🌍".encode() in data  # a four-byte character that single bytes cut apart
    assert list(iter_snapshots(data[i:i + 1] for i in range(len(data)))) == SNAPSHOTS


def test_random_splits_and_mixed_delimiters() -> None:
    rng = random.Random(1234)
    data = encode(SNAPSHOTS[:2], b"\0") + encode(SNAPSHOTS[2:], b"\n")
    for _ in range(200):
        cuts = rng.sample(range(1, len(data)), k=rng.randint(1, 12))
        assert list(iter_snapshots(split_at(data, cuts))) == SNAPSHOTS


def test_blank_pieces_and_empty_chunks_are_ignored() -> None:
    data = b"\n\n" + encode(SNAPSHOTS[:1]) + b"\0\0\n  \n" + encode(SNAPSHOTS[1:2])
    assert list(iter_snapshots([b"", data, b""])) == SNAPSHOTS[:2]


def test_last_line_without_delimiter_is_flushed() -> None:
    decoder = LineDecoder()
    assert decoder.decode(b'{"text": ["a"]}\n{"text": ["ab"') == ['{"text": ["a"]}']
    assert decoder.pending == b'{"text": ["ab"'
    assert decoder.decode(b"]}") == []
    assert decoder.flush() == ['{"text": ["ab"]}']
    assert decoder.flush() == []


def test_old_delimiter_mismatch_is_what_breaks_naive_clients() -> None:
    data = encode(SNAPSHOTS[:2], b"\0")
    with pytest.raises(json.JSONDecodeError):  # a client that splits on "\n" only
        [json.loads(line) for line in data.split(b"\n") if line]
    assert list(iter_snapshots([data])) == SNAPSHOTS[:2]


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('{"text": ["a"', "not valid JSON"),
        ('{"text": ["a"]}{"text": ["b"]}', "not valid JSON"),
        ('["a"]', 'no "text" list'),
        ('{"text": "a"}', 'no "text" list'),
        ('{"text": [1]}', 'no "text" list'),
        ('{"error": "boom"}', 'no "text" list'),
        ('{"text": ["a", 2]}', 'no "text" list'),
        ('{"text": null, "error": {"message": "x"}}', 'no "text" list'),
        ("", "not valid JSON"),
        ("[", "not valid JSON"),
        ('{"text": ["a"]} x', "not valid JSON"),
    ],
)
def test_malformed_lines_raise_a_protocol_error_naming_the_line(line: str, fragment: str) -> None:
    with pytest.raises(StreamProtocolError) as info:
        parse_snapshot(line)
    assert fragment in str(info.value)
    assert info.value.line == line[:200]
    assert "How to fix" in str(info.value)


ERROR_LINE = b'{"error": {"message": "The engine stopped", "type": "engine_dead_error"}}\n'


@pytest.mark.parametrize("delimiter", [b"\n", b"\0"])
def test_the_servers_error_line_is_one_error_type_at_every_split_point(delimiter) -> None:
    """iter_snapshots and the clients' reader raise the same class for the same line, with the
    text received before it, wherever the bytes were cut."""
    data = encode(SNAPSHOTS[:2], delimiter) + ERROR_LINE.replace(b"\n", delimiter)
    for cut in range(1, len(data)):
        received = []
        with pytest.raises(StreamServerError) as info:
            for snapshot in iter_snapshots(split_at(data, [cut]), url="http://x/generate"):
                received.append(snapshot)
        assert received == SNAPSHOTS[:2], cut
        assert info.value.partial == SNAPSHOTS[1] and info.value.url == "http://x/generate"
        assert info.value.server_error["type"] == "engine_dead_error"
        reader = SnapshotReader("http://x/generate")
        with pytest.raises(StreamServerError) as by_reader:
            for chunk in split_at(data, [cut]):
                reader.feed(chunk)
        assert by_reader.value.partial == info.value.partial
        assert str(by_reader.value) == str(info.value)
    assert issubclass(StreamServerError, StreamInterruptedError)


def test_the_error_line_alone_is_the_same_type() -> None:
    with pytest.raises(StreamServerError) as info:
        parse_snapshot(ERROR_LINE.strip())
    assert info.value.partial == [] and info.value.url is None
    assert "The stream broke before it finished (the server said: The engine stopped)" in str(
        info.value)


@pytest.mark.parametrize("line", [
    b'{"text": ["a"]}', b'  {"text": ["a"]}  ', b'{"text": ["a"]}\r', b'\t{ "text" : [ "a" ] }',
    '{"text": ["a"]} ', b'{"text": ["a"], "logprobs": null}',
])
def test_whitespace_around_a_line_is_allowed(line) -> None:
    assert parse_snapshot(line) == ["a"]


def test_the_fast_json_path_agrees_with_json_loads() -> None:
    """The scanner call in parse_snapshot and json.loads read every line alike: escapes,
    non-ASCII, several candidates, empty lists, extra keys."""
    rng = random.Random(7)
    alphabet = ['a', ' ', '"', '\\', '\n', '\t', 'é', '🌉', '\u2028', '\x00', '/', '}', ']']
    for _ in range(500):
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
                 for _ in range(rng.randint(0, 4))]
        body = {"text": texts, **({"finish_reason": None} if rng.random() < 0.3 else {})}
        for ascii_only in (True, False):
            line = json.dumps(body, ensure_ascii=ascii_only).encode()
            assert parse_snapshot(line) == json.loads(line)["text"] == texts


def test_invalid_utf8_raises_a_protocol_error() -> None:
    with pytest.raises(StreamProtocolError, match="not valid UTF-8"):
        list(iter_snapshots([b'{"text": ["\xff\xfe"]}\n']))


def test_truncated_stream_keeps_the_complete_snapshots() -> None:
    received = []
    with pytest.raises(StreamProtocolError):
        for snapshot in iter_snapshots([encode(SNAPSHOTS[:2]) + '{"text": ["Hél'.encode()]):
            received.append(snapshot)
    assert received == SNAPSHOTS[:2]


def test_deltas_reassemble_each_candidate() -> None:
    snapshots = [["A", "B"], ["A b", "B"], ["A b c", "B x"]]
    deltas = SnapshotDeltas()
    pieces = [deltas.update(s) for s in snapshots]
    assert pieces == [["A", "B"], [" b", ""], [" c", " x"]]
    assert ["".join(p[i] for p in pieces) for i in range(2)] == snapshots[-1]
    assert deltas.texts == snapshots[-1]


def test_deltas_reject_non_cumulative_or_shrinking_snapshots() -> None:
    deltas = SnapshotDeltas()
    deltas.update(["Hello", "Hi"])
    with pytest.raises(StreamProtocolError, match="not cumulative"):
        deltas.update(["Help", "Hi"])
    with pytest.raises(StreamProtocolError, match="2 candidates to 1"):
        deltas.update(["Hello there"])
