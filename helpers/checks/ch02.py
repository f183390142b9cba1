"""The checkers of chapter 02's exercises (streaming). See :mod:`helpers.checks.framework`.

Exercise 1 calls the learner's generator with the check's own prompts and budget (prompts and
a ``max_tokens`` the notebook never uses), reads its pieces under a time limit, and compares
the joined pieces with what the learner's legacy server answers to the same request, asked by
the check itself (:mod:`helpers.checks.server`): a generator that yields fixed pieces, or
never asks the server, fails. Exercise 2 feeds the learner's decoder byte streams cut at every
point inside a multi-byte character, one byte at a time, and with empty chunks (streams the
notebook never shows), and a stream cut off inside a character.
"""

from __future__ import annotations

import codecs
import json
import random
from collections.abc import Iterable
from typing import Any

from helpers.checks import server
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe
from helpers.settings import DEFAULT_PROMPT

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

chapter = Chapter("02", "02_streaming.ipynb")
progress = chapter.progress

#: The check's own prompts for exercise 1: the notebook streams only DEFAULT_PROMPT and others
#: of its own, never these.
PROMPTS = ("The three primary colours are", "A good name for a black cat is",
           "The capital of France is", "My favourite season is")
#: The check's own budgets (the notebook streams 12, 16 and 64 tokens).
BUDGETS = (5, 6, 7)


@chapter.exercise("Deltas as a generator", hints=[
    "Create one SnapshotDeltas inside the function, send the request with stream=True, and "
    "loop over get_streaming_response(response).",
    "In the loop, `yield deltas.update(snapshot)[0]`: update() returns one delta per "
    "candidate, and a single-candidate stream has one. Pass **fields on to "
    "post_http_request(prompt, api_url, stream=True, **fields).",
], function="stream_to_deltas", limit=240)
def exercise1(stream_to_deltas: Any) -> str:
    rng = random.Random()
    first, second = rng.sample(PROMPTS, 2)
    max_tokens = rng.choice(BUDGETS)
    fields = {"max_tokens": max_tokens, "ignore_eos": True, "temperature": 0}
    pieces = _pieces(stream_to_deltas, first, **fields)
    _check_pieces(pieces, first, max_tokens, others=(DEFAULT_PROMPT,))
    try:
        more = _pieces(stream_to_deltas, second, **fields)
    except AnswerRaised as raised:
        if "not cumulative" in str(raised.error):
            raise Wrong("your first call worked, your second one raised "
                        f"{type(raised.error).__name__} (\"not cumulative\"): one SnapshotDeltas "
                        "is shared by both streams. Create a new one inside the function, for "
                        "each stream.") from None
        raise
    _check_pieces(more, second, max_tokens, others=(first, DEFAULT_PROMPT))
    for prompt, got in ((first, pieces), (second, more)):
        _compare_with_server(prompt, got, fields)
    compared = ("its first generated token the same as your server's answer (the room's "
                "shared server batches everyone's requests: greedy text may vary a little)"
                if server.shared("legacy") else
                "the same text your server answers to the same request")
    return (f"for the check's own prompts {first!r} and {second!r} ({max_tokens} tokens), "
            f"{len(pieces)} and {len(more)} pieces, the first starting with the prompt, then "
            f"only new text; joined, {compared}: {describe(''.join(pieces), 60)}.")


def _compare_with_server(prompt: str, pieces: list, fields: dict) -> None:
    """The joined pieces against the check's own (not streamed) request for the same text."""
    joined = "".join(pieces)
    theirs = []
    for _ in range(2):  # once more if they differ: a batch on the server may flip a near-tie
        body = server.ask_ok("legacy", "/generate", {"prompt": prompt, **fields, "logprobs": 1})
        text, tokens = body["text"][0], [e["token"] for e in body["logprobs"][0]["tokens"]]
        theirs.append(text)
        if server.shared("legacy"):
            if tokens and joined.startswith(prompt + tokens[0]):
                return
        elif joined == text:
            return
    what = ("starts with its first generated token, " + repr(prompt + tokens[0])
            if server.shared("legacy") else "is the same")
    raise Wrong(f"for the check's own prompt {prompt!r} with {_shown(fields)}, your pieces join "
                f"to {describe(joined, 70)}; your server answers the same request (asked by "
                f"this check, not streamed) with {describe(theirs[-1], 70)}. Expected a text "
                f"that {what}: does your generator ask the server, with the prompt and "
                "**fields it is given (temperature=0 too), and yield what it streams?")


def _shown(fields: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in fields.items())


def _pieces(function: Any, prompt: str, **fields: Any) -> list:
    doing = f"calling stream_to_deltas({prompt!r}, {_shown(fields)})"
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
    if not hasattr(result, "__next__"):
        raise Wrong(f"{doing} returned {describe(result)}, not a generator: use `yield`.")
    return call(list, result, doing=f"reading the pieces your generator yields ({doing})")


def _check_pieces(pieces: list, prompt: str, max_tokens: int, others: tuple = ()) -> None:
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
    joined = "".join(pieces)
    fixed = next((other for other in others if other != prompt and joined.startswith(other)),
                 None)
    if fixed is not None:
        raise Wrong(f"called with the prompt {prompt!r}, your generator streamed {fixed!r}: "
                    "send the prompt argument, not a fixed prompt.")
    if len(pieces) == 1:
        raise Wrong(f"your generator yielded a single piece, {describe(pieces[0], 50)}: that is "
                    "the whole answer at once. Did you pass stream=True to post_http_request?")
    if sum(piece.startswith(prompt) for piece in pieces) > 1:
        raise Wrong(f"{sum(p.startswith(prompt) for p in pieces)} of your {len(pieces)} pieces "
                    f"start with the prompt: you yield whole snapshots (cumulative), not what "
                    "is new. Yield deltas.update(snapshot)[0].")
    if not joined.startswith(prompt):
        raise Wrong(f"your pieces join to {describe(joined, 60)}, which does not start with "
                    f"the prompt {prompt!r}: the legacy server's snapshots include the prompt, "
                    "so the full text does, and the first delta holds the prompt. Did you "
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
        doing = "decoding a stream cut off inside 'é'"
        texts = _texts(call(decode_chunks, truncated, doing=doing), doing)
    except AnswerRaised as raised:
        if isinstance(raised.error, UnicodeDecodeError):
            return (f"{len(cases)} streams cut inside characters (2, 3 and 4 bytes), one byte "
                    "at a time and with empty chunks (streams of the check's own) decode right, "
                    "each text holding the characters its chunk completed, and a "
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
        texts = _texts(call(decode_chunks, chunks, doing=doing), doing)
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
    decoder = codecs.getincrementaldecoder("utf-8")()
    per_chunk = [decoder.decode(chunk) for chunk in chunks]
    if [t for t in texts if t] == [t for t in per_chunk if t] and len(texts) < len(chunks):
        return  # one text per chunk that completed characters, empty ones left out: fine
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


def _texts(result: Any, doing: str) -> list:
    """The learner's texts as a list (a generator is read under the time limit)."""
    if result is None:
        raise Wrong(f"{doing}, your function returned None: return the texts (a list), or "
                    "`yield` each one (a generator); did it print them instead?")
    if isinstance(result, bytes | bytearray):
        raise Wrong(f"{doing}: your function returned bytes; expected text (str).")
    if isinstance(result, str):
        return [result]
    if not isinstance(result, Iterable) or isinstance(result, dict):
        raise Wrong(f"{doing}, your function returned {describe(result)}; expected texts, one "
                    "per chunk (a list, or a generator that yields them).")
    return call(list, result, doing=f"{doing}, reading the texts your function gives")


def _cut_inside(chunk: bytes) -> bool:
    try:
        chunk.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True
