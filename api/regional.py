"""One region of a multi-region deployment (issue 18): ``up --region NAME`` and ``down --region NAME``,
and the grouping of steps by region for ``plan``, ``status``, ``outputs`` and ``verify``.

* ``up --region NAME`` converges the region's own steps, the shared ones they need (resource group,
  registry, vault, zones, parent policy...) and nothing else; the other regions' resources are neither
  written nor, although they are not in the run, deleted (the engine's ``prune_scope``). Steps joining
  the region to another one (hub peerings, DNS links to the other region's VNets or zone) are left to
  a full ``up``.
* ``down --region NAME`` is ``up`` of the config without that region (``config.regions.without_region``):
  the region's resources are then orphans, deleted in dependency order, and what referred to them in
  the other regions (peerings to its hub, routes to its spokes, its prefixes in the parent's rules) is
  rewritten. The shared parts go only with the last region: ``down --region`` of the last region with
  anything recorded is ``down``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.config.regions import region_names, without_region
from hubspoke_deploy.orchestrator.step import Step

if TYPE_CHECKING:
    from hubspoke_deploy.verification import VerifyReport

__all__ = [
    "check_region",
    "group_by_region",
    "recorded_regions",
    "region_scope",
    "region_steps",
    "without_region",
]

SHARED = "shared"


def check_region(cfg: DeploymentConfig, name: str) -> str:
    """``name`` as a region of ``cfg`` (its short name or its location), else a usage error."""
    from hubspoke_deploy.errors import UsageError

    by_location = {cfg.location: cfg.location, **{r.location: r.key for r in cfg.regions}}
    if name in region_names(cfg):
        return name
    if name in by_location:
        return by_location[name]
    raise UsageError(f"--region {name!r} is not a region of this config: use one of {', '.join(region_names(cfg))}")


def _regions_of(cfg: DeploymentConfig, steps: list[Step]) -> dict[str, str | None]:
    from hubspoke_deploy.steps.multiregion import step_region

    if not cfg.regions:
        return {s.key: cfg.location for s in steps}
    return {s.key: step_region(s) for s in steps}


def region_steps(cfg: DeploymentConfig, name: str) -> list[Step]:
    """The region's own steps and the shared steps they need, less the steps joining it to another
    region."""
    from hubspoke_deploy.steps.architecture import build_steps

    steps = build_steps(cfg)
    regions = _regions_of(cfg, steps)
    by_key = {s.key: s for s in steps}

    def crosses(step: Step) -> bool:
        return any(regions.get(r) not in (None, name) for r in step.requires)

    chosen = {s.key for s in steps if regions[s.key] == name and not crosses(s)}
    todo = list(chosen)
    while todo:
        for dep in by_key[todo.pop()].requires:
            if dep not in chosen and regions.get(dep) is None:
                chosen.add(dep)
                todo.append(dep)
    from hubspoke_deploy.steps.multiregion import rebind

    return [rebind(s, cfg, chosen, name) for s in steps if s.key in chosen]


def region_scope(cfg: DeploymentConfig, name: str) -> Any:
    """``prune_scope`` of ``up --region``: only orphans of this region are deleted, and never what the
    config still has (the steps joining this region to another one, left out of the run)."""
    from hubspoke_deploy.config.regions import region_of_key
    from hubspoke_deploy.steps.architecture import build_steps

    in_config = {s.key for s in build_steps(cfg)}

    def in_scope(key: str) -> bool:
        if key in in_config:
            return False
        base = key.split("~", 1)[0]
        region = region_of_key(base)
        return region == name or (region is None and name == cfg.location)

    return in_scope


def recorded_regions(cfg: DeploymentConfig, records: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Regions with at least one resource recorded as existing in the checkpoint."""
    from hubspoke_deploy.config.regions import region_of_key
    from hubspoke_deploy.steps.architecture import build_steps

    regions = _regions_of(cfg, build_steps(cfg))
    found: set[str] = set()
    for key, rec in records.items():
        if rec.get("status") in (None, "pending", "deleted"):
            continue
        region = regions.get(key) if key in regions else region_of_key(key)
        if region is not None:
            found.add(region)
    return found


def group_by_region(cfg: DeploymentConfig, keys: list[str]) -> dict[str, list[str]]:
    """Step keys grouped by region (``shared`` for the parts every region uses), region #1 first."""
    from hubspoke_deploy.config.regions import region_of_key
    from hubspoke_deploy.steps.architecture import build_steps

    regions = _regions_of(cfg, build_steps(cfg))
    groups: dict[str, list[str]] = {n: [] for n in region_names(cfg)}
    groups[SHARED] = []
    for key in keys:
        base = key.split("~", 1)[0]
        region = regions[base] if base in regions else (region_of_key(base) or cfg.location)
        groups.setdefault(region or SHARED, []).append(key)
    return {k: v for k, v in groups.items() if v}


def up_region(cfg: DeploymentConfig, name: str, *, parallelism: int | None = None, trust_state: bool = False,
              allow_replace: bool = False, raise_on_failure: bool = True, **session: Any) -> Any:
    """``up --region NAME`` (see the module's docstring); same result and exceptions as ``library.up``."""
    from hubspoke_deploy import library

    name = check_region(cfg, name)
    opts = library._options(parallelism, trust_state, allow_replace)
    opts.prune_scope = region_scope(cfg, name)
    with library._session(cfg, "up", options=opts, steps=region_steps(cfg, name), **session) as s:
        run = s.engine.up()
        outs = library._collect_outputs(cfg, s.checkpoint.snapshot())
    result = library._result("up", run, outs)
    library._raise_for(result, raise_on_failure)
    return result


def plan_region(cfg: DeploymentConfig, name: str, *, parallelism: int | None = None, **session: Any) -> Any:
    """What ``up --region NAME`` would do: that region's steps and the shared ones they need, and the
    orphans of that region only (a ``library.PlanResult``)."""
    from hubspoke_deploy import library

    name = check_region(cfg, name)
    opts = library._options(parallelism, False, False)
    opts.prune_scope = region_scope(cfg, name)
    return library._plan(cfg, opts, region_steps(cfg, name), flow_check=False, **session)


def down_region(cfg: DeploymentConfig, name: str, *, parallelism: int | None = None, raise_on_failure: bool = True,
                **session: Any) -> Any:
    """``down --region NAME``: ``up`` of the config without the region, or ``down`` when no other region
    has anything recorded (the shared parts go with the last region)."""
    from hubspoke_deploy import library

    name = check_region(cfg, name)
    others = region_remaining(cfg, name)
    if not others:
        return library.down(cfg, parallelism=parallelism, raise_on_failure=raise_on_failure, **session)
    return library.up(without_region(cfg, name), parallelism=parallelism, raise_on_failure=raise_on_failure,
                      **session)


def region_remaining(cfg: DeploymentConfig, name: str) -> set[str]:
    """The regions other than ``name`` with resources recorded in the checkpoint."""
    from hubspoke_deploy import library

    doc = library._open_store(cfg).load() or {}
    return recorded_regions(cfg, doc.get("steps") or {}) - {name}


def evaluate_regions(cfg: DeploymentConfig, resources: list[dict[str, Any]],
                     only: set[str] | None = None) -> VerifyReport:
    """``verify`` of a multi-region deployment: each region's required flows against the live network
    (one network: the regions are peered), rows named ``<region>: <flow>``. A region without a
    firewall in ``resources`` (taken down with ``down --region``) is not evaluated."""
    from hubspoke_deploy.config.regions import region_views
    from hubspoke_deploy.steps.firewall import firewall_name
    from hubspoke_deploy.verification import evaluate_live

    firewalls = {str(r.get("name", "")).lower() for r in resources
                 if str(r.get("type", "")).lower() == "microsoft.network/azurefirewalls"}
    rows: list[Any] = []
    findings: list[dict[str, Any]] = []
    for name, view in region_views(cfg).items():
        if (only is not None and name not in only) or firewall_name(view).lower() not in firewalls:
            continue
        report = evaluate_live(view, resources)
        for row in report.rows:
            row.name = f"{name}: {row.name}"
            rows.append(row)
        findings += [f for f in report.findings if f not in findings]
    from hubspoke_deploy.verification import VerifyReport

    return VerifyReport(rows, findings)
