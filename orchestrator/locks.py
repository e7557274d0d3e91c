"""Per-parent write locks: Azure serialises writes under one parent (a VNet's subnets, a
firewall policy's rule collection groups, a cluster's agent pools), so the engine holds
one lock per parent id for the duration of each write."""

from __future__ import annotations

import threading
from collections.abc import Iterable


class ParentLocks:
    """Per-parent locks, shared by every step for the whole run."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self.waits = 0

    def hold(self, keys: Iterable[str]) -> _Held:
        with self._guard:
            locks = [self._locks.setdefault(k.lower(), threading.Lock()) for k in sorted({k.lower() for k in keys})]
        return _Held(self, locks)


class _Held:
    def __init__(self, owner: ParentLocks, locks: list[threading.Lock]) -> None:
        self.owner = owner
        self.locks = locks

    def __enter__(self) -> None:
        for lock in self.locks:
            if not lock.acquire(blocking=False):
                self.owner.waits += 1
                lock.acquire()

    def __exit__(self, *exc: object) -> None:
        for lock in reversed(self.locks):
            lock.release()


