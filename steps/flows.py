"""The flows the deployment must carry, for ``hubspoke-deploy verify``: every egress requirement
of the table in ``steps.egress`` (from the subnets of its role), and the private paths (the
registry, Key Vault and the API server reached through private endpoints and private DNS,
never across the firewall)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.steps import egress
from hubspoke_deploy.steps.network import subnet_id


@dataclass(frozen=True)
class RequiredFlow:
    """A flow and how it must go: every flow must be allowed; a ``private`` one must also resolve
    to its private endpoint (from the cluster spoke it stays off the firewall; from another
    spoke it crosses the firewall like all spoke-to-spoke traffic)."""

    name: str
    source: str  # subnet id
    destination: str
    port: int
    protocol: str
    why: str
    private: bool = False


def ingress_flows(cfg: DeploymentConfig) -> list[RequiredFlow]:
    """The managed ingress (``[ingress]``) reaches the workloads inside the cluster spoke, off the
    firewall: its subnet is exempt from the route to the firewall (``steps.network.UNROUTED_SUBNETS``)
    and the spoke's own route is more specific than the node subnets' 0.0.0.0/0, so requests and
    replies both stay in the VNet. The backend is the first address of the user (else system) node
    subnet on HTTP, where an internal load balancer of the workloads would listen."""
    import ipaddress

    from hubspoke_deploy.config.ingress import managed_ingress, subnet_field

    kind = managed_ingress(cfg)
    field = subnet_field(kind) if kind else None
    subnets = cfg.cluster_spoke.subnets
    target = subnets.user_nodes or subnets.system_nodes
    if field is None or not target:
        return []
    backend = str(ipaddress.ip_network(target, strict=False)[4])
    doc = ("https://learn.microsoft.com/azure/application-gateway/for-containers/container-networking"
           if field == "app_gateway_for_containers"
           else "https://learn.microsoft.com/azure/application-gateway/configuration-infrastructure")
    return [RequiredFlow(f"ingress: workloads ({backend})", subnet_id(cfg, cfg.cluster_spoke_name, field), backend,
                         80, "tcp", doc)]


def required_flows(cfg: DeploymentConfig, cluster: dict[str, Any] | None = None) -> list[RequiredFlow]:
    spoke = cfg.cluster_spoke_name
    subnets = cfg.cluster_spoke.subnets
    sources: dict[str, list[tuple[str, str]]] = {egress.NODES: [], egress.JUMPBOX: []}
    if subnets.system_nodes:
        sources[egress.NODES].append(("nodes", subnet_id(cfg, spoke, "system_nodes")))
    if cfg.jumpbox.enabled and subnets.jumpbox:
        sources[egress.JUMPBOX].append(("jumpbox", subnet_id(cfg, spoke, "jumpbox")))
    flows: list[RequiredFlow] = []
    for req in egress.requirements(cfg):
        if req.probe is None:
            continue
        for index, (host, port, protocol) in enumerate((req.probe, *req.more_probes)):
            for label, sid in sources.get(req.role, []):
                name = f"{label}: {req.name}" + (f" ({host})" if index else "")
                flows.append(RequiredFlow(name, sid, egress.expand(host, cfg), port, protocol, req.source))
    private: list[tuple[str, str]] = [
        ("registry", f"{cfg.acr_name.lower()}.azurecr.io"),
        ("key-vault", f"{cfg.keyvault_name.lower()}.vault.azure.net"),
    ]
    fqdn = (cluster or {}).get("properties", {}).get("privateFQDN") if cluster else None
    if cfg.aks.private_cluster and isinstance(fqdn, str):
        private.append(("api-server", fqdn))
    doc = "https://learn.microsoft.com/azure/private-link/private-endpoint-dns"
    for label, sid in [*sources[egress.NODES], *sources[egress.JUMPBOX]]:
        for name, host in private:
            flows.append(RequiredFlow(f"{label}: {name} (private)", sid, host, 443, "https", doc, private=True))
    flows += ingress_flows(cfg)
    # every other spoke's workload subnet reaches the registry privately too
    for other in cfg.spokes:
        if other.name != spoke and other.subnets.jumpbox:
            flows.append(RequiredFlow(f"{other.name}/jumpbox: registry (private)",
                                      subnet_id(cfg, other.name, "jumpbox"), private[0][1], 443, "https", doc,
                                      private=True))
    return flows
