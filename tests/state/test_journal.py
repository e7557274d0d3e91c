"""The file store's journal: a write costs what changed, a torn tail is ignored and repaired,
compaction keeps the document identical, and a conflict still stops the write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.errors import StateConflict
from hubspoke_deploy.orchestrator.checkpoint import Checkpoint
from hubspoke_deploy.orchestrator.stores import FileStore, LockInfo, journal, read_document


def _record(i: int) -> dict[str, Any]:
    return {"status": "succeeded", "resource_id": f"/subscriptions/x/rg/r-{i:04d}", "note": "x" * 1200}


def _checkpoint(path: Path, steps: int = 0) -> Checkpoint:
    store = FileStore(path)
    store.acquire(LockInfo.current("up", "run-journal"))
    cp = Checkpoint(store, "dep", "digest")
    cp.load()
    cp.begin_run("up", "run-journal")  # the first write after a load is the whole document
    for i in range(steps):
        cp.doc["steps"][f"s{i:04d}"] = _record(i)
    if steps:
        cp._full = True  # records put in directly: write them as a whole document
        cp.save()
    return cp


def _reload(path: Path) -> dict[str, Any]:
    store = FileStore(path)
    doc = store.load()
    assert doc is not None
    return doc


def test_a_write_appends_only_the_changed_records(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    cp = _checkpoint(path, steps=1000)
    base = path.read_bytes()
    before = cp.store.stats.bytes_written
    for n in range(20):
        cp.update(f"s{n:04d}", attempts=n + 1)
    per_write = (cp.store.stats.bytes_written - before) / 20
    assert per_write < 3 * 1024, per_write  # one ~1.3 KB record, not the ~1.3 MB document
    assert len(base) > 1_000_000 and path.read_bytes() == base  # the base was not rewritten
    assert _reload(path) == cp.snapshot()
    assert read_document(path) == cp.snapshot()


def test_forget_and_rename_are_journaled_as_tombstones(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    cp = _checkpoint(path)
    cp.update("a", status="succeeded")
    cp.update("b", status="succeeded")
    cp.forget("a")
    cp.rename({"b": "b~1"})
    entries = journal.decode(cp.store.journal_path.read_bytes()).entries  # type: ignore[attr-defined]
    assert {"gone": ["a"]}.items() <= entries[-2].items()
    assert entries[-1]["gone"] == ["b"] and "b~1" in entries[-1]["steps"]
    assert set(_reload(path)["steps"]) == {"b~1"}


@pytest.mark.parametrize("damage", ["truncate-mid-line", "corrupt-checksum", "garbage-tail"])
def test_a_torn_journal_tail_is_ignored_and_the_next_save_repairs_it(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "s.json"
    cp = _checkpoint(path)
    cp.update("kept", status="succeeded")
    good = cp.snapshot()
    cp.update("torn", status="succeeded")
    jpath = cp.store.journal_path  # type: ignore[attr-defined]
    raw = jpath.read_bytes()
    last = raw.rstrip(b"\n").rfind(b"\n") + 1
    if damage == "truncate-mid-line":
        jpath.write_bytes(raw[: last + (len(raw) - last) // 2])
    elif damage == "corrupt-checksum":
        head, length, digest, payload = raw[last:].split(b" ", 3)
        flipped = (b"0" if digest[:1] != b"0" else b"1") + digest[1:]
        jpath.write_bytes(raw[:last] + b" ".join((head, length, flipped, payload)))
    else:
        jpath.write_bytes(raw + b'J1 999 abc {"steps": {"x"')
    cp.store.release()

    store = FileStore(path)
    store.acquire(LockInfo.current("up", "run-2"))
    doc = store.load()
    assert doc is not None and "kept" in doc["steps"]
    if damage != "garbage-tail":
        assert "torn" not in doc["steps"]
        assert {k: v for k, v in doc.items() if k != "updated_at"} == {
            k: v for k, v in good.items() if k != "updated_at"}
    resumed = Checkpoint(store, "dep", "digest")
    resumed.load()
    resumed.begin_run("up", "run-2")  # first write after a load: the whole document (repair)
    resumed.update("after", status="succeeded")
    assert journal.decode(jpath.read_bytes()).torn is False
    assert _reload(path) == resumed.snapshot()


def test_a_torn_tail_found_by_the_store_is_repaired_by_its_next_append(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    cp = _checkpoint(path)
    cp.update("a", status="succeeded")
    cp.store.release()
    jpath = path.with_name(path.name + ".journal")
    jpath.write_bytes(jpath.read_bytes() + b"J1 12 00")
    store = FileStore(path)
    store.acquire(LockInfo.current("up", "run-3"))
    doc = store.load()
    assert doc is not None and "a" in doc["steps"]
    store.append({"steps": {"b": {"status": "succeeded"}}})
    assert jpath.read_bytes() == b""  # compacted: base rewritten, journal emptied
    assert set(json.loads(path.read_bytes())["steps"]) == {"a", "b"}
    store.release()


def test_compaction_keeps_the_document_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal, "MIN_COMPACT_BYTES", 4096)  # compact often
    path = tmp_path / "s.json"
    cp = _checkpoint(path, steps=30)
    compactions = 0
    for n in range(400):
        size = cp.store.journal_path.stat().st_size if cp.store.journal_path.exists() else 0  # type: ignore[attr-defined]
        cp.update(f"s{n % 30:04d}", attempts=n, note="y" * (n % 50))
        if n % 7 == 0:
            cp.forget(f"s{(n + 3) % 30:04d}")
        after = cp.store.journal_path.stat().st_size  # type: ignore[attr-defined]
        compactions += after < size
        assert read_document(path) == cp.snapshot()
    assert compactions >= 5
    assert _reload(path) == cp.snapshot()
    cp.end_run("succeeded", {})  # a run ends with a whole document
    assert cp.store.journal_path.read_bytes() == b""  # type: ignore[attr-defined]
    assert json.loads(path.read_bytes()) == cp.snapshot()


def test_an_append_after_someone_else_wrote_raises_state_conflict(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    cp = _checkpoint(path)
    cp.update("a", status="succeeded")
    jpath = cp.store.journal_path  # type: ignore[attr-defined]
    with jpath.open("ab") as fh:  # another writer appended underneath this run
        fh.write(journal.encode({"steps": {"intruder": {"status": "failed"}}}))
    with pytest.raises(StateConflict, match="state changed underneath this run"):
        cp.update("b", status="succeeded")
    assert b'"b"' not in jpath.read_bytes()


def test_an_append_after_the_lock_was_broken_raises_state_conflict(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    cp = _checkpoint(path)
    cp.update("a", status="succeeded")
    FileStore(path).break_lock()
    before = cp.store.journal_path.read_bytes()  # type: ignore[attr-defined]
    with pytest.raises(StateConflict, match=r"lock .* was broken"):
        cp.update("b", status="succeeded")
    assert cp.store.journal_path.read_bytes() == before  # type: ignore[attr-defined]
