"""Before a workshop: does this laptop have what the chapters need, and does it reach the room?

Introduced in the README's "Workshop mode" (the last line of the attendee card)::

    python -m helpers.course.setup_check

In the spirit of the Carpentries' setup check: one line per check, in plain words, and for each
failure what to do about it. It checks the packages the notebooks import (at the versions the
course needs), the room's variables, each of the room's servers (reachable, and the key
accepted), and that a stream arrives as it is generated rather than all at once at the end
(what a buffering proxy on the way does). It sends a few one-token requests and two short
streams; nothing else leaves this machine. Exit status 0 when everything passed.

The checks that decide (:func:`package_problem`, :func:`stream_verdict`, :func:`report`) are
pure functions; the rest asks the servers.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import time
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from helpers import settings
from helpers.course.servers import KINDS

__all__ = ["Check", "package_problem", "report", "run_checks", "stream_verdict"]

_ROOT = Path(__file__).resolve().parents[2]
#: A stream counts as live when its lines arrived spread over at least this share of its
#: duration (a buffering proxy hands every line over at the end: all arrive together).
LIVE_STREAM_SPREAD = 0.25


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it passed, and what to do if not."""

    what: str
    ok: bool
    detail: str = ""
    fix: str = ""


# --- pure parts ----------------------------------------------------------------------------

def required_packages(pyproject: str) -> list[tuple[str, str | None]]:
    """``(distribution, minimum version)`` of the ``libs`` profile in ``pyproject.toml``'s text."""
    libs = tomllib.loads(pyproject)["project"]["optional-dependencies"]["libs"]
    found = []
    for requirement in libs:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(?:>=\s*([0-9][0-9.]*))?.*", requirement)
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def package_problem(name: str, minimum: str | None, installed: str | None) -> str | None:
    """What is wrong with ``name`` at version ``installed`` (``None``: missing), or ``None``."""
    if installed is None:
        return f"{name} is not installed"
    if minimum and _version_tuple(installed) < _version_tuple(minimum):
        return f"{name} {installed} is older than {minimum}, which the chapters need"
    return None


def stream_verdict(arrivals: list[float], total: float) -> tuple[bool, str]:
    """Did a stream arrive live? ``arrivals``: seconds from the request to each line.

    Live: several lines, spread over a good part of the stream's duration. Buffered (a proxy
    that waits for the whole answer): every line at the very end.
    """
    if len(arrivals) < 3:
        return False, f"only {len(arrivals)} line(s) arrived"
    first, last = arrivals[0], arrivals[-1]
    detail = f"{len(arrivals)} lines; the first after {first:.2f} s, the last after {last:.2f} s"
    return last - first >= LIVE_STREAM_SPREAD * max(total, 1e-9), detail


def report(checks: Iterable[Check], *, color: bool = False) -> str:
    """The checks as lines a person reads, then a verdict."""
    checks = list(checks)
    mark = {True: "\033[32m✓\033[0m" if color else "✓", False: "\033[31m✗\033[0m" if color else "✗"}
    lines = ["Checking this machine for the vLLM HTTP course workshop", ""]
    for check in checks:
        lines.append(f"  {mark[check.ok]} {check.what}" + (f": {check.detail}" if check.detail
                                                          else ""))
        if not check.ok and check.fix:
            lines.append(f"      what to do: {check.fix}")
    failed = sum(not check.ok for check in checks)
    lines.append("")
    lines.append("All set: see you at the workshop." if not failed else
                 f"{failed} problem(s) above. Fix them before the workshop, or show this output "
                 "to your instructor.")
    return "\n".join(lines)


# --- the checks that ask something -----------------------------------------------------------

def check_packages(pyproject: Path = _ROOT / "pyproject.toml") -> list[Check]:
    checks = [Check("Python", sys.version_info >= (3, 11), sys.version.split()[0],
                    "the course needs Python 3.11 or newer")]
    problems, found = [], []
    for name, minimum in required_packages(pyproject.read_text()):
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        problem = package_problem(name, minimum, installed)
        (problems.append(problem) if problem else found.append(f"{name} {installed}"))
    checks.append(Check("packages the chapters import", not problems,
                        "; ".join(problems) if problems else ", ".join(found),
                        "in the course folder: pip install -e '.[client]'"))
    return checks


def check_variables() -> list[Check]:
    missing = [spec.remote_variable for spec in KINDS.values() if not spec.remote_url()]
    checks = [Check("the room's server variables", not missing,
                    f"{', '.join(missing)} not set" if missing else "all set",
                    "export every line of the attendee card your instructor shared, in the "
                    "terminal you start JupyterLab from")]
    checks.append(Check("the room's key (VLLM_API_KEY)", settings.api_key() is not None,
                        "set (not shown)" if settings.api_key() else "not set",
                        "export VLLM_API_KEY=... with the key from the attendee card"))
    return checks


def _probe(what: str, call: Callable[[], object]) -> Check:
    """Run one request; turn the outcome into a check with a fix a person can follow."""
    import requests

    try:
        call()
    except requests.ConnectionError as error:
        return Check(what, False, f"cannot connect ({_reason(error)})",
                     "are you on the room's network (Wi-Fi)? Can you open the server's "
                     "/health in a browser? Check the address on the card.")
    except requests.Timeout:
        return Check(what, False, "no answer in time",
                     "a firewall or VPN may drop the traffic: try without the VPN, or "
                     "ask your instructor")
    except _Refused as refused:
        return Check(what, False, str(refused), refused.fix)
    return Check(what, True, "reachable, key accepted")


class _Refused(Exception):
    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def _reason(error: Exception) -> str:
    text = str(error)
    for phrase in ("Connection refused", "Name or service not known", "timed out",
                   "No route to host", "Temporary failure in name resolution"):
        if phrase in text:
            return phrase
    return type(error).__name__


def _expect_ok(response) -> None:
    if response.status_code == 401:
        raise _Refused("the server refused the key (401)",
                       "copy VLLM_API_KEY again from the card: one character off is enough")
    if response.status_code >= 400:
        raise _Refused(f"the server answered {response.status_code}: {response.text[:120]}",
                       "show this line to your instructor")


def check_servers() -> list[Check]:
    """Each server of the room: reachable, and the key accepted (a one-token request each)."""
    import requests

    legacy = KINDS["legacy"].remote_url()
    openai = KINDS["openai"].remote_url()
    router = KINDS["router"].remote_url()
    auth = settings.auth_headers()
    body = {"model": settings.SERVED_MODEL_NAME, "prompt": "Hi", "max_tokens": 1}
    checks = []
    if legacy:
        checks.append(_probe(f"legacy server at {legacy}", lambda: _expect_ok(requests.post(
            f"{legacy}/generate", json={"prompt": "Hi", "max_tokens": 1}, headers=auth,
            timeout=30))))
    if openai:
        checks.append(_probe(f"OpenAI-compatible server at {openai}", lambda: _expect_ok(
            requests.post(f"{openai}/completions", json=body, headers=auth, timeout=30))))
    if router:
        checks.append(_probe(f"router at {router}", lambda: _expect_ok(
            requests.post(f"{router}/v1/completions", json=body, headers=auth, timeout=30))))
    return checks


def _arrivals(url: str, payload: dict, headers: dict) -> tuple[list[float], float]:
    """Seconds from sending ``payload`` to each non-empty line of the streamed answer."""
    import requests

    start = time.perf_counter()
    arrivals = []
    with requests.post(url, json=payload, headers=headers, stream=True, timeout=60) as response:
        _expect_ok(response)
        for line in response.iter_lines():
            if line.strip():
                arrivals.append(time.perf_counter() - start)
    return arrivals, time.perf_counter() - start


def check_streaming() -> list[Check]:
    """A short stream from each API: do its lines arrive as they are generated?"""
    auth = settings.auth_headers()
    streams = []
    if KINDS["legacy"].remote_url():
        streams.append(("streaming from the legacy server", f"{KINDS['legacy'].remote_url()}"
                        "/generate", {"prompt": "Once upon a time", "max_tokens": 48,
                                      "ignore_eos": True, "stream": True}))
    if KINDS["openai"].remote_url():
        streams.append(("streaming from the OpenAI-compatible server",
                        f"{KINDS['openai'].remote_url()}/completions",
                        {"model": settings.SERVED_MODEL_NAME, "prompt": "Once upon a time",
                         "max_tokens": 48, "ignore_eos": True, "stream": True}))
    checks = []
    for what, url, payload in streams:
        outcome: dict = {}

        def measure(url=url, payload=payload, outcome=outcome):
            outcome["arrivals"], outcome["total"] = _arrivals(url, payload, auth)

        probe = _probe(what, measure)
        if not probe.ok:
            checks.append(probe)
            continue
        live, detail = stream_verdict(outcome["arrivals"], outcome["total"])
        checks.append(Check(what, live, detail,
                            "something between you and the server (a proxy, a VPN, an "
                            "antivirus's web filter) holds the stream back until it ends: "
                            "chapters 02 and 05 will look frozen. Try another network or "
                            "switch the filter off, or tell your instructor"))
    return checks


def run_checks() -> list[Check]:
    checks = check_packages() + check_variables()
    if all(check.ok for check in checks[-2:]):  # the variables are there: ask the servers
        checks += check_servers()
        if all(check.ok for check in checks):
            checks += check_streaming()
    return checks


def main() -> int:
    checks = run_checks()
    print(report(checks, color=sys.stdout.isatty()))
    return 0 if all(check.ok for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
