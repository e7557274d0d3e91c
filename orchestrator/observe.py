"""Read the deployment's network from Azure as ARM JSON (what ``verify`` evaluates): the
resource group's VNets (subnets and peerings inline), route tables, NSGs, firewalls, firewall
policies with their rule collection groups, private endpoints with their DNS zone groups,
private DNS zones with their VNet links and A record sets, and the AKS clusters (for the API
server's private FQDN). Reads only, through the SDK clients, in parallel per kind."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hubspoke_deploy.orchestrator.clients import to_json

JSON = dict[str, Any]


def _all(items: Iterable[Any]) -> list[JSON]:
    out: list[JSON] = []
    for item in items:
        value = to_json(item)
        if isinstance(value, dict):
            out.append(value)
    return out


def read_network(clients: Any, resource_group: str) -> list[JSON]:
    """Every network resource of ``resource_group`` as ARM JSON (each with ``id`` and ``type``)."""
    net = clients.get("network")
    dns = clients.get("privatedns")

    def policies() -> list[JSON]:
        result = _all(net.firewall_policies.list(resource_group))
        for policy in list(result):
            result += _all(net.firewall_policy_rule_collection_groups.list(resource_group, policy["name"]))
        return result

    def endpoints() -> list[JSON]:
        result = _all(net.private_endpoints.list(resource_group))
        for pe in list(result):
            result += _all(net.private_dns_zone_groups.list(pe["name"], resource_group))
        return result

    def zones() -> list[JSON]:
        result = _all(dns.private_zones.list_by_resource_group(resource_group))
        for zone in list(result):
            result += _all(dns.virtual_network_links.list(resource_group, zone["name"]))
            result += _all(dns.record_sets.list_by_type(resource_group, zone["name"], "A"))
        return result

    def clusters() -> list[JSON]:
        return _all(clients.get("containerservice").managed_clusters.list_by_resource_group(resource_group))

    readers: list[Callable[[], list[JSON]]] = [
        lambda: _all(net.virtual_networks.list(resource_group)),
        lambda: _all(net.route_tables.list(resource_group)),
        lambda: _all(net.network_security_groups.list(resource_group)),
        lambda: _all(net.azure_firewalls.list(resource_group)),
        policies,
        endpoints,
        zones,
        clusters,
    ]
    with ThreadPoolExecutor(max_workers=len(readers), thread_name_prefix="observe") as pool:
        parts = list(pool.map(lambda read: read(), readers))
    return [res for part in parts for res in part]
