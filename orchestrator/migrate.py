"""Checkpoint format migrations: a checkpoint written by an older version loads and is
brought to :data:`~hubspoke_deploy.orchestrator.checkpoint.SCHEMA_VERSION` in memory; the
next save (the first write of a run that holds the lock) persists the new format. A read-only
command (``plan``, ``status``) never writes it.

* 1 -> 2: step records gain what deleting a resource needs without its step (convergence:
  a resource that left the config is deleted by its record alone): ``resource_type``
  (derived here from the recorded id), and ``requires``, ``lock_keys`` and ``taggable``
  (unknown for version 1; the engine fills them from the current steps whose key and id are
  unchanged, and orders the others by type, see ``orchestrator.prune.DELETE_RANK``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hubspoke_deploy.orchestrator.prune import resource_type_of


def _v1_to_v2(doc: dict[str, Any]) -> None:
    for rec in (doc.get("steps") or {}).values():
        if isinstance(rec, dict) and rec.get("resource_id") and not rec.get("resource_type"):
            rec["resource_type"] = resource_type_of(str(rec["resource_id"]))


MIGRATIONS = {1: _v1_to_v2}


def migrate(doc: dict[str, Any], target: int) -> dict[str, Any]:
    """``doc`` brought to schema ``target`` (in place), each step recorded under ``migrations``."""
    version = int(doc.get("schema_version") or 1)
    while version < target:
        MIGRATIONS[version](doc)
        doc.setdefault("migrations", []).append({
            "from": version,
            "to": version + 1,
            "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),
        })
        version += 1
        doc["schema_version"] = version
    return doc
