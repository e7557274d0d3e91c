"""Multi-region (issue 18): the regions of a deployment, the per-region view of the config, and
their offline checks.

The top-level sections (``[deployment].location``, ``[hub]``, ``[[spokes]]``, ``[firewall]``,
``[aks]``) are region #1; ``[[regions]]`` adds more. A config without ``[[regions]]`` is a list of
one region and builds exactly what it built before (same step keys, same resource names).

What is regional and what is shared (declared once):

* regional: hub VNet, firewall (Azure Firewall is a regional resource), its public IPs and its
  child policy, spokes, route tables, cluster and its identities, Bastion, jump box, private
  endpoints (each region reaches the shared services through its own endpoints);
* shared: the resource group, the parent firewall policy (organisation-wide rules: the top-level
  ``[firewall]`` rules), the container registry (Premium, geo-replicated to every region), the Key
  Vault and the storage account (one of each, a private endpoint in every region), the private DNS
  zones (global resources: one zone per service, linked to every VNet of every region) and the Log
  Analytics workspace.

Why one Log Analytics workspace: the regions are paired (same geography, so the data residency is the
same), one workspace answers cross-region questions (a flow denied by one firewall and allowed by the
other) with one query and one set of alerts, and diagnostic settings keep working across regions
(https://learn.microsoft.com/azure/azure-monitor/logs/workspace-design#azure-regions: "a single
workspace for all resources is the simplest design"; split per region only for data sovereignty or
egress charges).

Why one Key Vault with an endpoint per region: Key Vault replicates its contents to the paired region
and fails over to it, read-only, by itself
(https://learn.microsoft.com/azure/key-vault/general/disaster-recovery-guidance), so one vault keeps
one source of truth for secrets; each region's pods reach it through the private endpoint of their
region.

Why one resource group: a resource group's location only holds its metadata; resources of any region
can live in it. The cost, documented: while the group's region (region #1) is down, the metadata of
the group cannot be updated (https://learn.microsoft.com/azure/azure-resource-manager/management/overview#resource-group-location-alignment),
so region #2 keeps serving but is not redeployable until region #1's control plane is back.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from hubspoke_deploy.config.model import DeploymentConfig, RegionConfig
from hubspoke_deploy.errors import Problem

__all__ = [
    "PAIRED_REGIONS",
    "region_names",
    "region_problems",
    "region_view",
    "region_views",
    "without_region",
]

# Azure region pairs (public cloud), both directions: "Azure paired regions"
# (https://learn.microsoft.com/azure/reliability/cross-region-replication-azure#azure-paired-regions).
_PAIRS: tuple[tuple[str, str], ...] = (
    ("westeurope", "northeurope"),
    ("uksouth", "ukwest"),
    ("francecentral", "francesouth"),
    ("germanywestcentral", "germanynorth"),
    ("switzerlandnorth", "switzerlandwest"),
    ("norwayeast", "norwaywest"),
    ("swedencentral", "swedensouth"),
    ("eastus", "westus"),
    ("eastus2", "centralus"),
    ("westus2", "westcentralus"),
    ("westus3", "eastus"),
    ("northcentralus", "southcentralus"),
    ("canadacentral", "canadaeast"),
    ("brazilsouth", "southcentralus"),
    ("australiaeast", "australiasoutheast"),
    ("australiacentral", "australiacentral2"),
    ("japaneast", "japanwest"),
    ("koreacentral", "koreasouth"),
    ("eastasia", "southeastasia"),
    ("centralindia", "southindia"),
    ("uaenorth", "uaecentral"),
    ("southafricanorth", "southafricawest"),
)
PAIRED_REGIONS: dict[str, frozenset[str]] = {}
for _a, _b in _PAIRS:
    PAIRED_REGIONS[_a] = PAIRED_REGIONS.get(_a, frozenset()) | {_b}
    PAIRED_REGIONS[_b] = PAIRED_REGIONS.get(_b, frozenset()) | {_a}

# Step keys of region #2+ are "<region>/<key>"; region #1 keeps the keys it always had.
KEY_SEPARATOR = "/"
# Short region names: they end up in resource names (AKS names are at most 63 characters).
_NAME_MAX = 12


def _excluded(cfg: DeploymentConfig) -> frozenset[str]:
    return cfg._excluded_regions


def region_names(cfg: DeploymentConfig) -> list[str]:
    """Every region of the config, region #1 (the top-level location) first."""
    return [cfg.location, *(r.key for r in cfg.regions)]


def active_region_names(cfg: DeploymentConfig) -> list[str]:
    """The regions the steps are built for (all of them, less those ``without_region`` took out)."""
    return [n for n in region_names(cfg) if n not in _excluded(cfg)]


def is_multi_region(cfg: DeploymentConfig) -> bool:
    return bool(cfg.regions)


def region_view(cfg: DeploymentConfig, region: RegionConfig) -> DeploymentConfig:
    """The config as one region sees it: its location, hub, spokes, firewall and cluster, and names
    suffixed with the region (``vnet-hub-{name}-{region}``). Shared names (registry, vault, storage,
    workspace, resource group, tags) are the deployment's."""
    fw = region.firewall
    if fw is None:
        fw = cfg.firewall.model_copy(update={"application_rules": [], "network_rules": [], "dnat_rules": []})
    aks = region.aks if region.aks is not None else cfg.aks.model_copy(update={"name": None, "dns_prefix": None})
    deployment = cfg.deployment.model_copy(update={"location": region.location})
    view = cfg.model_copy(update={
        "deployment": deployment, "hub": region.hub, "spokes": list(region.spokes), "firewall": fw, "aks": aks,
        "regions": [], "global_entry": None,  # the global entry is the deployment's, built once
    })
    view._region = region.key
    return view


def region_views(cfg: DeploymentConfig) -> dict[str, DeploymentConfig]:
    """Region name -> the config as that region sees it (region #1: ``cfg`` itself)."""
    views: dict[str, DeploymentConfig] = {cfg.location: cfg}
    for region in cfg.regions:
        views[region.key] = region_view(cfg, region)
    return views


def without_region(cfg: DeploymentConfig, name: str) -> DeploymentConfig:
    """The config less one region's steps (``down --region``): what it built becomes orphans that
    ``up`` deletes in dependency order; the other regions and the shared parts stay."""
    if name not in region_names(cfg):
        raise KeyError(name)
    copy = cfg.model_copy()
    copy._excluded_regions = _excluded(cfg) | {name}
    return copy


def region_of_key(key: str) -> str | None:
    """The region prefix of a step key, ``None`` for region #1's and the shared steps' keys."""
    head, sep, _ = key.partition(KEY_SEPARATOR)
    return head if sep else None


# --------------------------------------------------------------------------- validation


def _spaces(cfg: DeploymentConfig) -> list[tuple[str, str, list[str]]]:
    """(region, key path, CIDRs) of every VNet of every region."""
    out: list[tuple[str, str, list[str]]] = [(cfg.location, "hub.address_space", list(cfg.hub.address_space))]
    out += [(cfg.location, f"spokes[{i}].address_space", list(s.address_space)) for i, s in enumerate(cfg.spokes)]
    for r, region in enumerate(cfg.regions):
        out.append((region.key, f"regions[{r}].hub.address_space", list(region.hub.address_space)))
        out += [
            (region.key, f"regions[{r}].spokes[{i}].address_space", list(s.address_space))
            for i, s in enumerate(region.spokes)
        ]
    return out


def region_problems(cfg: DeploymentConfig) -> list[Problem]:
    """Offline checks of ``[[regions]]``: names, locations (the region table of api/regions.py),
    pairs, address spaces across regions, and each region's own sections (the single-region checks
    run on its view, paths prefixed ``regions[i].``)."""
    if not cfg.regions:
        return []
    from hubspoke_deploy.regions import location_problem, regions_for

    problems: list[Problem] = []

    def error(path: str, message: str, fix: str) -> None:
        problems.append(Problem(path=path, message=message, fix=fix, severity="error"))

    known = regions_for(cfg.azure.endpoint)
    seen: dict[str, str] = {cfg.location: "deployment.location"}
    locations: dict[str, str] = {cfg.location: "deployment.location"}
    for r, region in enumerate(cfg.regions):
        path = f"regions[{r}]"
        if known is not None:
            bad = location_problem(region.location, known, source="not in this release's region list")
            if bad is not None:
                error(f"{path}.location", bad.message, bad.fix)
        if region.location in locations:
            error(f"{path}.location", f"'{region.location}' is already the region of {locations[region.location]}.",
                  "give each region its own location (a region has one hub).")
        locations.setdefault(region.location, path)
        name = region.key
        if region.name is not None and (not region.name.isalnum() or not region.name.islower()
                                        or len(region.name) > _NAME_MAX):
            error(f"{path}.name", f"'{region.name}' is not a short region name.",
                  f"use 1-{_NAME_MAX} lowercase letters and digits, e.g. name = \"ne\".")
        if name in seen:
            error(f"{path}.name", f"region name '{name}' is already used by {seen[name]}.", "give it another name.")
        seen.setdefault(name, path)
        paired = PAIRED_REGIONS.get(cfg.location, frozenset())
        if known is not None and region.location not in paired and cfg.location in PAIRED_REGIONS:
            problems.append(Problem(
                path=f"{path}.location",
                message=(f"'{region.location}' is not the pair of '{cfg.location}' (the article deploys to paired "
                         "regions: sequential platform updates, prioritised recovery)."),
                fix=f"location = \"{sorted(paired)[0]}\"." if paired else "pick the region pair of region #1.",
                severity="warning",
            ))
        fw = region.firewall or cfg.firewall
        if fw.tier == "Premium" and cfg.firewall.tier != "Premium":
            error(f"{path}.firewall.tier",
                  f"a Premium regional policy needs a Premium parent policy, and [firewall] is {cfg.firewall.tier}.",
                  "set [firewall] tier = \"Premium\", or this region's tier to the parent's "
                  "(https://learn.microsoft.com/azure/firewall-manager/policy-overview).")
        if fw.tier == "Basic" or cfg.firewall.tier == "Basic":
            error(f"{path}.firewall.tier", "Basic firewall policies cannot be inherited from, or inherit.",
                  "use Standard or Premium in every region (https://learn.microsoft.com/azure/firewall/basic-features).")
    if cfg.acr.sku != "Premium":
        error("acr.sku", f"geo-replication to every region needs a Premium registry, not {cfg.acr.sku}.",
              'sku = "Premium" (https://learn.microsoft.com/azure/container-registry/container-registry-geo-replication).')
    # address spaces: no VNet of one region may overlap a VNet of another (the hubs are peered, and
    # the routes for the remote spokes' prefixes must be unambiguous)
    nets: list[tuple[str, str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    for region_name, path, cidrs in _spaces(cfg):
        for i, cidr in enumerate(cidrs):
            try:
                net = ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                continue  # reported by the single-region checks
            for other_region, other_path, other in nets:
                if other_region != region_name and net.overlaps(other):
                    error(f"{path}[{i}]", f"{cidr} overlaps {other} of {other_path} (region {other_region}).",
                          "give every region its own non-overlapping address spaces.")
            nets.append((region_name, path, net))
    problems += _regional_section_problems(cfg)
    return problems


def _regional_section_problems(cfg: DeploymentConfig) -> list[Problem]:
    """The single-region checks on each region's view, for the sections the region sets."""
    from hubspoke_deploy.config.validate import validate_config

    out: list[Problem] = []
    sections = ("hub", "spokes", "firewall", "aks")
    for r, region in enumerate(cfg.regions):
        view = region_view(cfg, region)
        own = {"hub", "spokes"} | {s for s in ("firewall", "aks") if getattr(region, s) is not None}
        for p in validate_config(view):
            head = p.path.split(".", 1)[0].split("[", 1)[0]
            if head in sections and head in own and p.severity == "error":
                out.append(Problem(path=f"regions[{r}].{p.path}", message=p.message, fix=p.fix, severity=p.severity))
    return out


def describe(cfg: DeploymentConfig) -> dict[str, Any]:
    """Regions as data (for ``outputs`` and ``status``)."""
    return {"regions": active_region_names(cfg), "primary": cfg.location}
