"""The checkers of chapter 09's exercises (structured output and logprobs). See
:mod:`helpers.checks.framework`.

Exercise 1 calls the learner's classifier (which talks to the learner's server through the
chapter's ``client``) on reviews of its own. Exercise 2 feeds the learner's ranking function
candidates made up so that the total, the mean per token and the mean per character each give
another order, then six real candidates from the learner's OpenAI-compatible server (the
room's, with its key, in a workshop). Exercise 3 sends the learner's grammar to that server and
samples at a high temperature, so that a grammar that allows more than dates shows it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from helpers import settings
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe

__all__ = ["chapter", "exercise1", "exercise2", "exercise3", "progress"]

chapter = Chapter("09", "09_structured_output_and_logprobs.ipynb")
LABELS = ("positive", "negative", "neutral")
REVIEWS = ["Best pizza in town, we will come back.", "The screen cracked after two days.",
           "The chair has four legs and is brown."]


def v1_url() -> str:
    """The learner's OpenAI-compatible server: the room's in a workshop, else the local one."""
    from helpers.servers import KINDS

    return KINDS["openai"].url()


def v1_post(path: str, body: dict) -> dict:
    """POST to the learner's server; a server that does not answer is said plainly."""
    import requests

    url = v1_url() + path
    try:
        answer = requests.post(url, headers=settings.auth_headers(), timeout=300,
                               json={"model": settings.SERVED_MODEL_NAME, **body})
    except requests.ConnectionError:
        raise Wrong(f"this check sends a request to your server, {url}, which did not answer: "
                    "run the chapter's first cells (start_server), then this one "
                    "again.") from None
    if answer.status_code == 400:
        return {"error": answer.json().get("error", {}).get("message", answer.text)}
    answer.raise_for_status()
    return answer.json()


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
        try:
            answer = call(classify, review, doing=doing)
        except AnswerRaised as raised:
            _known_raise(raised)
            raise
        seen.append(_label_and_probability(answer, doing))
    shown = ", ".join(f"{label} {p:.2f}" for label, p in seen)
    return (f"three reviews, three labels among {'/'.join(LABELS)}, each with its probability "
            f"under the constraint ({shown}).")


def _known_raise(raised: AnswerRaised) -> None:
    text = str(raised.error)
    if isinstance(raised.error, TypeError) and "structured_outputs" in text:
        raise Wrong(f"{raised.doing}, your code raised TypeError ({text}): structured_outputs "
                    "is vLLM's field, not an argument of the openai client. Pass it in "
                    "extra_body={'structured_outputs': {...}}.") from None
    if ("NoneType" in text and isinstance(raised.error, TypeError | AttributeError)
            and re.search(r"token_logprobs|tokens|top_logprobs|subscriptable|iterable", text)):
        raise Wrong(f"{raised.doing}, your code raised {type(raised.error).__name__} ({text}): "
                    "the answer has no logprobs (None) unless you ask for them. Add "
                    "logprobs=1 to the request.") from None


def _label_and_probability(answer: Any, doing: str) -> tuple[str, float]:
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        raise Wrong(f"{doing} returned {describe(answer)}; expected two values, "
                    "(label, probability).")
    label, probability = answer
    if not isinstance(label, str):
        raise Wrong(f"{doing} returned the label {describe(label)}; expected the label's text "
                    "(a str).")
    if label.strip() not in LABELS:
        raise Wrong(f"{doing} returned the label {describe(label)}, which is none of "
                    f"{', '.join(LABELS)}: the constraint did not apply. Put it in "
                    "structured_outputs (extra_body with the openai client): the old "
                    "guided_choice field is ignored without an error since vLLM 0.12.")
    if isinstance(probability, bool) or not isinstance(probability, int | float):
        raise Wrong(f"{doing} returned the probability {describe(probability)}; expected a "
                    "number between 0 and 1.")
    if probability <= 0:
        raise Wrong(f"{doing} returned {probability:.3f} for {label.strip()!r}: that is a "
                    "log-probability (0 or below). Its probability is math.exp(logprob).")
    if probability > 1 + 1e-6 or math.isnan(probability):
        raise Wrong(f"{doing} returned the probability {probability}: a probability is "
                    "between 0 and 1. Sum the tokens' logprobs, then math.exp of the sum.")
    return label.strip(), float(probability)


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
    real = v1_post("/completions", {"prompt": settings.DEFAULT_PROMPT, "max_tokens": 16, "n": 6,
                                  "temperature": 0.9, "seed": 3, "stop": ["."], "logprobs": 1})
    if "error" in real:
        raise RuntimeError(f"the server refused the exercise's request: {real['error']}")
    choices = real["choices"]
    _check_ranking(rank_by_mean, choices, "six candidates from your server")
    shortest = min(choices, key=lambda c: len(c["logprobs"]["token_logprobs"]))
    by_total = max(choices, key=lambda c: sum(c["logprobs"]["token_logprobs"]))
    return ("made-up and real candidates ranked by mean logprob per token, best first (the "
            "total would put the shortest first in the made-up ones; in your server's six, "
            f"shortest first by total: {by_total is shortest}).")


def _check_ranking(rank_by_mean: Any, candidates: list[dict], label: str) -> None:
    doing = f"calling rank_by_mean on {label}"
    given = [dict(c) for c in candidates]
    ranked = call(rank_by_mean, given, doing=doing)
    if ranked is None:
        sorted_in_place = [c.get("index") for c in given] == _orders(candidates)["mean"]
        raise Wrong(f"{doing} returned None" + (
            ": list.sort() sorts the list in place and returns None. Return the list, or "
            "use sorted(choices, key=...)." if sorted_in_place else
            ": return the choices, best first."))
    ranked = call(list, ranked, doing=doing)
    if len(ranked) != len(candidates) or not all(isinstance(c, dict) for c in ranked):
        raise Wrong(f"{doing} returned {describe(ranked)}; expected the {len(candidates)} "
                    "choices themselves (the dicts), best first.")
    try:
        indexes = [c["index"] for c in ranked]
    except KeyError:
        raise Wrong(f"{doing} returned dicts without the choices' 'index': return the choices "
                    "themselves, sorted, not new rows.") from None
    orders = _orders(candidates)
    if indexes == orders["mean"] or [round(_mean(c), 9) for c in ranked] == sorted(
            (round(_mean(c), 9) for c in ranked), reverse=True):
        return
    if indexes == orders["total"]:
        raise Wrong(f"{doing}: your order is by the total log-probability, which favours "
                    "short candidates (every token adds a negative number). Divide each total "
                    "by its number of tokens.")
    if indexes == orders["upside down"]:
        raise Wrong(f"{doing}: your order is by mean, but worst first. Logprobs are at most 0: "
                    "the best is the highest, closest to 0 (reverse=True).")
    if indexes == orders["characters"]:
        raise Wrong(f"{doing}: your order divides by the text's length in characters. The mean "
                    "is per token: divide by len(choice['logprobs']['token_logprobs']).")
    raise Wrong(f"{doing}: your order is choices {indexes} (by their 'index'); by mean "
                f"log-probability per token, best first, it is {orders['mean']}.")


DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
DATE_PROMPT = "When did the first moon landing happen? Date:"


@chapter.exercise("A grammar for dates", hints=[
    "A grammar is a set of rules, the first one named root: root ::= year \"-\" month \"-\" "
    "day, then a rule for each part, with quoted literals and character classes like [0-9].",
    "year ::= [12] [0-9] [0-9] [0-9]; month ::= \"0\" [1-9] | \"1\" [0-2]; day ::= \"0\" [1-9] "
    "| [12] [0-9] | \"3\" [01]. A fixed number of digits, so that the text ends with the date.",
])
def exercise3(grammar: Any) -> str:
    if not isinstance(grammar, str):
        raise Wrong(f"expected your grammar as a string (root ::= ...); got {describe(grammar)}.")
    body = {"prompt": DATE_PROMPT, "max_tokens": 16, "structured_outputs": {"grammar": grammar}}
    answer = v1_post("/completions", {**body, "n": 6, "temperature": 2.0, "seed": 0})
    if "error" in answer:
        message = answer["error"].splitlines()[0][:160]
        if "::=" not in grammar:
            raise Wrong(f"your server refused the grammar (400: {message}). It looks like a "
                        "regular expression: a grammar is written as rules, root ::= ..., with "
                        "[0-9] for a digit (a regex would go in {'regex': ...}).")
        if not re.search(r"^\s*root\s*::=", grammar, re.M):
            raise Wrong(f"your server refused the grammar (400: {message}): the grammar needs "
                        "a rule named root, where the text starts.")
        raise Wrong(f"your server refused the grammar (400: {message}).")
    texts = []
    for choice in answer["choices"]:
        text = choice["text"]
        if choice["finish_reason"] == "length":
            raise Wrong(f"a sampled answer ran to max_tokens: {text!r}. Your grammar lets the "
                        "text go on (a `+` or a `*`?): give each part a fixed number of "
                        "digits, so that it ends after the day.")
        found = DATE_RE.fullmatch(text)
        if not found:
            raise Wrong(f"your grammar allowed {text!r}, which is not a date like 2024-05-17 "
                        "(four digits, two, two, with dashes).")
        year, month, day = (int(part) for part in found.groups())
        if not 1 <= month <= 12:
            raise Wrong(f"your grammar allowed {text!r}: month {month:02d}. Allow only 01 to "
                        "12: month ::= \"0\" [1-9] | \"1\" [0-2].")
        if not 1 <= day <= 31:
            raise Wrong(f"your grammar allowed {text!r}: day {day:02d}. Allow only 01 to 31: "
                        "day ::= \"0\" [1-9] | [12] [0-9] | \"3\" [01].")
        texts.append(text)
    return (f"6 answers sampled at temperature 2 under your grammar, all dates with a month "
            f"and a day in range: {', '.join(texts)}.")


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
