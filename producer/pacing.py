"""A drift-free schedule: message n is due at start + n / rate.

Sleeping ``1 / rate`` after each message drifts (every sleep overshoots) and caps the rate at
what one sleep can resolve. Here the producer asks how many messages are due *now* and sends
them all, then sleeps until the next one is due, so the long-run rate is exact and a slow
moment is caught up rather than lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    def __init__(
        self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._start = clock()
        self._sent = 0

    def due(self, wanted: int) -> int:
        """How many of ``wanted`` messages may go now (all of them when the rate is 0)."""
        if self._rate <= 0:
            self._sent += wanted
            return wanted
        allowed = int((self._clock() - self._start) * self._rate) + 1 - self._sent
        granted = max(0, min(wanted, allowed))
        self._sent += granted
        return granted

    def wait(self, longest: float = 0.05) -> None:
        """Sleep until the next message is due (at most ``longest`` seconds)."""
        if self._rate <= 0:
            return
        next_due = self._start + self._sent / self._rate
        delay = next_due - self._clock()
        if delay > 0:
            self._sleep(min(delay, longest))
