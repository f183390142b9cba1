"""The exercise checkers of chapter 09 (helpers.checks.ch09), both ways.

Fast tier: the known mistakes that show before the server is asked (what a classifier returns,
a ranking of the checker's made-up candidates, a grammar tried on the checker's own dates),
answers that never ask the server, and answers that hang. Server tier (``openai_server``):
right answers written other ways (the openai client, requests, httpx; completions or chat;
other types) pass, and answers that ask the server but do not return what it answered fail.
"""

from __future__ import annotations

import heapq
import math
import statistics
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from helpers.checks import ch09, limits
from helpers.checks.ch09 import classifier, dates, ranking
from helpers.checks.watch import Sent, watching
from helpers.settings import SERVED_MODEL_NAME
from tests.support import nowhere, verdict_given  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parent.parent


def endless(*args):
    while True:
        pass


def blocking(*args):
    threading.Event().wait()


# Chapter 09, exercise 1: a classifier under a choice constraint -------------------------------

def unexpected_keyword(review):
    """The constraint as an argument of the openai client: refused before anything is sent."""
    from openai import OpenAI

    client = OpenAI(base_url="http://127.0.0.1:9/v1", api_key="EMPTY")
    client.completions.create(model="m", prompt=review, max_tokens=4,
                              structured_outputs={"choice": ["positive"]})


def no_logprobs(review):
    """What the answer of a request without logprobs holds: choice.logprobs is None."""
    from openai.types import CompletionChoice

    choice = CompletionChoice(index=0, text=" positive", finish_reason="stop", logprobs=None)
    return choice.text.strip(), math.exp(sum(choice.logprobs.token_logprobs))


#: What the notebook's saved output shows for its own reviews (a learner could copy it).
SAVED = {"I loved this film, what a joy!": ("positive", 0.62),
         "Terrible service, never again.": ("negative", 0.71),
         "The parcel arrived on Tuesday.": ("neutral", 0.45)}


def keyword_rules(review):
    """Rules of one's own, certain of themselves: never asks the server."""
    words = review.lower()
    if any(w in words for w in ("best", "love", "great")):
        return "positive", 1.0
    if any(w in words for w in ("worst", "cracked", "terrible")):
        return "negative", 1.0
    return "neutral", 1.0


@pytest.mark.parametrize("answer, message", [
    (unexpected_keyword, "Pass it in extra_body"),
    (no_logprobs, "Add logprobs=1"),
    (lambda review: (" Positive\n\nReview:", 0.4), "the old guided_choice field is ignored"),
    (lambda review: ("positive", -0.43), "that is a log-probability"),
    (lambda review: ("positive", 1.7), "a probability is between 0 and 1"),
    (lambda review: "positive", "expected two values, (label, probability)"),
    (lambda review: ("negativ", 0.4), "cut off by max_tokens"),
    (lambda review: ("positive", "0.8"), "expected the probability"),
], ids=["client-keyword", "no-logprobs", "unconstrained", "logprob", "above-one", "label-only",
        "cut-off", "text-probability"])
def test_ch09_ex1_known_mistakes(answer, message, capsys) -> None:
    result = verdict_given(ch09.exercise1, answer)
    assert result.passed is False and message in result.message, result.message


@pytest.mark.parametrize("answer", [
    lambda review: (" neutral", 0.5),
    lambda review: SAVED.get(review, ("neutral", 0.45)),
    keyword_rules,
], ids=["fixed", "saved-output", "keyword-rules"])
def test_ch09_ex1_answers_that_never_ask_the_server_fail(answer, nowhere, capsys) -> None:  # noqa: F811
    result = verdict_given(ch09.exercise1, answer)
    assert result.passed is False and "without sending a request" in result.message
    assert "Best pizza in town" in result.message  # the check's own review, not the notebook's


@pytest.mark.parametrize("answer", [endless, blocking], ids=["loop", "blocking"])
def test_ch09_ex1_a_hanging_classifier_gets_a_verdict(answer, nowhere, capsys) -> None:  # noqa: F811
    with limits.scaled(0.02):
        result = verdict_given(ch09.exercise1, answer)
    assert result.passed is False and "did not return within 1.2 s" in result.message


def test_ch09_ex1_the_watcher_sees_requests_and_their_answers() -> None:
    """The watcher records what the learner's code sends (here to a port where nothing
    listens: the request is recorded, the answer is not) and puts the clients back after."""
    import httpx2
    import requests

    before = requests.Session.send, httpx2.Client.send
    with watching() as sent:
        for send in (lambda: requests.post("http://127.0.0.1:9/v1/completions",
                                           json={"prompt": "x"}, timeout=2),
                     lambda: httpx2.post("http://127.0.0.1:9/v1/completions",
                                         json={"prompt": "y"}, timeout=2)):
            with pytest.raises(Exception):  # noqa: B017 (refused: nothing listens there)
                send()
    assert [(s.path, s.body, s.answer) for s in sent] == [
        ("/v1/completions", {"prompt": "x"}, None), ("/v1/completions", {"prompt": "y"}, None)]
    assert (requests.Session.send, httpx2.Client.send) == before


def test_ch09_ex1_a_label_is_scored_from_its_own_tokens_only() -> None:
    sent = Sent("http://x/v1/completions", {}, False, 200, {"choices": [{
        "index": 0, "text": " negative", "logprobs": {
            "tokens": [" neg", "ative", "<|im_end|>"], "token_logprobs": [-0.5, -0.25, -1.0]}}]})
    text, tokens, logprobs = classifier.scored_answer(sent)
    assert classifier.label_tokens(text, tokens) == 2
    chat = Sent("http://x/v1/chat/completions", {}, True, 200)
    chat.streamed = [b'data: {"choices": [{"index": 0, "delta": {"content": "neg"}, "logprobs": '
                     b'{"content": [{"token": "neg", "logprob": -0.5}]}}]}\n\n',
                     b'data: {"choices": [{"index": 0, "delta": {"content": "ative"}, '
                     b'"logprobs": {"content": [{"token": "ative", "logprob": -0.25}]}}]}\n\n'
                     b"data: [DONE]\n\n"]
    assert classifier.scored_answer(chat) == ("negative", ["neg", "ative"], [-0.5, -0.25])


# The right answers, on the server: other clients, other endpoints, other types ---------------

LABELS = [" positive", " negative", " neutral"]


def reference(review):
    """The notebook's solution: the openai client, completions, labels with their space."""
    from openai import OpenAI

    from helpers.checks import server

    client = OpenAI(base_url=server.base_url("openai") + "/v1", api_key="EMPTY")
    choice = client.completions.create(
        model=SERVED_MODEL_NAME, prompt=f"Review: {review}\nSentiment:", max_tokens=4,
        temperature=0, logprobs=1, extra_body={"structured_outputs": {"choice": LABELS}},
    ).choices[0]
    label_logprob = sum(v for t, v in zip(choice.logprobs.tokens, choice.logprobs.token_logprobs,
                                          strict=True) if t != "<|im_end|>")
    return choice.text.strip(), math.exp(label_logprob)


def with_requests_on_chat(review):
    """requests, chat completions, labels without a space; a list, a NumPy probability."""
    import requests

    from helpers.checks import server

    choice = requests.post(server.base_url("openai") + "/v1/chat/completions", timeout=60, json={
        "model": SERVED_MODEL_NAME, "max_tokens": 8, "temperature": 0, "logprobs": True,
        "messages": [{"role": "user", "content": f"Is this review positive, negative or "
                      f"neutral? {review}"}],
        "structured_outputs": {"choice": ["positive", "negative", "neutral"]}}).json()[
        "choices"][0]
    logprobs = np.array([entry["logprob"] for entry in choice["logprobs"]["content"]])
    return [choice["message"]["content"], np.exp(logprobs.sum())]


def with_httpx_rounded(review):
    """httpx, every token's logprob (the end token's too), the probability rounded, as a
    Fraction."""
    import httpx

    from helpers.checks import server

    answer = httpx.post(server.base_url("openai") + "/v1/completions", timeout=60, json={
        "model": SERVED_MODEL_NAME, "prompt": f"{review}\nThe review is", "max_tokens": 6,
        "logprobs": 1, "temperature": 0,
        "structured_outputs": {"choice": [" positive", " negative", " neutral"]}}).json()
    choice = answer["choices"][0]
    p = math.prod(math.exp(v) for v in choice["logprobs"]["token_logprobs"])
    return choice["text"], Fraction(round(p, 3)).limit_denominator(1000)


def streamed(review):
    """The openai client, a streamed completion: the text and logprobs gathered from it."""
    from openai import OpenAI

    from helpers.checks import server

    client = OpenAI(base_url=server.base_url("openai") + "/v1", api_key="EMPTY")
    text, total = "", 0.0
    for chunk in client.completions.create(
            model=SERVED_MODEL_NAME, prompt=f"Review: {review}\nSentiment:", max_tokens=6,
            temperature=0, logprobs=1, stream=True,
            extra_body={"structured_outputs": {"choice": LABELS}}):
        choice = chunk.choices[0]
        text += choice.text
        if choice.logprobs:
            total += sum(choice.logprobs.token_logprobs)
    return text, math.exp(total)


@pytest.fixture
def on_the_server(openai_server, monkeypatch):
    monkeypatch.setenv("VLLM_COURSE_OPENAI_PORT", str(openai_server.port))
    monkeypatch.delenv("VLLM_OPENAI_URL", raising=False)
    return openai_server


@pytest.mark.parametrize("answer", [reference, with_requests_on_chat, with_httpx_rounded,
                                    streamed],
                         ids=["reference", "requests-chat", "httpx-rounded", "streamed"])
def test_ch09_ex1_right_classifiers_pass(answer, on_the_server, capsys) -> None:
    result = verdict_given(ch09.exercise1, answer)
    assert result.passed is True, result.message


def first_token_only(review):
    """Chat splits a label into several tokens; this keeps the first one's probability."""
    label, _ = with_requests_on_chat(review)
    import requests

    from helpers.checks import server

    choice = requests.post(server.base_url("openai") + "/v1/chat/completions", timeout=60, json={
        "model": SERVED_MODEL_NAME, "max_tokens": 8, "temperature": 0, "logprobs": True,
        "messages": [{"role": "user", "content": f"Is this review positive, negative or "
                      f"neutral? {review}"}],
        "structured_outputs": {"choice": ["positive", "negative", "neutral"]}}).json()[
        "choices"][0]
    return choice["message"]["content"], math.exp(choice["logprobs"]["content"][0]["logprob"])


def asks_then_certain(review):
    label, _ = reference(review)
    return label, 1.0


def asks_a_fixed_prompt(review):
    return reference("I loved this film, what a joy!")


def unconstrained_then_rules(review):
    import requests

    from helpers.checks import server

    text = requests.post(server.base_url("openai") + "/v1/completions", timeout=60, json={
        "model": SERVED_MODEL_NAME, "prompt": f"Review: {review}\nSentiment:", "max_tokens": 4,
        "temperature": 0, "logprobs": 1, "guided_choice": LABELS}).json()["choices"][0]["text"]
    return ("positive" if "pos" in text.lower() else "neutral"), 0.5


@pytest.mark.parametrize("answer, message", [
    (first_token_only, "the label's first token only"),
    (asks_then_certain, "returned p=1.0"),
    (asks_a_fixed_prompt, "your request did not contain the review"),
    (unconstrained_then_rules, "no choice constraint (guided_choice"),
], ids=["first-token", "certain", "fixed-prompt", "no-constraint"])
def test_ch09_ex1_answers_that_ask_but_do_not_return_the_servers_answer_fail(
        answer, message, on_the_server, capsys) -> None:
    result = verdict_given(ch09.exercise1, answer)
    assert result.passed is False and message in result.message, result.message


# Chapter 09, exercise 2: rank by the mean (the made-up candidates come first) ----------------

def mean(choice):
    values = choice["logprobs"]["token_logprobs"]
    return sum(values) / len(values)


def total(choice):
    return sum(choice["logprobs"]["token_logprobs"])


def sorted_in_place(choices):
    choices.sort(key=mean, reverse=True)


@pytest.mark.parametrize("answer, message", [
    (lambda choices: sorted(choices, key=total, reverse=True), "by the total log-probability"),
    (lambda choices: sorted(choices, key=mean), "worst first"),
    (lambda choices: sorted(choices, key=lambda c: total(c) / len(c["text"]), reverse=True),
     "length in characters"),
    (sorted_in_place, "list.sort() sorts the list in place"),
    (lambda choices: sorted((mean(c) for c in choices), reverse=True),
     "expected the 4 choices themselves"),
    (lambda choices: list(reversed(choices)), "it is [3, 2, 1, 0]"),
    (lambda choices: [{"index": i, "logprobs": {"token_logprobs": [-0.1]}} for i in range(4)],
     "not the choices it was given"),
    (lambda choices: sorted(choices, key=mean, reverse=True)[:2], "expected the 4 choices"),
    (lambda choices: "sorted", "expected the 4 choices"),
], ids=["total", "upside-down", "characters", "sort-in-place", "means", "other",
        "made-up-rows", "truncated", "text"])
def test_ch09_ex2_known_mistakes(answer, message, capsys) -> None:
    result = verdict_given(ch09.exercise2, answer)
    assert result.passed is False and message in result.message, result.message


def sort_then_return(choices):
    choices.sort(key=mean, reverse=True)
    return choices


RIGHT_RANKINGS = {
    "tuple-statistics": lambda choices: tuple(sorted(
        choices, key=lambda c: statistics.mean(c["logprobs"]["token_logprobs"]), reverse=True)),
    "generator-numpy": lambda choices: (c for c in sorted(
        choices, key=lambda c: -np.mean(c["logprobs"]["token_logprobs"]))),
    "heapq": lambda choices: heapq.nlargest(len(choices), choices, key=mean),
    "sort-then-return": sort_then_return,
}


@pytest.mark.parametrize("answer", RIGHT_RANKINGS.values(), ids=RIGHT_RANKINGS.keys())
def test_ch09_ex2_right_rankings_of_the_made_up_candidates(answer) -> None:
    ranking.check_ranking(answer, ranking.made_up_candidates(), "made up")  # no Wrong raised


def test_ch09_ex2_the_made_up_candidates_tell_every_order_apart() -> None:
    orders = ranking.orders_of(ranking.made_up_candidates())
    given = [c["index"] for c in ranking.made_up_candidates()]
    assert len({tuple(order) for order in orders.values()}) == len(orders) == 4
    assert given not in orders.values() and given[::-1] not in orders.values()


def test_ch09_ex2_a_right_ranking_goes_on_to_the_server(nowhere, capsys) -> None:  # noqa: F811 (the fixture)
    result = verdict_given(ch09.exercise2,
                           lambda choices: sorted(choices, key=mean, reverse=True))
    assert result.passed is False and nowhere.removesuffix("/v1") in result.message
    assert "did not answer" in result.message


@pytest.mark.parametrize("answer", [endless, blocking], ids=["loop", "blocking"])
def test_ch09_ex2_a_hanging_ranking_gets_a_verdict(answer, capsys) -> None:
    with limits.scaled(0.02):
        result = verdict_given(ch09.exercise2, answer)
    assert result.passed is False and "did not return within 0.6 s" in result.message


@pytest.mark.parametrize("answer", list(RIGHT_RANKINGS.values())[:3],
                         ids=list(RIGHT_RANKINGS)[:3])
def test_ch09_ex2_right_rankings_pass_on_the_server(answer, on_the_server, capsys) -> None:
    result = verdict_given(ch09.exercise2, answer)
    assert result.passed is True and "The best thing about" in result.message, result.message


# Chapter 09, exercise 3: a grammar for dates -------------------------------------------------

def test_ch09_ex3_a_grammar_is_a_string(capsys) -> None:
    result = verdict_given(ch09.exercise3, ["root ::= [0-9]"])
    assert result.passed is False and "expected your grammar as a string" in result.message


REFERENCE_DATE = '''root ::= year "-" month "-" day
year ::= [12] [0-9] [0-9] [0-9]
month ::= "0" [1-9] | "1" [0-2]
day ::= "0" [1-9] | [12] [0-9] | "3" [01]'''

#: Right grammars written otherwise: other rule names, repetition counts, any year.
RIGHT_DATES = {
    "reference": REFERENCE_DATE,
    "inline": 'root ::= [0-9]{4} "-" ("0" [1-9] | "1" [012]) "-" ("0" [1-9] | [12] [0-9] | '
              '"3" [01])',
    "named": 'root ::= y "-" m "-" d\ny ::= digit digit digit digit\ndigit ::= [0-9]\n'
             'm ::= "0" [1-9] | "10" | "11" | "12"\nd ::= "0" [1-9] | "1" digit | "2" digit | '
             '"30" | "31"',
}


@pytest.mark.parametrize("grammar", RIGHT_DATES.values(), ids=RIGHT_DATES.keys())
def test_ch09_ex3_right_grammars_allow_the_checks_dates_only(grammar) -> None:
    accepts = dates.acceptor(grammar)
    assert all(accepts(date) for date in dates.DATES_IN)
    assert not any(accepts(text) for text in dates.DATES_OUT)


@pytest.mark.parametrize("grammar, refused", [
    ('root ::= "1969-07-20"', "1989-11-09"),  # the notebook's answer, copied
    ('root ::= [0-9]{4} "-" [0-9]{2} "-" [0-9]{2}', "2024-13-01"),
], ids=["one-date", "any-two-digits"])
def test_ch09_ex3_grammars_that_are_not_for_dates_show_on_the_checks_own_dates(
        grammar, refused) -> None:
    accepts = dates.acceptor(grammar)
    assert accepts(refused) is (refused not in dates.DATES_IN)


class Endless:
    """An answer whose repr never returns."""

    def __repr__(self) -> str:
        while True:
            pass


def test_ch09_ex3_an_answer_that_hangs_when_read_gets_a_verdict(capsys) -> None:
    with limits.scaled(0.005):
        result = verdict_given(ch09.exercise3, Endless())
    assert result.passed is False and "did not finish within 1.2 s" in result.message


def test_ch09_ex3_on_the_server(on_the_server, capsys) -> None:
    """Real 400s for a regex and a grammar without root, real samples for loose grammars,
    and right grammars written three ways."""
    for grammar, message in [
            (r"\d{4}-\d{2}-\d{2}", "It looks like a regular expression"),
            ('date ::= [0-9] [0-9] [0-9] [0-9] "-" [0-9] [0-9] "-" [0-9] [0-9]',
             "needs a rule named root"),
            ('root ::= [0-9]+ "-" [0-9]+ "-" [0-9]+', "lets the text go on"),
            ('root ::= [0-9] [0-9] [0-9] [0-9] "-" [0-9] [0-9] "-" [0-9] [0-9]', "Allow only"),
            ('root ::= "1969-07-20"', "does not allow 1989-11-09")]:
        result = verdict_given(ch09.exercise3, grammar)
        assert result.passed is False and message in result.message, (grammar, result.message)
    for grammar in RIGHT_DATES.values():
        result = verdict_given(ch09.exercise3, grammar)
        assert result.passed is True, (grammar, result.message)


# The chapter's exercises ---------------------------------------------------------------------

@pytest.mark.parametrize("index, name", [(0, "def classify"), (1, "def rank_by_mean"),
                                         (2, "DATE = ")])
def test_solution_is_the_notebooks_hidden_cell(index, name, capsys) -> None:
    code = ch09.chapter.exercises[index].solution()
    assert name in code and "reference=True" in code and not code.startswith("#@title")
