"""Pure tests of the platform steps (issue 6): desired bodies, ordering, diff behaviour, outputs."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hubspoke_deploy.config import DeploymentConfig, load_config_dict
from hubspoke_deploy.orchestrator.diff import UNKNOWN
from hubspoke_deploy.orchestrator.engine import build_graph, critical_path, step_has_tags
from hubspoke_deploy.orchestrator.step import Step
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.aks import AgentPoolStep, ManagedClusterStep
from hubspoke_deploy.steps.identity import (
    ACR_PULL,
    MANAGED_IDENTITY_OPERATOR,
    NETWORK_CONTRIBUTOR,
    RoleAssignmentStep,
    role_assignment_name,
)
from hubspoke_deploy.steps.platform import platform_outputs, platform_steps

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
SUB = "3f2a6c1e-8b4d-4e2a-9c7f-1a2b3c4d5e6f"


def raw(name: str) -> dict[str, Any]:
    with (EXAMPLES / name).open("rb") as fh:
        return tomllib.load(fh)


def load(data: dict[str, Any]) -> DeploymentConfig:
    return load_config_dict(data, env={})


def prod() -> DeploymentConfig:
    return load(raw("prod.toml"))


def variant(base: str = "prod.toml", **sections: dict[str, Any]) -> DeploymentConfig:
    data = copy.deepcopy(raw(base))
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return load(data)


class FakeUpstream(dict[str, dict[str, Any]]):
    """Outputs of upstream steps as the engine would pass them after creation."""

    def __missing__(self, key: str) -> dict[str, Any]:
        value = {
            "id": f"/subscriptions/{SUB}/resourceGroups/rg/providers/X/{key}",
            "name": key,
            "principal_id": f"pid-{key}",
            "client_id": f"cid-{key}",
            "tenant_id": "tenant-1",
            "blob_endpoint": "https://st.blob.core.windows.net/",
        }
        self[key] = value
        return value


class UnknownOutputs(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        return UNKNOWN


class PlanUpstream(dict[str, Any]):
    """What ``plan`` passes for not-yet-created upstream resources."""

    def __missing__(self, key: str) -> Any:
        return UnknownOutputs()


def by_key(cfg: DeploymentConfig) -> dict[str, Step]:
    return {s.key: s for s in platform_steps(cfg)}


def spec_of(cfg: DeploymentConfig, key: str, upstream: Mapping[str, Any] | None = None) -> dict[str, Any]:
    step = by_key(cfg)[key]
    return step.desired(cfg, upstream if upstream is not None else FakeUpstream())


# --------------------------------------------------------------------------- graph


def full_graph(cfg: DeploymentConfig) -> dict[str, Step]:
    from hubspoke_deploy.steps.firewall import firewall_steps
    from hubspoke_deploy.steps.network import foundation_steps

    return build_graph([*foundation_steps(cfg), *firewall_steps(cfg), *platform_steps(cfg)])


def ancestors(graph: Mapping[str, Step], key: str) -> set[str]:
    seen: set[str] = set()
    stack = list(graph[key].requires)
    while stack:
        k = stack.pop()
        if k not in seen:
            seen.add(k)
            stack.extend(graph[k].requires)
    return seen


@pytest.mark.parametrize(
    "cfg_factory",
    [
        prod,
        lambda: load(raw("sandbox.toml")),
        lambda: variant(aks={"api_server_vnet_integration": False}),
        lambda: variant(firewall={"nat_gateway": True, "public_ip_count": 1}),
        lambda: variant(bastion={"enabled": False}),
    ],
    ids=["prod", "sandbox", "no-vnet-integration", "nat-gateway", "no-bastion"],
)
def test_graph_is_valid_with_the_other_parts(cfg_factory: Any) -> None:
    cfg = cfg_factory()
    graph = full_graph(cfg)  # raises on unknown requires / cycles
    assert "aks" in graph and "aks.diag" in graph


def test_only_what_needs_the_firewall_waits_for_it() -> None:
    graph = full_graph(prod())
    independent = [
        "id.aks", "id.kubelet", "st", "acr", "kv", "bastion", "bastion.pip", "jumpbox.nsg",
        "ra.kubelet.acrpull.acr", "ra.aks.mi-operator.kubelet", "ra.aks.dnszone.aks",
        "dns.privatelink.azurecr.io", "dns.privatelink.azurecr.io.link.hub",
        "dns.privatelink.westeurope.azmk8s.io.link.hub",
    ]
    # the route tables know the firewall's address in advance (issue 15): subnets, endpoints, the NIC
    independent += ["rt.aks", "subnet.aks.system_nodes", "jumpbox.nic", "pe.acr", "pe.kv", "pe.blob",
                    "subnet.apps.jumpbox", "ra.aks.netcontrib.rt.aks"]
    for key in independent:
        assert keys.FIREWALL not in ancestors(graph, key), key
    # what must not start without egress waits for it
    for key in ("aks", "jumpbox.vm", "rt.aks.next-hop", "fw.rcg.registries"):
        assert keys.FIREWALL in ancestors(graph, key), key


def test_azure_ordering_rules() -> None:
    graph = full_graph(prod())
    aks_before = ancestors(graph, "aks")
    # identities and every role assignment before the cluster
    roles = {k for k, s in graph.items() if isinstance(s, RoleAssignmentStep)}
    assert roles and roles <= aks_before
    assert {"id.aks", "id.kubelet"} <= aks_before
    # route table association: the routed node subnets (which require the route table)
    assert {"subnet.aks.system_nodes", "subnet.aks.user_nodes", "rt.aks"} <= aks_before
    assert "subnet.aks.api_server" in aks_before
    # DNS zones before zone groups, targets before endpoints
    assert "dns.privatelink.azurecr.io" in graph["pe.acr.dns"].requires
    assert "dns.privatelink.vaultcore.azure.net" in graph["pe.kv.dns"].requires
    assert "dns.privatelink.blob.core.windows.net" in graph["pe.blob.dns"].requires
    assert "acr" in graph["pe.acr"].requires and "kv" in graph["pe.kv"].requires and "st" in graph["pe.blob"].requires
    # pools and diagnostics after the cluster
    assert graph["aks.pool.user"].requires == ("aks",)
    assert "aks" in graph["aks.diag"].requires


def test_critical_path_starts_with_the_firewall_not_the_platform() -> None:
    graph = full_graph(prod())
    remaining = critical_path(graph)
    # The platform resources that do not need the firewall finish well before it.
    assert remaining["jumpbox.vm"] < remaining["fw"]
    assert remaining["bastion"] < remaining["fw"]


# --------------------------------------------------------------------------- identities and roles


def test_role_assignments_are_least_privilege_and_deterministic() -> None:
    cfg = prod()
    steps = by_key(cfg)
    roles = {k: s for k, s in steps.items() if isinstance(s, RoleAssignmentStep)}
    rg_scope = f"/subscriptions/{SUB}/resourceGroups/{cfg.resource_group}"
    scopes = {s.scope for s in roles.values()}
    assert rg_scope not in scopes  # never the resource group
    by_role: dict[str, set[str]] = {}
    for s in roles.values():
        by_role.setdefault(s.role, set()).add(s.scope.rsplit("/", 1)[-1])
    assert by_role[NETWORK_CONTRIBUTOR] == {
        "snet-system-nodes", "snet-user-nodes", "snet-api-server", "rt-aks-prod-aks",
    }
    assert by_role[ACR_PULL] == {cfg.acr_name}
    assert by_role[MANAGED_IDENTITY_OPERATOR] == {"id-aks-prod-kubelet"}
    for s in roles.values():
        spec = s.desired(cfg, FakeUpstream())
        assert spec["properties"]["principalType"] == "ServicePrincipal"
        assert spec["properties"]["roleDefinitionId"] == (
            f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{s.role}"
        )
        assert spec["properties"]["principalId"] == f"pid-{s.identity_key}"
        # name = uuid5(scope, role, principal): stable across runs, distinct per triple
        uuid.UUID(s.assignment_name)
        assert s.resource_id().endswith(f"/providers/Microsoft.Authorization/roleAssignments/{s.assignment_name}")
    assert len({s.assignment_name for s in roles.values()}) == len(roles)
    again = {s.key: s.assignment_name for s in platform_steps(prod()) if isinstance(s, RoleAssignmentStep)}
    assert again == {k: s.assignment_name for k, s in roles.items()}
    same = role_assignment_name("/a", NETWORK_CONTRIBUTOR, "/p")
    assert role_assignment_name("/A", NETWORK_CONTRIBUTOR, "/P") == same


def test_kubelet_acrpull_principal_is_the_kubelet_identity() -> None:
    step = by_key(prod())["ra.kubelet.acrpull.acr"]
    assert isinstance(step, RoleAssignmentStep)
    assert step.identity_key == "id.kubelet"
    assert step.desired(prod(), FakeUpstream())["properties"]["principalId"] == "pid-id.kubelet"


def test_role_assignment_scope_mismatch_is_reported() -> None:
    cfg = prod()
    step = by_key(cfg)["ra.aks.netcontrib.rt.aks"]
    upstream = FakeUpstream()
    upstream["rt.aks"] = {"id": f"/subscriptions/{SUB}/resourceGroups/x/providers/Microsoft.Network/routeTables/other"}
    with pytest.raises(ValueError, match="does not match"):
        step.desired(cfg, upstream)


def test_role_assignment_principal_change_is_a_replacement() -> None:
    cfg = prod()
    step = by_key(cfg)["ra.kubelet.acrpull.acr"]
    spec = step.desired(cfg, FakeUpstream())
    observed = copy.deepcopy(spec)
    observed["properties"]["principalId"] = "someone-else"
    observed["properties"]["roleDefinitionId"] = spec["properties"]["roleDefinitionId"].upper()
    changes = step.diff(spec, observed)
    assert [c.path for c in changes] == ["properties.principalId"]
    assert changes[0].replace


# --------------------------------------------------------------------------- PaaS


def test_storage_account_is_locked_down() -> None:
    spec = spec_of(prod(), "st")
    p = spec["properties"]
    assert spec["kind"] == "StorageV2"
    assert spec["sku"]["name"] == "Standard_LRS"
    assert p["supportsHttpsTrafficOnly"] is True
    assert p["minimumTlsVersion"] == "TLS1_2"
    assert p["publicNetworkAccess"] == "Disabled"
    assert p["allowBlobPublicAccess"] is False
    assert p["networkAcls"] == {"defaultAction": "Deny", "bypass": "AzureServices"}
    assert spec["tags"]["managed-by"] == "hubspoke-deploy"


@pytest.mark.parametrize("zone_redundancy, expected", [(True, "Enabled"), (False, "Disabled")])
def test_registry(zone_redundancy: bool, expected: str) -> None:
    cfg = variant(acr={"zone_redundancy": zone_redundancy})
    spec = spec_of(cfg, "acr")
    p = spec["properties"]
    assert spec["sku"] == {"name": "Premium"}
    assert p["adminUserEnabled"] is False
    assert p["publicNetworkAccess"] == "Disabled"
    assert p["anonymousPullEnabled"] is False
    assert p["zoneRedundancy"] == expected


def test_key_vault() -> None:
    cfg = prod()
    spec = spec_of(cfg, "kv")
    p = spec["properties"]
    assert p["enableRbacAuthorization"] is True
    assert p["enableSoftDelete"] is True and p["enablePurgeProtection"] is True
    assert p["softDeleteRetentionInDays"] == 90
    assert p["publicNetworkAccess"] == "Disabled"
    assert p["networkAcls"] == {"defaultAction": "Deny", "bypass": "AzureServices"}
    assert p["tenantId"] == "tenant-1"  # the identities' tenant
    assert p["sku"] == {"family": "A", "name": "standard"}


def test_key_vault_without_purge_protection_does_not_send_false() -> None:
    spec = spec_of(load(raw("sandbox.toml")), "kv")
    assert "enablePurgeProtection" not in spec["properties"]
    assert spec["properties"]["softDeleteRetentionInDays"] == 7


def test_key_vault_tenant_from_config_wins() -> None:
    tenant = "11111111-2222-3333-4444-555555555555"
    spec = spec_of(variant(azure={"tenant_id": tenant}), "kv")
    assert spec["properties"]["tenantId"] == tenant


def test_dns_zones_and_links_to_hub_and_every_spoke() -> None:
    cfg = prod()
    steps = by_key(cfg)
    zones = ["privatelink.azurecr.io", "privatelink.vaultcore.azure.net", "privatelink.blob.core.windows.net"]
    for zone in zones:
        z = steps[f"dns.{zone}"].desired(cfg, FakeUpstream())
        assert z["location"] == "global"
        for owner, vnet in [("hub", cfg.hub_vnet_name), ("aks", "vnet-aks-prod-aks"), ("apps", "vnet-aks-prod-apps")]:
            link = steps[f"dns.{zone}.link.{owner}"]
            body = link.desired(cfg, FakeUpstream())
            assert body["location"] == "global"
            assert body["properties"]["registrationEnabled"] is False
            assert body["properties"]["virtualNetwork"]["id"].endswith(f"/virtualNetworks/{vnet}")
            # serialised with the zone's other writes and with the VNet's children (issue 13.6)
            assert link.lock_keys() == (steps[f"dns.{zone}"].resource_id().lower(),
                                        body["properties"]["virtualNetwork"]["id"].lower())
    # + the API server's own zone (private_dns_zone = "custom"), linked the same way
    assert sum(1 for k in steps if ".link." in k) == 4 * 3


def test_private_dns_zone_names_follow_the_cloud() -> None:
    cfg = variant(azure={"endpoint": "usgovernment"})
    assert "dns.privatelink.azurecr.us" in by_key(cfg)


@pytest.mark.parametrize(
    "service, target, group, zone",
    [
        ("acr", "acr", "registry", "privatelink.azurecr.io"),
        ("kv", "kv", "vault", "privatelink.vaultcore.azure.net"),
        ("blob", "st", "blob", "privatelink.blob.core.windows.net"),
    ],
)
def test_private_endpoints_and_zone_groups(service: str, target: str, group: str, zone: str) -> None:
    cfg = prod()
    steps = by_key(cfg)
    upstream = FakeUpstream()
    pe = steps[f"pe.{service}"].desired(cfg, upstream)
    p = pe["properties"]
    assert p["subnet"]["id"].endswith("/virtualNetworks/vnet-aks-prod-aks/subnets/snet-jumpbox")
    (conn,) = p["privateLinkServiceConnections"]
    assert conn["properties"]["groupIds"] == [group]
    assert conn["properties"]["privateLinkServiceId"] == upstream[target]["id"]
    zg_step = steps[f"pe.{service}.dns"]
    zg = zg_step.desired(cfg, upstream)
    (config,) = zg["properties"]["privateDnsZoneConfigs"]
    assert config["properties"]["privateDnsZoneId"] == upstream[f"dns.{zone}"]["id"]
    assert zg_step.lock_keys() == (steps[f"pe.{service}"].resource_id().lower(),
                                   steps[f"dns.{zone}"].resource_id().lower())


# --------------------------------------------------------------------------- bastion and jump box


def test_bastion() -> None:
    cfg = prod()
    upstream = FakeUpstream()
    spec = spec_of(cfg, "bastion", upstream)
    assert spec["sku"] == {"name": "Standard"}
    assert spec["properties"]["enableTunneling"] is True
    (ipc,) = spec["properties"]["ipConfigurations"]
    assert ipc["properties"]["subnet"]["id"].endswith("/subnets/AzureBastionSubnet")
    assert ipc["properties"]["publicIPAddress"]["id"] == upstream["bastion.pip"]["id"]


def test_basic_bastion_has_no_tunneling_and_no_ssh_command() -> None:
    data = copy.deepcopy(raw("prod.toml"))
    data["bastion"] = {"sku": "Basic"}
    cfg = load(data)
    assert spec_of(cfg, "bastion")["properties"]["enableTunneling"] is False
    assert "jumpbox_ssh" not in platform_outputs(cfg, {})


def test_no_bastion_no_jumpbox() -> None:
    steps = by_key(variant(bastion={"enabled": False}, jumpbox={"enabled": False}))
    assert not {"bastion", "bastion.pip", "jumpbox.vm", "jumpbox.nic", "jumpbox.nsg"} & set(steps)


def test_jumpbox_nsg_allows_ssh_only_from_bastion_subnet() -> None:
    rules = {r["name"]: r["properties"] for r in spec_of(prod(), "jumpbox.nsg")["properties"]["securityRules"]}
    allow = rules["AllowSshFromBastion"]
    assert (allow["access"], allow["direction"], allow["protocol"]) == ("Allow", "Inbound", "Tcp")
    assert allow["sourceAddressPrefix"] == "10.0.0.64/26" and allow["destinationPortRange"] == "22"
    deny = rules["DenyAllOtherInbound"]
    assert deny["access"] == "Deny" and deny["priority"] > allow["priority"] and deny["sourceAddressPrefix"] == "*"
    assert [n for n, r in rules.items() if r["access"] == "Allow"] == ["AllowSshFromBastion"]


def test_jumpbox_nic_has_no_public_ip_and_carries_the_nsg() -> None:
    cfg = prod()
    step = by_key(cfg)["jumpbox.nic"]
    upstream = FakeUpstream()
    spec = step.desired(cfg, upstream)
    assert spec["properties"]["networkSecurityGroup"]["id"] == upstream["jumpbox.nsg"]["id"]
    (ipc,) = spec["properties"]["ipConfigurations"]
    assert ipc["properties"]["subnet"]["id"].endswith("/subnets/snet-jumpbox")
    assert "publicIPAddress" not in step.body(spec, None)["properties"]["ipConfigurations"][0]["properties"]
    # a public IP attached out of band is drift
    observed = copy.deepcopy(step.body(spec, None))
    observed["properties"]["ipConfigurations"][0]["properties"]["publicIPAddress"] = {"id": "/subscriptions/x/pip"}
    changes = step.diff(spec, observed)
    assert [c.path for c in changes] == ["properties.ipConfigurations[ipconfig1].properties.publicIPAddress"]


def test_jumpbox_vm() -> None:
    cfg = prod()
    upstream = FakeUpstream()
    spec = spec_of(cfg, "jumpbox.vm", upstream)
    p = spec["properties"]
    assert p["storageProfile"]["imageReference"]["publisher"] == "Canonical"
    assert "ubuntu" in p["storageProfile"]["imageReference"]["offer"]
    assert "managedDisk" in p["storageProfile"]["osDisk"]
    linux = p["osProfile"]["linuxConfiguration"]
    assert linux["disablePasswordAuthentication"] is True
    assert "adminPassword" not in p["osProfile"]
    (key,) = linux["ssh"]["publicKeys"]
    assert key["keyData"].startswith("ssh-ed25519 ")
    assert key["path"] == "/home/azureuser/.ssh/authorized_keys"
    assert p["networkProfile"]["networkInterfaces"][0]["id"] == upstream["jumpbox.nic"]["id"]
    boot = p["diagnosticsProfile"]["bootDiagnostics"]
    assert boot == {"enabled": True}  # managed boot diagnostics: Serial Console works (issue 14)


# --------------------------------------------------------------------------- AKS


def cluster_spec(cfg: DeploymentConfig, upstream: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return spec_of(cfg, "aks", upstream)


def test_cluster_prod() -> None:
    cfg = prod()
    upstream = FakeUpstream()
    spec = cluster_spec(cfg, upstream)
    p = spec["properties"]
    assert spec["sku"] == {"name": "Base", "tier": "Standard"}
    assert spec["identity"]["type"] == "UserAssigned"
    assert list(spec["identity"]["userAssignedIdentities"]) == [
        f"/subscriptions/{SUB}/resourceGroups/rg-aks-prod/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-aks-prod-aks"
    ]
    kubelet = p["identityProfile"]["kubeletidentity"]
    assert kubelet["resourceId"].endswith("/userAssignedIdentities/id-aks-prod-kubelet")
    assert (kubelet["clientId"], kubelet["objectId"]) == ("cid-id.kubelet", "pid-id.kubelet")
    api = p["apiServerAccessProfile"]
    assert api["enablePrivateCluster"] is True and api["enableVnetIntegration"] is True
    assert api["subnetId"].endswith("/subnets/snet-api-server")
    net = p["networkProfile"]
    assert net["outboundType"] == "userDefinedRouting"
    assert (net["networkPlugin"], net["networkPluginMode"], net["networkDataplane"], net["networkPolicy"]) == (
        "azure", "overlay", "cilium", "cilium",
    )
    cidrs = (net["podCidr"], net["serviceCidr"], net["dnsServiceIP"])
    assert cidrs == ("192.168.0.0/16", "172.16.0.0/16", "172.16.0.10")
    assert p["oidcIssuerProfile"] == {"enabled": True}
    assert p["securityProfile"]["workloadIdentity"] == {"enabled": True}
    addons = p["addonProfiles"]
    assert addons["azureKeyvaultSecretsProvider"]["enabled"] is True
    assert addons["azureKeyvaultSecretsProvider"]["config"]["enableSecretRotation"] == "true"
    assert addons["azurepolicy"] == {"enabled": True}
    assert addons["omsagent"]["config"]["logAnalyticsWorkspaceResourceID"] == upstream["log"]["id"]
    assert p["disableLocalAccounts"] is True
    assert p["aadProfile"]["managed"] is True and p["aadProfile"]["enableAzureRBAC"] is True
    assert p["aadProfile"]["adminGroupObjectIDs"] == ["6a1f3c2b-4d5e-4f60-8a9b-0c1d2e3f4a5b"]
    assert p["autoUpgradeProfile"] == {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"}
    assert "kubernetesVersion" not in p  # left to AKS: the default supported version
    api = p["apiServerAccessProfile"]
    assert api["privateDNSZone"].endswith("/privateDnsZones/privatelink.westeurope.azmk8s.io")
    assert {"ra.aks.dnszone.aks", "dns.privatelink.westeurope.azmk8s.io.link.hub"} <= set(by_key(cfg)["aks"].requires)
    pools = {pp["name"]: pp for pp in p["agentPoolProfiles"]}
    assert set(pools) == {"system", "user"}  # both pools in the one cluster PUT
    system, user = pools["system"], pools["user"]
    assert system["mode"] == "System" and system["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"]
    assert user["mode"] == "User" and user["nodeTaints"] == []
    assert system["availabilityZones"] == ["1", "2", "3"]
    assert (system["enableAutoScaling"], system["minCount"], system["maxCount"]) == (True, 3, 5)
    assert (user["minCount"], user["maxCount"], user["vmSize"]) == (3, 20, "Standard_D8ds_v5")
    assert system["vnetSubnetID"].endswith("/subnets/snet-system-nodes")
    assert user["vnetSubnetID"].endswith("/subnets/snet-user-nodes")
    assert "podSubnetID" not in user


def test_cluster_without_vnet_integration_uses_system_private_dns_zone() -> None:
    system = variant(aks={"api_server_vnet_integration": False, "private_dns_zone": "system"})
    assert cluster_spec(system)["properties"]["apiServerAccessProfile"]["privateDNSZone"] == "system"
    assert "dns.privatelink.westeurope.azmk8s.io" not in by_key(system) and "ra.aks.dnszone.aks" not in by_key(system)
    api = cluster_spec(variant(aks={"api_server_vnet_integration": False}))["properties"]["apiServerAccessProfile"]
    assert api["enablePrivateCluster"] is True
    assert api["privateDNSZone"].endswith("/privateDnsZones/privatelink.westeurope.azmk8s.io")
    assert "enableVnetIntegration" not in api and "subnetId" not in api
    steps = by_key(variant(aks={"api_server_vnet_integration": False}))
    assert "ra.aks.netcontrib.aks.api_server" not in steps
    assert "subnet.aks.api_server" not in steps["aks"].requires


def test_cluster_tier_and_channels_from_config() -> None:
    cfg = variant(aks={"tier": "Premium", "upgrade_channel": "stable", "node_os_upgrade_channel": "SecurityPatch"})
    spec = cluster_spec(cfg)
    assert spec["sku"]["tier"] == "Premium"
    assert spec["properties"]["autoUpgradeProfile"] == {
        "upgradeChannel": "stable", "nodeOSUpgradeChannel": "SecurityPatch",
    }


def test_desired_survives_plan_placeholders() -> None:
    cfg = prod()
    for step in platform_steps(cfg):
        spec = step.desired(cfg, PlanUpstream())
        assert isinstance(spec, dict)
    assert cluster_spec(cfg, PlanUpstream())["properties"]["identityProfile"]["kubeletidentity"]["objectId"] == UNKNOWN


def observed_cluster(spec: dict[str, Any]) -> dict[str, Any]:
    """How AKS answers a GET: read-only fields added, identity key re-cased, autoscaled counts."""
    obs = copy.deepcopy(spec)
    obs["id"] = "/subscriptions/x/resourcegroups/rg/providers/Microsoft.ContainerService/managedClusters/aks"
    obs["location"] = "West Europe"
    uai = obs["identity"]["userAssignedIdentities"]
    obs["identity"]["userAssignedIdentities"] = {k.replace("resourceGroups", "resourcegroups"): {"principalId": "p"}
                                                 for k in uai}
    p = obs["properties"]
    p["provisioningState"] = "Succeeded"
    p["privateFQDN"] = "aks-prod-abc.privatelink.westeurope.azmk8s.io"
    for pool in p["agentPoolProfiles"]:
        pool["count"] = 4
        pool["provisioningState"] = "Succeeded"
    p["agentPoolProfiles"].reverse()
    return obs


def test_cluster_diff_noop_after_create_and_ignores_pools() -> None:
    cfg = prod()
    step = by_key(cfg)["aks"]
    spec = cluster_spec(cfg)
    observed = observed_cluster(spec)
    assert step.diff(spec, observed) == []
    # a pool change in the config is not a cluster change
    changed = variant(aks={"user_pool": {**raw("prod.toml")["aks"]["user_pool"], "max_count": 30}})
    assert step.diff(cluster_spec(changed), observed) == []


@pytest.mark.parametrize(
    "aks_change, path",
    [
        ({"service_cidr": "172.17.0.0/16", "dns_service_ip": "172.17.0.10"}, "properties.networkProfile.serviceCidr"),
        ({"pod_cidr": "192.169.0.0/16"}, "properties.networkProfile.podCidr"),
        ({"dns_prefix": "other"}, "properties.dnsPrefix"),
    ],
)
def test_cluster_immutable_changes_are_replacements(aks_change: dict[str, Any], path: str) -> None:
    cfg = prod()
    step = by_key(cfg)["aks"]
    observed = observed_cluster(cluster_spec(cfg))
    changes = step.diff(cluster_spec(variant(aks=aks_change)), observed)
    assert path in [c.path for c in changes]
    assert all(c.replace for c in changes)


def test_cluster_mutable_change_is_an_update_and_keeps_the_pools() -> None:
    cfg = prod()
    step = by_key(cfg)["aks"]
    observed = observed_cluster(cluster_spec(cfg))
    new_spec = cluster_spec(variant(aks={"tier": "Premium"}))
    changes = step.diff(new_spec, observed)
    assert [(c.path, c.replace) for c in changes] == [("sku.tier", False)]
    assert isinstance(step, ManagedClusterStep)
    body = step.body(new_spec, observed)
    assert body["properties"]["agentPoolProfiles"] == observed["properties"]["agentPoolProfiles"]
    assert step.body(new_spec, None)["properties"]["agentPoolProfiles"] == new_spec["properties"]["agentPoolProfiles"]


def test_agent_pool_step_matches_the_cluster_profile() -> None:
    cfg = prod()
    steps = by_key(cfg)
    cluster = cluster_spec(cfg)
    for profile in cluster["properties"]["agentPoolProfiles"]:
        step = steps[f"aks.pool.{profile['name']}"]
        assert isinstance(step, AgentPoolStep)
        spec = step.desired(cfg, FakeUpstream())
        expected = {k: v for k, v in profile.items() if k != "name"}
        assert spec == {"properties": expected}
        assert step.lock_keys() == (steps["aks"].resource_id().lower(),)
        # as AKS reports it after the cluster PUT (autoscaled count): no write
        observed = {"name": profile["name"], "properties": {**expected, "count": 5, "provisioningState": "Succeeded"}}
        assert step.diff(spec, observed) == []


def test_user_pool_max_count_change_is_one_pool_update() -> None:
    cfg = prod()
    pool = raw("prod.toml")["aks"]["user_pool"]
    changed = variant(aks={"user_pool": {**pool, "max_count": 30}})
    old = by_key(cfg)["aks.pool.user"].desired(cfg, FakeUpstream())
    observed = {"name": "user", "properties": {**old["properties"], "count": 7}}
    step = by_key(changed)["aks.pool.user"]
    spec = step.desired(changed, FakeUpstream())
    changes = step.diff(spec, observed)
    assert [(c.path, c.before, c.after, c.replace) for c in changes] == [("properties.maxCount", 20, 30, False)]
    body = step.body(spec, observed)
    assert body["properties"]["maxCount"] == 30 and body["properties"]["count"] == 7  # autoscaled count kept
    assert by_key(changed)["aks.pool.system"].diff(
        by_key(changed)["aks.pool.system"].desired(changed, FakeUpstream()),
        {"name": "system", "properties": by_key(cfg)["aks.pool.system"].desired(cfg, FakeUpstream())["properties"]},
    ) == []


def test_pool_vm_size_change_is_a_replacement() -> None:
    cfg = prod()
    pool = raw("prod.toml")["aks"]["user_pool"]
    observed = by_key(cfg)["aks.pool.user"].desired(cfg, FakeUpstream())
    changed = variant(aks={"user_pool": {**pool, "vm_size": "Standard_D16ds_v5"}})
    step = by_key(changed)["aks.pool.user"]
    changes = step.diff(step.desired(changed, FakeUpstream()), observed)
    assert [c.path for c in changes] == ["properties.vmSize"] and changes[0].replace


def test_classic_cni_uses_the_pod_subnet() -> None:
    data = copy.deepcopy(raw("prod.toml"))
    data["aks"]["network_plugin_mode"] = "none"
    data["spokes"][0]["subnets"]["pods"] = "10.1.16.0/20"
    cfg = load(data)
    spec = cluster_spec(cfg)
    net = spec["properties"]["networkProfile"]
    assert "networkPluginMode" not in net and "podCidr" not in net
    for pool in spec["properties"]["agentPoolProfiles"]:
        assert pool["podSubnetID"].endswith("/subnets/snet-pods")
    steps = by_key(cfg)
    assert "ra.aks.netcontrib.aks.pods" in steps
    assert "subnet.aks.pods" in steps["aks"].requires


def test_cluster_diagnostic_setting_categories() -> None:
    cfg = prod()
    step = by_key(cfg)["aks.diag"]
    upstream = FakeUpstream()
    spec = step.desired(cfg, upstream)
    categories = {log["category"] for log in spec["properties"]["logs"] if log["enabled"]}
    expected = {"kube-audit-admin", "kube-apiserver", "guard", "kube-controller-manager", "cluster-autoscaler"}
    assert expected <= categories
    assert spec["properties"]["workspaceId"] == upstream["log"]["id"]
    assert step.resource_id().startswith(by_key(cfg)["aks"].resource_id() + "/providers/Microsoft.Insights/")


def test_every_top_level_resource_is_tagged() -> None:
    cfg = prod()
    tagged = 0
    for step in platform_steps(cfg):
        spec = step.desired(cfg, FakeUpstream())
        if step_has_tags(step):
            assert spec["tags"]["deployment"] == "aks-prod", step.key
            assert spec["tags"]["managed-by"] == "hubspoke-deploy", step.key
            tagged += 1
    assert tagged >= 20


# --------------------------------------------------------------------------- outputs


def test_platform_outputs() -> None:
    cfg = prod()
    vm_id = f"/subscriptions/{SUB}/resourceGroups/rg-aks-prod/providers/Microsoft.Compute/virtualMachines/vm-jb"
    outputs = {
        "aks": {"id": "/x/aks", "private_fqdn": "aks.privatelink.westeurope.azmk8s.io"},
        "acr": {"id": "/x/acr", "login_server": "acr.azurecr.io"},
        "kv": {"id": "/x/kv", "vault_uri": "https://kv.vault.azure.net/"},
        "log": {"id": "/x/log", "customer_id": "c"},
        "jumpbox.vm": {"id": vm_id},
        "jumpbox.nic": {"private_ip": "10.1.9.4"},
    }
    result = platform_outputs(cfg, outputs)
    assert result["aks_cluster_id"] == "/x/aks"
    assert result["aks_private_fqdn"] == "aks.privatelink.westeurope.azmk8s.io"
    assert result["acr_login_server"] == "acr.azurecr.io"
    assert result["keyvault_uri"] == "https://kv.vault.azure.net/"
    assert result["log_analytics_workspace_id"] == "/x/log"
    invoke = "az aks command invoke --resource-group rg-aks-prod --name aks-aks-prod"
    assert result["aks_command_invoke"].startswith(invoke)
    ssh = result["jumpbox_ssh"]
    assert ssh.startswith("az network bastion ssh --name bas-aks-prod --resource-group rg-aks-prod ")
    assert f"--target-resource-id {vm_id}" in ssh and "--auth-type ssh-key --username azureuser --ssh-key " in ssh
    text = repr(result).lower()
    assert "ssh-ed25519" not in text and "password" not in text and "key=" not in text
