"""The producer's counts and publish latencies, shared by its publishing threads."""

from __future__ import annotations

import threading
from collections import deque


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of ``values`` (not empty), e.g. ``fraction=0.99``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Stats:
    """Counts and recent publish latencies, shared by the publishing threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.published = 0
        self.failed = 0
        self.latencies: deque[float] = deque(maxlen=20_000)

    def percentile(self, fraction: float) -> float | None:
        with self.lock:
            values = list(self.latencies)
        return percentile(values, fraction) if values else None
