"""Microsoft.ServiceNetworking: Application Gateway for Containers (traffic controllers and their
frontends, associations and security policies), and the federated credentials of user-assigned
identities its ALB controller signs in with.

Citations (where Azure documents each behaviour):

* Regions that offer Application Gateway for Containers:
  https://learn.microsoft.com/azure/application-gateway/for-containers/overview#supported-regions
* Frontends, associations and security policies are child resources of one traffic controller; a
  frontend gets a unique FQDN:
  https://learn.microsoft.com/azure/application-gateway/for-containers/application-gateway-for-containers-components
* The association's subnet is delegated to ``Microsoft.ServiceNetworking/trafficControllers`` and
  has at least 250 available addresses (a /24 or larger):
  https://learn.microsoft.com/azure/application-gateway/for-containers/quickstart-create-application-gateway-for-containers-byo-deployment#delegate-a-subnet-to-association-resource
* One deployment per subnet:
  https://learn.microsoft.com/azure/application-gateway/for-containers/container-networking#limitations
* A security policy carries one policy type: a WAF policy or IP access rules (REST
  ``SecurityPolicyProperties``: "Single Security Policy can have only one policy type set"); the WAF
  policy is an ``ApplicationGatewayWebApplicationFirewallPolicies`` resource:
  https://learn.microsoft.com/azure/application-gateway/for-containers/web-application-firewall
* Federated identity credentials: issuer an https URL, one audience, at most 20 per identity, no
  concurrent writes under one identity:
  https://learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, ClassVar

from hubspoke_deploy.config.ingress import AGC_DELEGATION, AGC_REGIONS, AGC_SUBNET_MAX_PREFIX
from hubspoke_deploy.simulator.providers.base import (
    JSON,
    ResourceId,
    ResourceType,
    Store,
    WriteContext,
    WriteRule,
    deep_get,
    register,
    register_rule,
    register_view_hook,
)

NS = "Microsoft.ServiceNetworking"
TC = f"{NS}/trafficControllers"
FRONTEND = f"{TC}/frontends"
ASSOCIATION = f"{TC}/associations"
SECURITY_POLICY = f"{TC}/securityPolicies"
SUBNET = "Microsoft.Network/virtualNetworks/subnets"
WAF_POLICY = "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies"
FIC = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"

_DOC = "https://learn.microsoft.com/azure/application-gateway/for-containers/"
_BYO = _DOC + "quickstart-create-application-gateway-for-containers-byo-deployment"
_FIC_DOC = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations"
MAX_FEDERATED_CREDENTIALS = 20
_FIC_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$")


def _delegations(subnet: JSON | None) -> list[str]:
    items = deep_get(subnet, "properties.delegations", []) or []
    return [str(deep_get(d, "properties.serviceName") or d.get("serviceName") or "")
            for d in items if isinstance(d, dict)]


def _associations_of(store: Store, subnet_id: str) -> list[str]:
    return sorted({str(r.resource.get("id")) for r in store.referrers(subnet_id)
                   if str(r.resource.get("type", "")).lower() == ASSOCIATION.lower()})


# ------------------------------------------------------------------------- rules


def _tc_region(ctx: WriteContext) -> str | None:
    location = "".join(str(ctx.resource.get("location", "")).split()).lower()
    if location and location not in AGC_REGIONS:
        return (f"The location '{ctx.resource.get('location')}' is not available for resource type "
                f"'{TC}'. List of available regions for the resource type is '{', '.join(sorted(AGC_REGIONS))}'.")
    return None


def _association_type(ctx: WriteContext) -> str | None:
    if str(ctx.props.get("associationType", "")) != "subnets":
        return f"Association {ctx.rid.name}: associationType must be 'subnets'."
    if not isinstance(deep_get(ctx.resource, "properties.subnet.id"), str):
        return f"Association {ctx.rid.name} needs properties.subnet.id."
    return None


def _association_delegated(ctx: WriteContext) -> str | None:
    sid = deep_get(ctx.resource, "properties.subnet.id")
    subnet = ctx.store.get(sid) if isinstance(sid, str) else None
    if subnet is None:
        return None  # the core answers InvalidResourceReference
    if not any(d.lower() == AGC_DELEGATION.lower() for d in _delegations(subnet)):
        return (f"Subnet {sid} is not delegated to {AGC_DELEGATION}. Delegate the subnet to the "
                "Application Gateway for Containers service before associating it.")
    return None


def _association_size(ctx: WriteContext) -> str | None:
    sid = deep_get(ctx.resource, "properties.subnet.id")
    subnet = ctx.store.get(sid) if isinstance(sid, str) else None
    prefix = deep_get(subnet, "properties.addressPrefix") if subnet else None
    try:
        net = ipaddress.ip_network(str(prefix), strict=False) if prefix else None
    except ValueError:
        net = None
    if net is not None and net.prefixlen > AGC_SUBNET_MAX_PREFIX:
        return (f"Subnet {sid} ({net}) is too small for an Application Gateway for Containers association: "
                "it needs at least 250 available IP addresses (a /24 or larger).")
    return None


def _association_one_per_subnet(ctx: WriteContext) -> str | None:
    sid = deep_get(ctx.resource, "properties.subnet.id")
    if not isinstance(sid, str):
        return None
    others = [a for a in _associations_of(ctx.store, sid) if a.lower() != ctx.rid.key]
    if others:
        return f"Subnet {sid} is already associated with {others[0]}; only one deployment is supported per subnet."
    return None


def _association_subnet_fixed(ctx: WriteContext) -> str | None:
    if ctx.existing is None:
        return None
    before = str(deep_get(ctx.existing, "properties.subnet.id", "")).lower()
    after = str(deep_get(ctx.resource, "properties.subnet.id", "")).lower()
    if before and after != before:
        return f"The subnet of association {ctx.rid.name} cannot be changed; delete and re-create the association."
    return None


def _security_policy_type(ctx: WriteContext) -> str | None:
    waf = ctx.props.get("wafPolicy")
    ip_rules = ctx.props.get("ipAccessRulesPolicy")
    if bool(waf) == bool(ip_rules):
        return (f"Security policy {ctx.rid.name} must set exactly one of wafPolicy and ipAccessRulesPolicy: a single "
                "security policy can have only one policy type.")
    wid = deep_get(waf, "id") if isinstance(waf, dict) else None
    if waf and (not isinstance(wid, str) or f"/providers/{WAF_POLICY}/".lower() not in wid.lower()):
        return f"Security policy {ctx.rid.name}: wafPolicy.id must name a {WAF_POLICY} resource, got {wid!r}."
    return None


def _subnet_keeps_delegation(ctx: WriteContext) -> str | None:
    """A subnet that holds an association keeps its delegation (Azure refuses to remove a
    delegation in use: SubnetMissingRequiredDelegation / InUseSubnetCannotBeUpdated)."""
    if ctx.existing is None or any(d.lower() == AGC_DELEGATION.lower() for d in _delegations(ctx.resource)):
        return None
    users = _associations_of(ctx.store, str(ctx.resource.get("id", "")))
    if users:
        return (f"Subnet {ctx.rid.name} is used by {users[0]} and must stay delegated to {AGC_DELEGATION}; "
                "delete the association first.")
    return None


def _fic_fields(ctx: WriteContext) -> str | None:
    if not _FIC_NAME_RE.match(ctx.rid.name):
        return (f"Federated identity credential name '{ctx.rid.name}' is invalid: 3-120 characters, letters, digits, "
                "hyphens and underscores, starting with a letter or digit.")
    issuer = ctx.props.get("issuer")
    if not isinstance(issuer, str) or not issuer.startswith("https://"):
        return f"Federated identity credential {ctx.rid.name}: issuer must be an https URL, got {issuer!r}."
    if not isinstance(ctx.props.get("subject"), str) or not ctx.props["subject"]:
        return f"Federated identity credential {ctx.rid.name}: subject is required."
    audiences = ctx.props.get("audiences")
    if not isinstance(audiences, list) or len(audiences) != 1:
        return f"Federated identity credential {ctx.rid.name}: audiences must hold exactly one value."
    return None


def _fic_count(ctx: WriteContext) -> str | None:
    if ctx.existing is None and len(ctx.siblings) + 1 > MAX_FEDERATED_CREDENTIALS:
        return (f"Identity {ctx.rid.names[0]} already has {MAX_FEDERATED_CREDENTIALS} federated identity credentials, "
                "the maximum.")
    return None


RULES: list[WriteRule] = [
    WriteRule("agc-region", TC, _tc_region, 400, "LocationNotAvailableForResourceType",
              _DOC + "overview#supported-regions"),
    WriteRule("agc-association-type", ASSOCIATION, _association_type, 400, "InvalidRequestContent",
              _DOC + "application-gateway-for-containers-components"),
    WriteRule("agc-association-delegation", ASSOCIATION, _association_delegated, 400, "SubnetNotDelegated",
              _BYO + "#delegate-a-subnet-to-association-resource"),
    WriteRule("agc-association-size", ASSOCIATION, _association_size, 400, "SubnetSizeTooSmall",
              _BYO + "#delegate-a-subnet-to-association-resource"),
    WriteRule("agc-association-one-per-subnet", ASSOCIATION, _association_one_per_subnet, 409, "SubnetAlreadyInUse",
              _DOC + "container-networking#limitations"),
    WriteRule("agc-association-subnet-fixed", ASSOCIATION, _association_subnet_fixed, 400,
              "AssociationSubnetCannotBeUpdated", _DOC + "application-gateway-for-containers-components"),
    WriteRule("agc-security-policy-type", SECURITY_POLICY, _security_policy_type, 400, "InvalidSecurityPolicy",
              _DOC + "web-application-firewall"),
    WriteRule("agc-subnet-keeps-delegation", SUBNET, _subnet_keeps_delegation, 400, "InUseSubnetCannotBeUpdated",
              "https://learn.microsoft.com/azure/virtual-network/subnet-delegation-overview"),
    WriteRule("fic-fields", FIC, _fic_fields, 400, "BadRequest", _FIC_DOC),
    WriteRule("fic-count", FIC, _fic_count, 400, "BadRequest", _FIC_DOC),
]
for _rule in RULES:
    register_rule(_rule)


# ------------------------------------------------------------------------- types


class _Child(ResourceType):
    requires_location: ClassVar[bool] = True


@register
class TrafficControllers(ResourceType):
    type_name = TC
    create_latency_s: ClassVar[float] = 60.0
    update_latency_s: ClassVar[float | None] = 30.0
    delete_latency_s: ClassVar[float | None] = 60.0
    requires_location: ClassVar[bool] = True
    schema: ClassVar[dict[str, str]] = {"properties.securityPolicyConfigurations": "object"}

    def on_write(self, ctx: WriteContext) -> None:
        old = deep_get(ctx.existing, "properties.configurationEndpoints") if ctx.existing else None
        ctx.props["configurationEndpoints"] = old or [f"{ctx.store.new_guid()[:12]}.alb.azure.com"]

    def on_read(self, store: Store, view: JSON) -> None:
        props = view.setdefault("properties", {})
        tc_id = str(view["id"])
        for segment, key in (("frontends", "frontends"), ("associations", "associations"),
                             ("securityPolicies", "securityPolicies")):
            props[key] = [{"id": c["id"]} for c in store.children(tc_id, segment)]


@register
class Frontends(_Child):
    type_name = FRONTEND
    create_latency_s: ClassVar[float] = 60.0
    delete_latency_s: ClassVar[float | None] = 30.0

    def on_write(self, ctx: WriteContext) -> None:
        old = deep_get(ctx.existing, "properties.fqdn") if ctx.existing else None
        host = f"{ctx.store.new_guid().replace('-', '')[:16]}.fz{ctx.store.new_guid()[:2]}"
        ctx.props["fqdn"] = old or f"{host}.alb.azure.com"


@register
class Associations(_Child):
    type_name = ASSOCIATION
    # the association provisions the gateway's proxies in the subnet: the slow part
    create_latency_s: ClassVar[float] = 300.0
    update_latency_s: ClassVar[float | None] = 60.0
    delete_latency_s: ClassVar[float | None] = 120.0
    schema: ClassVar[dict[str, str]] = {"properties.associationType": "str", "properties.subnet": "object"}


@register
class SecurityPolicies(_Child):
    type_name = SECURITY_POLICY
    create_latency_s: ClassVar[float] = 30.0
    schema: ClassVar[dict[str, str]] = {"properties.wafPolicy": "object", "properties.ipAccessRulesPolicy": "object"}

    def on_write(self, ctx: WriteContext) -> None:
        ctx.props["policyType"] = "waf" if ctx.props.get("wafPolicy") else "ipAccessRules"


@register
class FederatedIdentityCredentials(ResourceType):
    type_name = FIC
    long_running: ClassVar[bool] = False
    create_status: ClassVar[int] = 201
    schema: ClassVar[dict[str, str]] = {
        "properties.issuer": "str", "properties.subject": "str", "properties.audiences": "list[str]",
    }


def _subnet_links(store: Store, view: JSON) -> None:
    """A subnet holding an association shows the service association link Azure creates for the
    delegated service, naming the association in ``link``."""
    links = []
    for owner in _associations_of(store, str(view.get("id", ""))):
        rid = ResourceId.parse(owner)
        links.append({
            "id": f"{view['id']}/serviceAssociationLinks/{rid.names[0]}",
            "name": rid.names[0],
            "properties": {"link": owner, "linkedResourceType": TC, "provisioningState": "Succeeded"},
        })
    props: Any = view.setdefault("properties", {})
    if links:
        props["serviceAssociationLinks"] = links


register_view_hook("servicenetworking-subnet-links", SUBNET, _subnet_links)
