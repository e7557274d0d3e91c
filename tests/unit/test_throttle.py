"""The AIMD limiter: halves on ARM's 429s (once per cool-down), grows back on clean steps."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from hubspoke_deploy.orchestrator.throttle import AdaptiveLimiter


def _response(status: int) -> SimpleNamespace:
    return SimpleNamespace(http_response=SimpleNamespace(status_code=status))


def test_429_halves_once_per_cooldown_and_success_grows_back() -> None:
    lim = AdaptiveLimiter(32, min_limit=2, cooldown_s=0.05)
    lim.observe(_response(200))
    assert lim.limit == 32
    lim.observe(_response(429))
    lim.observe(_response(429))  # same cool-down window: one decrease
    assert lim.limit == 16 and lim.throttled == 2 and lim.decreases == 1
    time.sleep(0.06)
    lim.observe(_response(429))
    assert lim.limit == 8
    for _ in range(5):
        lim.on_throttled()
        time.sleep(0.06)
    assert lim.limit == 2  # never below the floor
    for _ in range(400):
        lim.acquire()
        lim.release(clean=True)
    assert lim.limit == 32 and lim.lowest == 2


def test_gate_admits_at_most_limit_steps() -> None:
    lim = AdaptiveLimiter(3)
    peak = 0
    running = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal peak, running
        lim.acquire()
        with guard:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with guard:
            running -= 1
        lim.release(clean=False)

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 3
