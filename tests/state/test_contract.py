"""The StateStore contract, run against both FileStore (tmp_path) and BlobStore (Azurite)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspoke_deploy.errors import EXIT_LOCKED, StateConflict, StateCorrupt, StateError, StateLocked
from hubspoke_deploy.orchestrator.stores import KEEP_VERSIONS, SUPPORTED_SCHEMA_VERSION, LockInfo

Backend = Any  # tests/state/conftest.py::Backend (conftest modules are not importable by name)


def lock_info(run_id: str = "run-1", command: str = "up", pid: int = 4242, host: str = "host-a") -> LockInfo:
    return LockInfo(host=host, pid=pid, started_at="2025-01-01T00:00:00+00:00", command=command, run_id=run_id)


def doc(n: int, **extra: Any) -> dict[str, Any]:
    return {"schema_version": 1, "deployment": "sandbox", "n": n, "steps": {"s": {"status": "done"}}, **extra}


def test_no_document_yet_loads_none(backend: Backend) -> None:
    store = backend.make()
    assert store.load() is None
    store.acquire(lock_info())
    assert store.load() is None  # the blob placeholder that carries the lease is not a document
    assert store.versions() == []


def test_round_trip_and_a_second_store_reads_it(backend: Backend) -> None:
    store = backend.make()
    store.acquire(lock_info())
    store.load()
    payload = doc(1, note="héllo ✓", nested={"a": [1, 2, {"b": None}]})
    store.save(payload)
    assert store.load() == payload
    store.release()
    assert backend.make().load() == payload
    assert store.stats.writes == 1
    assert store.stats.bytes_written == len(backend.raw_read() or b"")
    assert store.stats.seconds_writing > 0


def test_save_stamps_schema_version_and_refuses_newer(backend: Backend) -> None:
    store = backend.make()
    store.acquire(lock_info())
    store.save({"steps": {}})
    assert store.load() == {"schema_version": SUPPORTED_SCHEMA_VERSION, "steps": {}}
    with pytest.raises(ValueError, match="schema_version"):
        store.save({"schema_version": SUPPORTED_SCHEMA_VERSION + 1})


def test_save_without_the_lock_is_refused(backend: Backend) -> None:
    store = backend.make()
    with pytest.raises(StateError, match="does not hold the state lock"):
        store.save(doc(1))
    assert backend.raw_read() in (None, b"")


def test_second_acquire_names_the_holder(backend: Backend) -> None:
    first = backend.make()
    first.acquire(lock_info(run_id="run-a", pid=1111, host="build-17", command="up"))
    second = backend.make()
    with pytest.raises(StateLocked) as exc:
        second.acquire(lock_info(run_id="run-b", pid=2222, command="plan"))
    msg = str(exc.value)
    assert msg.startswith("state is locked by run run-a on build-17 pid 1111 since 2025-01-01T00:00:00+00:00")
    assert "(command: up)" in msg and "hubspoke-deploy unlock" in msg
    assert exc.value.exit_code == EXIT_LOCKED
    assert exc.value.holder == {
        "host": "build-17",
        "pid": "1111",
        "started_at": "2025-01-01T00:00:00+00:00",
        "command": "up",
        "run_id": "run-a",
    }
    assert second.holder() == exc.value.holder


def test_release_then_acquire_and_release_is_idempotent(backend: Backend) -> None:
    first = backend.make()
    first.acquire(lock_info(run_id="run-a"))
    first.save(doc(1))
    first.release()
    first.release()
    assert first.holder() is None
    second = backend.make()
    second.acquire(lock_info(run_id="run-b"))
    assert second.holder() is not None and second.holder()["run_id"] == "run-b"  # type: ignore[index]
    assert second.load() == doc(1)
    second.save(doc(2))
    assert second.load() == doc(2)


def test_write_behind_the_back_makes_the_next_save_conflict(backend: Backend) -> None:
    store = backend.make()
    store.acquire(lock_info())
    store.load()
    store.save(doc(1))
    intruder = json.dumps(doc(99)).encode()
    backend.raw_write(intruder, holder=store)  # e.g. a second tool writing with the same lease
    with pytest.raises(StateConflict, match="state changed underneath this run"):
        store.save(doc(2))
    assert backend.raw_read() == intruder
    assert store.stats.writes == 1


def test_conflict_when_document_changed_between_two_instances(backend: Backend) -> None:
    first = backend.make()
    first.acquire(lock_info(run_id="run-a"))
    first.save(doc(1))
    first.release()
    stale = backend.make()
    assert stale.load() == doc(1)  # read without the lock (e.g. plan)...
    other = backend.make()
    other.acquire(lock_info(run_id="run-b"))  # ...while another run changes it
    other.save(doc(2))
    other.release()
    with pytest.raises(StateConflict):  # then locking after the stale read must not let it write
        stale.acquire(lock_info(run_id="run-c"))
        stale.save(doc(3))
    assert json.loads(backend.raw_read() or b"") == doc(2)


def test_broken_lock_makes_the_next_save_conflict_and_leaves_content(backend: Backend) -> None:
    owner = backend.make()
    owner.acquire(lock_info(run_id="run-a", pid=1111))
    owner.save(doc(1))
    before = backend.raw_read()
    breaker = backend.make()
    former = breaker.break_lock()
    assert former is not None and former["run_id"] == "run-a" and former["pid"] == "1111"
    with pytest.raises(StateConflict, match="state changed underneath this run"):
        owner.save(doc(2))
    assert backend.raw_read() == before
    breaker.acquire(lock_info(run_id="run-b"))  # the lock is free for the next run
    assert breaker.load() == doc(1)
    breaker.save(doc(3))
    assert breaker.load() == doc(3)


def test_break_lock_when_nobody_holds_it_returns_none(backend: Backend) -> None:
    assert backend.make().break_lock() is None


@pytest.mark.parametrize(
    ("payload", "what"),
    [
        (b'{"schema_version": 1, "steps": {', "not valid JSON"),
        (b"[1, 2, 3]", "not an object"),
        (b'{"schema_version": 99, "steps": {}}', "newer than the 2"),
        (b'{"steps": {}}', "not an integer"),
        (b"\xff\xfe garbage", "not valid JSON"),
    ],
)
def test_corrupt_document_is_reported_and_never_overwritten(backend: Backend, payload: bytes, what: str) -> None:
    backend.raw_write(payload)
    store = backend.make()
    store.acquire(lock_info())
    with pytest.raises(StateCorrupt) as exc:
        store.load()
    msg = str(exc.value)
    assert what in msg
    assert store.describe() in msg and "left untouched" in msg and "hubspoke-deploy state restore" in msg
    with pytest.raises(StateCorrupt, match="refusing to overwrite"):
        store.save(doc(1))
    assert backend.raw_read() == payload
    assert store.stats.writes == 0


def test_versions_are_kept_pruned_to_20_and_restorable(backend: Backend) -> None:
    store = backend.make()
    store.acquire(lock_info())
    store.load()
    for n in range(KEEP_VERSIONS + 6):
        store.save(doc(n))
    versions = store.versions()
    assert len(versions) == KEEP_VERSIONS
    assert versions == sorted(versions, reverse=True)  # newest first
    store.restore(versions[0])  # the newest kept version is the one before the current document
    assert store.load() == doc(KEEP_VERSIONS + 4)
    oldest = store.versions()[-1]
    store.restore(oldest)
    restored = store.load()
    assert restored is not None and restored["n"] == 6  # versions of docs 0..5 were pruned
    assert len(store.versions()) == KEEP_VERSIONS
    with pytest.raises(StateError, match="no version"):
        store.restore("20000101T000000.000000Z-1-000001")


def test_restore_recovers_from_a_corrupt_document_and_keeps_it(backend: Backend) -> None:
    first = backend.make()
    first.acquire(lock_info())
    first.save(doc(1))
    first.save(doc(2))
    first.release()
    backend.raw_write(b"{oops")
    store = backend.make()
    store.acquire(lock_info(run_id="run-b"))
    with pytest.raises(StateCorrupt) as exc:
        store.load()
    newest = store.versions()[0]
    assert newest in str(exc.value)  # the message names the version to restore
    store.restore(newest)
    assert store.load() == doc(1)
    kept = store.versions()
    assert len(kept) == 2  # doc 1 and the corrupt document itself, never lost
    with pytest.raises(StateCorrupt, match="pick another version"):
        store.restore(kept[0])  # a corrupt version is not restored
    assert store.load() == doc(1)
    store.save(doc(3))  # writable again after a successful restore
    assert store.load() == doc(3)


def test_write_behind_the_back_before_the_first_save_conflicts(backend: Backend) -> None:
    store = backend.make()
    store.acquire(lock_info())
    assert store.load() is None
    intruder = json.dumps(doc(99)).encode()
    backend.raw_write(intruder, holder=store)
    with pytest.raises(StateConflict, match="state changed underneath this run"):
        store.save(doc(1))
    assert backend.raw_read() == intruder
