"""Read vLLM's Prometheus metrics (``GET /metrics``) from a running server.

Introduced in chapter 02 (a closed stream aborts its request), used in chapter 04, and in
chapter 06 for the latencies the server itself measured. The text is read with
``prometheus_client``'s parser, the library Prometheus' own Python client ships, not by regex.

A histogram (``vllm:time_to_first_token_seconds``, ``vllm:request_queue_time_seconds``,
``vllm:e2e_request_latency_seconds``, ``vllm:inter_token_latency_seconds``) counts every
observation since the server started, into cumulative buckets (``le``: "less than or equal").
What one run added is the difference of two scrapes, before and after it::

    before = histograms(scrape(url), NAMES)
    ...                                   # the run
    after = histograms(scrape(url), NAMES)
    ttft = after["vllm:time_to_first_token_seconds"] - before["vllm:time_to_first_token_seconds"]
    ttft.count, ttft.mean, ttft.bucket_of(0.95)

A percentile read from buckets is known only to its bucket (Prometheus' ``histogram_quantile``
interpolates inside it): :meth:`Histogram.bucket_of` gives the bucket's bounds, which is all
that is certain.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import requests
from prometheus_client.parser import text_string_to_metric_families

from helpers import settings

__all__ = ["E2E", "IN_SERVER", "GaugeWatch", "Histogram", "gained", "histograms", "metric_value",
           "metric_values", "requests_running", "sample_sum", "sample_sums", "scrape",
           "wait_for_running"]

#: The histogram of whole requests: one observation per finished request.
E2E = "vllm:e2e_request_latency_seconds"
#: The gauges of the requests in a server: in the running batch, and waiting for a place in it.
IN_SERVER = ("vllm:num_requests_running", "vllm:num_requests_waiting")


def scrape(base_url: str, *, timeout: float = 5.0) -> str:
    """The text of ``base_url``'s ``/metrics`` (``base_url`` may end in ``/v1``: the metrics
    live at the server's root), with the key of ``VLLM_API_KEY`` when one is set."""
    root = base_url.rstrip("/").removesuffix("/v1")
    response = requests.get(root + "/metrics", headers=settings.auth_headers(), timeout=timeout)
    response.raise_for_status()
    return response.text


def _text(exposition: str | bytes) -> str:
    return exposition.decode("utf-8") if isinstance(exposition, bytes) else exposition


def sample_sums(exposition: str | bytes, names: Iterable[str]) -> dict[str, float]:
    """For each of ``names``, the sum of every sample so called (over its labels) in a
    ``/metrics`` text, read in one pass. Raises ``KeyError`` for a name no sample has."""
    values: dict[str, list[float]] = {name: [] for name in names}
    for family in text_string_to_metric_families(_text(exposition)):
        for sample in family.samples:
            if sample.name in values:
                values[sample.name].append(sample.value)
    if missing := [name for name, found in values.items() if not found]:
        raise KeyError(f"not in the metrics: {', '.join(missing)}")
    return {name: math.fsum(found) for name, found in values.items()}


def sample_sum(exposition: str | bytes, name: str) -> float:
    """:func:`sample_sums` of one name."""
    return sample_sums(exposition, [name])[name]


def metric_values(base_url: str, names: Iterable[str], *,
                  timeout: float = 5.0) -> dict[str, float]:
    """:func:`sample_sums` of ``base_url``'s metrics: one scrape for all ``names``."""
    try:
        return sample_sums(scrape(base_url, timeout=timeout), names)
    except KeyError as missing:
        raise KeyError(f"{missing.args[0]} (at {base_url}/metrics)") from None


def metric_value(base_url: str, name: str, *, timeout: float = 5.0) -> float:
    """The sum of every sample of metric ``name`` (over its labels) at ``base_url``."""
    return metric_values(base_url, [name], timeout=timeout)[name]


@dataclass(frozen=True)
class Histogram:
    """One Prometheus histogram: ``buckets`` are ``(upper bound, cumulative count)`` in
    increasing order, the last bound ``inf``; ``count`` and ``sum`` are its totals."""

    name: str
    buckets: tuple[tuple[float, float], ...]
    count: float
    sum: float

    def __sub__(self, earlier: Histogram) -> Histogram:
        """What was observed between the scrape of ``earlier`` and this one."""
        if [bound for bound, _ in self.buckets] != [bound for bound, _ in earlier.buckets]:
            raise ValueError(f"{self.name}: the two scrapes have different buckets")
        buckets = tuple((bound, now - then)
                        for (bound, now), (_, then) in zip(self.buckets, earlier.buckets,
                                                           strict=True))
        if self.count < earlier.count or any(count < 0 for _, count in buckets):
            raise ValueError(f"{self.name} went down between the scrapes: the server restarted "
                             "(its counts began again at zero); scrape again before the run")
        return Histogram(self.name, buckets, self.count - earlier.count, self.sum - earlier.sum)

    @property
    def mean(self) -> float:
        """The exact mean (``sum / count``); ``nan`` when nothing was observed."""
        return self.sum / self.count if self.count else math.nan

    def bucket_of(self, q: float) -> tuple[float, float]:
        """``(lower, upper)``: the bounds of the bucket that holds quantile ``q`` (0.95 for
        p95; ``upper`` is ``inf`` past the last finite bound); ``(nan, nan)`` when nothing was
        observed."""
        if not 0 <= q <= 1:
            raise ValueError(f"a quantile is between 0 and 1, not {q!r}")
        if not self.count:
            return math.nan, math.nan
        rank = q * self.count
        i = next(i for i, (_, count) in enumerate(self.buckets) if count >= rank)
        return (self.buckets[i - 1][0] if i else 0.0), self.buckets[i][0]


def histograms(exposition: str | bytes, names: Iterable[str]) -> dict[str, Histogram]:
    """The histograms called ``names`` in a ``/metrics`` text, each summed over its label
    sets (one per engine and model). Raises ``KeyError`` for a name that is not there and
    ``ValueError`` for one that is not a histogram."""
    wanted = set(names)
    found: dict[str, Histogram] = {}
    for family in text_string_to_metric_families(_text(exposition)):
        if family.name not in wanted:
            continue
        if family.type != "histogram":
            raise ValueError(f"{family.name} is a {family.type}, not a histogram")
        buckets: dict[float, float] = defaultdict(float)
        totals = {"_count": 0.0, "_sum": 0.0}
        for sample in family.samples:
            suffix = sample.name.removeprefix(family.name)
            if suffix == "_bucket":
                buckets[float(sample.labels["le"])] += sample.value
            elif suffix in totals:
                totals[suffix] += sample.value
        found[family.name] = Histogram(family.name, tuple(sorted(buckets.items())),
                                       totals["_count"], totals["_sum"])
    if missing := wanted - found.keys():
        raise KeyError(f"not in the metrics: {', '.join(sorted(missing))}")
    return found


def gained(base_url: str, before: dict[str, Histogram], *, finished: int,
           within: float = 10.0, every: float = 0.2) -> dict[str, Histogram]:
    """What the histograms in ``before`` (a :func:`histograms` result that holds :data:`E2E`)
    gained at ``base_url`` since, read once :data:`E2E` has counted ``finished`` more requests:
    a server records a request as it ends, a moment after its last bytes left. After
    ``within`` seconds, what it has so far (the caller compares the counts)."""
    deadline = time.monotonic() + within
    while True:
        after = histograms(scrape(base_url), before)
        run = {name: after[name] - before[name] for name in before}
        if run[E2E].count >= finished or time.monotonic() > deadline:
            return run
        time.sleep(every)


class GaugeWatch:
    """Scrape gauges (``vllm:num_requests_running``, ``vllm:num_requests_waiting``) every
    ``every`` seconds while a block runs::

        async with GaugeWatch(url, ["vllm:num_requests_waiting"]) as watch:
            await run()
        watch.peak("vllm:num_requests_waiting"), watch.samples  # [(seconds, {name: value})]

    The scrapes run in a thread, so a slow server does not stall the event loop; a scrape that
    fails leaves no sample.
    """

    def __init__(self, base_url: str, names: Iterable[str], *, every: float = 0.25) -> None:
        self.base_url, self.names, self.every = base_url, list(names), every
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._task: asyncio.Task | None = None

    async def _poll(self) -> None:
        start = time.perf_counter()
        while True:
            try:
                text = await asyncio.to_thread(scrape, self.base_url)
            except requests.RequestException:
                text = None  # a scrape that failed or timed out on a busy server: no sample
            if text is not None:
                self.samples.append((time.perf_counter() - start, sample_sums(text, self.names)))
            await asyncio.sleep(self.every)

    async def __aenter__(self) -> GaugeWatch:
        self._task = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def peak(self, name: str) -> float:
        """The highest value of ``name`` seen (0 when no scrape finished)."""
        return max((values[name] for _, values in self.samples), default=0.0)


def requests_running(base_url: str) -> int:
    """How many requests the engine is generating right now (``vllm:num_requests_running``)."""
    return int(metric_value(base_url, "vllm:num_requests_running"))


def wait_for_running(base_url: str, expected: int, *, within: float = 30.0,
                     interval: float = 0.1) -> int:
    """Poll :func:`requests_running` until it equals ``expected`` or ``within`` seconds have
    passed; return the last value (``expected`` unless the wait timed out)."""
    deadline = time.monotonic() + within
    while (value := requests_running(base_url)) != expected and time.monotonic() < deadline:
        time.sleep(interval)
    return value
