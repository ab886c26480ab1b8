"""Session clocks. The only place in voicecoach that reads wall time or waits on it."""

from __future__ import annotations

import threading
import time


class SimulatedClock:
    """Time that moves only when told to: a whole session runs as fast as the CPU allows."""

    def __init__(self, start: float = 0.0):
        self._now = start

    def now(self) -> float:
        return self._now

    def wait_until(self, t: float) -> None:
        self._now = max(self._now, t)

    def wake(self) -> None:
        """Nothing waits on a simulated clock."""


class LiveClock:
    """Seconds since start() on the monotonic clock; waits can be cut short by wake()."""

    max_wait = 0.05
    """Longest single wait, so the terminal view and device checks stay responsive (seconds)."""

    def __init__(self) -> None:
        self._origin = time.monotonic()
        self._wake = threading.Event()

    def start(self) -> None:
        self._origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._origin

    def wait_until(self, t: float) -> None:
        timeout = min(self.max_wait, t - self.now())
        if timeout > 0:
            self._wake.wait(timeout)
        self._wake.clear()

    def wake(self) -> None:
        """Called from input threads when a command arrives."""
        self._wake.set()
