"""Fault injection and ARM's request throttling model for the simulator."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, fields

__all__ = ["FaultDecision", "FaultInjector", "FaultSpec", "TokenBucket"]


@dataclass(frozen=True)
class FaultSpec:
    """Probabilities of injected faults, per ARM request (never on ``/_sim/`` admin endpoints).

    ``p429``: answer 429 ``TooManyRequests`` with Retry-After; ``p500``: 500
    ``InternalServerError``; ``drop``: close the connection without an answer (before
    the request is processed); ``lrofail``: a new long-running operation ends ``Failed``
    with the retryable code ``RetryableError`` (the resource shows provisioningState
    Failed). ``throttle`` turns on the token-bucket model of ARM's limits (see
    :class:`TokenBucket`); the bucket sizes/refill rates default to ARM's.

    ``forget``: each status request of a known operation (its ``Azure-AsyncOperation`` or
    ``Location`` URL) makes the simulator forget the operation with this probability: that
    request and every later one answer 404 ``OperationNotFound``, as for an expired operation.
    The operation itself carries on: its resource still reaches its terminal state.
    ``retry_after``: the ``Retry-After`` (seconds, wall clock, not scaled) of injected 429s;
    0 keeps the default short, time-scaled interval. ``429=1,retry_after=3600`` is a
    subscription throttled for an hour.
    """

    p429: float = 0.0
    p500: float = 0.0
    drop: float = 0.0
    lrofail: float = 0.0
    forget: float = 0.0
    retry_after: float = 0.0
    throttle: bool = False
    # ARM's token buckets per subscription and region:
    # https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling
    # (writes: bucket 200, refill 10/s; reads: bucket 250, refill 25/s). Wall-clock seconds.
    write_bucket: float = 200.0
    write_refill: float = 10.0
    read_bucket: float = 250.0
    read_refill: float = 25.0

    _ALIASES = {
        "429": "p429",
        "500": "p500",
        "drop": "drop",
        "lrofail": "lrofail",
        "forget": "forget",
        "retry_after": "retry_after",
        "throttle": "throttle",
        "writes": "write_bucket",
        "write_bucket": "write_bucket",
        "write_refill": "write_refill",
        "reads": "read_bucket",
        "read_bucket": "read_bucket",
        "read_refill": "read_refill",
    }

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        """Parse ``"429=0.1,500=0.05,drop=0.02,lrofail=0.05,forget=1,throttle=on"`` (also
        ``write_refill=2``, ``retry_after=3600``)."""
        if not spec or not spec.strip() or spec.strip().lower() in ("none", "off"):
            return cls()
        values: dict[str, object] = {}
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, raw = part.partition("=")
            key = key.strip().lower()
            if not sep:
                raw = "on"
            attr = cls._ALIASES.get(key)
            if attr is None:
                raise ValueError(f"unknown fault '{key}' (known: {', '.join(sorted(cls._ALIASES))})")
            raw = raw.strip().lower()
            if attr == "throttle":
                if raw not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
                    raise ValueError(f"throttle must be on or off, not '{raw}'")
                values[attr] = raw in ("on", "true", "1", "yes")
                continue
            try:
                num = float(raw)
            except ValueError as err:
                raise ValueError(f"fault '{key}' needs a number, not '{raw}'") from err
            if attr.startswith("p") or attr in ("drop", "lrofail", "forget"):
                if not 0.0 <= num <= 1.0:
                    raise ValueError(f"fault '{key}' is a probability between 0 and 1, not {num}")
            elif num < 0 or (num == 0 and attr != "retry_after"):
                raise ValueError(f"'{key}' must be positive, not {num}")
            values[attr] = num
        return cls(**values)  # type: ignore[arg-type]

    def to_string(self) -> str:
        parts = []
        for f in fields(self):
            if f.name.startswith("_"):
                continue
            val = getattr(self, f.name)
            if val != f.default:
                key = {"p429": "429", "p500": "500"}.get(f.name, f.name)
                parts.append(f"{key}={'on' if val is True else 'off' if val is False else val}")
        return ",".join(parts)


class TokenBucket:
    """A token bucket (capacity, refill per wall-clock second). Thread-safe."""

    def __init__(self, capacity: float, refill_per_s: float) -> None:
        self.capacity = capacity
        self.refill = refill_per_s
        self._tokens = capacity
        self._t = time.monotonic()
        self._lock = threading.Lock()

    def _update(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._t) * self.refill)
        self._t = now

    def take(self) -> tuple[bool, float]:
        """Take one token. Returns ``(ok, seconds_until_next_token)``."""
        with self._lock:
            self._update()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True, 0.0
            return False, (1.0 - self._tokens) / self.refill

    def remaining(self) -> int:
        with self._lock:
            self._update()
            return int(self._tokens)


@dataclass(frozen=True)
class FaultDecision:
    kind: str  # "", "429", "500", "drop"


class FaultInjector:
    """Seeded, deterministic (for a given request order) fault decisions."""

    def __init__(self, spec: FaultSpec, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.spec = spec

    def set_spec(self, spec: FaultSpec) -> None:
        with self._lock:
            self.spec = spec

    def decide(self) -> FaultDecision:
        with self._lock:
            s = self.spec
            if not (s.p429 or s.p500 or s.drop):
                return FaultDecision("")
            r = self._rng.random()
            if r < s.drop:
                return FaultDecision("drop")
            r -= s.drop
            if r < s.p429:
                return FaultDecision("429")
            r -= s.p429
            if r < s.p500:
                return FaultDecision("500")
            return FaultDecision("")

    def forgets(self) -> bool:
        """Whether this status request of an operation makes the simulator forget it."""
        with self._lock:
            if not self.spec.forget:
                return False
            return self._rng.random() < self.spec.forget

    def lro_fails(self) -> bool:
        with self._lock:
            if not self.spec.lrofail:
                return False
            return self._rng.random() < self.spec.lrofail
