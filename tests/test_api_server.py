"""Integration tests of `python -m helpers.api_server` over real HTTP, against the real engine.

Generated text is never compared with a fixed string: greedy output differs across
machines and batch sizes. The tests check the wire format and invariants, and compare
two real outputs where vLLM promises they agree (a seed, the two beam searches).
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from helpers import settings
from helpers.metrics import wait_for_running
from tests.support import PROMPT


def error_of(response: requests.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == response.status_code
    assert isinstance(error["message"], str) and len(error["message"]) > 20
    return error


# --- the legacy wire format --------------------------------------------------------------

def test_health_answers_200_with_an_empty_body(legacy_server) -> None:
    response = requests.get(legacy_server.health_url, timeout=10)
    assert response.status_code == 200
    assert response.content == b""


def test_non_streaming_answer_is_prompt_plus_completion(post) -> None:
    response = post({"prompt": PROMPT, "max_tokens": 8, "temperature": 0})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["text"]
    (text,) = body["text"]
    assert text.startswith(PROMPT) and len(text) > len(PROMPT)


def test_the_legacy_default_is_16_tokens_at_most(post) -> None:
    short = post({"prompt": PROMPT, "max_tokens": 2, "ignore_eos": True}).json()["text"][0]
    default = post({"prompt": PROMPT, "ignore_eos": True}).json()["text"][0]
    assert len(default) > len(short) > len(PROMPT)


def test_n_sampled_candidates_all_come_back_in_every_answer(post) -> None:
    for _ in range(3):  # vLLM reports only advancing candidates per step: none may be lost
        texts = post({"prompt": PROMPT, "n": 3, "temperature": 1.0, "max_tokens": 8}).json()["text"]
        assert len(texts) == 3
        assert all(t.startswith(PROMPT) and len(t) > len(PROMPT) for t in texts)


def test_a_seed_makes_sampled_candidates_reproducible(post) -> None:
    payload = {"prompt": PROMPT, "n": 3, "temperature": 0.9, "seed": 1234, "max_tokens": 8}
    first, second = (post(payload).json()["text"] for _ in range(2))
    assert first == second
    assert len(set(first)) > 1  # sampling at 0.9 gives different candidates


def test_stop_strings_end_the_completion(post) -> None:
    payload = {"prompt": "Count: 1, 2, 3,", "stop": [","], "max_tokens": 16, "temperature": 0}
    (text,) = post(payload).json()["text"]
    assert "," not in text[len("Count: 1, 2, 3,"):]


def test_stream_is_newline_delimited_cumulative_json_with_all_candidates(post) -> None:
    payload = {"prompt": PROMPT, "n": 2, "temperature": 0.8, "seed": 7, "max_tokens": 12,
               "stream": True}
    with post(payload, stream=True) as response:
        assert response.status_code == 200
        raw = response.content
    assert raw.endswith(b"\n") and b"\0" not in raw
    lines = [json.loads(line) for line in raw.split(b"\n") if line]
    assert len(lines) >= 3
    previous = [PROMPT, PROMPT]
    for line in lines:
        assert list(line) == ["text"] and len(line["text"]) == 2
        for old, new in zip(previous, line["text"], strict=True):
            assert new.startswith(old)  # cumulative: each snapshot extends the last
        previous = line["text"]
    assert all(len(t) > len(PROMPT) for t in previous)


def test_streamed_and_plain_answers_agree_for_a_seeded_request(post) -> None:
    payload = {"prompt": PROMPT, "n": 2, "temperature": 0.8, "seed": 99, "max_tokens": 10}
    plain = post(payload).json()["text"]
    with post({**payload, "stream": True}, stream=True) as response:
        last = [json.loads(line) for line in response.iter_lines() if line][-1]["text"]
    assert last == plain


# --- beam search -------------------------------------------------------------------------

def test_beam_search_matches_the_openai_servers_beam_search(post, openai_server) -> None:
    legacy = post({"prompt": PROMPT, "n": 3, "use_beam_search": True, "max_tokens": 8})
    assert legacy.status_code == 200
    beams = legacy.json()["text"]
    assert len(beams) == 3 and len(set(beams)) == 3  # beams are distinct by construction
    openai = requests.post(openai_server.url + "/completions", timeout=300, json={
        "model": settings.SERVED_MODEL_NAME, "prompt": PROMPT, "n": 3, "use_beam_search": True,
        "max_tokens": 8})
    assert openai.status_code == 200, openai.text
    choices = sorted(openai.json()["choices"], key=lambda c: c["index"])
    other = [PROMPT + c["text"] for c in choices]
    # Two engines are not bit-identical: nearly tied beams may swap or differ, but each
    # engine's best beam is among the other's beams.
    assert beams[0] in other and other[0] in beams


def test_streamed_beam_search_is_one_line_with_every_beam(post) -> None:
    """Old clients stream beams with --stream: the best beams are known only at the end."""
    with post({"prompt": PROMPT, "n": 2, "use_beam_search": True, "max_tokens": 6,
               "stream": True}, stream=True) as response:
        assert response.status_code == 200
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert len(lines) == 1
    (beams,) = [line["text"] for line in lines]
    assert len(beams) == 2 and len(set(beams)) == 2 and all(b.startswith(PROMPT) for b in beams)


# --- every SamplingParams field, as the original server accepted --------------------------

def joined_tokens(tokens: list[dict]) -> str:
    """The tokens' texts end to end (one character split over two tokens decodes as U+FFFD)."""
    return "".join(token["token"] for token in tokens)


def test_logprobs_come_in_an_extension_key_and_the_text_stays_legacy(post) -> None:
    body = post({"prompt": PROMPT, "n": 2, "temperature": 0.8, "seed": 5, "max_tokens": 6,
                 "logprobs": 2}).json()
    assert set(body) == {"text", "logprobs"}
    assert len(body["text"]) == 2 and all(t.startswith(PROMPT) for t in body["text"])
    for text, candidate in zip(body["text"], body["logprobs"], strict=True):
        tokens = candidate["tokens"]
        assert 1 <= len(tokens) <= 6
        assert joined_tokens(tokens) == text[len(PROMPT):] or "\ufffd" in joined_tokens(tokens)
        assert all(t["logprob"] <= 0 and 1 <= len(t["top_logprobs"]) <= 2 for t in tokens)
        assert all(t["top_logprobs"][0]["logprob"] >= t["logprob"] - 1e-6 for t in tokens)
        total = sum(t["logprob"] for t in tokens)
        assert abs(candidate["cumulative_logprob"] - total) < 1e-3 * max(1, abs(total))


def test_streamed_logprobs_grow_with_the_text(post) -> None:
    with post({"prompt": PROMPT, "max_tokens": 5, "logprobs": 1, "stream": True},
              stream=True) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line]
    counts = [len(line["logprobs"][0]["tokens"]) for line in lines]
    assert counts == sorted(counts) and counts[-1] >= 1


def test_beam_search_scores_come_with_logprobs(post) -> None:
    body = post({"prompt": PROMPT, "n": 3, "use_beam_search": True, "max_tokens": 6,
                 "logprobs": 1}).json()
    scores = [candidate["cumulative_logprob"] for candidate in body["logprobs"]]
    assert len(scores) == 3 and all(score < 0 for score in scores)
    for text, candidate in zip(body["text"], body["logprobs"], strict=True):
        joined = joined_tokens(candidate["tokens"])
        assert joined == text[len(PROMPT):] or "\ufffd" in joined  # a character split in two


def test_logprobs_under_a_constraint_stay_json(post) -> None:
    """A constraint gives forbidden tokens -inf; JSON has none: they come at the floor."""
    response = post({"prompt": "The sky is", "max_tokens": 3, "logprobs": 5,
                     "structured_outputs": {"choice": [" blue", " green"]}})
    assert response.status_code == 200, response.text
    tops = [t["logprob"] for token in response.json()["logprobs"][0]["tokens"]
            for t in token["top_logprobs"]]
    assert min(tops) >= -9999.0


@pytest.mark.parametrize("payload", [{"best_of": 1}, {"n": 2, "best_of": 2, "temperature": 1}],
                         ids=["best_of=n=1", "best_of=n=2"])
def test_what_old_benchmark_clients_send_is_accepted(post, payload) -> None:
    response = post({"prompt": PROMPT, "max_tokens": 2, **payload})
    assert response.status_code == 200, response.text
    assert len(response.json()["text"]) == payload.get("n", 1)


def test_a_body_rewritten_by_vllm_router_gets_400_with_the_reason(post) -> None:
    """Exactly what vllm-router 0.1.17 forwards for {"prompt": ..., "max_tokens": 4}."""
    response = post({"prompt": PROMPT, "stream": False, "return_logprob": False,
                     "return_hidden_states": False})
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == "return_logprob" and "came through vllm-router" in error["message"]


def test_structured_outputs_choice_constrains_the_answer(post) -> None:
    body = post({"prompt": "Is the sky blue? Answer:", "max_tokens": 4,
                 "structured_outputs": {"choice": ["yes", "no"]}}).json()
    assert body["text"][0].removeprefix("Is the sky blue? Answer:") in ("yes", "no")


@pytest.mark.parametrize(("fields", "param"), [
    ({"logprobs": "many"}, "logprobs"),
    ({"logprobs": 50}, "logprobs"),
    ({"bad_words": 5}, "bad_words"),
    ({"logit_bias": {"abc": 1}}, "logit_bias"),
    ({"allowed_token_ids": "abc"}, "allowed_token_ids"),
    ({"structured_outputs": {"chioce": ["a"]}}, "structured_outputs"),
], ids=["logprobs-type", "logprobs-max", "bad_words", "logit_bias", "allowed_ids", "structured"])
def test_a_wrong_sampling_params_value_is_a_400_naming_the_field(post, fields, param) -> None:
    response = post({"prompt": PROMPT, "max_tokens": 2, **fields})
    assert response.status_code == 400, response.text
    assert error_of(response)["param"] == param


# --- bad input: 400 with a JSON body that names the field ---------------------------------

BAD_REQUESTS = [
    ("not json", b"prompt=hello", None, "not valid JSON"),
    ("array body", b'["hello"]', None, "must be a JSON object"),
    ("empty body", b"", None, "body is empty"),
    ("NaN", b'{"prompt": "hi", "temperature": NaN}', None, "NaN is not a valid JSON number"),
    ("invalid utf-8", b'{"prompt": "\xff"}', None, "not valid UTF-8"),
    ("missing prompt", b'{"max_tokens": 4}', "prompt", "is missing"),
    ("empty prompt", b'{"prompt": ""}', "prompt", "is empty"),
    ("list prompt", b'{"prompt": ["a", "b"]}', "prompt", "must be a string"),
    ("unknown field", b'{"prompt": "hi", "max_token": 4}', "max_token", "Did you mean"),
    ("best_of above n", b'{"prompt": "hi", "best_of": 2}', "best_of", "removed"),
    ("negative temperature", b'{"prompt": "hi", "temperature": -1}', "temperature", "non-negative"),
    ("string number", b'{"prompt": "hi", "max_tokens": "16"}', "max_tokens", "integer"),
    ("float max_tokens", b'{"prompt": "hi", "max_tokens": 1e308}', "max_tokens", "integer"),
    ("huge n", b'{"prompt": "hi", "n": 100000, "temperature": 1}', "n", "between"),
    ("huge seed", b'{"prompt": "hi", "seed": 99999999999999999999999}', "seed", "between"),
    ("bad stop", b'{"prompt": "hi", "stop": [1]}', "stop", "strings"),
    ("greedy n", b'{"prompt": "hi", "n": 3, "temperature": 0}', "n", "Raise temperature"),
    ("stream not bool", b'{"prompt": "hi", "stream": "yes"}', "stream", "true or false"),
]


@pytest.mark.parametrize(("body", "param", "fragment"),
                         [case[1:] for case in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS])
def test_bad_input_gets_400_naming_the_problem(post, body, param, fragment) -> None:
    response = post(data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == param
    assert fragment in error["message"]


def test_prompt_longer_than_the_context_gets_400(post) -> None:
    response = post({"prompt": "hello " * 9000, "max_tokens": 4})
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == "prompt" and "context" in error["message"]


def test_prompt_plus_max_tokens_beyond_the_context_names_max_tokens(post) -> None:
    response = post({"prompt": "hello " * 4000, "max_tokens": 8000})
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] == "max_tokens" and "Lower max_tokens" in error["message"]


def test_oversized_body_gets_413(post) -> None:
    response = post({"prompt": "x" * 2_000_000})
    assert response.status_code == 413
    assert "at most" in error_of(response)["message"]


def test_server_is_healthy_after_bad_input(post, legacy_server) -> None:
    for case in BAD_REQUESTS:
        post(data=case[1])
    assert requests.get(legacy_server.health_url, timeout=10).status_code == 200
    assert post({"prompt": PROMPT, "max_tokens": 2}).status_code == 200


# --- cancellation: a client that leaves aborts its request ------------------------------

LONG = {"prompt": PROMPT, "max_tokens": 4000, "ignore_eos": True}


def test_closing_a_stream_aborts_the_request(post, legacy_server) -> None:
    assert wait_for_running(legacy_server.url, 0, within=30) == 0
    response = post({**LONG, "stream": True}, stream=True)
    next(response.iter_lines())  # the generation is under way
    # vLLM's gauge is updated by its own loop: on a busy machine it may lag the first line.
    assert wait_for_running(legacy_server.url, 1, within=10) == 1
    response.close()
    assert wait_for_running(legacy_server.url, 0, within=5) == 0


def test_leaving_a_plain_request_aborts_it(legacy_server) -> None:
    assert wait_for_running(legacy_server.url, 0, within=30) == 0
    body = json.dumps(LONG).encode()
    parts = urlsplit(legacy_server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        assert wait_for_running(legacy_server.url, 1, within=10) == 1
    assert wait_for_running(legacy_server.url, 0, within=5) == 0


def test_the_server_listens_on_loopback_only(legacy_server) -> None:
    import psutil

    port = urlsplit(legacy_server.url).port
    listening = {conn.laddr.ip for conn in psutil.net_connections(kind="inet")
                 if conn.status == "LISTEN" and conn.laddr.port == port}
    assert listening == {"127.0.0.1"}


def test_on_a_cpu_the_engine_core_runs_the_model_itself(legacy_server) -> None:
    """The course's CPU default (``helpers.course.runtime.engine_environment``): the engine
    core is a child process of its own, and it runs the model without a further worker
    process."""
    import psutil

    names = [child.name() for child in psutil.Process(legacy_server.pid).children(recursive=True)]
    assert sum("EngineCor" in name for name in names) == 1, names
    assert not any("Worker" in name for name in names), names


# --- load shedding: a workshop server that answers 503 with Retry-After ---------------------

def test_a_busy_server_sheds_load_with_retry_after(small_server) -> None:
    from helpers import client
    from helpers.errors import APIStatusError

    url = small_server.url + "/generate"
    hog = client.post_http_request(PROMPT, url, stream=True, max_tokens=2000, ignore_eos=True)
    snapshots = client.get_streaming_response(hog)
    next(snapshots)  # the engine now holds one request
    with pytest.raises(APIStatusError) as info:
        client.post_http_request(PROMPT, url, max_tokens=2)
    error = info.value
    assert (error.status_code, error.type, error.retry_after) == (503, "server_busy", 1.0)
    assert "--max-pending" in error.message
    snapshots.close()  # closing the stream aborts the request
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            assert client.generate(PROMPT, small_server.url, max_tokens=2)[0].startswith(PROMPT)
            break
        except APIStatusError:
            time.sleep(0.2)
    else:
        pytest.fail("the server still sheds load after the request was aborted")
