"""What both clients resolve before :mod:`helpers.protocol` decides: settings and the clock.

:mod:`helpers.protocol` is pure; the server's URL and the API key (from
:mod:`helpers.settings`: ``VLLM_API_URL``, ``VLLM_API_KEY``, the local port) and the time a
``Retry-After`` date is counted from are read here, in one copy that the synchronous
(:mod:`helpers.client`) and the asynchronous (:mod:`helpers.aclient`) client share.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from helpers import protocol, settings
from helpers.course.servers import KINDS
from helpers.errors import APIStatusError

__all__ = ["generate_url", "request_headers", "status_error"]


def generate_url(base_url: str | None = None) -> str:
    """The ``/generate`` URL of ``base_url`` (default: ``VLLM_API_URL``, else the local server)."""
    return protocol.generate_url(base_url or KINDS["legacy"].url())


def request_headers(api_key: str | None = None) -> dict[str, str]:
    """The headers of every request, with ``api_key`` (default: ``VLLM_API_KEY``, if set)."""
    return protocol.request_headers(api_key if api_key is not None else settings.api_key())


def status_error(status_code: int, content: bytes, url: str,
                 headers: Mapping[str, str]) -> APIStatusError:
    """The typed error of an HTTP error answer whose body was read, counted from now."""
    return protocol.status_error(status_code, content, url, headers, now=time.time())
