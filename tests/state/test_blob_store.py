"""BlobStore specifics, against Azurite with the real azure-storage-blob client."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient
from hubspoke_deploy.errors import StateConflict, StateError, StateLocked
from hubspoke_deploy.orchestrator.stores import BlobStore, LockInfo

BLOB = "sandbox.state.json"


def info(run_id: str = "run-1", pid: int = 4242) -> LockInfo:
    return LockInfo(host="host-a", pid=pid, started_at="2025-01-01T00:00:00+00:00", command="up", run_id=run_id)


def doc(n: int) -> dict[str, Any]:
    return {"schema_version": 1, "n": n}


def test_container_and_placeholder_are_created_and_holder_is_in_metadata(
    conn_str: str, container: str, service: BlobServiceClient
) -> None:
    store = BlobStore(conn_str, container, BLOB, lease_seconds=15)
    try:
        store.acquire(info(run_id="run-meta"))
        props = service.get_blob_client(container, BLOB).get_blob_properties()
        assert props.size == 0
        assert props.lease.state == "leased" and props.lease.duration == "fixed"
        assert props.metadata["hubspoke_run_id"] == "run-meta"
        assert props.metadata["hubspoke_started_at"] == "2025-01-01T00:00:00+00:00"
        store.save(doc(1))
        props = service.get_blob_client(container, BLOB).get_blob_properties()
        assert props.metadata["hubspoke_run_id"] == "run-meta"  # Put Blob keeps the holder
        assert props.content_settings.content_type == "application/json"
    finally:
        store.release()
    props = service.get_blob_client(container, BLOB).get_blob_properties()
    assert props.lease.state == "available"
    assert not any(k.startswith("hubspoke_") for k in props.metadata)
    assert store.holder() is None


def test_describe_names_the_blob_and_no_secret(conn_str: str, container: str, azurite: Any) -> None:
    store = BlobStore(conn_str, container, BLOB)
    assert store.describe() == f"blob {azurite.blob_url}/{container}/{BLOB}"
    assert "AccountKey" not in repr(store)


def test_unreachable_account_error_has_no_secret(container: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    key = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0cw=="
    conn = (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    store = BlobStore(conn, container, BLOB, retry_total=0, connection_timeout=2)
    with pytest.raises(StateError) as exc:
        store.acquire(info())
    assert key not in str(exc.value) and "AccountKey" not in str(exc.value)
    assert f"127.0.0.1:{port}" in str(exc.value)


def test_lease_seconds_must_be_what_azure_allows(conn_str: str) -> None:
    with pytest.raises(ValueError, match="between 15 and 60"):
        BlobStore(conn_str, "c1234", BLOB, lease_seconds=10)


def test_lost_renewal_makes_save_conflict_before_writing(conn_str: str, container: str) -> None:
    owner = BlobStore(conn_str, container, BLOB, lease_seconds=15, renew_interval=0.2)
    try:
        owner.acquire(info(run_id="run-a"))
        owner.save(doc(1))
        BlobStore(conn_str, container, BLOB).break_lock()
        deadline = time.monotonic() + 10
        while owner.lost is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert owner.lost is not None and "renewing the lease failed" in owner.lost
        writes = owner.stats.writes
        with pytest.raises(StateConflict, match="was lost"):
            owner.save(doc(2))
        assert owner.stats.writes == writes
        assert BlobStore(conn_str, container, BLOB).load() == doc(1)
    finally:
        owner.release()


def test_unrenewed_lease_expires_renewed_lease_survives(conn_str: str, container: str) -> None:
    """The one slow test (~16 s): a run that stops renewing (killed) loses the lock after the
    15 s minimum lease; a run that renews keeps it."""
    crashed = BlobStore(conn_str, container, "crashed.state.json", lease_seconds=15, renew=False)
    alive = BlobStore(conn_str, container, "alive.state.json", lease_seconds=15, renew_interval=2)
    newcomer_crashed = BlobStore(conn_str, container, "crashed.state.json", lease_seconds=15)
    newcomer_alive = BlobStore(conn_str, container, "alive.state.json", lease_seconds=15)
    try:
        crashed.acquire(info(run_id="run-crashed"))
        crashed.save(doc(1))
        alive.acquire(info(run_id="run-alive"))
        alive.save(doc(1))
        started = time.monotonic()
        with pytest.raises(StateLocked, match="run-crashed"):
            newcomer_crashed.acquire(info(run_id="run-new"))
        time.sleep(max(0.0, 16.5 - (time.monotonic() - started)))
        newcomer_crashed.acquire(info(run_id="run-new"))  # expired by itself
        assert newcomer_crashed.holder() == info(run_id="run-new").as_holder()
        assert newcomer_crashed.load() == doc(1)
        with pytest.raises(StateLocked, match="run-alive"):
            newcomer_alive.acquire(info(run_id="run-new"))
        alive.save(doc(2))
        assert alive.load() == doc(2)
        with pytest.raises(StateConflict):  # the crashed run, if it came back, must not write
            crashed.save(doc(9))
        assert newcomer_crashed.load() == doc(1)
    finally:
        for s in (crashed, alive, newcomer_crashed, newcomer_alive):
            s.release()


def test_versions_are_snapshots_of_the_state_blob(conn_str: str, container: str, service: BlobServiceClient) -> None:
    store = BlobStore(conn_str, container, BLOB, lease_seconds=15, keep_versions=3)
    try:
        store.acquire(info())
        for n in range(6):
            store.save(doc(n))
        snaps = [
            b.snapshot for b in service.get_container_client(container).list_blobs(include=["snapshots"]) if b.snapshot
        ]
        assert sorted(snaps, reverse=True) == store.versions()
        assert len(snaps) == 3
        contents = [
            json.loads(service.get_blob_client(container, BLOB, snapshot=s).download_blob().readall())["n"]
            for s in store.versions()
        ]
        assert contents == [4, 3, 2]
    finally:
        store.release()


def test_save_with_lease_from_other_store_is_refused_after_reacquire(conn_str: str, container: str) -> None:
    """A run whose lease was broken and taken by another run cannot write, even with its old ETag."""
    first = BlobStore(conn_str, container, BLOB, lease_seconds=15, renew=False)
    second = BlobStore(conn_str, container, BLOB, lease_seconds=15)
    try:
        first.acquire(info(run_id="run-a"))
        first.save(doc(1))
        second.break_lock()
        second.acquire(info(run_id="run-b"))
        with pytest.raises(StateConflict):
            first.save(doc(2))
        assert second.load() == doc(1)
        second.save(doc(3))
        assert second.load() == doc(3)
    finally:
        first.release()
        second.release()
