"""A monotonic clock that only ``sleep`` moves: retry loops tested by time, in no time."""

from __future__ import annotations


class FakeClock:
    """Call it for the time; pass its ``sleep`` where the code sleeps, and read what it slept."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
