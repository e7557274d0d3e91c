"""Saved plans: ``plan -out FILE`` writes one, ``up FILE`` applies it only if nothing changed meanwhile.

Terraform's habit (``terraform plan -out`` / ``terraform apply FILE``, which refuses a "Saved plan
is stale"): what a reviewer approved is what gets applied. The file is JSON and holds no secret
(the desired properties are redacted):

* ``format``, ``format_version``, ``tool_version``, ``created_at``, ``deployment``, ``config_path``;
* ``config_hash``: sha256 of the loaded config (``HUBSPOKE_*`` overrides included);
* ``state``: a digest of the state's step records and their number;
* ``items``: every plan item with its changes, its desired properties and a digest of the
  resource as Azure had it (``observed_digest``), plus ``counts`` and the ``summary`` line.

``up FILE`` checks, before anything is written and while holding the state lock: the tool
version, the config hash, the state digest, then plans again and compares every item (action,
changes, the resource as Azure has it now). Any difference refuses the run with
:class:`SavedPlanStale` (exit 2) naming what differs; otherwise the plan is applied as ``up``
applies (replacements still need ``allow_replace``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hubspoke_deploy.errors import EXIT_USAGE, HubspokeError

FORMAT = "hubspoke-deploy/plan"
FORMAT_VERSION = 1

__all__ = ["SavedPlanStale", "apply_saved_plan", "config_hash", "load_saved_plan", "save_plan", "stale_reasons"]


class SavedPlanStale(HubspokeError):
    """The saved plan no longer describes what ``up`` would do (or is not a saved plan); nothing was changed."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, reasons: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.reasons = list(reasons)


def _tool_version() -> str:
    from hubspoke_deploy import __version__

    return str(__version__)


def config_hash(cfg: Any) -> str:
    """sha256 of the loaded config: every key, the ``HUBSPOKE_*`` overrides included."""
    dump = cfg.model_dump(mode="json")
    raw = json.dumps(dump, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def save_plan(path: str | os.PathLike[str], plan: Any, cfg: Any) -> dict[str, Any]:
    """Write ``plan`` (a :class:`~hubspoke_deploy.library.PlanResult`) to ``path``; returns the document."""
    import datetime as dt

    from hubspoke_deploy.planview import summary_line

    source = getattr(cfg, "source", None)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool_version": _tool_version(),
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "deployment": cfg.name,
        "config_path": str(Path(source).resolve()) if source else None,
        "config_hash": config_hash(cfg),
        "state": {"records_digest": plan.state_digest},
        "summary": summary_line(plan),
        "has_changes": plan.has_changes,
        "counts": plan.counts(),
        "items": [i.as_dict() for i in plan.items],
        "flow_problems": list(plan.flow_problems),
    }
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=str(target.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2, default=str)
            fh.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return doc


def load_saved_plan(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a saved plan; :class:`SavedPlanStale` if it is not one this version can apply."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise SavedPlanStale(f"saved plan {path}: no such file; save one with: hubspoke-deploy plan -out {path}") \
            from err
    except (OSError, ValueError) as err:
        raise SavedPlanStale(f"saved plan {path}: not readable as JSON ({err}); save it again with "
                             f"hubspoke-deploy plan -out {path}") from err
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SavedPlanStale(f"{path} is not a saved plan (no \"format\": \"{FORMAT}\"); save one with "
                             f"hubspoke-deploy plan -out {path}")
    if doc.get("format_version") != FORMAT_VERSION or doc.get("tool_version") != _tool_version():
        raise SavedPlanStale(
            f"saved plan {path} was written by hubspoke-deploy {doc.get('tool_version')} (plan format "
            f"{doc.get('format_version')}); this is {_tool_version()} (format {FORMAT_VERSION}). Nothing was "
            "changed: plan again with this version and apply the new plan",
            ["tool version"])
    return doc


def _item_key(item: Mapping[str, Any]) -> tuple[Any, ...]:
    changes = [(c.get("path"), json.dumps(c.get("before"), sort_keys=True, default=str),
                json.dumps(c.get("after"), sort_keys=True, default=str), bool(c.get("replace")))
               for c in item.get("changes") or []]
    return item.get("action"), sorted(changes), item.get("observed_digest")


def stale_reasons(saved: Mapping[str, Any], items_now: Sequence[Mapping[str, Any]]) -> list[str]:
    """What differs between the saved plan's items and the plan made now, one line each."""
    before = {str(i["step"]): i for i in saved.get("items") or []}
    now = {str(i["step"]): i for i in items_now}
    reasons: list[str] = []
    for key in sorted(set(before) | set(now)):
        old, new = before.get(key), now.get(key)
        if old is None:
            reasons.append(f"{key}: not in the saved plan, now {new and new.get('action')}")
        elif new is None:
            reasons.append(f"{key}: was {old.get('action')} in the saved plan, no longer planned")
        elif _item_key(old) != _item_key(new):
            if old.get("action") != new.get("action"):
                reasons.append(f"{key}: was {old.get('action')}, now {new.get('action')}")
            elif old.get("observed_digest") != new.get("observed_digest"):
                what = "created" if old.get("observed_digest") is None else (
                    "deleted" if new.get("observed_digest") is None else "changed")
                reasons.append(f"{key}: the resource in Azure was {what} since the plan was saved "
                               f"({new.get('resource_id')})")
            else:
                reasons.append(f"{key}: its changes differ from the saved plan's")
    return reasons


def _stale(path: str, reasons: Sequence[str]) -> SavedPlanStale:
    shown = list(reasons[:10]) + ([f"... and {len(reasons) - 10} more"] if len(reasons) > 10 else [])
    return SavedPlanStale(
        f"Saved plan is stale: {path} no longer describes what up would do. Nothing was changed.\n  "
        + "\n  ".join(shown)
        + f"\nRun hubspoke-deploy plan -out {path} again, review it, and apply the new plan.",
        reasons)


def apply_saved_plan(
    config: Any,
    saved: Mapping[str, Any],
    *,
    path: str = "the saved plan",
    credential: Any = None,
    parallelism: int | None = None,
    allow_replace: bool = False,
    on_event: Any = None,
    cancel: threading.Event | None = None,
    raise_on_failure: bool = True,
) -> Any:
    """``up`` of a saved plan: refused (:class:`SavedPlanStale`, nothing written) unless the config,
    the state and Azure are as they were when it was saved. Returns the ``RunResult``."""
    from hubspoke_deploy import library as lib

    cfg = lib.load_config(config)
    if saved.get("deployment") != cfg.name:
        raise _stale(path, [f"the plan is for deployment {saved.get('deployment')!r}, the config is {cfg.name!r}"])
    if saved.get("config_hash") != config_hash(cfg):
        raise _stale(path, [f"the config changed since the plan was saved ({cfg.source or 'config'}, "
                            "HUBSPOKE_* overrides included)"])
    opts = lib._options(parallelism, False, allow_replace)
    with lib._session(cfg, "up", credential=credential, options=opts, on_event=on_event, cancel=cancel) as s:
        state = (saved.get("state") or {}).get("records_digest")
        if state != lib.records_digest(s.checkpoint.records()):
            raise _stale(path, [f"the state changed since the plan was saved (another run?): {s.store.describe()}"])
        now = [lib.plan_item(e).as_dict() for e in s.engine.plan().entries]
        reasons = stale_reasons(saved, now)
        if reasons:
            raise _stale(path, reasons)
        run = s.engine.up()
        outs = lib._collect_outputs(cfg, s.checkpoint.snapshot())
    result = lib._result("up", run, outs)
    lib._raise_for(result, raise_on_failure)
    return result
