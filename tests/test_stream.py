"""Unit tests of the stream decoder: bytes in, lines and snapshots out (no server)."""

from __future__ import annotations

import json
import random

import pytest

from helpers.errors import StreamProtocolError
from helpers.stream import LineDecoder, SnapshotDeltas, iter_snapshots, parse_snapshot

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
    ],
)
def test_malformed_lines_raise_a_protocol_error_naming_the_line(line: str, fragment: str) -> None:
    with pytest.raises(StreamProtocolError) as info:
        parse_snapshot(line)
    assert fragment in str(info.value)
    assert info.value.line == line[:200]
    assert "How to fix" in str(info.value)


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
