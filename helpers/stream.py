"""Decode the legacy `/generate` stream: delimited JSON lines of cumulative snapshots.

Introduced in chapter 02.

The legacy server answers ``stream: true`` with one JSON object per line, each
holding the *whole* text so far for every candidate (prompt included)::

    {"text": ["San Francisco is a"]}\\n
    {"text": ["San Francisco is a city"]}\\n

Older servers ended each object with ``\\0`` instead of ``\\n``. The network may
split the bytes anywhere: inside a JSON object, on a delimiter, or in the middle
of a multi-byte UTF-8 character. :class:`LineDecoder` copes with all of it, in
the spirit of httpx's ``LineDecoder``; :class:`SnapshotReader` turns its lines into
snapshots and keeps the last one (both clients read their streams through it, and
:func:`iter_snapshots` is a loop over it); :class:`SnapshotDeltas` turns cumulative
snapshots into per-candidate deltas. Nothing here does I/O: every piece is tested by
feeding it bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from helpers.errors import StreamInterruptedError, StreamProtocolError, StreamServerError

__all__ = ["LineDecoder", "SnapshotDeltas", "SnapshotReader", "iter_snapshots", "parse_snapshot"]


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
        if b"\0" in chunk:  # only the new bytes: the pending ones were replaced already
            chunk = chunk.replace(b"\0", b"\n")
        data = self._pending + chunk if self._pending else chunk
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


#: The C scanner inside ``json.loads``, called without the layers around it, which cost over
#: 40 % of ``json.loads`` on a 1 KB line (measured; with them and the checks below, the
#: decoder fell behind ``requests``' ``iter_lines``): guessing the encoding of bytes
#: (``json.detect_encoding``; here a line is decoded as strict UTF-8, the only encoding a
#: server streams) and the Python calls and regular expressions that skip whitespace around
#: the value. A line the scanner does not read whole is handed to ``json.loads``, so results
#: and error messages are its own.
_scan_json = json.JSONDecoder().scan_once


def parse_snapshot(line: str | bytes) -> list[str]:
    """Parse one streamed line (text, or UTF-8 bytes) into its list of candidate texts.

    A line that is the server's error object (``{"error": {...}}``, sent when generation
    fails mid-stream) raises :class:`~helpers.errors.StreamServerError` (without ``url``
    and ``partial``: a :class:`SnapshotReader` adds them); any other line that is not a
    snapshot raises :class:`~helpers.errors.StreamProtocolError`.
    """
    text = line if type(line) is str else _decode_line(line)
    try:
        data, end = _scan_json(text, 0)
    except (StopIteration, ValueError):  # not a JSON value at 0: json.loads says why
        end = -1
    if end != len(text):  # whitespace around it, or not one JSON value
        data = _loads(text)
    if type(data) is dict:  # the common case first, and cheaply: every line of a stream
        texts = data.get("text")
        if type(texts) is list and (len(texts) == 1 and type(texts[0]) is str
                                    or all(type(t) is str for t in texts)):
            return texts
        if "text" not in data and type(data.get("error")) is dict:
            raise StreamServerError(data["error"], text[:200])
    raise StreamProtocolError(
        'A streamed line has no "text" list of strings.',
        hint="Legacy /generate lines look like {\"text\": [\"...\"]}; is this the right URL?",
        line=text[:200],
    )


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StreamProtocolError(
            f"A streamed line is not valid JSON: {exc.msg} (column {exc.colno}).",
            hint=(
                "A stream decoder split the bytes on the wrong delimiter, or the server is not "
                "a vLLM /generate endpoint. This decoder accepts both '\\n' and the old '\\0'."
            ),
            line=text[:200],
        ) from exc


class SnapshotReader:
    """Turn the bytes of one streamed answer into cumulative snapshots, keeping the last.

    >>> reader = SnapshotReader("http://server/generate")
    >>> reader.feed(b'{"text": ["Hi"]}\\n{"text": ["Hi th')
    [['Hi']]
    >>> reader.feed(b'ere"]}\\n')
    [['Hi there']]
    >>> reader.partial
    ['Hi there']

    The server's error line raises :class:`~helpers.errors.StreamServerError` with ``url`` and
    :attr:`partial`; a transport failure reported through :meth:`interrupted` becomes
    :class:`~helpers.errors.StreamInterruptedError` with the same. ``url`` may be ``None``
    (bytes from elsewhere).
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        self.partial: list[str] = []
        self._decoder = LineDecoder()

    def feed(self, chunk: bytes) -> list[list[str]]:
        """The snapshots that ``chunk`` completed (maybe none)."""
        return self._parse(self._decoder.feed(chunk))

    def finish(self) -> list[list[str]]:
        """The last snapshot, if the stream ended without a final delimiter."""
        return self._parse(self._decoder.feed_end())

    def read(self, chunks: Iterable[bytes]) -> Iterator[list[str]]:
        """Every snapshot of ``chunks``, each as soon as its line is complete, then the last
        one if the stream ended without a delimiter (what :meth:`feed` and :meth:`finish` do,
        one snapshot at a time: a bad line keeps every snapshot before it)."""
        feed = self._decoder.feed
        try:
            for chunk in chunks:
                for line in feed(chunk):
                    self.partial = snapshot = parse_snapshot(line)
                    yield snapshot
            for line in self._decoder.feed_end():
                self.partial = snapshot = parse_snapshot(line)
                yield snapshot
        except StreamServerError as exc:
            raise self._server_error(exc) from None

    def interrupted(self, reason: str) -> StreamInterruptedError:
        """The error for a stream whose connection broke (``reason``) after what was read."""
        return StreamInterruptedError(self.url, self.partial, reason)

    def _parse(self, lines: list[bytes]) -> list[list[str]]:
        snapshots = []
        try:
            for line in lines:
                self.partial = snapshot = parse_snapshot(line)
                snapshots.append(snapshot)
        except StreamServerError as exc:
            raise self._server_error(exc) from None
        return snapshots

    def _server_error(self, exc: StreamServerError) -> StreamServerError:
        return StreamServerError(exc.server_error or {}, exc.line, url=self.url,
                                 partial=self.partial)


def iter_snapshots(chunks: Iterable[bytes], url: str | None = None) -> Iterator[list[str]]:
    """Yield each cumulative snapshot (one text per candidate) from raw byte chunks.

    The same reader as both clients' (:class:`SnapshotReader`), so a line or an error reads
    the same here as there; ``url`` only names the source in error messages.
    """
    return SnapshotReader(url).read(chunks)


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

