"""The engine: one scheduler over a DAG of steps, for plan, up and down.

* ``graphlib.TopologicalSorter`` orders the steps; unknown ``requires`` and cycles
  are errors when the graph is built.
* Ready steps are started in a deterministic order (longest remaining critical
  path first, then key) on a bounded thread pool.
* Writes that Azure serialises (children of one VNet, one firewall policy, one
  cluster...) are serialised by per-parent locks held for the whole run.
* A failed step blocks its dependents; independent branches finish.
* Cancellation (SIGINT/SIGTERM in the CLI) stops scheduling; in-flight LROs
  have their continuation tokens in the checkpoint already.
"""

from __future__ import annotations

import contextlib
import enum
import heapq
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

from hubspoke_deploy.errors import (
    ConfigError,
    Interrupted,
    Problem,
    ReplacementRefused,
    StepFailed,
)
from hubspoke_deploy.orchestrator.checkpoint import (
    DELETED,
    FAILED,
    KEPT,
    RUNNING,
    SUCCEEDED,
    Checkpoint,
    digest,
    now,
)
from hubspoke_deploy.orchestrator.diff import UNKNOWN, Change
from hubspoke_deploy.orchestrator.lro import LroRunner
from hubspoke_deploy.orchestrator.redact import redact, redact_text
from hubspoke_deploy.orchestrator.retry import RetryPolicy, error_code, error_message
from hubspoke_deploy.orchestrator.step import Outputs, OwnedIds, Spec, Step, StepContext
from hubspoke_deploy.orchestrator.throttle import AdaptiveLimiter

IN_PROGRESS_STATES = {"creating", "updating", "deleting", "accepted", "provisioning", "migrating"}

Event = dict[str, Any]
EventCallback = Callable[[Event], None]


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

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.key,
            "resource_id": self.resource_id,
            "action": self.action.value,
            "changes": [redact(c.as_dict()) for c in self.changes],
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class Plan:
    entries: list[PlanEntry]

    @property
    def has_changes(self) -> bool:
        return any(e.action not in (Action.NOOP, Action.KEEP) for e in self.entries)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.entries:
            counts[e.action.value] = counts.get(e.action.value, 0) + 1
        return counts


class _UnknownOutputs(dict[str, Any]):
    """Outputs of a step whose resource does not exist yet (plan only)."""

    def __missing__(self, key: str) -> Any:
        return UNKNOWN


class ParentLocks:
    """Per-parent locks, shared by every step for the whole run."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self.waits = 0

    def hold(self, keys: Iterable[str]) -> _Held:
        with self._guard:
            locks = [self._locks.setdefault(k.lower(), threading.Lock()) for k in sorted({k.lower() for k in keys})]
        return _Held(self, locks)


class _Held:
    def __init__(self, owner: ParentLocks, locks: list[threading.Lock]) -> None:
        self.owner = owner
        self.locks = locks

    def __enter__(self) -> None:
        for lock in self.locks:
            if not lock.acquire(blocking=False):
                self.owner.waits += 1
                lock.acquire()

    def __exit__(self, *exc: object) -> None:
        for lock in reversed(self.locks):
            lock.release()


def build_graph(steps: Iterable[Step]) -> dict[str, Step]:
    """Index steps by key and check the graph: duplicates, unknown requires, cycles."""
    by_key: dict[str, Step] = {}
    problems: list[Problem] = []
    for step in steps:
        if step.key in by_key:
            problems.append(Problem(f"graph.{step.key}", "duplicate step key", "give every step a unique key"))
        by_key[step.key] = step
    for step in by_key.values():
        for dep in step.requires:
            if dep not in by_key:
                problems.append(
                    Problem(f"graph.{step.key}", f"requires unknown step {dep!r}", "fix the step's requires")
                )
    if problems:
        raise ConfigError(problems, source="step graph")
    try:
        TopologicalSorter({k: set(s.requires) for k, s in by_key.items()}).prepare()
    except CycleError as err:
        cycle = " -> ".join(str(k) for k in err.args[1])
        raise ConfigError(
            [Problem("graph", f"dependency cycle: {cycle}", "remove one of the requires in the cycle")],
            source="step graph",
        ) from err
    return by_key


def critical_path(steps: Mapping[str, Step], weights: Callable[[Step], float] | None = None) -> dict[str, float]:
    """Longest remaining path (seconds) from each step to the end of the DAG, itself included."""
    weight = weights or (lambda s: s.typical_seconds())
    dependents: dict[str, list[str]] = {k: [] for k in steps}
    for k, s in steps.items():
        for dep in s.requires:
            dependents[dep].append(k)
    order = list(TopologicalSorter({k: set(s.requires) for k, s in steps.items()}).static_order())
    remaining: dict[str, float] = {}
    for k in reversed(order):
        tail = max((remaining[d] for d in dependents[k]), default=0.0)
        remaining[k] = weight(steps[k]) + tail
    return remaining


def longest_path(steps: Mapping[str, Step], weights: Callable[[Step], float] | None = None) -> tuple[float, list[str]]:
    """The critical path: its total weight and its steps in order."""
    weight = weights or (lambda s: s.typical_seconds())
    remaining = critical_path(steps, weight)
    dependents: dict[str, list[str]] = {k: [] for k in steps}
    for k, s in steps.items():
        for dep in s.requires:
            dependents[dep].append(k)
    roots = [k for k, s in steps.items() if not s.requires]
    if not roots:
        return 0.0, []
    current = max(roots, key=lambda k: (remaining[k], k))
    path = [current]
    while dependents[current]:
        current = max(dependents[current], key=lambda k: (remaining[k], k))
        path.append(current)
    return remaining[path[0]], path


@dataclass
class EngineOptions:
    parallelism: int = 32
    trust_state: bool = False
    allow_replace: bool = False
    # None: chosen by the runner (real-world delays for Azure, compressed on a loopback simulator)
    retry: RetryPolicy | None = None
    lro_timeout_scale: float = 1.0
    lro_timeouts: dict[str, float] = field(default_factory=dict)
    settle_poll_s: float = 0.05
    # AIMD on ARM's 429s (orchestrator.throttle); False keeps a fixed pool of `parallelism`.
    adaptive: bool = True


class Engine:
    """Runs plan / up / down for one deployment."""

    def __init__(
        self,
        config: Any,
        steps: Iterable[Step],
        clients: Any,
        checkpoint: Checkpoint,
        *,
        options: EngineOptions | None = None,
        on_event: EventCallback | None = None,
        cancel: threading.Event | None = None,
        deployment_tags: Mapping[str, str] | None = None,
        limiter: AdaptiveLimiter | None = None,
    ) -> None:
        self.config = config
        self.steps = build_graph(steps)
        self.clients = clients
        self.checkpoint = checkpoint
        self.options = options or EngineOptions()
        self.retry: RetryPolicy = self.options.retry or RetryPolicy()
        self.options.retry = self.retry
        self.on_event = on_event
        self.cancel = cancel or threading.Event()
        self.locks = ParentLocks()
        self.deployment_tags = dict(deployment_tags or {})
        self.limiter = limiter
        self.priority = critical_path(self.steps)
        self._outputs: dict[str, Outputs] = {}
        self._outputs_lock = threading.Lock()
        self.run_id = uuid.uuid4().hex[:12]

    # -- events -------------------------------------------------------------------
    def emit(self, event: str, **fields: Any) -> None:
        if self.on_event is not None:
            with contextlib.suppress(Exception):
                self.on_event({"event": event, **fields})

    def _ctx(self, step: Step) -> StepContext:
        lro = LroRunner(
            step.key,
            self.checkpoint,
            self.cancel,
            timeout_scale=self.options.lro_timeout_scale,
            timeouts=self.options.lro_timeouts,
            on_reattach=lambda s, kind: self.emit("lro_reattached", step=s, kind=kind),
        )
        return StepContext(clients=self.clients, lro=lro, subscription_id=getattr(self.clients, "subscription_id", ""))

    def _upstream(self, step: Step) -> dict[str, Outputs]:
        with self._outputs_lock:
            return {dep: self._outputs.get(dep, _UnknownOutputs()) for dep in step.requires}

    # -- scheduling ---------------------------------------------------------------
    def _schedule(
        self,
        run: Callable[[Step], StepOutcome],
        *,
        reverse: bool = False,
        command: str,
    ) -> dict[str, StepOutcome]:
        graph: dict[str, set[str]] = {k: set() for k in self.steps}
        for k, s in self.steps.items():
            for dep in s.requires:
                if reverse:
                    graph[dep].add(k)
                else:
                    graph[k].add(dep)
            if reverse:
                for after in s.delete_after:
                    if after in graph:
                        graph[k].add(after)
        priority = critical_path(self.steps) if not reverse else {k: 0.0 for k in self.steps}
        ts = TopologicalSorter(graph)
        ts.prepare()
        outcomes: dict[str, StepOutcome] = {}
        blocked: set[str] = set()
        heap: list[tuple[float, str]] = []
        running: dict[Future[StepOutcome], str] = {}
        workers = max(1, self.options.parallelism)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="step") as pool:
            while ts.is_active():
                for k in ts.get_ready():
                    heapq.heappush(heap, (-priority[k], k))
                progressed = False
                while heap and len(running) < workers and not self.cancel.is_set():
                    _, k = heapq.heappop(heap)
                    failed_deps = sorted(d for d in graph[k] if d in blocked)
                    if failed_deps:
                        outcomes[k] = StepOutcome(k, "not_started", resource_id=self.steps[k].resource_id())
                        self.emit("step_skipped", step=k, because=failed_deps)
                        blocked.add(k)
                        ts.done(k)
                        progressed = True
                        continue
                    running[pool.submit(self._guarded, run, self.steps[k])] = k
                if self.cancel.is_set() and not running:
                    break
                if not running:
                    if progressed:
                        continue
                    if not heap:
                        break
                    continue
                done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    k = running.pop(fut)
                    try:
                        outcome = fut.result()
                    except BaseException:
                        # The run dies (e.g. state lock lost): in-flight steps stop waiting now, their
                        # operations are in the checkpoint already, so leaving the pool is prompt.
                        self.cancel.set()
                        raise
                    outcomes[k] = outcome
                    if outcome.status not in (SUCCEEDED, DELETED, KEPT):
                        blocked.add(k)
                    ts.done(k)
        for k in self.steps:
            if k not in outcomes:
                status = "interrupted" if self.cancel.is_set() else "not_started"
                outcomes[k] = StepOutcome(k, status, resource_id=self.steps[k].resource_id())
        return outcomes

    def _guarded(self, run: Callable[[Step], StepOutcome], step: Step) -> StepOutcome:
        limiter = self.limiter
        if limiter is not None:
            limiter.acquire(self.cancel)
        throttled_before = limiter.throttled if limiter is not None else 0
        try:
            return self._guarded_run(run, step)
        finally:
            if limiter is not None:
                limiter.release(clean=limiter.throttled == throttled_before)

    def _guarded_run(self, run: Callable[[Step], StepOutcome], step: Step) -> StepOutcome:
        start = time.monotonic()
        self.emit("step_started", step=step.key, resource_id=step.resource_id())
        try:
            outcome = run(step)
        except Interrupted:
            outcome = StepOutcome(step.key, "interrupted", resource_id=step.resource_id())
        except StepFailed as err:
            outcome = StepOutcome(step.key, FAILED, resource_id=step.resource_id(), error=err)
        except Exception as err:
            failed = self._as_step_failed(step, err)
            outcome = StepOutcome(step.key, FAILED, resource_id=step.resource_id(), error=failed)
        outcome.started = start
        outcome.finished = time.monotonic()
        outcome.duration_s = outcome.finished - start
        if outcome.status == FAILED and outcome.error is not None:
            # a terminal operation's token was dropped in memory; this write persists that too
            self.checkpoint.update(
                step.key,
                status=FAILED,
                last_error={"code": outcome.error.code, "message": outcome.error.message},
                finished_at=now(),
                resource_id=step.resource_id(),
            )
        self.emit("step_finished", **outcome.as_dict())
        return outcome

    def _as_step_failed(self, step: Step, err: BaseException) -> StepFailed:
        if isinstance(err, StepFailed):
            return err
        failed = StepFailed(
            step=step.key,
            resource_id=step.resource_id(),
            code=error_code(err) or type(err).__name__,
            message=redact_text(error_message(err)),
        )
        failed.__cause__ = err
        return failed

    # -- up -----------------------------------------------------------------------
    def up(self) -> RunResult:
        start = time.monotonic()
        self.checkpoint.begin_run("up", self.run_id)
        self.emit("run_started", command="up", steps=len(self.steps), run_id=self.run_id)
        outcomes = self._schedule(self._up_step, command="up")
        return self._finish("up", outcomes, start)

    def _finish(self, command: str, outcomes: dict[str, StepOutcome], start: float) -> RunResult:
        if self.cancel.is_set():
            status = RunStatus.INTERRUPTED
        elif any(o.status in (FAILED, "not_started") for o in outcomes.values()):
            status = RunStatus.FAILED
        else:
            status = RunStatus.SUCCEEDED
        result = RunResult(command, status, outcomes, time.monotonic() - start)
        self.checkpoint.end_run(status.value, result.summary())
        self.emit("run_finished", command=command, status=status.value, summary=result.summary(),
                  duration_s=round(result.duration_s, 3))
        return result

    def _up_step(self, step: Step) -> StepOutcome:
        spec = step.desired(self.config, self._upstream(step))
        inputs = digest(spec)
        rec = self.checkpoint.record(step.key)
        if (
            self.options.trust_state
            and rec.get("status") == SUCCEEDED
            and rec.get("inputs_digest") == inputs
            and "outputs" in rec
        ):
            with self._outputs_lock:
                self._outputs[step.key] = dict(rec["outputs"])
            return StepOutcome(step.key, SUCCEEDED, Action.NOOP.value, resource_id=step.resource_id())

        ctx = self._ctx(step)
        attempts = 0
        result: dict[str, Any] = {}

        def attempt() -> None:
            nonlocal attempts
            attempts += 1
            result.clear()
            result.update(self._converge(step, ctx, spec, rec))

        def on_retry(err: BaseException, n: int, delay: float) -> None:
            self.emit("retry", step=step.key, code=error_code(err), attempt=n, delay_s=round(delay, 3))

        try:
            self.retry.call(attempt, on_retry=on_retry, cancel=self.cancel)
        except (StepFailed, Interrupted):
            raise
        except Exception as err:
            raise self._as_step_failed(step, err) from err
        observed: Spec = result["observed"]
        outputs = redact(step.outputs(observed))
        with self._outputs_lock:
            self._outputs[step.key] = outputs
        # the record as it is now: an earlier attempt of this step may have created the resource
        created = bool(self.checkpoint.record(step.key).get("created")) or result["action"] == Action.CREATE.value
        self.checkpoint.update(
            step.key,
            status=SUCCEEDED,
            inputs_digest=inputs,
            outputs=outputs,
            resource_id=step.resource_id(),
            created=created,
            owned_tags=bool(result.get("tagged")),
            attempts=int(rec.get("attempts", 0)) + (attempts if result["action"] != Action.NOOP.value else 0),
            last_error=None,
            clear=("lro",),
        )
        return StepOutcome(
            step.key,
            SUCCEEDED,
            result["action"],
            changed=result["action"] != Action.NOOP.value,
            attempts=attempts,
            resource_id=step.resource_id(),
            changes=result["changes"],
            reattached=ctx.lro.reattached > 0,
        )

    def _settle(self, step: Step, ctx: StepContext, observed: Spec | None) -> Spec | None:
        """Wait until a resource another operation is changing is terminal (GET polling)."""
        deadline = time.monotonic() + ctx.lro.timeout_for(step.resource_type)
        delay = self.options.settle_poll_s
        while observed is not None and _state(observed) in IN_PROGRESS_STATES:
            if self.cancel.is_set():
                raise Interrupted(step.key)
            if time.monotonic() > deadline:
                raise StepFailed(step=step.key, resource_id=step.resource_id(), code="OperationTimedOut",
                                 message="resource stayed in a transitional provisioningState")
            if self.cancel.wait(delay):
                raise Interrupted(step.key)
            delay = min(delay * 1.5, 5.0)
            observed = step.read(ctx)
        return observed

    def _converge(self, step: Step, ctx: StepContext, spec: Spec, rec: Mapping[str, Any]) -> dict[str, Any]:
        # An operation in flight when the last run stopped is re-attached, not re-sent.
        if self.checkpoint.lro_token(step.key, "put"):
            with self.locks.hold(step.lock_keys()):
                step.apply(ctx, spec, None)
        observed = self._settle(step, ctx, step.read(ctx))
        if observed is None:
            action = Action.CREATE
            changes = [Change("(resource)", None, "create")]
        else:
            action, changes = classify(step, spec, observed)
        if action == Action.REPLACE and not self.options.allow_replace:
            paths = ", ".join(c.path for c in changes if c.replace)
            raise ReplacementRefused(
                step=step.key,
                resource_id=step.resource_id(),
                code="ReplacementRequired",
                message=(
                    f"Azure cannot change {paths} in place; the resource would have to be deleted and "
                    "re-created. Revert the config change, or re-run with --allow-replace to replace it."
                ),
            )
        if action == Action.NOOP:
            assert observed is not None
            tagged = _tagged(observed, self.deployment_tags)
            return {"observed": observed, "action": action.value, "changes": [], "tagged": tagged}
        self.checkpoint.update(step.key, status=RUNNING, resource_id=step.resource_id(), started_at=now(),
                               created=bool(self.checkpoint.record(step.key).get("created")) or observed is None)
        self.emit("step_applying", step=step.key, action=action.value)
        with self.locks.hold(step.lock_keys()):
            if action == Action.REPLACE:
                step.delete(ctx)
                observed = None
            new = step.apply(ctx, spec, observed)
        if _state(new) in IN_PROGRESS_STATES:
            new = self._settle(step, ctx, step.read(ctx)) or new
        if _state(new) == "failed":
            raise StepFailed(step=step.key, resource_id=step.resource_id(), code="ProvisioningFailed",
                             message="the resource ended in provisioningState Failed")
        tagged = _tagged(new, self.deployment_tags)
        return {"observed": new, "action": action.value, "changes": changes, "tagged": tagged}

    # -- plan ---------------------------------------------------------------------
    def _read_all(self, wanted: Callable[[Step], bool] = lambda _step: True) -> dict[str, Spec | None]:
        """Read the resources of the wanted steps in parallel (no progress events); others map to None."""
        observed: dict[str, Spec | None] = {}

        def read(step: Step) -> StepOutcome:
            if wanted(step):
                ctx = self._ctx(step)
                observed[step.key] = self.retry.call(lambda: step.read(ctx), cancel=self.cancel)
            else:
                observed[step.key] = None
            return StepOutcome(step.key, SUCCEEDED)

        saved_cb = self.on_event
        self.on_event = None
        try:
            outcomes = self._schedule(read, command="plan")
        finally:
            self.on_event = saved_cb
        failures = [o.error for o in outcomes.values() if o.status == FAILED and o.error]
        if failures:
            raise failures[0]
        return observed

    def plan(self, *, refresh_only: bool = False) -> Plan:
        """Read every resource (in parallel) and compare with the desired state."""
        observed = self._read_all()
        entries: list[PlanEntry] = []
        outputs: dict[str, Outputs] = {}
        order = TopologicalSorter({k: set(s.requires) for k, s in self.steps.items()}).static_order()
        for k in sorted(order, key=lambda k: _topo_index(self.steps, k)):
            step = self.steps[k]
            upstream = {d: outputs.get(d, _UnknownOutputs()) for d in step.requires}
            spec = step.desired(self.config, upstream)
            obs = observed.get(k)
            if obs is None:
                entries.append(PlanEntry(k, step.resource_id(), Action.CREATE, []))
                outputs[k] = _UnknownOutputs()
                continue
            outputs[k] = step.outputs(obs)
            action, changes = classify(step, spec, obs)
            entries.append(PlanEntry(k, step.resource_id(), action, changes, drift=bool(changes)))
        if refresh_only:
            for e in entries:
                if e.action == Action.CREATE:
                    rec = self.checkpoint.record(e.key)
                    if rec.get("status") == SUCCEEDED:
                        e.changes = [Change("(resource)", "recorded as deployed", "missing")]
        return Plan(entries)

    # -- down ---------------------------------------------------------------------
    def owned_ids(self) -> OwnedIds:
        doc = self.checkpoint.snapshot()
        return OwnedIds({
            str(rec["resource_id"])
            for rec in (doc.get("steps") or {}).values()
            if rec.get("created") and rec.get("resource_id")
        })

    def deletable(self, step: Step, ctx: StepContext, observed: Spec, owned: OwnedIds) -> tuple[bool, str | None]:
        """Whether ``down`` may delete the resource, and why not: it must be ours (created by this
        deployment and tagged as such) and used by nothing we do not own."""
        rec = self.checkpoint.record(step.key)
        # A child created with its parent (an agent pool in the cluster's PUT) is owned with it.
        if not rec.get("created") and not owned.owns_parent_of(step.resource_id()):
            return False, "not created by this deployment (pre-existing or adopted)"
        if step_has_tags(step) and not _tagged(observed, self.deployment_tags):
            return False, "does not carry this deployment's ownership tags"
        blockers = step.delete_blockers(ctx, observed, owned)
        if blockers:
            return False, "in use by resources this deployment does not own: " + ", ".join(blockers[:5])
        return True, None

    def plan_destroy(self) -> Plan:
        """What ``down`` would delete and keep, read from Azure (reads run in parallel)."""

        def recorded(step: Step) -> bool:
            rec = self.checkpoint.record(step.key)
            return rec.get("status") not in (None, "pending") or bool(rec.get("created"))

        observed = self._read_all(recorded)
        owned = self.owned_ids()
        entries: list[PlanEntry] = []
        for k in _reverse_order(self.steps):
            step, obs = self.steps[k], observed.get(k)
            if obs is None:
                continue
            ok, why = self.deletable(step, self._ctx(step), obs, owned)
            entries.append(PlanEntry(k, step.resource_id(), Action.DELETE if ok else Action.KEEP, [], note=why))
        return Plan(entries)

    def down(self) -> RunResult:
        start = time.monotonic()
        self.checkpoint.begin_run("down", self.run_id)
        self.emit("run_started", command="down", steps=len(self.steps), run_id=self.run_id)
        outcomes = self._schedule(self._down_step, reverse=True, command="down")
        result = self._finish("down", outcomes, start)
        if result.status == RunStatus.SUCCEEDED:
            kept = sorted(k for k, o in outcomes.items() if o.status == KEPT)
            self.checkpoint.set_meta("teardown", {"finished_at": now(), "run_id": self.run_id, "kept": kept})
        return result

    def _down_step(self, step: Step) -> StepOutcome:
        ctx = self._ctx(step)
        retry = self.retry
        observed = retry.call(lambda: step.read(ctx), cancel=self.cancel)
        rid = step.resource_id()
        if observed is None:
            if self.checkpoint.record(step.key).get("status") not in (None, "pending"):
                self.checkpoint.update(step.key, status=DELETED, finished_at=now(), outputs={})
            return StepOutcome(step.key, DELETED, Action.NOOP.value, resource_id=rid)
        owned = self.owned_ids()
        ok, why = self.deletable(step, ctx, observed, owned)
        if not ok:
            self.checkpoint.update(step.key, status=KEPT, finished_at=now(), kept_because=why)
            return StepOutcome(step.key, KEPT, Action.KEEP.value, resource_id=rid, note=why)
        attempts = 0

        def attempt() -> None:
            nonlocal attempts
            attempts += 1
            with self.locks.hold(step.lock_keys()):
                step.prepare_delete(ctx, observed, owned)
                step.delete(ctx)

        self.checkpoint.update(step.key, status=RUNNING, started_at=now())
        try:
            retry.call(attempt, cancel=self.cancel, on_retry=lambda e, n, d: self.emit(
                "retry", step=step.key, code=error_code(e), attempt=n, delay_s=round(d, 3)))
        except (StepFailed, Interrupted):
            raise
        except Exception as err:
            raise self._as_step_failed(step, err) from err
        note = step.after_delete(ctx)
        self.checkpoint.update(step.key, status=DELETED, finished_at=now(), outputs={}, clear=("lro",))
        return StepOutcome(step.key, DELETED, Action.DELETE.value, changed=True, attempts=attempts,
                           resource_id=rid, note=note)


def classify(step: Step, spec: Spec, observed: Spec) -> tuple[Action, list[Change]]:
    """What an existing resource needs: its diff, plus a repair when Azure left it Failed."""
    changes = step.diff(spec, observed)
    if _state(observed) == "failed":
        changes.append(Change("properties.provisioningState", "Failed", "Succeeded"))
    if any(c.replace for c in changes):
        return Action.REPLACE, changes
    return (Action.UPDATE if changes else Action.NOOP), changes


def step_has_tags(step: Step) -> bool:
    """Child resources (subnets, routes, rule collection groups...) carry no tags in Azure."""
    if step.taggable is not None:
        return step.taggable
    return step.resource_type.count("/") == 1


def _tagged(observed: Mapping[str, Any] | None, tags: Mapping[str, str]) -> bool:
    if not observed or not tags:
        return False
    have = {str(k).lower(): str(v) for k, v in (observed.get("tags") or {}).items()}
    return all(have.get(k.lower()) == v for k, v in tags.items())


def _state(observed: Mapping[str, Any] | None) -> str:
    if not observed:
        return ""
    props = observed.get("properties") or {}
    return str(props.get("provisioningState") or observed.get("provisioningState") or "").lower()


def _topo_index(steps: Mapping[str, Step], key: str) -> tuple[int, str]:
    depth: dict[str, int] = {}

    def d(k: str) -> int:
        if k not in depth:
            depth[k] = 1 + max((d(r) for r in steps[k].requires), default=-1)
        return depth[k]

    return d(key), key


def _reverse_order(steps: Mapping[str, Step]) -> list[str]:
    return sorted(steps, key=lambda k: _topo_index(steps, k), reverse=True)


def lock_info(command: str, run_id: str) -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": now(),
        "command": command,
        "run_id": run_id,
    }
