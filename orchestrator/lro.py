"""The one helper for Azure long-running operations.

``begin_*`` is called, ``poller.continuation_token()`` is written into the
checkpoint *before* waiting, and the wait has a timeout. On resume the
operation is re-attached with ``continuation_token=`` instead of sending the
write again; when the token no longer works (expired, operation forgotten)
the resource is polled with GETs until it reaches a terminal state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from hubspoke_deploy.errors import Interrupted, StepFailed
from hubspoke_deploy.orchestrator.step import typical_seconds

TERMINAL_STATES = {"succeeded", "failed", "canceled"}


class TokenSink(Protocol):
    """Where tokens are saved (the checkpoint)."""

    def lro_token(self, step: str, kind: str) -> str | None: ...

    def save_lro_token(self, step: str, kind: str, token: str | None) -> None: ...


def default_timeout(resource_type: str) -> float:
    """Per-type wait bound: generous multiple of the typical duration, at least 10 minutes."""
    return max(600.0, 4.0 * typical_seconds(resource_type))


class LroRunner:
    """Runs one step's long-running operations against its checkpoint record."""

    def __init__(
        self,
        step: str,
        sink: TokenSink,
        cancel: threading.Event,
        *,
        timeout_scale: float = 1.0,
        timeouts: dict[str, float] | None = None,
        on_reattach: Callable[[str, str], None] | None = None,
    ) -> None:
        self.step = step
        self.sink = sink
        self.cancel = cancel
        self.timeout_scale = timeout_scale
        self.timeouts = {k.lower(): v for k, v in (timeouts or {}).items()}
        self.on_reattach = on_reattach
        self.reattached = 0

    def timeout_for(self, resource_type: str) -> float:
        explicit = self.timeouts.get(resource_type.lower())
        if explicit is not None:
            return explicit
        return default_timeout(resource_type) * self.timeout_scale

    def run(
        self,
        begin: Callable[..., Any],
        *,
        kind: str,
        resource_type: str,
        reread: Callable[[], dict[str, Any] | None] | None = None,
    ) -> Any:
        """Start (or re-attach to) an operation and wait for its result."""
        timeout = self.timeout_for(resource_type)
        token = self.sink.lro_token(self.step, kind)
        poller: Any = None
        if token:
            try:
                poller = begin(continuation_token=token)
                self.reattached += 1
                if self.on_reattach:
                    self.on_reattach(self.step, kind)
            except Exception:
                poller = None
                if reread is not None:
                    state = self._wait_by_get(reread, kind, timeout)
                    if state == "done":
                        self.sink.save_lro_token(self.step, kind, None)
                        return reread() if kind == "put" else None
                # terminal failure or nothing to poll: start the operation afresh
        if poller is None:
            poller = begin()
            self.sink.save_lro_token(self.step, kind, poller.continuation_token())
        try:
            result = self._wait(poller, timeout, resource_type)
        except (Interrupted, StepFailed):
            raise  # still running: the token stays in the checkpoint for the next run
        except Exception:
            # The operation reached a terminal failure: re-attaching would only replay it.
            self.sink.save_lro_token(self.step, kind, None)
            raise
        self.sink.save_lro_token(self.step, kind, None)
        return result

    def _wait(self, poller: Any, timeout: float, resource_type: str) -> Any:
        deadline = time.monotonic() + timeout
        while not poller.done():
            if self.cancel.is_set():
                raise Interrupted(f"{self.step}: interrupted while waiting; the operation is checkpointed")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StepFailed(
                    step=self.step,
                    code="OperationTimedOut",
                    message=(
                        f"the {resource_type} operation did not finish within {timeout:.0f}s; "
                        "it is still tracked in the checkpoint: run the command again to re-attach"
                    ),
                )
            poller.wait(min(0.2, remaining))
        return poller.result()

    def _wait_by_get(
        self, reread: Callable[[], dict[str, Any] | None], kind: str, timeout: float
    ) -> str:
        """Poll the resource itself until it is terminal. Returns 'done' or 'restart'."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            if self.cancel.is_set():
                raise Interrupted(f"{self.step}: interrupted while waiting")
            observed = reread()
            if observed is None:
                return "done" if kind == "delete" else "restart"
            state = str((observed.get("properties") or {}).get("provisioningState", "Succeeded")).lower()
            if state in TERMINAL_STATES:
                return "done" if state == "succeeded" and kind == "put" else "restart"
            if time.monotonic() > deadline:
                raise StepFailed(step=self.step, code="OperationTimedOut", message="resource never settled")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
