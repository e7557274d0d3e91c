"""What both checkpoint stores share: the lock holder, write counters, the store interface,
(de)serialising and validating the document, and the journal format (:mod:`.journal`)."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from hubspoke_deploy.errors import StateCorrupt

#: Highest ``schema_version`` of the checkpoint document this code understands.
SUPPORTED_SCHEMA_VERSION = 2  # = orchestrator.checkpoint.SCHEMA_VERSION (2: convergence records)
#: How many previous versions of the document are kept for rollback.
KEEP_VERSIONS = 20

# Blob lease bounds: "The lock duration can be 15 to 60 seconds, or can be infinite."
# https://learn.microsoft.com/en-us/rest/api/storageservices/lease-blob
# We only use finite leases, so that a crashed run's lock goes away by itself.
MIN_LEASE_SECONDS = 15
MAX_LEASE_SECONDS = 60
DEFAULT_LEASE_SECONDS = 60

RESTORE_HINT = "restore a previous version with `hubspoke-deploy state restore`"

_HOLDER_KEYS = ("host", "pid", "started_at", "command", "run_id")

# --------------------------------------------------------------------------- helpers

_SECRET_RE = re.compile(r"(?i)\b(AccountKey|SharedAccessSignature|sig)=([^;&\s\"'<>]+)")


def redact(text: str) -> str:
    """Hide account keys and SAS signatures (``AccountKey=``, ``SharedAccessSignature=``, ``sig=``)."""
    return _SECRET_RE.sub(lambda m: f"{m.group(1)}=***", text)


@dataclass(frozen=True)
class LockInfo:
    """Who holds the state lock: written next to the lock so another run can name the holder."""

    host: str
    pid: int
    started_at: str
    command: str
    run_id: str

    @classmethod
    def current(cls, command: str, run_id: str) -> LockInfo:
        """Lock info for this process, started now."""
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            command=command,
            run_id=run_id,
        )

    def as_holder(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


@dataclass
class StoreStats:
    """Write counters, for benchmarks."""

    writes: int = 0
    bytes_written: int = 0
    seconds_writing: float = 0.0

    def record(self, nbytes: int, seconds: float) -> None:
        self.writes += 1
        self.bytes_written += nbytes
        self.seconds_writing += seconds


def holder_words(holder: Mapping[str, str] | None) -> str:
    """The lock holder in words: ``run abc123 (command up) on host build-7, pid 4242, since ...``."""
    h = dict(holder or {})

    def get(key: str) -> str:
        return h.get(key) or "unknown"

    return (f"run {get('run_id')} (command {get('command')}) on host {get('host')}, pid {get('pid')}, "
            f"since {get('started_at')}")


def unlock_hint(holder: Mapping[str, str] | None) -> str:
    run_id = (holder or {}).get("run_id") or "LOCK_ID"
    return f"wait for it, or if it is dead run `hubspoke-deploy unlock {run_id}`"


def holder_alive(holder: Mapping[str, str] | None) -> bool | None:
    """Whether the holder's process is still running: True/False when it runs on this host,
    None when that cannot be told (another host, no pid, or an OS where probing could harm it)."""
    h = dict(holder or {})
    if h.get("host") != socket.gethostname() or sys.platform == "win32":
        return None  # os.kill(pid, 0) on Windows would terminate the process
    try:
        pid = int(h.get("pid") or "")
    except ValueError:
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return None
    return True


def locked_message(holder: Mapping[str, str] | None, where: str) -> str:
    """The plain-words message of :class:`StateLocked`."""
    h = dict(holder or {})

    def get(key: str) -> str:
        return h.get(key) or "unknown"

    return (
        f"state is locked by run {get('run_id')} on {get('host')} pid {get('pid')} since "
        f"{get('started_at')} (command: {get('command')}); {unlock_hint(h)} (state: {where})"
    )


def _serialize(doc: Mapping[str, Any]) -> bytes:
    if not isinstance(doc, Mapping):
        raise TypeError(f"the checkpoint document must be a dict, got {type(doc).__name__}")
    version = doc.get("schema_version")
    if version is None:
        doc = {"schema_version": SUPPORTED_SCHEMA_VERSION, **doc}
    elif isinstance(version, bool) or not isinstance(version, int) or version > SUPPORTED_SCHEMA_VERSION:
        raise ValueError(
            f"cannot save a checkpoint document with schema_version={version!r}; "
            f"this version writes schema_version <= {SUPPORTED_SCHEMA_VERSION}"
        )
    # Compact separators: the document is rewritten whole on every save, so size is cost.
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _parse(raw: bytes, where: str, recover: str) -> dict[str, Any]:
    """Parse and validate a stored document; raise StateCorrupt saying where, what and how to recover."""

    def corrupt(what: str, err: Exception | None = None) -> StateCorrupt:
        return StateCorrupt(
            f"checkpoint state {where} is corrupt: {what}. It was left untouched and will not be "
            f"overwritten. To recover, {recover}."
        )

    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise corrupt(f"it is not valid JSON ({err})") from err
    if not isinstance(doc, dict):
        raise corrupt(f"it holds a JSON {type(doc).__name__}, not an object")
    version = doc.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise corrupt(f"its schema_version is {version!r}, not an integer")
    if version > SUPPORTED_SCHEMA_VERSION:
        raise corrupt(
            f"its schema_version is {version}, newer than the {SUPPORTED_SCHEMA_VERSION} this "
            f"hubspoke-deploy understands (upgrade hubspoke-deploy to use it)"
        )
    if version < 1:
        raise corrupt(f"its schema_version is {version}, which no hubspoke-deploy ever wrote")
    return doc


def _recover_hint(versions: list[str], kind: str) -> str:
    if versions:
        return f"{RESTORE_HINT} (newest kept {kind}: {versions[0]})"
    return f"{RESTORE_HINT} if one is kept, or move the document aside to start from an empty state"


_seq_lock = threading.Lock()
_seq = 0


def _version_id() -> str:
    """Sortable, unique version name: UTC timestamp + per-process sequence number."""
    global _seq
    with _seq_lock:
        _seq += 1
        seq = _seq
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{os.getpid()}-{seq:06d}"


# --------------------------------------------------------------------------- interface


class StateStore(ABC):
    """Where the checkpoint document of one deployment lives.

    Life of a run: ``acquire(info)`` -> ``load()`` -> ``save(doc)``... -> ``release()``.
    ``save``/``restore`` need the lock; ``load``/``holder``/``versions`` do not.
    """

    stats: StoreStats

    @abstractmethod
    def acquire(self, info: LockInfo) -> None:
        """Take the lock for the run's life; raise StateLocked naming the holder if another run has it."""

    @abstractmethod
    def release(self) -> None:
        """Give the lock back. Idempotent."""

    @abstractmethod
    def load(self) -> dict[str, Any] | None:
        """The stored document, or None if there is none yet. Raises StateCorrupt."""

    @abstractmethod
    def save(self, doc: dict[str, Any]) -> None:
        """Write the whole document, conditionally on what this store last saw; keeps the previous one."""

    #: Whether :meth:`append` writes a journal entry (else the caller saves whole documents).
    journaled: bool = False

    def append(self, changes: Mapping[str, Any]) -> None:
        """Write only what changed since the last write (a journal entry, see :mod:`.journal`),
        under the same lock and conditions as :meth:`save`; needs a document loaded or saved by
        this store first. The store folds the journal into the document when it has grown."""
        raise NotImplementedError(f"{type(self).__name__} has no journal: save the whole document")

    @abstractmethod
    def break_lock(self) -> dict[str, str] | None:
        """Remove another run's lock (``hubspoke-deploy unlock``); return the former holder, if any."""

    @abstractmethod
    def holder(self) -> dict[str, str] | None:
        """Who holds the lock now, or None."""

    @abstractmethod
    def versions(self) -> list[str]:
        """Names of the kept previous versions, newest first."""

    @abstractmethod
    def restore(self, version: str) -> None:
        """Make a kept version the current document (needs the lock; the current one is kept too)."""

    @abstractmethod
    def describe(self) -> str:
        """Where the state lives, for messages (never contains a secret)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


