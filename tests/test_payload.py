"""Unit tests of the /generate request validator (pure Python, no server)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.api_server.payload import (
    FIELDS,
    GenerateRequest,
    Limits,
    PayloadError,
    check_prompt_length,
    parse_generate_request,
)

LIMITS = Limits(max_model_len=100, vocab_size=50, max_body_bytes=10_000)


def parse(payload: object) -> GenerateRequest:
    return parse_generate_request(json.dumps(payload).encode(), LIMITS)


def test_the_seed_clients_payload_is_accepted() -> None:
    request = parse({"prompt": "Hi", "n": 1, "temperature": 0.0, "max_tokens": 16,
                     "stream": True})
    assert (request.prompt, request.n, request.max_tokens, request.stream) == ("Hi", 1, 16, True)
    assert request.fields == {"temperature": 0.0}


def test_old_tutorial_beam_search_payload_is_accepted() -> None:
    request = parse({"prompt": "Hi", "n": 4, "use_beam_search": True, "temperature": 0.0,
                     "max_tokens": 16, "stream": False})
    assert request.use_beam_search and request.n == 4


def test_defaults_and_nulls() -> None:
    request = parse({"prompt": "Hi", "max_tokens": None, "seed": None})
    assert (request.n, request.max_tokens, request.fields) == (1, 16, {})


def test_a_single_stop_string_becomes_a_list() -> None:
    assert parse({"prompt": "Hi", "stop": "\n"}).fields["stop"] == ["\n"]


@pytest.mark.parametrize(("payload", "param", "fragment"), [
    ({"prompt": "Hi", "n": 2}, None, None),  # sampling at the default temperature 1.0: fine
    ({"prompt": "Hi", "n": 2, "temperature": 0}, "n", "Raise temperature"),
    ({"prompt": "Hi", "length_penalty": 1.0}, "length_penalty", "use_beam_search"),
    ({"prompt": "Hi", "use_beam_search": True, "seed": 1}, "seed", "does not apply"),
    ({"prompt": "Hi", "max_tokens": 101}, "max_tokens", "between 1 and 100"),
    ({"prompt": "Hi", "stop_token_ids": [50]}, "stop_token_ids", "between 0 and 49"),
    ({"prompt": "Hi", "stop": [""]}, "stop", "non-empty"),
    ({"prompt": "Hi", "stop": ["a"] * 17}, "stop", "at most 16"),
    ({"prompt": "Hi", "ignore_eos": 1}, "ignore_eos", "true or false"),
    ({"prompt": "Hi", "top_p": 0}, None, None),  # a value: vLLM's to refuse (parts tests)
    ({"prompt": "Hi", "seed": -1}, None, None),  # vLLM's "no seed"
    ({"prompt": "Hi", "seed": 2**63}, "seed", "between"),
    ({"prompt": "Hi", "temperature": True}, "temperature", "must be a number"),
    ({"prompt": "Hi", "n": 1.0}, "n", "whole number"),
    ({"prompt": "Hi", "early_stopping": True}, "early_stopping", "removed"),
    ({"prompt": "Hi", "Prompt": "x"}, "Prompt", 'Did you mean "prompt"'),
    ({"prompt": "Hi", "best_of": 2}, "best_of", "removed"),
    ({"prompt": "Hi", "n": 2, "best_of": 3}, "best_of", "only best_of equal to n"),
    ({"prompt": "Hi", "n": 2, "best_of": 2}, None, None),  # the no-op old clients send
    ({"prompt": "Hi", "use_beam_search": True, "stream": True}, None, None),  # one line
    ({"prompt": "Hi", "return_logprob": False}, "return_logprob", "came through vllm-router"),
    ({"prompt": None}, "prompt", "must be a string, not a JSON null"),
])
def test_field_checks(payload: dict, param: str | None, fragment: str | None) -> None:
    if fragment is None:
        parse(payload)
        return
    with pytest.raises(PayloadError) as info:
        parse(payload)
    assert info.value.param == param and info.value.status == 400
    assert fragment in info.value.message


def test_body_over_the_limit_is_413() -> None:
    with pytest.raises(PayloadError) as info:
        parse_generate_request(b"{" + b" " * 10_000 + b"}", LIMITS)
    assert info.value.status == 413


def test_deeply_nested_json_is_a_clear_400() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(PayloadError, match="nested too deeply|not valid JSON|JSON object"):
        parse_generate_request(deep, Limits(max_body_bytes=1_000_000))


def test_prompt_length_check_names_the_field_to_change() -> None:
    request = parse({"prompt": "Hi", "max_tokens": 50})
    check_prompt_length(request, 50, LIMITS)  # exactly fills the context: fine
    with pytest.raises(PayloadError) as info:
        check_prompt_length(request, 60, LIMITS)
    assert info.value.param == "max_tokens" and "at most 40" in info.value.message
    with pytest.raises(PayloadError) as info:
        check_prompt_length(request, 120, LIMITS)
    assert info.value.param == "prompt"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*FIELDS, "prompt", "stream", "use_beam_search",
                                        "junk"]), json_values, max_size=6))
def test_any_json_object_is_accepted_or_refused_with_a_payload_error(payload: dict) -> None:
    try:
        request = parse(payload)
    except PayloadError as exc:
        assert exc.status == 400 and exc.message
    else:
        assert isinstance(request.prompt, str) and request.prompt
        assert 1 <= request.n <= LIMITS.max_n and 1 <= request.max_tokens <= 100


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_accepted_or_refused_with_a_payload_error(body: bytes) -> None:
    try:
        parse_generate_request(body, LIMITS)
    except PayloadError as exc:
        assert exc.status in (400, 413)


def test_the_rest_of_sampling_params_passes_through_for_vllm_to_check() -> None:
    names = {"logprobs", "logit_bias", "structured_outputs", "bad_words"}
    request = parse_generate_request(
        json.dumps({"prompt": "Hi", "logprobs": 2, "logit_bias": {"42": -5},
                    "structured_outputs": {"choice": ["a", "b"]}, "bad_words": ["x"]}).encode(),
        Limits(), passthrough=names)
    assert request.fields == {"logprobs": 2, "logit_bias": {"42": -5},
                              "structured_outputs": {"choice": ["a", "b"]}, "bad_words": ["x"]}
    with pytest.raises(PayloadError) as info:  # a name that is no field still gets a guess
        parse_generate_request(b'{"prompt": "Hi", "logprob": 2}', Limits(), passthrough=names)
    assert 'Did you mean "logprobs"' in info.value.message and info.value.param == "logprob"


def test_a_body_rewritten_by_vllm_router_is_refused_with_the_reason() -> None:
    """What vllm-router 0.1.17 forwards for {"prompt": "Hi", "max_tokens": 4} (measured):
    max_tokens is gone, so answering would silently ignore what the client asked."""
    with pytest.raises(PayloadError) as info:
        parse({"prompt": "Hi", "stream": False, "return_logprob": False,
               "return_hidden_states": False})
    assert "drops the legacy fields" in info.value.message
    assert "/v1/completions" in info.value.message
