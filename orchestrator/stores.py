"""Checkpoint state stores: one versioned JSON document per deployment.

The engine builds the document; a store keeps it safe:

* :class:`FileStore` - a local file, written atomically (temp file + fsync + ``os.replace`` +
  fsync of the folder), locked with an OS file lock on a sidecar ``.lock`` file, previous
  versions hard-linked into a ``.versions/`` folder.
* :class:`BlobStore` - an Azure block blob, locked with a finite blob lease renewed in a
  background thread, every write conditional on the ETag this store last saw and carrying
  the lease id, previous versions kept as blob snapshots.

Both refuse to overwrite a document they could not read (:class:`StateCorrupt`), refuse to
write when the state changed underneath the run (:class:`StateConflict`) and name the holder
of the lock when another run has it (:class:`StateLocked`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobClient, BlobLeaseClient, BlobServiceClient, ContentSettings
from hubspoke_deploy.errors import ConfigError, Problem, StateConflict, StateCorrupt, StateError, StateLocked

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

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
    "redact",
]

log = logging.getLogger(__name__)

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


# --------------------------------------------------------------------------- file store

if sys.platform == "win32":  # pragma: no cover - import-safe on Windows, exercised on POSIX only
    import msvcrt

    # Lock one byte far past the holder text so readers can still read it (msvcrt locks are mandatory).
    _LOCK_OFFSET = 1 << 20

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        # flock locks belong to the open file description: the OS drops them when the
        # holder dies, and two opens in one process conflict like two processes do.
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)


_Fingerprint = tuple[int, int, int]


def _fingerprint(st: os.stat_result) -> _Fingerprint:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _fsync_dir(folder: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileStore(StateStore):
    """The checkpoint document in a local file.

    Layout next to ``path``: ``<name>.lock`` (OS lock + holder JSON) and ``<name>.versions/``
    (previous documents, hard links, newest 20 kept).
    """

    def __init__(self, path: str | os.PathLike[str], *, keep_versions: int = KEEP_VERSIONS) -> None:
        self.path = Path(path).absolute()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.versions_dir = self.path.with_name(self.path.name + ".versions")
        self.keep_versions = keep_versions
        self.stats = StoreStats()
        self._mutex = threading.RLock()
        self._lock_fd: int | None = None
        self._info: LockInfo | None = None
        self._seen: _Fingerprint | None = None  # what this store last read or wrote (None: no file)
        self._loaded = False  # _seen comes from a load()/save() (not only from acquire())
        self._corrupt: str | None = None

    def describe(self) -> str:
        return f"file {self.path}"

    # ---- lock
    def acquire(self, info: LockInfo) -> None:
        with self._mutex:
            if self._lock_fd is not None:
                raise StateError(f"this store already holds the lock on {self.describe()}")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = self._open_and_lock()
            try:
                current = self._stat()
                if self._loaded and current != self._seen:
                    raise StateConflict(
                        f"state changed underneath this run: {self.describe()} was modified between "
                        f"this run's read and its lock; nothing was written. Run again."
                    )
                text = json.dumps(info.as_holder()).encode("utf-8")
                os.ftruncate(fd, 0)
                os.pwrite(fd, text, 0)
                os.fsync(fd)
            except BaseException:
                _unlock(fd)
                os.close(fd)
                raise
            self._lock_fd = fd
            self._info = info
            self._seen = current

    def _open_and_lock(self) -> int:
        """Open and flock the lock file; retry if it was replaced (break_lock) in between."""
        for _attempt in range(5):
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                os.close(fd)
                holder = self._read_holder_text()
                raise StateLocked(locked_message(holder, self.describe()), holder=holder)
            if self._lock_is_ours(fd):
                return fd
            _unlock(fd)
            os.close(fd)
        raise StateError(f"cannot lock {self.describe()}: its lock file keeps being replaced")

    def release(self) -> None:
        with self._mutex:
            fd, self._lock_fd = self._lock_fd, None
            self._info = None
            if fd is None:
                return
            try:
                if self._lock_is_ours(fd):
                    os.ftruncate(fd, 0)  # nobody holds it: no stale holder text
            except OSError:
                pass
            finally:
                _unlock(fd)
                os.close(fd)

    def _lock_is_ours(self, fd: int) -> bool:
        """False when the lock file was removed/replaced by ``break_lock`` while we held it."""
        try:
            return os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _read_holder_text(self) -> dict[str, str]:
        try:
            raw = self.lock_path.read_text(encoding="utf-8")
            data = json.loads(raw) if raw.strip() else {}
        except (OSError, ValueError):
            return {}
        return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def holder(self) -> dict[str, str] | None:
        with self._mutex:
            if self._lock_fd is not None and self._info is not None:
                return self._info.as_holder()
        try:
            fd = os.open(self.lock_path, os.O_RDWR)
        except FileNotFoundError:
            return None
        try:
            if _try_lock(fd):
                _unlock(fd)
                return None
            return self._read_holder_text()
        finally:
            os.close(fd)

    def break_lock(self) -> dict[str, str] | None:
        """Remove the lock file. A live holder keeps its OS lock on the removed file but notices at its
        next save (lock file replaced) and stops with StateConflict; a dead holder's lock is already gone."""
        former = self.holder()
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
        return former

    # ---- document
    def _stat(self) -> _Fingerprint | None:
        try:
            return _fingerprint(os.stat(self.path))
        except FileNotFoundError:
            return None

    def load(self) -> dict[str, Any] | None:
        with self._mutex:
            try:
                with open(self.path, "rb") as fh:
                    seen = _fingerprint(os.fstat(fh.fileno()))
                    raw = fh.read()
            except FileNotFoundError:
                self._seen = None
                self._loaded = True
                self._corrupt = None
                return None
            self._seen = seen
            self._loaded = True
            try:
                doc = _parse(raw, self.describe(), self._recover())
            except StateCorrupt as err:
                self._corrupt = str(err)
                raise
            self._corrupt = None
            return doc

    def _recover(self) -> str:
        return _recover_hint(self.versions(), f"version in {self.versions_dir}")

    def _check_writable(self, *, allow_corrupt: bool = False) -> None:
        if self._lock_fd is None:
            raise StateError(f"cannot write {self.describe()}: this run does not hold the state lock")
        if not self._lock_is_ours(self._lock_fd):
            raise StateConflict(
                f"state changed underneath this run: the lock on {self.describe()} was broken "
                f"(`hubspoke-deploy unlock`); nothing was written. Run again to resume."
            )
        if self._corrupt is not None and not allow_corrupt:
            raise StateCorrupt(f"refusing to overwrite a corrupt document. {self._corrupt}")
        if self._stat() != self._seen:
            raise StateConflict(
                f"state changed underneath this run: {self.describe()} was modified by someone else "
                f"since this run last read it; nothing was written. Run again to resume from it."
            )

    def save(self, doc: dict[str, Any]) -> None:
        data = _serialize(doc)
        with self._mutex:
            self._check_writable()
            self._write(data)

    def _write(self, data: bytes) -> None:
        started = time.perf_counter()
        if self._seen is not None:
            self._keep_current()
        folder = self.path.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)  # atomic: readers see the old or the new file, never a mix
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(folder)
        self._seen = self._stat()
        self._loaded = True
        self._prune()
        self.stats.record(len(data), time.perf_counter() - started)

    def _keep_current(self) -> None:
        """Keep the current document as a version: a hard link (no copy), since os.replace gives
        the new document a new inode. Falls back to a copy where links are not supported."""
        self.versions_dir.mkdir(exist_ok=True)
        target = self.versions_dir / f"{_version_id()}.json"
        try:
            os.link(self.path, target)
        except OSError:
            target.write_bytes(self.path.read_bytes())

    def _prune(self) -> None:
        names = self._version_files()
        for old in names[self.keep_versions :]:
            with contextlib.suppress(FileNotFoundError):
                (self.versions_dir / old).unlink()

    def _version_files(self) -> list[str]:
        try:
            names = [n for n in os.listdir(self.versions_dir) if n.endswith(".json")]
        except FileNotFoundError:
            return []
        return sorted(names, reverse=True)

    def versions(self) -> list[str]:
        return [n[: -len(".json")] for n in self._version_files()]

    def restore(self, version: str) -> None:
        with self._mutex:
            self._check_writable(allow_corrupt=True)
            source = self.versions_dir / f"{version}.json"
            if "/" in version or os.sep in version or not source.is_file():
                raise StateError(
                    f"no version {version!r} of {self.describe()}; kept versions: "
                    f"{', '.join(self.versions()) or 'none'}"
                )
            raw = source.read_bytes()
            _parse(raw, f"version {version} of {self.describe()}", "pick another version")
            self._write(raw)
            self._corrupt = None


# --------------------------------------------------------------------------- blob store

_META_PREFIX = "hubspoke_"


def _holder_metadata(info: LockInfo) -> dict[str, str]:
    # Metadata values travel as HTTP headers (ASCII): percent-encode anything else.
    return {_META_PREFIX + k: quote(v, safe=" :/-_.+@,=()") for k, v in info.as_holder().items()}


def _holder_from_metadata(meta: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (meta or {}).items():
        key = k.lower()
        if key.startswith(_META_PREFIX) and key[len(_META_PREFIX) :] in _HOLDER_KEYS:
            out[key[len(_META_PREFIX) :]] = unquote(v)
    return out


def _error_code(err: HttpResponseError) -> str:
    return str(getattr(err, "error_code", None) or "")


def _is_lease_error(err: HttpResponseError) -> bool:
    # LeaseLost, LeaseNotPresentWithBlobOperation, LeaseIdMismatchWithBlobOperation, LeaseIdMissing...
    # https://learn.microsoft.com/en-us/rest/api/storageservices/blob-service-error-codes
    return "lease" in _error_code(err).lower()


def _short(err: Exception) -> str:
    text = str(getattr(err, "message", None) or err).strip()
    return redact(text.splitlines()[0] if text else type(err).__name__)[:300]


def _strip_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _looks_like_connection_string(text: str) -> bool:
    return "=" in text and (";" in text or text.startswith("UseDevelopmentStorage"))


class BlobStore(StateStore):
    """The checkpoint document in an Azure block blob.

    * Lock: a finite lease on the state blob (a zero-length placeholder is created first when
      there is no document; a zero-length blob therefore means "no document yet": a valid
      document is never empty). Renewed every ``lease_seconds / 3`` in a daemon thread. The
      holder is written into the blob's metadata right after the lease is taken.
    * Writes: ``Put Blob`` with the lease id and ``If-Match`` the ETag this store last saw.
    * Versions: before each write the current document is snapshotted (``Snapshot Blob``,
      also lease- and ETag-conditional). Snapshots rather than copies because a snapshot is
      a server-side, constant-cost request (no bytes re-uploaded, so writes stay cheap as the
      document grows), atomic with respect to the base blob, and listed/deleted with the
      blob's own name. https://learn.microsoft.com/en-us/rest/api/storageservices/snapshot-blob
    """

    def __init__(
        self,
        account_url_or_connection_string: str,
        container: str,
        blob: str,
        credential: TokenCredential | None = None,
        *,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        renew: bool = True,
        renew_interval: float | None = None,
        keep_versions: int = KEEP_VERSIONS,
        **client_kwargs: Any,
    ) -> None:
        """``client_kwargs`` go to ``BlobServiceClient`` (e.g. ``retry_total``, ``connection_timeout``)."""
        if not MIN_LEASE_SECONDS <= lease_seconds <= MAX_LEASE_SECONDS:
            # https://learn.microsoft.com/en-us/rest/api/storageservices/lease-blob (15 to 60 s)
            raise ValueError(
                f"lease_seconds must be between {MIN_LEASE_SECONDS} and {MAX_LEASE_SECONDS}, got {lease_seconds}"
            )
        target = account_url_or_connection_string
        try:
            if _looks_like_connection_string(target):
                service = BlobServiceClient.from_connection_string(target, **client_kwargs)
            else:
                service = BlobServiceClient(account_url=target, credential=credential, **client_kwargs)
        except (ValueError, AzureError) as err:
            raise StateError(f"cannot open the state storage account: {redact(str(err))}") from None
        self._service = service
        self.container = container
        self.blob = blob
        self._client: BlobClient = service.get_blob_client(container, blob)
        self.lease_seconds = lease_seconds
        self.renew = renew
        self.renew_interval = renew_interval if renew_interval is not None else lease_seconds / 3
        self.keep_versions = keep_versions
        self.stats = StoreStats()
        self._mutex = threading.RLock()
        self._lease: BlobLeaseClient | None = None
        self._meta: dict[str, str] = {}
        self._etag: str | None = None
        self._has_doc = False
        self._corrupt: str | None = None
        self._lost: str | None = None
        self._last_renewed = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._snapshots: list[str] | None = None  # oldest first, once listed

    @classmethod
    def from_connection_string(cls, connection_string: str, container: str, blob: str, **kwargs: Any) -> BlobStore:
        return cls(connection_string, container, blob, None, **kwargs)

    def describe(self) -> str:
        base = _strip_query(self._service.url).rstrip("/")
        return redact(f"blob {base}/{self.container}/{self.blob}")

    @property
    def lease_id(self) -> str | None:
        """The id of the lease this store holds (None when it holds none)."""
        return self._lease.id if self._lease is not None else None

    @property
    def lost(self) -> str | None:
        """Why the lease was lost, or None."""
        return self._lost

    def _fail(self, action: str, err: Exception) -> StateError:
        text = getattr(err, "message", None) or str(err)
        first = redact(str(text)).strip().splitlines()[0] if str(text).strip() else type(err).__name__
        return StateError(f"cannot {action} {self.describe()}: {first}")

    # ---- lock
    def acquire(self, info: LockInfo) -> None:
        with self._mutex:
            if self._lease is not None:
                raise StateError(f"this store already holds the lock on {self.describe()}")
            lease = BlobLeaseClient(self._client)
            try:
                self._acquire_lease(lease, info)
                props = self._client.get_blob_properties(lease=lease)
                if self._etag is not None and props.etag != self._etag:
                    raise StateConflict(
                        f"state changed underneath this run: {self.describe()} was modified between "
                        f"this run's read and its lock; nothing was written. Run again."
                    )
                self._meta = _holder_metadata(info)
                resp = self._client.set_blob_metadata(
                    self._meta, lease=lease, etag=props.etag, match_condition=MatchConditions.IfNotModified
                )
            except (StateError, AzureError) as err:
                if lease.id and self._lease_taken(lease):
                    with contextlib.suppress(AzureError):
                        lease.release()
                if isinstance(err, StateError):
                    raise
                if isinstance(err, ResourceModifiedError):
                    raise StateConflict(
                        f"state changed underneath this run: {self.describe()} changed while "
                        f"taking the lock; nothing was written. Run again."
                    ) from None
                raise self._fail("lock", err) from None
            self._etag = str(resp["etag"])
            self._has_doc = (props.size or 0) > 0
            self._lease = lease
            self._lost = None
            self._last_renewed = time.monotonic()
            self._stop = threading.Event()
            if self.renew:
                self._thread = threading.Thread(
                    target=self._renew_loop,
                    args=(lease, self._stop),
                    name=f"hubspoke-lease-{self.blob}",
                    daemon=True,
                )
                self._thread.start()

    @staticmethod
    def _lease_taken(lease: BlobLeaseClient) -> bool:
        return getattr(lease, "etag", None) is not None

    def _acquire_lease(self, lease: BlobLeaseClient, info: LockInfo) -> None:
        for _attempt in range(3):
            try:
                lease.acquire(lease_duration=self.lease_seconds)
                return
            except ResourceNotFoundError as err:
                # No container and/or no blob yet: create them, then lease the empty placeholder.
                if _error_code(err) == "ContainerNotFound":
                    with contextlib.suppress(ResourceExistsError):
                        self._service.create_container(self.container)
                with contextlib.suppress(ResourceExistsError, ResourceModifiedError):
                    self._client.upload_blob(b"", overwrite=False)  # If-None-Match: *
            except HttpResponseError as err:
                if err.status_code == 409 and _error_code(err) in (
                    "LeaseAlreadyPresent",
                    "LeaseIsBreakingAndCannotBeAcquired",
                ):
                    holder = self._wait_for_holder()
                    raise StateLocked(locked_message(holder, self.describe()), holder=holder) from None
                raise
        raise StateError(f"cannot lock {self.describe()}: the blob kept disappearing")

    def _wait_for_holder(self, timeout: float = 3.0) -> dict[str, str]:
        """The lease holder's name. A run that has just taken the lease writes its name into the
        blob metadata a moment later (acquire, then Set Blob Metadata): wait briefly for it."""
        deadline = time.monotonic() + timeout
        while True:
            holder = self.holder() or {}
            if holder.get("pid") or time.monotonic() >= deadline:
                return holder
            time.sleep(0.1)

    def _renew_loop(self, lease: BlobLeaseClient, stop: threading.Event) -> None:
        wait = self.renew_interval
        while not stop.wait(wait):
            wait = self.renew_interval
            try:
                lease.renew()
                self._last_renewed = time.monotonic()
            except HttpResponseError as err:
                if err.status_code in (409, 412) or _is_lease_error(err):
                    self._lost = f"renewing the lease failed: {_error_code(err) or err.status_code}"
                    log.error("state lease lost on %s: %s", self.describe(), self._lost)
                    return
                self._note_transient(err)
                wait = min(self.renew_interval, 2.0)
            except AzureError as err:  # network trouble: keep trying until the lease would have expired
                self._note_transient(err)
                wait = min(self.renew_interval, 2.0)
            if self._lost:
                return

    def _note_transient(self, err: Exception) -> None:
        log.warning("renewing the state lease on %s failed: %s", self.describe(), redact(str(err))[:200])
        if time.monotonic() - self._last_renewed >= self.lease_seconds:
            self._lost = "the lease could not be renewed before it expired"

    def _stop_renewal(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def release(self) -> None:
        with self._mutex:
            lease, self._lease = self._lease, None
            self._stop_renewal()
            if lease is None:
                return
            if self._lost is None:
                try:
                    # Clear the holder so nobody is named while the lease is free.
                    resp = self._client.set_blob_metadata({}, lease=lease)
                    self._etag = str(resp["etag"])
                except AzureError as err:
                    log.warning("clearing the state holder on %s failed: %s", self.describe(), _short(err))
                try:
                    lease.release()
                except AzureError as err:
                    log.warning("releasing the state lease on %s failed: %s", self.describe(), _short(err))
            self._meta = {}

    def holder(self) -> dict[str, str] | None:
        try:
            props = self._client.get_blob_properties()
        except ResourceNotFoundError:
            return None
        except AzureError as err:
            raise self._fail("read", err) from None
        if props.lease.state != "leased":
            return None
        return _holder_from_metadata(props.metadata)

    def break_lock(self) -> dict[str, str] | None:
        former = self.holder()
        if former is None:
            return None
        try:
            BlobLeaseClient(self._client).break_lease(lease_break_period=0)
        except HttpResponseError as err:
            if not (err.status_code == 409 and "leasenotpresent" in _error_code(err).lower()):
                raise self._fail("unlock", err) from None
        return former

    # ---- document
    def load(self) -> dict[str, Any] | None:
        with self._mutex:
            try:
                downloader = self._client.download_blob(lease=self._lease)
                raw = downloader.readall()
            except ResourceNotFoundError:
                self._etag = None
                self._has_doc = False
                self._corrupt = None
                return None
            except AzureError as err:
                raise self._fail("read", err) from None
            self._etag = str(downloader.properties.etag)
            self._has_doc = len(raw) > 0
            if not raw:
                self._corrupt = None
                return None  # the empty placeholder that carries the lease: no document yet
            try:
                doc = _parse(raw, self.describe(), _recover_hint(self.versions(), "snapshot"))
            except StateCorrupt as err:
                self._corrupt = str(err)
                raise
            self._corrupt = None
            return doc

    def _check_writable(self, *, allow_corrupt: bool = False) -> BlobLeaseClient:
        lease = self._lease
        if lease is None:
            raise StateError(f"cannot write {self.describe()}: this run does not hold the state lock")
        if self._lost is None and time.monotonic() - self._last_renewed >= self.lease_seconds - 1:
            self._lost = f"the lease was not renewed for {self.lease_seconds}s and may have expired"
        if self._lost is not None:
            raise StateConflict(
                f"state changed underneath this run: the lock on {self.describe()} was lost "
                f"({self._lost}); nothing was written. Run again to resume."
            )
        if self._corrupt is not None and not allow_corrupt:
            raise StateCorrupt(f"refusing to overwrite a corrupt document. {self._corrupt}")
        return lease

    def _conflict(self, err: HttpResponseError) -> StateError:
        if _is_lease_error(err):
            self._lost = f"Azure refused the lease: {_error_code(err)}"
            return StateConflict(
                f"state changed underneath this run: the lock on {self.describe()} was broken or "
                f"expired ({_error_code(err)}); nothing was written. Run again to resume."
            )
        if isinstance(err, ResourceModifiedError) or err.status_code == 412:
            return StateConflict(
                f"state changed underneath this run: {self.describe()} was modified by someone else "
                f"since this run last read it (ETag mismatch); nothing was written. Run again to resume."
            )
        return self._fail("write", err)

    def save(self, doc: dict[str, Any]) -> None:
        data = _serialize(doc)
        with self._mutex:
            lease = self._check_writable()
            self._write(data, lease)

    def _write(self, data: bytes, lease: BlobLeaseClient) -> None:
        started = time.perf_counter()
        try:
            if self._has_doc:
                snap = self._client.create_snapshot(
                    lease=lease, etag=self._etag, match_condition=MatchConditions.IfNotModified
                )
                if self._snapshots is not None:
                    self._snapshots.append(str(snap["snapshot"]))
            resp = self._client.upload_blob(
                data,
                overwrite=True,
                lease=lease,
                etag=self._etag,
                match_condition=MatchConditions.IfNotModified,
                metadata=self._meta,  # Put Blob replaces metadata: keep the holder on it
                content_settings=ContentSettings(content_type="application/json"),
            )
        except HttpResponseError as err:
            raise self._conflict(err) from None
        except AzureError as err:
            raise self._fail("write", err) from None
        self._etag = str(resp["etag"])
        self._has_doc = True
        self._prune(lease)
        self.stats.record(len(data), time.perf_counter() - started)

    def _list_snapshots(self) -> list[str]:
        """Snapshot ids of the state blob, oldest first (zero-length placeholder snapshots excluded)."""
        container = self._service.get_container_client(self.container)
        try:
            items = container.list_blobs(name_starts_with=self.blob, include=["snapshots"])
            snaps = [b.snapshot for b in items if b.name == self.blob and b.snapshot and (b.size or 0) > 0]
        except ResourceNotFoundError:
            return []
        except AzureError as err:
            raise self._fail("list versions of", err) from None
        return sorted(str(s) for s in snaps)

    def _prune(self, lease: BlobLeaseClient) -> None:
        if self._snapshots is None:
            self._snapshots = self._list_snapshots()
        while len(self._snapshots) > self.keep_versions:
            old = self._snapshots.pop(0)
            snap_client = self._service.get_blob_client(self.container, self.blob, snapshot=old)
            try:
                snap_client.delete_blob()
            except ResourceNotFoundError:
                pass
            except HttpResponseError as err:
                if not _is_lease_error(err):
                    log.warning("pruning state version %s failed: %s", old, redact(str(err))[:200])
                    continue
                # Some service versions want the base blob's lease id to delete its snapshot.
                try:
                    snap_client.delete_blob(lease=lease)
                except ResourceNotFoundError:
                    pass
                except HttpResponseError as err2:  # a failed prune must not fail a successful save
                    log.warning("pruning state version %s failed: %s", old, _short(err2))

    def versions(self) -> list[str]:
        return list(reversed(self._list_snapshots()))

    def restore(self, version: str) -> None:
        with self._mutex:
            lease = self._check_writable(allow_corrupt=True)
            snap_client = self._service.get_blob_client(self.container, self.blob, snapshot=version)
            try:
                raw = snap_client.download_blob().readall()
            except (ResourceNotFoundError, HttpResponseError) as err:
                if isinstance(err, HttpResponseError) and err.status_code not in (400, 404):
                    raise self._fail("read", err) from None
                raise StateError(
                    f"no version {version!r} of {self.describe()}; kept versions: "
                    f"{', '.join(self.versions()) or 'none'}"
                ) from None
            _parse(raw, f"version {version} of {self.describe()}", "pick another version")
            self._write(raw, lease)
            self._corrupt = None


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
    return BlobStore(str(account_url), container, blob, credential, lease_seconds=lease_seconds)
