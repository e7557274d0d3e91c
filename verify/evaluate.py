"""Evaluate required flows over a :class:`~hubspoke_deploy.verify.model.Network`, and list
what is wrong with the network regardless of flows (``findings``).

For each flow (``evaluate_flow``):

1. **DNS** (destination is an FQDN): ``hubspoke_deploy.verify.dns.resolve`` from the source
   VNet -> a private IP, *public* (IP unknown), NXDOMAIN or failure. A name whose
   privatelink zone exists in the network but answers publicly is reported ``unresolved``:
   the client would bypass the private endpoint (and a PaaS service with public access off
   refuses it).
2. **Routing** from the source subnet (``routing.next_hop``).
3. The source subnet's **NSG outbound** (on the final destination).
4. By next hop: an Azure Firewall's private IP -> the **firewall's decision** (with the FQDN
   for application rules), then for a private destination the firewall's own route to it
   and the destination subnet's **NSG inbound**; ``VnetLocal``/``VNetPeering`` -> the
   destination subnet's NSG inbound, the firewall is *not* crossed (reported);
   ``Internet`` -> the flow *bypasses* the firewall (status ``bypass``); ``None`` ->
   dropped.

A flow whose source is an IP outside every subnet is an inbound flow from the Internet: its
destination must be a firewall public IP and only DNAT rules apply; after DNAT the firewall
SNATs to its private IP (so the destination NSG sees the firewall as source).

Every non-allowed verdict carries a ``fix``: what to add or change, in words.

Simplifications (besides those of each module): one firewall hop (no chained NVAs, no
VPN/ExpressRoute gateways), return traffic is not evaluated, a flow's source is a whole
subnet (every address of it must be allowed) or one IP.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from hubspoke_deploy.verify.addresses import Endpoint, parse_network
from hubspoke_deploy.verify.dns import DnsAnswer, resolve
from hubspoke_deploy.verify.firewall import FirewallDecision, FirewallRequest, decide, fqdn_matches
from hubspoke_deploy.verify.model import Finding, Firewall, Flow, Hop, Network, Subnet, Verdict, Vnet, key
from hubspoke_deploy.verify.nsg import NsgDecision, evaluate_nsg
from hubspoke_deploy.verify.routing import effective_routes, next_hop

__all__ = [
    "EXEMPT_DELEGATIONS",
    "EXEMPT_SUBNET_NAMES",
    "evaluate",
    "evaluate_flow",
    "exemption",
    "findings",
]

# Subnets that must not (or need not) send 0.0.0.0/0 to the firewall, with the reason.
EXEMPT_SUBNET_NAMES: dict[str, str] = {
    # https://learn.microsoft.com/azure/firewall/firewall-faq (the AzureFirewallSubnet needs a
    # direct 0.0.0.0/0 route to the Internet; forced tunnelling uses the management subnet)
    "azurefirewallsubnet": "Azure Firewall's own subnet (its default route must reach the Internet)",
    # https://learn.microsoft.com/azure/firewall/forced-tunneling
    "azurefirewallmanagementsubnet": "Azure Firewall's management subnet (needs direct Internet access)",
    # https://learn.microsoft.com/azure/bastion/configuration-settings#subnet
    # (user-defined routes are not supported on AzureBastionSubnet)
    "azurebastionsubnet": "Azure Bastion's subnet (route tables are not supported on it)",
    # https://learn.microsoft.com/azure/vpn-gateway/vpn-gateway-about-vpn-gateway-settings#gwsub
    "gatewaysubnet": "virtual network gateway subnet (a 0.0.0.0/0 route breaks the gateway)",
    # https://learn.microsoft.com/azure/route-server/route-server-faq
    "routeserversubnet": "Azure Route Server's subnet (route tables are not supported on it)",
}

# Delegations that exempt a subnet.
EXEMPT_DELEGATIONS: dict[str, str] = {
    # API server VNet integration: the subnet holds the API server's internal load balancer,
    # managed by AKS (https://learn.microsoft.com/azure/aks/api-server-vnet-integration)
    "microsoft.containerservice/managedclusters": "delegated AKS API server subnet (API server VNet integration)",
    # Application Gateway for Containers: its proxies answer the Internet's requests directly
    # (https://learn.microsoft.com/azure/application-gateway/for-containers/application-gateway-for-containers-components)
    "microsoft.servicenetworking/trafficcontrollers": "Application Gateway for Containers association subnet "
                                                      "(ingress: the proxies answer clients directly)",
}

# Application Gateway v2 does not support a 0.0.0.0/0 route to a virtual appliance
# https://learn.microsoft.com/azure/application-gateway/configuration-infrastructure#supported-user-defined-routes
APP_GATEWAY_REASON = "Application Gateway v2 subnet (a 0.0.0.0/0 route to an appliance is unsupported)"


def exemption(subnet: Subnet) -> str | None:
    """Why ``subnet`` is exempt from egress through the firewall, or None."""
    reason = EXEMPT_SUBNET_NAMES.get(subnet.name.lower())
    if reason:
        return reason
    for d in subnet.delegations:
        if d.lower() in EXEMPT_DELEGATIONS:
            return EXEMPT_DELEGATIONS[d.lower()]
    if subnet.app_gateway:
        return APP_GATEWAY_REASON
    return None


# --------------------------------------------------------------------------- helpers


@dataclass
class _Trace:
    hops: list[Hop] = field(default_factory=list)

    def add(self, kind: str, detail: str) -> None:
        self.hops.append(Hop(kind, detail))


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return True


def _vnet_name_of_id(vnet_id: str) -> str:
    return vnet_id.rstrip("/").rsplit("/", 1)[-1]


def _firewall_vnet_id(fw: Firewall) -> str | None:
    if not fw.subnet_id:
        return None
    return "/".join(fw.subnet_id.rstrip("/").split("/")[:-2])


def _firewall_for(network: Network, vnet: Vnet | None) -> Firewall | None:
    """The firewall a VNet should egress through: in the VNet or a connected peer; else the
    only one."""
    firewalls = list(network.firewalls.values())
    if vnet is not None:
        near = {key(vnet.id)} | {key(p.remote_vnet_id) for p, _ in network.connected_peerings(vnet)}
        for fw in firewalls:
            vid = _firewall_vnet_id(fw)
            if vid and key(vid) in near:
                return fw
    return firewalls[0] if len(firewalls) == 1 else None


def _route_fix(network: Network, subnet: Subnet) -> str:
    fw = _firewall_for(network, network.vnet_of(subnet))
    target = fw.private_ip if fw and fw.private_ip else "the firewall's private IP"
    table = network.route_table(subnet)
    if table is not None:
        return f"add a route 0.0.0.0/0 -> VirtualAppliance {target} to route table {table.name} of {subnet.name}"
    return f"associate a route table with 0.0.0.0/0 -> VirtualAppliance {target} to {subnet.name}"


def _proto_word(flow: Flow) -> str:
    return {"http": "Http", "https": "Https"}.get(flow.protocol, flow.protocol.upper())


def _firewall_fix(decision: FirewallDecision, flow: Flow, src: str, dest_ip: str | None) -> str:
    if decision.stage != "default" and decision.rule:
        group, collection = decision.rule.split("/")[:2]
        return (
            f"the Deny collection {group}/{collection} matches first: narrow it, or allow the flow in a collection "
            "evaluated before it (a lower priority number, or an earlier group)"
        )
    fqdn = None if _is_ip(flow.destination) else flow.destination
    if fqdn and flow.protocol in ("http", "https"):
        return f"an application rule allowing {fqdn}:{flow.port} ({_proto_word(flow)}) from {src}"
    if fqdn:
        return (
            f"a network rule allowing {flow.protocol.upper()} {fqdn}:{flow.port} (destinationFqdns; needs DNS proxy) "
            f"from {src}"
        )
    dest = dest_ip or (flow.service_tags[0] if flow.service_tags else flow.destination)
    return f"a network rule allowing {('TCP' if flow.protocol != 'udp' else 'UDP')} {dest}:{flow.port} from {src}"


def _nsg_fix(decision: NsgDecision, direction: str, flow: Flow, src: str, dest: str) -> str:
    where = f"NSG {decision.nsg.name}" if decision.nsg else "the NSG"
    below = f" with a priority number below {decision.rule.priority}" if decision.rule else ""
    proto = "Udp" if flow.protocol == "udp" else "Tcp"
    return f"an {direction.lower()} rule in {where} allowing {proto} {dest}:{flow.port} from {src}{below}"


def _verdict(flow: Flow, trace: _Trace, status: str, reason: str, **kw: object) -> Verdict:
    return Verdict(flow=flow, status=status, hops=tuple(trace.hops), reason=reason, **kw)  # type: ignore[arg-type]


def _deliver_private(
    network: Network,
    flow: Flow,
    trace: _Trace,
    source: Endpoint,
    src_text: str,
    dest_ip: str,
    *,
    crosses: bool,
    rule: str | None,
    resolved: str | None,
) -> Verdict:
    """Inbound NSG of the destination subnet and delivery."""
    dest_subnet = network.subnet_for_ip(dest_ip)
    if dest_subnet is None:
        trace.add("drop", f"no subnet holds {dest_ip}")
        return _verdict(
            flow,
            trace,
            "dropped",
            f"{dest_ip} is in no subnet of the network",
            rule=None,
            resolved=resolved,
            crosses_firewall=crosses,
            fix=f"check the destination address {dest_ip}",
        )
    decision = evaluate_nsg(
        network, dest_subnet, "Inbound", source, Endpoint.of([dest_ip], flow.service_tags), flow.port, flow.protocol
    )
    trace.add("nsg-in", decision.text)
    if not decision.allowed:
        return _verdict(
            flow,
            trace,
            "blocked",
            decision.text,
            rule=None,
            resolved=resolved,
            crosses_firewall=crosses,
            blocking_rule=decision.rule_path,
            fix=_nsg_fix(decision, "Inbound", flow, src_text, dest_ip),
        )
    where = "through the firewall" if crosses else "directly (does not cross the firewall)"
    trace.add("deliver", f"delivered to {dest_ip} in {dest_subnet.name} {where}")
    return _verdict(
        flow,
        trace,
        "allowed",
        f"reaches {dest_ip} in {dest_subnet.name} {where}",
        rule=rule,
        resolved=resolved,
        crosses_firewall=crosses,
    )


# --------------------------------------------------------------------------- flows


def _inbound_from_internet(network: Network, flow: Flow, region: str, trace: _Trace) -> Verdict:
    source = Endpoint.of([flow.source])
    if not _is_ip(flow.destination):
        return _verdict(
            flow, trace, "unknown", "an inbound flow from outside the VNets needs a destination IP", rule=None
        )
    fw = network.firewall_by_public_ip(flow.destination)
    if fw is None:
        return _verdict(
            flow,
            trace,
            "unknown",
            f"{flow.source} is outside the VNets and {flow.destination} is no firewall public IP",
            rule=None,
        )
    policy = network.policy(fw.policy_id)
    if policy is None:
        return _verdict(flow, trace, "unknown", f"firewall {fw.name} has no policy in the network", rule=None)
    decision = decide(
        network,
        policy,
        FirewallRequest(source, Endpoint.of([flow.destination], flow.service_tags), flow.port, flow.protocol),
        region=region,
    )
    trace.add("firewall", f"{fw.name}: {decision.reason}")
    if decision.stage != "dnat" or decision.translated is None:
        return _verdict(
            flow,
            trace,
            "blocked",
            decision.reason,
            rule=None,
            crosses_firewall=True,
            blocking_rule=decision.rule,
            fix=f"a DNAT rule for {flow.destination}:{flow.port} from {flow.source}",
        )
    target = decision.translated[0]
    if not _is_ip(target):
        return _verdict(
            flow,
            trace,
            "unknown",
            f"DNAT to {target} (an FQDN) is not followed",
            rule=decision.rule,
            crosses_firewall=True,
        )
    # Azure Firewall SNATs DNAT'd traffic to its private IP
    snat = Endpoint.of([fw.private_ip]) if fw.private_ip else source
    port_text = decision.translated[1] or ""
    translated_flow_port = int(port_text) if port_text.isdigit() else flow.port
    inner = Flow(flow.name, flow.source, target, translated_flow_port, flow.protocol, flow.service_tags)
    verdict = _deliver_private(
        network, inner, trace, snat, snat.describe(), target, crosses=True, rule=decision.rule, resolved=None
    )
    return Verdict(
        flow, verdict.status, verdict.hops, verdict.rule, verdict.reason, verdict.fix, True, None, verdict.blocking_rule
    )


def evaluate_flow(network: Network, flow: Flow, *, region: str) -> Verdict:
    """The verdict for one flow (see the module docstring)."""
    trace = _Trace()
    subnet = network.subnet(flow.source) or network.subnet_by_name(flow.source)
    if subnet is None and _is_ip(flow.source):
        subnet = network.subnet_for_ip(flow.source)
        if subnet is None:
            return _inbound_from_internet(network, flow, region, trace)
        source = Endpoint.of([flow.source])
    elif subnet is None:
        return _verdict(
            flow,
            trace,
            "unknown",
            f"source {flow.source} is no subnet or IP of the network",
            rule=None,
            fix="name the source by subnet id, vnet/subnet, subnet name or IP",
        )
    else:
        source = Endpoint.of(subnet.prefixes)
    src_text = flow.source if _is_ip(flow.source) else ", ".join(subnet.prefixes)
    vnet = network.vnet_of(subnet)
    trace.add(
        "source",
        f"{subnet.name} ({', '.join(subnet.prefixes)})"
        if not _is_ip(flow.source)
        else f"{flow.source} in {subnet.name}",
    )

    # 1. DNS
    fqdn: str | None = None
    dest_ip: str | None = None
    resolved: str | None = None
    if _is_ip(flow.destination):
        dest_ip = flow.destination
    else:
        fqdn = flow.destination.lower().rstrip(".")
        if vnet is None:
            return _verdict(flow, trace, "unknown", f"the VNet of {subnet.name} is not in the network", rule=None)
        answer = resolve(network, fqdn, vnet)
        trace.add("dns", answer.describe())
        early = _dns_problem(network, flow, trace, answer, vnet)
        if early is not None:
            return early
        if answer.status == "private":
            dest_ip = answer.ip
            resolved = answer.ip
        else:
            resolved = "public"
    destination = Endpoint.of([dest_ip], flow.service_tags) if dest_ip else Endpoint.public(flow.service_tags)
    dest_text = dest_ip or fqdn or flow.destination

    # 2. routing
    hop = next_hop(network, subnet, dest_ip, service_tags=flow.service_tags)
    trace.add("route", f"{subnet.name}: {hop.reason}")

    # 3. NSG outbound (final destination)
    out = evaluate_nsg(network, subnet, "Outbound", source, destination, flow.port, flow.protocol)
    trace.add("nsg-out", out.text)
    if not out.allowed:
        return _verdict(
            flow,
            trace,
            "blocked",
            out.text,
            rule=None,
            resolved=resolved,
            blocking_rule=out.rule_path,
            fix=_nsg_fix(out, "Outbound", flow, src_text, dest_text),
        )

    # 4. by next hop
    if hop.type == "VirtualAppliance":
        fw = network.firewall_by_private_ip(hop.ip or "")
        if fw is None:
            return _verdict(
                flow,
                trace,
                "unknown",
                f"next hop {hop.ip} is not an Azure Firewall of this network",
                rule=None,
                resolved=resolved,
            )
        policy = network.policy(fw.policy_id)
        if policy is None:
            return _verdict(
                flow,
                trace,
                "unknown",
                f"firewall {fw.name} has no firewall policy in the network (classic rules are not modelled)",
                rule=None,
                resolved=resolved,
                crosses_firewall=True,
            )
        decision = decide(
            network, policy, FirewallRequest(source, destination, flow.port, flow.protocol, fqdn), region=region
        )
        trace.add("firewall", f"{fw.name} ({fw.private_ip}): {decision.reason}")
        if not decision.allowed:
            return _verdict(
                flow,
                trace,
                "blocked",
                decision.reason,
                rule=None,
                resolved=resolved,
                crosses_firewall=True,
                blocking_rule=decision.rule,
                fix=_firewall_fix(decision, flow, src_text, dest_ip),
            )
        if dest_ip is not None and not ipaddress.ip_address(dest_ip).is_global:
            fw_subnet = network.subnet(fw.subnet_id) if fw.subnet_id else None
            seen = {fw.name}
            while fw_subnet is not None:
                back = next_hop(network, fw_subnet, dest_ip)
                remote = network.firewall_by_private_ip(back.ip or "") if back.type == "VirtualAppliance" else None
                remote_policy = network.policy(remote.policy_id) if remote is not None else None
                if remote is not None and remote_policy is not None and remote.name not in seen:
                    # issue 18: another region's spokes are behind that region's firewall (its hub is
                    # globally peered): the flow crosses both firewalls, each must allow it
                    seen.add(remote.name)
                    trace.add("route", f"{fw_subnet.name}: {back.reason}")
                    request = FirewallRequest(source, destination, flow.port, flow.protocol, fqdn)
                    decision = decide(network, remote_policy, request, region=region)
                    trace.add("firewall", f"{remote.name} ({remote.private_ip}): {decision.reason}")
                    if not decision.allowed:
                        return _verdict(flow, trace, "blocked", decision.reason, rule=None, resolved=resolved,
                                        crosses_firewall=True, blocking_rule=decision.rule,
                                        fix=_firewall_fix(decision, flow, src_text, dest_ip))
                    fw_subnet = network.subnet(remote.subnet_id) if remote.subnet_id else None
                    continue
                if back.type not in ("VnetLocal", "VNetPeering"):
                    trace.add("route", f"{fw_subnet.name}: {back.reason}")
                    return _verdict(
                        flow,
                        trace,
                        "dropped",
                        f"the firewall has no route to {dest_ip}: {back.reason}",
                        rule=decision.rule,
                        resolved=resolved,
                        crosses_firewall=True,
                        fix=f"peer the firewall's VNet with the VNet of {dest_ip}",
                    )
                break
            return _deliver_private(
                network, flow, trace, source, src_text, dest_ip, crosses=True, rule=decision.rule, resolved=resolved
            )
        trace.add("internet", f"{fw.name} SNATs to its public IP and forwards to {dest_text}")
        return _verdict(
            flow,
            trace,
            "allowed",
            f"allowed by {decision.rule} through {fw.name}",
            rule=decision.rule,
            resolved=resolved,
            crosses_firewall=True,
        )
    if hop.type in ("VnetLocal", "VNetPeering"):
        if dest_ip is None:
            return _verdict(
                flow, trace, "unknown", "a VNet route for a public destination", rule=None, resolved=resolved
            )
        return _deliver_private(
            network, flow, trace, source, src_text, dest_ip, crosses=False, rule=None, resolved=resolved
        )
    if hop.type == "Internet":
        via = "its NAT gateway" if subnet.nat_gateway_id else "default outbound access"
        if hop.route is not None and hop.route.source == "User":
            via = f"UDR '{hop.route.name}'"
        trace.add("internet", f"leaves {subnet.name} for the Internet through {via}, without the firewall")
        return _verdict(
            flow,
            trace,
            "bypass",
            f"reaches {dest_text} through {via}, bypassing the firewall",
            rule=None,
            resolved=resolved,
            fix=_route_fix(network, subnet),
        )
    if hop.type == "None":
        trace.add("drop", hop.reason)
        fix = (
            _route_fix(network, subnet)
            if dest_ip is None or ipaddress.ip_address(dest_ip).is_global
            else (f"peer {vnet.name if vnet else 'the VNet'} with the VNet of {dest_ip}, or route it to the firewall")
        )
        return _verdict(flow, trace, "dropped", f"dropped: {hop.reason}", rule=None, resolved=resolved, fix=fix)
    return _verdict(flow, trace, "unknown", f"next hop {hop.type} is not modelled", rule=None, resolved=resolved)


def _dns_problem(network: Network, flow: Flow, trace: _Trace, answer: DnsAnswer, vnet: Vnet) -> Verdict | None:
    view = answer.resolver
    links_vnet = network.vnet(view.links_vnet_id) if view.links_vnet_id else None
    links_name = links_vnet.name if links_vnet else (view.links_vnet_id or vnet.name)
    if answer.status == "failed":
        fix = (
            f"turn DNS proxy on in the firewall policy, or set {vnet.name}'s DNS servers back to Azure-provided DNS"
            if view.kind == "failed"
            else None
        )
        return _verdict(flow, trace, "unresolved", answer.describe(), rule=None, fix=fix)
    if answer.status == "nxdomain":
        return _verdict(
            flow,
            trace,
            "unresolved",
            answer.describe(),
            rule=None,
            resolved="NXDOMAIN",
            fix=f"add an A record for {answer.queried} to {answer.zone} (the private endpoint's DNS zone group)",
        )
    if answer.status == "public" and answer.unlinked_zone:
        zone = answer.unlinked_zone
        return _verdict(
            flow,
            trace,
            "unresolved",
            f"{answer.name} resolves publicly ({answer.note}): the client would miss the private endpoint",
            rule=None,
            resolved="public",
            fix=f"link {zone} to {links_name}",
        )
    return None


def evaluate(network: Network, flows: Iterable[Flow], *, region: str) -> list[Verdict]:
    """Verdicts for ``flows``, in order. ``region``: the deployment's region (for
    region-templated FQDN tag entries such as ``*.hcp.<region>.azmk8s.io``)."""
    return [evaluate_flow(network, flow, region=region) for flow in flows]


# --------------------------------------------------------------------------- findings


def _all_ports(ports: tuple[str, ...]) -> bool:
    return any(p.strip() in ("*", "0-65535", "1-65535") for p in ports)


def _any_address(values: tuple[str, ...]) -> bool:
    return any(v.strip().lower() in ("*", "0.0.0.0/0", "any") for v in values)


def findings(network: Network) -> list[Finding]:
    """Subnets that reach the Internet without the firewall, catch-all allow rules, subnets
    with no egress at all, and exempt subnets (with the reason)."""
    result: list[Finding] = []
    for subnet in sorted(network.subnets.values(), key=lambda s: (s.vnet_id.lower(), s.name.lower())):
        vnet_name = _vnet_name_of_id(subnet.vnet_id)
        subject = f"{vnet_name}/{subnet.name}"
        reason = exemption(subnet)
        if reason is not None:
            result.append(Finding("exempt", subject, reason))
            continue
        hop = next_hop(network, subnet, None)
        if hop.type == "Internet":
            if hop.route is not None and hop.route.source == "User":
                detail = f"{hop.route.describe()}: the Internet without the firewall"
            else:
                via = "its NAT gateway" if subnet.nat_gateway_id else "default outbound access"
                detail = f"0.0.0.0/0 reaches the Internet through {via}, without the firewall"
            result.append(Finding("bypass", subject, detail, _route_fix(network, subnet)))
        elif hop.type == "None":
            result.append(
                Finding("no-egress", subject, f"no route to the Internet: {hop.reason}", _route_fix(network, subnet))
            )
        for route in effective_routes(network, subnet):
            if route.source != "User" or route.next_hop_type != "Internet" or route.prefix == "0.0.0.0/0":
                continue
            net = parse_network(route.prefix)
            if net is None or net.prefixlen < net.max_prefixlen:
                if not network.has_outbound_access(subnet):
                    continue
                result.append(
                    Finding(
                        "bypass",
                        subject,
                        f"{route.describe()} sends more than one address to the Internet without the firewall",
                        f"narrow UDR '{route.name}' to /32 host routes (e.g. DNAT public IPs) or remove it",
                    )
                )
    for policy in network.policies.values():
        for group in policy.groups:
            for collection in group.collections:
                if collection.kind != "Filter" or collection.action.lower() != "allow":
                    continue
                for rule in collection.rules:
                    where = f"{policy.name}/{group.name}/{collection.name}/{rule.name}"
                    if (
                        rule.rule_type == "NetworkRule"
                        and _any_address(rule.source_addresses)
                        and (_any_address(rule.destination_addresses))
                        and _all_ports(rule.destination_ports)
                    ):
                        result.append(
                            Finding(
                                "catch-all",
                                where,
                                "network rule allowing any source to any destination on all ports",
                                "remove it or narrow source, destination and ports",
                            )
                        )
                    if rule.rule_type == "ApplicationRule" and any(
                        fqdn_matches(t, "*") and t.strip() == "*" for t in rule.target_fqdns
                    ):
                        result.append(
                            Finding(
                                "catch-all",
                                where,
                                "application rule allowing every FQDN (*)",
                                "list the FQDNs (or FQDN tags) the sources need",
                            )
                        )
    return result
