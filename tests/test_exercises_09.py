"""The exercise checkers of chapter 09 (helpers.checks.ch09).

Every known mistake, written as a small wrong answer, gets its own message. Most answers here
are wrong before the checker would reach a server: a classifier's mistake shows in what it
returns, a ranking on the checker's made-up candidates. A right answer gets as far
as the server, which the fast tier points at a port where nothing listens, so the check says
so. The reference solutions pass against the real server in the notebooks, under nbval; one
server test shows the grammar checker on real 400s and real samples.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from helpers.checks import ch09
from tests.support import nowhere, verdict_given  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.mark.parametrize("answer, message", [
    (unexpected_keyword, "Pass it in extra_body"),
    (no_logprobs, "Add logprobs=1"),
    (lambda review: (" Positive\n\nReview:", 0.4), "the old guided_choice field is ignored"),
    (lambda review: ("positive", -0.43), "that is a log-probability"),
    (lambda review: ("positive", 1.7), "a probability is between 0 and 1"),
    (lambda review: "positive", "expected two values, (label, probability)"),
], ids=["client-keyword", "no-logprobs", "unconstrained", "logprob", "above-one", "label-only"])
def test_ch09_ex1_known_mistakes(answer, message, capsys) -> None:
    result = verdict_given(ch09.exercise1, answer)
    assert result.passed is False and message in result.message, result.message


def test_ch09_ex1_a_label_with_its_space_and_a_probability_pass(capsys) -> None:
    result = verdict_given(ch09.exercise1, lambda review: (" neutral", 0.5))
    assert result.passed is True and "neutral 0.50" in result.message


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
], ids=["total", "upside-down", "characters", "sort-in-place", "means", "other"])
def test_ch09_ex2_known_mistakes(answer, message, capsys) -> None:
    result = verdict_given(ch09.exercise2, answer)
    assert result.passed is False and message in result.message, result.message


def test_ch09_ex2_the_made_up_candidates_tell_every_order_apart() -> None:
    orders = ch09._orders(ch09.made_up_candidates())
    given = [c["index"] for c in ch09.made_up_candidates()]
    assert len({tuple(order) for order in orders.values()}) == len(orders) == 4
    assert given not in orders.values() and given[::-1] not in orders.values()


def test_ch09_ex2_a_right_ranking_goes_on_to_the_server(nowhere, capsys) -> None:  # noqa: F811 (the fixture)
    result = verdict_given(ch09.exercise2,
                           lambda choices: sorted(choices, key=mean, reverse=True))
    assert result.passed is False and f"to your server, {nowhere}" in result.message
    assert "did not answer" in result.message


def test_ch09_ex3_a_grammar_is_a_string(capsys) -> None:
    result = verdict_given(ch09.exercise3, ["root ::= [0-9]"])
    assert result.passed is False and "expected your grammar as a string" in result.message


REFERENCE_DATE = '''root ::= year "-" month "-" day
year ::= [12] [0-9] [0-9] [0-9]
month ::= "0" [1-9] | "1" [0-2]
day ::= "0" [1-9] | [12] [0-9] | "3" [01]'''


def test_ch09_ex3_on_the_server(openai_server, monkeypatch, capsys) -> None:
    """Real 400s for a regex and a grammar without root, real samples for loose grammars."""
    monkeypatch.setenv("VLLM_COURSE_OPENAI_PORT", str(openai_server.port))
    monkeypatch.delenv("VLLM_OPENAI_URL", raising=False)
    for grammar, message in [
            (r"\d{4}-\d{2}-\d{2}", "It looks like a regular expression"),
            ('date ::= [0-9] [0-9] [0-9] [0-9] "-" [0-9] [0-9] "-" [0-9] [0-9]',
             "needs a rule named root"),
            ('root ::= [0-9]+ "-" [0-9]+ "-" [0-9]+', "lets the text go on"),
            ('root ::= [0-9] [0-9] [0-9] [0-9] "-" [0-9] [0-9] "-" [0-9] [0-9]', "Allow only")]:
        result = verdict_given(ch09.exercise3, grammar)
        assert result.passed is False and message in result.message, (grammar, result.message)
    assert verdict_given(ch09.exercise3, REFERENCE_DATE).passed



# The chapter's exercises ---------------------------------------------------------------------

@pytest.mark.parametrize("index, name", [(0, "def classify"), (1, "def rank_by_mean"),
                                         (2, "DATE = ")])
def test_solution_is_the_notebooks_hidden_cell(index, name, capsys) -> None:
    code = ch09.chapter.exercises[index].solution()
    assert name in code and "reference=True" in code and not code.startswith("#@title")
