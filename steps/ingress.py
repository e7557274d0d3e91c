"""Ingress with a web application firewall (issue 17): Application Gateway for Containers or
Application Gateway WAF_v2, each in a subnet of the cluster spoke (``[ingress]``,
``config.ingress``).

The article recommends Application Gateway for Containers for new clusters, Application Gateway
WAF_v2 in its own subnet is the article's workflow, and the firewall's DNAT to an internal load
balancer stays the third option (``[[firewall.dnat_rules]]``, ``steps.firewall``)
(https://learn.microsoft.com/azure/architecture/guide/aks/aks-firewall).

Step keys differ per kind (``ingress.agc.*`` / ``ingress.appgw.*``): switching kinds leaves the
old gateway's records as orphans, so ``plan`` shows it deleted and the new one created, and
``up`` deletes it after the new one exists (``orchestrator.prune``).

Either way the gateway's subnet keeps no route to the firewall (``steps.network.UNROUTED_SUBNETS``):
requests arrive from the Internet at the gateway's own public frontend and the gateway answers
them directly; the replies of the pods to the gateway stay inside the spoke (the VNet's own route
is more specific than the node subnets' 0.0.0.0/0 to the firewall).

Application Gateway for Containers (bring-your-own deployment, "BYO":
https://learn.microsoft.com/azure/application-gateway/for-containers/quickstart-create-application-gateway-for-containers-byo-deployment):
the traffic controller, a frontend, the association in the delegated subnet, the WAF policy linked
through a security policy (https://learn.microsoft.com/azure/application-gateway/for-containers/web-application-firewall),
and the identity the in-cluster ALB controller signs in with: a user-assigned identity federated
with the cluster's OIDC issuer for ``system:serviceaccount:azure-alb-system:alb-controller-sa``
(https://learn.microsoft.com/azure/application-gateway/for-containers/quickstart-deploy-application-gateway-for-containers-alb-controller-helm),
holding *AppGw for Containers Configuration Manager* on the traffic controller and *Network
Contributor* on the association subnet (its ``subnets/join/action``) and on the WAF policy (its
``applicationGatewayWebApplicationFirewallPolicies/join/action``,
https://learn.microsoft.com/azure/application-gateway/for-containers/how-to-waf-gateway-api).
Installing the controller itself (Helm or the AKS add-on) is the operator's next step: ``outputs``
prints it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.config.ingress import AGC, APPGW, default_private_ip, managed_ingress
from hubspoke_deploy.orchestrator.step import Outputs, OwnedIds, Spec, Step, StepContext
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.base import arm_id, out, props, ref
from hubspoke_deploy.steps.identity import (
    NETWORK_CONTRIBUTOR,
    PlatformStep,
    RoleAssignmentStep,
    UserAssignedIdentityStep,
    identity_id,
    identity_name,
    role_key,
)
from hubspoke_deploy.steps.network import PublicIpStep, subnet_id

__all__ = [
    "AGC_CONFIGURATION_MANAGER",
    "AGC_FRONTEND",
    "AGC_KEYS",
    "AGC_WAF",
    "ALB_SERVICE_ACCOUNT",
    "APPGW_KEYS",
    "BOT_MANAGER_RULE_SET",
    "DEFAULT_RULE_SET",
    "ingress_outputs",
    "ingress_steps",
]

# --------------------------------------------------------------------------- facts

# Managed rule sets of the WAF policy: the current Default Rule Set (Microsoft's OWASP-based core
# rule set) and the bot manager set
# (https://learn.microsoft.com/azure/web-application-firewall/ag/application-gateway-crs-rulegroups-rules,
# https://learn.microsoft.com/azure/web-application-firewall/ag/bot-protection-overview).
DEFAULT_RULE_SET = ("Microsoft_DefaultRuleSet", "2.1")
BOT_MANAGER_RULE_SET = ("Microsoft_BotManagerRuleSet", "1.1")

# Built-in role "AppGw for Containers Configuration Manager" (same id in every tenant:
# https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/networking#appgw-for-containers-configuration-manager,
# granted by the BYO quickstart above as role fbc52c3f-28ad-4303-a892-8a056630b8f1).
AGC_CONFIGURATION_MANAGER = "fbc52c3f-28ad-4303-a892-8a056630b8f1"
# The ALB controller's namespace and service account (the Helm chart's defaults), and the audience
# of a federated credential for Microsoft Entra workload ID
# (https://learn.microsoft.com/azure/aks/workload-identity-deploy-cluster#create-the-federated-identity-credential).
ALB_NAMESPACE = "azure-alb-system"
ALB_SERVICE_ACCOUNT = f"system:serviceaccount:{ALB_NAMESPACE}:alb-controller-sa"
TOKEN_AUDIENCE = "api://AzureADTokenExchange"

# --------------------------------------------------------------------------- keys

AGC_WAF = "ingress.agc.waf"
AGC_TC = "ingress.agc"
AGC_FRONTEND = "ingress.agc.frontend"
AGC_ASSOCIATION = "ingress.agc.association"
AGC_SECURITY_POLICY = "ingress.agc.security-policy"
AGC_IDENTITY = "ingress.agc.identity"
AGC_FEDERATION = "ingress.agc.federation"
APPGW_WAF = "ingress.appgw.waf"
APPGW_PIP = "ingress.appgw.pip"
APPGW_GATEWAY = "ingress.appgw"
AGC_KEYS = (AGC_WAF, AGC_TC, AGC_FRONTEND, AGC_ASSOCIATION, AGC_SECURITY_POLICY, AGC_IDENTITY, AGC_FEDERATION)
APPGW_KEYS = (APPGW_WAF, APPGW_PIP, APPGW_GATEWAY)

_AGC_FIELD = "app_gateway_for_containers"
_APPGW_FIELD = "app_gateway"


# --------------------------------------------------------------------------- names


def agc_name(cfg: DeploymentConfig) -> str:
    return f"agc-{cfg.name}"


def appgw_name(cfg: DeploymentConfig) -> str:
    return f"agw-{cfg.name}"


def waf_policy_name(cfg: DeploymentConfig, kind: str) -> str:
    return f"waf-{'agc' if kind == AGC else 'agw'}-{cfg.name}"


def _cluster_spoke_subnet(cfg: DeploymentConfig, field: str) -> str:
    return subnet_id(cfg, cfg.cluster_spoke_name, field)


def _vnet_lock(cfg: DeploymentConfig) -> str:
    """A write referencing a subnet waits for the VNet's other writes (Azure shows the VNet
    Updating while a subnet or peering is written: ReferencedResourceNotProvisioned)."""
    return arm_id(cfg, "Microsoft.Network/virtualNetworks", cfg.spoke_vnet_name(cfg.cluster_spoke_name)).lower()


# --------------------------------------------------------------------------- WAF policy


class WafPolicyStep(PlatformStep):
    """``Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies``: the mode, the
    current Default Rule Set and the bot manager set. Application Gateway for Containers and
    Application Gateway v2 take the same policy type. ``create_or_update`` is synchronous."""

    client = "network"
    operations = "web_application_firewall_policies"
    put_method = "create_or_update"
    put_is_lro = False
    resource_type = "Microsoft.Network/ApplicationGatewayWebApplicationFirewallPolicies"

    def __init__(self, key: str, cfg: DeploymentConfig, kind: str) -> None:
        super().__init__(key, cfg, (keys.RG,))
        self.kind = kind

    def names(self) -> tuple[str, ...]:
        return (waf_policy_name(self.cfg, self.kind),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return self.top(config, {
            "policySettings": {
                "state": "Enabled",
                "mode": config.ingress.waf_mode,
                "requestBodyCheck": True,
            },
            "managedRules": {
                "managedRuleSets": [
                    {"ruleSetType": t, "ruleSetVersion": v} for t, v in (DEFAULT_RULE_SET, BOT_MANAGER_RULE_SET)
                ],
            },
        })

    def delete_blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
        return waf_policy_blockers(ctx, observed, owned)


def waf_policy_blockers(ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
    """Application gateways this deployment does not own that still use the policy (Azure
    reports them in ``applicationGateways``; a security policy of someone else's traffic
    controller is not reported back, and keeps its own link)."""
    users = [str(g.get("id", "")) for g in props(observed).get("applicationGateways") or [] if isinstance(g, Mapping)]
    return [u for u in users if u and not owned.owns(u)]


# --------------------------------------------------------------------------- Application Gateway for Containers


class TrafficControllerStep(PlatformStep):
    """The Application Gateway for Containers resource (``Microsoft.ServiceNetworking/trafficControllers``)."""

    client = "servicenetworking"
    operations = "traffic_controller_interface"
    resource_type = "Microsoft.ServiceNetworking/trafficControllers"

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (keys.RG,))

    def names(self) -> tuple[str, ...]:
        return (agc_name(self.cfg),)

    def lock_keys(self) -> tuple[str, ...]:
        return (self.resource_id().lower(),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return self.top(config, {})

    def outputs(self, observed: Spec) -> Outputs:
        return out(observed, configuration_endpoints=props(observed).get("configurationEndpoints"))

    def delete_blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
        return traffic_controller_blockers(ctx, observed, owned)


def foreign_children(ctx: StepContext, owned_ids: list[str], owned: OwnedIds) -> list[str]:
    """Children this deployment did not create under its traffic controllers (one read each):
    deleting the resource group would delete them with their parent."""
    from hubspoke_deploy.orchestrator.clients import to_json
    from hubspoke_deploy.orchestrator.prune import API_VERSIONS

    tc_type = TrafficControllerStep.resource_type.lower()
    result: list[str] = []
    for rid in owned_ids:
        if f"/providers/{tc_type}/" not in rid.lower():
            continue
        from azure.core.exceptions import ResourceNotFoundError

        try:
            model = ctx.clients.get("resource").resources.get_by_id(rid, api_version=API_VERSIONS[tc_type])
        except ResourceNotFoundError:
            continue
        observed = to_json(model)
        if isinstance(observed, dict):
            result += traffic_controller_blockers(ctx, observed, owned)
    return result


def traffic_controller_blockers(ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
    """Frontends, associations or security policies this deployment did not create (an operator's
    frontend for another Gateway): deleting the traffic controller would delete them with it."""
    children = [str(c.get("id", "")) for key in ("frontends", "associations", "securityPolicies")
                for c in props(observed).get(key) or [] if isinstance(c, Mapping)]
    return [c for c in children if c and not owned.owns(c)]


class TrafficControllerChildStep(PlatformStep):
    """A frontend, association or security policy: tracked child resources of the traffic
    controller, written one at a time under it."""

    client = "servicenetworking"
    child_name: ClassVar[str] = ""

    def __init__(self, key: str, cfg: DeploymentConfig, requires: tuple[str, ...]) -> None:
        super().__init__(key, cfg, (AGC_TC, *requires))

    def names(self) -> tuple[str, ...]:
        return (agc_name(self.cfg), self.child_name)

    def lock_keys(self) -> tuple[str, ...]:
        return (arm_id(self.cfg, TrafficControllerStep.resource_type, agc_name(self.cfg)).lower(),)

    def child(self, config: Any, properties: Mapping[str, Any]) -> Spec:
        return {"location": config.location, "tags": dict(config.tags), "properties": dict(properties)}


class FrontendStep(TrafficControllerChildStep):
    """The entry point of client traffic: Azure gives it a unique FQDN (CNAME your host names to it)."""

    operations = "frontends_interface"
    resource_type = "Microsoft.ServiceNetworking/trafficControllers/frontends"
    child_name = "frontend"

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return self.child(config, {})

    def outputs(self, observed: Spec) -> Outputs:
        return out(observed, fqdn=props(observed).get("fqdn"))


class AssociationStep(TrafficControllerChildStep):
    """The traffic controller's connection to the delegated subnet of the cluster spoke."""

    operations = "associations_interface"
    resource_type = "Microsoft.ServiceNetworking/trafficControllers/associations"
    child_name = "association"
    # An association's subnet cannot be changed in place.
    immutable = ("properties.subnet",)

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (keys.subnet(cfg.cluster_spoke_name, _AGC_FIELD),))

    def lock_keys(self) -> tuple[str, ...]:
        return (*super().lock_keys(), _vnet_lock(self.cfg))

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return self.child(config, {
            "associationType": "subnets",
            "subnet": ref(upstream[keys.subnet(config.cluster_spoke_name, _AGC_FIELD)]["id"]),
        })


class SecurityPolicyStep(TrafficControllerChildStep):
    """Links the WAF policy to the traffic controller: the ALB controller's
    ``WebApplicationFirewallPolicy`` custom resources may then reference it."""

    operations = "security_policies_interface"
    resource_type = "Microsoft.ServiceNetworking/trafficControllers/securityPolicies"
    child_name = "waf"

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (AGC_WAF,))

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return self.child(config, {"wafPolicy": ref(upstream[AGC_WAF]["id"])})


class FederatedCredentialStep(PlatformStep):
    """Federates the ALB controller's identity with the cluster's OIDC issuer
    (``Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials``,
    synchronous)."""

    client = "msi"
    operations = "federated_identity_credentials"
    put_method = "create_or_update"
    put_is_lro = False
    delete_method = "delete"
    delete_is_lro = False
    resource_type = "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials"
    taggable: ClassVar[bool | None] = False

    def __init__(self, key: str, cfg: DeploymentConfig, cluster_key: str) -> None:
        super().__init__(key, cfg, (AGC_IDENTITY, cluster_key))
        self.cluster_key = cluster_key

    def names(self) -> tuple[str, ...]:
        return (identity_name(self.cfg, "alb"), "alb-controller")

    def lock_keys(self) -> tuple[str, ...]:
        # "Concurrent writes of federated identity credentials under the same managed identity
        # aren't supported" (https://learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations#concurrent-updates-arent-supported-user-assigned-managed-identities)
        return (identity_id(self.cfg, "alb").lower(),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        from hubspoke_deploy.orchestrator.diff import UNKNOWN

        issuer = upstream[self.cluster_key].get("oidc_issuer_url")
        return {
            "properties": {
                "issuer": issuer if isinstance(issuer, str) else UNKNOWN,
                "subject": ALB_SERVICE_ACCOUNT,
                "audiences": [TOKEN_AUDIENCE],
            }
        }


def agc_steps(cfg: DeploymentConfig) -> list[Step]:
    from hubspoke_deploy.steps.aks import CLUSTER

    tc_id = arm_id(cfg, TrafficControllerStep.resource_type, agc_name(cfg))
    waf_id = arm_id(cfg, WafPolicyStep.resource_type, waf_policy_name(cfg, AGC))
    alb = identity_id(cfg, "alb")
    subnet_key = keys.subnet(cfg.cluster_spoke_name, _AGC_FIELD)
    steps: list[Step] = [
        WafPolicyStep(AGC_WAF, cfg, AGC),
        TrafficControllerStep(AGC_TC, cfg),
        FrontendStep(AGC_FRONTEND, cfg, ()),
        AssociationStep(AGC_ASSOCIATION, cfg),
        SecurityPolicyStep(AGC_SECURITY_POLICY, cfg),
        UserAssignedIdentityStep(AGC_IDENTITY, cfg, "alb"),
        FederatedCredentialStep(AGC_FEDERATION, cfg, CLUSTER),
        RoleAssignmentStep(
            role_key(AGC_IDENTITY, "agc-config-manager", "agc"), cfg,
            scope=tc_id, role=AGC_CONFIGURATION_MANAGER, identity_key=AGC_IDENTITY, identity_resource_id=alb,
            requires=(AGC_TC,), scope_key=AGC_TC,
        ),
        RoleAssignmentStep(
            role_key(AGC_IDENTITY, "netcontrib", f"{cfg.cluster_spoke_name}.{_AGC_FIELD}"), cfg,
            scope=_cluster_spoke_subnet(cfg, _AGC_FIELD), role=NETWORK_CONTRIBUTOR, identity_key=AGC_IDENTITY,
            identity_resource_id=alb, requires=(subnet_key,), scope_key=subnet_key,
        ),
        RoleAssignmentStep(
            role_key(AGC_IDENTITY, "netcontrib", "waf"), cfg,
            scope=waf_id, role=NETWORK_CONTRIBUTOR, identity_key=AGC_IDENTITY, identity_resource_id=alb,
            requires=(AGC_WAF,), scope_key=AGC_WAF,
        ),
    ]
    return steps


# --------------------------------------------------------------------------- Application Gateway WAF_v2


class ApplicationGatewayStep(PlatformStep):
    """Application Gateway WAF_v2 in its own subnet: zone-redundant, autoscaling, the WAF policy
    attached, a public frontend (the Standard static IP the WAF protects) and a private one, and
    the minimal valid routing: an HTTP listener on the public frontend, a rule with a priority,
    an empty backend pool (the workloads' internal load balancer or pods are added by the
    operator or an ingress controller) and its HTTP settings.
    https://learn.microsoft.com/azure/application-gateway/configuration-infrastructure,
    https://learn.microsoft.com/azure/application-gateway/application-gateway-autoscaling-zone-redundant,
    https://learn.microsoft.com/azure/web-application-firewall/ag/policy-overview"""

    client = "network"
    operations = "application_gateways"
    resource_type = "Microsoft.Network/applicationGateways"
    # Zones are fixed at creation; so is the subnet of a running gateway's IP configuration
    # (changing it needs the gateway stopped).
    immutable = ("zones",)
    unordered = ("zones",)

    def __init__(self, key: str, cfg: DeploymentConfig) -> None:
        super().__init__(key, cfg, (keys.RG, APPGW_WAF, APPGW_PIP, keys.subnet(cfg.cluster_spoke_name, _APPGW_FIELD)))

    def names(self) -> tuple[str, ...]:
        return (appgw_name(self.cfg),)

    def lock_keys(self) -> tuple[str, ...]:
        return (self.resource_id().lower(), _vnet_lock(self.cfg))

    def _sub(self, kind: str, name: str) -> dict[str, str]:
        return ref(f"{self.resource_id()}/{kind}/{name}")

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        ing = config.ingress
        prefix = getattr(config.cluster_spoke.subnets, _APPGW_FIELD)
        private_ip = ing.private_ip or default_private_ip(prefix)
        subnet = ref(upstream[keys.subnet(config.cluster_spoke_name, _APPGW_FIELD)]["id"])
        properties: dict[str, Any] = {
            "sku": {"name": "WAF_v2", "tier": "WAF_v2"},
            "autoscaleConfiguration": {"minCapacity": ing.min_capacity, "maxCapacity": ing.max_capacity},
            "firewallPolicy": ref(upstream[APPGW_WAF]["id"]),
            "gatewayIPConfigurations": [{"name": "gateway", "properties": {"subnet": subnet}}],
            "frontendIPConfigurations": [
                {"name": "public", "properties": {"publicIPAddress": ref(upstream[APPGW_PIP]["id"])}},
                {"name": "private", "properties": {
                    "privateIPAllocationMethod": "Static", "privateIPAddress": private_ip, "subnet": subnet}},
            ],
            "frontendPorts": [{"name": "http", "properties": {"port": 80}}],
            "backendAddressPools": [{"name": "workloads", "properties": {}}],
            "backendHttpSettingsCollection": [{"name": "http", "properties": {
                "port": 80, "protocol": "Http", "cookieBasedAffinity": "Disabled", "requestTimeout": 30}}],
            "httpListeners": [{"name": "public-http", "properties": {
                "frontendIPConfiguration": self._sub("frontendIPConfigurations", "public"),
                "frontendPort": self._sub("frontendPorts", "http"),
                "protocol": "Http"}}],
            "requestRoutingRules": [{"name": "public-http", "properties": {
                "ruleType": "Basic",
                # v2 rules need a priority (api-version 2021-08-01 and later):
                # https://learn.microsoft.com/azure/application-gateway/configuration-request-routing-rules#rule-priority
                "priority": 100,
                "httpListener": self._sub("httpListeners", "public-http"),
                "backendAddressPool": self._sub("backendAddressPools", "workloads"),
                "backendHttpSettings": self._sub("backendHttpSettingsCollection", "http")}}],
        }
        extra: dict[str, Any] = {"zones": list(ing.zones)} if ing.zones else {}
        return self.top(config, properties, **extra)

    def body(self, spec: Spec, observed: Spec | None) -> Spec:
        """The backend pool's addresses belong to the operator (or an ingress controller): the step
        does not own them, so every write carries over what Azure has."""
        body = super().body(spec, observed)
        have = {str(p.get("name", "")).lower(): p for p in props(observed or {}).get("backendAddressPools") or []
                if isinstance(p, Mapping)}
        pools = []
        for pool in body["properties"].get("backendAddressPools") or []:
            addresses = ((have.get(str(pool["name"]).lower()) or {}).get("properties") or {}).get("backendAddresses")
            if addresses:
                pool = {**pool, "properties": {**pool.get("properties", {}), "backendAddresses": addresses}}
            pools.append(pool)
        body["properties"]["backendAddressPools"] = pools
        return body

    def outputs(self, observed: Spec) -> Outputs:
        private_ip = None
        for fe in props(observed).get("frontendIPConfigurations") or []:
            if isinstance(fe, Mapping) and fe.get("name") == "private":
                private_ip = (fe.get("properties") or {}).get("privateIPAddress")
        return out(observed, private_ip=private_ip)


def appgw_steps(cfg: DeploymentConfig) -> list[Step]:
    zones = list(cfg.ingress.zones)
    return [
        WafPolicyStep(APPGW_WAF, cfg, APPGW),
        PublicIpStep(APPGW_PIP, cfg, f"pip-agw-{cfg.name}", zones=zones),
        ApplicationGatewayStep(APPGW_GATEWAY, cfg),
    ]


# --------------------------------------------------------------------------- assembly


def ingress_steps(cfg: DeploymentConfig) -> list[Step]:
    """The gateway of ``[ingress]``, or nothing (the firewall's DNAT, or no subnet for it)."""
    kind = managed_ingress(cfg)
    if kind == AGC:
        return agc_steps(cfg)
    if kind == APPGW:
        return appgw_steps(cfg)
    return []


def ingress_outputs(cfg: DeploymentConfig, step_outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What an operator needs next to publish a workload. Never a credential."""
    kind = managed_ingress(cfg)
    if kind is None:
        return {"ingress_kind": "firewall-dnat"} if cfg.firewall.dnat_rules else {}

    def get(key: str, field: str) -> Any:
        value = step_outputs.get(key) or {}
        return value.get(field) if isinstance(value, Mapping) else None

    rg = cfg.resource_group
    if kind == AGC:
        tc_id = get(AGC_TC, "id") or arm_id(cfg, TrafficControllerStep.resource_type, agc_name(cfg))
        waf_id = get(AGC_WAF, "id") or arm_id(cfg, WafPolicyStep.resource_type, waf_policy_name(cfg, AGC))
        client_id = get(AGC_IDENTITY, "client_id") or "<client id of " + identity_name(cfg, "alb") + ">"
        return {
            "ingress_kind": AGC,
            "agc_id": tc_id,
            "agc_frontend": "frontend",
            "agc_frontend_fqdn": get(AGC_FRONTEND, "fqdn"),
            "waf_policy_id": waf_id,
            "alb_controller_identity_client_id": get(AGC_IDENTITY, "client_id"),
            "ingress_next_step": (
                f"az aks get-credentials --resource-group {rg} --name {cfg.aks_name} && "
                f"helm install alb-controller oci://mcr.microsoft.com/application-lb/charts/alb-controller "
                f"--namespace {ALB_NAMESPACE} --create-namespace --set albController.namespace={ALB_NAMESPACE} "
                f"--set albController.podIdentity.clientID={client_id}; then a Gateway with the annotation "
                f"alb.networking.azure.io/alb-id: {tc_id} and the address type alb.networking.azure.io/alb-frontend "
                f"= frontend, and a WebApplicationFirewallPolicy whose webApplicationFirewall.id is {waf_id}"
            ),
        }
    pip = step_outputs.get(APPGW_PIP) or {}
    return {
        "ingress_kind": APPGW,
        "application_gateway_id": get(APPGW_GATEWAY, "id") or arm_id(cfg, ApplicationGatewayStep.resource_type,
                                                             appgw_name(cfg)),
        "application_gateway_public_ip": pip.get("ip_address") if isinstance(pip, Mapping) else None,
        "application_gateway_private_ip": get(APPGW_GATEWAY, "private_ip"),
        "waf_policy_id": get(APPGW_WAF, "id"),
        "ingress_next_step": (
            f"add the workloads' internal load balancer address to the backend pool 'workloads' of "
            f"{appgw_name(cfg)} (az network application-gateway address-pool update --resource-group {rg} "
            f"--gateway-name {appgw_name(cfg)} --name workloads --servers <ILB IP>)"
        ),
    }
