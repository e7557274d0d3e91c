"""Azure SDK clients, built lazily, one per management package, shared by all steps.

Importing an Azure SDK costs tens of milliseconds each; nothing here imports
one until a step asks for its client, so ``--help`` and ``validate`` stay fast.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
}


@dataclass
class RetrySettings:
    """azure-core's RetryPolicy settings: the one layer that handles HTTP transients
    (429 with Retry-After, 5xx, dropped connections)."""

    total: int = 10
    backoff_factor: float = 0.8
    backoff_max: float = 60.0


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
            "retry_total": self.retry.total,
            # azure-core caps status (429/5xx), connect and read retries at 3 each by
            # default; ARM throttling bursts need more, bounded by retry_total.
            "retry_status": self.retry.total,
            "retry_connect": self.retry.total,
            "retry_read": self.retry.total,
            "retry_backoff_factor": self.retry.backoff_factor,
            "retry_backoff_max": self.retry.backoff_max,
            "user_agent": "hubspoke-deploy/0.1",
            **dict(self.extra),
        }
        if self.polling_interval is not None:
            kwargs["polling_interval"] = self.polling_interval
        return cls(self.credential, self.subscription_id, **kwargs)

    def close(self) -> None:
        with self._lock:
            for client in self._cache.values():
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
