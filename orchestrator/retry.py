"""Step-level retries for ARM's *semantic* retryable errors.

Two layers retry, and each error belongs to exactly one of them:

* HTTP transients -- 429 with Retry-After, 5xx, dropped connections -- are azure-core's
  (``clients.CappedRetryPolicy`` inside every SDK client). This layer never retries them
  again: a persistent 429 costs one layer's budget (``retry_total + 1`` requests), not
  the product of both.
* ARM codes that say "this will work if you try again later" (``AnotherOperationInProgress``,
  ``RetryableError``, ``ReferencedResourceNotProvisioned``...) are retried here, at the level
  of a whole step.

In both layers a server-given delay (Retry-After, "retried in 14 seconds") is capped at the
policy's maximum delay and the cap is logged, and every wait ends at once when the run is
cancelled (SIGINT/SIGTERM): the wait is ``cancel.wait(delay)``, not ``time.sleep``.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from hubspoke_deploy.errors import Interrupted
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_CODES = frozenset(
    {
        "anotheroperationinprogress",
        "retryableerror",
        "retryableerrorduetoanotheroperation",
        "referencedresourcenotprovisioned",
        "principalnotfound",
        # no "toomanyrequests": HTTP 429 is azure-core's (see the module docstring)
        "operationnotallowedduetoanotheroperation",
        "canceledandsupersededduetoanotheroperation",
    }
)

_SECONDS_IN_TEXT = re.compile(r"(?:retried|retry)\s+(?:in|after)\s+(\d+(?:\.\d+)?)\s*(?:seconds|s)\b", re.I)


def error_code(err: BaseException) -> str | None:
    """ARM error code of an azure-core exception (also for failed LROs)."""
    error = getattr(err, "error", None)
    code = getattr(error, "code", None)
    if code:
        return str(code)
    response = getattr(err, "response", None)
    if response is not None:
        try:
            body = response.json()
        except Exception:
            body = None
        if isinstance(body, dict):
            inner = body.get("error") or {}
            if isinstance(inner, dict) and inner.get("code"):
                return str(inner["code"])
    status = getattr(err, "status_code", None)
    if status == 429:
        return "TooManyRequests"
    return None


def error_message(err: BaseException) -> str:
    error = getattr(err, "error", None)
    message = getattr(error, "message", None)
    return str(message or err).splitlines()[0][:500]


def is_retryable(err: BaseException) -> bool:
    code = error_code(err)
    return code is not None and code.lower() in RETRYABLE_CODES


def retry_after_seconds(err: BaseException) -> float | None:
    """Retry-After header, x-ms-retry-after-ms, or a delay written in the message text
    (RetryableErrorDueToAnotherOperation says "can be retried in 14 seconds")."""
    response = getattr(err, "response", None)
    raw = getattr(response, "headers", None) or {}
    headers = {str(k).lower(): v for k, v in raw.items()} if hasattr(raw, "items") else {}
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                continue
    match = _SECONDS_IN_TEXT.search(error_message(err))
    if match:
        return float(match.group(1))
    return None


def cancellable_sleep(cancel: threading.Event | None, what: str = "retrying") -> Callable[[float], None]:
    """A sleep that returns at once, raising :class:`Interrupted`, when ``cancel`` is set."""

    def sleep(delay: float) -> None:
        if cancel is None:
            time.sleep(delay)
            return
        if cancel.wait(max(delay, 0.0)) or cancel.is_set():
            raise Interrupted(f"interrupted while waiting before {what}")

    return sleep


def capped_delay(hinted: float, max_delay: float, *, source: str, what: str) -> float:
    """``hinted`` (a delay the server asked for), at most ``max_delay``; logs when it caps."""
    if hinted > max_delay:
        log.warning(
            "%s: the server asked to wait %.1fs (%s); waiting max_delay %.1fs instead",
            what, hinted, source, max_delay,
        )
        return max_delay
    return max(hinted, 0.0)


@dataclass
class RetryPolicy:
    attempts: int = 8
    total_seconds: float = 900.0
    base_delay: float = 1.0
    # Upper bound of every wait, backoff and server-given delays alike.
    max_delay: float = 60.0
    # Scale applied to server-provided delays (the simulator compresses time).
    delay_scale: float = 1.0

    def wait(self, state: RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome else None
        hinted = retry_after_seconds(err) if err else None
        backoff = min(self.max_delay, self.base_delay * (2 ** (state.attempt_number - 1)))
        jittered = random.uniform(0.5 * backoff, backoff)
        if hinted is not None:
            scaled = max(hinted * self.delay_scale, 0.0) + random.uniform(0, 0.1 * self.base_delay)
            code = error_code(err) if err else None
            return capped_delay(scaled, self.max_delay, source=f"{code or 'error'} retry hint", what="retry")
        return jittered

    def call(
        self,
        fn: Callable[[], T],
        *,
        on_retry: Callable[[BaseException, int, float], None] | None = None,
        sleep: Callable[[float], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> T:
        """Run ``fn``, retrying ARM's retryable codes. Waits end at once (raising
        :class:`Interrupted`) when ``cancel`` is set; ``sleep`` replaces the wait entirely."""

        def before_sleep(state: RetryCallState) -> None:
            if on_retry and state.outcome is not None:
                exc = state.outcome.exception()
                if exc is not None:
                    delay = state.next_action.sleep if state.next_action else 0.0
                    on_retry(exc, state.attempt_number, delay)

        retrying = Retrying(
            retry=retry_if_exception(is_retryable),
            stop=stop_after_attempt(self.attempts) | stop_after_delay(self.total_seconds),
            wait=self.wait,
            reraise=True,
            before_sleep=before_sleep,
            sleep=sleep if sleep is not None else cancellable_sleep(cancel),
        )
        result: Any = retrying(fn)
        return result  # type: ignore[no-any-return]
