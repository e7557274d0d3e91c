"""The checkpoint document: one versioned JSON per deployment.

Per step it records status, inputs digest, outputs, owned resource id, whether
this deployment created the resource, in-flight LRO continuation tokens,
attempts, last error and timestamps. It never holds a secret: outputs pass
through :func:`assert_no_secrets` before every save.

A save writes what changed since the previous one (the step records touched, tombstones of
the removed ones, the document-level keys set) as one journal entry when the store keeps a
journal (:mod:`hubspoke_deploy.orchestrator.stores.journal`); the first save after loading
(it persists a migration) and the last of a run write the whole document.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import threading
from typing import Any

from hubspoke_deploy.errors import StateCorrupt, StepFailed
from hubspoke_deploy.orchestrator.redact import find_secrets

SCHEMA_VERSION = 2

PENDING = "pending"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
DELETED = "deleted"
KEPT = "kept"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def digest(value: Any) -> str:
    raw = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


class Checkpoint:
    """In-memory checkpoint document, saved through a StateStore after every change."""

    def __init__(self, store: Any, deployment: str, config_digest: str) -> None:
        self.store = store
        self.deployment = deployment
        self.config_digest = config_digest
        self._lock = threading.RLock()
        self._io_lock = threading.Lock()
        self._version = 0
        self._saved_version = 0
        self.doc: dict[str, Any] = {}
        self.writes = 0
        # What changed since the last write (group commit carries them all in one write).
        self._dirty_steps: set[str] = set()
        self._dirty_meta: set[str] = set()
        self._full = True  # the next write is the whole document

    # -- lifecycle ----------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        doc: dict[str, Any] | None = self.store.load()
        if doc is None:
            doc = {
                "schema_version": SCHEMA_VERSION,
                "deployment": self.deployment,
                "created_at": now(),
                "steps": {},
                "runs": [],
            }
        else:
            self._check(doc)
            from hubspoke_deploy.orchestrator.migrate import migrate

            doc = migrate(doc, SCHEMA_VERSION)
        with self._lock:
            self.doc = doc
            self._full = True
            self._dirty_steps.clear()
            self._dirty_meta.clear()
        return doc

    def _check(self, doc: dict[str, Any]) -> None:
        where = self.store.describe() if hasattr(self.store, "describe") else "state"
        version = doc.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise StateCorrupt(
                f"{where}: schema_version {version!r} is not supported by this version "
                f"(supports <= {SCHEMA_VERSION}); upgrade hubspoke-deploy. The state was left untouched."
            )
        if doc.get("deployment") not in (None, self.deployment):
            raise StateCorrupt(
                f"{where}: belongs to deployment {doc.get('deployment')!r}, not {self.deployment!r}; "
                "point [state] at this deployment's own state. The state was left untouched."
            )
        if not isinstance(doc.get("steps", {}), dict):
            raise StateCorrupt(f"{where}: 'steps' is not an object. The state was left untouched.")

    def begin_run(self, command: str, run_id: str) -> None:
        with self._lock:
            runs = self.doc.setdefault("runs", [])
            runs.append({"id": run_id, "command": command, "started_at": now(), "config_digest": self.config_digest})
            del runs[:-20]
            self.doc["config_digest"] = self.config_digest
            self._dirty_meta.update(("runs", "config_digest"))
        self.save()

    def end_run(self, status: str, summary: dict[str, int]) -> None:
        with self._lock:
            runs = self.doc.setdefault("runs", [])
            if runs:
                runs[-1].update({"finished_at": now(), "status": status, "summary": summary})
            self._dirty_meta.add("runs")
            self._full = True  # a run ends with a whole document (the journal folded in)
        self.save()

    # -- records ------------------------------------------------------------------
    def record(self, key: str) -> dict[str, Any]:
        with self._lock:
            rec = self.doc.setdefault("steps", {}).get(key)
            return copy.deepcopy(rec) if rec else {"status": PENDING}

    def records(self) -> dict[str, dict[str, Any]]:
        """Every step record, each a shallow copy: what readers (orphans, owned ids) need, at a
        cost linear in the records, not a deep copy of the whole document per call. A record is
        replaced, never changed in place, by ``update``; a field's value must not be mutated."""
        with self._lock:
            return {k: dict(v) for k, v in (self.doc.get("steps") or {}).items() if isinstance(v, dict)}

    def update(self, key: str, *, clear: tuple[str, ...] = (), **fields: Any) -> None:
        """Change a step's record and save — unless nothing changes (no write at all).

        The change is checked for secrets *before* the record is touched: a refused change
        raises :class:`StepFailed` (code ``SecretInOutputs``, naming the JSON path, never the
        value) and leaves the record, and so every later save, exactly as it was."""
        with self._lock:
            steps = self.doc.setdefault("steps", {})
            current = steps.get(key) or {"status": PENDING}
            candidate = dict(current)
            for name, value in fields.items():
                if value is None and name in ("last_error",):
                    candidate.pop(name, None)
                else:
                    candidate[name] = value
            for name in clear:
                candidate.pop(name, None)
            names = (*fields, *clear)
            if {k: candidate.get(k) for k in names} == {k: current.get(k) for k in names}:
                steps.setdefault(key, current)
                return
            self._refuse_secrets(key, {k: candidate[k] for k in fields if k in candidate})
            candidate["updated_at"] = now()
            steps[key] = candidate
            self._dirty_steps.add(key)
        self.save()  # outside the in-memory lock: see save()

    def forget(self, key: str) -> None:
        """Drop a step's record (an orphan that was deleted, or that was never ours)."""
        with self._lock:
            if self.doc.setdefault("steps", {}).pop(key, None) is None:
                return
            self._dirty_steps.add(key)  # written as a tombstone
        self.save()

    def rename(self, renames: dict[str, str]) -> None:
        """Move records to new keys in one write (the old resource of a key that now names
        another one is set aside as ``key~hash`` before the key's step runs)."""
        if not renames:
            return
        with self._lock:
            steps = self.doc.setdefault("steps", {})
            for old, new in renames.items():
                if old in steps:
                    steps[new] = steps.pop(old)
                    self._dirty_steps.update((old, new))
        self.save()

    def set_meta(self, name: str, value: Any) -> None:
        with self._lock:
            self.doc[name] = value
            self._dirty_meta.add(name)
        self.save()

    # -- LRO token sink -----------------------------------------------------------
    def lro_token(self, step: str, kind: str) -> str | None:
        with self._lock:
            rec = self.doc.get("steps", {}).get(step) or {}
            lro = rec.get("lro") or {}
            token = lro.get("token") if lro.get("kind") == kind else None
            return str(token) if token else None

    def save_lro_token(self, step: str, kind: str, token: str | None) -> None:
        """A new token is written before anyone waits on it. A finished operation's token is
        only dropped in memory: the step's outcome record, written next, persists that."""
        if token:
            self.update(step, lro={"kind": kind, "token": token, "started_at": now()})
        else:
            with self._lock:
                rec = self.doc.get("steps", {}).get(step)
                if rec and rec.pop("lro", None) is not None:
                    self._dirty_steps.add(step)  # carried by the next write

    # -- persistence ----------------------------------------------------------------
    @staticmethod
    def _refuse_secrets(key: str, changed: dict[str, Any]) -> None:
        """The fields a change writes are checked before they reach the record (continuation
        tokens are opaque base64 of a response azure-core already stripped of sensitive
        headers, so ``lro`` is not)."""
        checked = {k: v for k, v in changed.items() if k != "lro"}
        leaks = find_secrets(checked, f"$.steps.{key}")
        if leaks:
            where = ", ".join(leaks)
            in_outputs = leaks[0].startswith(f"$.steps.{key}.outputs")
            raise StepFailed(
                step=key,
                code="SecretInOutputs" if in_outputs else "SecretInCheckpoint",
                message=(
                    f"refusing to write a secret into the checkpoint at {where}; nothing was written. "
                    + ("A step's outputs must carry no credential (read secrets where they are used)."
                       if in_outputs else "A step's record must carry no credential.")
                ),
            )

    def save(self) -> None:
        """Make every change made so far durable before returning (group commit).

        The document is copied under the in-memory lock and written outside it, one writer at
        a time; a caller whose change was already carried by another thread's write returns
        at once. Many steps finishing together cost one write, not one each.

        With a journaled store the write carries only what changed since the previous write
        (every change made while that one was in flight); otherwise the whole document."""
        with self._lock:
            self._version += 1
            mine = self._version
        with self._io_lock:
            if self._saved_version >= mine:
                return
            with self._lock:
                self.doc["updated_at"] = now()
                self._dirty_meta.add("updated_at")
                target = self._version
                full = self._full or not getattr(self.store, "journaled", False)
                steps, meta = self._dirty_steps, self._dirty_meta
                self._dirty_steps, self._dirty_meta, self._full = set(), set(), False
                payload = json.loads(json.dumps(self.doc if full else self._changes(steps, meta)))
            try:
                if full:
                    self.store.save(payload)
                else:
                    self.store.append(payload)
            except BaseException:
                with self._lock:  # not written: the next write carries these changes again
                    self._dirty_steps |= steps
                    self._dirty_meta |= meta
                    self._full = self._full or full
                raise
            self._saved_version = target
            self.writes += 1

    def _changes(self, steps: set[str], meta: set[str]) -> dict[str, Any]:
        """The journal entry for the changed step records and document keys (under ``_lock``)."""
        records = self.doc.get("steps") or {}
        out: dict[str, Any] = {}
        if meta & self.doc.keys():
            out["set"] = {k: self.doc[k] for k in sorted(meta) if k in self.doc}
        if meta - self.doc.keys():
            out["del"] = sorted(meta - self.doc.keys())
        if steps & records.keys():
            out["steps"] = {k: records[k] for k in sorted(steps) if k in records}
        if steps - records.keys():
            out["gone"] = sorted(steps - records.keys())
        return out

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.doc)
