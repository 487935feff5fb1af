"""The job's metric names and its two counter helpers.

Beam's counters only count inside a running step (a runner's state sampler holds the container),
so ``Metrics`` is replaced by a stand-in that records the counters made and their increments:
what is checked is which names are asked for, how often a counter is made, and what is added.
That the names reach Cloud Monitoring is ``tests/unit/deploy/test_monitoring.py``'s concern.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from transactions_pipeline import metrics


@dataclass
class Counter:
    name: str
    increments: list[int] = field(default_factory=list)

    def inc(self, n: int = 1) -> None:
        self.increments.append(n)


@dataclass
class RecordingMetrics:
    made: list[tuple[str, str]] = field(default_factory=list)
    counters: dict[str, Counter] = field(default_factory=dict)

    def counter(self, namespace: str, name: str) -> Counter:
        self.made.append((namespace, name))
        return self.counters.setdefault(name, Counter(name))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> RecordingMetrics:
    stand_in = RecordingMetrics()
    monkeypatch.setattr(metrics, "Metrics", stand_in)
    return stand_in


def test_a_counter_family_makes_each_counter_once_under_its_prefix(recorded):
    family = metrics.CounterFamily(metrics.INVALID_BY_REASON)
    family["bad_price"].inc(2)
    family["bad_price"].inc()
    family["missing_field"].inc()
    assert recorded.made == [("transacoes", "invalid_bad_price"), ("transacoes", "invalid_missing_field")]
    assert recorded.counters["invalid_bad_price"].increments == [2, 1]
    assert family["bad_price"] is recorded.counters["invalid_bad_price"]


def test_throttled_seconds_carry_their_fractions_over(recorded):
    throttled = metrics.ThrottledSeconds()
    for seconds in (0.4, 0.4, 0.4, 2.5, 0.0, 0.35):
        throttled.add(seconds)
    assert recorded.made == [("transacoes", "cumulativeThrottlingSeconds")]
    # 1.2 s: 1 counted, 0.2 carried; 2.7 s: 2 counted, 0.7 carried; 0.7 s: none; 1.05 s: 1 counted
    assert recorded.counters["cumulativeThrottlingSeconds"].increments == [1, 2, 1]


def test_every_metric_name_is_distinct_and_in_one_namespace():
    names = [*metrics.COUNTERS, *metrics.DISTRIBUTIONS]
    assert len(names) == len(set(names))
    assert metrics.NAMESPACE == "transacoes"
    assert metrics.THROTTLED_SECONDS == "cumulativeThrottlingSeconds"  # Beam's name, which the autoscaler reads
    assert not any(name.startswith(prefix) for name in names for prefix in metrics.PREFIXES)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("READ", "read"),
        ("VALID", "valid"),
        ("INVALID", "invalid"),
        ("WRITTEN", "written"),
        ("DEAD_LETTERED", "dead_lettered"),
        ("ROLLUP_WRITTEN", "rollup_written"),
        ("ROLLUP_TOO_LATE", "rollup_too_late"),
        ("WRITE_FRESHNESS_MS_SUM", "write_freshness_ms_sum"),
    ],
)
def test_the_names_the_dashboard_and_alerts_use(name, value):
    assert getattr(metrics, name) == value
