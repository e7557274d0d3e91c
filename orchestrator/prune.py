"""Orphans: resources this deployment recorded that the current config no longer produces.

A checkpoint record is an orphan when its step key is no longer in the graph, or when the
key now names another resource (a renamed cluster, a public IP whose name changed): the
old resource is left behind by the new config. ``plan`` lists orphans as deletes (or keeps,
when the deployment did not create them); ``up`` deletes them after every write of the run
has succeeded, in reverse dependency order; ``down`` deletes them with everything else.

An orphan is deleted without its step class (the config that built it is gone): through the
generic ``resources`` operations of azure-mgmt-resource (``get_by_id`` / ``begin_delete_by_id``,
which work for any ARM id, child and extension resources included) with the api-version the
project's pinned SDK uses for that type (:data:`API_VERSIONS`). What depends on the type
(whether something foreign still uses it, associations to undo first) comes from the steps
layer as an :class:`OrphanHandler` per resource type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from hubspoke_deploy.orchestrator.diff import UNKNOWN
from hubspoke_deploy.orchestrator.step import Outputs, OwnedIds, Spec, Step, StepContext

# api-version per resource type (lower-cased): the version the SDK package pinned in
# pyproject.toml sends for that type (each package's ``_configuration.py`` / operation
# defaults; azure-mgmt-network 33.1.0 -> 2026-03-01, azure-mgmt-containerservice 41.8.0 ->
# 2026-08-01, ...). ``tests/engine/test_prune.py`` checks every entry a deployment uses
# against the api-version the steps' own requests carried, from the simulator's request log.
_NETWORK = "2026-03-01"
_CDN = "2026-10-01"
API_VERSIONS: dict[str, str] = {
    "microsoft.resources/resourcegroups": "2025-04-01",
    "microsoft.operationalinsights/workspaces": "2025-07-01",
    "microsoft.network/virtualnetworks": _NETWORK,
    "microsoft.network/virtualnetworks/subnets": _NETWORK,
    "microsoft.network/virtualnetworks/virtualnetworkpeerings": _NETWORK,
    "microsoft.network/publicipaddresses": _NETWORK,
    "microsoft.network/publicipprefixes": _NETWORK,
    "microsoft.network/natgateways": _NETWORK,
    "microsoft.network/firewallpolicies": _NETWORK,
    "microsoft.network/firewallpolicies/rulecollectiongroups": _NETWORK,
    "microsoft.network/azurefirewalls": _NETWORK,
    "microsoft.network/routetables": _NETWORK,
    "microsoft.network/routetables/routes": _NETWORK,
    "microsoft.network/networksecuritygroups": _NETWORK,
    "microsoft.network/networkinterfaces": _NETWORK,
    "microsoft.network/bastionhosts": _NETWORK,
    "microsoft.network/privateendpoints": _NETWORK,
    "microsoft.network/privateendpoints/privatednszonegroups": _NETWORK,
    "microsoft.network/privatednszones": "2024-06-01",
    "microsoft.network/privatednszones/virtualnetworklinks": "2024-06-01",
    "microsoft.managedidentity/userassignedidentities": "2024-11-30",
    "microsoft.authorization/roleassignments": "2022-04-01",
    "microsoft.storage/storageaccounts": "2026-09-01",
    "microsoft.containerregistry/registries": "2025-11-01",
    "microsoft.containerregistry/registries/replications": "2025-11-01",
    "microsoft.keyvault/vaults": "2026-05-15",
    "microsoft.compute/virtualmachines": "2026-04-01",
    "microsoft.containerservice/managedclusters": "2026-08-01",
    "microsoft.containerservice/managedclusters/agentpools": "2026-08-01",
    "microsoft.insights/diagnosticsettings": "2021-05-01-preview",
    # azure-mgmt-monitor 6.0.2: action_groups 2023-01-01, metric_alerts 2018-03-01,
    # activity_log_alerts 2020-10-01 (MonitorManagementClient.LATEST_PROFILE)
    "microsoft.insights/actiongroups": "2023-01-01",
    "microsoft.insights/metricalerts": "2018-03-01",
    "microsoft.insights/activitylogalerts": "2020-10-01",
    # azure-mgmt-resource-policy 1.0.0 (PolicyClient default)
    "microsoft.authorization/policyassignments": "2026-06-01",
    "microsoft.network/ddosprotectionplans": _NETWORK,
    # [global_entry]: azure-mgmt-cdn 14.1.0 (CdnManagementClient default 2026-10-01), azure-mgmt-frontdoor
    # 2.0.0 (FrontDoorManagementClient default 2025-10-01), azure-mgmt-trafficmanager 2.0.0 (2026-09-01)
    "microsoft.cdn/profiles": _CDN,
    "microsoft.cdn/profiles/afdendpoints": _CDN,
    "microsoft.cdn/profiles/afdendpoints/routes": _CDN,
    "microsoft.cdn/profiles/origingroups": _CDN,
    "microsoft.cdn/profiles/origingroups/origins": _CDN,
    "microsoft.cdn/profiles/securitypolicies": _CDN,
    "microsoft.network/frontdoorwebapplicationfirewallpolicies": "2025-10-01",
    "microsoft.network/trafficmanagerprofiles": "2026-09-01",
    "microsoft.network/applicationgatewaywebapplicationfirewallpolicies": _NETWORK,
    "microsoft.network/applicationgateways": _NETWORK,
    # azure-mgmt-servicenetworking 2.1.0 -> 2026-03-01
    "microsoft.servicenetworking/trafficcontrollers": "2026-03-01",
    "microsoft.servicenetworking/trafficcontrollers/frontends": "2026-03-01",
    "microsoft.servicenetworking/trafficcontrollers/associations": "2026-03-01",
    "microsoft.servicenetworking/trafficcontrollers/securitypolicies": "2026-03-01",
    "microsoft.managedidentity/userassignedidentities/federatedidentitycredentials": "2024-11-30",
}

# Teardown rank of a type when an orphan has no recorded ``requires`` (a record written by
# schema version 1): lower ranks are deleted first. Users before what they use: pools and
# links before clusters and zones, NICs/firewalls/Bastion before subnets and public IPs,
# subnets before VNets, route tables, NSGs and NAT gateways, NAT gateways before their public
# IPs, public IPs before their prefix, everything before the group.
DELETE_RANK: dict[str, int] = {
    "microsoft.insights/diagnosticsettings": 0,
    "microsoft.insights/metricalerts": 0,
    "microsoft.insights/activitylogalerts": 0,
    "microsoft.authorization/policyassignments": 0,
    "microsoft.insights/actiongroups": 1,
    "microsoft.authorization/roleassignments": 0,
    "microsoft.containerservice/managedclusters/agentpools": 0,
    "microsoft.network/privateendpoints/privatednszonegroups": 0,
    "microsoft.network/privatednszones/virtualnetworklinks": 0,
    "microsoft.network/firewallpolicies/rulecollectiongroups": 0,
    "microsoft.network/virtualnetworks/virtualnetworkpeerings": 0,
    # Front Door: the security policy and the route before what they reference (WAF policy, endpoint,
    # origin group); origins before their group; the profile after its children; the WAF policy last
    "microsoft.cdn/profiles/securitypolicies": 0,
    "microsoft.cdn/profiles/afdendpoints/routes": 0,
    "microsoft.cdn/profiles/origingroups/origins": 1,
    "microsoft.cdn/profiles/afdendpoints": 1,
    "microsoft.cdn/profiles/origingroups": 2,
    "microsoft.cdn/profiles": 3,
    "microsoft.network/frontdoorwebapplicationfirewallpolicies": 4,
    "microsoft.network/trafficmanagerprofiles": 1,
    "microsoft.containerregistry/registries/replications": 0,
    "microsoft.servicenetworking/trafficcontrollers/frontends": 0,
    "microsoft.servicenetworking/trafficcontrollers/associations": 0,
    "microsoft.servicenetworking/trafficcontrollers/securitypolicies": 0,
    "microsoft.managedidentity/userassignedidentities/federatedidentitycredentials": 0,
    "microsoft.containerservice/managedclusters": 1,
    "microsoft.servicenetworking/trafficcontrollers": 1,
    "microsoft.network/applicationgateways": 1,
    "microsoft.compute/virtualmachines": 1,
    "microsoft.network/bastionhosts": 1,
    "microsoft.network/azurefirewalls": 1,
    "microsoft.network/privateendpoints": 1,
    "microsoft.network/networkinterfaces": 2,
    "microsoft.network/virtualnetworks/subnets": 3,
    "microsoft.network/natgateways": 4,
    "microsoft.network/routetables": 4,
    "microsoft.network/networksecuritygroups": 4,
    "microsoft.network/firewallpolicies": 4,
    "microsoft.network/applicationgatewaywebapplicationfirewallpolicies": 4,
    "microsoft.network/publicipaddresses": 5,
    "microsoft.network/virtualnetworks": 5,
    "microsoft.network/ddosprotectionplans": 6,
    "microsoft.network/publicipprefixes": 6,
    "microsoft.resources/resourcegroups": 9,
}
DEFAULT_RANK = 4

# Child and extension types carry no tags in Azure (ownership is the checkpoint's record alone).
UNTAGGED_TYPES = frozenset({
    "microsoft.insights/diagnosticsettings",
    "microsoft.authorization/roleassignments",
    "microsoft.authorization/policyassignments",
    "microsoft.managedidentity/userassignedidentities/federatedidentitycredentials",
})


def resource_type_of(resource_id: str) -> str:
    """``Namespace/type[/childType...]`` of an ARM id (the last provider segment for an
    extension resource); ``Microsoft.Resources/resourceGroups`` for a group id."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return "Microsoft.Resources/resourceGroups" if len(parts) == 4 else ""
    start = len(lowered) - 1 - lowered[::-1].index("providers")
    namespace, rest = parts[start + 1], parts[start + 2:]
    return "/".join([namespace, *rest[0::2]])


def parent_id(resource_id: str) -> str | None:
    """The parent of a child resource (``.../vnet/subnets/a`` -> ``.../vnet``), else None."""
    rtype = resource_type_of(resource_id)
    if rtype.count("/") < 2:
        return None
    return resource_id.rstrip("/").rsplit("/", 2)[0]


def api_version(step: Step) -> str:
    """The api-version to read or delete the step's resource by id."""
    version = API_VERSIONS.get(step.resource_type.lower())
    if version is None:
        raise RuntimeError(
            f"{step.key}: no api-version known for {step.resource_type}; add it to "
            "hubspoke_deploy.orchestrator.prune.API_VERSIONS"
        )
    return version


def read_by_id(ctx: StepContext, step: Step) -> Spec | None:
    """The step's resource as ARM's REST JSON, through ``resources.get_by_id`` (one SDK for every
    type: orphans, whose step class is gone, and ``up``'s up-front read, which then waits for no
    SDK package to import). None only on not-found."""
    from azure.core.exceptions import ResourceNotFoundError
    from hubspoke_deploy.orchestrator.clients import to_json

    try:
        model = ctx.clients.get("resource").resources.get_by_id(step.resource_id(), api_version=api_version(step))
    except ResourceNotFoundError:
        return None
    value = to_json(model)
    return value if isinstance(value, dict) else None


def orphan_key(key: str, resource_id: str) -> str:
    """Checkpoint key of a resource left behind by a key that now names another resource."""
    return f"{key}~{hashlib.sha256(resource_id.lower().encode()).hexdigest()[:8]}"


def original_key(key: str) -> str:
    return key.split("~", 1)[0]


class OrphanHandler(Protocol):
    """What the steps layer knows about deleting one resource type safely."""

    def blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]: ...

    def prepare(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> None: ...

    def note(self, observed: Spec) -> str | None: ...


OrphanHandlers = Mapping[str, OrphanHandler]


@dataclass
class OrphanRecord:
    """One orphan, as the checkpoint recorded it."""

    key: str  # its checkpoint key (the step key, or ``key~hash`` when the key was reused)
    resource_id: str
    resource_type: str
    requires: list[str] | None  # None: not recorded (schema version 1)
    lock_keys: list[str]
    taggable: bool
    created: bool
    reason: str
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def original_key(self) -> str:
        return original_key(self.key)


def find_orphans(records: Mapping[str, Mapping[str, Any]], current: Mapping[str, Step]) -> dict[str, OrphanRecord]:
    """Every recorded resource the current steps do not produce, keyed by checkpoint key
    (``key~hash`` for the old resource of a key that now names another one: the key it will
    have once ``up`` sets it aside).

    Records that never got a resource (pending) are not orphans. A deleted one of a key the
    config still has is that step's (``down`` keeps it as a record); one of a key the config
    dropped is, until the record itself is gone (a run killed between the delete and dropping
    the record leaves it behind: the next run's read finds nothing and drops it)."""
    result: dict[str, OrphanRecord] = {}
    for record_key, rec in records.items():
        key = record_key
        rid = str(rec.get("resource_id") or "")
        step = current.get(key)
        if not rid or rec.get("status") in (None, "pending") or (rec.get("status") == "deleted" and step):
            continue
        if step is not None and step.resource_id().lower().rstrip("/") == rid.lower().rstrip("/"):
            continue
        if step is None:
            reason = "no longer in the config"
        else:
            reason = f"replaced: {key} now names {step.resource_id()}"
            key = orphan_key(key, rid)
        if "~" in record_key:
            reason = "left behind: the config now names another resource for " + original_key(key)
        rtype = str(rec.get("resource_type") or resource_type_of(rid))
        requires = rec.get("requires")
        recorded_locks = rec.get("lock_keys")
        parent = parent_id(rid)
        locks = [str(k) for k in recorded_locks] if isinstance(recorded_locks, list) else (
            [parent.lower()] if parent else []
        )
        taggable = rec.get("taggable")
        if not isinstance(taggable, bool):
            taggable = rtype.count("/") == 1 and rtype.lower() not in UNTAGGED_TYPES
        result[key] = OrphanRecord(
            key=key,
            resource_id=rid,
            resource_type=rtype,
            requires=[str(r) for r in requires] if isinstance(requires, list) else None,
            lock_keys=locks,
            taggable=taggable,
            created=bool(rec.get("created")),
            reason=reason,
            record=dict(rec),
        )
    return result


def orphan_requires(
    orphans: Mapping[str, OrphanRecord], current: Mapping[str, Step] | None = None
) -> dict[str, tuple[str, ...]]:
    """The ``requires`` of each orphan, translated to keys of this graph.

    A recorded requirement names a step key; it maps to every orphan that key left behind
    (and to the current step of that key when ``current`` is given, for ``down``'s combined
    graph). Orphans without a recorded ``requires`` are ordered by id containment (a child
    before its parent) and by :data:`DELETE_RANK`."""
    by_original: dict[str, list[str]] = {}
    for key, orphan in orphans.items():
        by_original.setdefault(orphan.original_key, []).append(key)
    result: dict[str, tuple[str, ...]] = {}
    for key, orphan in orphans.items():
        deps: list[str] = []
        if orphan.requires is not None:
            for req in orphan.requires:
                deps += [k for k in by_original.get(req, []) if k != key]
                if current is not None and req in current:
                    deps.append(req)
        else:
            rid = orphan.resource_id.lower().rstrip("/")
            rank = DELETE_RANK.get(orphan.resource_type.lower(), DEFAULT_RANK)
            for other_key, other in orphans.items():
                if other_key == key:
                    continue
                other_id = other.resource_id.lower().rstrip("/")
                other_rank = DELETE_RANK.get(other.resource_type.lower(), DEFAULT_RANK)
                # "requires" = deleted after: a child requires its parent, and a lower rank
                # (deleted first) requires a higher one.
                if rid.startswith(other_id + "/") or (other.requires is None and other_rank > rank
                                                      and not other_id.startswith(rid + "/")):
                    deps.append(other_key)
        result[key] = tuple(dict.fromkeys(deps))
    return result


class OrphanStep(Step):
    """Reads and deletes one orphan by its id; never creates or updates anything."""

    client: ClassVar[str] = "resource"

    def __init__(
        self,
        orphan: OrphanRecord,
        requires: tuple[str, ...],
        handler: OrphanHandler | None = None,
    ) -> None:
        super().__init__(orphan.key, requires)
        self.orphan = orphan
        self.handler = handler
        self.taggable = orphan.taggable  # type: ignore[misc]
        self.resource_type = orphan.resource_type  # type: ignore[misc]

    def resource_id(self) -> str:
        return self.orphan.resource_id

    def lock_keys(self) -> tuple[str, ...]:
        return tuple(self.orphan.lock_keys)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return {"(orphan)": UNKNOWN}

    def read(self, ctx: StepContext) -> Spec | None:
        return read_by_id(ctx, self)

    def apply(self, ctx: StepContext, spec: Spec, observed: Spec | None) -> Spec:
        raise RuntimeError(f"{self.key}: an orphan is only ever deleted")

    def delete(self, ctx: StepContext) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        resources = ctx.clients.get("resource").resources
        version = api_version(self)
        begin: Callable[..., Any] = resources.begin_delete_by_id
        try:
            ctx.lro.run(
                lambda **kw: begin(self.resource_id(), api_version=version, **kw),
                kind="delete",
                resource_type=self.resource_type,
                reread=lambda: self.read(ctx),
            )
        except ResourceNotFoundError:
            return

    def delete_blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
        return self.handler.blockers(ctx, observed, owned) if self.handler is not None else []

    def prepare_delete(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> None:
        if self.handler is not None:
            self.handler.prepare(ctx, observed, owned)

    def after_delete(self, ctx: StepContext) -> str | None:
        return self.handler.note({"id": self.resource_id()}) if self.handler is not None else None


def orphan_steps(
    orphans: Mapping[str, OrphanRecord],
    handlers: OrphanHandlers,
    current: Mapping[str, Step] | None = None,
) -> dict[str, OrphanStep]:
    requires = orphan_requires(orphans, current)
    return {
        key: OrphanStep(orphan, requires[key], handlers.get(orphan.resource_type.lower()))
        for key, orphan in orphans.items()
    }
