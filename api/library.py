"""The library API: the same engine the CLI uses, for runbooks and scripts.

Nothing here prints, exits the process or configures logging. Progress is
reported through the ``on_event`` callback; results are returned as objects;
failures raise the documented exceptions of :mod:`hubspoke_deploy.errors`
(each carries the CLI's exit code as ``exit_code``).

Example::

    import hubspoke_deploy as hd

    cfg = hd.load_config("prod.toml")            # or a dict; raises hd.ConfigError
    if hd.plan(cfg).has_changes:
        result = hd.up(cfg, parallelism=16, on_event=lambda e: print(e["event"], e.get("step")))
        assert result.status is hd.RunStatus.SUCCEEDED   # also == "succeeded"
        print(result.outputs["aks_private_fqdn"])

Every function takes the config as a loaded :class:`~hubspoke_deploy.config.DeploymentConfig`,
a path to a TOML file, or a dict (the parsed TOML); options are keyword-only.

Events passed to ``on_event`` are plain dicts with an ``"event"`` key:

=================  ==========================================================================
``run_started``    ``command``, ``steps`` (count), ``run_id``
``step_started``   ``step``, ``resource_id``
``step_applying``  ``step``, ``action`` (create / update / replace) — a write is about to be sent
``retry``          ``step``, ``code`` (Azure error code), ``attempt``, ``delay_s``
``lro_reattached`` ``step``, ``kind`` — a resumed run re-attached to an operation in flight
``step_waiting``   ``step``, ``what`` — the resource is busy with another operation; the step waits
``step_finished``  ``step``, ``status``, ``action``, ``changed``, ``duration_s``, ``attempts``,
                   ``resource_id`` and, on failure, ``error`` (``code``, ``message``)
``step_skipped``   ``step``, ``because`` (the failed steps it depends on)
``run_finished``   ``command``, ``status``, ``summary``
=================  ==========================================================================

The callback runs on the engine's worker threads; an exception it raises is ignored.
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from hubspoke_deploy.errors import DeploymentFailed, Interrupted, StepFailed
from hubspoke_deploy.verification import VerifyReport, verify

if TYPE_CHECKING:
    from hubspoke_deploy.config import DeploymentConfig
    from hubspoke_deploy.orchestrator.engine import EngineOptions
    from hubspoke_deploy.orchestrator.step import Step

__all__ = [
    "ConfigSource",
    "Event",
    "EventCallback",
    "PlanItem",
    "PlanResult",
    "RunResult",
    "RunStatus",
    "StepResult",
    "StepStatus",
    "VerifyReport",
    "down",
    "load_config",
    "outputs",
    "plan",
    "status",
    "up",
    "verify",
]

Event = dict[str, Any]
"""One progress event: a dict with an ``"event"`` key (see the module docstring)."""

EventCallback = Callable[[Event], None]

ConfigSource = Union["DeploymentConfig", str, Path, Mapping[str, Any]]
"""A loaded config, a path to a TOML file, or the parsed TOML as a dict."""


class _StrEnum(str, enum.Enum):
    """A str enum that prints as its value on every Python (3.10's ``format`` and 3.11's differ)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, format_spec: str) -> str:
        return format(str(self.value), format_spec)


class RunStatus(_StrEnum):
    """How ``up`` or ``down`` ended. Compares equal to its string value (``"succeeded"``...)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class StepStatus(_StrEnum):
    """The outcome of one step in a run. Compares equal to :attr:`StepResult.status`."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NOT_STARTED = "not_started"  # blocked by a failed dependency, or the run was stopped first
    INTERRUPTED = "interrupted"
    DELETED = "deleted"  # down: deleted (or already gone)
    KEPT = "kept"  # down: not owned by this deployment, left in place


@dataclass
class StepResult:
    """Outcome of one step.

    ``status`` is one of :class:`StepStatus` (as a string); ``action`` what was done
    (``create``, ``update``, ``replace``, ``no-op``, ``delete``, ``keep``; ``interrupted`` when the
    run stopped during the step); ``changed`` whether a
    write was sent; ``error`` the :class:`~hubspoke_deploy.errors.StepFailed` (with Azure's
    error ``code``) when the step failed.
    """

    key: str
    status: str
    action: str
    changed: bool
    duration_s: float
    attempts: int
    resource_id: str | None
    error: StepFailed | None = None
    note: str | None = None  # e.g. why down kept a resource, or a soft-deleted vault's purge date

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
        if self.error is not None:
            out["error"] = {"code": self.error.code, "message": self.error.message}
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class RunResult:
    """Result of :func:`up` or :func:`down`.

    >>> result = up(cfg)                                  # doctest: +SKIP
    >>> result.ok, result.summary()                       # doctest: +SKIP
    (True, {'succeeded': 55})
    """

    command: str
    status: RunStatus
    steps: dict[str, StepResult]
    duration_s: float
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == RunStatus.SUCCEEDED

    @property
    def failures(self) -> list[StepResult]:
        return [s for s in self.steps.values() if s.status == StepStatus.FAILED]

    @property
    def changed(self) -> list[str]:
        """Keys of the steps that sent a write, sorted."""
        return sorted(k for k, s in self.steps.items() if s.changed)

    def summary(self) -> dict[str, int]:
        """Number of steps per status, e.g. ``{"succeeded": 53, "failed": 1, "not_started": 1}``."""
        counts: dict[str, int] = {}
        for s in self.steps.values():
            counts[s.status] = counts.get(s.status, 0) + 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (what a runbook would log)."""
        return {
            "command": self.command,
            "status": self.status.value,
            "duration_s": round(self.duration_s, 3),
            "summary": self.summary(),
            "steps": [s.as_dict() for s in self.steps.values()],
            "outputs": self.outputs,
        }


@dataclass
class PlanItem:
    """One step of a plan: ``action`` is create / update / replace / no-op / delete / keep.

    ``changes`` lists ``{"path", "before", "after", "replace"}`` per changed property
    (redacted); ``note`` says why a resource is kept by a teardown plan.
    """

    key: str
    resource_id: str
    action: str
    changes: list[dict[str, Any]]
    note: str | None = None
    #: the ARM resource type, e.g. ``Microsoft.Network/virtualNetworks``
    resource_type: str = ""
    #: every property the step will send (redacted; ``"(known after apply)"`` for values that
    #: depend on a resource not created yet); None for a delete or keep
    desired: dict[str, Any] | None = None
    #: recorded by the state, no longer produced by the config
    orphan: bool = False
    #: digest of the resource as Azure has it (None: it does not exist), for a saved plan
    observed_digest: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.key, "resource_id": self.resource_id, "resource_type": self.resource_type,
                               "action": self.action, "changes": self.changes}
        if self.note:
            out["note"] = self.note
        if self.orphan:
            out["orphan"] = True
        if self.desired is not None:
            out["desired"] = self.desired
        out["observed_digest"] = self.observed_digest
        return out


@dataclass
class PlanResult:
    """What :func:`up` (or :func:`down`, with ``destroy=True``) would do."""

    items: list[PlanItem]
    #: required flows the planned state would not carry (``verify`` on the desired state)
    flow_problems: list[str] = field(default_factory=list)
    #: digest of the state's step records the plan was made from (a saved plan's staleness check)
    state_digest: str = ""

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
            "items": [i.as_dict() for i in self.items],
            "flow_problems": list(self.flow_problems),
        }


def load_config(source: ConfigSource, *, env: Mapping[str, str] | None = None) -> DeploymentConfig:
    """Load and validate a config from a TOML file path or a dict.

    ``env`` supplies the ``HUBSPOKE_<SECTION>_<KEY>`` overrides (default: ``os.environ``).
    Raises :class:`~hubspoke_deploy.errors.ConfigError` listing every problem (key path and fix),
    before any Azure call. A config that is already loaded is returned as is.

    >>> cfg = load_config("config/examples/sandbox.toml")            # doctest: +SKIP
    >>> cfg = load_config({"deployment": {...}, "spokes": [...]})    # doctest: +SKIP
    """
    from hubspoke_deploy.config import DeploymentConfig, load_config_dict
    from hubspoke_deploy.config import load_config as _load_file

    if isinstance(source, DeploymentConfig):
        return source
    if isinstance(source, Mapping):
        return load_config_dict(source, env=env)
    return _load_file(source, env=env)


def _options(parallelism: int | None, trust_state: bool, allow_replace: bool) -> EngineOptions:
    from hubspoke_deploy.orchestrator.engine import EngineOptions

    opts = EngineOptions(trust_state=trust_state, allow_replace=allow_replace)
    if parallelism is not None:
        opts.parallelism = max(1, int(parallelism))
    return opts


def _session(config: DeploymentConfig, command: str, **kw: Any) -> Any:
    from hubspoke_deploy.orchestrator.runner import open_session

    return open_session(config, command=command, **kw)


def _result(command: str, run: Any, outputs: dict[str, Any]) -> RunResult:
    steps = {
        k: StepResult(o.key, _value(o.status), _value(o.action), o.changed, o.duration_s, o.attempts, o.resource_id,
                      o.error, getattr(o, "note", None))
        for k, o in run.outcomes.items()
    }
    return RunResult(command, RunStatus(_value(run.status)), steps, run.duration_s, outputs)


def _value(value: Any) -> str:
    """An engine enum member or plain string -> the plain string."""
    return str(getattr(value, "value", value))


def plan(
    config: ConfigSource,
    *,
    credential: Any = None,
    parallelism: int | None = None,
    refresh_only: bool = False,
    destroy: bool = False,
    steps: Sequence[Step] | None = None,
) -> PlanResult:
    """Read the live state and return what :func:`up` would do (or :func:`down`, with ``destroy=True``).

    Sends only reads; takes no lock. ``refresh_only=True`` reports drift from what the last
    run applied. ``credential`` is any ``azure.core`` ``TokenCredential`` and replaces the one
    named by ``[azure] credential``.

    >>> p = plan(cfg)                                     # doctest: +SKIP
    >>> p.has_changes, p.counts()                         # doctest: +SKIP
    (True, {'create': 55})
    """
    cfg = load_config(config)
    return _plan(cfg, _options(parallelism, False, False), _steps(steps), credential=credential,
                 refresh_only=refresh_only, destroy=destroy, flow_check=steps is None)


def _plan(cfg: DeploymentConfig, opts: EngineOptions, steps: Any, *, refresh_only: bool = False,
          destroy: bool = False, flow_check: bool = True, **session: Any) -> PlanResult:
    """:func:`plan` with the engine's options and steps given (also ``up --region``'s plan).
    ``flow_check``: evaluate the planned network's required flows (the whole config's steps only)."""
    with _session(cfg, "plan", options=opts, steps=steps, lock=False, **session) as s:
        p = s.engine.plan_destroy() if destroy else s.engine.plan(refresh_only=refresh_only)
        state_digest = records_digest(s.checkpoint.records())
    problems: list[str] = []
    if flow_check and not destroy and not refresh_only:
        problems = _planned_flow_problems(cfg, p.desired)
    return PlanResult([plan_item(e) for e in p.entries], problems, state_digest)


def plan_item(entry: Any) -> PlanItem:
    """The library's view of one engine plan entry (desired properties redacted)."""
    from hubspoke_deploy.orchestrator.checkpoint import digest
    from hubspoke_deploy.orchestrator.redact import redact

    desired = entry.desired if _value(entry.action) not in ("delete", "keep") else None
    return PlanItem(entry.key, entry.resource_id, _value(entry.action), entry.as_dict()["changes"],
                    entry.note, entry.resource_type, None if desired is None else redact(desired), entry.orphan,
                    None if entry.observed is None else digest(entry.observed))


def records_digest(records: Mapping[str, Any]) -> str:
    """Digest of the state's step records (what a saved plan was made from)."""
    from hubspoke_deploy.orchestrator.checkpoint import digest

    return digest(dict(records))


def _planned_flow_problems(cfg: DeploymentConfig, desired: list[dict[str, Any]]) -> list[str]:
    """What the planned network would not carry, in words (empty when every egress flow is allowed)."""
    from hubspoke_deploy.verification import check_desired

    try:
        report = check_desired(cfg, desired)
    except Exception as err:  # the plan itself stands; say the check could not run
        return [f"the planned network could not be evaluated: {type(err).__name__}: {err}"]
    out = [f"{r.name} -> {r.destination}:{r.port}/{r.protocol}: {r.reason}" + (f" (fix: {r.fix})" if r.fix else "")
           for r in report.rows if not r.ok]
    out += [f"{f['kind']}: {f['subject']}: {f['detail']}" for f in report.findings if f.get("problem")]
    return out


def up(
    config: ConfigSource,
    *,
    credential: Any = None,
    parallelism: int | None = None,
    trust_state: bool = False,
    allow_replace: bool = False,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
    steps: Sequence[Step] | None = None,
    raise_on_failure: bool = True,
) -> RunResult:
    """Create or update the deployment. Resumes from the checkpoint if a run stopped halfway.

    Holds the state lock for the run (:class:`~hubspoke_deploy.errors.StateLocked` if another
    run has it). ``parallelism`` bounds the steps run at once (default 32); ``trust_state``
    skips reading resources the checkpoint records as done with unchanged inputs;
    ``allow_replace`` allows deleting and re-creating a resource whose immutable property
    changed; setting ``cancel`` stops scheduling (in-flight operations stay checkpointed).

    Raises :class:`~hubspoke_deploy.errors.DeploymentFailed` (its ``result`` attribute is the
    :class:`RunResult`, ``failures`` the :class:`~hubspoke_deploy.errors.StepFailed` errors) after
    recording the checkpoint when a step failed, and :class:`~hubspoke_deploy.errors.Interrupted`
    when ``cancel`` was set; both are resumed by calling ``up`` again. With
    ``raise_on_failure=False`` the result is returned instead.

    >>> result = up(cfg, parallelism=16, on_event=print)  # doctest: +SKIP
    >>> result.status, result.outputs["firewall_private_ip"]  # doctest: +SKIP
    (<RunStatus.SUCCEEDED: 'succeeded'>, '10.0.0.4')
    """
    cfg = load_config(config)
    opts = _options(parallelism, trust_state, allow_replace)
    with _session(cfg, "up", credential=credential, options=opts, on_event=on_event, cancel=cancel,
                  steps=_steps(steps)) as s:
        run = s.engine.up()
        outs = _collect_outputs(cfg, s.checkpoint.snapshot())
    result = _result("up", run, outs)
    _raise_for(result, raise_on_failure)
    return result


def down(
    config: ConfigSource,
    *,
    credential: Any = None,
    parallelism: int | None = None,
    on_event: EventCallback | None = None,
    cancel: threading.Event | None = None,
    steps: Sequence[Step] | None = None,
    raise_on_failure: bool = True,
) -> RunResult:
    """Delete what this deployment owns (created by it and carrying its tags), nothing else.

    Steps whose resource is not owned end as ``kept``. Same locking, events, cancellation and
    exceptions as :func:`up`; :func:`plan` with ``destroy=True`` previews it.

    >>> down(cfg).summary()                               # doctest: +SKIP
    {'deleted': 53, 'kept': 2}
    """
    cfg = load_config(config)
    opts = _options(parallelism, False, False)
    with _session(cfg, "down", credential=credential, options=opts, on_event=on_event, cancel=cancel,
                  steps=_steps(steps)) as s:
        run = s.engine.down()
    result = _result("down", run, {})
    _raise_for(result, raise_on_failure)
    return result


def _steps(steps: Sequence[Step] | None) -> list[Step] | None:
    return None if steps is None else list(steps)


def _raise_for(result: RunResult, raise_on_failure: bool) -> None:
    if not raise_on_failure:
        return
    if result.status == RunStatus.INTERRUPTED:
        err_i = Interrupted(f"{result.command} interrupted; run it again to resume")
        err_i.result = result
        raise err_i
    if result.status == RunStatus.FAILED:
        failed = [s.error for s in result.failures if s.error is not None]
        blocked = sum(1 for s in result.steps.values() if s.status == StepStatus.NOT_STARTED)
        lines = [str(e) for e in failed] or ["one or more steps did not complete"]
        err = DeploymentFailed(
            f"{result.command} failed: {len(failed)} step(s) failed, {blocked} not started. "
            "Fix the cause and run the command again to resume.\n  " + "\n  ".join(lines),
            failed,
        )
        err.result = result
        raise err


def status(config: ConfigSource) -> dict[str, Any]:
    """The checkpoint as recorded (no Azure Resource Manager call).

    Returns ``{"deployment", "state", "schema_version", "updated_at", "last_run", "teardown",
    "steps"}``; ``steps`` maps each step key to ``{"status", "resource_id", "created",
    "attempts", "last_error", "in_flight", "updated_at"}``.

    >>> status(cfg)["steps"]["firewall"]["status"]        # doctest: +SKIP
    'succeeded'
    """
    cfg = load_config(config)
    store = _open_store(cfg)
    doc = store.load() or {}
    store_desc = store.describe()
    steps = doc.get("steps", {})
    last_run = (doc.get("runs") or [None])[-1]
    teardown = doc.get("teardown")
    # The teardown record stays in the document; it describes the deployment only while the
    # teardown is the last run. After it (an `up`, finished or not), steps the teardown deleted
    # and no later run reached are pending again.
    after_teardown = isinstance(teardown, dict) and not (last_run and last_run.get("id") == teardown.get("run_id"))
    if after_teardown:
        teardown = None

    def shown(rec: Mapping[str, Any]) -> Any:
        if after_teardown and rec.get("status") == "deleted":
            return "pending"
        return rec.get("status")

    by_region: dict[str, Any] = {}
    if cfg.regions:  # issue 18: step keys grouped by region (api/regional.py)
        from hubspoke_deploy.regional import group_by_region

        by_region = {"regions": group_by_region(cfg, sorted(steps))}
    return {
        **by_region,
        "deployment": cfg.name,
        "state": store_desc,
        "schema_version": doc.get("schema_version"),
        "updated_at": doc.get("updated_at"),
        "last_run": last_run,
        "teardown": teardown,
        "steps": {
            k: {
                "status": shown(v),
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


def _open_store(cfg: DeploymentConfig) -> Any:
    from hubspoke_deploy.orchestrator.stores import open_store

    return open_store(cfg.state, cfg.name, None if cfg.state.backend == "file" else _cred(cfg), os.environ)


def _cred(config: DeploymentConfig) -> Any:
    if config.state.connection_string_env:
        return None
    from hubspoke_deploy.orchestrator.runner import make_credential

    return make_credential(config, config.resource_manager_url or "https://127.0.0.1", os.environ)


def outputs(config: ConfigSource) -> dict[str, Any]:
    """What an operator needs next (ids, FQDNs, IPs, commands), from the checkpoint. Never a credential.

    Keys include ``aks_cluster_id``, ``aks_private_fqdn``, ``aks_command_invoke``,
    ``firewall_private_ip``, ``firewall_public_ips``, ``acr_login_server``, ``keyvault_uri``,
    ``log_analytics_workspace_id`` and ``jumpbox_ssh``, once the steps producing them succeeded.

    >>> outputs(cfg)["firewall_private_ip"]               # doctest: +SKIP
    '10.0.0.4'
    """
    cfg = load_config(config)
    return _collect_outputs(cfg, _open_store(cfg).load() or {})


def _collect_outputs(config: DeploymentConfig, doc: Mapping[str, Any]) -> dict[str, Any]:
    from hubspoke_deploy.orchestrator.redact import redact
    from hubspoke_deploy.steps.architecture import deployment_outputs

    step_outputs = {
        k: v.get("outputs", {})
        for k, v in (doc.get("steps") or {}).items()
        if v.get("status") == "succeeded"
    }
    result: dict[str, Any] = redact(deployment_outputs(config, step_outputs))
    return result
