"""`python -m helpers.api_client`: the seed's three command-line sessions, for real."""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from tests.support import PROMPT


@pytest.fixture
def run_cli(legacy_server):
    port = str(urlsplit(legacy_server.url).port)

    def _run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "helpers.api_client", "--port", port, *args],
                              capture_output=True, text=True, timeout=300)

    return _run


def candidate_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "andidate " in line]


def test_plain(run_cli) -> None:
    result = run_cli("--prompt", PROMPT)
    assert result.returncode == 0, result.stderr
    assert f"Prompt: {PROMPT!r}" in result.stdout
    (line,) = candidate_lines(result.stdout)
    assert line.startswith(f"Candidate 0: {PROMPT!r}"[:-1])


def test_stream(run_cli) -> None:
    result = run_cli("--stream", "--max-tokens", "8")
    assert result.returncode == 0, result.stderr
    (line,) = candidate_lines(result.stdout)
    assert line.startswith(f"Candidate 0: {PROMPT}") and len(line) > len(f"Candidate 0: {PROMPT}")


@pytest.mark.parametrize("extra", [[], ["--beam"]], ids=["sampled", "beam"])
def test_three_candidates(run_cli, extra) -> None:
    result = run_cli("--n", "3", "--max-tokens", "8", *extra)
    assert result.returncode == 0, result.stderr
    lines = candidate_lines(result.stdout)
    assert [line.split(":")[0].split()[-1] for line in lines] == ["0", "1", "2"]
    assert len(set(lines)) == 3


def test_help_says_how_candidates_are_made() -> None:
    result = subprocess.run([sys.executable, "-m", "helpers.api_client", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert "SAMPLED" in result.stdout and "beam search" in result.stdout


def test_unreachable_server_is_a_clear_error_and_exit_code_1() -> None:
    result = subprocess.run([sys.executable, "-m", "helpers.api_client", "--port", "9"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "How to fix" in result.stderr
