"""Shared helpers of the reliability suite (loaded by path: tests/ is not a package).

Every scenario drives the real CLI (``python -m hubspoke_deploy.cli``) or the library against
the project's ARM simulator over HTTPS; nothing here mocks an SDK class.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SANDBOX = REPO / "config" / "examples" / "sandbox.toml"
CLI = [sys.executable, "-m", "hubspoke_deploy.cli"]
STORM = "429=0.1,500=0.05,drop=0.02,lrofail=0.05"  # the rates of the engine issue
WRITE_METHODS = ("PUT", "PATCH", "DELETE")

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_POLL = re.compile(r"/(operations|operationresults)/[^/]+$", re.I)


def cli_env(sim: Any, state_path: Path | None = None, **extra: str) -> dict[str, str]:
    """Environment for a CLI subprocess talking to ``sim`` with file state at ``state_path``."""
    env = dict(os.environ)
    env.update(
        {
            "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
            "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
            "HUBSPOKE_STATE_BACKEND": "file",
            "REQUESTS_CA_BUNDLE": sim.ca_path,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if state_path is not None:
        env["HUBSPOKE_STATE_PATH"] = str(state_path)
    env.update(extra)
    return env


def cli_args(*args: str, config: Path = SANDBOX) -> list[str]:
    return [*CLI, *args, "--config", str(config), "--log-format", "json"]


def run_cli(env: Mapping[str, str], *args: str, config: Path = SANDBOX,
            timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_args(*args, config=config), capture_output=True, text=True, env=dict(env),
                          timeout=timeout, cwd=REPO)


def spawn_cli(env: Mapping[str, str], *args: str, config: Path = SANDBOX) -> subprocess.Popen[str]:
    return subprocess.Popen(cli_args(*args, config=config), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(env), cwd=REPO)


def tail(text: str, n: int = 3000) -> str:
    return text[-n:]


# ---------------------------------------------------------------------------- request log

class RequestLog:
    """The simulator's JSONL request log, read in slices (one slice per CLI run)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """Number of complete lines logged so far."""
        if not self.path.exists():
            return 0
        with self.path.open("rb") as fh:
            return sum(1 for line in fh if line.endswith(b"\n"))

    def entries(self, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as fh:
            lines = [line for line in fh if line.endswith(b"\n")]
        return [json.loads(line) for line in lines[start:end]]


def is_poll(entry: Mapping[str, Any]) -> bool:
    return bool(_POLL.search(str(entry.get("path", ""))))


def writes_to(entries: Iterable[Mapping[str, Any]], ids: Iterable[str]) -> list[str]:
    """``METHOD path`` of every PUT/PATCH in ``entries`` that targets one of ``ids`` (case-insensitive)."""
    wanted = {i.lower().rstrip("/") for i in ids if i}
    return [f"{e['method']} {e['path']}" for e in entries
            if e["method"] in ("PUT", "PATCH") and str(e["path"]).lower().rstrip("/") in wanted]


def duplicate_creates(entries: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Resource paths answered ``201 Created`` more than once."""
    created = Counter(str(e["path"]).lower().rstrip("/") for e in entries
                      if e["method"] == "PUT" and e["status"] == 201)
    return {p: n for p, n in created.items() if n > 1}


# ---------------------------------------------------------------------------- state comparison

def normalize_id(rid: str) -> str:
    return _GUID.sub("<guid>", rid.lower())


def final_state(sim: Any) -> dict[str, tuple[str, str, tuple[tuple[str, str], ...]]]:
    """What must be identical between an interrupted and an uninterrupted run: per resource id
    (GUID segments normalised), its type, provisioning state and tags."""
    out: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {}
    for r in sim.resources():
        props = r.get("properties") or {}
        tags = tuple(sorted((str(k), str(v)) for k, v in (r.get("tags") or {}).items()))
        out[normalize_id(r["id"])] = (str(r.get("type", "")).lower(),
                                      str(props.get("provisioningState", "Succeeded")), tags)
    return out


def state_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    problems = [f"only in first: {k}" for k in sorted(set(a) - set(b))]
    problems += [f"only in second: {k}" for k in sorted(set(b) - set(a))]
    problems += [f"differs: {k}: {a[k]} != {b[k]}" for k in sorted(set(a) & set(b)) if a[k] != b[k]]
    return problems


def read_doc(path: Path) -> dict[str, Any] | None:
    """The checkpoint as a resume would load it: the base document + its journal's intact entries."""
    from hubspoke_deploy.orchestrator.stores import read_document

    try:
        if not path.read_bytes():
            return None
    except FileNotFoundError:
        return None
    return read_document(path)


def step_ids(doc: Mapping[str, Any] | None, *, status: str | None = None, lro: bool = False) -> set[str]:
    """Resource ids of the checkpoint's steps with ``status`` (or with an LRO token in flight)."""
    out: set[str] = set()
    for rec in (doc or {}).get("steps", {}).values():
        rid = rec.get("resource_id")
        if not rid:
            continue
        in_flight = lro and (rec.get("lro") or {}).get("kind") == "put"
        if in_flight or (status is not None and rec.get("status") == status):
            out.add(str(rid))
    return out


def orphans(sim: Any, doc: Mapping[str, Any], preexisting: Iterable[str]) -> list[str]:
    """Resources in the simulator that the checkpoint does not account for.

    Owned: a step's resource id, anything under it (inline children such as NSG rules and
    routes), and what Azure itself creates for an owned resource (the NIC of a private
    endpoint, AKS's node resource group ``managedBy`` the cluster). Pre-existing resources
    (built-in role definitions present before the run) are not the deployment's."""
    owned = {str(rec.get("resource_id")).lower() for rec in doc.get("steps", {}).values() if rec.get("resource_id")}
    managed: set[str] = set()
    resources = sim.resources()
    for r in resources:
        rid = r["id"].lower()
        if rid not in owned:
            continue
        for nic in (r.get("properties") or {}).get("networkInterfaces") or []:
            if isinstance(nic, dict) and nic.get("id"):
                managed.add(str(nic["id"]).lower())
    before = {p.lower() for p in preexisting}
    found: list[str] = []
    for r in resources:
        rid = r["id"].lower()
        if rid in owned or rid in before or rid in managed:
            continue
        if str(r.get("type", "")).lower() == "microsoft.authorization/roledefinitions":
            continue  # Azure's built-in role definitions, seeded per subscription by the simulator
        if any(rid.startswith(o + "/") for o in owned):
            continue
        if str(r.get("managedBy", "")).lower() in owned:
            continue
        found.append(r["id"])
    return found


# ---------------------------------------------------------------------------- config files

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if value is None:
        raise ValueError("TOML has no null")
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def write_toml(data: Mapping[str, Any], path: Path) -> Path:
    """A minimal TOML writer (every top-level key as ``key = <inline value>``)."""
    path.write_text("".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in data.items()),
                    encoding="utf-8")
    return path


def load_sandbox() -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    with SANDBOX.open("rb") as fh:
        data: dict[str, Any] = tomllib.load(fh)
    return data


def wait_for(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
