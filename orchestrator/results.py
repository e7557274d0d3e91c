"""What a run returns: per-step outcomes, the run result, and the plan.

Plain data, no behaviour beyond summaries: the engine fills them in, the CLI and
the library render them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from hubspoke_deploy.errors import StepFailed
from hubspoke_deploy.orchestrator.checkpoint import FAILED
from hubspoke_deploy.orchestrator.diff import Change
from hubspoke_deploy.orchestrator.redact import redact


class RunStatus(str, enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class Action(str, enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    NOOP = "no-op"
    DELETE = "delete"
    KEEP = "keep"


@dataclass
class StepOutcome:
    key: str
    status: str  # succeeded | failed | not_started | interrupted | deleted | kept
    action: str = Action.NOOP.value
    changed: bool = False
    duration_s: float = 0.0
    attempts: int = 0
    resource_id: str | None = None
    error: StepFailed | None = None
    changes: list[Change] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    reattached: bool = False
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.key,
            "status": self.status,
            "action": self.action,
            "changed": self.changed,
            "duration_s": round(self.duration_s, 3),
            "attempts": self.attempts,
            "resource_id": self.resource_id,
        }
        if self.changes:
            out["changes"] = [redact(c.as_dict()) for c in self.changes]
        if self.error is not None:
            out["error"] = {"code": self.error.code, "message": self.error.message}
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class RunResult:
    command: str
    status: RunStatus
    outcomes: dict[str, StepOutcome]
    duration_s: float = 0.0

    @property
    def failures(self) -> list[StepOutcome]:
        return [o for o in self.outcomes.values() if o.status == FAILED]

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.outcomes.values():
            counts[o.status] = counts.get(o.status, 0) + 1
        return counts


@dataclass
class PlanEntry:
    key: str
    resource_id: str
    action: Action
    changes: list[Change]
    drift: bool = False  # observed differs from what the last run recorded as applied
    note: str | None = None
    orphan: bool = False  # recorded by the checkpoint, no longer produced by the config
    # the step's desired body (values known only after apply are ``diff.UNKNOWN``) and what Azure
    # has (None: nothing): for the plan's rendering and a saved plan's staleness check
    desired: dict[str, Any] | None = None
    observed: dict[str, Any] | None = None
    resource_type: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.key,
            "resource_id": self.resource_id,
            "action": self.action.value,
            "changes": [redact(c.as_dict()) for c in self.changes],
        }
        if self.orphan:
            out["orphan"] = True
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class Plan:
    entries: list[PlanEntry]
    # The state the plan leads to, as ARM JSON (each step's desired body over what Azure has;
    # values known only after apply left out): what ``verify`` evaluates before anything is written.
    desired: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return any(e.action not in (Action.NOOP, Action.KEEP) for e in self.entries)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.entries:
            counts[e.action.value] = counts.get(e.action.value, 0) + 1
        return counts


