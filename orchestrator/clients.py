"""Azure SDK clients, built lazily, one per management package, shared by all steps.

Importing an Azure SDK costs tens of milliseconds each; nothing here imports
one until a step asks for its client, so ``--help`` and ``validate`` stay fast.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hubspoke_deploy.orchestrator.retry import cancellable_sleep, capped_delay

# name -> (module, class). Only these packages are used to reach Azure.
CLIENTS: dict[str, tuple[str, str]] = {
    "resource": ("azure.mgmt.resource.resources", "ResourceManagementClient"),
    "network": ("azure.mgmt.network", "NetworkManagementClient"),
    "privatedns": ("azure.mgmt.privatedns", "PrivateDnsManagementClient"),
    "msi": ("azure.mgmt.msi", "ManagedServiceIdentityClient"),
    "authorization": ("azure.mgmt.authorization", "AuthorizationManagementClient"),
    "storage": ("azure.mgmt.storage", "StorageManagementClient"),
    "containerregistry": ("azure.mgmt.containerregistry", "ContainerRegistryManagementClient"),
    "keyvault": ("azure.mgmt.keyvault", "KeyVaultManagementClient"),
    "compute": ("azure.mgmt.compute", "ComputeManagementClient"),
    "containerservice": ("azure.mgmt.containerservice", "ContainerServiceClient"),
    "loganalytics": ("azure.mgmt.loganalytics", "LogAnalyticsManagementClient"),
    "monitor": ("azure.mgmt.monitor", "MonitorManagementClient"),
    # azure-mgmt-resource 24+ ships policy separately (azure-mgmt-resource-policy)
    "policy": ("azure.mgmt.resource.policy", "PolicyClient"),
    # global entry (issue 18): Front Door Standard/Premium (Microsoft.Cdn), its WAF policies
    # (Microsoft.Network/FrontDoorWebApplicationFirewallPolicies) and Traffic Manager
    "cdn": ("azure.mgmt.cdn", "CdnManagementClient"),
    "frontdoor": ("azure.mgmt.frontdoor", "FrontDoorManagementClient"),
    "trafficmanager": ("azure.mgmt.trafficmanager", "TrafficManagerManagementClient"),
    "servicenetworking": ("azure.mgmt.servicenetworking", "ServiceNetworkingMgmtClient"),
}


@dataclass
class RetrySettings:
    """azure-core's RetryPolicy settings: the one layer that handles HTTP transients
    (429 with Retry-After, 5xx, dropped connections). ``backoff_max`` caps every wait of
    this layer, a server's Retry-After included (see :func:`capped_retry_policy`)."""

    total: int = 10
    backoff_factor: float = 0.8
    backoff_max: float = 60.0
    # how long one request may wait out ARM's throttling (429), a budget of its own: a throttled
    # burst is expected, not an error (each wait is Retry-After capped at backoff_max); a count
    # would starve unlucky requests while many contend for the same token bucket
    throttle_s: float = 900.0


@functools.lru_cache(maxsize=1)
def _capped_policy_class() -> type[Any]:
    """azure-core's RetryPolicy, with capped and cancellable waits (imported lazily)."""
    from azure.core.pipeline.policies import RetryPolicy as CoreRetryPolicy

    class CappedRetryPolicy(CoreRetryPolicy[Any, Any]):
        """azure-core's RetryPolicy, owner of HTTP 429/5xx retries, with two changes:

        * a server's ``Retry-After`` is capped at ``retry_backoff_max`` (azure-core caps only
          its own exponential backoff with it: ``RetryPolicy._sleep_for_retry`` sleeps whatever
          ``Retry-After`` says, so ``Retry-After: 3600`` would stall a step for an hour), and the
          cap is logged;
        * every wait is ``cancel.wait(delay)`` (azure-core uses ``transport.sleep``, which
          SIGINT cannot interrupt): when the run is cancelled the request raises
          :class:`~hubspoke_deploy.errors.Interrupted` at once.

        A 429 is retried for every method (azure-core retries POST/PATCH only when a
        Retry-After header is present): ARM throttles a request before processing it, "the
        request is throttled ... retry after the time in the Retry-After header"
        (https://learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling).
        """

        def __init__(self, *, cancel: threading.Event | None = None, throttle_s: float = 900.0,
                     **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self._cancel = cancel
            self._throttle_s = throttle_s

        def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
            settings: dict[str, Any] = super().configure_retries(options)
            settings["throttle_until"] = time.monotonic() + self._throttle_s
            return settings

        def increment(self, settings: dict[str, Any], response: Any = None, error: Any = None) -> bool:
            """A 429 spends the throttling budget, not the one of errors: ARM's throttling is
            waited out (each wait capped and cancellable) for up to ``throttle_s`` per request,
            while 5xx and dropped connections keep ``retry_total``."""
            if error is None and response is not None and getattr(response, "http_response", None) is not None \
                    and response.http_response.status_code == 429:
                if time.monotonic() >= settings["throttle_until"]:
                    return False
                settings["total"] += 1  # undone by the base class: a 429 leaves these budgets as they were
                settings["status"] += 1
            return bool(super().increment(settings, response=response, error=error))

        def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
            if response.http_response.status_code == 429:
                return True
            return bool(super().is_retry(settings, response))

        def _wait(self, delay: float) -> None:
            cancellable_sleep(self._cancel, "an HTTP retry")(delay)

        def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
            if response is not None:
                hinted = self.get_retry_after(response)
                if hinted:
                    request = response.http_request
                    what = f"HTTP {response.http_response.status_code} on {request.method} {request.url.split('?')[0]}"
                    self._wait(capped_delay(float(hinted), float(settings["max_backoff"]),
                                            source="Retry-After", what=what))
                    return
            backoff = self.get_backoff_time(settings)
            if backoff > 0:
                self._wait(backoff)

    return CappedRetryPolicy


def capped_retry_policy(settings: RetrySettings, cancel: threading.Event | None = None) -> Any:
    """The azure-core retry policy of every SDK client (see ``_capped_policy_class``)."""
    return _capped_policy_class()(
        cancel=cancel,
        throttle_s=settings.throttle_s,
        retry_total=settings.total,
        # azure-core caps status (429/5xx), connect and read retries at 3 each by
        # default; ARM throttling bursts need more, bounded by retry_total.
        retry_status=settings.total,
        retry_connect=settings.total,
        retry_read=settings.total,
        retry_backoff_factor=settings.backoff_factor,
        retry_backoff_max=settings.backoff_max,
    )


@dataclass
class Clients:
    credential: Any
    subscription_id: str
    base_url: str
    credential_scope: str
    connection_verify: str | bool = True
    retry: RetrySettings = field(default_factory=RetrySettings)
    polling_interval: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Set when the run is cancelled (SIGINT/SIGTERM, lost lock): HTTP retry waits end at once.
    cancel: threading.Event | None = None
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _locks: dict[str, threading.Lock] = field(default_factory=dict, init=False, repr=False)

    def get(self, name: str) -> Any:
        client = self._cache.get(name)
        if client is not None:
            return client
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # one lock per SDK: building the network client never waits for storage's
            client = self._cache.get(name)
            if client is None:
                client = self._build(name)
                self._cache[name] = client
            return client

    def prewarm(self, names: list[str]) -> threading.Thread:
        """Import and build SDK clients in the background, in the given order (the ones the
        critical path needs first). Importing azure-mgmt-network alone takes ~0.4 s."""

        def run() -> None:
            for name in names:
                try:
                    self.get(name)
                except Exception:
                    return

        thread = threading.Thread(target=run, name="sdk-prewarm", daemon=True)
        thread.start()
        return thread

    def _build(self, name: str) -> Any:
        try:
            module_name, class_name = CLIENTS[name]
        except KeyError as err:
            raise KeyError(f"unknown Azure client {name!r}; known: {sorted(CLIENTS)}") from err
        cls = getattr(importlib.import_module(module_name), class_name)
        kwargs: dict[str, Any] = {
            "base_url": self.base_url,
            "credential_scopes": [self.credential_scope],
            "connection_verify": self.connection_verify,
            "retry_policy": capped_retry_policy(self.retry, self.cancel),
            "user_agent": "hubspoke-deploy/0.1",
            **dict(self.extra),
        }
        if self.polling_interval is not None:
            kwargs["polling_interval"] = self.polling_interval
        return cls(self.credential, self.subscription_id, **kwargs)

    def close(self) -> None:
        # The background pre-warm may still be adding clients: iterate over a copy.
        with self._lock:
            for client in list(self._cache.values()):
                close = getattr(client, "close", None)
                if close is not None:
                    with contextlib.suppress(Exception):
                        close()
            self._cache.clear()


def to_json(obj: Any) -> Any:
    """Turn an SDK model (either generation) into ARM's REST JSON shape."""
    if obj is None:
        return None
    if isinstance(obj, Mapping) and hasattr(obj, "as_dict"):
        # typespec-generated models keep the REST JSON as their mapping data
        return _plain(obj)
    serialize = getattr(obj, "serialize", None)
    if callable(serialize):
        return serialize(keep_readonly=True)
    if isinstance(obj, Mapping):
        return _plain(obj)
    return obj


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and type(value).__module__.startswith("azure"):
        return value.value  # enums
    return value
