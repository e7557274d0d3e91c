"""The file store: the checkpoint document in a local file, under an OS file lock."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from hubspoke_deploy.errors import StateConflict, StateCorrupt, StateError, StateLocked
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


