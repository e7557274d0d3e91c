"""The blob store: the checkpoint document in an Azure block blob, under a blob lease."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import threading
import time
import uuid
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
from hubspoke_deploy.orchestrator.stores import journal
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
#: Metadata key naming the journal generation a base document and its journal belong to.
_EPOCH_KEY = "journal_epoch"


def _epoch_of(properties: Any) -> str:
    """The journal epoch in a blob's downloaded properties ('' for a blob written without one)."""
    return str((getattr(properties, "metadata", None) or {}).get(_EPOCH_KEY) or "")

#: The journal's name: the state blob's name plus this suffix, in the same container.
JOURNAL_SUFFIX = ".journal"


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
    * Writes: a whole document is ``Put Blob`` with the lease id and ``If-Match`` the ETag this
      store last saw. Between whole documents a write is one ``Append Block`` to the journal,
      an append blob named ``<blob>.journal`` beside it (the entries of :mod:`.journal`): it
      carries the same lease id (the journal is leased with the state blob's lease id, renewed,
      released and broken with it), ``If-Match`` the journal's last ETag and the append
      position this store expects, so a write costs what changed, not the document's size.
      https://learn.microsoft.com/en-us/rest/api/storageservices/append-block (lease id,
      ``x-ms-blob-condition-appendpos`` -> 412 ``AppendPositionConditionNotMet``, If-Match).
      Once the journal is as large as the document, the next write is a whole document
      (compaction) and the journal is emptied. Both blobs carry a ``journal_epoch`` in their
      metadata, set anew by each whole write: a journal whose epoch is not the document's (a
      compaction cut short between the two writes) is ignored, never replayed on the newer
      document, and the next write repairs it.
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
        # the journal (see the class docstring)
        self._jclient: BlobClient = service.get_blob_client(container, blob + JOURNAL_SUFFIX)
        self._jlease: BlobLeaseClient | None = None
        self._jetag: str | None = None
        self._epoch = ""  # the journal epoch of the document this store last read or wrote
        self._doc: dict[str, Any] | None = None  # base + journal, as last read or written
        self._base_bytes = 0
        self._journal_bytes = 0  # intact bytes = the append position
        self._torn = False  # the journal has a torn tail or belongs to another epoch

    journaled = True

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
                epoch = _epoch_of(props)
                self._meta = _holder_metadata(info) | ({_EPOCH_KEY: epoch} if epoch else {})
                resp = self._client.set_blob_metadata(
                    self._meta, lease=lease, etag=props.etag, match_condition=MatchConditions.IfNotModified
                )
                jlease = self._acquire_journal_lease(str(lease.id))
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
            self._jlease = jlease
            self._lost = None
            self._last_renewed = time.monotonic()
            self._stop = threading.Event()
            if self.renew:
                self._thread = threading.Thread(
                    target=self._renew_loop,
                    args=((lease, jlease), self._stop),
                    name=f"hubspoke-lease-{self.blob}",
                    daemon=True,
                )
                self._thread.start()

    def _acquire_journal_lease(self, lease_id: str) -> BlobLeaseClient:
        """Lease the journal with the state blob's lease id (creating an empty journal first if
        there is none). The state blob's lease is the lock: a journal lease left by a run that
        lost it (killed, or its lock broken) is broken, so that run can append nothing more."""
        jlease = BlobLeaseClient(self._jclient, lease_id=lease_id)
        for _attempt in range(3):
            try:
                jlease.acquire(lease_duration=self.lease_seconds)
            except ResourceNotFoundError:
                with contextlib.suppress(ResourceExistsError, ResourceModifiedError):
                    self._jclient.create_append_blob(match_condition=MatchConditions.IfMissing)
                continue
            except HttpResponseError as err:
                if err.status_code == 409 and _error_code(err) in (
                    "LeaseAlreadyPresent",
                    "LeaseIsBreakingAndCannotBeAcquired",
                ):
                    with contextlib.suppress(HttpResponseError):
                        BlobLeaseClient(self._jclient).break_lease(lease_break_period=0)
                    continue
                raise
            props = self._jclient.get_blob_properties(lease=jlease)
            if self._jetag is not None and props.etag != self._jetag:
                with contextlib.suppress(AzureError):
                    jlease.release()
                raise StateConflict(
                    f"state changed underneath this run: {self.describe()} was modified between "
                    f"this run's read and its lock; nothing was written. Run again."
                )
            self._jetag = str(props.etag)
            return jlease
        raise StateError(f"cannot lock the journal of {self.describe()}: it kept changing hands")

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

    def _renew_loop(self, leases: tuple[BlobLeaseClient, ...], stop: threading.Event) -> None:
        wait = self.renew_interval
        while not stop.wait(wait):
            wait = self.renew_interval
            try:
                for lease in leases:
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
            jlease, self._jlease = self._jlease, None
            self._stop_renewal()
            if lease is None:
                return
            if self._lost is None:
                try:
                    # Clear the holder so nobody is named while the lease is free (keep the epoch).
                    kept = {k: v for k, v in self._meta.items() if k == _EPOCH_KEY}
                    resp = self._client.set_blob_metadata(kept, lease=lease)
                    self._etag = str(resp["etag"])
                except AzureError as err:
                    log.warning("clearing the state holder on %s failed: %s", self.describe(), _short(err))
                for held in (jlease, lease):
                    if held is None:
                        continue
                    try:
                        held.release()
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
        for client in (self._client, self._jclient):
            try:
                BlobLeaseClient(client).break_lease(lease_break_period=0)
            except ResourceNotFoundError:
                pass  # no journal (a state written before it existed)
            except HttpResponseError as err:
                if not (err.status_code == 409 and "leasenotpresent" in _error_code(err).lower()):
                    raise self._fail("unlock", err) from None
        return former

    # ---- document
    def load(self) -> dict[str, Any] | None:
        with self._mutex:
            self._doc = None
            try:
                downloader = self._client.download_blob(lease=self._lease)
                raw = downloader.readall()
            except ResourceNotFoundError:
                self._etag = None
                self._has_doc = False
                self._corrupt = None
                self._forget_journal()
                return None
            except AzureError as err:
                raise self._fail("read", err) from None
            self._etag = str(downloader.properties.etag)
            self._epoch = _epoch_of(downloader.properties)
            self._has_doc = len(raw) > 0
            if not raw:
                self._corrupt = None
                self._forget_journal()
                return None  # the empty placeholder that carries the lease: no document yet
            try:
                doc = _parse(raw, self.describe(), _recover_hint(self.versions(), "snapshot"))
            except StateCorrupt as err:
                self._corrupt = str(err)
                raise
            self._corrupt = None
            self._base_bytes = len(raw)
            found = self._replay_journal(doc)
            if found.torn:
                log.warning("%s: ignored a torn journal tail (%d intact entries kept); the next write "
                            "repairs it", self.describe(), len(found.entries))
            self._doc = json.loads(json.dumps(doc))
            return doc

    def _forget_journal(self) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self._jetag = str(self._jclient.get_blob_properties().etag)
        self._journal_bytes, self._torn = 0, False

    def _replay_journal(self, doc: dict[str, Any]) -> journal.Replay:
        """Apply the journal's intact entries to ``doc`` when it belongs to the document's epoch."""
        self._journal_bytes, self._torn = 0, False
        try:
            downloader = self._jclient.download_blob(lease=self._jlease)
            jraw = downloader.readall()
        except ResourceNotFoundError:
            self._jetag = None
            return journal.Replay()
        except AzureError as err:
            raise self._fail("read the journal of", err) from None
        self._jetag = str(downloader.properties.etag)
        if _epoch_of(downloader.properties) != self._epoch:
            # a compaction cut short: the document already holds these entries (or newer values)
            self._torn = bool(jraw)
            return journal.Replay(torn=bool(jraw))
        found = journal.replay(doc, jraw)
        self._journal_bytes, self._torn = found.valid_bytes, found.torn
        return found

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

    def append(self, changes: Mapping[str, Any]) -> None:
        with self._mutex:
            lease = self._check_writable()
            if self._doc is None:
                raise StateError(f"cannot append to {self.describe()}: no document was loaded or saved yet")
            entry = journal.encode(changes)
            payload = json.loads(entry.split(b" ", 3)[3])  # a private copy of the changes
            if self._torn or journal.due(self._journal_bytes, self._base_bytes):
                # compaction: the document absorbs the journal (and a torn or stale one goes away)
                self._write(_serialize(journal.apply(copy.deepcopy(self._doc), payload)), lease)
                return
            started = time.perf_counter()
            try:
                resp = self._jclient.append_block(
                    entry,
                    lease=self._jlease,
                    etag=self._jetag,
                    match_condition=MatchConditions.IfNotModified,
                    appendpos_condition=self._journal_bytes,
                )
            except HttpResponseError as err:
                raise self._conflict(err) from None
            except AzureError as err:
                raise self._fail("write", err) from None
            self._jetag = str(resp["etag"])
            self._journal_bytes += len(entry)
            journal.apply(self._doc, payload)
            self.stats.record(len(entry), time.perf_counter() - started)

    def _write(self, data: bytes, lease: BlobLeaseClient) -> None:
        """A whole document: snapshot the current one, put the new one with a new journal
        epoch, then empty the journal under that epoch."""
        started = time.perf_counter()
        epoch = uuid.uuid4().hex[:16]
        meta = {**self._meta, _EPOCH_KEY: epoch}
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
                metadata=meta,  # Put Blob replaces metadata: keep the holder on it
                content_settings=ContentSettings(content_type="application/json"),
            )
            self._etag = str(resp["etag"])
            self._meta, self._epoch = meta, epoch
            self._has_doc = True
            # Emptying the journal (Put Blob of an append blob) keeps its lease.
            guard: dict[str, Any] = (
                {"etag": self._jetag, "match_condition": MatchConditions.IfNotModified} if self._jetag else {}
            )
            jresp = self._jclient.create_append_blob(metadata={_EPOCH_KEY: epoch}, lease=self._jlease, **guard)
        except HttpResponseError as err:
            raise self._conflict(err) from None
        except AzureError as err:
            raise self._fail("write", err) from None
        self._jetag = str(jresp["etag"])
        self._journal_bytes, self._torn = 0, False
        self._doc = json.loads(data)
        self._base_bytes = len(data)
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




def read_blob_document(service: BlobServiceClient, container: str, blob: str) -> dict[str, Any] | None:
    """The document a :class:`BlobStore` keeps in ``container/blob`` (the document plus the intact
    entries of its journal, when the journal belongs to the document's epoch), read without the
    lock (for watching a run from outside: tests, monitoring); None if there is none yet."""
    try:
        downloader = service.get_blob_client(container, blob).download_blob()
        raw = downloader.readall()
    except ResourceNotFoundError:
        return None
    if not raw:
        return None
    doc = json.loads(raw)
    if not isinstance(doc, dict):
        raise StateCorrupt(f"checkpoint state blob {container}/{blob} does not hold a JSON object")
    epoch = _epoch_of(downloader.properties)
    try:
        jdownloader = service.get_blob_client(container, blob + JOURNAL_SUFFIX).download_blob()
        jraw = jdownloader.readall()
    except ResourceNotFoundError:
        return doc
    if _epoch_of(jdownloader.properties) == epoch:
        journal.replay(doc, jraw)
    return doc
