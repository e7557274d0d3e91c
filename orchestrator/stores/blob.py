"""The blob store: the checkpoint document in an Azure block blob, under a blob lease."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
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
from hubspoke_deploy.errors import StateConflict, StateCorrupt, StateError, StateLocked
from hubspoke_deploy.orchestrator.stores.common import (
    _HOLDER_KEYS,
    DEFAULT_LEASE_SECONDS,
    KEEP_VERSIONS,
    MAX_LEASE_SECONDS,
    MIN_LEASE_SECONDS,
    LockInfo,
    StateStore,
    StoreStats,
    _parse,
    _recover_hint,
    _serialize,
    locked_message,
    redact,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

log = logging.getLogger(__name__)

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


