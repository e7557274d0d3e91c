"""Step-level retries for ARM's *semantic* retryable errors.

HTTP transients (429 with Retry-After, 5xx, dropped connections) are handled
by azure-core's RetryPolicy inside every SDK client; this layer never retries
those again. It retries what only makes sense at the level of a whole step:
ARM codes that say "this will work if you try again later".
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

T = TypeVar("T")

RETRYABLE_CODES = frozenset(
    {
        "anotheroperationinprogress",
        "retryableerror",
        "retryableerrorduetoanotheroperation",
        "referencedresourcenotprovisioned",
        "principalnotfound",
        "toomanyrequests",
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


@dataclass
class RetryPolicy:
    attempts: int = 8
    total_seconds: float = 900.0
    base_delay: float = 1.0
    max_delay: float = 60.0
    # Scale applied to server-provided delays (the simulator compresses time).
    delay_scale: float = 1.0

    def wait(self, state: RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome else None
        hinted = retry_after_seconds(err) if err else None
        backoff = min(self.max_delay, self.base_delay * (2 ** (state.attempt_number - 1)))
        jittered = random.uniform(0.5 * backoff, backoff)
        if hinted is not None:
            return max(hinted * self.delay_scale, 0.0) + random.uniform(0, 0.1 * self.base_delay)
        return jittered

    def call(
        self,
        fn: Callable[[], T],
        *,
        on_retry: Callable[[BaseException, int, float], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
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
            sleep=sleep,
        )
        result: Any = retrying(fn)
        return result  # type: ignore[no-any-return]
