"""The legacy server's pure parts, without an engine (fast tier): request → vLLM's parameters,
outputs → the JSON answer, what a dead engine answers, and the ASGI pieces.

The outputs are plain objects shaped like vLLM's ``RequestOutput`` / ``CompletionOutput`` /
``Logprob``; the parameters are vLLM's own ``SamplingParams`` and ``BeamSearchParams``.
``tests/test_api_server.py`` checks the same behaviour end to end against a real engine.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from helpers.api_server.answers import LOGPROB_FLOOR, Snapshot, candidate_logprobs
from helpers.api_server.asgi import ApiKeyMiddleware, on_disconnect, read_body
from helpers.api_server.engine_death import (
    ENGINE_DEAD_EXIT_STATUS,
    EngineDeath,
    describe,
    exit_reason,
    why_engine_stopped,
)
from helpers.api_server.messages import BUSY_RETRY_AFTER, busy_response
from helpers.api_server.params import (
    build_errors,
    engine_params,
    field_at_fault,
    passthrough_fields,
)
from helpers.api_server.payload import (
    SEED_RANGE,
    GenerateRequest,
    Limits,
    PayloadError,
    parse_generate_request,
)

# --- request → engine parameters -----------------------------------------------------------


def test_sampling_params_take_the_request_over_the_models_defaults() -> None:
    from vllm.sampling_params import RequestOutputKind, SamplingParams

    request = GenerateRequest(prompt="Hi", n=2, max_tokens=5, fields={"temperature": 0.5})
    params = engine_params(request, {"top_p": 0.9, "temperature": 1.0})
    assert isinstance(params, SamplingParams)
    assert (params.n, params.max_tokens, params.temperature, params.top_p) == (2, 5, 0.5, 0.9)
    assert params.output_kind == RequestOutputKind.FINAL_ONLY
    streamed = engine_params(GenerateRequest(prompt="Hi", stream=True), {})
    assert streamed.output_kind == RequestOutputKind.CUMULATIVE


def test_beam_search_gets_its_width_from_n_and_only_the_fields_it_knows() -> None:
    from vllm.sampling_params import BeamSearchParams

    request = GenerateRequest(prompt="Hi", n=3, max_tokens=4, use_beam_search=True,
                              fields={"ignore_eos": True})
    params = engine_params(request, {"top_p": 0.9})
    assert isinstance(params, BeamSearchParams)
    assert (params.beam_width, params.max_tokens, params.ignore_eos) == (3, 4, True)
    assert params.temperature == 1.0  # /v1/completions' default for beams


@pytest.mark.parametrize(("fields", "param"), [
    ({"logprobs": "x"}, "logprobs"),                       # msgspec names the path
    ({"logit_bias": {"a": 1}}, "logit_bias"),              # ... inside a field
    ({"top_k": -5}, "top_k"),                              # vLLM's message starts with it
    ({"seed": 1, "min_tokens": 100}, "min_tokens"),        # a check across fields
    ({"structured_outputs": {"json": 3}}, "structured_outputs"),
])
def test_a_value_vllm_refuses_is_a_400_naming_the_field(fields, param) -> None:
    with pytest.raises(PayloadError) as info:
        engine_params(GenerateRequest(prompt="Hi", fields=fields), {})
    assert info.value.status == 400 and info.value.param == param
    assert info.value.message.endswith("Fix this field and send the request again.")


#: Each value field's boundary in vLLM 0.32 (``SamplingParams._verify_args``): the last value
#: accepted and the first refused, on each side that has a bound.
VLLM_BOUNDS = [
    ("temperature", 0.0, -0.01), ("temperature", 2.0, 2.01),
    ("top_p", 1e-9, 0.0), ("top_p", 1.0, 1.01),
    ("top_k", -1, -2),
    ("min_p", 0.0, -0.01), ("min_p", 1.0, 1.01),
    ("presence_penalty", -2.0, -2.01), ("presence_penalty", 2.0, 2.01),
    ("frequency_penalty", -2.0, -2.01), ("frequency_penalty", 2.0, 2.01),
    ("repetition_penalty", 1e-9, 0.0),
    ("min_tokens", 0, -1),
    ("n", 1, 0), ("max_tokens", 1, 0),
]


def _answer(body: dict, *, beams: bool = False) -> str | None:
    """The field a /generate body is refused for by the whole path (the course's checks, then
    vLLM's), or None when it is accepted."""
    limits = Limits(max_model_len=100, vocab_size=50)
    try:
        request = parse_generate_request(json.dumps({"prompt": "Hi", **body,
                                                     "use_beam_search": beams}).encode(),
                                         limits, passthrough_fields())
        engine_params(request, {})
    except PayloadError as refused:
        assert refused.status == 400
        return refused.param or "?"
    return None


#: The fields of VLLM_BOUNDS that beam search takes too (the server refuses the others there).
BEAM_FIELDS = {"temperature", "n", "max_tokens"}


@pytest.mark.parametrize(("name", "inside", "outside", "beams"), [
    *[(*bound, False) for bound in VLLM_BOUNDS],
    *[(*bound, True) for bound in VLLM_BOUNDS if bound[0] in BEAM_FIELDS]])
def test_the_server_and_vllm_agree_on_every_boundary(name, inside, outside, beams) -> None:
    """vLLM's own check decides each value's bounds: the server accepts what vLLM accepts and
    refuses what it refuses, with a 400 that names the field (for beam search too, whose
    parameters vLLM does not check)."""
    from vllm.sampling_params import SamplingParams

    for value, refused in ((inside, False), (outside, True)):
        try:
            SamplingParams(**{name: value})
            vllm_refuses = False
        except build_errors():
            vllm_refuses = True
        assert vllm_refuses == refused, f"vLLM moved the bound of {name}: {value}"
        assert _answer({name: value}, beams=beams) == (name if refused else None)


def test_the_servers_own_bounds_are_within_what_vllm_takes() -> None:
    """Where the server keeps a bound of its own, vLLM takes the values inside it: n up to the
    server's cap, and seeds over the whole range of vLLM's OpenAI server (-1 is its "no seed");
    the first value outside is refused by the server with a 400 naming the field."""
    from vllm.entrypoints.openai.completion.protocol import CompletionRequest
    from vllm.sampling_params import SamplingParams

    seed = CompletionRequest.model_fields["seed"].metadata
    low = next(bound.ge for bound in seed if hasattr(bound, "ge"))
    high = next(bound.le for bound in seed if hasattr(bound, "le"))
    assert SEED_RANGE == (low, high)
    for value in (*SEED_RANGE, -1, 0):
        SamplingParams(seed=value)
        assert _answer({"seed": value}) is None
    assert _answer({"seed": SEED_RANGE[1] + 1}) == "seed"
    assert _answer({"seed": SEED_RANGE[0] - 1}) == "seed"
    SamplingParams(n=Limits().max_n, temperature=1.0)
    assert _answer({"n": Limits().max_n}) is None and _answer({"n": Limits().max_n + 1}) == "n"


def test_vllm_refuses_what_the_server_words_for_itself() -> None:
    """The server's own message for n greedy answers stands for a check vLLM makes too."""
    from vllm.sampling_params import SamplingParams

    with pytest.raises(build_errors(), match="greedy"):
        SamplingParams(n=3, temperature=0.0)
    assert _answer({"n": 3, "temperature": 0}) == "n"
    assert _answer({"min_tokens": 20, "max_tokens": 10}) == "min_tokens"


def test_the_field_at_fault_is_found_by_trying_each_field_alone() -> None:
    from vllm.sampling_params import BeamSearchParams, SamplingParams

    given = {"temperature": 0.5, "repetition_penalty": -1.0}
    assert field_at_fault(ValueError("an unhelpful message"), given, SamplingParams) == \
        "repetition_penalty"
    assert field_at_fault(ValueError("x"), {"length_penalty": "long"}, BeamSearchParams) == \
        "length_penalty"
    assert field_at_fault(ValueError("an unhelpful message"), given) is None  # no type: no search
    named = SimpleNamespace(parameter="seed")
    assert field_at_fault(named, given) == "seed"  # type: ignore[arg-type]


def test_a_client_may_send_every_public_sampling_field_but_the_servers_own() -> None:
    fields = passthrough_fields()
    assert {"logprobs", "logit_bias", "structured_outputs", "bad_words", "seed"} <= fields
    assert not {"output_kind", "skip_clone"} & fields
    assert not any(name.startswith("_") for name in fields)


# --- outputs → the JSON answer ---------------------------------------------------------------

@dataclass
class Logprob:  # vllm.logprobs.Logprob's shape
    logprob: float
    rank: int
    decoded_token: str | None = None


@dataclass
class Candidate:  # vllm.outputs.CompletionOutput's shape
    index: int
    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[dict[int, Logprob]] | None = None
    cumulative_logprob: float | None = None


@dataclass
class Output:  # vllm.outputs.RequestOutput's shape
    outputs: list[Candidate]


def decode(token_id: int) -> str:
    return f"<{token_id}>"


def test_every_candidate_comes_back_in_index_order_after_partial_steps() -> None:
    snapshot = Snapshot(GenerateRequest(prompt="Hi", n=3), decode)
    assert snapshot.body() == {"text": ["Hi", "Hi", "Hi"]}  # before any output
    snapshot.update(Output([Candidate(2, " c"), Candidate(0, " a")]))
    snapshot.update(Output([Candidate(0, " a b")]))
    assert snapshot.body() == {"text": ["Hi a b", "Hi", "Hi c"]}
    assert snapshot.line() == b'{"text": ["Hi a b", "Hi", "Hi c"]}\n'


def test_logprobs_are_an_extension_key_in_json_types() -> None:
    table = {7: Logprob(-0.5, 2, " x"), 8: Logprob(-0.1, 1, " y"), 9: Logprob(-math.inf, 3)}
    candidate = Candidate(0, " x", token_ids=[7], logprobs=[table], cumulative_logprob=-0.5)
    snapshot = Snapshot(GenerateRequest(prompt="Hi", n=2, fields={"logprobs": 2}), decode)
    snapshot.update(Output([candidate]))
    body = json.loads(snapshot.line())
    assert body["text"] == ["Hi x", "Hi"]
    assert body["logprobs"] == [
        {"cumulative_logprob": -0.5,
         "tokens": [{"token": " x", "logprob": -0.5,
                     "top_logprobs": [{"token": " y", "logprob": -0.1},
                                      {"token": " x", "logprob": -0.5}]}]},
        None]  # a candidate with no token yet


def test_forbidden_tokens_get_the_floor_and_undecoded_tokens_the_tokenizer() -> None:
    table = {5: Logprob(-math.inf, 1)}  # a constraint forbade it; beam search leaves no text
    candidate = Candidate(0, "", token_ids=[5, 6], logprobs=[table, {5: Logprob(-1.0, 1)}],
                          cumulative_logprob=-math.inf)
    answer = candidate_logprobs(candidate, 1, decode)
    assert answer == {"cumulative_logprob": LOGPROB_FLOOR, "tokens": [
        {"token": "<5>", "logprob": LOGPROB_FLOOR,
         "top_logprobs": [{"token": "<5>", "logprob": LOGPROB_FLOOR}]},
        {"token": "<6>", "logprob": None,  # chosen but not in the table
         "top_logprobs": [{"token": "<5>", "logprob": -1.0}]}]}
    json.dumps(answer, allow_nan=False)


# --- a dead engine ----------------------------------------------------------------------------

def test_a_living_engine_gets_no_death_answer() -> None:
    death = EngineDeath(SimpleNamespace(errored=False))
    assert death.answer() is None and death.answer(RuntimeError("boom")) is None
    assert death.reason is None and death.exit_status == 0


def test_a_dead_engine_is_recorded_once_and_answered_503_everywhere() -> None:
    from vllm.v1.engine.exceptions import EngineDeadError

    engine = SimpleNamespace(errored=False)
    death = EngineDeath(engine)

    async def scenario() -> None:
        error = EngineDeadError()
        response = death.answer(error)
        assert response is not None and response.status_code == 503
        body = json.loads(response.body)["error"]
        assert body["type"] == "engine_dead_error" and body["code"] == 503
        assert "EngineDeadError: EngineCore encountered an issue" in body["message"]
        assert death.exit_status == ENGINE_DEAD_EXIT_STATUS
        first_reason, exit_task = death.reason, death._exit_task
        assert death.answer() is not None  # later requests: 503 too, recorded once
        assert death.body(RuntimeError("other")) is None  # not a death
        assert (death.reason, death._exit_task) == (first_reason, exit_task)
        exit_task.cancel()

    asyncio.run(scenario())


def test_an_engine_that_reports_itself_errored_is_dead_but_not_while_stopping() -> None:
    engine = SimpleNamespace(errored=True)
    stopping = EngineDeath(engine)
    stopping.stopping_on_purpose = True
    stopping.record()
    assert stopping.reason is None and stopping.exit_status == 0

    async def watched() -> EngineDeath:
        death = EngineDeath(engine)
        await asyncio.wait_for(death.watch(), 1)
        death._exit_task.cancel()
        return death

    death = asyncio.run(watched())
    assert death.reason == "the engine reports itself dead"


def test_the_reason_names_the_cause_and_how_the_engine_process_ended() -> None:
    manager = SimpleNamespace(finished_procs=lambda: {"EngineCore": -9, "Other": None})
    engine = SimpleNamespace(engine_core=SimpleNamespace(
        resources=SimpleNamespace(engine_manager=manager)))
    try:
        raise RuntimeError("wrapped") from OSError("pipe closed")
    except RuntimeError as exc:
        error = exc
    assert describe(error) == "RuntimeError: wrapped, caused by OSError: pipe closed"
    assert why_engine_stopped(engine, error) == (
        "RuntimeError: wrapped, caused by OSError: pipe closed; "
        "process EngineCore was killed by SIGKILL")
    assert exit_reason("E", 3) == "process E exited with status 3"
    assert exit_reason("E", -200) == "process E was killed by signal 200"


def test_a_busy_answer_says_when_to_retry() -> None:
    response = busy_response(3, 2)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(BUSY_RETRY_AFTER)
    assert json.loads(response.body)["error"]["type"] == "server_busy"


# --- the ASGI pieces --------------------------------------------------------------------------

def run_asgi(app, path: str, headers: list[tuple[bytes, bytes]]) -> list[dict]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "headers": headers, "method": "GET"}
    asyncio.run(app(scope, receive, send))
    return sent


async def ok_app(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize(("path", "headers", "status"), [
    ("/generate", [], 401),
    ("/generate", [(b"authorization", b"Bearer wrong")], 401),
    ("/metrics", [(b"authorization", b"secret")], 401),  # "Bearer " is part of it
    ("/generate", [(b"authorization", b"Bearer secret")], 200),
    ("/health", [], 200),  # launchers poll it without the key
])
def test_the_api_key_guards_every_route_but_health(path, headers, status) -> None:
    sent = run_asgi(ApiKeyMiddleware(ok_app, api_key="secret"), path, headers)
    assert sent[0]["status"] == status
    if status == 401:
        error = json.loads(sent[1]["body"])["error"]
        assert error["type"] == "authentication_error" and "secret" not in error["message"]


def test_without_a_key_every_route_is_open() -> None:
    assert run_asgi(ApiKeyMiddleware(ok_app, api_key=None), "/generate", [])[0]["status"] == 200


def request_with(chunks: list[bytes], headers: list[tuple[bytes, bytes]] = (),
                 then_disconnect: asyncio.Event | None = None):
    from starlette.requests import Request

    messages = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
                for i, chunk in enumerate(chunks)]

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        if then_disconnect is not None:
            await then_disconnect.wait()
        return {"type": "http.disconnect"}

    return Request({"type": "http", "method": "POST", "headers": list(headers)}, receive)


def test_a_body_is_read_whole_up_to_the_limit() -> None:
    assert asyncio.run(read_body(request_with([b'{"prompt":', b' "a"}']), 100)) == \
        b'{"prompt": "a"}'


@pytest.mark.parametrize(("chunks", "headers", "fragment"), [
    ([b"x" * 60, b"x" * 60], [], "over 100 bytes"),                      # sent, undeclared
    ([b"x"], [(b"content-length", b"5000")], "is 5,000 bytes"),          # declared
])
def test_a_body_over_the_limit_is_a_413(chunks, headers, fragment) -> None:
    with pytest.raises(PayloadError) as info:
        asyncio.run(read_body(request_with(chunks, headers), 100))
    assert info.value.status == 413 and fragment in info.value.message


def test_a_client_that_leaves_triggers_the_action_once_and_only_while_watched() -> None:
    calls: list[str] = []

    async def scenario() -> None:
        leave = asyncio.Event()
        request = request_with([b"{}"], then_disconnect=leave)
        await read_body(request, 100)

        async def abort() -> None:
            calls.append("aborted")

        async with on_disconnect(request, abort, "req-1"):
            await asyncio.sleep(0.01)
            assert calls == []  # still connected
            leave.set()
            await asyncio.sleep(0.01)
        assert calls == ["aborted"]

        work = asyncio.create_task(asyncio.sleep(10))
        gone = request_with([b"{}"])
        await read_body(gone, 100)
        async with on_disconnect(gone, work.cancel, "req-2"):
            await asyncio.wait({work})
        assert work.cancelled()

    asyncio.run(scenario())
