"""The blob store's journal (an append blob beside the state blob, same lease): a write costs what
changed, compaction keeps the document identical, a torn or stale journal is never replayed, and
a conflict or a broken lock still stops the write. Against Azurite."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobLeaseClient, BlobServiceClient
from hubspoke_deploy.errors import StateConflict
from hubspoke_deploy.orchestrator.checkpoint import Checkpoint
from hubspoke_deploy.orchestrator.stores import BlobStore, LockInfo, journal
from hubspoke_deploy.orchestrator.stores.blob import JOURNAL_SUFFIX, read_blob_document

BLOB = "sandbox.state.json"


def _record(i: int) -> dict[str, Any]:
    return {"status": "succeeded", "resource_id": f"/subscriptions/x/rg/r-{i:04d}", "note": "x" * 1200}


def _store(conn_str: str, container: str) -> BlobStore:
    return BlobStore(conn_str, container, BLOB, lease_seconds=15)


def _checkpoint(store: BlobStore, steps: int = 0, run_id: str = "run-journal") -> Checkpoint:
    store.acquire(LockInfo.current("up", run_id))
    cp = Checkpoint(store, "dep", "digest")
    cp.load()
    cp.begin_run("up", run_id)  # the first write after a load is the whole document
    for i in range(steps):
        cp.doc["steps"][f"s{i:04d}"] = _record(i)
    if steps:
        cp._full = True  # records put in directly: write them as a whole document
        cp.save()
    return cp


def _raw(service: BlobServiceClient, container: str, name: str) -> bytes:
    data: bytes = service.get_blob_client(container, name).download_blob().readall()
    return data


def _reload(conn_str: str, container: str) -> dict[str, Any]:
    doc = _store(conn_str, container).load()
    assert doc is not None
    return doc


def test_a_write_appends_only_the_changed_records(conn_str: str, container: str, service: BlobServiceClient) -> None:
    cp = _checkpoint(_store(conn_str, container), steps=1000)
    base = _raw(service, container, BLOB)
    before_bytes, before_writes = cp.store.stats.bytes_written, cp.store.stats.writes
    for n in range(20):
        cp.update(f"s{n:04d}", attempts=n + 1)
    per_write = (cp.store.stats.bytes_written - before_bytes) / (cp.store.stats.writes - before_writes)
    assert per_write < 3 * 1024, per_write  # one ~1.3 KB record, not the ~1.3 MB document
    assert len(base) > 1_000_000 and _raw(service, container, BLOB) == base  # the base was not rewritten
    assert len(journal.decode(_raw(service, container, BLOB + JOURNAL_SUFFIX)).entries) == 20
    assert _reload(conn_str, container) == cp.snapshot()
    assert read_blob_document(service, container, BLOB) == cp.snapshot()
    cp.store.release()


def test_compaction_keeps_the_document_identical(
    conn_str: str, container: str, service: BlobServiceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal, "MIN_COMPACT_BYTES", 4096)  # compact often
    cp = _checkpoint(_store(conn_str, container), steps=2)
    compactions = 0
    for n in range(100):
        size = len(_raw(service, container, BLOB + JOURNAL_SUFFIX))
        cp.update(f"s{n % 30:04d}", attempts=n, note="y" * (n % 50))
        if n % 7 == 0:
            cp.forget(f"s{(n + 3) % 30:04d}")
        compactions += len(_raw(service, container, BLOB + JOURNAL_SUFFIX)) < size
        assert read_blob_document(service, container, BLOB) == cp.snapshot()
    assert compactions >= 3
    assert _reload(conn_str, container) == cp.snapshot()
    cp.end_run("succeeded", {})  # a run ends with a whole document: the journal is empty after it
    assert _raw(service, container, BLOB + JOURNAL_SUFFIX) == b""
    cp.store.release()
    assert _reload(conn_str, container) == cp.snapshot()


def test_a_journal_from_an_older_epoch_is_never_replayed(
    conn_str: str, container: str, service: BlobServiceClient
) -> None:
    """A compaction cut short between its two writes leaves the new document beside the old
    journal: replaying it would put older step records over newer ones."""
    cp = _checkpoint(_store(conn_str, container))
    cp.update("a", status="running", attempts=1)
    jclient = service.get_blob_client(container, BLOB + JOURNAL_SUFFIX)
    old_journal = jclient.download_blob()
    old_bytes, old_meta = old_journal.readall(), dict(old_journal.properties.metadata)
    cp.update("a", status="succeeded", attempts=2)
    cp._full = True
    cp.save()  # a whole write: new epoch, journal emptied
    newest = cp.snapshot()
    lease = cp.store.lease_id
    jclient.create_append_blob(metadata=old_meta, lease=lease)  # the journal as if its reset never ran
    jclient.append_block(old_bytes, lease=lease)
    cp.store.release()

    assert read_blob_document(service, container, BLOB) == newest
    store = _store(conn_str, container)
    store.acquire(LockInfo.current("up", "run-2"))
    doc = store.load()
    assert doc == newest and doc["steps"]["a"]["status"] == "succeeded"
    store.append({"steps": {"b": {"status": "succeeded"}}})  # repairs: a whole write, journal emptied
    assert _raw(service, container, BLOB + JOURNAL_SUFFIX) == b""
    store.release()
    again = _reload(conn_str, container)
    assert again["steps"]["a"]["status"] == "succeeded" and "b" in again["steps"]


def test_a_torn_journal_tail_is_ignored_and_the_next_write_repairs_it(
    conn_str: str, container: str, service: BlobServiceClient
) -> None:
    cp = _checkpoint(_store(conn_str, container))
    cp.update("kept", status="succeeded")
    service.get_blob_client(container, BLOB + JOURNAL_SUFFIX).append_block(
        b'J1 999 abc {"steps": {"x"', lease=cp.store.lease_id)
    cp.store.release()
    store = _store(conn_str, container)
    store.acquire(LockInfo.current("up", "run-3"))
    doc = store.load()
    assert doc is not None and "kept" in doc["steps"] and "x" not in doc["steps"]
    store.append({"steps": {"after": {"status": "succeeded"}}})
    assert _raw(service, container, BLOB + JOURNAL_SUFFIX) == b""  # compacted
    store.release()
    assert set(_reload(conn_str, container)["steps"]) == {"kept", "after"}


def test_an_append_after_someone_else_appended_raises_state_conflict(
    conn_str: str, container: str, service: BlobServiceClient
) -> None:
    cp = _checkpoint(_store(conn_str, container))
    cp.update("a", status="succeeded")
    jclient = service.get_blob_client(container, BLOB + JOURNAL_SUFFIX)
    jclient.append_block(journal.encode({"steps": {"intruder": {"status": "failed"}}}), lease=cp.store.lease_id)
    before = _raw(service, container, BLOB + JOURNAL_SUFFIX)
    with pytest.raises(StateConflict, match="state changed underneath this run"):
        cp.update("b", status="succeeded")
    assert _raw(service, container, BLOB + JOURNAL_SUFFIX) == before
    cp.store.release()


def test_the_journal_carries_the_lock_and_unlock_breaks_it(
    conn_str: str, container: str, service: BlobServiceClient
) -> None:
    cp = _checkpoint(_store(conn_str, container))
    cp.update("a", status="succeeded")
    jclient = service.get_blob_client(container, BLOB + JOURNAL_SUFFIX)
    assert jclient.get_blob_properties().lease.state == "leased"
    with pytest.raises(HttpResponseError):  # nobody without the lease can append
        jclient.append_block(journal.encode({"steps": {"x": {}}}))
    before = _raw(service, container, BLOB + JOURNAL_SUFFIX)
    assert _store(conn_str, container).break_lock() is not None  # what `hubspoke-deploy unlock` does
    assert jclient.get_blob_properties().lease.state != "leased"
    with pytest.raises(StateConflict, match="state changed underneath this run"):
        cp.update("b", status="succeeded")
    assert _raw(service, container, BLOB + JOURNAL_SUFFIX) == before
    nxt = _store(conn_str, container)
    nxt.acquire(LockInfo.current("up", "run-next"))
    doc = nxt.load()
    assert doc is not None and "a" in doc["steps"] and "b" not in doc["steps"]
    nxt.release()


def test_a_journal_lease_left_behind_is_broken_by_the_next_holder(
    conn_str: str, container: str, service: BlobServiceClient
) -> None:
    cp = _checkpoint(_store(conn_str, container))
    cp.update("a", status="succeeded")
    cp.store.release()
    # a run killed between its two lease renewals: the journal still leased, the state blob free
    BlobLeaseClient(service.get_blob_client(container, BLOB + JOURNAL_SUFFIX)).acquire(lease_duration=60)
    nxt = _store(conn_str, container)
    nxt.acquire(LockInfo.current("up", "run-next"))
    doc = nxt.load()
    assert doc is not None and "a" in doc["steps"]
    nxt.append({"steps": {"b": {"status": "succeeded"}}})
    nxt.release()
    assert set(_reload(conn_str, container)["steps"]) == {"a", "b"}


def test_a_state_written_before_the_journal_existed_loads_and_continues(
    conn_str: str, container: str, service: BlobServiceClient
) -> None:
    """Old checkpoints: a state blob with no journal beside it and no epoch in its metadata."""
    service.create_container(container)
    old = {"schema_version": 2, "deployment": "dep", "steps": {"a": {"status": "succeeded"}}, "runs": []}
    service.get_blob_client(container, BLOB).upload_blob(journal.json.dumps(old).encode())
    assert read_blob_document(service, container, BLOB) == old
    store = _store(conn_str, container)
    store.acquire(LockInfo.current("up", "run-old"))
    assert store.load() == old
    store.save(old)
    store.append({"steps": {"b": {"status": "succeeded"}}})
    store.release()
    assert set(_reload(conn_str, container)["steps"]) == {"a", "b"}
