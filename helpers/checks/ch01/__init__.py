"""The checkers of chapter 01's exercises (request payloads). See :mod:`helpers.checks.framework`.

Every check talks to the learner's legacy server (``VLLM_API_URL`` with the room's key in a
workshop, else the local one) through :mod:`helpers.checks.server`, and judges behaviour, not
shape:

- exercise 1 sends the learner's ``temperature`` and ``top_k`` (of any numeric type) with seeds
  0, 1 and 2 and reads the first two items of each list: two more items, different from
  "apple" and from each other (the check reads words; whether they are fruits it cannot tell);
- exercise 2 calls the learner's ``commas_at`` with frequency penalties the notebook never used
  (0.3 and 1.7) and compares with the check's own greedy request for the same penalty;
- exercise 3 calls the learner's ``prompt_words`` with repetition penalties the notebook never
  used (0.9 and 1.1) and compares with the count the check makes from its own request's
  tokens (the server's ``logprobs`` extension key).

A value copied from the notebook's saved output, or a function that never asks the server,
cannot pass: the check's own penalties are not in the notebook. On a workshop's shared server,
which batches everyone's requests, greedy text may vary a little: there the counts are compared
within a stated tolerance. Generated text is never compared with a fixed text.
:mod:`~helpers.checks.ch01.answers` reads the learner's answers as values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from helpers.checks import server
from helpers.checks.ch01.answers import read_count, read_fields
from helpers.checks.framework import Chapter, Wrong, call, describe
from helpers.checks.values import first_mistake

__all__ = ["chapter", "exercise1", "exercise2", "exercise3", "progress"]

chapter = Chapter("01", "01_request_payloads.ipynb")
progress = chapter.progress

FRUITS_PROMPT = "Three fruits: apple,"
COUNTING = "Count with me: one, two, three,"  # the chapter's `counting`
LOOP = "I like cats. I like cats. I like"  # the chapter's `loop`
PROMPT_WORDS = {"i", "like", "cats", "."}  # the chapter's PROMPT_WORDS
#: The frequency penalties exercise 2's check uses: the notebook uses 0, 0.5, 1 and 2.
FREQUENCY_PENALTIES = (0.3, 1.7)
#: The repetition penalties exercise 3's check uses: the notebook uses 0.8, 1.0 and 1.5.
REPETITION_PENALTIES = (0.9, 1.1)
#: On a workshop's shared server, how far a count may be from the check's own request's.
SHARED_TOLERANCE = 2
_ITEM = re.compile(r"[a-z][a-z '-]{0,30}")  # a list item: a word or a few, nothing else


def _generate(prompt: str, fields: dict, what: str) -> dict:
    """The check's own request to the learner's legacy server: its JSON body; a 400 is named
    as a refusal of ``what``."""
    answer = server.ask("legacy", "/generate", {"prompt": prompt, **fields})
    if answer.status == 400:
        raise Wrong(f"your server refused {what} (400): {answer.error}")
    if answer.status != 200:
        raise Wrong(f"your legacy server answered {answer.status} to this check's own request "
                    f"to /generate: {answer.error}")
    return answer.body


def _completion(body: dict, prompt: str) -> str:
    text = body["text"][0]
    return text[len(prompt):] if text.startswith(prompt) else text


# Exercise 1 ----------------------------------------------------------------------------------

def _items(completion: str) -> list[str]:
    """The first two items of the list the model continued after 'apple,' (may be fewer)."""
    return [item.strip().lower() for item in completion.split(",")[:2]]


def _two_more_items(completion: str) -> bool:
    """Two more list items after 'apple,': words, different from apple and from each other."""
    items = _items(completion)
    return (len(items) == 2 and all(_ITEM.fullmatch(item) for item in items)
            and len({"apple", *items}) == 3)


@chapter.exercise("Three different fruits", hints=[
    "At temperature 0 every seed gives the same text; far above 1, unlikely tokens slip in. "
    "top_k keeps only the k most likely tokens at each step.",
    "Try a moderate temperature, 0.7 to 1.0, with top_k between 10 and 40: "
    "{'temperature': 0.9, 'top_k': 20}, then run the check.",
], limit=240)
def exercise1(answer: Any) -> str:
    fields = read_fields(answer)
    temperature, top_k = fields["temperature"], fields["top_k"]
    first_mistake([
        (lambda: temperature == 0,
         "temperature 0 is greedy decoding: the model always takes its most likely token, so "
         "the seed changes nothing and all three seeds give the same list. Sample: a "
         "temperature above 0."),
        (lambda: top_k == 1,
         "top_k 1 keeps only the most likely token: greedy again, whatever the temperature, so "
         "all three seeds give the same list. Let a few tokens compete (top_k between 10 and "
         "40)."),
        (lambda: temperature < 0, f"temperature {temperature:g} is below 0: the server refuses "
         "it. Sample with a temperature above 0, 0.7 to 1.0."),
    ])
    fields.pop("max_tokens", None)  # the exercise says 8
    completions = [_completion(_generate(FRUITS_PROMPT, {**fields, "max_tokens": 8,
                                                         "seed": seed}, "your fields"),
                               FRUITS_PROMPT)
                   for seed in range(3)]
    good = [seed for seed, text in enumerate(completions) if _two_more_items(text)]
    shown = "; ".join(f"seed {seed}: {describe(text, 40)}" for seed, text in enumerate(completions))
    if len(good) < 2:
        wide = top_k <= 0 or top_k > 50
        if temperature > 1.2 and wide:
            cut = "no" if top_k in (0, -1) else "a wide"
            raise Wrong(f"at temperature {temperature:g} with {cut} top_k, unlikely tokens get "
                        f"through: {shown}. Cut the tail (top_k about 20) or lower the "
                        "temperature.")
        raise Wrong(f"{len(good)} of 3 seeds continued the list with two more different words "
                    f"after 'apple,' (expected at least 2): {shown}.")
    if len(set(completions)) == 1:
        raise Wrong(f"all three seeds gave the same text, {describe(completions[0], 40)}: "
                    "your temperature is so low that sampling is nearly greedy. Raise it.")
    return (f"{len(good)} of 3 seeds continue the list after 'apple,' with two more items, "
            f"words different from apple and from each other (whether they are fruits, the "
            f"check cannot tell: read them), and the seeds give {len(set(completions))} "
            f"different texts ({shown}).")


# Exercise 2 ----------------------------------------------------------------------------------

def _our_commas(penalty: float, max_tokens: int = 30) -> int:
    body = _generate(COUNTING, {"max_tokens": max_tokens, "temperature": 0,
                                "frequency_penalty": penalty}, "the check's own request")
    return _completion(body, COUNTING).count(",")


def _agrees(yours: tuple[int, ...], ours: tuple[int, ...]) -> bool:
    if server.shared("legacy"):
        return all(abs(a - b) <= SHARED_TOLERANCE for a, b in zip(yours, ours, strict=True))
    return yours == ours


@chapter.exercise("A penalty per use", hints=[
    "Reuse complete(counting, ...): it returns a list of completions, without the prompt. "
    "Ask for 30 greedy tokens and pass the penalty on.",
    "def commas_at(penalty): return complete(counting, max_tokens=30, temperature=0, "
    "frequency_penalty=penalty)[0].count(',')",
], function="commas_at", limit=240)
def exercise2(commas_at: Any) -> str:
    low_p, high_p = FREQUENCY_PENALTIES
    what = "a number of commas (a whole number)"
    shapes = [
        (lambda value: isinstance(value, list | tuple), lambda value:
         f"a {type(value).__name__}, {describe(value, 50)}: complete() returns one completion "
         "per candidate. Count the commas of its [0]."),
        (lambda value: isinstance(value, str), lambda value:
         f"the text, {describe(value, 50)}: return the number of commas in it, "
         "text.count(',')."),
    ]
    low, high = (read_count(commas_at, p, "frequency_penalty", what, 30,
                            "30 tokens hold between 0 and 30 commas.", shapes)
                 for p in (low_p, high_p))
    if low == high:
        raise Wrong(f"your function counts {low} commas at frequency_penalty {low_p:g} and at "
                    f"{high_p:g} alike (penalties the notebook never used): the penalty does not "
                    "reach the request, or the function does not ask the server at all. Send "
                    "the request with frequency_penalty=penalty.")
    if high > low:
        raise Wrong(f"you count more commas at penalty {high_p:g} ({high}) than at {low_p:g} "
                    f"({low}); expected fewer: each comma written lowers the next one's logit.")
    ours = (_our_commas(low_p), _our_commas(high_p))
    if not _agrees((low, high), ours):
        ours = (_our_commas(low_p), _our_commas(high_p))  # once more: a batch may flip a tie
    if _agrees((low, high), ours):
        compared = (f"within {SHARED_TOLERANCE} of this check's own requests on the room's "
                    f"shared server ({ours[0]} and {ours[1]})" if server.shared("legacy")
                    else "the same as this check's own greedy requests")
        return (f"{low} commas at frequency_penalty {low_p:g}, {high} at {high_p:g} (penalties "
                f"the notebook never used), {compared}: each comma the model writes lowers "
                "the next comma's logit once more.")
    seen = (f"you count {low} commas at frequency_penalty {low_p:g} and {high} at {high_p:g}; "
            f"the same request made by this check (30 tokens, temperature 0) holds {ours[0]} "
            f"and {ours[1]}")
    first_mistake([
        (lambda: (low, high) == (ours[0] + 3, ours[1] + 3),
         f"{seen}: 3 more each, the prompt's three commas. The legacy text starts with the "
         "prompt; complete() strips it."),
        (lambda: (low, high) == (_our_commas(low_p, 16), _our_commas(high_p, 16)),
         f"{seen}; yours are the counts of 16 tokens, the legacy default. Ask for 30: "
         "max_tokens=30."),
        (lambda: call(commas_at, low_p, doing="calling your function again with the same "
                      f"penalty {low_p}") != low,
         f"{seen}; and a second call with penalty {low_p:g} gave another count: your tokens are "
         "sampled. Ask for greedy ones: temperature=0."),
    ])
    raise Wrong(f"{seen}. Ask for 30 greedy tokens after `counting`: max_tokens=30, "
                "temperature=0, and count the commas of the completion.")


# Exercise 3 ----------------------------------------------------------------------------------

def _our_row(penalty: float) -> dict:
    """The check's own request (the chapter's penalised()): tokens, text and counts."""
    body = _generate(LOOP, {"max_tokens": 20, "temperature": 0, "logprobs": 1,
                            "repetition_penalty": penalty}, "the check's own request")
    tokens = [entry["token"] for entry in body["logprobs"][0]["tokens"]]
    text = _completion(body, LOOP)
    return {"tokens": sum(t.strip().lower() in PROMPT_WORDS for t in tokens),
            "words": {sum(w.strip(strip).lower() in PROMPT_WORDS for w in text.split())
                      for strip in ("", ".", ".,!?\"'")},
            "text": text}


@chapter.exercise("A repetition penalty below 1", hints=[
    "penalised(**fields) already sends 20 greedy tokens after `loop` and counts the prompt "
    "words among them: pass it repetition_penalty.",
    "def prompt_words(repetition_penalty): return penalised(repetition_penalty="
    "repetition_penalty)['prompt_words']",
], function="prompt_words", limit=240)
def exercise3(prompt_words: Any) -> str:
    below_p, above_p = REPETITION_PENALTIES
    what = ("the number of generated tokens that are words of the prompt (a whole number from "
            "0 to 20)")
    shapes = [
        (lambda value: isinstance(value, Mapping), lambda value:
         f"the whole row, {describe(value, 50)}: return its ['prompt_words'], a number."),
        (lambda value: isinstance(value, str), lambda value:
         f"the text {describe(value, 50)}; expected {what}."),
    ]
    below, above = (read_count(prompt_words, p, "repetition_penalty", what, 20,
                               "more than the 20 generated tokens: you count the prompt's "
                               "own words too (the legacy text starts with the prompt). Count "
                               "the generated tokens only, as penalised() does.", shapes)
                    for p in (below_p, above_p))
    if below == above:
        raise Wrong(f"prompt_words gives {below} for {below_p:g} and {above_p:g} alike "
                    "(penalties the notebook never used): the penalty does not reach the "
                    "request, or the function does not ask the server at all. Pass "
                    "repetition_penalty=repetition_penalty.")
    if below < above:
        raise Wrong(f"prompt_words gives {below} at {below_p:g} and {above} at {above_p:g}; "
                    "expected the count to fall as the penalty rises (below 1 the prompt's "
                    "tokens are favoured, above 1 pushed down).")
    rows = [_our_row(below_p), _our_row(above_p)]
    if not _agrees((below, above), (rows[0]["tokens"], rows[1]["tokens"])):
        rows = [_our_row(below_p), _our_row(above_p)]  # once more: a batch may flip a tie
    ours = (rows[0]["tokens"], rows[1]["tokens"])
    if _agrees((below, above), ours):
        compared = (f"within {SHARED_TOLERANCE} of this check's own requests on the room's "
                    f"shared server ({ours[0]} and {ours[1]})" if server.shared("legacy")
                    else "the same as the check counts in its own request's tokens")
        return (f"{below} of 20 generated tokens are words of the prompt at repetition_penalty "
                f"{below_p:g}, {above} at {above_p:g} (penalties the notebook never used), "
                f"{compared}: below 1 the penalty rewards what was already written.")
    seen = (f"prompt_words gives {below} at {below_p:g} and {above} at {above_p:g}; this "
            f"check's own request (20 greedy tokens after `loop`, logprobs 1) has {ours[0]} "
            f"and {ours[1]} generated tokens that are words of the prompt")
    first_mistake([
        (lambda: below in rows[0]["words"] and above in rows[1]["words"],
         f"{seen}. Yours are the counts of the *words* of the text ({describe(rows[0]['text'], 40)}"
         "): the exercise counts tokens, as penalised() does, and '.' is a token of its own. "
         "Count body['logprobs'][0]['tokens']."),
        (lambda: call(prompt_words, above_p, doing="calling prompt_words again with the same "
                      f"penalty {above_p}") != above,
         f"{seen}; and a second call with {above_p:g} gave another count: your tokens are "
         "sampled. Ask for greedy ones: temperature=0."),
    ])
    raise Wrong(f"{seen}. Ask for 20 greedy tokens after `loop` (max_tokens=20, temperature=0) "
                "and count the generated tokens that are prompt words, as penalised() does.")
