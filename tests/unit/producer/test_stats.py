"""The producer's counts and latency percentiles, exactly (nearest rank)."""

import pytest

from producer.stats import Stats, percentile


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([5.0], 0.5, 5.0),
        ([5.0], 0.99, 5.0),
        ([3.0, 1.0, 2.0], 0.0, 1.0),
        ([3.0, 1.0, 2.0], 0.5, 2.0),
        ([3.0, 1.0, 2.0], 1.0, 3.0),
        ([float(n) for n in range(1, 101)], 0.5, 51.0),
        ([float(n) for n in range(1, 101)], 0.99, 100.0),
        ([float(n) for n in range(100, 0, -1)], 0.9, 91.0),
    ],
)
def test_nearest_rank_percentile(values, fraction, expected):
    assert percentile(values, fraction) == expected


def test_stats_start_empty_and_keep_the_latest_20000_latencies():
    stats = Stats()
    assert (stats.published, stats.failed, stats.percentile(0.5)) == (0, 0, None)
    stats.latencies.extend(float(n) for n in range(25_000))
    assert len(stats.latencies) == 20_000
    assert stats.percentile(0.0) == 5_000.0
    assert stats.percentile(0.5) == 15_000.0
