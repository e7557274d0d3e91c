"""[ingress]: how workloads are published, and the offline checks of that choice (issue 17).

Three kinds, from the article's considerations ("Use Azure Firewall to help protect an AKS
cluster", https://learn.microsoft.com/azure/architecture/guide/aks/aks-firewall): Application
Gateway for Containers (recommended for new clusters; "don't use AGIC for new deployments"),
Application Gateway WAF_v2 in its own subnet (the article's workflow), or the firewall's DNAT to
an internal load balancer (``[[firewall.dnat_rules]]``). The default is Application Gateway for
Containers where the region offers it (:data:`AGC_REGIONS`), else Application Gateway WAF_v2.

The gateway's subnet is a spoke subnet of the cluster spoke: ``app_gateway_for_containers``
(delegated to ``Microsoft.ServiceNetworking/trafficControllers``) or ``app_gateway``. Each kind
has a subnet of its own, so switching kinds creates the new gateway beside the old one before the
old one is deleted (two gateways never need the same address range at once). A config that leaves
``kind`` unset deploys the default kind only when the cluster spoke has its subnet.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from hubspoke_deploy.config.model import DeploymentConfig
    from hubspoke_deploy.errors import Problem

__all__ = [
    "AGC",
    "AGC_DELEGATION",
    "AGC_REGIONS",
    "AGC_SUBNET_MAX_PREFIX",
    "APPGW",
    "APPGW_MAX_INSTANCES",
    "APPGW_SUBNET_RECOMMENDED_PREFIX",
    "DNAT",
    "IngressConfig",
    "IngressKind",
    "check_ingress",
    "effective_kind",
    "managed_ingress",
    "subnet_field",
]

AGC = "application-gateway-for-containers"
APPGW = "application-gateway-waf"
DNAT = "firewall-dnat"
IngressKind = Literal["application-gateway-for-containers", "application-gateway-waf", "firewall-dnat"]

# Regions that offer Application Gateway for Containers, in ARM form ("Supported regions",
# https://learn.microsoft.com/azure/application-gateway/for-containers/overview#supported-regions,
# MicrosoftDocs/azure-docs articles/application-gateway/for-containers/overview.md, 2025-07-21).
AGC_REGIONS: frozenset[str] = frozenset({
    "australiaeast",
    "brazilsouth",
    "canadacentral",
    "centralindia",
    "centralus",
    "eastasia",
    "eastus",
    "eastus2",
    "francecentral",
    "germanywestcentral",
    "koreacentral",
    "northcentralus",
    "northeurope",
    "norwayeast",
    "southcentralus",
    "southeastasia",
    "switzerlandnorth",
    "uaenorth",
    "uksouth",
    "westus",
    "westeurope",
})

# The association subnet is delegated to the traffic controllers and needs at least 250 free
# addresses: "/24 or smaller CIDR prefix"
# (https://learn.microsoft.com/azure/application-gateway/for-containers/quickstart-create-application-gateway-for-containers-byo-deployment#delegate-a-subnet-to-association-resource);
# with Azure CNI Overlay it must be exactly a /24, one deployment per subnet
# (https://learn.microsoft.com/azure/application-gateway/for-containers/container-networking#limitations).
AGC_DELEGATION = "Microsoft.ServiceNetworking/trafficControllers"
AGC_SUBNET_MAX_PREFIX = 24

# Application Gateway v2: up to 125 instances, one address each, plus the private frontend and
# Azure's 5 reserved addresses; "a minimum subnet size of /24 is recommended"
# (https://learn.microsoft.com/azure/application-gateway/configuration-infrastructure#size-of-the-subnet).
APPGW_MAX_INSTANCES = 125
APPGW_SUBNET_RECOMMENDED_PREFIX = 24
_AZURE_RESERVED = 5


class IngressConfig(BaseModel):
    """[ingress]: how workloads are published, behind a web application firewall."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    kind: IngressKind | None = Field(
        default=None,
        description=(
            "`application-gateway-for-containers` (the article's recommendation for new clusters: traffic "
            "controller, frontend, association in `spokes.subnets.app_gateway_for_containers`, WAF policy "
            "through a security policy, the ALB controller's identity), `application-gateway-waf` "
            "(Application Gateway WAF_v2 in `spokes.subnets.app_gateway`, public and private frontends) or "
            "`firewall-dnat` (no gateway: the firewall's `[[firewall.dnat_rules]]` publish an internal load "
            "balancer). Unset: the default kind, deployed when the cluster spoke has its subnet."
        ),
        json_schema_extra={
            "x-default": "application-gateway-for-containers where the region offers it, else application-gateway-waf"
        },
    )
    waf_mode: Literal["Prevention", "Detection"] = Field(
        default="Prevention",
        description="WAF policy mode. `Prevention` blocks what the managed rule sets match; `Detection` only logs.",
    )
    zones: list[str] = Field(
        default_factory=lambda: ["1", "2", "3"],
        description="Application Gateway: availability zones of the gateway and its public IP.",
    )
    min_capacity: int = Field(default=2, description="Application Gateway: autoscale minimum instance count (0-125).")
    max_capacity: int = Field(default=10, description="Application Gateway: autoscale maximum instance count (2-125).")
    private_ip: str | None = Field(
        default=None,
        description="Application Gateway: static address of the private frontend, inside `spokes.subnets.app_gateway`.",
        json_schema_extra={"x-default": "the last usable address of the subnet"},
    )


def effective_kind(cfg: DeploymentConfig) -> str:
    """The kind asked for, or the default for the region."""
    kind = cfg.ingress.kind
    if kind is not None:
        return kind
    return AGC if cfg.location in AGC_REGIONS else APPGW


def subnet_field(kind: str) -> str | None:
    """The cluster spoke's subnet field of a kind's gateway (None for the firewall's DNAT)."""
    return {AGC: "app_gateway_for_containers", APPGW: "app_gateway"}.get(kind)


def managed_ingress(cfg: DeploymentConfig) -> str | None:
    """The kind whose gateway is deployed, or None (the firewall's DNAT, or a default kind whose
    subnet the cluster spoke does not have)."""
    kind = effective_kind(cfg)
    field = subnet_field(kind)
    if field is None:
        return None
    try:
        spoke = cfg.cluster_spoke
    except LookupError:
        return None
    return kind if getattr(spoke.subnets, field, None) else None


def default_private_ip(prefix: str) -> str:
    """The last usable address of a subnet (Azure reserves the broadcast address): frontend IPs
    from the upper end of the range, as Azure advises
    (https://learn.microsoft.com/azure/application-gateway/configuration-infrastructure#size-of-the-subnet)."""
    net = ipaddress.ip_network(prefix, strict=False)
    return str(net.broadcast_address - 1)


def check_ingress(cfg: DeploymentConfig) -> list[Problem]:
    """Errors and warnings of ``[ingress]`` (the subnets' CIDRs are checked with the network)."""
    from hubspoke_deploy.errors import Problem

    problems: list[Problem] = []

    def error(path: str, message: str, fix: str) -> None:
        problems.append(Problem(path=path, message=message, fix=fix, severity="error"))

    def warn(path: str, message: str, fix: str) -> None:
        problems.append(Problem(path=path, message=message, fix=fix, severity="warning"))

    ing = cfg.ingress
    kind = effective_kind(cfg)
    explicit = ing.kind is not None
    try:
        spoke = cfg.cluster_spoke
        spoke_index = cfg.spokes.index(spoke)
    except (LookupError, ValueError):
        return problems  # the cluster spoke itself is reported by the network checks
    subnets_path = f"spokes[{spoke_index}].subnets"

    if kind == AGC and cfg.location not in AGC_REGIONS:
        error("ingress.kind", f"Application Gateway for Containers is not offered in {cfg.location}.",
              f'use kind = "{APPGW}", or a region where it is offered: {", ".join(sorted(AGC_REGIONS))}.')
    field = subnet_field(kind)
    prefix = getattr(spoke.subnets, field, None) if field else None
    if field and not prefix:
        if explicit:
            error(f"{subnets_path}.{field}", f"ingress kind '{kind}' needs its own subnet in the cluster spoke.",
                  f'add {field} = "<a free /24 of the spoke>" to the cluster spoke\'s subnets, or set '
                  f'[ingress] kind = "{DNAT}".')
        elif cfg.is_production:
            warn(f"{subnets_path}.{field}",
                 f"no managed ingress: the default kind '{kind}' needs this subnet, so nothing with a web "
                 "application firewall publishes the workloads.",
                 f'add {field} = "<a free /24 of the spoke>", or set [ingress] kind = "{DNAT}" to publish '
                 "through the firewall's DNAT rules.")
    net = _net(prefix)
    if kind == AGC and net is not None:
        if net.prefixlen > AGC_SUBNET_MAX_PREFIX:
            error(f"{subnets_path}.{field}",
                  f"the Application Gateway for Containers subnet needs at least 250 addresses (/24); {net} is "
                  f"/{net.prefixlen}.", f"use a /24, e.g. {net.supernet(new_prefix=AGC_SUBNET_MAX_PREFIX)}.")
        elif cfg.aks.overlay and net.prefixlen != AGC_SUBNET_MAX_PREFIX:
            error(f"{subnets_path}.{field}",
                  f"with Azure CNI Overlay the Application Gateway for Containers subnet must be exactly a /24; "
                  f"{net} is /{net.prefixlen}.", "use a /24 of the spoke.")
    if kind == AGC and prefix and not (cfg.aks.oidc_issuer and cfg.aks.workload_identity):
        error("aks.workload_identity",
              "the ALB controller of Application Gateway for Containers signs in with workload identity.",
              "set aks.oidc_issuer = true and aks.workload_identity = true.")
    if kind == APPGW and net is not None:
        if net.prefixlen > APPGW_SUBNET_RECOMMENDED_PREFIX:
            needed = ing.max_capacity + 1 + _AZURE_RESERVED
            if net.num_addresses < needed:
                error(f"{subnets_path}.{field}",
                      f"{net} has {net.num_addresses} addresses; the gateway needs {needed} "
                      f"(max_capacity {ing.max_capacity}, the private frontend, 5 reserved by Azure).",
                      f"use a /{APPGW_SUBNET_RECOMMENDED_PREFIX}, or lower ingress.max_capacity.")
            else:
                warn(f"{subnets_path}.{field}",
                     f"Azure recommends a /24 for Application Gateway v2 (room to autoscale); {net} is "
                     f"/{net.prefixlen}.", f"use a /{APPGW_SUBNET_RECOMMENDED_PREFIX}.")
        if ing.private_ip is not None:
            try:
                addr = ipaddress.ip_address(ing.private_ip)
            except ValueError:
                addr = None
            usable = addr is not None and addr in net and \
                int(net.network_address) + 4 <= int(addr) < int(net.broadcast_address)
            if not usable:
                error("ingress.private_ip", f"'{ing.private_ip}' is not a usable address of {net} (Azure reserves "
                      "the first four and the last).", f"pick one from {net[4]} to {net[-2]}, or leave it unset.")
    if not 0 <= ing.min_capacity <= ing.max_capacity <= APPGW_MAX_INSTANCES or ing.max_capacity < 2:
        error("ingress.max_capacity",
              f"autoscale needs 0 <= min_capacity <= max_capacity <= {APPGW_MAX_INSTANCES} and max_capacity >= 2 "
              f"(got {ing.min_capacity}..{ing.max_capacity}).", "e.g. min_capacity = 2, max_capacity = 10.")
    for zone in ing.zones:
        if zone not in ("1", "2", "3"):
            error("ingress.zones", f"'{zone}' is not an availability zone.", 'use "1", "2" and "3".')
    if cfg.is_production and managed_ingress(cfg):
        if ing.waf_mode != "Prevention":
            warn("ingress.waf_mode", "the web application firewall only logs what it matches.",
                 'waf_mode = "Prevention".')
        if kind == APPGW and len(set(ing.zones)) < 3:
            warn("ingress.zones", "the gateway does not span three zones.", 'zones = ["1", "2", "3"].')
    if kind == DNAT and not cfg.firewall.dnat_rules and cfg.is_production:
        warn("ingress.kind", "ingress through the firewall's DNAT, but no [[firewall.dnat_rules]] publish anything.",
             "add a DNAT rule to the internal load balancer, or choose a gateway kind.")
    return problems


def _net(prefix: str | None) -> ipaddress.IPv4Network | None:
    if not prefix:
        return None
    try:
        net = ipaddress.ip_network(prefix, strict=True)
    except ValueError:
        return None  # reported by the network checks
    return net if isinstance(net, ipaddress.IPv4Network) else None
