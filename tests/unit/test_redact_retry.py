"""Secrets never reach logs or state; ARM's semantic retryables are recognised."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import structlog
from hubspoke_deploy.orchestrator.redact import find_secrets, redact, structlog_processor
from hubspoke_deploy.orchestrator.retry import RetryPolicy, is_retryable, retry_after_seconds

CONN = ("DefaultEndpointsProtocol=https;AccountName=st1;AccountKey=c2VjcmV0a2V5c2VjcmV0a2V5PT0=;"
        "EndpointSuffix=core.windows.net")
JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQifQ.c2lnbmF0dXJlc2ln"
SECRETS = [
    ("connection string", {"msg": f"using {CONN}"}, "c2VjcmV0a2V5"),
    ("bearer token", {"header": f"Authorization: Bearer {JWT}"}, JWT),
    ("bare jwt", {"token_value": JWT}, JWT),
    ("sas", {"url": "https://st1.blob.core.windows.net/c/b?sv=2022&sig=abcDEF123%3D"}, "abcDEF123"),
    ("kubeconfig field", {"kc": "users:\n- name: u\n  user:\n    client-key-data: LS0tLS1CRUdJTiBSU0E="},
     "LS0tLS1CRUdJTiBSU0E="),
    ("secret key name", {"adminPassword": "hunter2hunter2"}, "hunter2hunter2"),
    ("private key", {"k": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"}, "MIIEow"),
]


@pytest.mark.parametrize(("event", "secret"), [(e, s) for _, e, s in SECRETS], ids=[n for n, _, _ in SECRETS])
def test_structlog_processor_redacts(event: dict[str, Any], secret: str) -> None:
    out = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(out), processors=[structlog_processor, structlog.processors.JSONRenderer()]
    )
    logger.info("step", **event)
    line = out.getvalue()
    assert secret not in line
    assert "***" in line
    assert find_secrets(event), "the detector must flag the raw value"
    assert not find_secrets(redact(event))


def test_plain_values_pass_untouched() -> None:
    value = {"id": "/subscriptions/x/resourceGroups/rg", "ip": "10.0.0.4",
             "fqdn": "aks.privatelink.westeurope.azmk8s.io"}
    assert redact(value) == value
    assert find_secrets(value) == []


class _Resp:
    def __init__(self, headers: dict[str, str], body: dict[str, Any]) -> None:
        self.headers = headers
        self._body = body
        self.status_code = 409

    def json(self) -> dict[str, Any]:
        return self._body

    def text(self) -> str:
        return json.dumps(self._body)


class _Err(Exception):
    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.response = _Resp(headers or {}, {"error": {"code": code, "message": message}})
        self.status_code = 409
        self.error = None


@pytest.mark.parametrize(
    ("code", "retryable"),
    [("AnotherOperationInProgress", True), ("RetryableError", True), ("RetryableErrorDueToAnotherOperation", True),
     ("ReferencedResourceNotProvisioned", True), ("PrincipalNotFound", True), ("InvalidRequestContent", False),
     ("InUseSubnetCannotBeDeleted", False)],
)
def test_semantic_retryables(code: str, retryable: bool) -> None:
    assert is_retryable(_Err(code, "x")) is retryable


def test_retry_delay_from_headers_or_message() -> None:
    assert retry_after_seconds(_Err("AnotherOperationInProgress", "busy", {"Retry-After": "7"})) == 7.0
    assert retry_after_seconds(_Err("AnotherOperationInProgress", "busy", {"retry-after-ms": "250"})) == 0.25
    msg = "Operation on the resource can be retried in 14 seconds."
    assert retry_after_seconds(_Err("RetryableErrorDueToAnotherOperation", msg)) == 14.0


def test_retry_policy_retries_then_succeeds_and_honours_hint() -> None:
    calls: list[int] = []
    slept: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _Err("AnotherOperationInProgress", "busy", {"Retry-After": "2"})
        return "ok"

    seen: list[int] = []
    result = RetryPolicy(attempts=5).call(flaky, on_retry=lambda e, n, d: seen.append(n), sleep=slept.append)
    assert result == "ok" and len(calls) == 3 and seen == [1, 2]
    assert all(2.0 <= s <= 2.2 for s in slept)


def test_retry_policy_does_not_retry_real_errors() -> None:
    calls: list[int] = []

    def bad() -> None:
        calls.append(1)
        raise _Err("InvalidRequestContent", "bad body")

    with pytest.raises(_Err):
        RetryPolicy(attempts=5).call(bad, sleep=lambda s: None)
    assert len(calls) == 1
