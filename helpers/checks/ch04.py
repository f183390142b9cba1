"""The checkers of chapter 04's exercises (error handling). See :mod:`helpers.checks.framework`.

Both checks call the learner's function itself, on inputs of the check's own that the notebook
never uses, and judge what it did:

- Exercise 1 (``generate_or_explain``): a prompt and a ``max_tokens`` the check picks at random,
  at temperature 0, compared with what the learner's legacy server answers the check's own
  request now; a field with a typo of the check's own (a real 400 from that server); a free
  port where nothing listens (not the notebook's port 9); and a 503 from a small scripted
  server of the check's own (an error the notebook never shows this function).
- Exercise 2 (``careful``, a tenacity policy): the learner's decorated function is run, body
  and all, against a scripted server of the check's own that answers a table of failures (a
  503 and a 429, each with a ``Retry-After`` the check picks at random; 503s without one; a
  400), and against a free port where nothing listens, with tenacity's sleep replaced by one
  that records the waits instead of waiting (a fake clock: the check takes no time). It
  measures the attempts (counted by the scripted server), the waits, whether ``Retry-After``
  is followed, whether the backoff has jitter, whether the policy stops, and what the caller
  gets. Then one real request to the learner's server, compared with the check's own.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import random
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from helpers import errors
from helpers.checks import server
from helpers.checks.framework import AnswerRaised, Chapter, Wrong, call, describe
from helpers.client import get_response, post_http_request
from helpers.course.ports import free_port

__all__ = ["chapter", "exercise1", "exercise2", "progress"]

chapter = Chapter("04", "04_error_handling.ipynb")

#: Prompts of the check's own (the notebook uses "Hi" and "Once upon a time"): open-ended, so
#: that a greedy answer runs on (a request that drops the check's max_tokens cannot match).
PROMPTS = ["The old lighthouse keeper", "In the middle of the forest there", "Every morning, my "
           "neighbour", "The train left the station and", "She opened the letter and",
           "On the first day of school,"]
#: Field-name typos of the check's own (the notebook shows max_token).
TYPOS = ["temprature", "max_tokns", "top_pp", "seeds"]
#: Seconds a check's call of the learner's function may take (a refused connection is quick).
CALL_SECONDS = 60.0


# A small scripted server of the check's own --------------------------------------------------

class Scripted:
    """An HTTP server on a free local port that answers each POST with the next answer of a
    script (the last one repeats) and counts the requests: the attempts of the learner's
    function, seen from the server's side. ``script``: (status, headers, JSON body) triples."""

    def __init__(self, script: list[tuple[int, dict, Any]]) -> None:
        self.script, self.requests = list(script), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    owner.requests.append(json.loads(raw or b"null"))
                except ValueError:
                    owner.requests.append(raw)
                index = min(len(owner.requests), len(owner.script)) - 1
                status, headers, body = owner.script[index]
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, str(value))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/generate"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="check's scripted server")

    def __enter__(self) -> Scripted:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


def _error_body(status: int, message: str, kind: str) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": status}}


def busy(retry_after: int | None = None) -> tuple[int, dict, Any]:
    """A 503 as vLLM's busy server sends it (with ``Retry-After`` when given)."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return 503, headers, _error_body(503, "The server is busy.", "server_busy")


def rate_limited(retry_after: int) -> tuple[int, dict, Any]:
    return 429, {"Retry-After": retry_after}, _error_body(429, "Too many requests.",
                                                          "rate_limit")


def bad_request() -> tuple[int, dict, Any]:
    return 400, {}, _error_body(400, 'Unknown field "max_tokns".', "invalid_request_error")


def answered(text: str) -> tuple[int, dict, Any]:
    return 200, {}, {"text": [text]}


def nowhere() -> str:
    """A /generate URL on a free local port, where nothing listens (a refused connection)."""
    return f"http://127.0.0.1:{free_port()}/generate"


# Exercise 1 -----------------------------------------------------------------------------------

def _server_url(function: Any) -> str:
    """The URL the learner's function uses by default, else the course's legacy server."""
    try:
        default = inspect.signature(function).parameters["url"].default
    except (KeyError, TypeError, ValueError):
        default = inspect.Parameter.empty
    if isinstance(default, str) and default.startswith("http"):
        return default
    return server.base_url("legacy") + "/generate"


def _expected_error(url: str, **fields: Any) -> errors.VLLMCourseError:
    try:
        get_response(post_http_request("Hi", url, timeout=(5, 60), **fields))
    except errors.VLLMCourseError as error:
        return error
    raise Wrong(f"this check sent {fields} to {url} and it was accepted, where an error was "
                "expected: is that the course's legacy server?")


def _server_texts(prompt: str, max_tokens: int) -> list[str]:
    body = server.ask_ok("legacy", "/generate", {"prompt": prompt, "max_tokens": max_tokens,
                                                 "temperature": 0, "ignore_eos": True})
    return list(body.get("text", [])) if isinstance(body, dict) else []


def _judge_texts(texts: Any, prompt: str, max_tokens: int, doing: str, printed: str = "") -> str:
    """The learner's texts for the check's own greedy request, against the server's answer
    to the same request now; returns what was compared (for the verdict)."""
    if hasattr(texts, "status_code"):
        raise Wrong(f"{doing} returned the HTTP response itself: get_response(response) "
                    "turns it into the texts.")
    if isinstance(texts, list) and texts == []:
        said = f" (it printed {describe(printed.strip(), 60)})" if printed.strip() else ""
        raise Wrong(f"{doing}, a request that works, returned []{said}: return the texts "
                    "when there is no error.")
    if isinstance(texts, str):
        raise Wrong(f"{doing} returned one string, {describe(texts, 50)}; expected the list "
                    "of texts, as get_response gives.")
    try:
        texts = list(texts)
    except TypeError:
        raise Wrong(f"{doing}, a request that works, returned {describe(texts)}; expected the "
                    "list of texts (each starts with the prompt), as get_response gives."
                    ) from None
    if not (len(texts) == 1 and isinstance(texts[0], str)):
        raise Wrong(f"{doing}, a request that works, returned {describe(texts)}; expected a "
                    "list of one text (n=1), as get_response gives.")
    if not texts[0].startswith(prompt):
        raise Wrong(f"{doing} returned {describe(texts[0], 60)}, which does not start with "
                    f"the check's prompt {prompt!r}: it did not send the prompt it was given "
                    "(the legacy server's texts start with their prompt).")
    expected = _server_texts(prompt, max_tokens)
    if texts == expected:
        return f"the same text as your server gives the check's own request, {prompt!r}"
    if server.shared("legacy"):  # a room's server batches everyone's requests
        return (f"a text that starts with the check's prompt {prompt!r} (the room's server "
                "batches everyone's requests, so its greedy text can vary)")
    again = _server_texts(prompt, max_tokens)  # greedy, but batching can tip a close call
    if texts == again:
        return f"the same text as your server gives the check's own request, {prompt!r}"
    raise Wrong(f"{doing} returned {describe(texts[0], 70)}; your server answers the same "
                f"request (temperature 0, exactly {max_tokens} tokens) with "
                f"{describe(expected[0] if expected else expected, 70)}: your function did "
                "not return what the server answered it (fixed text, or fields left out?).")


@chapter.exercise("Generate, or explain why not", hints=[
    "Wrap get_response(post_http_request(prompt, url, **fields)) in try/except, and catch "
    "the course client's base class, errors.VLLMCourseError.",
    "In the except branch: print(type(error).__name__, '->', error.hint) and return []. "
    "Give the function a url=api_url parameter, so that you can try a wrong port.",
], function="generate_or_explain", limit=240)
def exercise1(generate_or_explain: Any) -> str:
    try:
        parameters = inspect.signature(generate_or_explain).parameters
    except (TypeError, ValueError):
        parameters = {}
    if parameters and "url" not in parameters:
        raise Wrong("your function has no `url` parameter: give it one, `url=api_url`, so that "
                    "you (and this check) can try a wrong port.")
    url = _server_url(generate_or_explain)
    # The refused connection first: it needs no server, and the learner sees it soonest.
    refused = nowhere()
    _explains(generate_or_explain, "a free port where nothing listens", {"url": refused},
              _expected_error(refused))
    with Scripted([busy(retry_after=2)]) as scripted:
        _explains(generate_or_explain, "a server of the check's own that answers 503",
                  {"url": scripted.url}, _expected_error(scripted.url))
    prompt, max_tokens = random.choice(PROMPTS), random.randint(3, 7)
    doing = (f"calling generate_or_explain({prompt!r}, max_tokens={max_tokens}, "
             "temperature=0, ignore_eos=True) (the check's own request)")
    texts, printed = _run(generate_or_explain, doing, prompt, max_tokens=max_tokens,
                          temperature=0, ignore_eos=True)
    compared = _judge_texts(texts, prompt, max_tokens, doing, printed)
    typo = random.choice(TYPOS)
    _explains(generate_or_explain, f"a typo of the check's own, {typo}", {typo: 1},
              _expected_error(url, **{typo: 1}))
    return (f"[] and the error's hint for a refused connection, a 503 and a typo ({typo}: a "
            f"400); for a good request, {compared}.")


def _explains(function: Any, label: str, kwargs: dict, expected: errors.VLLMCourseError) -> None:
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    doing = f"calling generate_or_explain('Hi', {shown}) ({label})"
    try:
        result, printed = _run(function, doing, "Hi", **kwargs)
    except AnswerRaised as raised:
        if isinstance(raised.error, errors.VLLMCourseError):
            raise Wrong(f"{doing}, your function let {type(raised.error).__name__} escape: "
                        "catch errors.VLLMCourseError, the base class of every error of the "
                        "course client (it does not raise requests' exceptions).") from None
        raise
    if result is None:
        raise Wrong(f"{doing} returned None: return [] after printing the hint, so that a "
                    "caller can still loop over the answer.")
    if not (isinstance(result, list | tuple) and len(result) == 0):
        raise Wrong(f"{doing} returned {describe(result)}; expected [] (an empty list).")
    if not printed.strip():
        raise Wrong(f"{doing} returned [] but printed nothing: print the error's hint "
                    "(error.hint), which says how to fix it.")
    if expected.hint and expected.hint[:40] not in printed:
        raise Wrong(f"{doing} printed {describe(printed.strip(), 60)}, but not this error's "
                    f"hint ({type(expected).__name__}: {describe(expected.hint, 60)}): print "
                    "error.hint, the hint of the error that was raised.")


def _run(function: Any, doing: str, *args: Any, **kwargs: Any) -> tuple[Any, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = call(function, *args, doing=doing, limit=CALL_SECONDS, **kwargs)
    return result, out.getvalue()


# Exercise 2 -----------------------------------------------------------------------------------

#: A policy still retrying after this many attempts does not stop (the fake clock never runs
#: out, so a delay-based stop never fires).
ENDLESS = 10


class _Endless(BaseException):
    """Raised by the fake sleep once a policy has made ENDLESS attempts (not an Exception:
    a learner's predicate that catches everything must not swallow it)."""


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        yield out


class Run:
    """One call of the learner's decorated function through its own policy, with tenacity's
    sleep replaced by one that records each wait: attempts, waits, and what came out."""

    def __init__(self, careful: Any, label: str, url: str, prompt: str = "Hi",
                 **fields: Any) -> None:
        self.label, self.waits = label, []
        self.result: Any = None
        self.error: BaseException | None = None
        self.endless = False
        shown = "".join(f", {k}={v!r}" for k, v in fields.items())
        self.doing = f"calling careful({prompt!r}, url=...{shown}) ({label})"
        try:
            patient = careful.retry_with(sleep=self._sleep)
        except Exception as error:  # a policy tenacity cannot copy (its own arguments' fault)
            raise AnswerRaised(error, "copying your policy (careful.retry_with)") from error
        self.statistics = getattr(patient, "statistics", {})
        try:
            with _quiet():
                self.result = call(patient, prompt, url=url, doing=self.doing,
                                   limit=CALL_SECONDS, **fields)
        except AnswerRaised as raised:
            self.error = raised.error
            if not isinstance(raised.error, errors.VLLMCourseError | _tenacity().RetryError):
                _policy_failed(raised)
        except _Endless:
            self.endless = True

    def _sleep(self, seconds: float) -> None:
        self.waits.append(float(seconds))
        if len(self.waits) >= ENDLESS - 1:
            raise _Endless()

    @property
    def attempts(self) -> int:
        """Attempts by tenacity's count (the calls of the body), else by the waits."""
        counted = self.statistics.get("attempt_number") if self.statistics else None
        return int(counted) if counted else len(self.waits) + 1


def _tenacity() -> Any:
    import tenacity

    return tenacity


def _in_policy(error: BaseException) -> bool:
    """True when ``error`` came out of tenacity's own code or the check's sleep (a wait
    function's value that tenacity could not use), not out of the learner's function."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and ("tenacity" in frames[-1].filename
                             or frames[-1].filename == __file__)


def _policy_failed(raised: AnswerRaised) -> None:
    """The learner's code raised something else than the client's errors: name the known
    mistakes of a policy (its wait or retry function), else report it as raised."""
    error = raised.error
    if isinstance(error, TypeError) and "NoneType" in str(error) and _in_policy(error):
        raise Wrong("your wait function returned None (an error without Retry-After, "
                    "whose .retry_after is None): fall back to a backoff, "
                    "`... or wait_random_exponential(...)(state)`.") from None
    if isinstance(error, AttributeError) and "retry_after" in str(error):
        raise Wrong(f"your wait function read .retry_after of a {type(error.obj).__name__}, "
                    "but only the status errors have .retry_after: use "
                    "getattr(error, 'retry_after', None).") from None
    raise raised


def _decorated(answer: Any) -> Any:
    tenacity = _tenacity()
    if isinstance(getattr(answer, "retry", None), tenacity.BaseRetrying) and callable(
            getattr(answer, "retry_with", None)):
        return answer
    if isinstance(answer, tenacity.BaseRetrying):
        raise Wrong("you gave the policy alone (a tenacity Retrying); expected your function "
                    "decorated with it, @retry(...) def careful(prompt, url=api_url, "
                    "**fields): the check runs the function, body and all.")
    raise Wrong(f"expected your function decorated with tenacity's @retry(...) (it carries its "
                f"policy in .retry); got {describe(answer)}. This check runs it through that "
                "policy.")


def _no_request(run: Run, scripted: Scripted) -> None:
    if not scripted.requests:
        got = describe(run.result if run.error is None else run.error, 60)
        raise Wrong(f"{run.doing}: the check's server got no request at all, and your function "
                    f"gave {got}. Its body must send the request to the url it is given: "
                    "get_response(post_http_request(prompt, url, **fields)).")


def _retry_after(careful: Any, make: Any, name: str, seconds: int) -> Run:
    text = f"Hi from the check's server ({seconds})"
    with Scripted([make(seconds), answered(text)]) as scripted:
        run = Run(careful, f"{name} with Retry-After: {seconds}, then an answer", scripted.url)
        _no_request(run, scripted)
    if len(scripted.requests) == 1:
        raise Wrong(f"{run.doing}: {name} was not retried: the server says \"not now\", "
                    "worth a retry (errors.RateLimitError and errors.InternalServerError, "
                    "whose subclass ServiceUnavailableError is).")
    if run.error is not None or run.result != [text]:
        got = describe(run.error if run.error is not None else run.result, 60)
        raise Wrong(f"{run.doing}: your function gave {got}; expected the second try's "
                    f"answer, {[text]!r} (return what get_response gives).")
    waited = run.waits[0] if run.waits else 0.0
    if waited < seconds - 1e-6:
        raise Wrong(f"{run.doing}: the server said Retry-After: {seconds} s and your policy "
                    f"waited {waited:.2f} s: use the error's .retry_after in your wait "
                    "function when it is set.")
    if waited > seconds + 1 + 0.25 * seconds:
        raise Wrong(f"{run.doing}: the server said Retry-After: {seconds} s and your policy "
                    f"waited {waited:.2f} s: a wait that does not follow the error's "
                    ".retry_after (a fixed wait?) makes every caller wait too long or too "
                    "little. Return .retry_after when it is set.")
    return run


@chapter.exercise("A retry policy that cannot hang a notebook", hints=[
    "Start from generate_with_retry: keep retry=retry_if_exception(worth_retrying) and the "
    "Retry-After wait, and stop after a number of attempts instead of a delay.",
    "stop=stop_after_attempt(3) (the first try counts), reraise=True (the caller sees the "
    "client's error, not tenacity's RetryError), and a wait that returns the error's "
    ".retry_after when it has one, else a short wait_random_exponential(multiplier=0.05, "
    "max=0.2).",
], limit=240)
def exercise2(careful: Any) -> str:
    tenacity = _tenacity()
    careful = _decorated(careful)

    # A refused connection (a free port of the check's own): retried, 3 attempts in all.
    refused = Run(careful, "a free port where nothing listens", nowhere())
    if refused.endless:
        raise Wrong(f"{refused.doing}: still retried after {ENDLESS} attempts (the check's "
                    "clock does not move, so a delay alone never stops it): stop after 3 in "
                    "all, stop=stop_after_attempt(3).")
    if isinstance(refused.error, tenacity.RetryError):
        raise Wrong(f"{refused.doing}: after {refused.attempts} attempts your function raised "
                    "tenacity's RetryError, which hides the client's ServerUnreachableError: "
                    "add reraise=True.")
    if refused.error is None:
        raise Wrong(f"{refused.doing}: your function returned {describe(refused.result)} "
                    "without an error, for a port where nothing listens, after "
                    f"{refused.attempts} attempt(s). Its body must send the request to the url "
                    "it is given and let the client's error out (no try/except in it): a "
                    "policy retries only what the function raises.")
    if refused.attempts == 1:
        raise Wrong(f"{refused.doing}: tried once. A refused connection "
                    f"({type(refused.error).__name__}) is worth retrying (the "
                    "APIConnectionError family: the server may be restarting).")
    if refused.attempts != 3:
        extra = (" \"At most 3 times in all\" counts the first try: stop_after_attempt(3)."
                 if refused.attempts == 4 else "")
        raise Wrong(f"{refused.doing}: tried {refused.attempts} times; expected exactly 3."
                    f"{extra}")
    if max(refused.waits, default=0) > 10:
        raise Wrong(f"{refused.doing}: your policy waits up to {max(refused.waits):.0f} s "
                    "between tries of a refused connection: make the waits short (max=0.2 for "
                    "the test).")

    # 503 and 429, each with a Retry-After of the check's own, then an answer.
    first, second = random.sample(range(2, 10), 2)
    _retry_after(careful, busy, "a 503 (ServiceUnavailableError)", first)
    _retry_after(careful, rate_limited, "a 429 (RateLimitError)", second)

    # 503s without Retry-After: the backoff (twice, to see whether it has jitter).
    backoffs = []
    for attempt in range(2):
        text = f"Hi after two 503s ({attempt})"
        with Scripted([busy(), busy(), answered(text)]) as scripted:
            run = Run(careful, "two 503s without Retry-After, then an answer", scripted.url)
            _no_request(run, scripted)
        if run.error is not None or run.result != [text] or len(scripted.requests) != 3:
            got = describe(run.error if run.error is not None else run.result, 60)
            raise Wrong(f"{run.doing}: your function sent {len(scripted.requests)} request(s) "
                        f"and gave {got}; expected 3 requests and the third one's answer, "
                        f"{[text]!r}.")
        if max(run.waits, default=0) > 10:
            raise Wrong(f"{run.doing}: your policy waited {describe(run.waits)} s without a "
                        "Retry-After: make the backoff short (max=0.2 for the test).")
        backoffs.append(run.waits)
    jitter = backoffs[0] != backoffs[1]

    # A 400 (the check's server's, then the learner's own server's): never retried.
    with Scripted([bad_request()]) as scripted:
        run = Run(careful, "a server of the check's own that answers 400", scripted.url)
        _no_request(run, scripted)
    if len(scripted.requests) > 1:
        raise Wrong(f"{run.doing}: tried {len(scripted.requests)} times: a 4xx fails the same "
                    "way every time. Retry only what is worth it: "
                    "retry=retry_if_exception(worth_retrying).")
    if isinstance(run.error, tenacity.RetryError):
        raise Wrong(f"{run.doing}: your function raised tenacity's RetryError, which hides the "
                    "client's BadRequestError: add reraise=True.")
    if not isinstance(run.error, errors.BadRequestError):
        raise Wrong(f"{run.doing}: your function gave {describe(run.result, 60)}; expected "
                    "the client's BadRequestError to reach the caller.")

    # One real request to the learner's own server, compared with the check's own.
    url = _server_url(careful)
    prompt, max_tokens = random.choice(PROMPTS), random.randint(3, 7)
    real = Run(careful, "your server, the check's own request", url, prompt,
               max_tokens=max_tokens, temperature=0, ignore_eos=True)
    if real.error is not None:
        raise Wrong(f"{real.doing}: your function raised {type(real.error).__name__}: "
                    f"{str(real.error).splitlines()[0] if str(real.error) else ''} (is your "
                    "server running? start_server())")
    compared = _judge_texts(real.result, prompt, max_tokens, real.doing)
    typo = random.choice(TYPOS)
    real400 = Run(careful, f"your server, a typo of the check's own ({typo})", url,
                  **{typo: 1})
    if real400.attempts > 1 or not isinstance(real400.error, errors.BadRequestError):
        got = describe(real400.error if real400.error is not None else real400.result, 60)
        raise Wrong(f"{real400.doing}: {real400.attempts} attempt(s), and your function gave "
                    f"{got}; expected one attempt and the client's BadRequestError.")

    return (f"a refused connection tried 3 times (waits {_seconds(refused.waits)}), the "
            f"client's error re-raised; a 503 and a 429 retried after their Retry-After "
            f"({first} s, {second} s); 503s without it after a short backoff "
            f"({'with' if jitter else 'without'} jitter); a 400 tried once; and on your "
            f"server, {compared}.")


def _seconds(waits: list[float]) -> str:
    return ", ".join(f"{w:.2f}" for w in waits) + " s" if waits else "none"


def progress() -> str:
    """This chapter's exercises: ✓ done, ✗ last try failed, · not tried."""
    return chapter.progress()
