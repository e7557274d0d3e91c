"""The one helper for Azure long-running operations.

``begin_*`` is called, ``poller.continuation_token()`` is written into the
checkpoint *before* waiting, and the wait has a timeout. On resume the
operation is re-attached with ``continuation_token=`` instead of sending the
write again; when the token no longer works (expired, operation forgotten)
the resource is polled with GETs until it reaches a terminal state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from hubspoke_deploy.errors import Interrupted, StepFailed
from hubspoke_deploy.orchestrator.retry import error_code
from hubspoke_deploy.orchestrator.step import typical_seconds

log = logging.getLogger(__name__)

TERMINAL_STATES = {"succeeded", "failed", "canceled"}
# Status-read codes that mean "this operation is unknown here", whatever the HTTP status.
_GONE_CODES = frozenset({"operationnotfound", "parentresourcenotfound", "notfound", "resourcenotfound"})
# A write whose operation keeps being lost is sent at most this many times in one run.
_MAX_RESTARTS = 3
_RESTART: Any = object()


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
        """Start (or re-attach to) an operation and wait for its result.

        When the operation cannot be followed any more -- a token the SDK refuses, or a status
        URL Azure no longer answers (:func:`operation_gone`) -- and ``reread`` is given, the
        resource itself is read and waited on; nothing is written again unless the resource is
        missing (a PUT) or still there after a finished delete. An existing resource is returned
        as read (whatever its state): the caller converges it from that read, so a re-write is
        built from the current resource (e.g. an AKS cluster's autoscaled pools), never from
        the body of the forgotten operation."""
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
                poller = None  # a token this SDK cannot read: follow the resource instead
                if reread is not None:
                    settled = self._settle_by_get(reread, kind, timeout)
                    if settled is not _RESTART:
                        return settled
        for _ in range(_MAX_RESTARTS):
            if poller is None:
                poller = begin()
                self.sink.save_lro_token(self.step, kind, poller.continuation_token())
            try:
                result = self._wait(poller, timeout, resource_type)
            except (Interrupted, StepFailed):
                raise  # still running: the token stays in the checkpoint for the next run
            except Exception as err:
                if reread is None or not operation_gone(err):
                    # The operation reached a terminal failure: re-attaching would only replay it.
                    self.sink.save_lro_token(self.step, kind, None)
                    raise
                # Azure forgot the operation (expired, or lost), not the resource: follow the
                # resource. A 4xx on a status URL "indicates a failure in reading the status but
                # not in the underlying operation" (azure-resource-manager-rpc async-api-reference).
                log.warning("%s: the %s operation's status is gone (%s); following the resource instead",
                            self.step, kind, _short(err))
                settled = self._settle_by_get(reread, kind, timeout)
                if settled is not _RESTART:
                    return settled
                poller = None
                continue
            self.sink.save_lro_token(self.step, kind, None)
            return result
        raise StepFailed(
            step=self.step,
            code="OperationLost",
            message=f"Azure lost the {resource_type} {kind} operation {_MAX_RESTARTS} times in a row; run again",
        )

    def _settle_by_get(self, reread: Callable[[], dict[str, Any] | None], kind: str, timeout: float) -> Any:
        """Wait on the resource after its operation was lost. Returns what ``run`` returns, or
        ``_RESTART`` when the write must be sent again (only: a PUT whose resource is missing, a
        delete whose resource is still there once terminal)."""
        state, observed = self._wait_by_get(reread, kind, timeout)
        if state == "restart":
            self.sink.save_lro_token(self.step, kind, None)
            return _RESTART
        self.sink.save_lro_token(self.step, kind, None)
        return observed if kind == "put" else None

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
    ) -> tuple[str, dict[str, Any] | None]:
        """Poll the resource itself until it is terminal (or gone). Returns ``("done", observed)``
        or ``("restart", observed)``: a PUT restarts only when the resource is missing, a delete
        only when the resource is still there in a terminal state."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            if self.cancel.is_set():
                raise Interrupted(f"{self.step}: interrupted while waiting; the operation is checkpointed")
            observed = reread()
            if observed is None:
                return ("done" if kind == "delete" else "restart"), None
            state = str((observed.get("properties") or {}).get("provisioningState", "Succeeded")).lower()
            if state in TERMINAL_STATES:
                return ("done" if kind == "put" else "restart"), observed
            if time.monotonic() > deadline:
                raise StepFailed(step=self.step, code="OperationTimedOut", message="resource never settled")
            if self.cancel.wait(delay):
                raise Interrupted(f"{self.step}: interrupted while waiting; the operation is checkpointed")
            delay = min(delay * 2, 5.0)


def operation_gone(err: BaseException) -> bool:
    """Whether polling failed because Azure no longer knows the operation (its status URL
    answers 404: ``OperationNotFound``, ``NotFound``, ``ParentResourceNotFound``...), as opposed
    to the operation itself failing (status 200 with status Failed/Canceled)."""
    if getattr(err, "status_code", None) == 404:
        return True
    return (error_code(err) or "").lower() in _GONE_CODES


def _short(err: BaseException) -> str:
    return (error_code(err) or type(err).__name__)[:80]
