"""The learner's tool offered to its server and run as the chapter runs it: chapter 11's
exercises 1 and 2 ask the learner's server with the tool and run the model's calls through it.

Used by :mod:`helpers.checks.ch11`: :func:`chat` sends a chat request of the check's own to the
learner's server (and says when the server has no tool calling); :func:`tool_calls` reads an
answer's calls; :func:`run_validated` runs the learner's function with a call's arguments as
``run_call`` does (validated and converted by pydantic); :func:`check_bool` says what is wrong
with a result that is not a bool.
"""

from __future__ import annotations

from typing import Any

from helpers.checks import server
from helpers.checks.framework import AnswerRaised, Wrong, call, describe

__all__ = ["chat", "check_bool", "run_validated", "tool_calls"]


def chat(body: dict) -> dict:
    answer = server.ask("openai", "/v1/chat/completions", body)
    if answer.status != 200:
        if "tool-call-parser" in answer.error or "auto-tool-choice" in answer.error:
            raise Wrong(f"your server at {server.base_url('openai')} has no tool calling "
                        f"({answer.status}: {answer.error[:90]}): run the chapter's cell that "
                        "restarts it with TOOL_CALLING_ARGS, then this one again.")
        raise Wrong(f"your server answered {answer.status} to this check's own request with "
                    f"your tool: {answer.error[:200]}")
    return answer.body


def _validated(function: Any) -> Any:
    """The learner's function as run_call runs it: arguments validated and converted to the
    annotated types (a str Enum's member, a float) by pydantic's validate_call."""
    from pydantic import validate_call

    try:
        return validate_call(function)
    except Exception:  # noqa: BLE001 (a callable pydantic cannot wrap: called as it is)
        return function


def run_validated(function: Any, arguments: dict, doing: str) -> Any:
    """Run the learner's function with ``arguments``, validated as run_call does."""
    from pydantic import ValidationError

    try:
        return call(_validated(function), **arguments, doing=doing, limit=30)
    except AnswerRaised as raised:
        if isinstance(raised.error, ValidationError):
            raise Wrong(f"{doing}: the arguments do not fit your function's signature "
                        f"({raised.error.errors()[0]['msg']}).") from None
        raise


def tool_calls(choice: dict) -> list[dict]:
    return (choice.get("message") or {}).get("tool_calls") or []


def check_bool(value: Any, doing: str) -> None:
    if isinstance(value, bool):
        return
    if value is None:
        raise Wrong(f"{doing} returned None: `return` the answer (printing it does not hand it "
                    "to the program, nor to the model).")
    if isinstance(value, str):
        raise Wrong(f"{doing} returned the string {value!r}; expected True or False, a bool "
                    f"(the annotation says -> bool, and json.dumps turns it into true/false).")
    if type(value).__module__ == "numpy":
        raise Wrong(f"{doing} returned NumPy's {value!r}, not Python's bool: the result goes "
                    "back to the model through json.dumps, which cannot write a NumPy bool "
                    "(TypeError). Return bool(...) or a comparison of strings.")
    raise Wrong(f"{doing} returned {describe(value)} ({type(value).__name__}); expected True or "
                "False, a bool: the tool's result goes to the model as JSON true/false, which "
                f"{type(value).__name__} is not.")
