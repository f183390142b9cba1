"""The checkers of chapter 01's exercises (request payloads). See :mod:`helpers.checks.framework`.

Every check talks to the learner's legacy server (``VLLM_API_URL`` with the room's key in a
workshop, else the local one), through the learner's code or the checker's own requests:
exercise 1 sends the learner's ``temperature`` and ``top_k`` with seeds 0, 1 and 2 and reads
the lists that come back; exercises 2 and 3 call the learner's counting functions and hold
their numbers to what the penalties promise (and, on a server of the learner's own, to the
checker's own greedy request). Generated text is never compared with a fixed text.
"""

from __future__ import annotations

import re
from typing import Any

from helpers import errors, settings
from helpers.checks.framework import Chapter, Wrong, call, describe

__all__ = ["chapter", "exercise1", "exercise2", "exercise3", "progress"]

chapter = Chapter("01", "01_request_payloads.ipynb")

FRUITS_PROMPT = "Three fruits: apple,"
COUNTING = "Count with me: one, two, three,"  # the chapter's `counting`
_ITEM = re.compile(r"[a-z][a-z '-]{0,30}")  # a list item: a word or a few, nothing else


def _shared() -> bool:
    """A workshop's server batches everyone's requests: greedy text may vary a little."""
    return settings.remote_legacy_url() is not None


def _generate(prompt: str, **fields: Any) -> list[str]:
    """The checker's own request to the learner's server; its errors, in the learner's terms."""
    from helpers.client import generate, strip_prompt

    try:
        texts = generate(prompt, **fields)
    except errors.BadRequestError as error:
        raise Wrong(f"your server refused {describe(fields, 70)} (400): {error.message}") \
            from None
    except errors.APIConnectionError as error:
        raise Wrong(f"this check sends requests to your server, which did not answer "
                    f"({type(error).__name__}): run the chapter's first cells "
                    "(start_server()), then this one again.") from None
    return [strip_prompt(text, prompt) for text in texts]


# Exercise 1 ----------------------------------------------------------------------------------

def _items(completion: str) -> list[str]:
    """The first two items of the list the model continued after 'apple,' (may be fewer)."""
    return [item.strip().lower() for item in completion.split(",")[:2]]


def _three_fruits(completion: str) -> bool:
    items = _items(completion)
    return (len(items) == 2 and all(_ITEM.fullmatch(item) for item in items)
            and len({"apple", *items}) == 3)


@chapter.exercise("Three different fruits", hints=[
    "At temperature 0 every seed gives the same text; far above 1, unlikely tokens slip in. "
    "top_k keeps only the k most likely tokens at each step.",
    "Try a moderate temperature, 0.7 to 1.0, with top_k between 10 and 40: "
    "{'temperature': 0.9, 'top_k': 20}, then run the check.",
])
def exercise1(fields: Any) -> str:
    if not isinstance(fields, dict):
        raise Wrong(f"expected a dict of fields, such as {{'temperature': 0.9, 'top_k': 20}}; "
                    f"got {describe(fields)}.")
    missing = [name for name in ("temperature", "top_k") if name not in fields]
    if missing:
        raise Wrong(f"your fields have no {' and no '.join(missing)}: the exercise asks for "
                    "both, a temperature and a top_k.")
    if "seed" in fields:
        raise Wrong(f"your fields fix the seed ({fields['seed']!r}): then every request is the "
                    "same draw. Leave it out; the check sends seeds 0, 1 and 2 itself.")
    temperature, top_k = fields["temperature"], fields["top_k"]
    if isinstance(temperature, int | float) and temperature == 0:
        raise Wrong("temperature 0 is greedy decoding: the model always takes its most likely "
                    "token, so the seed changes nothing and all three seeds give the same list. "
                    "Sample: a temperature above 0.")
    if top_k == 1:
        raise Wrong("top_k 1 keeps only the most likely token: greedy again, whatever the "
                    "temperature, so all three seeds give the same list. Let a few tokens "
                    "compete (top_k between 10 and 40).")
    fields = {name: value for name, value in fields.items() if name != "max_tokens"}
    completions = [_generate(FRUITS_PROMPT, max_tokens=8, seed=seed, **fields)[0]
                   for seed in range(3)]
    good = [seed for seed, text in enumerate(completions) if _three_fruits(text)]
    shown = "; ".join(f"seed {seed}: {describe(text, 40)}" for seed, text in enumerate(completions))
    if len(good) < 2:
        wide = not isinstance(top_k, int) or top_k <= 0 or top_k > 50
        if isinstance(temperature, int | float) and temperature > 1.2 and wide:
            cut = "no" if top_k in (0, -1) else "a wide"
            raise Wrong(f"at temperature {temperature} with {cut} top_k, unlikely tokens get "
                        f"through: {shown}. Cut the tail (top_k "
                        "about 20) or lower the temperature.")
        raise Wrong(f"{len(good)} of 3 seeds listed two more different fruits after 'apple,' "
                    f"(expected at least 2): {shown}.")
    if len(set(completions)) == 1:
        raise Wrong(f"all three seeds gave the same text, {describe(completions[0], 40)}: "
                    "your temperature is so low that sampling is nearly greedy. Raise it.")
    return (f"{len(good)} of 3 seeds list three different fruits, and the seeds give "
            f"{len(set(completions))} different lists ({shown}).")


# Exercise 2 ----------------------------------------------------------------------------------

def _count(function: Any, penalty: float) -> int:
    doing = f"calling your function with frequency_penalty {penalty}"
    count = call(function, penalty, doing=doing)
    if isinstance(count, list):
        raise Wrong(f"{doing}, it returned a list, {describe(count, 50)}: complete() returns "
                    "one completion per candidate. Count the commas of its [0].")
    if isinstance(count, str):
        raise Wrong(f"{doing}, it returned the text, {describe(count, 50)}: return the number "
                    "of commas in it, text.count(',').")
    if isinstance(count, bool) or not isinstance(count, int):
        raise Wrong(f"{doing}, it returned {describe(count)}; expected a number of commas "
                    "(an int).")
    if not 0 <= count <= 30:
        raise Wrong(f"{doing}, it returned {count}; 30 tokens hold between 0 and 30 commas.")
    return count


def _our_commas(penalty: float, **fields: Any) -> int:
    fields = {"max_tokens": 30, "temperature": 0, **fields}
    return _generate(COUNTING, frequency_penalty=penalty, **fields)[0].count(",")


@chapter.exercise("A penalty per use", hints=[
    "Reuse complete(counting, ...): it returns a list of completions, without the prompt. "
    "Ask for 30 greedy tokens and pass the penalty on.",
    "def commas_at(penalty): return complete(counting, max_tokens=30, temperature=0, "
    "frequency_penalty=penalty)[0].count(',')",
], function="commas_at")
def exercise2(commas_at: Any) -> str:
    low, high = _count(commas_at, 0), _count(commas_at, 2)
    if low == high:
        raise Wrong(f"your function counts {low} commas at frequency_penalty 0 and at 2: the "
                    "penalty does not reach the request. Pass frequency_penalty=penalty.")
    ours_low, ours_high = _our_commas(0), _our_commas(2)
    if (low, high) == (ours_low + 3, ours_high + 3):
        raise Wrong(f"you count {low} and {high} commas, 3 more than the completions hold "
                    f"({ours_low} and {ours_high}): you counted the prompt's three commas. The "
                    "legacy text starts with the prompt; complete() strips it.")
    if not _shared() and (low, high) != (ours_low, ours_high):
        if (low, high) == (_our_commas(0, max_tokens=16), _our_commas(2, max_tokens=16)):
            raise Wrong(f"you count {low} and {high} commas: that is 16 tokens, the legacy "
                        "default. Ask for 30: max_tokens=30.")
        raise Wrong(f"you count {low} commas at penalty 0 and {high} at 2; the same request "
                    f"made by this check (30 tokens, temperature 0) holds {ours_low} and "
                    f"{ours_high}. Ask for 30 greedy tokens: max_tokens=30, temperature=0.")
    if high > low:
        raise Wrong(f"you count more commas at penalty 2 ({high}) than at 0 ({low}); expected "
                    "fewer: each comma written lowers the next one's logit.")
    return (f"{low} commas at frequency_penalty 0, {high} at 2: each comma the model writes "
            "lowers the next comma's logit once more.")


# Exercise 3 ----------------------------------------------------------------------------------

def _repeats(function: Any, penalty: float) -> int:
    doing = f"calling prompt_words({penalty})"
    count = call(function, penalty, doing=doing)
    if isinstance(count, dict):
        raise Wrong(f"{doing} returned the whole row, {describe(count, 50)}: return its "
                    "['prompt_words'], a number.")
    if isinstance(count, bool) or not isinstance(count, int):
        raise Wrong(f"{doing} returned {describe(count)}; expected the number of generated "
                    "tokens that are words of the prompt (an int from 0 to 20).")
    if count > 20:
        raise Wrong(f"{doing} returned {count}, more than the 20 generated tokens: you count "
                    "the prompt's own words too (the legacy text starts with the prompt). "
                    "Count the generated tokens only, as penalised() does.")
    if count < 0:
        raise Wrong(f"{doing} returned {count}; a count is 0 or more.")
    return count


@chapter.exercise("A repetition penalty below 1", hints=[
    "penalised(**fields) already sends 20 greedy tokens after `loop` and counts the prompt "
    "words among them: pass it repetition_penalty.",
    "def prompt_words(repetition_penalty): return penalised(repetition_penalty="
    "repetition_penalty)['prompt_words']",
], function="prompt_words")
def exercise3(prompt_words: Any) -> str:
    counts = {penalty: _repeats(prompt_words, penalty) for penalty in (1.0, 0.8, 1.5)}
    below, none, above = counts[0.8], counts[1.0], counts[1.5]
    if below == none == above:
        raise Wrong(f"prompt_words gives {none} for 0.8, 1.0 and 1.5 alike: the penalty does "
                    "not reach the request. Pass repetition_penalty=repetition_penalty.")
    if not below >= none >= above or below == above:
        raise Wrong(f"prompt_words gives {below} at 0.8, {none} at 1.0 and {above} at 1.5; "
                    "expected the count to fall as the penalty rises (below 1 the prompt's "
                    "tokens are favoured, above 1 pushed down). Are the 20 tokens greedy "
                    "(temperature 0)?")
    return (f"{below} of 20 generated tokens repeat the prompt's words at 0.8, {none} at 1.0 "
            f"and {above} at 1.5: below 1 the penalty rewards what was already written.")


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
