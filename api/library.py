"""The library API: the same engine the CLI uses, for runbooks and scripts.

Nothing here prints, exits the process or configures logging. Progress is
reported through the ``on_event`` callback; results are returned as objects;
failures raise the documented exceptions of :mod:`hubspoke_deploy.errors`.

Example::

    import hubspoke_deploy as hd

    cfg = hd.load_config("prod.toml")
    plan = hd.plan(cfg)
    if plan.has_changes:
        result = hd.up(cfg, parallelism=16, on_event=print)
        print(result.status, hd.outputs(cfg))
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubspoke_deploy.errors import DeploymentFailed, Interrupted, StepFailed

Event = dict[str, Any]


@dataclass
class StepResult:
    """Outcome of one step: ``status`` succeeded/failed/not_started/interrupted/deleted/kept."""

    key: str
    status: str
    action: str
    changed: bool
    duration_s: float
    attempts: int
    resource_id: str | None
    error: StepFailed | None = None


@dataclass
class RunResult:
    """Result of ``up`` or ``down``."""

    command: str
    status: str  # "succeeded" | "failed" | "interrupted"
    steps: dict[str, StepResult]
    duration_s: float
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @property
    def failures(self) -> list[StepResult]:
        return [s for s in self.steps.values() if s.status == "failed"]

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.steps.values():
            counts[s.status] = counts.get(s.status, 0) + 1
        return counts


@dataclass
class PlanItem:
    key: str
    resource_id: str
    action: str  # create | update | replace | no-op | delete | keep
    changes: list[dict[str, Any]]


@dataclass
class PlanResult:
    items: list[PlanItem]

    @property
    def has_changes(self) -> bool:
        return any(i.action not in ("no-op", "keep") for i in self.items)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for i in self.items:
            counts[i.action] = counts.get(i.action, 0) + 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "has_changes": self.has_changes,
            "counts": self.counts(),
            "items": [
                {"step": i.key, "resource_id": i.resource_id, "action": i.action, "changes": i.changes}
                for i in self.items
            ],
        }


def load_config(source: str | Path | Mapping[str, Any], *, env: Mapping[str, str] | None = None) -> Any:
    """Load and validate a config from a TOML file path or a dict. Raises ConfigError."""
    from hubspoke_deploy.config import load_config as _load_file
    from hubspoke_deploy.config import load_config_dict

    if isinstance(source, Mapping):
        return load_config_dict(source, env=env)
    return _load_file(source, env=env)


def _options(parallelism: int | None, trust_state: bool, allow_replace: bool) -> Any:
    from hubspoke_deploy.orchestrator.engine import EngineOptions

    opts = EngineOptions(trust_state=trust_state, allow_replace=allow_replace)
    if parallelism is not None:
        opts.parallelism = max(1, int(parallelism))
    return opts


def _session(config: Any, command: str, **kw: Any) -> Any:
    from hubspoke_deploy.orchestrator.runner import open_session

    return open_session(config, command=command, **kw)


def _result(command: str, run: Any, outputs: dict[str, Any]) -> RunResult:
    steps = {
        k: StepResult(o.key, o.status, o.action, o.changed, o.duration_s, o.attempts, o.resource_id, o.error)
        for k, o in run.outcomes.items()
    }
    return RunResult(command, run.status.value, steps, run.duration_s, outputs)


def plan(
    config: Any,
    *,
    credential: Any = None,
    parallelism: int | None = None,
    refresh_only: bool = False,
    destroy: bool = False,
    steps: list[Any] | None = None,
) -> PlanResult:
    """Read the live state and return what ``up`` (or ``down`` with destroy=True) would do."""
    opts = _options(parallelism, False, False)
    with _session(config, "plan", credential=credential, options=opts, steps=steps, lock=False) as s:
        p = s.engine.plan_destroy() if destroy else s.engine.plan(refresh_only=refresh_only)
    return PlanResult([PlanItem(e.key, e.resource_id, e.action.value, e.as_dict()["changes"]) for e in p.entries])


def up(
    config: Any,
    *,
    credential: Any = None,
    parallelism: int | None = None,
    trust_state: bool = False,
    allow_replace: bool = False,
    on_event: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
    steps: list[Any] | None = None,
    raise_on_failure: bool = True,
) -> RunResult:
    """Create or update the deployment. Resumes from the checkpoint if a run stopped halfway.

    Raises DeploymentFailed (after recording the checkpoint) when a step failed, and
    Interrupted when ``cancel`` was set; both are resumable by calling ``up`` again."""
    opts = _options(parallelism, trust_state, allow_replace)
    with _session(config, "up", credential=credential, options=opts, on_event=on_event, cancel=cancel,
                  steps=steps) as s:
        run = s.engine.up()
        outputs = _collect_outputs(config, s.checkpoint.snapshot())
    result = _result("up", run, outputs)
    _raise_for(result, raise_on_failure)
    return result


def down(
    config: Any,
    *,
    credential: Any = None,
    parallelism: int | None = None,
    on_event: Callable[[Event], None] | None = None,
    cancel: threading.Event | None = None,
    steps: list[Any] | None = None,
    raise_on_failure: bool = True,
) -> RunResult:
    """Delete what this deployment owns (created by it and carrying its tags), nothing else."""
    opts = _options(parallelism, False, False)
    with _session(config, "down", credential=credential, options=opts, on_event=on_event, cancel=cancel,
                  steps=steps) as s:
        run = s.engine.down()
    result = _result("down", run, {})
    _raise_for(result, raise_on_failure)
    return result


def _raise_for(result: RunResult, raise_on_failure: bool) -> None:
    if not raise_on_failure:
        return
    if result.status == "interrupted":
        raise Interrupted(f"{result.command} interrupted; run it again to resume")
    if result.status == "failed":
        failed = [s.error for s in result.failures if s.error is not None]
        blocked = sum(1 for s in result.steps.values() if s.status == "not_started")
        lines = [str(e) for e in failed] or ["one or more steps did not complete"]
        err = DeploymentFailed(
            f"{result.command} failed: {len(failed)} step(s) failed, {blocked} not started. "
            "Fix the cause and run the command again to resume.\n  " + "\n  ".join(lines),
            failed,
        )
        err.result = result  # type: ignore[attr-defined]
        raise err


def status(config: Any) -> dict[str, Any]:
    """The checkpoint as recorded (no Azure call): per-step status, last run, teardown."""
    from hubspoke_deploy.orchestrator.stores import open_store

    store = open_store(config.state, config.name, None if config.state.backend == "file" else _cred(config),
                       __import__("os").environ)
    doc = store.load() or {}
    steps = doc.get("steps", {})
    return {
        "deployment": config.name,
        "state": store.describe(),
        "schema_version": doc.get("schema_version"),
        "updated_at": doc.get("updated_at"),
        "last_run": (doc.get("runs") or [None])[-1],
        "teardown": doc.get("teardown"),
        "steps": {
            k: {
                "status": v.get("status"),
                "resource_id": v.get("resource_id"),
                "created": v.get("created", False),
                "attempts": v.get("attempts", 0),
                "last_error": v.get("last_error"),
                "in_flight": bool(v.get("lro")),
                "updated_at": v.get("updated_at"),
            }
            for k, v in sorted(steps.items())
        },
    }


def _cred(config: Any) -> Any:
    if config.state.connection_string_env:
        return None
    from hubspoke_deploy.orchestrator.runner import make_credential

    return make_credential(config, config.resource_manager_url or "https://127.0.0.1", __import__("os").environ)


def outputs(config: Any) -> dict[str, Any]:
    """What an operator needs next (ids, FQDNs, IPs, commands), from the checkpoint. Never a credential."""
    from hubspoke_deploy.orchestrator.stores import open_store

    store = open_store(config.state, config.name, None if config.state.backend == "file" else _cred(config),
                       __import__("os").environ)
    return _collect_outputs(config, store.load() or {})


def _collect_outputs(config: Any, doc: Mapping[str, Any]) -> dict[str, Any]:
    from hubspoke_deploy.orchestrator.redact import redact
    from hubspoke_deploy.steps.architecture import deployment_outputs

    step_outputs = {
        k: v.get("outputs", {})
        for k, v in (doc.get("steps") or {}).items()
        if v.get("status") == "succeeded"
    }
    result: dict[str, Any] = redact(deployment_outputs(config, step_outputs))
    return result
