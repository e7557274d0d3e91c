"""Checkpoint state stores: one versioned JSON document per deployment.

The engine builds the document; a store keeps it safe:

* :class:`FileStore` - a local file, written atomically (temp file + fsync + ``os.replace`` +
  fsync of the folder), locked with an OS file lock on a sidecar ``.lock`` file, previous
  versions hard-linked into a ``.versions/`` folder.
* :class:`BlobStore` - an Azure block blob, locked with a finite blob lease renewed in a
  background thread, every write conditional on the ETag this store last saw and carrying
  the lease id, previous versions kept as blob snapshots.

Both stores refuse to overwrite a document they could not read (:class:`StateCorrupt`), refuse to
write when the state changed underneath the run (:class:`StateConflict`) and name the holder
of the lock when another run has it (:class:`StateLocked`).

One store per module: :mod:`.common` (lock holder, interface, document format), :mod:`.file`,
:mod:`.blob`; this package re-exports the public names and builds the store a config asks for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubspoke_deploy.errors import ConfigError, Problem
from hubspoke_deploy.orchestrator.stores.common import (
    DEFAULT_LEASE_SECONDS,
    KEEP_VERSIONS,
    MAX_LEASE_SECONDS,
    MIN_LEASE_SECONDS,
    RESTORE_HINT,
    SUPPORTED_SCHEMA_VERSION,
    LockInfo,
    StateStore,
    StoreStats,
    holder_alive,
    holder_words,
    locked_message,
    redact,
    unlock_hint,
)
from hubspoke_deploy.orchestrator.stores.file import FileStore, read_document

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from hubspoke_deploy.orchestrator.stores.blob import BlobStore


def __getattr__(name: str) -> Any:
    """``BlobStore`` loads azure-storage-blob (~0.2 s): only when a blob store is asked for."""
    if name == "BlobStore":
        from hubspoke_deploy.orchestrator.stores.blob import BlobStore

        return BlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "KEEP_VERSIONS",
    "SUPPORTED_SCHEMA_VERSION",
    "BlobStore",
    "FileStore",
    "LockInfo",
    "StateStore",
    "StoreStats",
    "holder_alive",
    "holder_words",
    "open_store",
    "read_document",
    "redact",
]
# also importable from here, as before the split
_ = (MAX_LEASE_SECONDS, MIN_LEASE_SECONDS, RESTORE_HINT, locked_message, unlock_hint)

# --------------------------------------------------------------------------- factory


def _field(cfg: Any, name: str, default: Any = None) -> Any:
    if isinstance(cfg, Mapping):
        return cfg.get(name, default)
    return getattr(cfg, name, default)


def open_store(
    state_cfg: Any,
    deployment_name: str,
    credential: TokenCredential | None,
    env: Mapping[str, str],
) -> StateStore:
    """Build the store the config asks for.

    ``state_cfg`` (object or mapping) has ``backend`` ("file" | "blob"), ``path``, ``account_url``,
    ``container``, ``blob``, ``connection_string_env``. Defaults: file ``.hubspoke/<name>.state.json``;
    blob container ``hubspoke-state``, blob ``<name>.state.json``. A connection string (Azurite) is
    used when the variable named by ``connection_string_env`` is set; otherwise AAD with ``credential``.
    """
    backend = str(_field(state_cfg, "backend", "file") or "file").lower()
    default_name = f"{deployment_name}.state.json"
    if backend == "file":
        raw_path = _field(state_cfg, "path")
        path = Path(str(raw_path)) if raw_path else Path(".hubspoke") / default_name
        text = str(path)
        if "{name}" in text or "{deployment}" in text:
            path = Path(text.replace("{name}", deployment_name).replace("{deployment}", deployment_name))
        elif path.is_dir() or text.endswith(("/", os.sep)):
            path = path / default_name
        return FileStore(path)
    if backend != "blob":
        raise ConfigError(
            Problem(path="state.backend", message=f"unknown state backend {backend!r}", fix='use "file" or "blob"')
        )
    container = str(_field(state_cfg, "container") or "hubspoke-state")
    blob = str(_field(state_cfg, "blob") or default_name)
    env_name = _field(state_cfg, "connection_string_env")
    lease_seconds = int(_field(state_cfg, "lease_seconds", DEFAULT_LEASE_SECONDS) or DEFAULT_LEASE_SECONDS)
    if env_name and env.get(str(env_name)):
        from hubspoke_deploy.orchestrator.stores.blob import BlobStore

        return BlobStore(env[str(env_name)], container, blob, lease_seconds=lease_seconds)
    account_url = _field(state_cfg, "account_url")
    if not account_url:
        problem = (
            f"the environment variable {env_name} (state.connection_string_env) is not set and no "
            f"state.account_url is given"
            if env_name
            else "state.account_url is required for the blob backend"
        )
        raise ConfigError(
            Problem(
                path="state.account_url",
                message=problem,
                fix="set state.account_url to https://<account>.blob.core.windows.net "
                "(or export the connection-string variable for Azurite)",
            )
        )
    if credential is None:
        raise ConfigError(
            Problem(
                path="state.account_url",
                message="no Azure credential is available to reach the state storage account",
                fix="sign in (az login / managed identity) or use a connection string for Azurite",
            )
        )
    from hubspoke_deploy.orchestrator.stores.blob import BlobStore

    return BlobStore(str(account_url), container, blob, credential, lease_seconds=lease_seconds)
