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

The harness is apart: :mod:`~helpers.checks.ch09.classifier` judges a label and its probability
against the server's answer, :mod:`~helpers.checks.ch09.ranking` makes up candidates and judges
a ranking, :mod:`~helpers.checks.ch09.dates` tries a grammar on dates and judges the texts
sampled under it.
"""

from __future__ import annotations

import re
from typing import Any

from helpers.checks import server
from helpers.checks.ch09.classifier import P_TOLERANCE, judge, label_and_probability, served
from helpers.checks.ch09.dates import DATES_IN, DATES_OUT, acceptor, judge_date, refused
from helpers.checks.ch09.ranking import check_ranking, made_up_candidates
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe
from helpers.checks.watch import watching

__all__ = ["chapter", "exercise1", "exercise2", "exercise3", "progress"]

chapter = Chapter("09", "09_structured_output_and_logprobs.ipynb")
progress = chapter.progress

#: The check's own reviews (the notebook classifies three others).
REVIEWS = ["Best pizza in town, we will come back.", "The screen cracked after two days.",
           "The chair has four legs and is brown.", "Worst customer service I have ever had."]


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
        counted = served()
        with watching() as sent:
            try:
                answer = call(classify, review, doing=doing, limit=60)
            except AnswerRaised as raised:
                _known_raise(raised)
                raise
        label, probability = label_and_probability(answer, doing)
        seen.append(judge(review, label, probability, sent, doing, counted))
    shown = ", ".join(f"{label} {p:.2f}" for label, p in seen)
    return (f"on {len(REVIEWS)} reviews of the check's own, each label and probability is the "
            f"one your server's answer to your constrained request holds ({shown}; "
            f"probability within {P_TOLERANCE} of exp(sum of the label's token logprobs)).")


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


# Exercise 2 ----------------------------------------------------------------------------------

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
    check_ranking(rank_by_mean, made, "four made-up candidates")
    real = server.ask_ok("openai", "/v1/completions", RANK_REQUEST)
    choices = [c for c in real["choices"] if c["logprobs"]["token_logprobs"]]
    check_ranking(rank_by_mean, choices, f"{len(choices)} candidates from your server")
    shortest = min(choices, key=lambda c: len(c["logprobs"]["token_logprobs"]))
    by_total = max(choices, key=lambda c: sum(c["logprobs"]["token_logprobs"]))
    return ("made-up candidates and your server's six for the check's own prompt "
            f"({RANK_REQUEST['prompt']!r}) ranked by mean logprob per token, best first (the "
            "total would put the shortest first in the made-up ones; in your server's six, "
            f"shortest first by total: {by_total is shortest}).")


# Exercise 3 ----------------------------------------------------------------------------------

#: The check's own questions (the notebook asks about the first moon landing).
DATE_PROMPTS = ["When did the Berlin Wall fall? Date:", "On which day was your last holiday? "
                "Date:"]


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
            refused(grammar, answer)
        for choice in answer.body["choices"]:
            texts.append(judge_date(choice["text"], choice["finish_reason"]))
    accepts = acceptor(grammar)
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
