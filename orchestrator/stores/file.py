"""The file store: the checkpoint document in a local file, under an OS file lock."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hubspoke_deploy.errors import StateConflict, StateCorrupt, StateError, StateLocked
from hubspoke_deploy.orchestrator.stores import journal
from hubspoke_deploy.orchestrator.stores.common import (
    KEEP_VERSIONS,
    LockInfo,
    StateStore,
    StoreStats,
    _parse,
    _recover_hint,
    _serialize,
    _version_id,
    locked_message,
)

log = logging.getLogger(__name__)

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

    Layout next to ``path``: ``<name>.lock`` (OS lock + holder JSON), ``<name>.journal`` (what
    changed since the document was last written whole, see :mod:`.journal`; appended with
    ``O_APPEND`` + fsync) and ``<name>.versions/`` (previous documents, newest 20 kept: hard links,
    or the replayed document when the journal was not empty). The document is base + journal;
    :meth:`append` writes an entry, and folds the journal into the base (atomic rewrite, then the
    journal is emptied) once it is as large as the base or its tail was found torn.
    """

    journaled = True

    def __init__(self, path: str | os.PathLike[str], *, keep_versions: int = KEEP_VERSIONS) -> None:
        self.path = Path(path).absolute()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.versions_dir = self.path.with_name(self.path.name + ".versions")
        self.keep_versions = keep_versions
        self.stats = StoreStats()
        self._mutex = threading.RLock()
        self._lock_fd: int | None = None
        self._info: LockInfo | None = None
        self._seen: _Fingerprint | None = None  # what this store last read or wrote (None: no file)
        self._loaded = False  # _seen comes from a load()/save() (not only from acquire())
        self._corrupt: str | None = None
        self._jseen: _Fingerprint | None = None  # the journal as this store last read or wrote it
        self._doc: dict[str, Any] | None = None  # base + journal as this store last read or wrote it
        self._base_bytes = 0
        self._journal_bytes = 0  # intact bytes of the journal
        self._torn = False  # the journal has a torn tail: the next write compacts

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
                if self._loaded and (current != self._seen or self._jstat() != self._jseen):
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

    def _jstat(self) -> _Fingerprint | None:
        try:
            return _fingerprint(os.stat(self.journal_path))
        except FileNotFoundError:
            return None

    def load(self) -> dict[str, Any] | None:
        with self._mutex:
            self._doc = None
            try:
                with open(self.path, "rb") as fh:
                    seen = _fingerprint(os.fstat(fh.fileno()))
                    raw = fh.read()
            except FileNotFoundError:
                self._seen = None
                self._jseen = self._jstat()
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
            self._base_bytes = len(raw)
            try:
                with open(self.journal_path, "rb") as fh:
                    self._jseen = _fingerprint(os.fstat(fh.fileno()))
                    jraw = fh.read()
            except FileNotFoundError:
                self._jseen, jraw = None, b""
            found = journal.replay(doc, jraw)
            self._journal_bytes, self._torn = found.valid_bytes, found.torn
            if found.torn:
                log.warning("%s: ignored a torn journal tail (%d bytes after %d intact entries); "
                            "the next write repairs it", self.describe(), len(jraw) - found.valid_bytes,
                            len(found.entries))
            self._doc = json.loads(json.dumps(doc))
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
        if self._stat() != self._seen or self._jstat() != self._jseen:
            raise StateConflict(
                f"state changed underneath this run: {self.describe()} was modified by someone else "
                f"since this run last read it; nothing was written. Run again to resume from it."
            )

    def save(self, doc: dict[str, Any]) -> None:
        data = _serialize(doc)
        with self._mutex:
            self._check_writable()
            self._write(data)

    def append(self, changes: Mapping[str, Any]) -> None:
        with self._mutex:
            self._check_writable()
            if self._doc is None:
                raise StateError(f"cannot append to {self.describe()}: no document was loaded or saved yet")
            entry = journal.encode(changes)
            if self._torn or journal.due(self._journal_bytes, self._base_bytes):
                # compaction: the base absorbs the journal (and a torn tail goes away)
                self._write(_serialize(journal.apply(copy.deepcopy(self._doc), json.loads(entry.split(b" ", 3)[3]))))
                return
            started = time.perf_counter()
            fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, entry)
                os.fsync(fd)
                self._jseen = _fingerprint(os.fstat(fd))
            finally:
                os.close(fd)
            if self._journal_bytes == 0:
                _fsync_dir(self.path.parent)  # a new journal file's name is durable too
            self._journal_bytes += len(entry)
            journal.apply(self._doc, json.loads(entry.split(b" ", 3)[3]))
            self.stats.record(len(entry), time.perf_counter() - started)

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
        self._empty_journal()
        self._doc = json.loads(data)
        self._base_bytes = len(data)
        self._prune()
        self.stats.record(len(data), time.perf_counter() - started)

    def _empty_journal(self) -> None:
        """After the base was rewritten whole: the journal's entries are in it (or superseded)."""
        if self._jstat() is not None:
            fd = os.open(self.journal_path, os.O_WRONLY)
            try:
                os.ftruncate(fd, 0)
                os.fsync(fd)
            finally:
                os.close(fd)
        self._jseen = self._jstat()
        self._journal_bytes = 0
        self._torn = False

    def _keep_current(self) -> None:
        """Keep the current document as a version: a hard link (no copy), since os.replace gives
        the new document a new inode. Falls back to a copy where links are not supported. When
        the journal holds entries, the version is the replayed document (base + journal)."""
        self.versions_dir.mkdir(exist_ok=True)
        target = self.versions_dir / f"{_version_id()}.json"
        if self._journal_bytes and self._doc is not None:
            target.write_bytes(_serialize(self._doc))
            return
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




def read_document(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The document a :class:`FileStore` at ``path`` holds now (base + intact journal entries),
    read without the lock (for watching a run from outside: tests, monitoring); None if none yet."""
    try:
        doc = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return None
    if not isinstance(doc, dict):
        raise StateCorrupt(f"checkpoint state file {path} does not hold a JSON object")
    try:
        raw = Path(str(path) + ".journal").read_bytes()
    except FileNotFoundError:
        raw = b""
    journal.replay(doc, raw)
    return doc
