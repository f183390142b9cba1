"""The checkers of chapter 03's exercises (candidates and beam search). See
:mod:`helpers.checks.framework`.

Exercise 1 sends the learner's fixed payload to both of the learner's servers, the legacy
``/generate`` and ``/v1/completions`` (with the room's key in a workshop), and counts the
beams that come back. Exercise 2 feeds the learner's ``parting_step`` pairs of answers built
by the checker (split at the first step, in the middle, never, and where one answer stops
early, with logprobs that differ slightly at every step, as the two code paths' do), then a
real pair from the learner's server.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from helpers import settings
from helpers.checks.framework import Chapter, Wrong, call, describe

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

chapter = Chapter("03", "03_candidates_and_beam_search.ipynb")
PROMPT = "The best thing about Paris is"  # the chapter's `prompt`


def _legacy_url() -> str:
    from helpers.client import generate_url

    return generate_url()  # VLLM_API_URL, else the local server


def _openai_url() -> str:
    from helpers.servers import KINDS

    return KINDS["openai"].url()


def _post(url: str, payload: dict, server: str) -> Any:
    """The checker's own request; the answer's JSON body, or a Wrong that quotes the server."""
    import requests

    try:
        answer = requests.post(url, json=payload, headers=settings.auth_headers(), timeout=300)
    except requests.RequestException as error:
        raise Wrong(f"this check sends your payload to your {server} at {url}, which did not "
                    f"answer ({type(error).__name__}): run the chapter's cells that start it "
                    "(start_server(...)), then this one again.") from None
    if answer.status_code != 200:
        try:
            message = answer.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = answer.text[:200]
        raise Wrong(f"your {server} answered {answer.status_code} to your payload: {message}")
    return answer


# Exercise 1 ----------------------------------------------------------------------------------

@chapter.exercise("An old payload", hints=[
    "Send `old` to both servers and read their answers: the course's server sends a single "
    "line, at the end; /v1/completions refuses. Which of its fields can beam search not honour?",
    "Beam search cannot stream: the best beams are known only at the end. Keep prompt, n=4, "
    "use_beam_search and max_tokens; drop stream (or set it to False). The legacy server "
    "takes no `model`: this check adds it for /v1/completions.",
])
def exercise1(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise Wrong(f"expected your fixed payload, a dict like {{'prompt': prompt, 'n': 4, "
                    f"...}}; got {describe(payload)}.")
    if payload.get("stream"):
        raise Wrong("your payload still streams: beam search cannot (the best beams are known "
                    "only at the end). The course's server sends everything in one line at the "
                    "end, and /v1/completions answers 400 \"Streaming is not currently supported "
                    "with beam search\". Drop \"stream\" or set it to False.")
    if "model" in payload:
        raise Wrong("your payload has \"model\": /v1/completions needs it, but the legacy server "
                    "answers 400 (Unknown field \"model\"). Keep it out of the payload; this "
                    "check adds it for /v1/completions.")
    if not isinstance(payload.get("prompt"), str) or not payload.get("prompt"):
        raise Wrong("your payload has no prompt: keep \"prompt\": prompt.")
    if not payload.get("use_beam_search"):
        greedy = payload.get("temperature", 1) == 0
        raise Wrong("your payload has no \"use_beam_search\": true, so it asks for "
                    + ("4 greedy answers, which both servers refuse (400: n must be 1 with "
                       "greedy sampling)." if greedy else "4 sampled candidates, not beams.")
                    + " Keep use_beam_search: true; n is the beam width.")
    if payload.get("n") != 4:
        raise Wrong(f"your payload has n={payload.get('n')!r}: with beam search n is the beam "
                    "width, the number of beams that come back. Ask for 4.")
    prompt = payload["prompt"]
    texts = _post(_legacy_url(), payload, "legacy server").json()["text"]
    from helpers.settings import SERVED_MODEL_NAME

    choices = _post(_openai_url() + "/completions", {"model": SERVED_MODEL_NAME, **payload},
                    "OpenAI-compatible server").json()["choices"]
    if len(texts) != 4 or len(set(texts)) != 4:
        raise Wrong(f"the legacy server returned {len(set(texts))} distinct text(s) of "
                    f"{len(texts)}; expected 4 distinct beams.")
    if len(choices) != 4:
        raise Wrong(f"/v1/completions returned {len(choices)} choice(s); expected 4 beams.")
    openai = [prompt + choice["text"] for choice in choices]
    if texts[0] not in openai and openai[0] not in texts:
        raise Wrong(f"the two servers' best beams, {describe(texts[0], 40)} and "
                    f"{describe(openai[0], 40)}, are not among each other's: did both get "
                    "the same payload?")
    return (f"4 beams from /generate and 4 from /v1/completions, "
            f"{len(set(texts) & set(openai))} of them the same text on both.")


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


def _cases() -> list[tuple[str, dict, dict, int | None]]:
    """(what, greedy answer, width-1 answer, the step where their tokens part, or None)."""
    cases = []
    for label, beam_words, expected in [
            ("tokens that part at step 10", WORDS[:10] + [" both", " familiar"], 10),
            ("the same tokens all the way", WORDS, None),
            ("tokens that part at the first step", [" its"] + WORDS[1:], 0),
            ("a width-1 answer that stopped early, after 7 of the same tokens", WORDS[:7], 7)]:
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


def _char_split(greedy: dict, beam: dict) -> int | None:
    first, second = greedy["text"][0][len(PROMPT):], beam["text"][0][len(PROMPT):]
    return next((n for n, (a, b) in enumerate(zip(first, second, strict=False)) if a != b), None)


def _check_case(function: Any, label: str, greedy: dict, beam: dict,
                expected: int | None) -> None:
    doing = f"calling parting_step on {label}"
    step = call(function, copy.deepcopy(greedy), copy.deepcopy(beam), doing=doing)
    if step == expected and (step is None or isinstance(step, int)):
        return
    first, second = _tokens(greedy), _tokens(beam)
    if isinstance(step, str):
        raise Wrong(f"{doing}, it returned the token {step!r}; expected the step's index "
                    f"({expected}), from 0 for the first generated token.")
    if isinstance(step, int) and not isinstance(step, bool):
        if step < min(len(first), len(second)) and first[step] == second[step]:
            raise Wrong(f"{doing}, it returned {step}, but both took {first[step]!r} there: the "
                        "logprobs (and the entries) of the two answers differ slightly at every "
                        "step, the tokens do not. Compare entry['token'] only.")
        if expected is not None and step == expected + 1:
            raise Wrong(f"{doing}, it returned {step}; expected {expected}: count steps from 0 "
                        "(the first generated token is step 0), as enumerate does.")
        if step == _char_split(greedy, beam) and step != expected:
            raise Wrong(f"{doing}, it returned {step}, the first *character* where the texts "
                        f"differ; expected the token step, {expected}. Compare the tokens of "
                        "answer['logprobs'][0]['tokens'].")
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
], function="parting_step")
def exercise2(parting_step: Any) -> str:
    cases = _cases()
    for label, greedy, beam, expected in cases:
        _check_case(parting_step, label, greedy, beam, expected)
    fields = {"prompt": PROMPT, "max_tokens": 12}
    url = _legacy_url()
    greedy = _post(url, {**fields, "temperature": 0, "logprobs": 2}, "legacy server").json()
    beam = _post(url, {**fields, "use_beam_search": True, "n": 1, "logprobs": 1},
                 "legacy server").json()
    expected = _reference(greedy, beam)
    _check_case(parting_step, "the answers of your server", greedy, beam, expected)
    where = "the same tokens all the way" if expected is None else f"they part at step {expected}"
    return (f"right on {len(cases)} made-up pairs (a split at step 0 and in the middle, none, "
            f"an answer that stopped early) and on your server's own pair: {where}.")


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()

