"""The learner's label and probability judged against the server's own answer: chapter 09's
exercise 1 (a classifier that cannot go off-script).

Used by :mod:`helpers.checks.ch09`: :func:`label_and_probability` reads the answer (a label of
:data:`LABELS`, a probability); :func:`judge` finds the learner's constrained request among those
:mod:`helpers.checks.watch` recorded and holds the answer against it: its text, and ``exp`` of
the sum of its label tokens' logprobs (:func:`scored_answer`, :func:`label_tokens`), within
:data:`P_TOLERANCE`; :func:`served` reads the server's finished requests (a request sent
otherwise than through the watched clients).
"""

from __future__ import annotations

import json
import math
from typing import Any

from helpers.checks import server
from helpers.checks.framework import NotHere, Wrong, describe
from helpers.checks.values import close, first_mistake, number
from helpers.checks.watch import Sent
from helpers.metrics import metric_value

__all__ = ["LABELS", "P_TOLERANCE", "judge", "label_and_probability", "label_tokens",
           "scored_answer", "served"]

LABELS = ("positive", "negative", "neutral")
#: How far the learner's probability may be from the one the server's logprobs give
#: (rounded to two decimals passes).
P_TOLERANCE = 0.005


def served() -> float | None:
    """The learner's own server's finished requests (None in a workshop room, or unread)."""
    if server.shared("openai"):
        return None
    try:
        return metric_value(server.base_url("openai"), "vllm:request_success_total", timeout=5)
    except (OSError, KeyError, ValueError):
        return None


def label_and_probability(answer: Any, doing: str) -> tuple[str, float]:
    if isinstance(answer, str | bytes | dict) or not hasattr(answer, "__len__") \
            or len(answer) != 2:
        raise Wrong(f"{doing} returned {describe(answer)}; expected two values, "
                    "(label, probability).")
    label, probability = answer
    if not isinstance(label, str):
        raise Wrong(f"{doing} returned the label {describe(label)}; expected the label's text "
                    "(a str).")
    cut = label.strip().lower()
    if cut and cut not in LABELS and any(known.startswith(cut) for known in LABELS):
        raise Wrong(f"{doing} returned the label {describe(label)}, the start of a label: the "
                    "answer was cut off by max_tokens (finish_reason 'length'). Give it room "
                    "for the longest label's tokens (max_tokens=8, say).")
    if label.strip().lower() not in LABELS:
        raise Wrong(f"{doing} returned the label {describe(label)}, which is none of "
                    f"{', '.join(LABELS)}: the constraint did not apply. Put it in "
                    "structured_outputs (extra_body with the openai client): the old "
                    "guided_choice field is ignored without an error since vLLM 0.12.")
    p = number(probability, "the probability, a number between 0 and 1",
               doing=f"{doing} (its probability)")
    if p <= 0:
        raise Wrong(f"{doing} returned {p:.3f} for {label.strip()!r}: that is a "
                    "log-probability (0 or below). Its probability is math.exp(logprob).")
    if p > 1 + 1e-6:
        raise Wrong(f"{doing} returned the probability {p:g}: a probability is "
                    "between 0 and 1. Sum the tokens' logprobs, then math.exp of the sum.")
    return label.strip(), p


def _constraint(body: Any) -> Any:
    if not isinstance(body, dict):
        return None
    outputs = body.get("structured_outputs")
    return outputs.get("choice") if isinstance(outputs, dict) else None


def scored_answer(sent: Sent) -> tuple[str, list[str], list[float]] | None:
    """(text, tokens, logprobs) of the first choice of the server's answer to ``sent``
    (completions or chat, whole or streamed); None when the answer holds no logprobs."""
    answers = [sent.answer] if sent.answer is not None else sent.events()
    text, tokens, logprobs = "", [], []
    for answer in answers:
        choices = answer.get("choices") if isinstance(answer, dict) else None
        if not choices:
            continue
        choice = next((c for c in choices if c.get("index", 0) == 0), choices[0])
        if "message" in choice or "delta" in choice:  # chat
            message = choice.get("message") or choice.get("delta") or {}
            text += message.get("content") or ""
            entries = (choice.get("logprobs") or {}).get("content") or []
            tokens += [e.get("token", "") for e in entries]
            logprobs += [e.get("logprob") for e in entries]
        else:
            text += choice.get("text") or ""
            found = choice.get("logprobs") or {}
            tokens += found.get("tokens") or []
            logprobs += found.get("token_logprobs") or []
    if not tokens or any(not isinstance(v, int | float) for v in logprobs):
        return None
    return text, tokens, logprobs


def label_tokens(text: str, tokens: list[str]) -> int:
    """How many of the first tokens spell ``text`` (the rest are end tokens)."""
    spelled = ""
    for count, token in enumerate(tokens, 1):
        spelled += token
        if len(spelled) >= len(text):
            return count
    return len(tokens)


def judge(review: str, label: str, p: float, sent: list[Sent], doing: str,
           counted: float | None) -> tuple[str, float]:
    asked = [s for s in sent if s.path.endswith("/completions")]
    if not asked:
        after = served() if counted is not None else None
        if after is not None and after > counted:
            raise NotHere(f"{doing}, your server finished a request, but not through the "
                          "openai client, requests or httpx, which this check watches: it "
                          "cannot see the logprobs your answer came from. Ours uses the "
                          "openai client: exercise1.solution().")
        raise Wrong(f"{doing} returned ({label!r}, {p:.3g}) without sending a request to your "
                    "server's /v1/completions: a fixed answer or a rule of your own is not "
                    "the model's. Send the review with the choice constraint and logprobs, and "
                    "read both from the answer.")
    about = [s for s in asked if review in json.dumps(s.body, ensure_ascii=False)]
    if not about:
        body = asked[-1].body if isinstance(asked[-1].body, dict) else {}
        sent_text = describe(body.get("prompt", body.get("messages")))
        raise Wrong(f"{doing}: your request did not contain the review (its prompt: "
                    f"{sent_text}). Put the review your function is given in the prompt.")
    constrained = [s for s in about if _constraint(s.body)]
    if not constrained:
        guided = any(isinstance(s.body, dict) and "guided_choice" in s.body for s in about)
        raise Wrong(f"{doing}: your request had no choice constraint" + (
            " (guided_choice, which vLLM has ignored without an error since 0.12)"
            if guided else "") + ": send structured_outputs={'choice': [...]} (in extra_body "
            "with the openai client).")
    request = constrained[-1]
    if request.status != 200:
        raise Wrong(f"{doing}: your server answered {request.status} to your request: "
                    f"{describe(request.answer, 120)}.")
    scored = scored_answer(request)
    if scored is None:
        raise Wrong(f"{doing}: your request did not ask for logprobs, so the answer has none "
                    "to give a probability: add logprobs=1 (logprobs=True on chat).")
    text, tokens, logprobs = scored
    if label.lower() != text.strip().lower():
        raise Wrong(f"{doing} returned the label {label!r}, but your server's answer to your "
                    f"request was {text!r}: return the text of the answer, stripped.")
    n = label_tokens(text, tokens)
    right = [math.exp(sum(logprobs[:n])), math.exp(sum(logprobs))]  # without/with end tokens
    if any(close(p, q, abs=P_TOLERANCE) for q in right):
        return label, p
    first = math.exp(logprobs[0])
    first_mistake([
        (lambda: n > 1 and close(p, first, abs=P_TOLERANCE),
         f"{doing} returned p={p:.3f}, the probability of the label's first token only: "
         f"{text!r} is {n} tokens ({tokens[:n]}), and its probability is the product of theirs, "
         f"exp of the sum of their logprobs: {right[0]:.3f}."),
        (lambda: close(p, 1.0, abs=1e-9),
         f"{doing} returned p=1.0 for {label!r}; your server's logprobs for it give "
         f"{right[0]:.3f}. Under the constraint the label is certain to be one of three, not "
         "certain to be this one: read the probability from the answer's logprobs."),
    ])
    raise Wrong(f"{doing} returned p={p:.4g} for {label!r}; the logprobs of your server's "
                f"answer to your request ({dict(zip(tokens, logprobs, strict=False))}) give "
                f"exp(sum) = {right[0]:.4f} (the check allows ±{P_TOLERANCE}).")
