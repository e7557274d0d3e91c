"""Adaptive concurrency: back off when ARM throttles, grow back when it stops.

ARM meters requests per subscription with token buckets (writes 200 refilling 10/s, reads 250
refilling 25/s: https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling).
A fixed pool of workers keeps polling and writing at the same rate after the bucket is empty,
so every 429 is retried into another 429. This limiter is AIMD (as TCP): each 429 seen by any
SDK client halves the number of steps allowed to run at once (at most once per cool-down),
each step that completes without a 429 adds back a fraction of one.

azure-core's retry policy still retries the 429 itself (honouring Retry-After); the limiter
only decides how many steps generate traffic meanwhile.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class AdaptiveLimiter:
    def __init__(self, max_limit: int, *, min_limit: int = 2, cooldown_s: float = 1.0) -> None:
        self.max_limit = max(1, max_limit)
        self.min_limit = max(1, min(min_limit, self.max_limit))
        self.cooldown_s = cooldown_s
        self.limit = float(self.max_limit)
        self.in_flight = 0
        self.throttled = 0
        self.decreases = 0
        self.lowest = float(self.max_limit)
        self._last_decrease = 0.0
        self._cond = threading.Condition()

    # -- gate -------------------------------------------------------------------------
    def acquire(self, cancel: threading.Event | None = None) -> None:
        with self._cond:
            while self.in_flight >= int(self.limit):
                if cancel is not None and cancel.is_set():
                    break
                self._cond.wait(timeout=0.2)
            self.in_flight += 1

    def release(self, *, clean: bool = True) -> None:
        with self._cond:
            self.in_flight = max(0, self.in_flight - 1)
            if clean and self.limit < self.max_limit:
                self.limit = min(float(self.max_limit), self.limit + 1.0 / max(1.0, self.limit) * 2)
            self._cond.notify_all()

    # -- signals ------------------------------------------------------------------------
    def on_throttled(self) -> None:
        with self._cond:
            self.throttled += 1
            now = time.monotonic()
            if now - self._last_decrease >= self.cooldown_s and self.limit > self.min_limit:
                self.limit = max(float(self.min_limit), self.limit / 2)
                self.lowest = min(self.lowest, self.limit)
                self.decreases += 1
                self._last_decrease = now

    def observe(self, response: Any) -> None:
        """``raw_response_hook`` for azure-core clients: sees every attempt, retries included."""
        http = getattr(response, "http_response", None)
        if getattr(http, "status_code", None) == 429:
            self.on_throttled()

    def stats(self) -> dict[str, float]:
        with self._cond:
            return {"limit": round(self.limit, 2), "lowest": round(self.lowest, 2), "throttled": self.throttled,
                    "decreases": self.decreases}
