"""The checkers of chapter 09's exercises (structured output and logprobs). See
:mod:`helpers.checks.framework`.

Exercise 1 calls the learner's classifier on reviews of the check's own and watches the
requests it sends (through the ``openai`` client, ``requests`` or ``httpx``): the label and
the probability it returns must be the ones the server's own answer to that constrained request
holds (its text, and ``exp`` of the sum of its tokens' logprobs). Exercise 2 feeds the learner's
ranking function candidates made up so that the total, the mean per token and the mean per
character each give another order, then six real candidates that the check asks the learner's
server for, with a prompt and a seed of its own. Exercise 3 tries the learner's grammar on dates
of the check's own (with xgrammar, vLLM's grammar library, where it is installed) and sends it to
the server with prompts of the check's own, sampling at a high temperature, so that a grammar
that allows more than dates, or only one date, shows it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from helpers.checks import server
from helpers.checks.framework import AnswerRaised, Chapter, NotHere, Wrong, call, describe
from helpers.checks.values import close, first_mistake, number
from helpers.checks.watch import Sent, watching
from helpers.metrics import metric_value

__all__ = ["chapter", "exercise1", "exercise2", "exercise3", "progress"]

chapter = Chapter("09", "09_structured_output_and_logprobs.ipynb")
progress = chapter.progress

LABELS = ("positive", "negative", "neutral")
#: The check's own reviews (the notebook classifies three others).
REVIEWS = ["Best pizza in town, we will come back.", "The screen cracked after two days.",
           "The chair has four legs and is brown.", "Worst customer service I have ever had."]
#: How far the learner's probability may be from the one the server's logprobs give
#: (rounded to two decimals passes).
P_TOLERANCE = 0.005


# Exercise 1 ----------------------------------------------------------------------------------

@chapter.exercise("A classifier that cannot go off-script", hints=[
    "Send the review with structured_outputs={'choice': LABELS} and logprobs=1 on "
    "/v1/completions, temperature=0. With the openai client, structured_outputs is not one "
    "of its arguments: it goes in extra_body.",
    "choice = client.completions.create(..., logprobs=1, extra_body={'structured_outputs': "
    "{'choice': [' positive', ' negative', ' neutral']}}).choices[0]; the label's logprob is "
    "the sum of choice.logprobs.token_logprobs (leave out the end token '<|im_end|>'), and "
    "its probability is math.exp of that. Return (choice.text.strip(), probability).",
], function="classify")
def exercise1(classify: Any) -> str:
    seen = []
    for review in REVIEWS:
        doing = f"calling classify({review!r})"
        counted = _served()
        with watching() as sent:
            try:
                answer = call(classify, review, doing=doing, limit=60)
            except AnswerRaised as raised:
                _known_raise(raised)
                raise
        label, probability = _label_and_probability(answer, doing)
        seen.append(_judge(review, label, probability, sent, doing, counted))
    shown = ", ".join(f"{label} {p:.2f}" for label, p in seen)
    return (f"on {len(REVIEWS)} reviews of the check's own, each label and probability is the "
            f"one your server's answer to your constrained request holds ({shown}; "
            f"probability within {P_TOLERANCE} of exp(sum of the label's token logprobs)).")


def _served() -> float | None:
    """The learner's own server's finished requests (None in a workshop room, or unread)."""
    if server.shared("openai"):
        return None
    try:
        return metric_value(server.base_url("openai"), "vllm:request_success_total", timeout=5)
    except (OSError, KeyError, ValueError):
        return None


def _known_raise(raised: AnswerRaised) -> None:
    text = str(raised.error)
    if isinstance(raised.error, TypeError) and "structured_outputs" in text:
        raise Wrong(f"{raised.doing}, your code raised TypeError ({text}): structured_outputs "
                    "is vLLM's field, not an argument of the openai client. Pass it in "
                    "extra_body={'structured_outputs': {...}}.") from None
    if ("NoneType" in text and isinstance(raised.error, TypeError | AttributeError)
            and re.search(r"token_logprobs|tokens|top_logprobs|content|subscriptable|iterable",
                          text)):
        raise Wrong(f"{raised.doing}, your code raised {type(raised.error).__name__} ({text}): "
                    "the answer has no logprobs (None) unless you ask for them. Add "
                    "logprobs=1 to the request.") from None


def _label_and_probability(answer: Any, doing: str) -> tuple[str, float]:
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


def _scored(sent: Sent) -> tuple[str, list[str], list[float]] | None:
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


def _label_tokens(text: str, tokens: list[str]) -> int:
    """How many of the first tokens spell ``text`` (the rest are end tokens)."""
    spelled = ""
    for count, token in enumerate(tokens, 1):
        spelled += token
        if len(spelled) >= len(text):
            return count
    return len(tokens)


def _judge(review: str, label: str, p: float, sent: list[Sent], doing: str,
           counted: float | None) -> tuple[str, float]:
    asked = [s for s in sent if s.path.endswith("/completions")]
    if not asked:
        after = _served() if counted is not None else None
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
    scored = _scored(request)
    if scored is None:
        raise Wrong(f"{doing}: your request did not ask for logprobs, so the answer has none "
                    "to give a probability: add logprobs=1 (logprobs=True on chat).")
    text, tokens, logprobs = scored
    if label.lower() != text.strip().lower():
        raise Wrong(f"{doing} returned the label {label!r}, but your server's answer to your "
                    f"request was {text!r}: return the text of the answer, stripped.")
    n = _label_tokens(text, tokens)
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


# Exercise 2 ----------------------------------------------------------------------------------

def _candidate(text: str, logprobs: list[float]) -> dict:
    return {"index": 0, "text": text, "finish_reason": "stop",
            "logprobs": {"tokens": ["x"] * len(logprobs), "token_logprobs": logprobs}}


def made_up_candidates() -> list[dict]:
    """Four candidates whose orders by total, by mean per token, by mean per character and
    by mean upside down all differ."""
    made = [_candidate(" Paris, for sure", [-2.0, -2.0]),  # short: the best total
            _candidate(" a city of light and of many bridges", [-1.5] * 5),
            _candidate(" an old port on a bay", [-0.8] * 10),
            _candidate(" x", [-0.1])]
    for index, candidate in enumerate(made):
        candidate["index"] = index
    return [made[i] for i in (2, 0, 3, 1)]  # in none of the orders


def _mean(candidate: dict) -> float:
    values = candidate["logprobs"]["token_logprobs"]
    return sum(values) / len(values)


def _orders(candidates: list[dict]) -> dict[str, list[int]]:
    def order(key, reverse=True):
        return [c["index"] for c in sorted(candidates, key=key, reverse=reverse)]

    def total(c):
        return sum(c["logprobs"]["token_logprobs"])

    return {"mean": order(_mean), "total": order(total),
            "characters": order(lambda c: total(c) / max(len(c["text"]), 1)),
            "upside down": order(_mean, reverse=False)}


#: The check's own request for real candidates (the notebook's prompt and seed are others).
RANK_REQUEST = {"prompt": "The best thing about living by the sea is", "max_tokens": 16,
                "n": 6, "temperature": 0.9, "seed": 17, "stop": ["."], "logprobs": 1}


@chapter.exercise("Rank by the mean, not the total", hints=[
    "Each choice has choice['logprobs']['token_logprobs'], one value per token. Its mean is "
    "their sum divided by how many there are.",
    "return sorted(choices, key=lambda c: sum(c['logprobs']['token_logprobs']) / "
    "len(c['logprobs']['token_logprobs']), reverse=True): logprobs are at most 0, so the "
    "best is the highest, the one closest to 0.",
], function="rank_by_mean")
def exercise2(rank_by_mean: Any) -> str:
    made = made_up_candidates()
    _check_ranking(rank_by_mean, made, "four made-up candidates")
    real = server.ask_ok("openai", "/v1/completions", RANK_REQUEST)
    choices = [c for c in real["choices"] if c["logprobs"]["token_logprobs"]]
    _check_ranking(rank_by_mean, choices, f"{len(choices)} candidates from your server")
    shortest = min(choices, key=lambda c: len(c["logprobs"]["token_logprobs"]))
    by_total = max(choices, key=lambda c: sum(c["logprobs"]["token_logprobs"]))
    return ("made-up candidates and your server's six for the check's own prompt "
            f"({RANK_REQUEST['prompt']!r}) ranked by mean logprob per token, best first (the "
            "total would put the shortest first in the made-up ones; in your server's six, "
            f"shortest first by total: {by_total is shortest}).")


def _check_ranking(rank_by_mean: Any, candidates: list[dict], label: str) -> None:
    doing = f"calling rank_by_mean on {label}"
    given = [json.loads(json.dumps(c)) for c in candidates]  # copies: the learner may sort them
    ranked = call(rank_by_mean, given, doing=doing, limit=30)
    if ranked is None:
        sorted_in_place = [c.get("index") for c in given] == _orders(candidates)["mean"]
        raise Wrong(f"{doing} returned None" + (
            ": list.sort() sorts the list in place and returns None. Return the list, or "
            "use sorted(choices, key=...)." if sorted_in_place else
            ": return the choices, best first."))
    if not isinstance(ranked, list):
        if isinstance(ranked, str | bytes | Mapping) or not isinstance(ranked, Iterable):
            raise Wrong(f"{doing} returned {describe(ranked)}; expected the "
                        f"{len(candidates)} choices themselves (the dicts), best first.")
        ranked = call(list, ranked, doing=doing, limit=30)  # a tuple, a generator...
    if len(ranked) != len(candidates) or not all(isinstance(c, dict) for c in ranked):
        raise Wrong(f"{doing} returned {describe(ranked)}; expected the {len(candidates)} "
                    "choices themselves (the dicts), best first.")
    try:
        indexes = [c["index"] for c in ranked]
    except (KeyError, TypeError):
        raise Wrong(f"{doing} returned dicts that are not the choices (no 'index' or "
                    "'logprobs'): return the choices themselves, sorted, not new rows."
                    ) from None
    if sorted(indexes) != sorted(c["index"] for c in candidates):
        raise Wrong(f"{doing} returned the choices {indexes} (by their 'index'); expected each "
                    f"of {sorted(c['index'] for c in candidates)} once.")
    given_by_index = {c["index"]: c for c in candidates}
    if any(c.get("logprobs") != given_by_index[c["index"]]["logprobs"] for c in ranked):
        raise Wrong(f"{doing} returned dicts that are not the choices it was given (their "
                    "logprobs differ): return the choices themselves, sorted, not new rows.")
    orders = _orders(candidates)
    means = [_mean(given_by_index[i]) for i in indexes]
    if all(a >= b - 1e-9 for a, b in zip(means, means[1:], strict=False)):
        return  # best first by mean (equal means in any order)
    first_mistake([
        (lambda: indexes == orders["total"],
         f"{doing}: your order is by the total log-probability, which favours short "
         "candidates (every token adds a negative number). Divide each total by its number "
         "of tokens."),
        (lambda: indexes == orders["upside down"],
         f"{doing}: your order is by mean, but worst first. Logprobs are at most 0: the best "
         "is the highest, closest to 0 (reverse=True)."),
        (lambda: indexes == orders["characters"],
         f"{doing}: your order divides by the text's length in characters. The mean is per "
         "token: divide by len(choice['logprobs']['token_logprobs'])."),
    ])
    raise Wrong(f"{doing}: your order is choices {indexes} (by their 'index'); by mean "
                f"log-probability per token, best first, it is {orders['mean']}.")


# Exercise 3 ----------------------------------------------------------------------------------

DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
#: The check's own questions (the notebook asks about the first moon landing).
DATE_PROMPTS = ["When did the Berlin Wall fall? Date:", "On which day was your last holiday? "
                "Date:"]
#: Texts a grammar for dates must allow, and texts it must not (the check's own).
DATES_IN = ["1989-11-09", "2024-02-29", "2031-12-31", "1066-10-14"]
DATES_OUT = {"2024-13-01": "month 13", "2024-00-10": "month 00", "2024-05-32": "day 32",
             "2024-05-00": "day 00", "2024-5-17": "a one-digit month",
             "2024-05-17 was a Friday": "text after the date", "20240517": "no dashes"}


def _accepts(grammar: str) -> Any:
    """A function telling whether ``grammar`` allows a text, with xgrammar (vLLM's grammar
    library), or None where it is not installed or cannot read the grammar."""
    try:
        import xgrammar
        from xgrammar.testing import _is_grammar_accept_string
    except ImportError:
        return None
    try:
        compiled = xgrammar.Grammar.from_ebnf(grammar)
    except Exception:  # noqa: BLE001 (its parser's errors; the server's 400 says more)
        return None
    return lambda text: _is_grammar_accept_string(compiled, text)


@chapter.exercise("A grammar for dates", hints=[
    "A grammar is a set of rules, the first one named root: root ::= year \"-\" month \"-\" "
    "day, then a rule for each part, with quoted literals and character classes like [0-9].",
    "year ::= [12] [0-9] [0-9] [0-9]; month ::= \"0\" [1-9] | \"1\" [0-2]; day ::= \"0\" [1-9] "
    "| [12] [0-9] | \"3\" [01]. A fixed number of digits, so that the text ends with the date.",
], limit=240)
def exercise3(grammar: Any) -> str:
    if not isinstance(grammar, str):
        raise Wrong(f"expected your grammar as a string (root ::= ...); got {describe(grammar)}.")
    texts = []
    for seed, prompt in enumerate(DATE_PROMPTS):
        body = {"prompt": prompt, "max_tokens": 16, "n": 6, "temperature": 2.0,
                "seed": 40 + seed, "structured_outputs": {"grammar": grammar}}
        answer = server.ask("openai", "/v1/completions", body)
        if answer.status != 200:
            _refused(grammar, answer)
        for choice in answer.body["choices"]:
            texts.append(_judge_date(choice["text"], choice["finish_reason"]))
    accepts = _accepts(grammar)
    tried = ""
    if accepts is not None:
        missing = [date for date in DATES_IN if not accepts(date)]
        if missing:
            raise Wrong(f"your grammar does not allow {missing[0]}, a date like any other: "
                        "it has to allow every date from 01 to 12 and 01 to 31, not a few "
                        f"(its samples: {', '.join(sorted(set(texts)))}).")
        allowed = [(text, why) for text, why in DATES_OUT.items() if accepts(text)]
        if allowed:
            text, why = allowed[0]
            raise Wrong(f"your grammar allows {text!r} ({why}): allow only a year, a month "
                        "01 to 12 and a day 01 to 31, two digits each, with dashes, and "
                        "nothing after.")
        tried = (f"; it allows the check's {len(DATES_IN)} dates and refuses its "
                 f"{len(DATES_OUT)} non-dates")
    return (f"{len(texts)} answers sampled at temperature 2 under your grammar, for the "
            f"check's own prompts, all dates with a month and a day in range: "
            f"{', '.join(texts)}{tried}.")


def _refused(grammar: str, answer: server.Answer) -> None:
    message = answer.error.splitlines()[0][:160] if answer.error else answer.text[:160]
    first_mistake([
        (lambda: "::=" not in grammar,
         f"your server refused the grammar ({answer.status}: {message}). It looks like a "
         "regular expression: a grammar is written as rules, root ::= ..., with [0-9] for a "
         "digit (a regex would go in {'regex': ...})."),
        (lambda: not re.search(r"^\s*root\s*::=", grammar, re.M),
         f"your server refused the grammar ({answer.status}: {message}): the grammar needs "
         "a rule named root, where the text starts."),
    ])
    raise Wrong(f"your server refused the grammar ({answer.status}: {message}).")


def _judge_date(text: str, finish_reason: str) -> str:
    if finish_reason == "length":
        raise Wrong(f"a sampled answer ran to max_tokens: {text!r}. Your grammar lets the "
                    "text go on (a `+` or a `*`?): give each part a fixed number of digits, so "
                    "that it ends after the day.")
    found = DATE_RE.fullmatch(text)
    if not found:
        raise Wrong(f"your grammar allowed {text!r}, which is not a date like 2024-05-17 "
                    "(four digits, two, two, with dashes).")
    month, day = int(found.group(2)), int(found.group(3))
    if not 1 <= month <= 12:
        raise Wrong(f"your grammar allowed {text!r}: month {month:02d}. Allow only 01 to "
                    "12: month ::= \"0\" [1-9] | \"1\" [0-2].")
    if not 1 <= day <= 31:
        raise Wrong(f"your grammar allowed {text!r}: day {day:02d}. Allow only 01 to 31: "
                    "day ::= \"0\" [1-9] | [12] [0-9] | \"3\" [01].")
    return text
