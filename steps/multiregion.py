"""Multi-region steps (issue 18): every region's steps, the shared parts once, and what joins them.

``build_steps`` of a config with ``[[regions]]`` is, on top of region #1's steps (unchanged keys):

* each region #2+'s steps, built by the single-region builders from the region's view of the config
  (``config.regions.region_view``) and wrapped in :class:`RegionalStep` — key ``<region>/<key>``, the
  view as config. A step whose resource is one region #1 already has (same ARM id: the resource
  group, registry, vault, storage, workspace, the service DNS zones) is shared: it is not repeated,
  the region's steps require region #1's;
* the parent firewall policy (``fw.parent``) holding the organisation-wide rules (the top-level
  ``[firewall]`` rules, with the node subnets of every region as default sources); every regional
  policy names it as ``basePolicy`` and keeps only its regional groups (AKS egress with the region's
  FQDNs, registries with the region's data endpoint, DNAT, the region's own rules);
* global VNet peerings between every pair of hubs, both ways;
* in every region: routes for the other regions' spoke prefixes to the local firewall (spokes), and
  on AzureFirewallSubnet to the remote firewall (a hub learns the remote hub's space from the global
  peering, not the remote spokes': https://learn.microsoft.com/azure/architecture/networking/architecture/hub-spoke#communication-through-an-nva);
* the registry's geo-replications to every region but its home (Premium, zone redundant), reached
  through each region's own private endpoint;
* links of every private DNS zone to every VNet of every region.

Nothing of one region requires a step of another region except the hub peerings and the DNS links of
one region's zone to another region's VNet: a failure in one region stops nothing of the other's
firewall-to-cluster chain. The other region's firewall address in the hub routes is the predicted one
(``predicted_firewall_ip``), not the other firewall's output, for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.config.regions import KEY_SEPARATOR, active_region_names, region_of_key, region_views
from hubspoke_deploy.orchestrator.diff import Change
from hubspoke_deploy.orchestrator.step import Outputs, OwnedIds, Spec, Step, StepContext
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.base import DeploymentStep, arm_id, ref
from hubspoke_deploy.steps.firewall import (
    RCG_USER,
    FirewallPolicyStep,
    RouteTableStep,
    RuleCollectionGroupStep,
    _user_collections,
    node_source_addresses,
    predicted_firewall_ip,
)
from hubspoke_deploy.steps.network import PeeringStep, SubnetStep

PARENT_POLICY = "fw.parent"
PARENT_RCG_ORG = "fw.parent.rcg.org-egress"
HUB_ROUTE_TABLE = "rt.hub"
ACR_REPLICA = "acr.replica"
# keys of the deployment as a whole: never prefixed by a region
GLOBAL_KEYS = frozenset({PARENT_POLICY, PARENT_RCG_ORG})


def regional_key(region: str, key: str) -> str:
    return f"{region}{KEY_SEPARATOR}{key}"


def parent_policy_name(cfg: DeploymentConfig) -> str:
    return f"afwp-{cfg.deployment.name}-parent"


def parent_policy_id(cfg: DeploymentConfig) -> str:
    return arm_id(cfg, "Microsoft.Network/firewallPolicies", parent_policy_name(cfg))


# --------------------------------------------------------------------------- the wrapper


class RegionalStep(Step):
    """A step of region #2+: the single-region step, under a prefixed key, given the region's view
    of the config and its upstream outputs under the keys it knows."""

    def __init__(self, inner: Step, view: DeploymentConfig, rename: Callable[[str], str]) -> None:
        super().__init__(rename(inner.key), tuple(rename(k) for k in inner.requires))
        self.inner = inner
        self.view = view
        self.region: str | None = view._region
        self._inner_keys = {rename(k): k for k in inner.requires}
        self.delete_after = tuple(rename(k) for k in inner.delete_after)

    def resource_id(self) -> str:
        return self.inner.resource_id()

    def lock_keys(self) -> tuple[str, ...]:
        return self.inner.lock_keys()

    def typical_seconds(self) -> float:
        return self.inner.typical_seconds()

    def display_name(self) -> str:
        return self.inner.display_name()

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        inner_upstream = {self._inner_keys[k]: v for k, v in upstream.items() if k in self._inner_keys}
        return self.inner.desired(self.view, inner_upstream)

    def read(self, ctx: StepContext) -> Spec | None:
        return self.inner.read(ctx)

    def diff(self, spec: Spec, observed: Spec) -> list[Change]:
        return self.inner.diff(spec, observed)

    def apply(self, ctx: StepContext, spec: Spec, observed: Spec | None) -> Spec:
        return self.inner.apply(ctx, spec, observed)

    def outputs(self, observed: Spec) -> Outputs:
        return self.inner.outputs(observed)

    def delete(self, ctx: StepContext) -> None:
        self.inner.delete(ctx)

    def delete_blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
        return self.inner.delete_blockers(ctx, observed, owned)

    def prepare_delete(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> None:
        self.inner.prepare_delete(ctx, observed, owned)

    def after_delete(self, ctx: StepContext) -> str | None:
        return self.inner.after_delete(ctx)

    def list_group(self) -> tuple[str, ...] | None:
        return self.inner.list_group()

    def read_listed(self, ctx: StepContext) -> dict[str, Spec]:
        return self.inner.read_listed(ctx)

    def read_from_list(self, ctx: StepContext, listed: Mapping[str, Spec]) -> Spec | None:
        return self.inner.read_from_list(ctx, listed)


_WRAPPERS: dict[type[Step], type[RegionalStep]] = {}


def _wrapper_class(cls: type[Step]) -> type[RegionalStep]:
    """A RegionalStep subclass carrying the inner class's class-level facts (resource type,
    immutable paths, owned fields, taggable); ``finalize_observed`` is delegated only when the inner
    class has one (the engine reads the others generically by id)."""
    if cls not in _WRAPPERS:
        attrs: dict[str, Any] = {
            name: getattr(cls, name) for name in ("resource_type", "immutable", "unordered", "owns", "taggable")
        }
        if cls.finalize_observed is not Step.finalize_observed:
            def finalize_observed(self: RegionalStep, ctx: StepContext, observed: Spec) -> Spec:
                return self.inner.finalize_observed(ctx, observed)

            attrs["finalize_observed"] = finalize_observed
        _WRAPPERS[cls] = type(f"Regional{cls.__name__}", (RegionalStep,), attrs)
    return _WRAPPERS[cls]


def wrap(inner: Step, view: DeploymentConfig, rename: Callable[[str], str]) -> RegionalStep:
    return _wrapper_class(type(inner))(inner, view, rename)


def rebind(step: Step, cfg: DeploymentConfig, available: set[str], region: str) -> Step:
    """A shared step whose requirement is a step of a region that is not there (region #1 taken out,
    or ``up --region`` of another region): the same step of ``region`` stands in for it (the vault
    takes its tenant from that region's control-plane identity)."""
    if all(r in available for r in step.requires):
        return step

    def rename(key: str) -> str:
        if key in available or key == step.key:
            return key
        alt = regional_key(region, key)
        return alt if alt in available else key

    bound = wrap(step, cfg, rename)
    bound.region = None
    return bound


# --------------------------------------------------------------------------- new step types


class ChildFirewallPolicyStep(FirewallPolicyStep):
    """A regional policy under the parent: ``basePolicy`` names it. A Premium child needs a Premium
    parent (checked offline by config/regions.py and by the simulator)
    (https://learn.microsoft.com/azure/firewall-manager/policy-overview, "Hierarchical policies")."""

    def __init__(self, key: str, cfg: DeploymentConfig, parent_id: str) -> None:
        super().__init__(key, cfg)
        self.requires = (*self.requires, PARENT_POLICY)
        self.parent_id = parent_id

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        body = super().desired(config, upstream)
        body["properties"]["basePolicy"] = ref(self.parent_id)
        return body


class ParentFirewallPolicyStep(FirewallPolicyStep):
    """The organisation's policy: tier and threat intelligence (inherited by the children; a child
    may only be stricter). DNS proxy and TLS inspection stay regional."""

    owns: ClassVar[Mapping[str, Any]] = {}

    def names(self) -> tuple[str, ...]:
        return (parent_policy_name(self.cfg),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        fw = config.firewall
        properties: dict[str, Any] = {"sku": {"tier": fw.tier}, "threatIntelMode": fw.effective_threat_intel_mode}
        if fw.tier == "Premium":
            properties["intrusionDetection"] = {"mode": fw.effective_idps_mode}
        return self.top(config, properties)


class ParentRuleCollectionGroupStep(RuleCollectionGroupStep):
    """A rule collection group of the parent policy."""

    def __init__(self, key: str, cfg: DeploymentConfig, name: str, priority: int, collections: Any) -> None:
        super().__init__(key, cfg, name, priority, collections)
        self.requires = (PARENT_POLICY,)

    def names(self) -> tuple[str, ...]:
        return (parent_policy_name(self.cfg), self.group)

    def lock_keys(self) -> tuple[str, ...]:
        return (parent_policy_id(self.cfg).lower(),)


class RegionalRouteTableStep(RouteTableStep):
    """A spoke's route table with, on top of its own routes, one route per spoke prefix of the other
    regions to the local firewall (explicit, so no propagated route can take them elsewhere)."""

    def __init__(self, base: RouteTableStep, remote_prefixes: list[str]) -> None:
        super().__init__(base.key, base.cfg, base.spoke, base.dnat_pip_keys)
        self.requires = base.requires
        self.remote_prefixes = list(remote_prefixes)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        body = super().desired(config, upstream)
        hop = predicted_firewall_ip(config)
        body["properties"]["routes"] += [
            {
                "name": f"remote-{prefix.replace('/', '_').replace('.', '-')}",
                "properties": {"addressPrefix": prefix, "nextHopType": "VirtualAppliance", "nextHopIpAddress": hop},
            }
            for prefix in self.remote_prefixes
        ]
        return body


class HubRouteTableStep(DeploymentStep):
    """Route table of AzureFirewallSubnet: each remote region's spoke prefixes to that region's
    firewall, and 0.0.0.0/0 to the Internet (a route table on AzureFirewallSubnet must keep the
    default route to the Internet: https://learn.microsoft.com/azure/firewall/firewall-faq)."""

    client = "network"
    operations = "route_tables"
    resource_type = "Microsoft.Network/routeTables"

    def __init__(self, key: str, cfg: DeploymentConfig, remote: list[tuple[str, str]]) -> None:
        super().__init__(key, cfg, (keys.RG,))
        self.remote = list(remote)  # (prefix, remote firewall ip)

    def names(self) -> tuple[str, ...]:
        return (f"rt-{self.cfg.name}-hub-firewall",)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        routes: list[dict[str, Any]] = [
            {"name": "internet", "properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "Internet"}}
        ]
        routes += [
            {
                "name": f"remote-{prefix.replace('/', '_').replace('.', '-')}",
                "properties": {"addressPrefix": prefix, "nextHopType": "VirtualAppliance", "nextHopIpAddress": hop},
            }
            for prefix, hop in self.remote
        ]
        return self.top(config, {"disableBgpRoutePropagation": False, "routes": routes})


class RegistryReplicationStep(DeploymentStep):
    """Geo-replica of the registry in one region (Premium only, zone redundant when the registry
    is: https://learn.microsoft.com/azure/container-registry/container-registry-geo-replication)."""

    client = "containerregistry"
    operations = "replications"
    put_method = "begin_create"
    resource_type = "Microsoft.ContainerRegistry/registries/replications"
    immutable = ("location", "properties.zoneRedundancy")

    def __init__(self, key: str, cfg: DeploymentConfig, location: str) -> None:
        super().__init__(key, cfg, ("acr",))
        self.location = location

    def names(self) -> tuple[str, ...]:
        return (self.cfg.acr_name, self.location)

    def lock_keys(self) -> tuple[str, ...]:
        return (arm_id(self.cfg, "Microsoft.ContainerRegistry/registries", self.cfg.acr_name).lower(),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        zr = "Enabled" if config.acr.zone_redundancy else "Disabled"
        return {
            "location": self.location,
            "tags": dict(config.tags),
            "properties": {"zoneRedundancy": zr, "regionEndpointEnabled": True},
        }


# --------------------------------------------------------------------------- assembly


def _spoke_prefixes(view: DeploymentConfig) -> list[str]:
    return [p for s in view.spokes for p in s.address_space]


def _node_sources(views: Mapping[str, DeploymentConfig]) -> list[str]:
    out: list[str] = []
    for view in views.values():
        out += [p for p in node_source_addresses(view) if p not in out]
    return out


def _org_collections(views: Mapping[str, DeploymentConfig]) -> Callable[[Any, Mapping[str, Outputs]], Any]:
    """The top-level [firewall] rules, whose default sources are every region's node subnets."""

    def build(config: Any, upstream: Mapping[str, Outputs]) -> Any:
        collections = _user_collections(config, upstream)
        own = node_source_addresses(config)
        everyone = _node_sources(views)
        for collection in collections:
            for rule in collection["rules"]:
                if rule["sourceAddresses"] == own:
                    rule["sourceAddresses"] = list(everyone)
        return collections

    return build


def _adapt_region(
    view: DeploymentConfig, steps: list[Step], views: Mapping[str, DeploymentConfig], drop_user: bool
) -> list[Step]:
    """Region-level changes: child policy, remote routes, firewall subnet route table."""
    region = view._region or view.location
    remote = {n: v for n, v in views.items() if n != region}
    remote_prefixes = [p for v in remote.values() for p in _spoke_prefixes(v)]
    out: list[Step] = []
    for step in steps:
        if isinstance(step, FirewallPolicyStep) and step.key == keys.FIREWALL_POLICY:
            step = ChildFirewallPolicyStep(step.key, view, parent_policy_id(view))
        elif drop_user and step.key == keys.rule_collection_group(RCG_USER):
            continue  # region #1's [firewall] rules are the organisation's: in the parent
        elif isinstance(step, RouteTableStep) and remote_prefixes:
            step = RegionalRouteTableStep(step, remote_prefixes)
        elif isinstance(step, SubnetStep) and step.key == keys.subnet(keys.HUB, "firewall") and remote_prefixes:
            step.route_table_key = HUB_ROUTE_TABLE
            step.requires = (*step.requires, HUB_ROUTE_TABLE)
        out.append(step)
    hops = [(p, predicted_firewall_ip(v)) for v in remote.values() for p in _spoke_prefixes(v)]
    if hops:
        out.append(HubRouteTableStep(HUB_ROUTE_TABLE, view, hops))
    return out


def _vnets(view: DeploymentConfig) -> list[tuple[str, str]]:
    """(vnet step key, VNet name) of a region, keys as the region's own builders name them."""
    spokes = [(keys.vnet(s.name), view.spoke_vnet_name(s)) for s in view.spokes]
    return [(keys.vnet(keys.HUB), view.hub_vnet_name), *spokes]


def with_regions(
    cfg: DeploymentConfig, primary: list[Step], single: Callable[[DeploymentConfig], list[Step]]
) -> list[Step]:
    """Region #1's steps (``primary``) plus everything else a multi-region config builds."""
    from hubspoke_deploy.steps.paas import PrivateDnsLinkStep, PrivateDnsZoneStep, dns_link_key

    all_views = region_views(cfg)
    active = active_region_names(cfg)
    views = {n: v for n, v in all_views.items() if n in active}
    primary_on = cfg.location in views
    primary_ids = {s.resource_id().lower(): s.key for s in primary}

    # shared steps: what every region uses, kept even when region #1 itself is taken out
    shared_keys: set[str] = set()
    per_region: dict[str, list[Step]] = {}
    renames: dict[str, Callable[[str], str]] = {cfg.location: lambda k: k}
    for name, view in views.items():
        if name == cfg.location:
            continue
        inner = single(view)
        mapping = {s.key: primary_ids[s.resource_id().lower()] for s in inner if s.resource_id().lower() in primary_ids}
        shared_keys |= set(mapping.values())

        def rename(k: str, _m: dict[str, str] = mapping, _n: str = name) -> str:
            return k if k in GLOBAL_KEYS else (_m.get(k) or regional_key(_n, k))

        renames[name] = rename
        adapted = _adapt_region(view, [s for s in inner if s.key not in mapping], views, False)
        per_region[name] = [wrap(s, view, rename) for s in adapted]

    result: list[Step] = []
    if primary_on:
        result += _adapt_region(cfg, primary, views, True)
    else:
        # region #1 is taken out (down --region): keep only what the other regions share with it
        keep = set(shared_keys) | {keys.RG}
        result += [s for s in primary if s.key in keep and not isinstance(s, PrivateDnsLinkStep)]
    for steps in per_region.values():
        result += steps

    # the parent policy and the organisation's rules
    parent = ParentFirewallPolicyStep(PARENT_POLICY, cfg)
    result.append(parent)
    if cfg.firewall.network_rules or cfg.firewall.application_rules:
        result.append(ParentRuleCollectionGroupStep(PARENT_RCG_ORG, cfg, "org-egress", 400, _org_collections(views)))

    # global peerings between every pair of hubs, both ways (each peering belongs to its VNet's region)
    names = list(views)
    for name in names:
        for other in names:
            if other == name:
                continue
            local, remote = views[name], views[other]
            key = renames[name](keys.peering(keys.HUB, f"hub.{other}"))
            requires = (renames[name](keys.vnet(keys.HUB)), renames[other](keys.vnet(keys.HUB)))
            result.append(PeeringStep(key, local, local.hub_vnet_name, remote.hub_vnet_name, requires))

    # every DNS zone linked to every VNet of every region
    zones: dict[str, tuple[str, Step]] = {}
    links: set[str] = set()
    for step in result:
        own = step.inner if isinstance(step, RegionalStep) else step
        if isinstance(own, PrivateDnsZoneStep):
            zones[step.resource_id().lower()] = (step.key, step)
        if isinstance(own, PrivateDnsLinkStep):
            links.add(step.resource_id().lower())
    for zone_key, zone_step in zones.values():
        zone = zone_step.resource_id().rsplit("/", 1)[-1]
        for name, view in views.items():
            for vnet_key, vnet in _vnets(view):
                key = renames[name](dns_link_key(zone, vnet_key.split(".", 1)[1]))
                link = PrivateDnsLinkStep(key, view, zone, vnet, renames[name](vnet_key))
                if link.resource_id().lower() in links:
                    continue
                link.requires = (zone_key, renames[name](vnet_key))
                links.add(link.resource_id().lower())
                result.append(link)

    # the registry replicated to every region but its home (region #1's location)
    if cfg.acr.sku == "Premium":
        for name, view in views.items():
            if view.location != cfg.location:
                result.append(RegistryReplicationStep(renames[name](ACR_REPLICA), cfg, view.location))
    if not primary_on and views:
        available = {s.key for s in result}
        stand_in = next(iter(views))
        result = [rebind(s, cfg, available, stand_in) if region_of_key(s.key) is None else s for s in result]
    for step in result:
        region = region_of_key(step.key)
        if region is None and step.key not in GLOBAL_KEYS and step.key not in shared_keys:
            region = cfg.location
        step.region = region  # type: ignore[attr-defined]
    return result


def step_region(step: Step) -> str | None:
    """The region a step belongs to (``None``: shared by every region)."""
    value = getattr(step, "region", None)
    return value if isinstance(value, str) and value else None


def regional_outputs(cfg: DeploymentConfig, step_outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Region name -> the single-region outputs of that region (firewall, cluster, endpoints)."""
    from hubspoke_deploy.steps.architecture import deployment_outputs

    result: dict[str, Any] = {}
    for name, view in region_views(cfg).items():
        if name == cfg.location:
            own: Mapping[str, Mapping[str, Any]] = step_outputs
        else:
            prefix = regional_key(name, "")
            own = {**step_outputs, **{k[len(prefix):]: v for k, v in step_outputs.items() if k.startswith(prefix)}}
            own = {k: v for k, v in own.items() if not k.startswith(prefix)}
            # a region's own outputs only: region #1's firewall is not this region's
            for key in (keys.FIREWALL, *(k for k in step_outputs if "/" not in k and k.startswith(("fw.", "aks")))):
                if regional_key(name, key) not in step_outputs:
                    own.pop(key, None)
        entry = deployment_outputs(view.model_copy(update={"regions": []}) if view is cfg else view, own)
        entry.pop("regions", None)
        result[name] = entry
    return result


def regional_ingress_endpoints(cfg: DeploymentConfig, steps: list[Step]) -> list[Any]:
    """The public ingress endpoints of every region (the origins of ``[global_entry]``): each
    region's DNAT endpoints, their public IP steps under the region's keys."""
    import dataclasses

    from hubspoke_deploy.steps.globalentry import ingress_endpoints

    present = {s.key for s in steps}
    active = set(active_region_names(cfg))
    found: list[Any] = []
    for name, view in region_views(cfg).items():
        if name not in active:
            continue
        # a region's view has no global entry of its own: its rules select the region's endpoints too
        published = view if view is cfg else view.model_copy(update={"global_entry": cfg.global_entry})
        for endpoint in ingress_endpoints(published):
            key = endpoint.address_key if view is cfg else regional_key(name, endpoint.address_key)
            if key in present:
                found.append(dataclasses.replace(endpoint, address_key=key))
    return found
