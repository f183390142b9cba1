"""Decode the legacy `/generate` stream: delimited JSON lines of cumulative snapshots.

Introduced in chapter 02.

The legacy server answers ``stream: true`` with one JSON object per line, each
holding the *whole* text so far for every candidate (prompt included)::

    {"text": ["San Francisco is a"]}\\n
    {"text": ["San Francisco is a city"]}\\n

Older servers ended each object with ``\\0`` instead of ``\\n``. The network may
split the bytes anywhere: inside a JSON object, on a delimiter, or in the middle
of a multi-byte UTF-8 character. :class:`LineDecoder` copes with all of it, in
the spirit of httpx's ``LineDecoder``; :class:`SnapshotDeltas` turns cumulative
snapshots into per-candidate deltas.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from helpers.errors import StreamProtocolError, StreamServerError

__all__ = ["LineDecoder", "SnapshotDeltas", "iter_snapshots", "parse_snapshot"]


class LineDecoder:
    """Split a byte stream into complete lines, accepting ``\\n``, ``\\r\\n`` and ``\\0``.

    Bytes are buffered until a delimiter arrives, so a chunk boundary inside a
    UTF-8 character is harmless: ``\\n`` and ``\\0`` never occur inside a
    multi-byte sequence. Blank lines are dropped.
    """

    def __init__(self) -> None:
        self._pending = b""

    def decode(self, chunk: bytes) -> list[str]:
        """Feed one chunk; return the lines it completed (maybe none)."""
        return [_decode_line(line) for line in self.feed(chunk)]

    def flush(self) -> list[str]:
        """Return the last line if the stream ended without a final delimiter."""
        return [_decode_line(line) for line in self.feed_end()]

    def feed(self, chunk: bytes) -> list[bytes]:
        """Like :meth:`decode`, but return the complete lines as undecoded bytes."""
        if not chunk:
            return []
        data = self._pending + chunk if self._pending else chunk
        if b"\0" in data:
            data = data.replace(b"\0", b"\n")
        lines = data.split(b"\n")
        self._pending = lines.pop()
        return [line for line in lines if line and not line.isspace()]

    def feed_end(self) -> list[bytes]:
        """Like :meth:`flush`, as bytes."""
        rest, self._pending = self._pending, b""
        return [rest] if rest and not rest.isspace() else []

    @property
    def pending(self) -> bytes:
        """Bytes received after the last delimiter (an incomplete line)."""
        return self._pending


def _decode_line(raw: bytes) -> str:
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise StreamProtocolError(
            f"A streamed line is not valid UTF-8 ({exc.reason} at byte {exc.start}).",
            hint="The server sent corrupted bytes; check that you are talking to a vLLM server.",
            line=raw[:200].decode("utf-8", "replace"),
        ) from exc


def parse_snapshot(line: str | bytes) -> list[str]:
    """Parse one streamed line (text, or UTF-8 bytes) into its list of candidate texts.

    A line that is the server's error object (``{"error": {...}}``, sent when generation
    fails mid-stream) raises :class:`~helpers.errors.StreamServerError`.
    """
    try:
        data: Any = json.loads(line)
    except UnicodeDecodeError:
        _decode_line(line)  # raises the protocol error that names the bad bytes
        raise
    except json.JSONDecodeError as exc:
        raise StreamProtocolError(
            f"A streamed line is not valid JSON: {exc.msg} (column {exc.colno}).",
            hint=(
                "A stream decoder split the bytes on the wrong delimiter, or the server is not "
                "a vLLM /generate endpoint. This decoder accepts both '\\n' and the old '\\0'."
            ),
            line=_preview(line),
        ) from exc
    if type(data) is dict and "text" not in data and type(data.get("error")) is dict:
        raise StreamServerError(data["error"], _preview(line))
    text = data.get("text") if type(data) is dict else None
    if type(text) is not list or not all(type(t) is str for t in text):
        raise StreamProtocolError(
            'A streamed line has no "text" list of strings.',
            hint="Legacy /generate lines look like {\"text\": [\"...\"]}; is this the right URL?",
            line=_preview(line),
        )
    return text


def _preview(line: str | bytes) -> str:
    text = line if isinstance(line, str) else line.decode("utf-8", "replace")
    return text[:200]


def iter_snapshots(chunks: Iterable[bytes]) -> Iterator[list[str]]:
    """Yield each cumulative snapshot (one text per candidate) from raw byte chunks."""
    decoder = LineDecoder()
    for chunk in chunks:
        for line in decoder.feed(chunk):
            yield parse_snapshot(line)
    for line in decoder.feed_end():
        yield parse_snapshot(line)


class SnapshotDeltas:
    """Turn cumulative snapshots into the new text of each candidate.

    >>> deltas = SnapshotDeltas()
    >>> deltas.update(["Hi", "Yo"])
    ['Hi', 'Yo']
    >>> deltas.update(["Hi there", "Yo"])
    [' there', '']
    >>> deltas.texts
    ['Hi there', 'Yo']
    """

    def __init__(self) -> None:
        self.texts: list[str] = []

    def update(self, snapshot: list[str]) -> list[str]:
        """Record a snapshot; return what each candidate gained since the last one."""
        if len(snapshot) < len(self.texts):
            raise StreamProtocolError(
                f"The stream went from {len(self.texts)} candidates to {len(snapshot)}.",
                hint="Every line of one stream should carry all n candidates.",
            )
        deltas = []
        for index, text in enumerate(snapshot):
            previous = self.texts[index] if index < len(self.texts) else ""
            if not text.startswith(previous):
                raise StreamProtocolError(
                    f"Candidate {index} is not cumulative: its new text does not extend the old.",
                    hint="Legacy /generate snapshots always repeat the whole text so far.",
                )
            deltas.append(text[len(previous):])
        self.texts = list(snapshot)
        return deltas

