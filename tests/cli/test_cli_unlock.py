"""``unlock`` like ``terraform force-unlock`` (issue 13, point 8): it names the holder in words,
breaks only the lock whose id it is given, refuses a holder still alive on this host unless
``--force``, and answers ``-o json`` (as ``graph`` does)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubspoke_deploy.orchestrator.stores import FileStore, LockInfo

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"
CLI = [sys.executable, "-m", "hubspoke_deploy.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    # unlock, status and graph make no Azure call: the in-process simulator endpoint is never started
    full = {k: v for k, v in os.environ.items() if not k.startswith("HUBSPOKE_")}
    full.update({"HUBSPOKE_STATE_BACKEND": "file", "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json")})
    return full


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args, "--config", str(SANDBOX)], capture_output=True, text=True, env=env,
                          timeout=120, cwd=REPO)


def hold(env: dict[str, str], *, pid: int, host: str, run_id: str = "abc123") -> FileStore:
    store = FileStore(Path(env["HUBSPOKE_STATE_PATH"]))
    store.acquire(LockInfo(host=host, pid=pid, started_at="2026-11-26T05:00:00+00:00", command="up", run_id=run_id))
    return store


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(proc.stdout)


@pytest.fixture
def live_holder(env: dict[str, str]) -> Iterator[FileStore]:
    """A lock held by a run alive on this host (this very test process)."""
    store = hold(env, pid=os.getpid(), host=socket.gethostname(), run_id="live42")
    yield store
    store.release()


def test_unlock_names_the_holder_in_words_and_changes_nothing_without_its_id(env: dict[str, str]) -> None:
    store = hold(env, pid=4242, host="build-agent-7")
    try:
        shown = cli(env, "unlock")
        assert shown.returncode == 2, shown.stderr
        assert ("state is locked by run abc123 (command up) on host build-agent-7, pid 4242, "
                "since 2026-11-26T05:00:00+00:00") in shown.stdout
        assert "{" not in shown.stdout + shown.stderr, "the holder in words, not a Python dict"
        assert "hubspoke-deploy unlock abc123" in shown.stderr
        assert store.holder() is not None and store._lock_is_ours(store._lock_fd or -1)
    finally:
        store.release()


def test_unlock_refuses_a_wrong_lock_id(env: dict[str, str]) -> None:
    store = hold(env, pid=4242, host="build-agent-7")
    try:
        wrong = cli(env, "unlock", "not-the-id", "--yes")
        assert wrong.returncode == 2, wrong.stderr
        assert "does not match the lock held by run abc123" in wrong.stderr
        assert store._lock_is_ours(store._lock_fd or -1), "the lock is intact"
        freed = cli(env, "unlock", "abc123", "--yes")
        assert freed.returncode == 0, freed.stderr
        assert "lock of run abc123 broken" in freed.stdout
        assert not store._lock_is_ours(store._lock_fd or -1)
    finally:
        store.release()


def test_unlock_refuses_a_run_alive_on_this_host_unless_forced(env: dict[str, str], live_holder: FileStore) -> None:
    refused = cli(env, "unlock", "live42", "--yes")
    assert refused.returncode == 3, refused.stderr
    assert "still working" in refused.stderr and f"pid {os.getpid()} is alive" in refused.stderr
    assert live_holder._lock_is_ours(live_holder._lock_fd or -1), "a live run's lock is kept"
    forced = cli(env, "unlock", "live42", "--force", "--yes")
    assert forced.returncode == 0, forced.stderr
    assert not live_holder._lock_is_ours(live_holder._lock_fd or -1)


def test_unlock_frees_a_dead_run_on_this_host_without_force(env: dict[str, str], dead_pid: int) -> None:
    store = hold(env, pid=dead_pid, host=socket.gethostname(), run_id="dead01")
    try:
        freed = cli(env, "unlock", "dead01", "--yes")
        assert freed.returncode == 0, freed.stderr
    finally:
        store.release()


def test_unlock_and_graph_answer_json(env: dict[str, str]) -> None:
    free = cli(env, "unlock", "-o", "json")
    assert free.returncode == 0, free.stderr
    assert json.loads(free.stdout)["locked"] is False
    store = hold(env, pid=4242, host="build-agent-7")
    try:
        shown = json.loads(cli(env, "unlock", "-o", "json").stdout)
        assert shown["locked"] is True and shown["unlocked"] is False
        assert shown["holder"]["run_id"] == "abc123" and shown["holder"]["host"] == "build-agent-7"
        broken = cli(env, "unlock", "abc123", "--yes", "-o", "json")
        assert broken.returncode == 0, broken.stderr
        assert json.loads(broken.stdout)["unlocked"] is True
    finally:
        store.release()
    graph = cli(env, "graph", "-o", "json")
    assert graph.returncode == 0, graph.stderr
    data = json.loads(graph.stdout)
    keys = {s["step"] for s in data["steps"]}
    assert "fw" in keys and "aks" in keys
    assert data["critical_path"] and set(data["critical_path"]) <= keys
    assert all(s["critical"] == (s["step"] in data["critical_path"]) for s in data["steps"])
