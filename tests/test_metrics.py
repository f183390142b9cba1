"""helpers.metrics reads /metrics texts fed as bytes: histograms summed over label sets, the
difference of two scrapes, percentiles from buckets, and the errors of a bad read.

The texts are written in the format vLLM 0.32's /metrics answers (prometheus_client's, with
``_created`` gauges and two label sets when two engines serve); no server is needed.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers.metrics import Histogram, histograms, sample_sum, sample_sums

TTFT = "vllm:time_to_first_token_seconds"
BOUNDS = ("0.01", "0.1", "1.0", "+Inf")


def exposition(counts: dict[str, list[int]], total: dict[str, float],
               running: dict[str, float] | None = None) -> bytes:
    """A /metrics text with one TTFT histogram per engine (``counts``: cumulative per bound)."""
    lines = [f"# HELP {TTFT} Histogram of time to first token in seconds.",
             f"# TYPE {TTFT} histogram"]
    for engine, cumulative in counts.items():
        labels = f'engine="{engine}",model_name="m"'
        lines += [f'{TTFT}_bucket{{{labels},le="{le}"}} {count}.0'
                  for le, count in zip(BOUNDS, cumulative, strict=True)]
        lines += [f"{TTFT}_count{{{labels}}} {cumulative[-1]}.0",
                  f"{TTFT}_sum{{{labels}}} {total[engine]}"]
    lines += [f"# HELP {TTFT}_created Histogram of time to first token in seconds.",
              f"# TYPE {TTFT}_created gauge",
              f'{TTFT}_created{{engine="0",model_name="m"}} 1.7962890261094456e+09',
              "# HELP vllm:num_requests_running Number of requests in model execution batches.",
              "# TYPE vllm:num_requests_running gauge"]
    for engine, value in (running or {"0": 3.0}).items():
        lines.append(f'vllm:num_requests_running{{engine="{engine}",model_name="m"}} {value}')
    return ("\n".join(lines) + "\n").encode()


def test_a_histogram_is_summed_over_its_label_sets() -> None:
    text = exposition({"0": [1, 4, 5, 6], "1": [0, 2, 2, 2]}, {"0": 7.5, "1": 0.3})
    ttft = histograms(text, [TTFT])[TTFT]
    assert ttft.buckets == ((0.01, 1.0), (0.1, 6.0), (1.0, 7.0), (math.inf, 8.0))
    assert (ttft.count, ttft.sum) == (8.0, 7.8)


def test_what_a_run_added_is_the_difference_of_two_scrapes() -> None:
    before = histograms(exposition({"0": [1, 4, 5, 6]}, {"0": 7.5}), [TTFT])[TTFT]
    after = histograms(exposition({"0": [1, 14, 25, 26]}, {"0": 17.5}), [TTFT])[TTFT]
    run = after - before
    assert run.buckets == ((0.01, 0.0), (0.1, 10.0), (1.0, 20.0), (math.inf, 20.0))
    assert (run.count, run.mean) == (20.0, 0.5)
    # p50: the 10th of 20 observations, the last of (0.01, 0.1]; p75: the 15th, in (0.1, 1].
    assert run.bucket_of(0.5) == (0.01, 0.1)
    assert run.bucket_of(0.75) == (0.1, 1.0)
    assert run.bucket_of(0.25) == (0.01, 0.1)


def test_a_quantile_past_the_last_finite_bound_is_only_known_to_lie_above_it() -> None:
    slow = Histogram(TTFT, ((0.1, 1.0), (1.0, 2.0), (math.inf, 10.0)), 10.0, 80.0)
    assert slow.bucket_of(0.99) == (1.0, math.inf)
    assert slow.bucket_of(0.1) == (0.0, 0.1)


def test_nothing_observed_gives_nan_not_a_number_made_up() -> None:
    nothing = Histogram(TTFT, ((0.1, 0.0), (math.inf, 0.0)), 0.0, 0.0)
    assert math.isnan(nothing.mean)
    assert all(math.isnan(bound) for bound in nothing.bucket_of(0.5))


def test_a_restarted_server_or_other_buckets_are_refused() -> None:
    before = histograms(exposition({"0": [1, 4, 5, 6]}, {"0": 7.5}), [TTFT])[TTFT]
    restarted = histograms(exposition({"0": [0, 1, 1, 1]}, {"0": 0.1}), [TTFT])[TTFT]
    with pytest.raises(ValueError, match="restarted"):
        restarted - before
    other = Histogram(TTFT, ((0.5, 1.0), (math.inf, 9.0)), 9.0, 9.0)
    with pytest.raises(ValueError, match="different buckets"):
        other - before


@pytest.mark.parametrize("q", [-0.1, 1.5])
def test_a_quantile_outside_0_1_is_refused(q) -> None:
    ttft = histograms(exposition({"0": [1, 4, 5, 6]}, {"0": 7.5}), [TTFT])[TTFT]
    with pytest.raises(ValueError, match="between 0 and 1"):
        ttft.bucket_of(q)


def test_a_missing_name_or_a_gauge_is_an_error() -> None:
    text = exposition({"0": [1, 4, 5, 6]}, {"0": 7.5})
    with pytest.raises(KeyError, match="vllm:request_queue_time_seconds"):
        histograms(text, [TTFT, "vllm:request_queue_time_seconds"])
    with pytest.raises(ValueError, match="gauge, not a histogram"):
        histograms(text, ["vllm:num_requests_running"])
    with pytest.raises(KeyError, match="vllm:num_requests_waiting"):
        sample_sum(text, "vllm:num_requests_waiting")


def test_sample_sum_adds_label_sets_and_reads_labels_a_regex_would_trip_on() -> None:
    text = exposition({"0": [1, 4, 5, 6]}, {"0": 7.5}, running={"0": 3.0, "1": 2.0})
    assert sample_sum(text, "vllm:num_requests_running") == 5.0
    assert sample_sum(text, f"{TTFT}_count") == 6.0
    # A label value with a brace and spaces in it (a model served under such a name).
    tricky = text.replace(b'model_name="m"} 3.0', b'model_name="a} b 9"} 3.0')
    assert tricky != text
    assert sample_sum(tricky, "vllm:num_requests_running") == 5.0


@given(st.lists(st.floats(0.0, 5.0), min_size=1, max_size=200),
       st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_the_true_percentile_lies_in_the_bucket_named(observations, q) -> None:
    """Bucket observations as a server would; the empirical quantile (the smallest value with
    at least q of the observations at or below it) is inside ``bucket_of(q)``."""
    bounds = [0.01, 0.1, 0.5, 1.0, 2.5, math.inf]
    buckets = tuple((bound, float(sum(x <= bound for x in observations))) for bound in bounds)
    hist = Histogram(TTFT, buckets, float(len(observations)), math.fsum(observations))
    ordered = sorted(observations)
    true = ordered[max(0, math.ceil(q * len(ordered)) - 1)]
    lower, upper = hist.bucket_of(q)
    assert lower <= true <= upper


def test_several_sums_are_read_in_one_pass_and_every_missing_name_is_named() -> None:
    text = exposition({"0": [1, 4, 5, 6]}, {"0": 7.5}, running={"0": 3.0, "1": 2.0})
    assert sample_sums(text, ["vllm:num_requests_running", f"{TTFT}_count"]) == {
        "vllm:num_requests_running": 5.0, f"{TTFT}_count": 6.0}
    with pytest.raises(KeyError, match="vllm:num_requests_waiting, vllm:nothing"):
        sample_sums(text, ["vllm:num_requests_running", "vllm:num_requests_waiting",
                           "vllm:nothing"])
