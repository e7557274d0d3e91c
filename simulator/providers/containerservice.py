"""Microsoft.ContainerService/managedClusters (+ agentPools).

``properties.agentPoolProfiles`` is the inline view of the ``agentPools`` children, both ways
(like a VNet's subnets). In the cluster body the profiles are *flat*
(``{"name", "count", "vmSize", ...}``) while an agentPools resource nests them under
``properties``; this module normalises the stored child and flattens the view.
REST: https://learn.microsoft.com/rest/api/aks/managed-clusters/create-or-update

Rules (each cites where Azure documents it):

* outboundType ``userDefinedRouting``: every pool subnet needs a route table
  (400 ``ExistingRouteTableNotAssociatedWithSubnet``) with a 0.0.0.0/0 route
  (400 ``RouteTableMissingDefaultRouteError``, MicrosoftDocs/azure-docs#108240) whose next
  hop is not Internet (400 ``RouteTableInvalidNextHop``, hashicorp/terraform-provider-azurerm#8609).
  https://learn.microsoft.com/azure/aks/egress-udr
* a pool subnet cannot be delegated (400 ``SubnetIsDelegated``, MicrosoftDocs/azure-docs#69774);
  pool subnets must exist.
* API Server VNet Integration needs ``apiServerAccessProfile.subnetId`` delegated to
  ``Microsoft.ContainerService/managedClusters``.
  https://learn.microsoft.com/azure/aks/api-server-vnet-integration
* ``networkProfile.serviceCidr`` must not overlap a subnet of the cluster's VNet
  (400 ``ServiceCidrOverlapExistingSubnetsCidr``, Azure/azure-cli#20810).
* immutable properties -> 400 ``PropertyChangeNotAllowed`` "Changing property 'X' is not allowed."
  (Azure/azure-cli#24764). https://learn.microsoft.com/azure/aks/concepts-network
* ``listClusterAdminCredential`` with ``disableLocalAccounts`` -> 400 ``BadRequest`` "Getting
  static credential is not allowed because this cluster is set to disable local accounts."
  https://learn.microsoft.com/azure/aks/manage-local-accounts-managed-azure-ad
* server-assigned fqdn / privateFQDN / azurePortalFQDN, nodeResourceGroup (a real resource group,
  deleted with the cluster), oidcIssuerProfile.issuerURL, identityProfile.kubeletidentity,
  powerState, currentKubernetesVersion.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from typing import Any

from hubspoke_deploy.simulator.providers.base import (
    JSON,
    ActionContext,
    ActionResult,
    ArmError,
    DeleteContext,
    ResourceId,
    ResourceType,
    Store,
    WriteContext,
    deep_get,
    register,
)
from hubspoke_deploy.simulator.providers.identity import (
    CREATED_AT,
    IDENTITY_TYPE,
    SIM_TENANT_ID,
    assign_system_identity,
    new_principal,
)

CLUSTER_TYPE = "Microsoft.ContainerService/managedClusters"
POOL_TYPE = "Microsoft.ContainerService/managedClusters/agentPools"
DEFAULT_K8S_VERSION = "1.31.2"
AKS_DELEGATION = "Microsoft.ContainerService/managedClusters"

_UDR_DOC = "https://learn.microsoft.com/azure/aks/egress-udr"
_IMMUTABLE_CLUSTER = (
    "dnsPrefix",
    "fqdnSubdomain",
    "nodeResourceGroup",
    "networkProfile.networkPlugin",
    "networkProfile.serviceCidr",
    "networkProfile.dnsServiceIP",
    "networkProfile.podCidr",
    "apiServerAccessProfile.enablePrivateCluster",
)
_IMMUTABLE_POOL = ("vmSize", "vnetSubnetID", "osType", "osDiskSizeGB", "maxPods", "availabilityZones")
_POOL_META = ("id", "name", "type", "etag", "properties")


# --------------------------------------------------------------------------- helpers


def pool_props(child: JSON) -> JSON:
    """An agent pool's properties, whether written flat (inline profile) or nested (agentPools)."""
    out: JSON = dict(child.get("properties") or {})
    for k, v in child.items():
        if k not in _POOL_META:
            out[k] = v
    return out


def _changed(old: Any, new: Any) -> bool:
    if new is None:
        return False
    if isinstance(old, str) and isinstance(new, str):
        return old.lower() != new.lower()
    return bool(old != new)


def _subnet_prefixes(subnet: JSON) -> list[str]:
    props = subnet.get("properties", {})
    out = list(props.get("addressPrefixes") or [])
    if props.get("addressPrefix"):
        out.append(props["addressPrefix"])
    return [str(p) for p in out]


def _vnet_of(subnet_id: str) -> str:
    return subnet_id.rsplit("/subnets/", 1)[0]


def _delegations(subnet: JSON) -> list[str]:
    out: list[str] = []
    for d in deep_get(subnet, "properties.delegations") or []:
        if isinstance(d, dict):
            svc = deep_get(d, "properties.serviceName") or d.get("serviceName")
            if isinstance(svc, str):
                out.append(svc)
    return out


def _route_table_routes(store: Store, rt_id: str) -> list[JSON] | None:
    rt = store.view(rt_id)
    if rt is None:
        return None
    routes = deep_get(rt, "properties.routes")
    if isinstance(routes, list):
        return [r for r in routes if isinstance(r, dict)]
    return [c for c in store.children(rt_id, "routes")]


def _check_pool_subnet(store: Store, subnet_id: str, outbound: str, where: str) -> None:
    subnet = store.get(subnet_id)
    if subnet is None:
        raise ArmError(
            400,
            "InvalidResourceReference",
            f"Resource {subnet_id} referenced by {where} was not found. Please make sure that the referenced "
            "resource exists, and that both resources are in the same region.",
        )
    if _delegations(subnet):
        raise ArmError(
            400,
            "SubnetIsDelegated",
            f"{where}.VnetSubnetID {subnet_id} cannot be used as it's a delegated subnet. Please check "
            "https://aka.ms/adv-network-prerequest for more details.",
        )
    if outbound.lower() != "userdefinedrouting":
        return
    rt_id = deep_get(subnet, "properties.routeTable.id")
    if not isinstance(rt_id, str):
        raise ArmError(
            400,
            "ExistingRouteTableNotAssociatedWithSubnet",
            f"An existing route table has not been associated with subnet {subnet_id}. Please update the route "
            f"table association. Outbound type userDefinedRouting requires it: {_UDR_DOC}",
        )
    routes = _route_table_routes(store, rt_id) or []
    default = [r for r in routes if str(deep_get(r, "properties.addressPrefix", "")) == "0.0.0.0/0"]
    if not default:
        raise ArmError(
            400,
            "RouteTableMissingDefaultRouteError",
            f"Default route 0.0.0.0/0 missing from route table {rt_id}. Please see "
            "http://aka.ms/aks/outboundtype for more details.",
        )
    hop = str(deep_get(default[0], "properties.nextHopType", ""))
    if hop.lower() not in ("virtualappliance", "virtualnetworkgateway"):
        raise ArmError(
            400,
            "RouteTableInvalidNextHop",
            f"Default route 0.0.0.0/0 has a next hop of {hop} but only next hops of VirtualAppliance or "
            "VirtualNetworkGateway are allowed. Please see http://aka.ms/aks/outboundtype for more details.",
        )


def _check_service_cidr(store: Store, cluster_props: JSON, subnet_ids: list[str]) -> None:
    cidr = deep_get(cluster_props, "networkProfile.serviceCidr")
    if not isinstance(cidr, str):
        return
    try:
        svc = ipaddress.ip_network(cidr, strict=False)
    except ValueError as err:
        raise ArmError(400, "InvalidParameter", f"The service CIDR {cidr} is not a valid CIDR.") from err
    for vnet_id in {_vnet_of(s).lower(): _vnet_of(s) for s in subnet_ids}.values():
        for subnet in store.children(vnet_id, "subnets"):
            for prefix in _subnet_prefixes(subnet):
                try:
                    net = ipaddress.ip_network(prefix, strict=False)
                except ValueError:
                    continue
                if net.version == svc.version and net.overlaps(svc):
                    raise ArmError(
                        400,
                        "ServiceCidrOverlapExistingSubnetsCidr",
                        f"The specified service CIDR {cidr} is conflicted with an existing subnet CIDR {prefix}",
                        details=[
                            {
                                "code": "ServiceCidrOverlapExistingSubnetsCidr",
                                "target": "networkProfile.serviceCIDR",
                                "message": f"{cidr} overlaps {prefix}",
                            }
                        ],
                    )
    dns_ip = deep_get(cluster_props, "networkProfile.dnsServiceIP")
    if isinstance(dns_ip, str):
        try:
            inside = ipaddress.ip_address(dns_ip) in svc
        except ValueError:
            inside = False
        if not inside:
            # https://learn.microsoft.com/azure/aks/configure-kubenet#create-an-aks-cluster-in-the-virtual-network
            raise ArmError(
                400,
                "InvalidParameter",
                f"The DNS service IP {dns_ip} must be within the service address range {cidr}.",
            )


def _property_change(path: str) -> ArmError:
    return ArmError(
        400,
        "PropertyChangeNotAllowed",
        f"Changing property '{path}' is not allowed.",
        details=[
            {
                "code": "PropertyChangeNotAllowed",
                "target": path,
                "message": f"Changing property '{path}' is not allowed.",
            }
        ],
    )


def _short_hash(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).lower().encode()).hexdigest()[:8]


def node_rg_id(subscription: str, node_rg: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{node_rg}"


def kubeconfig(cluster: JSON, user: str, admin: bool) -> str:
    props = cluster.get("properties", {})
    host = props.get("privateFQDN") or props.get("fqdn") or "cluster.local"
    name = str(cluster.get("name"))
    token = hashlib.sha256(f"{cluster.get('id')}/{user}".encode()).hexdigest()
    auth = (
        f"    token: {token}\n"
        if admin or not deep_get(props, "aadProfile.managed")
        else "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n"
        "      args: [get-token, --login, devicecode, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]\n"
    )
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nSIMULATED\n-----END CERTIFICATE-----\n").decode()
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: https://{host}:443\n"
        f"  name: {name}\n"
        f"contexts:\n- context:\n    cluster: {name}\n    user: {user}_{name}\n"
        f"  name: {name}{'-admin' if admin else ''}\n"
        f"current-context: {name}{'-admin' if admin else ''}\n"
        f"users:\n- name: {user}_{name}\n  user:\n{auth}"
    )


# --------------------------------------------------------------------------- types


@register
class ManagedClusters(ResourceType):
    type_name = CLUSTER_TYPE
    create_latency_s = 600.0
    update_latency_s = 300.0
    delete_latency_s = 300.0
    long_running = True
    requires_location = True
    inline_children = {"agentPoolProfiles": "agentPools"}
    secret_paths = (
        "properties.servicePrincipalProfile.secret",
        "properties.windowsProfile.adminPassword",
        "identity.simPrincipalCreatedAt",
        "properties.simNodeIdentityCreatedAt",
    )
    schema = {"properties.networkProfile": "object", "properties.agentPoolProfiles": "list[object]"}

    def validate(self, ctx: WriteContext) -> None:
        props = ctx.props
        pools = [pool_props(c) for c in ctx.new_children.get("agentPoolProfiles", [])]
        if ctx.is_create:
            if not pools:
                raise ArmError(400, "InvalidParameter", "At least one agent pool profile is required.")
            if not any(str(p.get("mode", "")).lower() == "system" for p in pools):
                # https://learn.microsoft.com/azure/aks/use-system-pools
                raise ArmError(400, "MustDefineAtLeastOneSystemPool", "Must define at least one system pool.")
        outbound = str(deep_get(props, "networkProfile.outboundType", "loadBalancer") or "loadBalancer")
        subnet_ids: list[str] = []
        for child in ctx.new_children.get("agentPoolProfiles", []):
            sid = pool_props(child).get("vnetSubnetID")
            if isinstance(sid, str):
                subnet_ids.append(sid)
                _check_pool_subnet(ctx.store, sid, outbound, f"AgentPoolProfile '{child.get('name')}'")
        self._check_api_server_subnet(ctx)
        self._check_private_dns_zone(ctx)
        _check_service_cidr(ctx.store, props, subnet_ids)
        if ctx.existing is not None:
            old = ctx.existing.get("properties", {})
            for path in _IMMUTABLE_CLUSTER:
                if _changed(deep_get(old, path), deep_get(props, path)):
                    raise _property_change(path)

    @staticmethod
    def _check_private_dns_zone(ctx: WriteContext) -> None:
        """A private cluster's own zone (``privateDNSZone`` = a zone id) must exist and be named
        ``privatelink.<region>.azmk8s.io`` or ``<subzone>.privatelink.<region>.azmk8s.io``
        (https://learn.microsoft.com/azure/aks/private-clusters#configure-a-private-dns-zone).
        The error code is a guess: AKS answers these with InvalidParameter-style messages."""
        zone_id = deep_get(ctx.props, "apiServerAccessProfile.privateDNSZone")
        if not isinstance(zone_id, str) or not zone_id.lower().startswith("/subscriptions/"):
            return
        location = str(ctx.resource.get("location", "")).replace(" ", "").lower()
        name = zone_id.rstrip("/").rsplit("/", 1)[-1].lower()
        suffix = f"privatelink.{location}.azmk8s.io"
        if name != suffix and not name.endswith("." + suffix):
            raise ArmError(
                400, "InvalidPrivateDNSZone",
                f"The private DNS zone {name} is not valid for a cluster in {location}: it must be {suffix} or "
                f"<subzone>.{suffix}. https://learn.microsoft.com/azure/aks/private-clusters",
            )
        if ctx.store.get(zone_id) is None:
            raise ArmError(404, "PrivateDNSZoneNotFound", f"The private DNS zone {zone_id} was not found.")

    @staticmethod
    def _check_api_server_subnet(ctx: WriteContext) -> None:
        access = ctx.props.get("apiServerAccessProfile") or {}
        if not isinstance(access, dict) or not access.get("enableVnetIntegration"):
            return
        sid = access.get("subnetId")
        if not isinstance(sid, str):
            raise ArmError(
                400,
                "InvalidParameter",
                "apiServerAccessProfile.subnetId must be specified when API Server VNet Integration is enabled "
                "with a custom virtual network. https://learn.microsoft.com/azure/aks/api-server-vnet-integration",
            )
        subnet = ctx.store.get(sid)
        if subnet is None:
            return  # the core's reference check reports it
        if not any(d.lower() == AKS_DELEGATION.lower() for d in _delegations(subnet)):
            raise ArmError(
                400,
                "SubnetNotDelegated",
                f"The API server subnet {sid} must be delegated to {AKS_DELEGATION} for API Server VNet "
                "Integration. https://learn.microsoft.com/azure/aks/api-server-vnet-integration#create-an-aks-"
                "cluster-with-api-server-vnet-integration-using-bring-your-own-vnet",
            )

    def on_write(self, ctx: WriteContext) -> None:
        props = ctx.props
        old = (ctx.existing or {}).get("properties", {}) if ctx.existing else {}
        rid = ctx.rid
        location = str(ctx.resource.get("location", "")).replace(" ", "").lower()
        prefix = str(props.get("dnsPrefix") or props.get("fqdnSubdomain") or rid.name)
        h = old.get("simHash") or _short_hash(rid.id)
        props["simHash"] = h
        private = bool(deep_get(props, "apiServerAccessProfile.enablePrivateCluster"))
        public_fqdn = deep_get(props, "apiServerAccessProfile.enablePrivateClusterPublicFQDN")
        if private:
            guid = old.get("simPrivateGuid") or ctx.store.new_guid()
            props["simPrivateGuid"] = guid
            zone_ref = deep_get(props, "apiServerAccessProfile.privateDNSZone")
            zone_name = (
                zone_ref.rstrip("/").rsplit("/", 1)[-1].lower()
                if isinstance(zone_ref, str) and zone_ref.lower().startswith("/subscriptions/")
                else f"privatelink.{location}.azmk8s.io"
            )
            props["privateFQDN"] = f"{prefix}-{h}.{guid}.{zone_name}"
            if public_fqdn is False:
                props.pop("fqdn", None)
            else:
                props["fqdn"] = f"{prefix}-{h}.hcp.{location}.azmk8s.io"
        else:
            props.pop("privateFQDN", None)
            props["fqdn"] = f"{prefix}-{h}.hcp.{location}.azmk8s.io"
        props["azurePortalFQDN"] = f"{prefix}-{h}.portal.hcp.{location}.azmk8s.io"
        props["nodeResourceGroup"] = (
            props.get("nodeResourceGroup")
            or old.get("nodeResourceGroup")
            or (f"MC_{rid.resource_group}_{rid.name}_{location}")
        )
        version = str(props.get("kubernetesVersion") or old.get("kubernetesVersion") or DEFAULT_K8S_VERSION)
        props["kubernetesVersion"] = version
        props["currentKubernetesVersion"] = version
        props["powerState"] = {"code": "Running"}
        props["maxAgentPools"] = 100
        props.setdefault("enableRBAC", True)
        props.setdefault("disableLocalAccounts", False)
        net = props.setdefault("networkProfile", {})
        net.setdefault("networkPlugin", "kubenet")
        net.setdefault("outboundType", "loadBalancer")
        net.setdefault("serviceCidr", "10.0.0.0/16")
        net.setdefault("dnsServiceIP", "10.0.0.10")
        if deep_get(props, "oidcIssuerProfile.enabled"):
            issuer = deep_get(old, "oidcIssuerProfile.issuerURL") or (
                f"https://{location}.oic.prod-aks.azure.com/{SIM_TENANT_ID}/{ctx.store.new_guid()}/"
            )
            props["oidcIssuerProfile"]["issuerURL"] = issuer
        self._kubelet_identity(ctx, props, old)
        assign_system_identity(ctx)

    @staticmethod
    def _kubelet_identity(ctx: WriteContext, props: JSON, old: JSON) -> None:
        profile = props.get("identityProfile")
        if not isinstance(profile, dict):
            profile = {}
        kub = profile.get("kubeletidentity")
        if isinstance(kub, dict) and isinstance(kub.get("resourceId"), str):
            target = ctx.store.get(kub["resourceId"])
            if target is not None:
                kub["clientId"] = deep_get(target, "properties.clientId")
                kub["objectId"] = deep_get(target, "properties.principalId")
        else:
            old_kub = deep_get(old, "identityProfile.kubeletidentity")
            if isinstance(old_kub, dict):
                kub = dict(old_kub)
            else:
                # AKS creates "<cluster>-agentpool" in the node resource group.
                # https://learn.microsoft.com/azure/aks/use-managed-identity#summary-of-managed-identities
                rg = node_rg_id(ctx.rid.subscription or "", str(props["nodeResourceGroup"]))
                principal = new_principal(ctx.store)
                kub = {
                    "resourceId": f"{rg}/providers/{IDENTITY_TYPE}/{ctx.rid.name}-agentpool",
                    "clientId": principal["clientId"],
                    "objectId": principal["principalId"],
                }
                props["simNodeIdentityCreatedAt"] = ctx.store.now()
            profile["kubeletidentity"] = kub
        props["identityProfile"] = profile

    def on_provisioned(self, store: Store, resource: JSON) -> None:
        props = resource.get("properties", {})
        rid = ResourceId.parse(str(resource["id"]))
        self._write_api_server_record(store, resource)
        rg_id = node_rg_id(rid.subscription or "", str(props.get("nodeResourceGroup")))
        if store.get(rg_id) is None:
            store.put(
                {
                    "id": rg_id,
                    "location": resource.get("location"),
                    "managedBy": resource["id"],
                    "tags": {"aks-managed-cluster-name": rid.name, "aks-managed-cluster-rg": rid.resource_group or ""},
                    "properties": {"provisioningState": "Succeeded"},
                }
            )
        kub = deep_get(props, "identityProfile.kubeletidentity")
        if (
            isinstance(kub, dict)
            and isinstance(kub.get("resourceId"), str)
            and str(kub["resourceId"]).lower().startswith(rg_id.lower() + "/")
            and store.get(kub["resourceId"]) is None
        ):
            store.put(
                {
                    "id": kub["resourceId"],
                    "location": resource.get("location"),
                    "properties": {
                        "principalId": kub.get("objectId"),
                        "clientId": kub.get("clientId"),
                        "tenantId": SIM_TENANT_ID,
                        CREATED_AT.split(".", 1)[1]: props.get("simNodeIdentityCreatedAt", store.now()),
                    },
                }
            )

    @staticmethod
    def _write_api_server_record(store: Store, resource: JSON) -> None:
        """With its own zone, AKS writes the API server's A record there: an address of the
        API server subnet (VNet integration) or of the system pool's subnet (private endpoint)."""
        from hubspoke_deploy.simulator.providers.network import allocate_private_ip
        from hubspoke_deploy.simulator.providers.privatedns import put_a_record

        props = resource.get("properties", {})
        zone_id = deep_get(props, "apiServerAccessProfile.privateDNSZone")
        fqdn = props.get("privateFQDN")
        if not (isinstance(zone_id, str) and zone_id.lower().startswith("/subscriptions/") and isinstance(fqdn, str)):
            return
        if store.get(zone_id) is None:
            return
        zone_name = zone_id.rstrip("/").rsplit("/", 1)[-1].lower()
        label = fqdn.lower()[: -len(zone_name) - 1] if fqdn.lower().endswith("." + zone_name) else fqdn
        subnet = deep_get(props, "apiServerAccessProfile.subnetId")
        if not isinstance(subnet, str):
            pools = props.get("agentPoolProfiles") or []
            subnet = next((p.get("vnetSubnetID") for p in pools if isinstance(p, dict) and p.get("vnetSubnetID")), None)
        ip = allocate_private_ip(store, subnet) if isinstance(subnet, str) else None
        put_a_record(store, zone_id, label, [ip or "10.255.255.254"])

    def on_delete(self, ctx: DeleteContext) -> None:
        # Deleting a cluster deletes its node resource group.
        # https://learn.microsoft.com/azure/aks/faq#why-are-two-resource-groups-created-with-aks
        node_rg = deep_get(ctx.resource, "properties.nodeResourceGroup")
        if isinstance(node_rg, str):
            ctx.store.delete(node_rg_id(ctx.rid.subscription or "", node_rg))

    def on_read(self, store: Store, view: JSON) -> None:
        props = view.get("properties")
        if not isinstance(props, dict):
            return
        for key in ("simHash", "simPrivateGuid"):
            props.pop(key, None)
        flat: list[JSON] = []
        for item in props.get("agentPoolProfiles") or []:
            if isinstance(item, dict):
                entry = pool_props(item)
                entry.pop("provisioningState", None)
                entry["name"] = item.get("name")
                entry["provisioningState"] = deep_get(item, "properties.provisioningState", "Succeeded")
                flat.append(entry)
        if "agentPoolProfiles" in props:
            props["agentPoolProfiles"] = flat

    # ---- POST actions
    def action_listclusterusercredential(self, ctx: ActionContext) -> ActionResult:
        cluster = ctx.resource or {}
        value = base64.b64encode(kubeconfig(cluster, "clusterUser", admin=False).encode()).decode()
        return ActionResult(200, {"kubeconfigs": [{"name": "clusterUser", "value": value}]})

    def action_listclusteradmincredential(self, ctx: ActionContext) -> ActionResult:
        cluster = ctx.resource or {}
        if deep_get(cluster, "properties.disableLocalAccounts") is True:
            raise ArmError(
                400,
                "BadRequest",
                "Getting static credential is not allowed because this cluster is set to disable local accounts.",
            )
        value = base64.b64encode(kubeconfig(cluster, "clusterAdmin", admin=True).encode()).decode()
        return ActionResult(200, {"kubeconfigs": [{"name": "clusterAdmin", "value": value}]})


@register
class AgentPools(ResourceType):
    type_name = POOL_TYPE
    create_latency_s = 240.0
    update_latency_s = 120.0
    delete_latency_s = 120.0
    long_running = True
    requires_location = False
    schema = {"properties.count": "int", "properties.vmSize": "str"}

    def validate(self, ctx: WriteContext) -> None:
        if ctx.inline:
            return  # the cluster's validate checks inline profiles with the cluster's new settings
        props = pool_props(ctx.resource)
        cluster = ctx.parent or {}
        outbound = str(deep_get(cluster, "properties.networkProfile.outboundType", "loadBalancer") or "loadBalancer")
        sid = props.get("vnetSubnetID")
        if isinstance(sid, str):
            _check_pool_subnet(ctx.store, sid, outbound, f"AgentPool '{ctx.rid.name}'")
        if ctx.existing is not None:
            old = pool_props(ctx.existing)
            for path in _IMMUTABLE_POOL:
                if _changed(old.get(path), props.get(path)):
                    raise _property_change(path)

    def on_write(self, ctx: WriteContext) -> None:
        # normalise: an inline (flat) profile is stored like an agentPools resource
        props = pool_props(ctx.resource)
        for k in [k for k in ctx.resource if k not in _POOL_META]:
            del ctx.resource[k]
        props.pop("name", None)
        old = pool_props(ctx.existing) if ctx.existing else {}
        cluster_version = deep_get(ctx.parent, "properties.kubernetesVersion") if ctx.parent else None
        version = str(
            props.get("orchestratorVersion") or old.get("orchestratorVersion") or cluster_version or DEFAULT_K8S_VERSION
        )
        props["orchestratorVersion"] = version
        props["currentOrchestratorVersion"] = version
        props.setdefault("mode", "User")
        props.setdefault("osType", "Linux")
        props.setdefault("type", "VirtualMachineScaleSets")
        props.setdefault("count", 1)
        props["powerState"] = {"code": "Running"}
        props["nodeImageVersion"] = old.get("nodeImageVersion") or "AKSUbuntu-2204gen2containerd-202601.01.0"
        ctx.resource["properties"] = props
