#!/usr/bin/env python3
"""Measure checkpoint writes: bytes and milliseconds per save for FileStore and BlobStore.

The document holds N step records of ~1.5 KB each (N = 30, 300 and 1,000 by default); each save
changes one record, like the engine does when a step progresses. A journaled store
(``store.journaled``) is given only the changed record (``store.append``), as the checkpoint
does; the bytes per write include the compactions that fall in the measured saves. BlobStore runs against
Azurite (started here from .tools/, see scripts/install-azurite.sh) unless
``--connection-string-env VAR`` names a variable holding a real account's connection string.

    .venv/bin/python scripts/bench_state.py [--steps 30 300 1000] [--saves 40] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from hubspoke_deploy.orchestrator.stores import BlobStore, FileStore, LockInfo, StateStore

REPO = Path(__file__).resolve().parent.parent


def _azurite_module() -> Any:
    spec = importlib.util.spec_from_file_location("hubspoke_tests_azurite", REPO / "tests" / "azurite.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def step_record(i: int) -> dict[str, Any]:
    """~1.5 KB, shaped like an engine step record."""
    rid = (
        f"/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-sandbox-hub/providers/"
        f"Microsoft.Network/virtualNetworks/vnet-hub/subnets/snet-{i:03d}"
    )
    return {
        "status": "done",
        "resource_id": rid,
        "desired_digest": f"{i:016x}",
        "observed": {"etag": f'W/"{uuid.UUID(int=i)}"', "provisioningState": "Succeeded"},
        "outputs": {"id": rid, "addressPrefix": f"10.{i // 256}.{i % 256}.0/24", "tags": {"owner": "hubspoke"}},
        "attempts": 1,
        "started_at": "2025-01-01T00:00:00.000+00:00",
        "finished_at": "2025-01-01T00:00:05.000+00:00",
        "log": ["created", "waited for provisioningState=Succeeded", "read back"] * 6,
        "note": "x" * 600,
    }


def bench(store: StateStore, steps: int, saves: int) -> dict[str, Any]:
    store.acquire(LockInfo.current(command="bench", run_id=f"bench-{uuid.uuid4().hex[:8]}"))
    try:
        store.load()
        doc: dict[str, Any] = {"schema_version": 1, "deployment": "bench", "steps": {}}
        for i in range(steps):
            doc["steps"][f"step-{i:03d}"] = step_record(i)
        store.save(doc)  # first write, not measured
        w0, b0 = store.stats.writes, store.stats.bytes_written
        times: list[float] = []
        for n in range(saves):
            key = f"step-{n % steps:03d}"
            doc["steps"][key]["attempts"] = n
            t = time.perf_counter()
            if store.journaled:
                store.append({"steps": {key: doc["steps"][key]}})
            else:
                store.save(doc)
            times.append(time.perf_counter() - t)
        writes = store.stats.writes - w0
        return {
            "store": type(store).__name__ + ("+journal" if store.journaled else ""),
            "steps": steps,
            "writes": writes,
            "bytes_per_write": (store.stats.bytes_written - b0) // writes,
            "ms_mean": statistics.mean(times) * 1000,
            "ms_p95": sorted(times)[max(0, int(len(times) * 0.95) - 1)] * 1000,
        }
    finally:
        store.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, nargs="+", default=[30, 300, 1000])
    parser.add_argument("--saves", type=int, default=40)
    parser.add_argument("--connection-string-env", default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        handle = None
        if args.connection_string_env:
            conn = os.environ[args.connection_string_env]
        else:
            handle = _azurite_module().start_azurite(Path(tmp) / "azurite")
            conn = handle.connection_string
        try:
            for steps in args.steps:
                rows.append(bench(FileStore(Path(tmp) / f"file-{steps}.state.json"), steps, args.saves))
                blob = BlobStore(conn, "bench-state", f"bench-{steps}-{uuid.uuid4().hex[:6]}.state.json")
                rows.append(bench(blob, steps, args.saves))
        finally:
            if handle is not None:
                handle.stop()

    header = f"{'store':<17} {'steps':>6} {'writes':>7} {'KB/write':>9} {'ms mean':>8} {'ms p95':>8}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['store']:<17} {r['steps']:>6} {r['writes']:>7} {r['bytes_per_write'] / 1024:>9.1f} "
            f"{r['ms_mean']:>8.2f} {r['ms_p95']:>8.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
