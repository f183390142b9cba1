"""The checkers of chapter 03's exercises (candidates and beam search). See
:mod:`helpers.checks.framework`.

Exercise 1 reads the learner's fixed payload (any mapping; numbers of any numeric type are
sent as the JSON numbers they are), sends it to both of the learner's servers, the legacy
``/generate`` and ``/v1/completions`` (with the room's key in a workshop), once as given and
once with the check's own prompt (one the notebook never uses), and counts the beams that come
back. Exercise 2 feeds the learner's ``parting_step`` pairs of answers built by the checker
(split at the first step, in the middle, at a step drawn for this check, never, and where one
answer stops early, with logprobs that differ slightly at every step, as the two code paths'
do), then two real pairs from the learner's server: the notebook's (greedy and a beam of width
1 on the chapter's prompt) and the check's own (greedy and a seeded sample on a prompt the
notebook never uses), each judged against the step the checker computes from the server's own
tokens.
"""

from __future__ import annotations

import copy
import numbers
import random
from collections.abc import Mapping
from typing import Any

from helpers.checks import server
from helpers.checks.framework import Chapter, Wrong, call, describe
from helpers.checks.values import first_mistake, number, whole

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

chapter = Chapter("03", "03_candidates_and_beam_search.ipynb")
progress = chapter.progress
PROMPT = "The best thing about Paris is"  # the chapter's `prompt`
#: The check's own prompt (exercise 1's second payload, exercise 2's second real pair).
OWN_PROMPT = "The best thing about a rainy Sunday is"
_TITLES = {"legacy": "legacy server", "openai": "OpenAI-compatible server"}
_WHOLE = ("n", "max_tokens", "seed", "logprobs", "top_k", "min_tokens", "best_of")


def _ask(kind: str, path: str, payload: dict, what: str) -> Any:
    """Send ``payload`` to the learner's server; its JSON body, or a Wrong quoting it."""
    answer = server.ask(kind, path, payload, timeout=300)
    if answer.status != 200:
        raise Wrong(f"your {_TITLES[kind]} answered {answer.status} to {what}: {answer.error}")
    return answer.body


# Exercise 1 ----------------------------------------------------------------------------------

def _flag(value: Any, name: str) -> bool:
    """A JSON boolean: True/False (a NumPy bool too); a text "true" is refused, and why."""
    if isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b":
        return bool(value)
    if isinstance(value, str):
        raise Wrong(f"your payload's {name} is the text {value!r}, not a boolean: JSON sends it "
                    f"as a string, and the servers want true or false. Write {name}: "
                    f"{'True' if value.strip().lower() == 'true' else 'False'} (Python's "
                    "boolean).")
    if isinstance(value, numbers.Number) and value in (0, 1):
        return bool(value)
    raise Wrong(f"your payload's {name} is {describe(value)}; expected True or False.")


def _read_payload(answer: Any) -> dict:
    if not isinstance(answer, Mapping):
        raise Wrong(f"expected your fixed payload, a dict like {{'prompt': prompt, 'n': 4, "
                    f"...}}; got {describe(answer)}.")
    given = call(dict, answer, doing="reading your payload", limit=10)
    payload = {}
    for name, value in given.items():
        if name in ("stream", "use_beam_search", "ignore_eos"):
            payload[name] = _flag(value, name)
        elif name in _WHOLE:
            payload[name] = whole(value, f"a whole number for {name} (a text is sent as a "
                                  "JSON string, which the servers refuse)")
        elif name in ("temperature", "top_p", "length_penalty"):
            payload[name] = number(value, f"a number for {name}")
        elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
            payload[name] = int(value)
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            payload[name] = float(value)
        else:
            payload[name] = value
    return payload


@chapter.exercise("An old payload", hints=[
    "Send `old` to both servers and read their answers: the course's server sends a single "
    "line, at the end; /v1/completions refuses. Which of its fields can beam search not honour?",
    "Beam search cannot stream: the best beams are known only at the end. Keep prompt, n=4, "
    "use_beam_search and max_tokens; drop stream (or set it to False). The legacy server "
    "takes no `model`: this check adds it for /v1/completions.",
], limit=240)
def exercise1(answer: Any) -> str:
    payload = _read_payload(answer)
    greedy = payload.get("temperature", 1) == 0
    first_mistake([
        (lambda: payload.get("stream", False),
         "your payload still streams: beam search cannot (the best beams are known only at the "
         "end). The course's server sends everything in one line at the end, and "
         "/v1/completions answers 400 \"Streaming is not currently supported with beam "
         "search\". Drop \"stream\" or set it to False."),
        (lambda: "model" in payload,
         "your payload has \"model\": /v1/completions needs it, but the legacy server answers "
         "400 (Unknown field \"model\"). Keep it out of the payload; this check adds it for "
         "/v1/completions."),
        (lambda: not isinstance(payload.get("prompt"), str) or not payload.get("prompt"),
         "your payload has no prompt: keep \"prompt\": prompt."),
        (lambda: not payload.get("use_beam_search"),
         "your payload has no \"use_beam_search\": true, so it asks for "
         + ("4 greedy answers, which both servers refuse (400: n must be 1 with greedy "
            "sampling)." if greedy else "4 sampled candidates, not beams.")
         + " Keep use_beam_search: true; n is the beam width."),
        (lambda: payload.get("n") != 4,
         lambda: f"your payload has n={payload.get('n')!r}: with beam search n is the beam "
         "width, the number of beams that come back. Ask for 4."),
    ])
    shown = []
    for prompt, whose in ((payload["prompt"], "your payload"),
                          (OWN_PROMPT, f"your payload with the check's own prompt {OWN_PROMPT!r}")):
        sent = {**payload, "prompt": prompt}
        texts = _ask("legacy", "/generate", sent, whose)["text"]
        choices = _ask("openai", "/v1/completions", sent, whose + " (with a model)")["choices"]
        if len(texts) != 4 or len(set(texts)) != 4:
            raise Wrong(f"for {whose}, the legacy server returned {len(set(texts))} distinct "
                        f"text(s) of {len(texts)}; expected 4 distinct beams.")
        if len(choices) != 4:
            raise Wrong(f"for {whose}, /v1/completions returned {len(choices)} choice(s); "
                        "expected 4 beams.")
        openai = [prompt + choice["text"] for choice in choices]
        if prompt != OWN_PROMPT and texts[0] not in openai and openai[0] not in texts:
            # Two engines are not bit-identical: near-ties may swap beams, but each best beam
            # is among the other's (the chapter's self-check). Judged on the learner's prompt.
            raise Wrong(f"for {whose}, the two servers' best beams, "
                        f"{describe(texts[0][len(prompt):], 40)} and "
                        f"{describe(openai[0][len(prompt):], 40)}, are not among each other's: "
                        "did both get the same payload?")
        shown.append(len(set(texts) & set(openai)))
    return (f"4 distinct beams from /generate and 4 from /v1/completions, for your payload "
            f"({shown[0]} of them the same text on both) and for it with the check's own "
            f"prompt {OWN_PROMPT!r}.")


# Exercise 2 ----------------------------------------------------------------------------------

def _answer(tokens: list[str], top: int) -> dict:
    """An answer body as the legacy server sends it with "logprobs": its tokens, each with a
    logprob and its ``top`` best alternatives (the same numbers for the same step)."""
    rng, entries = random.Random(3), []
    for token in tokens:
        logprob = -rng.uniform(0.05, 2.5)
        alternatives = [{"token": token, "logprob": logprob}]
        alternatives += [{"token": f" alt{i}", "logprob": logprob - i} for i in range(1, top)]
        entries.append({"token": token, "logprob": logprob, "top_logprobs": alternatives})
    return {"text": [PROMPT + "".join(tokens)],
            "logprobs": [{"cumulative_logprob": sum(e["logprob"] for e in entries),
                          "tokens": entries}]}


WORDS = [" the", " food", ".", " It", "'s", " a", " culinary", " experience", " that", "'s",
         " un", "matched"]


def _cases(rng: random.Random | None = None) -> list[tuple[str, dict, dict, int | None]]:
    """(what, greedy answer, width-1 answer, the step where their tokens part, or None); with
    ``rng``, one more pair that parts at a step drawn for this check."""
    specs = [("tokens that part at step 10", WORDS[:10] + [" both", " familiar"], 10),
             ("the same tokens all the way", WORDS, None),
             ("tokens that part at the first step", [" its"] + WORDS[1:], 0),
             ("a width-1 answer that stopped early, after 7 of the same tokens", WORDS[:7], 7)]
    if rng is not None:
        step = rng.randrange(1, len(WORDS) - 1)
        specs.append((f"tokens that part at a step of this check's own ({step})",
                      WORDS[:step] + [" truly"] + WORDS[step + 1:], step))
    cases = []
    for label, beam_words, expected in specs:
        greedy, beam = _answer(WORDS, 2), _answer(beam_words, 1)
        for entry in beam["logprobs"][0]["tokens"]:  # two code paths: slightly other numbers
            entry["logprob"] += 0.004
            entry["top_logprobs"][0]["logprob"] += 0.004
        cases.append((label, greedy, beam, expected))
    return cases


def _tokens(answer: dict) -> list[str]:
    return [entry["token"] for entry in answer["logprobs"][0]["tokens"]]


def _reference(greedy: dict, beam: dict) -> int | None:
    first, second = _tokens(greedy), _tokens(beam)
    step = next((n for n, (a, b) in enumerate(zip(first, second, strict=False)) if a != b), None)
    if step is None and len(first) != len(second):
        step = min(len(first), len(second))
    return step


def _first_difference(greedy: dict, beam: dict, key: Any) -> int | None:
    """The first step where ``key(entry)`` differs between the two answers (None: nowhere)."""
    pairs = zip(greedy["logprobs"][0]["tokens"], beam["logprobs"][0]["tokens"], strict=False)
    return next((n for n, (a, b) in enumerate(pairs) if key(a) != key(b)), None)


def _char_split(greedy: dict, beam: dict) -> int | None:
    prompt = next(p for p in (PROMPT, OWN_PROMPT) if greedy["text"][0].startswith(p))
    first, second = greedy["text"][0][len(prompt):], beam["text"][0][len(prompt):]
    return next((n for n, (a, b) in enumerate(zip(first, second, strict=False)) if a != b), None)


def _check_case(function: Any, label: str, greedy: dict, beam: dict,
                expected: int | None) -> None:
    doing = f"calling parting_step on {label}"
    step = call(function, copy.deepcopy(greedy), copy.deepcopy(beam), doing=doing)
    first, second = _tokens(greedy), _tokens(beam)
    if step is not None:
        first_mistake([
            (lambda: isinstance(step, str),
             f"{doing}, it returned the token {step!r}; expected the step's index "
             f"({expected}), from 0 for the first generated token."),
            (lambda: isinstance(step, Mapping),
             f"{doing}, it returned an entry, {describe(step, 50)}; expected the step's "
             f"index ({expected}), from 0 for the first generated token."),
            (lambda: isinstance(step, bool),
             f"{doing}, it returned {step}; expected the step's index ({expected}) or None, "
             "not whether they differ."),
        ])
        step = whole(step, "the index of a step (a whole number) or None", doing=doing)
    if step == expected:
        return
    if step is not None and step < 0:
        raise Wrong(f"{doing}, it returned {step}; expected {expected}. A step is counted "
                    "from 0; when the answers hold the same tokens, return None, not "
                    f"{step}.")
    if step is not None and step == _char_split(greedy, beam):
        raise Wrong(f"{doing}, it returned {step}, the first *character* where the texts "
                    f"differ; expected the token step, {expected}. Compare the tokens of "
                    "answer['logprobs'][0]['tokens'].")
    if step is not None and step > max(len(first), len(second)):
        raise Wrong(f"{doing}, it returned {step}, past the end of both answers ({len(first)} "
                    f"and {len(second)} tokens); expected {expected}.")
    if step is not None and step < min(len(first), len(second)) and first[step] == second[step]:
        whole_entries = _first_difference(greedy, beam, lambda entry: entry)
        if step in (whole_entries, _first_difference(greedy, beam, lambda e: e["logprob"])):
            raise Wrong(f"{doing}, it returned {step}, but both took {first[step]!r} there; "
                        "only their logprobs differ (the two code paths' numbers differ "
                        "slightly at every step), the tokens do not. Compare entry['token'] "
                        "only.")
        raise Wrong(f"{doing}, it returned {step}, but both took {first[step]!r} there; "
                    f"expected {expected}.")
    if step is not None and expected is not None and step == expected + 1:
        raise Wrong(f"{doing}, it returned {step}; expected {expected}: count steps from 0 "
                    "(the first generated token is step 0), as enumerate does.")
    if step is None and expected is not None and len(first) != len(second):
        raise Wrong(f"{doing}, it returned None, but one answer has {len(second)} tokens and "
                    f"the other {len(first)}: they part where the shorter one ends, step "
                    f"{expected} (zip stops at the shorter list without a word).")
    raise Wrong(f"{doing}, it returned {describe(step)}; expected {expected}.")


@chapter.exercise("Is greedy a beam of width 1?", hints=[
    "Each answer's answer['logprobs'][0]['tokens'] is a list with one entry per generated "
    "token: {'token': ..., 'logprob': ..., 'top_logprobs': [...]}. Walk both lists together.",
    "Compare only entry['token'] (the logprobs differ a little at every step): "
    "next((n for n, (g, b) in enumerate(zip(greedy_tokens, beam_tokens)) if g['token'] != "
    "b['token']), None), and if that is None but the lists differ in length, the length of "
    "the shorter one.",
], function="parting_step", limit=240)
def exercise2(parting_step: Any) -> str:
    rng = random.Random()
    cases = _cases(rng)
    for label, greedy, beam, expected in cases:
        _check_case(parting_step, label, greedy, beam, expected)
    found = []
    seed = rng.randrange(1000)
    for label, prompt, other in [
            ("the notebook's pair from your server (greedy and a beam of width 1)", PROMPT,
             {"use_beam_search": True, "n": 1, "logprobs": 1}),
            (f"the check's own pair from your server (greedy and a sample, seed {seed}, on "
             f"{OWN_PROMPT!r})", OWN_PROMPT,
             {"temperature": 1.0, "seed": seed, "logprobs": 1})]:
        fields = {"prompt": prompt, "max_tokens": 12}
        greedy = _ask("legacy", "/generate", {**fields, "temperature": 0, "logprobs": 2},
                      "this check's own request")
        beam = _ask("legacy", "/generate", {**fields, **other}, "this check's own request")
        expected = _reference(greedy, beam)
        _check_case(parting_step, label, greedy, beam, expected)
        found.append("the same tokens all the way" if expected is None
                     else f"they part at step {expected}")
    return (f"right on {len(cases)} made-up pairs (a split at step 0, in the middle and at a "
            "step drawn for this check, none, an answer that stopped early) and on two pairs "
            f"from your server: the notebook's ({found[0]}) and the check's own ({found[1]}).")
