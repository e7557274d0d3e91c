"""The private AKS cluster, its agent pools and its diagnostic setting (issue 6).

One cluster PUT creates the cluster with both pools (``agentPoolProfiles``; one
LRO, not two). After creation the cluster step ignores ``agentPoolProfiles``
(diff and body) and each pool is converged by its own agent-pool step, so a
pool change (e.g. the user pool's max count) is one agent-pool PUT and never a
cluster PUT. The pool steps find the pools created by the cluster PUT already
matching: no write.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, ClassVar

from hubspoke_deploy.config import DeploymentConfig, NodePool
from hubspoke_deploy.orchestrator.diff import Change
from hubspoke_deploy.orchestrator.step import Outputs, Spec, Step
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.base import arm_id, out, props
from hubspoke_deploy.steps.identity import (
    ACR_PULL,
    ID_CONTROL_PLANE,
    ID_KUBELET,
    MANAGED_IDENTITY_OPERATOR,
    NETWORK_CONTRIBUTOR,
    PRIVATE_DNS_ZONE_CONTRIBUTOR,
    PlatformStep,
    RoleAssignmentStep,
    UserAssignedIdentityStep,
    identity_id,
    role_key,
)
from hubspoke_deploy.steps.network import NODE_SUBNETS, subnet_id
from hubspoke_deploy.steps.paas import ACR, acr_id, aks_dns_zone, dns_link_key, dns_zone_id, dns_zone_key

# --------------------------------------------------------------------------- keys

CLUSTER = "aks"
CLUSTER_DIAG = "aks.diag"


def pool_key(pool: str) -> str:
    return f"aks.pool.{pool}"


def cluster_id(cfg: DeploymentConfig) -> str:
    return arm_id(cfg, "Microsoft.ContainerService/managedClusters", cfg.aks_name)


SYSTEM_POOL_TAINT = "CriticalAddonsOnly=true:NoSchedule"

# Control-plane log categories of AKS
# (https://learn.microsoft.com/azure/aks/monitor-aks-reference#resource-logs). kube-audit-admin
# instead of kube-audit: the same audit trail without get/list events (a fraction of the cost).
AKS_LOG_CATEGORIES = (
    "kube-apiserver",
    "kube-audit-admin",
    "kube-controller-manager",
    "kube-scheduler",
    "cluster-autoscaler",
    "cloud-controller-manager",
    "guard",
    "csi-azuredisk-controller",
    "csi-azurefile-controller",
    "csi-snapshot-controller",
)


def cluster_subnet_fields(cfg: DeploymentConfig) -> list[str]:
    """Node (and pod) subnets of the cluster spoke that exist in the config."""
    subnets = cfg.cluster_spoke.subnets
    return [f for f in NODE_SUBNETS if getattr(subnets, f, None)]


def _route_table_id(cfg: DeploymentConfig, spoke: str) -> str:
    from hubspoke_deploy.steps.firewall import route_table_name

    return arm_id(cfg, "Microsoft.Network/routeTables", route_table_name(cfg, spoke))


# --------------------------------------------------------------------------- agent pool profiles


def pool_properties(cfg: DeploymentConfig, pool: NodePool, *, system: bool) -> dict[str, Any]:
    """Agent pool properties (the same in ``agentPoolProfiles`` and in an agent-pool PUT)."""
    subnets = cfg.cluster_spoke.subnets
    node_field = "system_nodes" if system else "user_nodes"
    spoke = cfg.cluster_spoke_name
    p: dict[str, Any] = {
        "mode": "System" if system else "User",
        "type": "VirtualMachineScaleSets",
        "osType": "Linux",
        "vmSize": pool.vm_size,
        "count": pool.count,
        "enableAutoScaling": pool.autoscaling,
        "availabilityZones": list(pool.zones),
        "maxPods": pool.max_pods,
        "osDiskType": pool.os_disk_type,
        "osDiskSizeGB": pool.os_disk_size_gb,
        "vnetSubnetID": subnet_id(cfg, spoke, node_field),
        # Workloads stay off the system pool while a user pool exists for them.
        "nodeTaints": [SYSTEM_POOL_TAINT] if system and cfg.aks.user_pool.enabled else [],
    }
    if pool.autoscaling:
        p["minCount"] = pool.min_count
        p["maxCount"] = pool.max_count
    if not cfg.aks.overlay and getattr(subnets, "pods", None):
        p["podSubnetID"] = subnet_id(cfg, spoke, "pods")
    return p


def pools(cfg: DeploymentConfig) -> list[tuple[NodePool, bool]]:
    result: list[tuple[NodePool, bool]] = [(cfg.aks.system_pool, True)]
    if cfg.aks.user_pool.enabled:
        result.append((cfg.aks.user_pool, False))
    return result


# --------------------------------------------------------------------------- cluster


class ManagedClusterStep(PlatformStep):
    client = "containerservice"
    operations = "managed_clusters"
    resource_type = "Microsoft.ContainerService/managedClusters"
    # What AKS cannot change in place (a change means a new cluster):
    # https://learn.microsoft.com/azure/aks/concepts-network (network plugin / CIDRs),
    # https://learn.microsoft.com/azure/aks/private-clusters (private cluster flag, DNS zone).
    immutable = (
        "location",
        "properties.dnsPrefix",
        "properties.networkProfile.networkPlugin",
        "properties.networkProfile.networkPluginMode",
        "properties.networkProfile.networkDataplane",
        "properties.networkProfile.podCidr",
        "properties.networkProfile.serviceCidr",
        "properties.networkProfile.dnsServiceIP",
        "properties.apiServerAccessProfile.enablePrivateCluster",
        "properties.apiServerAccessProfile.enableVnetIntegration",
        "properties.apiServerAccessProfile.subnetId",
        "properties.apiServerAccessProfile.privateDNSZone",
        "properties.identityProfile",
        "properties.agentPoolProfiles.vnetSubnetID",
        "properties.agentPoolProfiles.podSubnetID",
    )
    unordered = ("properties.aadProfile.adminGroupObjectIDs",)
    # Switched off in the config = absent in Azure (most of these force a replacement).
    owns: ClassVar[Mapping[str, Any]] = {
        "properties.networkProfile.networkPluginMode": None,
        "properties.networkProfile.podCidr": None,
        "properties.apiServerAccessProfile.enableVnetIntegration": None,
        "properties.apiServerAccessProfile.subnetId": None,
        "properties.apiServerAccessProfile.privateDNSZone": None,
    }

    def names(self) -> tuple[str, ...]:
        return (self.cfg.aks_name,)

    def lock_keys(self) -> tuple[str, ...]:
        # Cluster and agent-pool writes are serialised by AKS (OperationNotAllowed otherwise).
        return (self.resource_id().lower(),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        aks = config.aks
        cp_id = identity_id(config, "aks")
        kubelet = upstream[ID_KUBELET]
        api: dict[str, Any] = {"enablePrivateCluster": aks.private_cluster}
        if aks.private_cluster:
            # Our own zone (linked to the hub, where the firewall's DNS proxy resolves, and to
            # every spoke: the hub-and-spoke pattern of
            # https://learn.microsoft.com/azure/aks/private-clusters#hub-and-spoke-with-custom-dns),
            # or AKS's, linked to the cluster VNet only.
            zone = aks_dns_zone(config)
            api["privateDNSZone"] = dns_zone_id(config, zone) if zone else "system"
            api["enablePrivateClusterPublicFQDN"] = False
        if aks.api_server_vnet_integration:
            # https://learn.microsoft.com/azure/aks/api-server-vnet-integration
            api["enableVnetIntegration"] = True
            api["subnetId"] = subnet_id(config, config.cluster_spoke_name, "api_server")
        network: dict[str, Any] = {
            "networkPlugin": aks.network_plugin,
            "networkDataplane": aks.network_dataplane,
            "networkPolicy": aks.network_policy,
            "serviceCidr": aks.service_cidr,
            "dnsServiceIP": aks.dns_service_ip,
            # Egress through the firewall: the node subnets carry the 0.0.0.0/0 route
            # (https://learn.microsoft.com/azure/aks/egress-outboundtype#outbound-type-of-userdefinedrouting).
            "outboundType": "userDefinedRouting",
            "loadBalancerSku": "standard",
        }
        if aks.overlay:
            network["networkPluginMode"] = "overlay"
            network["podCidr"] = aks.pod_cidr
        addons: dict[str, Any] = {
            "azureKeyvaultSecretsProvider": {
                "enabled": aks.key_vault_secrets_provider,
                "config": {
                    "enableSecretRotation": "true" if aks.secret_rotation else "false",
                    "rotationPollInterval": "2m",
                }
                if aks.key_vault_secrets_provider
                else None,
            },
            "azurepolicy": {"enabled": aks.azure_policy},
            "omsagent": {
                "enabled": aks.monitoring,
                "config": {"logAnalyticsWorkspaceResourceID": upstream[keys.WORKSPACE]["id"], "useAADAuth": "true"}
                if aks.monitoring
                else None,
            },
        }
        properties: dict[str, Any] = {
            "dnsPrefix": config.dns_prefix,
            "enableRBAC": True,
            "disableLocalAccounts": aks.local_accounts_disabled,
            "aadProfile": {
                "managed": True,
                "enableAzureRBAC": aks.azure_rbac,
                "adminGroupObjectIDs": list(aks.admin_group_object_ids),
            },
            "identityProfile": {
                "kubeletidentity": {
                    "resourceId": identity_id(config, "kubelet"),
                    "clientId": kubelet["client_id"],
                    "objectId": kubelet["principal_id"],
                }
            },
            "agentPoolProfiles": [
                {"name": pool.name, **pool_properties(config, pool, system=system)} for pool, system in pools(config)
            ],
            "networkProfile": network,
            "apiServerAccessProfile": api,
            "oidcIssuerProfile": {"enabled": aks.oidc_issuer},
            "securityProfile": {"workloadIdentity": {"enabled": aks.workload_identity}},
            "addonProfiles": addons,
            "autoUpgradeProfile": {
                "upgradeChannel": aks.upgrade_channel,
                "nodeOSUpgradeChannel": aks.node_os_upgrade_channel,
            },
        }
        if aks.kubernetes_version:
            properties["kubernetesVersion"] = aks.kubernetes_version
        from hubspoke_deploy.steps.security import defender_profile

        defender = defender_profile(config, upstream)
        if defender:
            properties["securityProfile"] = {**(properties.get("securityProfile") or {}), **defender}
        return self.top(
            config,
            properties,
            sku={"name": "Base", "tier": aks.tier},
            identity={"type": "UserAssigned", "userAssignedIdentities": {cp_id: {}}},
        )

    def diff(self, spec: Spec, observed: Spec) -> list[Change]:
        # After creation the pools belong to the agent-pool steps.
        spec = _without_pools(_lower_identity_keys(spec))
        observed = _lower_identity_keys(observed)
        return super().diff(spec, observed)

    def body(self, spec: Spec, observed: Spec | None) -> Spec:
        result = super().body(spec, observed)
        if observed is not None:
            # A cluster update must not touch the pools: send them as they are (autoscaled
            # counts included); pool changes go through the agent-pool steps.
            current = (observed.get("properties") or {}).get("agentPoolProfiles")
            if isinstance(current, list) and current:
                result = copy.deepcopy(result)
                result["properties"]["agentPoolProfiles"] = current
        return result

    def outputs(self, observed: Spec) -> Outputs:
        p = props(observed)
        oidc = p.get("oidcIssuerProfile") or {}
        return out(
            observed,
            private_fqdn=p.get("privateFQDN"),
            fqdn=p.get("fqdn"),
            node_resource_group=p.get("nodeResourceGroup"),
            oidc_issuer_url=oidc.get("issuerURL") if isinstance(oidc, Mapping) else None,
        )


def _without_pools(spec: Spec) -> Spec:
    result = dict(spec)
    properties = dict(result.get("properties") or {})
    properties.pop("agentPoolProfiles", None)
    result["properties"] = properties
    return result


def _lower_identity_keys(resource: Spec) -> Spec:
    """ARM may return ``userAssignedIdentities`` keys in another casing than sent."""
    identity = resource.get("identity")
    if not isinstance(identity, Mapping):
        return resource
    uai = identity.get("userAssignedIdentities")
    if not isinstance(uai, Mapping):
        return resource
    result = dict(resource)
    result["identity"] = {**identity, "userAssignedIdentities": {str(k).lower(): v for k, v in uai.items()}}
    return result


class AgentPoolStep(PlatformStep):
    """One agent pool; created by the cluster PUT, then converged alone (one agent-pool PUT per change)."""

    client = "containerservice"
    operations = "agent_pools"
    resource_type = "Microsoft.ContainerService/managedClusters/agentPools"
    # Node VM shape and placement cannot change on an existing pool
    # (https://learn.microsoft.com/azure/aks/resize-node-pool: "create a new node pool").
    immutable = (
        "properties.vmSize",
        "properties.osType",
        "properties.osDiskType",
        "properties.osDiskSizeGB",
        "properties.availabilityZones",
        "properties.maxPods",
        "properties.vnetSubnetID",
        "properties.podSubnetID",
    )
    unordered = ("properties.availabilityZones", "properties.nodeTaints")

    def __init__(self, key: str, cfg: DeploymentConfig, pool: NodePool, *, system: bool) -> None:
        super().__init__(key, cfg, (CLUSTER,))
        self.pool = pool
        self.system = system

    def names(self) -> tuple[str, ...]:
        return (self.cfg.aks_name, self.pool.name)

    def lock_keys(self) -> tuple[str, ...]:
        return (cluster_id(self.cfg).lower(),)

    def desired(self, config: Any, upstream: Mapping[str, Outputs]) -> Spec:
        return {"properties": pool_properties(config, self.pool, system=self.system)}

    def diff(self, spec: Spec, observed: Spec) -> list[Change]:
        if self.pool.autoscaling:
            # The autoscaler owns the node count between min and max.
            spec = {**spec, "properties": {k: v for k, v in spec["properties"].items() if k != "count"}}
        return super().diff(spec, observed)

    def body(self, spec: Spec, observed: Spec | None) -> Spec:
        result = copy.deepcopy(super().body(spec, observed))
        current = (observed or {}).get("properties", {}).get("count") if observed else None
        if self.pool.autoscaling and isinstance(current, int):
            # Keep the autoscaled count, within the (possibly new) bounds.
            result["properties"]["count"] = min(max(current, self.pool.min_count), self.pool.max_count)
        return result


# --------------------------------------------------------------------------- assembly


def identity_steps(cfg: DeploymentConfig) -> list[Step]:
    """The two identities and every role assignment the cluster needs."""
    spoke = cfg.cluster_spoke_name
    cp, kubelet = identity_id(cfg, "aks"), identity_id(cfg, "kubelet")
    steps: list[Step] = [
        UserAssignedIdentityStep(ID_CONTROL_PLANE, cfg, "aks"),
        UserAssignedIdentityStep(ID_KUBELET, cfg, "kubelet"),
    ]
    # Network Contributor on exactly the subnets AKS joins (and the API server subnet
    # with VNet integration) and on the route table, not on the resource group:
    # https://learn.microsoft.com/azure/aks/configure-azure-cni#prerequisites,
    # https://learn.microsoft.com/azure/aks/api-server-vnet-integration#prerequisites,
    # https://learn.microsoft.com/azure/aks/egress-outboundtype (BYO route table needs it).
    fields = cluster_subnet_fields(cfg)
    if cfg.aks.api_server_vnet_integration:
        fields.append("api_server")
    for field in fields:
        scope_key = keys.subnet(spoke, field)
        steps.append(
            RoleAssignmentStep(
                role_key(ID_CONTROL_PLANE, "netcontrib", f"{spoke}.{field}"), cfg,
                scope=subnet_id(cfg, spoke, field), role=NETWORK_CONTRIBUTOR,
                identity_key=ID_CONTROL_PLANE, identity_resource_id=cp,
                requires=(scope_key,), scope_key=scope_key,
            )
        )
    if cluster_subnet_fields(cfg):
        rt_key = keys.route_table(spoke)
        steps.append(
            RoleAssignmentStep(
                role_key(ID_CONTROL_PLANE, "netcontrib", f"rt.{spoke}"), cfg,
                scope=_route_table_id(cfg, spoke), role=NETWORK_CONTRIBUTOR,
                identity_key=ID_CONTROL_PLANE, identity_resource_id=cp,
                requires=(rt_key,), scope_key=rt_key,
            )
        )
    steps.append(
        RoleAssignmentStep(
            role_key(ID_CONTROL_PLANE, "mi-operator", "kubelet"), cfg,
            scope=kubelet, role=MANAGED_IDENTITY_OPERATOR,
            identity_key=ID_CONTROL_PLANE, identity_resource_id=cp,
            requires=(ID_KUBELET,), scope_key=ID_KUBELET,
        )
    )
    zone = aks_dns_zone(cfg)
    if zone:
        # A private cluster with its own zone: the control plane writes the API server's record
        # (https://learn.microsoft.com/azure/aks/private-clusters#configure-a-private-dns-zone).
        steps.append(
            RoleAssignmentStep(
                role_key(ID_CONTROL_PLANE, "dnszone", "aks"), cfg,
                scope=dns_zone_id(cfg, zone), role=PRIVATE_DNS_ZONE_CONTRIBUTOR,
                identity_key=ID_CONTROL_PLANE, identity_resource_id=cp,
                requires=(dns_zone_key(zone),), scope_key=dns_zone_key(zone),
            )
        )
    steps.append(
        RoleAssignmentStep(
            role_key(ID_KUBELET, "acrpull", "acr"), cfg,
            scope=acr_id(cfg), role=ACR_PULL,
            identity_key=ID_KUBELET, identity_resource_id=kubelet,
            requires=(ACR,), scope_key=ACR,
        )
    )
    return steps


def cluster_steps(cfg: DeploymentConfig, role_keys: list[str]) -> list[Step]:
    from hubspoke_deploy.steps.firewall import DiagnosticSettingStep

    spoke = cfg.cluster_spoke_name
    requires: list[str] = [keys.RG, keys.WORKSPACE, ID_CONTROL_PLANE, ID_KUBELET, *role_keys]
    # Node subnets are created already associated with the route table (0.0.0.0/0 to the
    # firewall); the firewall itself requires its rule collection groups, so the AKS egress
    # allowlist is in place before the nodes boot.
    requires += [keys.subnet(spoke, f) for f in cluster_subnet_fields(cfg)]
    requires.append(keys.FIREWALL)
    if cfg.aks.api_server_vnet_integration:
        requires.append(keys.subnet(spoke, "api_server"))
    zone = aks_dns_zone(cfg)
    if zone:
        # Nodes resolve the API server when they boot: through the firewall's proxy (the hub's
        # link) or from their own VNet. All the zone's links come first: AKS writes the API
        # server's record into the zone, which Azure refuses while a link write has it Updating.
        requires += [dns_link_key(zone, owner) for owner in (keys.HUB, *(s.name for s in cfg.spokes))]
    steps: list[Step] = [ManagedClusterStep(CLUSTER, cfg, tuple(dict.fromkeys(requires)))]
    for pool, system in pools(cfg):
        steps.append(AgentPoolStep(pool_key(pool.name), cfg, pool, system=system))
    steps.append(
        DiagnosticSettingStep(
            CLUSTER_DIAG, cfg, cluster_id(cfg), f"diag-{cfg.workspace_name}", AKS_LOG_CATEGORIES,
            (CLUSTER, keys.WORKSPACE),
        )
    )
    return steps
