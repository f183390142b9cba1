"""vLLM's outputs → the legacy JSON answer: ``{"text": [...]}`` and, opt-in, ``"logprobs"``.

Part of :mod:`helpers.api_server` (chapter 00 runs the server; chapters 01-03 and 09 read
its answers). Pure: it reads only the attributes vLLM's ``RequestOutput`` and
``CompletionOutput`` carry (``outputs``, ``index``, ``text``, ``token_ids``, ``logprobs``,
``cumulative_logprob``; each logprob's ``logprob``, ``rank``, ``decoded_token``), so the
unit tests feed it plain objects of that shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from helpers.api_server.payload import GenerateRequest

#: What a token that may not come gets instead of -inf (JSON has no infinity): the OpenAI
#: server's floor, so that both APIs report the same number.
LOGPROB_FLOOR = -9999.0


class Snapshot:
    """The latest text (and, when asked for, log-probabilities) of every candidate.

    With n > 1 each engine step reports only the candidates that advanced, so the latest
    output of each is kept and all n are sent, in index order, every time. The answer is the
    legacy ``{"text": [prompt + completion, ...]}``; a request with ``"logprobs": k`` also
    gets the extension key ``"logprobs"``: for each candidate its ``cumulative_logprob`` and,
    per generated token, the token, its log-probability and the ``k`` most likely tokens.
    """

    def __init__(self, payload: GenerateRequest, decode: Callable[[int], str]) -> None:
        self.prompt = payload.prompt
        self.top = payload.fields.get("logprobs")
        self.decode = decode  # for tokens the engine left undecoded (beam search's)
        self.outputs: list[Any] = [None] * payload.n

    def update(self, output: Any) -> None:
        """Keep the candidates of one ``RequestOutput``."""
        for candidate in output.outputs:
            self.outputs[candidate.index] = candidate

    def body(self) -> dict[str, Any]:
        """The answer as JSON types."""
        body: dict[str, Any] = {"text": [self.prompt + (o.text if o else "")
                                         for o in self.outputs]}
        if self.top is not None:
            body["logprobs"] = [candidate_logprobs(o, self.top, self.decode)
                                for o in self.outputs]
        return body

    def line(self) -> bytes:
        """The answer as one line of a stream."""
        return (json.dumps(self.body()) + "\n").encode("utf-8")


def candidate_logprobs(output: Any, top: int, decode: Callable[[int], str]
                       ) -> dict[str, Any] | None:
    """One candidate's log-probabilities in JSON types (``None`` before its first token).

    A structured-output constraint gives the tokens it forbids -inf: they are reported at
    :data:`LOGPROB_FLOOR`, as ``/v1/completions`` does.
    """
    if output is None:
        return None

    def entry(token_id: int, logprob: Any) -> dict[str, Any]:
        text = logprob.decoded_token if logprob.decoded_token is not None else decode(token_id)
        return {"token": text, "logprob": max(logprob.logprob, LOGPROB_FLOOR)}

    tokens = []
    for token_id, table in zip(output.token_ids, output.logprobs or [], strict=False):
        ranked = sorted(table.items(), key=lambda item: item[1].rank)[:top]
        chosen = entry(token_id, table[token_id]) if token_id in table else {
            "token": decode(token_id), "logprob": None}
        tokens.append({**chosen, "top_logprobs": [entry(i, lp) for i, lp in ranked]})
    cumulative = output.cumulative_logprob
    return {"cumulative_logprob": None if cumulative is None else max(cumulative, LOGPROB_FLOOR),
            "tokens": tokens}
