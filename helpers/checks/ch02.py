"""The checkers of chapter 02's exercises (streaming). See :mod:`helpers.checks.framework`.

Exercise 1 runs the learner's generator against the learner's server (the chapter's
``api_url``, which their function uses); exercise 2 feeds the learner's decoder byte streams
cut at every point inside a multi-byte character, one byte at a time, and with empty chunks.
"""

from __future__ import annotations

import codecs
import inspect
import json
import random
from typing import Any

from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe
from helpers.settings import DEFAULT_PROMPT

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

chapter = Chapter("02", "02_streaming.ipynb")


@chapter.exercise("Deltas as a generator", hints=[
    "Create one SnapshotDeltas inside the function, send the request with stream=True, and "
    "loop over get_streaming_response(response).",
    "In the loop, `yield deltas.update(snapshot)[0]`: update() returns one delta per "
    "candidate, and a single-candidate stream has one. Pass **fields on to "
    "post_http_request(prompt, api_url, stream=True, **fields).",
], function="stream_to_deltas")
def exercise1(stream_to_deltas: Any) -> str:
    max_tokens = 4
    pieces = _pieces(stream_to_deltas, DEFAULT_PROMPT, max_tokens=max_tokens, ignore_eos=True,
                     temperature=0)
    _check_pieces(pieces, DEFAULT_PROMPT, max_tokens)
    second = "The capital of France is"
    try:
        more = _pieces(stream_to_deltas, second, max_tokens=max_tokens, ignore_eos=True,
                       temperature=0)
    except AnswerRaised as raised:
        if "not cumulative" in str(raised.error):
            raise Wrong("your first call worked, your second one raised "
                        f"{type(raised.error).__name__} (\"not cumulative\"): one SnapshotDeltas "
                        "is shared by both streams. Create a new one inside the function, for "
                        "each stream.") from None
        raise
    if "".join(more).startswith(DEFAULT_PROMPT):
        raise Wrong(f"called with the prompt {second!r}, your generator streamed "
                    f"{DEFAULT_PROMPT!r}: send the prompt argument, not a fixed prompt.")
    _check_pieces(more, second, max_tokens)
    return (f"{len(pieces)} pieces, the first starting with the prompt, then only new text; "
            f"joined, they are the full text {describe(''.join(pieces), 60)}.")


def _pieces(function: Any, prompt: str, **fields: Any) -> list:
    shown = ", ".join([repr(prompt), *(f"{k}={v!r}" for k, v in fields.items())])
    doing = f"calling stream_to_deltas({shown})"
    result = call(function, prompt, doing=doing, **fields)
    if result is None:
        raise Wrong(f"{doing} returned None: a generator has `yield` in its loop (did you "
                    "print the pieces, or `return` instead of `yield`?).")
    if isinstance(result, str | bytes):
        raise Wrong(f"{doing} returned one string, {describe(result, 50)}: yield each new "
                    "piece as it arrives instead.")
    if isinstance(result, list | tuple):
        raise Wrong(f"{doing} returned a {type(result).__name__} of {len(result)} items: it "
                    "has to be a generator, which hands over each piece as it arrives — "
                    "`yield` inside the loop instead of collecting.")
    if not inspect.isgenerator(result) and not hasattr(result, "__next__"):
        raise Wrong(f"{doing} returned {describe(result)}, not a generator: use `yield`.")
    return call(list, result, doing=f"reading the pieces your generator yields ({doing})")


def _check_pieces(pieces: list, prompt: str, max_tokens: int) -> None:
    if not pieces:
        raise Wrong("your generator yielded nothing: `yield` each delta inside the loop over "
                    "get_streaming_response(response).")
    odd = next((p for p in pieces if not isinstance(p, str)), None)
    if isinstance(odd, list):
        raise Wrong(f"your generator yields lists such as {describe(odd, 40)}: "
                    "SnapshotDeltas.update returns one delta per candidate; yield its [0].")
    if odd is not None:
        raise Wrong(f"your generator yields {type(odd).__name__} values such as "
                    f"{describe(odd, 40)}; expected strings (the new text).")
    if len(pieces) == 1:
        raise Wrong(f"your generator yielded a single piece, {describe(pieces[0], 50)}: that is "
                    "the whole answer at once. Did you pass stream=True to post_http_request?")
    if sum(piece.startswith(prompt) for piece in pieces) > 1:
        raise Wrong(f"{sum(p.startswith(prompt) for p in pieces)} of your {len(pieces)} pieces "
                    f"start with the prompt: you yield whole snapshots (cumulative), not what "
                    "is new. Yield deltas.update(snapshot)[0].")
    joined = "".join(pieces)
    if not joined.startswith(prompt):
        raise Wrong(f"your pieces join to {describe(joined, 60)}, which does not start with "
                    f"the prompt {prompt!r}: the legacy server's snapshots include the prompt, "
                    "so the full text does, and the first delta is the prompt itself. Did you "
                    "skip the first piece?")
    if len(pieces) > max_tokens + 2:
        raise Wrong(f"asked for max_tokens={max_tokens}, your generator yielded {len(pieces)} "
                    "pieces: pass the **fields on to post_http_request(..., **fields).")


@chapter.exercise("Decoding chunks, done right", hints=[
    "One decoder for the whole stream: codecs.getincrementaldecoder('utf-8')(). It keeps "
    "an incomplete character for the next call.",
    "Create the decoder once, before the loop; `decoder.decode(chunk)` for each chunk gives "
    "that chunk's text; end with `decoder.decode(b'', final=True)`, which raises if the "
    "stream stopped inside a character.",
], function="decode_chunks")
def exercise2(decode_chunks: Any) -> str:
    cases = list(_split_cases())
    for label, chunks in cases:
        _check_split(decode_chunks, label, chunks)
    truncated = [b'{"text": ["Caf', b"\xc3"]  # the stream stops inside a character
    try:
        texts = call(decode_chunks, truncated, doing="decoding a stream cut off inside 'é'")
        texts = [texts] if isinstance(texts, str) else call(list, texts, doing="decoding a "
                                                             "stream cut off inside 'é'")
    except AnswerRaised as raised:
        if isinstance(raised.error, UnicodeDecodeError):
            return (f"{len(cases)} streams cut inside characters (2, 3 and 4 bytes), one byte "
                    "at a time and with empty chunks decode right, one text per chunk, and a "
                    "stream cut off inside a character raises.")
        raise
    raise Wrong(f"a stream that stops inside 'é' ({describe(truncated)}) gave "
                f"{describe(texts, 50)} without an error: end with decoder.decode(b'', "
                "final=True), which raises when bytes are left over.")


TEXTS = ["Caf", "Café", "Café au lait 🌉", "Café au lait 🌉 日本"]


def _split_cases():
    stream = b"".join(json.dumps({"text": [t]}, ensure_ascii=False).encode() + b"\n"
                      for t in TEXTS)
    inside = [i for i in range(1, len(stream)) if stream[i] & 0xC0 == 0x80]  # continuation
    for cut in inside:  # every cut inside a character of 2, 3 and 4 bytes
        yield f"two chunks cut at byte {cut}", [stream[:cut], stream[cut:]]
    yield "one byte per chunk", [stream[i:i + 1] for i in range(len(stream))]
    rng = random.Random(2)
    cuts = sorted(rng.sample(inside, 4))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    yield "chunks with empty ones between", [c for chunk in chunks for c in (chunk, b"")]
    yield "no chunks at all", []


def _check_split(decode_chunks: Any, label: str, chunks: list[bytes]) -> None:
    doing = f"decoding {len(chunks)} chunks ({label})"
    try:
        texts = call(decode_chunks, chunks, doing=doing)
        if isinstance(texts, bytes):
            raise Wrong(f"{doing}: your function returned bytes; expected text (str).")
        texts = [texts] if isinstance(texts, str) else call(list, texts, doing=doing)
    except AnswerRaised as raised:
        if isinstance(raised.error, UnicodeDecodeError):
            at = next((i for i, c in enumerate(chunks) if _cut_inside(c)), 0)
            raise Wrong(f"{doing}, your code raised UnicodeDecodeError: chunk {at + 1} ends "
                        f"inside a character ({describe(chunks[at][-4:])}), and decoding each "
                        "chunk on its own (or with a new decoder for each) fails there. Keep "
                        "one incremental decoder for the whole stream.") from None
        raise
    expected = b"".join(chunks).decode("utf-8")
    joined = "".join(t for t in texts if isinstance(t, str))
    if any(not isinstance(t, str) for t in texts):
        raise Wrong(f"{doing}: expected texts (str), one per chunk; got {describe(texts)}.")
    if "\ufffd" in joined and "\ufffd" not in expected:
        raise Wrong(f"{doing}: your text has '\ufffd' where a chunk boundary cut a character: "
                    "errors='replace' hides the split instead of handling it. An incremental "
                    "decoder keeps the incomplete bytes for the next chunk.")
    if joined != expected:
        lost = len(expected) - len(joined)
        reason = (f" ({lost} character(s) lost where chunks cut them: errors='ignore' drops "
                  "them)" if 0 < lost < 8 else "")
        raise Wrong(f"{doing}: your texts join to {describe(joined, 40)}, expected "
                    f"{describe(expected, 40)}{reason}.")
    if chunks and len(texts) < len(chunks) and len(chunks) > 1:
        raise Wrong(f"{doing}: the text is right, but you returned {len(texts)} text(s) for "
                    f"{len(chunks)} chunks: joining the bytes first waits for the whole stream. "
                    "Decode each chunk as it comes: one text per chunk.")
    decoder, expected_so_far = codecs.getincrementaldecoder("utf-8")(), ""
    for index, chunk in enumerate(chunks):
        expected_so_far += decoder.decode(chunk)
        so_far = "".join(texts[: index + 1])
        if so_far != expected_so_far:
            raise Wrong(f"{doing}: after chunk {index + 1} your texts hold "
                        f"{describe(so_far[-30:])}, expected {describe(expected_so_far[-30:])}: "
                        "each text should hold the characters its chunk completed.")


def _cut_inside(chunk: bytes) -> bool:
    try:
        chunk.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
