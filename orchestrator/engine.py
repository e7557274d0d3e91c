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
import heapq
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from typing import Any

from hubspoke_deploy.errors import (
    Interrupted,
    ReplacementRefused,
    ReplacementsRefused,
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
from hubspoke_deploy.orchestrator.graph import (
    build_graph,
    critical_path,
    longest_path,
    reverse_order,
    topo_order,
)
from hubspoke_deploy.orchestrator.locks import ParentLocks
from hubspoke_deploy.orchestrator.lro import LroRunner
from hubspoke_deploy.orchestrator.prune import (
    API_VERSIONS,
    OrphanHandlers,
    OrphanStep,
    find_orphans,
    orphan_steps,
    read_by_id,
)
from hubspoke_deploy.orchestrator.redact import redact, redact_text
from hubspoke_deploy.orchestrator.results import (
    Action,
    Plan,
    PlanEntry,
    RunResult,
    RunStatus,
    StepOutcome,
)
from hubspoke_deploy.orchestrator.retry import RetryPolicy, error_code, error_message
from hubspoke_deploy.orchestrator.step import Outputs, OwnedIds, Spec, Step, StepContext
from hubspoke_deploy.orchestrator.throttle import AdaptiveLimiter

__all__ = [
    "Action",
    "Engine",
    "EngineOptions",
    "ParentLocks",
    "Plan",
    "PlanEntry",
    "RunResult",
    "RunStatus",
    "StepOutcome",
    "build_graph",
    "classify",
    "critical_path",
    "longest_path",
    "step_has_tags",
]

IN_PROGRESS_STATES = {"creating", "updating", "deleting", "accepted", "provisioning", "migrating"}

Event = dict[str, Any]
EventCallback = Callable[[Event], None]


class _UnknownOutputs(dict[str, Any]):
    """Outputs of a step whose resource does not exist yet (plan only)."""

    def __missing__(self, key: str) -> Any:
        return UNKNOWN


#: How long "not found" by ``up``'s up-front read stands for a step's own first read. A step that
#: starts within it (the resource group and the first steps of a fresh deploy) writes without
#: reading again; later ones read again, so a resource someone else created meanwhile is seen
#: (and adopted, not claimed as created). Two seconds: the same order as a read-then-write.
ABSENT_FRESH_S = 2.0


def _group_of(resource_id: str, subscription_id: str) -> str:
    """The lower-case resource group name of ``resource_id`` when it lives in a resource group
    of ``subscription_id`` (a resource group itself included), else ''."""
    parts = resource_id.strip("/").split("/")
    if (len(parts) >= 4 and parts[0].lower() == "subscriptions" and parts[1].lower() == subscription_id.lower()
            and parts[2].lower() == "resourcegroups" and subscription_id):
        return parts[3].lower()
    return ""


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
    # how long one request may wait out ARM's throttling (None: the runner's default, 900 s for
    # Azure, 120 s on a loopback simulator)
    throttle_wait_s: float | None = None
    # which orphans up may delete, by key (None: all); `up --region` leaves the other regions' alone
    prune_scope: Callable[[str], bool] | None = None


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
        orphan_handlers: OrphanHandlers | None = None,
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
        self.orphan_handlers: OrphanHandlers = dict(orphan_handlers or {})
        # what up's up-front plan read, used once by each step's first attempt (no second GET)
        self._prefetched: dict[str, Spec] = {}
        # what up's up-front read found absent, and when: a step starting soon after reuses it
        self._absent_at: dict[str, float] = {}
        self._prefetch_lock = threading.Lock()

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
        steps: Mapping[str, Step] | None = None,
    ) -> dict[str, StepOutcome]:
        steps = self.steps if steps is None else steps
        graph: dict[str, set[str]] = {k: set() for k in steps}
        for k, s in steps.items():
            for dep in s.requires:
                if dep not in graph:
                    continue  # an orphan's recorded requirement that is not part of this run
                if reverse:
                    graph[dep].add(k)
                else:
                    graph[k].add(dep)
            if reverse:
                for after in s.delete_after:
                    if after in graph:
                        graph[k].add(after)
        priority = critical_path(steps) if not reverse else {k: 0.0 for k in steps}
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
                        outcomes[k] = StepOutcome(k, "not_started", resource_id=steps[k].resource_id())
                        self.emit("step_skipped", step=k, because=failed_deps)
                        blocked.add(k)
                        ts.done(k)
                        progressed = True
                        continue
                    running[pool.submit(self._guarded, run, steps[k])] = k
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
        for k in steps:
            if k not in outcomes:
                status = "interrupted" if self.cancel.is_set() else "not_started"
                outcomes[k] = StepOutcome(k, status, resource_id=steps[k].resource_id())
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
            outcome = StepOutcome(step.key, "interrupted", "interrupted", resource_id=step.resource_id())
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
                last_error=redact({"code": outcome.error.code, "message": outcome.error.message}),
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
        """Converge: every step's resource to its desired state, then every orphan deleted.

        Unless ``trust_state``, the resources are read first (in parallel, as ``plan`` does) and
        every replacement is known before the first write: without ``allow_replace``, or for a
        resource this deployment did not create, the run stops there (ReplacementsRefused,
        exit 2) and nothing is written. Each step's first attempt reuses that read.
        Orphans are deleted only once every write of the run succeeded (the writes that stop
        referencing them, e.g. the firewall dropping an IP configuration, come first)."""
        start = time.monotonic()
        if not self.options.trust_state:
            # A read that fails here is left to the step (it fails, resumably, with its own
            # error); its replacement, if any, is then refused by the step itself.
            unread: set[str] = set()
            # Only what Azure cannot change in place can need replacing: those are read up front
            # (by id, one SDK for all); the others are read by their own step as before.
            # (the others map to None: planned as creates, never as replacements).
            absent: set[str] = set()
            observed = self._read_all(lambda step: bool(step.immutable), failed=unread, generic=True, absent=absent)
            self._refuse_replacements(self._plan_from(observed), skip=unread)
            with self._prefetch_lock:
                self._prefetched = {k: v for k, v in observed.items() if v is not None}
                read_at = time.monotonic()
                self._absent_at = {k: read_at for k in absent}
        self.checkpoint.begin_run("up", self.run_id)
        self._set_aside_replaced()
        self.emit("run_started", command="up", steps=len(self.steps), run_id=self.run_id)
        outcomes = self._schedule(self._up_step, command="up")
        if not self.cancel.is_set() and all(o.status == SUCCEEDED for o in outcomes.values()):
            orphans = self.orphans()
            if orphans:
                self.emit("prune_started", orphans=len(orphans))
                outcomes.update(self._schedule(self._prune_step, reverse=True, command="up", steps=orphans))
        return self._finish("up", outcomes, start)

    # -- convergence: identity records, orphans, replacements -------------------------
    def _identity(self, step: Step) -> dict[str, Any]:
        """What the checkpoint keeps to delete the resource without its step (``prune``)."""
        return {
            "resource_id": step.resource_id(),
            "resource_type": step.resource_type,
            "requires": list(step.requires),
            "lock_keys": list(step.lock_keys()),
            "taggable": step_has_tags(step),
        }

    def orphans(self, *, for_down: bool = False) -> dict[str, OrphanStep]:
        """Steps deleting what the checkpoint recorded and the config no longer produces."""
        records = self.checkpoint.records()
        found = find_orphans(records, self.steps)
        scope = self.options.prune_scope  # e.g. up --region: the other regions' records are not orphans
        if scope is not None and not for_down:
            found = {k: o for k, o in found.items() if scope(k)}
        return orphan_steps(found, self.orphan_handlers, self.steps if for_down else None)

    def _set_aside_replaced(self) -> None:
        """Records of keys that now name another resource move to ``key~hash`` (as orphans)
        before the key's step writes its new record."""
        records = self.checkpoint.records()
        renames: dict[str, str] = {}
        for key, orphan in find_orphans(records, self.steps).items():
            if key not in records:  # a reused key: find_orphans named it key~hash
                renames[orphan.original_key] = key
        self.checkpoint.rename(renames)

    def _refuse_replacements(self, plan: Plan, skip: set[str] | None = None) -> None:
        refused: list[dict[str, Any]] = []
        for entry in plan.entries:
            if entry.action != Action.REPLACE or entry.key in (skip or ()):
                continue
            ours, why = self._replaceable(self.steps[entry.key])
            if ours and self.options.allow_replace:
                continue
            if ours:
                fix = "revert the change in the config, or run up --allow-replace to delete and re-create it"
            elif not self.options.allow_replace:
                fix = f"revert the change in the config ({why}: it is never replaced)"
            else:
                fix = (f"{why}: revert the change in the config, or delete or rename that resource yourself and "
                       "run up again")
            refused.append({"step": entry.key, "resource_id": entry.resource_id,
                            "forced_by": [c.path for c in entry.changes if c.replace], "fix": fix})
        if refused:
            raise ReplacementsRefused(refused)

    def _replaceable(self, step: Step) -> tuple[bool, str]:
        """Whether ``--allow-replace`` may delete the step's current resource."""
        rec = self.checkpoint.record(step.key)
        if not rec.get("created") or str(rec.get("resource_id", "")).lower() != step.resource_id().lower():
            return False, "it was not created by this deployment (pre-existing or adopted)"
        return True, ""

    def _merge_adopted_tags(self, step: Step, spec: Spec, observed: Spec | None) -> Spec:
        """An adopted resource (it existed before this deployment) keeps its own tags: ours are
        merged in, never replace its values."""
        if observed is None or not isinstance(spec.get("tags"), Mapping) or not step_has_tags(step):
            return spec
        if self.checkpoint.record(step.key).get("created"):
            return spec
        theirs = observed.get("tags") if isinstance(observed.get("tags"), Mapping) else {}
        return {**spec, "tags": {**spec["tags"], **(theirs or {})}}

    def _status(self, outcomes: Mapping[str, StepOutcome]) -> RunStatus:
        if self.cancel.is_set():
            return RunStatus.INTERRUPTED
        if any(o.status in (FAILED, "not_started") for o in outcomes.values()):
            return RunStatus.FAILED
        return RunStatus.SUCCEEDED

    def _finish(self, command: str, outcomes: dict[str, StepOutcome], start: float) -> RunResult:
        status = self._status(outcomes)
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
            **self._identity(step),
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
        if observed is not None and _state(observed) in IN_PROGRESS_STATES:
            self.emit("step_waiting", step=step.key, what=f"another operation on it ({_state(observed)})")
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
        with self._prefetch_lock:
            prefetched = self._prefetched.pop(step.key, None)
            absent_at = self._absent_at.pop(step.key, None)
        # An operation in flight when the last run stopped is re-attached, not re-sent.
        if self.checkpoint.lro_token(step.key, "put"):
            prefetched, absent_at = None, None  # the resource changes under the operation
            with self.locks.hold(step.lock_keys()):
                step.apply(ctx, spec, None)
        if prefetched is None and absent_at is not None and time.monotonic() - absent_at <= ABSENT_FRESH_S:
            observed = None  # found absent a moment ago (up's up-front read): not read again
        else:
            observed = self._settle(step, ctx, prefetched if prefetched is not None else step.read(ctx))
        spec = self._merge_adopted_tags(step, spec, observed)
        if observed is None:
            action = Action.CREATE
            changes = [Change("(resource)", None, "create")]
        else:
            action, changes = classify(step, spec, observed)
        if action == Action.REPLACE:
            # the backstop of up's up-front check (a read that failed then, or --trust-state)
            ours, why = self._replaceable(step)
            if not self.options.allow_replace:
                paths = ", ".join(c.path for c in changes if c.replace)
                message = (f"Azure cannot change {paths} in place; the resource would have to be deleted and "
                           "re-created. Revert the config change, or re-run with --allow-replace to replace it.")
            elif not ours:
                message = f"{why}, so it is never replaced; revert the config change, or delete or rename that " \
                          "resource yourself"
            else:
                message = ""
            if message:
                raise ReplacementRefused(step=step.key, resource_id=step.resource_id(),
                                         code="ReplacementRequired", message=message)
        if action == Action.NOOP:
            assert observed is not None
            tagged = _tagged(observed, self.deployment_tags)
            return {"observed": observed, "action": action.value, "changes": [], "tagged": tagged}
        self.checkpoint.update(step.key, status=RUNNING, started_at=now(), **self._identity(step),
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
    def _read_all(
        self,
        wanted: Callable[[Step], bool] = lambda _step: True,
        steps: Mapping[str, Step] | None = None,
        failed: set[str] | None = None,
        generic: bool = False,
        absent: set[str] | None = None,
    ) -> dict[str, Spec | None]:
        """Read the resources of the wanted steps, all at once on the worker pool (a read
        waits for nothing: no DAG order, no progress events); others map to None. With
        ``failed``, a read that fails is recorded there instead of raising. Steps of one list
        group (``Step.list_group``: the peerings of one VNet, the links of one zone) are read by
        one list request; if that request fails, each of them is read alone."""
        steps = self.steps if steps is None else steps
        observed: dict[str, Spec | None] = {k: None for k in steps}
        todo = [s for s in steps.values() if wanted(s)]
        if len(todo) > 1:
            # Nothing exists in a resource group that does not: on a fresh deploy one read per
            # group replaces a read per resource (ARM answers 404 ResourceGroupNotFound for each).
            # A group's own step is read first, and that read is its observation.
            missing, probed = self._probe_groups(todo, steps, generic)
            observed.update(probed)
            sub = self._ctx_subscription()
            found_absent = {s.key for s in steps.values() if _group_of(s.resource_id(), sub) in missing}
            found_absent |= {k for k, v in probed.items() if v is None}
            if absent is not None:
                absent |= found_absent
            todo = [s for s in todo if s.key not in probed and s.key not in found_absent]
        groups: dict[tuple[str, ...], list[Step]] = {}
        singles: list[Step] = []
        for s in todo:
            group = s.list_group()
            if group is None:
                singles.append(s)
            else:
                groups.setdefault(group, []).append(s)
        listed: list[list[Step]] = []
        for members in groups.values():
            if len(members) > 1:
                listed.append(members)
            else:
                singles += members

        def limited(call: Callable[[], Any]) -> Any:
            limiter = self.limiter
            if limiter is not None:
                limiter.acquire(self.cancel)
            throttled_before = limiter.throttled if limiter is not None else 0
            try:
                return self.retry.call(call, cancel=self.cancel)
            finally:
                if limiter is not None:
                    limiter.release(clean=limiter.throttled == throttled_before)

        def read(step: Step) -> None:
            ctx = self._ctx(step)
            by_id = generic and generic_readable(step)
            try:
                observed[step.key] = limited(lambda: read_by_id(ctx, step) if by_id else step.read(ctx))
                if observed[step.key] is None and absent is not None:
                    absent.add(step.key)
            except Interrupted:
                raise
            except Exception as err:
                if failed is not None:
                    failed.add(step.key)
                    return
                if isinstance(err, StepFailed):
                    raise
                raise self._as_step_failed(step, err) from err

        def read_group(members: list[Step]) -> list[Step]:
            """Fills ``observed`` from one list request; returns the steps to read alone."""
            first = members[0]
            ctx = self._ctx(first)
            try:
                found: Mapping[str, Spec] = limited(lambda: first.read_listed(ctx))
                for step in members:
                    observed[step.key] = step.read_from_list(ctx, found)
                    if observed[step.key] is None and absent is not None:
                        absent.add(step.key)
            except Interrupted:
                raise
            except Exception:
                return members
            return []

        if todo:
            with ThreadPoolExecutor(max_workers=max(1, min(self.options.parallelism, len(todo))),
                                    thread_name_prefix="read") as pool:
                grouped = [pool.submit(read_group, members) for members in listed]
                futures = [pool.submit(read, s) for s in singles]
                for gfut in grouped:
                    futures += [pool.submit(read, s) for s in gfut.result()]
                for fut in futures:
                    fut.result()
        return observed

    def _ctx_subscription(self) -> str:
        return str(getattr(self.clients, "subscription_id", "") or "")

    def _probe_groups(
        self, todo: list[Step], steps: Mapping[str, Step], generic: bool
    ) -> tuple[set[str], dict[str, Spec | None]]:
        """Which resource groups of ``todo``'s resources (lower-case names, this subscription)
        do not exist, and the observations of the groups' own steps (among ``steps``) read on
        the way. A read that fails counts as "exists" (the resources are then read one by one)."""
        from azure.core.exceptions import ResourceNotFoundError

        sub = self._ctx_subscription()
        names = {g for g in (_group_of(s.resource_id(), sub) for s in todo) if g}
        if not names:
            return set(), {}
        owners = {_group_of(s.resource_id(), sub): s for s in steps.values()
                  if s.resource_type.lower() == "microsoft.resources/resourcegroups"}
        probed: dict[str, Spec | None] = {}

        def absent(name: str) -> bool:
            step = owners.get(name)
            try:
                if step is not None:
                    ctx = self._ctx(step)
                    by_id = generic and generic_readable(step)
                    spec = self.retry.call(lambda: read_by_id(ctx, step) if by_id else step.read(ctx),
                                           cancel=self.cancel)
                    probed[step.key] = spec
                    return spec is None
                client = self.clients.get("resource")
                self.retry.call(lambda: client.resource_groups.get(name), cancel=self.cancel)
            except ResourceNotFoundError:
                return True
            except Interrupted:
                raise
            except Exception:
                return False
            return False

        ordered = sorted(names)
        with ThreadPoolExecutor(max_workers=min(8, len(ordered)), thread_name_prefix="read") as pool:
            found = dict(zip(ordered, pool.map(absent, ordered), strict=True))
        return {n for n, gone in found.items() if gone}, probed

    def plan(self, *, refresh_only: bool = False) -> Plan:
        """Read every resource (in parallel) and compare with the desired state; orphans
        (recorded, no longer in the config) are planned as deletes, or keeps when they are
        not this deployment's to delete."""
        orphans = self.orphans()
        observed = self._read_all(steps={**self.steps, **orphans})
        plan = self._plan_from(observed)
        if refresh_only:
            for e in plan.entries:
                if e.action == Action.CREATE:
                    rec = self.checkpoint.record(e.key)
                    if rec.get("status") == SUCCEEDED:
                        e.changes = [Change("(resource)", "recorded as deployed", "missing")]
        plan.entries += self._orphan_entries(orphans, observed)
        return plan

    def _plan_from(self, observed: Mapping[str, Spec | None]) -> Plan:
        entries: list[PlanEntry] = []
        outputs: dict[str, Outputs] = {}
        specs: dict[str, Spec] = {}
        for k in topo_order(self.steps):
            step = self.steps[k]
            upstream = {d: outputs.get(d, _UnknownOutputs()) for d in step.requires}
            spec = specs[k] = step.desired(self.config, upstream)
            obs = observed.get(k)
            if obs is None:
                entries.append(PlanEntry(k, step.resource_id(), Action.CREATE, [], desired=dict(spec),
                                         resource_type=step.resource_type))
                # a resource's id is known before it exists (deterministic from the config)
                outputs[k] = _UnknownOutputs({"id": step.resource_id()})
                continue
            outputs[k] = step.outputs(obs)
            action, changes = classify(step, self._merge_adopted_tags(step, spec, obs), obs)
            entries.append(PlanEntry(k, step.resource_id(), action, changes, drift=bool(changes), desired=dict(spec),
                                     observed=dict(obs), resource_type=step.resource_type))
        return Plan(entries, desired=[desired_resource(self.steps[k], specs[k], observed.get(k)) for k in specs])

    def _orphan_entries(
        self, orphans: Mapping[str, OrphanStep], observed: Mapping[str, Spec | None]
    ) -> list[PlanEntry]:
        entries: list[PlanEntry] = []
        owned = self.owned_ids()
        for k in reverse_order(orphans):
            step, obs = orphans[k], observed.get(k)
            if obs is None:
                continue  # already gone: up only drops its record
            ok, why = self.deletable(step, self._ctx(step), obs, owned)
            reason = step.orphan.reason
            entries.append(PlanEntry(
                k, step.resource_id(), Action.DELETE if ok else Action.KEEP,
                [Change("(resource)", "exists", "deleted")] if ok else [],
                note=reason if ok else f"{reason}; kept: {why}", orphan=True, observed=dict(obs),
                resource_type=step.resource_type,
            ))
        return entries

    # -- down ---------------------------------------------------------------------
    def owned_ids(self) -> OwnedIds:
        return OwnedIds({
            str(rec["resource_id"])
            for rec in self.checkpoint.records().values()
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

        orphans = self.orphans(for_down=True)
        everything: dict[str, Step] = {**self.steps, **orphans}
        observed = self._read_all(lambda step: step.key in orphans or recorded(step), steps=everything)
        owned = self.owned_ids()
        entries: list[PlanEntry] = []
        for k in reverse_order(everything):
            step, obs = everything[k], observed.get(k)
            if obs is None:
                continue
            ok, why = self.deletable(step, self._ctx(step), obs, owned)
            entries.append(PlanEntry(k, step.resource_id(), Action.DELETE if ok else Action.KEEP, [], note=why,
                                     orphan=k in orphans, observed=dict(obs), resource_type=step.resource_type))
        return Plan(entries)

    def down(self) -> RunResult:
        start = time.monotonic()
        self.checkpoint.begin_run("down", self.run_id)
        everything: dict[str, Step] = {**self.steps, **self.orphans(for_down=True)}
        self.emit("run_started", command="down", steps=len(everything), run_id=self.run_id)
        outcomes = self._schedule(self._down_step, reverse=True, command="down", steps=everything)
        if self._status(outcomes) == RunStatus.SUCCEEDED:
            # recorded before the run's end, whose write carries the whole document
            kept = sorted(k for k, o in outcomes.items() if o.status == KEPT)
            self.checkpoint.set_meta("teardown", {"finished_at": now(), "run_id": self.run_id, "kept": kept})
        return self._finish("down", outcomes, start)

    def _prune_step(self, step: Step) -> StepOutcome:
        """Delete one orphan as ``down`` would. Its record leaves the checkpoint once the
        resource is gone, or when it was never this deployment's (it is no longer managed);
        one kept because something foreign still uses it stays recorded, for the next run."""
        outcome = self._down_step(step)
        reason = step.orphan.reason if isinstance(step, OrphanStep) else "no longer in the config"
        rec = self.checkpoint.record(step.key)
        if outcome.status == DELETED or (outcome.status == KEPT and not rec.get("created")):
            self.checkpoint.forget(step.key)
        if outcome.status == KEPT:
            outcome.note = f"{reason}; kept: {outcome.note}"
        elif outcome.status == DELETED and outcome.changed:
            outcome.note = "; ".join(n for n in (f"deleted: {reason}", outcome.note) if n)
        return outcome

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


def generic_readable(step: Step) -> bool:
    """Whether the step's resource can be read by id with the generic resources client (its
    type has a known api-version, and the step reads nothing beyond the resource itself)."""
    return step.resource_type.lower() in API_VERSIONS and type(step).finalize_observed is Step.finalize_observed


def desired_resource(step: Step, spec: Spec, observed: Spec | None) -> dict[str, Any]:
    """The resource as it will be: the desired body over what Azure has (server-assigned values
    kept, unknown-until-applied values left out), with its id, name and type."""

    def known(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: known(v) for k, v in value.items() if not (isinstance(v, str) and v == UNKNOWN)}
        if isinstance(value, list):
            return [known(v) for v in value if not (isinstance(v, str) and v == UNKNOWN)]
        return value

    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, Mapping) and isinstance(over, Mapping):
            out = dict(base)
            for k, v in over.items():
                out[k] = merge(base.get(k), v)
            return out
        if isinstance(base, list) and isinstance(over, list):  # named items merge by name
            named = {str(b.get("name", "")).lower(): b for b in base if isinstance(b, Mapping) and b.get("name")}
            return [merge(named.get(str(o.get("name", "")).lower()), o) if isinstance(o, Mapping) else o
                    for o in over]
        return over

    rid = step.resource_id()
    body: dict[str, Any] = merge(dict(observed or {}), known(spec))
    return {**body, "id": rid, "name": rid.rstrip("/").rsplit("/", 1)[-1], "type": step.resource_type}


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


def lock_info(command: str, run_id: str) -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": now(),
        "command": command,
        "run_id": run_id,
    }
