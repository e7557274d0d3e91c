"""FileStore specifics: atomic writes, the OS lock across processes, stale locks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.errors import StateConflict, StateLocked
from hubspoke_deploy.orchestrator.stores import FileStore, LockInfo


def info(run_id: str = "run-1") -> LockInfo:
    return LockInfo(host="host-a", pid=os.getpid(), started_at="2025-01-01T00:00:00+00:00", command="up", run_id=run_id)


HOLDER_SCRIPT = """
import sys, time
from hubspoke_deploy.orchestrator.stores import FileStore, LockInfo
store = FileStore(sys.argv[1])
store.acquire(LockInfo.current(command="up", run_id="run-child"))
store.save({"schema_version": 1, "by": "child"})
print("locked", flush=True)
time.sleep(120)
"""


def _start_holder(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "locked", f"holder process did not lock (exit {proc.poll()})"
    return proc


def test_lock_is_held_across_processes_and_released_when_holder_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "s" / "state.json"
    child = _start_holder(path)
    try:
        store = FileStore(path)
        with pytest.raises(StateLocked) as exc:
            store.acquire(info())
        assert exc.value.holder["pid"] == str(child.pid)
        assert exc.value.holder["run_id"] == "run-child"
        assert f"pid {child.pid}" in str(exc.value)
        assert store.holder() == exc.value.holder
    finally:
        child.send_signal(signal.SIGKILL)  # a crashed run: no release(), the OS drops the flock
        child.wait(timeout=10)
    assert store.holder() is None
    store.acquire(info(run_id="run-next"))  # the stale lock is taken
    assert store.load() == {"schema_version": 1, "by": "child"}
    store.save({"schema_version": 1, "by": "parent"})
    assert json.loads(path.read_bytes()) == {"schema_version": 1, "by": "parent"}
    assert json.loads(store.lock_path.read_text())["run_id"] == "run-next"
    store.release()
    assert store.lock_path.read_text() == ""  # no stale holder text once released


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = FileStore(path)
    store.acquire(info())
    store.save({"schema_version": 1, "steps": {}})
    stop = threading.Event()
    seen: list[int] = []
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            raw = path.read_bytes()
            try:
                seen.append(len(json.loads(raw)["steps"]))
            except ValueError as err:
                errors.append(f"{err}: {len(raw)} bytes")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(60):
            store.save({"schema_version": 1, "steps": {f"step{i}": {"x": "y" * 4000} for i in range(n % 7 * 10)}})
    finally:
        stop.set()
        thread.join()
        store.release()
    assert errors == []
    assert len(seen) > 10 and len(set(seen)) > 1  # the reader really raced the writer
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_failed_write_leaves_the_old_document_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.json"
    store = FileStore(path)
    store.acquire(info())
    store.save({"schema_version": 1, "n": 1})
    before = path.read_bytes()

    def boom(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space left"):
        store.save({"schema_version": 1, "n": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    store.release()


def test_versions_are_hard_links_not_copies(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = FileStore(path)
    store.acquire(info())
    store.save({"schema_version": 1, "n": 1})
    ino = os.stat(path).st_ino
    store.save({"schema_version": 1, "n": 2})
    (version,) = store.versions()
    kept = store.versions_dir / f"{version}.json"
    assert os.stat(kept).st_ino == ino
    assert json.loads(kept.read_bytes()) == {"schema_version": 1, "n": 1}
    store.release()


def test_break_lock_of_a_live_holder_in_another_process_lets_the_next_run_in(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    child = _start_holder(path)
    try:
        before = path.read_bytes()
        former = FileStore(path).break_lock()
        assert former is not None and former["pid"] == str(child.pid)
        newcomer = FileStore(path)
        newcomer.acquire(info(run_id="run-new"))
        assert newcomer.load() == {"schema_version": 1, "by": "child"}
        assert path.read_bytes() == before
        newcomer.release()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)


def test_save_refused_when_the_file_was_edited_under_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = FileStore(path)
    store.acquire(info())
    store.save({"schema_version": 1, "n": 1})
    os.replace(_write(tmp_path / "other.json", b'{"schema_version": 1, "n": 42}'), path)
    with pytest.raises(StateConflict, match="modified by someone else"):
        store.save({"schema_version": 1, "n": 2})
    assert json.loads(path.read_bytes())["n"] == 42
    store.release()


def _write(p: Path, data: bytes) -> Path:
    p.write_bytes(data)
    return p
