"""``python -m helpers.api_client``: vLLM's example command-line client, against the course server.

Introduced in chapter 00 (``make run`` runs it).

    python -m helpers.api_client --prompt "San Francisco is a"
    python -m helpers.api_client --stream
    python -m helpers.api_client --n 3            # 3 sampled candidates (seeded)
    python -m helpers.api_client --n 3 --beam     # the 3 best beams instead
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from helpers import settings
from helpers.client import generate_url, get_response, get_streaming_response, post_http_request
from helpers.course.servers import KINDS
from helpers.errors import VLLMCourseError
from helpers.stream import SnapshotDeltas


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.api_client",
        description="Send one prompt to a legacy vLLM /generate server and print the "
        "candidates. With --n > 1 the candidates are SAMPLED (temperature 0.8, seed 0 unless "
        "you pass others), because vLLM refuses n > 1 with greedy decoding; add --beam for "
        "beam search (the n best beams) instead.")
    parser.add_argument("--host", default=settings.LOCAL_HOST)
    parser.add_argument("--port", type=int, default=KINDS["legacy"].default_port())
    parser.add_argument("--prompt", default=settings.DEFAULT_PROMPT)
    parser.add_argument("--n", type=int, default=1, help="number of candidates (default 1)")
    parser.add_argument("--stream", action="store_true", help="print the text as it arrives")
    parser.add_argument("--beam", action="store_true",
                        help="beam search with width n (with --stream: one line at the end)")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=None,
                        help="default: 0 (greedy) for n=1, 0.8 for n>1")
    parser.add_argument("--seed", type=int, default=None, help="default 0 when n > 1")
    return parser


def sampling_fields(args: argparse.Namespace) -> dict[str, object]:
    """The request fields that the options ask for."""
    fields: dict[str, object] = {"max_tokens": args.max_tokens}
    if args.beam:
        fields["use_beam_search"] = True
        fields["temperature"] = 0.0 if args.temperature is None else args.temperature
        return fields
    if args.temperature is None:
        fields["temperature"] = 0.8 if args.n > 1 else 0.0
    else:
        fields["temperature"] = args.temperature
    seed = 0 if args.seed is None and args.n > 1 else args.seed
    if seed is not None:
        fields["seed"] = seed
    return fields


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    url = generate_url(f"http://{args.host}:{args.port}")
    label = "Beam candidate" if args.beam else "Candidate"
    print(f"Prompt: {args.prompt!r}\n", flush=True)
    try:
        response = post_http_request(args.prompt, url, args.n, args.stream,
                                     **sampling_fields(args))
        if not args.stream:
            for i, text in enumerate(get_response(response)):
                print(f"{label} {i}: {text!r}", flush=True)
            return 0
        snapshots = get_streaming_response(response)
        if args.n == 1:
            _print_deltas(snapshots, label)
        elif sys.stdout.isatty():
            _redraw(snapshots, label)
        else:
            _print_last(snapshots, label)
        return 0
    except VLLMCourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _print_deltas(snapshots: Iterator[list[str]], label: str) -> None:
    """Print the one candidate's new text as it arrives."""
    deltas = SnapshotDeltas()
    print(f"{label} 0: ", end="")
    for snapshot in snapshots:
        print(deltas.update(snapshot)[0], end="", flush=True)
    print()


def _print_last(snapshots: Iterator[list[str]], label: str) -> None:
    """Print every candidate once the stream has ended (for pipes and logs)."""
    texts: list[str] = []
    for texts in snapshots:  # noqa: B007 - the last snapshot holds the full texts
        pass
    for i, text in enumerate(texts):
        print(f"{label} {i}: {text!r}")


def _redraw(snapshots: Iterator[list[str]], label: str) -> None:
    """Redraw all candidates in place (ANSI cursor moves: terminals only, not notebooks)."""
    shown = 0
    for texts in snapshots:
        if shown:
            print(f"\x1b[{shown}F\x1b[J", end="")
        for i, text in enumerate(texts):
            print(f"{label} {i}: {text!r}", flush=True)
        shown = len(texts)


if __name__ == "__main__":
    sys.exit(main())
