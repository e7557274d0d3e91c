"""The step contract.

A step owns one Azure resource (or one child resource). It names the steps it
``requires``; ``desired(config, upstream)`` is pure and returns the REST JSON
body the step wants; ``read`` returns the resource as REST JSON or ``None``
only when Azure says it does not exist; ``diff`` compares the fields the spec
carries and the fields the step ``owns`` (absent in the spec = absent in Azure),
normalised the Azure way; ``apply`` writes only when the diff is
not empty; ``outputs`` exposes what downstream steps need; ``delete`` tears
the resource down.

``ArmStep`` implements read/apply/delete generically for the management SDKs,
whose operation groups all follow ``get`` / ``begin_create_or_update`` /
``begin_delete`` with positional identity arguments.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from hubspoke_deploy.orchestrator.clients import to_json
from hubspoke_deploy.orchestrator.diff import Change, diff, with_owned

if TYPE_CHECKING:
    from hubspoke_deploy.orchestrator.lro import LroRunner

Spec = dict[str, Any]
Outputs = dict[str, Any]


class OwnedIds:
    """Lower-cased ids of the resources this deployment created (from the checkpoint)."""

    def __init__(self, ids: set[str]) -> None:
        self.ids = {i.lower().rstrip("/") for i in ids}

    def owns(self, resource_id: str) -> bool:
        """True only for an id this deployment recorded as created: a subnet someone else
        added to our VNet, or anything put into our resource group, is not ours."""
        return resource_id.lower().rstrip("/") in self.ids

    def owns_parent_of(self, resource_id: str) -> bool:
        """True when the resource's parent is ours (a child created inside the parent's own
        PUT, like an agent pool in the cluster's)."""
        parts = resource_id.rstrip("/").split("/")
        return len(parts) > 10 and self.owns("/".join(parts[:-2]))


# Typical real-world durations (seconds) of a create, used for the critical-path
# priority of the scheduler and for per-type timeouts. Measured values from
# Azure deployments (firewall and AKS ~10 min, Bastion ~7 min, VM ~2 min, ...).
TYPICAL_SECONDS: dict[str, float] = {
    "microsoft.network/azurefirewalls": 600,
    "microsoft.containerservice/managedclusters": 600,
    "microsoft.containerservice/managedclusters/agentpools": 240,
    "microsoft.network/bastionhosts": 420,
    "microsoft.network/applicationgateways": 450,
    # Application Gateway for Containers: the association provisions the proxies in the subnet
    "microsoft.servicenetworking/trafficcontrollers": 60,
    "microsoft.servicenetworking/trafficcontrollers/associations": 300,
    "microsoft.servicenetworking/trafficcontrollers/frontends": 60,
    "microsoft.servicenetworking/trafficcontrollers/securitypolicies": 30,
    "microsoft.compute/virtualmachines": 120,
    "microsoft.network/privateendpoints": 60,
    "microsoft.network/privatednszones": 30,
    "microsoft.network/privatednszones/virtualnetworklinks": 30,
    "microsoft.containerregistry/registries": 30,
    "microsoft.storage/storageaccounts": 25,
    "microsoft.keyvault/vaults": 20,
    "microsoft.operationalinsights/workspaces": 20,
    "microsoft.network/firewallpolicies": 10,
    "microsoft.network/firewallpolicies/rulecollectiongroups": 15,
    "microsoft.network/natgateways": 10,
}
DEFAULT_TYPICAL_SECONDS = 5.0


def typical_seconds(resource_type: str) -> float:
    return TYPICAL_SECONDS.get(resource_type.lower(), DEFAULT_TYPICAL_SECONDS)


@dataclass
class StepContext:
    """What a step gets at run time: SDK clients and the LRO helper bound to the step."""

    clients: Any  # orchestrator.clients.Clients (Any: steps only call .get(name))
    lro: LroRunner
    subscription_id: str
    extras: dict[str, Any] = field(default_factory=dict)


class Step(abc.ABC):
    """Base class of every step."""

    key: str
    requires: tuple[str, ...] = ()
    resource_type: ClassVar[str] = ""
    # Paths (dotted, no list keys) Azure cannot update in place: a change is a replacement.
    immutable: ClassVar[tuple[str, ...]] = ()
    # Paths of scalar lists whose order Azure does not keep.
    unordered: ClassVar[tuple[str, ...]] = ()
    # Fields the step owns even when its desired body leaves them out (the config switched
    # the feature off), with the value that means "absent" in Azure (None: no value). Azure
    # showing anything else is drift, and the next write (a PUT without the field) removes it.
    owns: ClassVar[Mapping[str, Any]] = {}
    # Deletes are refused while these are not gone (extra ordering beyond reverse DAG), by key.
    delete_after: tuple[str, ...] = ()
    # Whether the resource carries tags (ownership check on teardown). None: top-level types do.
    taggable: ClassVar[bool | None] = None

    def __init__(self, key: str, requires: tuple[str, ...] = ()) -> None:
        self.key = key
        self.requires = tuple(requires)

    # -- identity -----------------------------------------------------------------
    @abc.abstractmethod
    def resource_id(self) -> str:
        """The ARM id of the resource this step owns (deterministic from config)."""

    def lock_keys(self) -> tuple[str, ...]:
        """Parent resources whose writes Azure serialises (lower-cased ids).

        Writes of every step sharing a key are serialised for the whole run."""
        return ()

    def typical_seconds(self) -> float:
        return typical_seconds(self.resource_type)

    def display_name(self) -> str:
        return self.resource_id().rsplit("/", 1)[-1]

    # -- behaviour ----------------------------------------------------------------
    @abc.abstractmethod
    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        """Pure: the REST JSON body this step wants, from config and upstream outputs."""

    @abc.abstractmethod
    def read(self, ctx: StepContext) -> Spec | None:
        """The resource as REST JSON; None only when Azure answers not-found."""

    def diff(self, spec: Spec, observed: Spec) -> list[Change]:
        return diff(with_owned(spec, self.owns), observed, immutable=self.immutable, unordered=self.unordered)

    @abc.abstractmethod
    def apply(self, ctx: StepContext, spec: Spec, observed: Spec | None) -> Spec:
        """Create or update; returns the resource as REST JSON after the write."""

    def outputs(self, observed: Spec) -> Outputs:
        out: Outputs = {"id": observed.get("id") or self.resource_id()}
        if "name" in observed:
            out["name"] = observed["name"]
        return out

    @abc.abstractmethod
    def delete(self, ctx: StepContext) -> None:
        """Delete the resource; a resource already gone is not an error."""

    # -- teardown hooks -------------------------------------------------------------
    def delete_blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
        """Ids of resources this deployment does not own that still use this resource.

        A non-empty answer keeps the resource (deleting it would fail in Azure with an
        in-use error, or break someone else's resource)."""
        return []

    def prepare_delete(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> None:  # noqa: B027
        """Undo associations that would make the delete fail (e.g. a route table's subnets)."""

    def after_delete(self, ctx: StepContext) -> str | None:
        """A note for the operator once the resource is deleted (e.g. soft-delete)."""
        return None

    def finalize_observed(self, ctx: StepContext, observed: Spec) -> Spec:
        """Hook to enrich what was read (e.g. read a related resource). Default: as is."""
        return observed

    # -- bulk reads (plan) ------------------------------------------------------------
    def list_group(self) -> tuple[str, ...] | None:
        """Steps sharing this key have their resources returned by one list call (the plan's
        read of 100 peerings of one VNet is one request, not 100). None: read alone."""
        return None

    def read_listed(self, ctx: StepContext) -> dict[str, Spec]:
        """Every resource of this step's list group, by lower-cased id (empty when the parent
        does not exist). Only called when ``list_group`` is not None."""
        raise NotImplementedError

    def read_from_list(self, ctx: StepContext, listed: Mapping[str, Spec]) -> Spec | None:
        """This step's resource out of ``read_listed``'s answer: what ``read`` would return."""
        observed = listed.get(self.resource_id().lower())
        return None if observed is None else self.finalize_observed(ctx, dict(observed))


class ArmStep(Step):
    """A step backed by one SDK operation group with get / create / delete."""

    client: ClassVar[str] = ""
    operations: ClassVar[str] = ""
    get_method: ClassVar[str] = "get"
    put_method: ClassVar[str] = "begin_create_or_update"
    delete_method: ClassVar[str] = "begin_delete"
    put_is_lro: ClassVar[bool] = True
    delete_is_lro: ClassVar[bool] = True
    # The operation listing the resource and its siblings, called with ``args()`` minus the
    # last (the resource's own name); "" when the type has none (each read is a GET).
    list_method: ClassVar[str] = ""

    @abc.abstractmethod
    def args(self) -> tuple[str, ...]:
        """Positional identity arguments of the SDK calls (e.g. resource group, name)."""

    def ops(self, ctx: StepContext) -> Any:
        return getattr(ctx.clients.get(self.client), self.operations)

    def read(self, ctx: StepContext) -> Spec | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            model = getattr(self.ops(ctx), self.get_method)(*self.args())
        except ResourceNotFoundError:
            return None
        observed = to_json(model)
        return self.finalize_observed(ctx, observed) if isinstance(observed, dict) else None

    def list_group(self) -> tuple[str, ...] | None:
        if not self.list_method:
            return None
        return (self.client, self.operations, self.list_method, *(a.lower() for a in self.args()[:-1]))

    def read_listed(self, ctx: StepContext) -> dict[str, Spec]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            models = list(getattr(self.ops(ctx), self.list_method)(*self.args()[:-1]))
        except ResourceNotFoundError:
            return {}  # the parent (resource group, VNet, zone) does not exist: nor do its children
        listed: dict[str, Spec] = {}
        for model in models:
            item = to_json(model)
            if isinstance(item, dict) and item.get("id"):
                listed[str(item["id"]).lower()] = item
        return listed

    def apply(self, ctx: StepContext, spec: Spec, observed: Spec | None) -> Spec:
        method: Callable[..., Any] = getattr(self.ops(ctx), self.put_method)
        body = self.body(spec, observed)
        if self.put_is_lro:
            result = ctx.lro.run(
                lambda **kw: method(*self.args(), body, **kw),
                kind="put",
                resource_type=self.resource_type,
                reread=lambda: self.read(ctx),
            )
        else:
            result = method(*self.args(), body)
        out = to_json(result)
        if not isinstance(out, dict) or not out:
            fresh = self.read(ctx)
            if fresh is None:
                raise RuntimeError(f"{self.key}: resource not found right after a successful write")
            return fresh
        return self.finalize_observed(ctx, out)

    def body(self, spec: Spec, observed: Spec | None) -> Spec:
        """The PUT body. Default: the spec itself (the step owns the whole resource)."""
        return spec

    def delete(self, ctx: StepContext) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        method: Callable[..., Any] = getattr(self.ops(ctx), self.delete_method)
        try:
            if self.delete_is_lro:
                ctx.lro.run(
                    lambda **kw: method(*self.args(), **kw),
                    kind="delete",
                    resource_type=self.resource_type,
                    reread=lambda: self.read(ctx),
                )
            else:
                method(*self.args())
        except ResourceNotFoundError:
            return
