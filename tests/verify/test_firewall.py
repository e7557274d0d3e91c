"""Azure Firewall policy evaluation: processing order, wildcards, FQDN tags, ports, ranges,
protocols, sources, service tags, IP groups, DNAT."""

from __future__ import annotations

import pytest
from hubspoke_deploy.verify.addresses import Endpoint, port_matches
from hubspoke_deploy.verify.firewall import FirewallRequest, decide, fqdn_matches, ordered_groups, tag_fqdns
from hubspoke_deploy.verify.model import Network, Policy, Protocol, Rule, RuleCollection, RuleCollectionGroup

SRC = Endpoint.of(["10.1.0.0/22"])
PUBLIC = Endpoint.public()


def app(
    name: str,
    fqdns: tuple[str, ...] = ("*",),
    *,
    src: tuple[str, ...] = ("*",),
    tags: tuple[str, ...] = (),
    protocols: tuple[tuple[str, int], ...] = (("Https", 443), ("Http", 80)),
) -> Rule:
    return Rule(
        name,
        "ApplicationRule",
        source_addresses=src,
        target_fqdns=fqdns if not tags else (),
        fqdn_tags=tags,
        protocols=protocols,
    )


def net(
    name: str,
    *,
    dst: tuple[str, ...] = ("*",),
    ports: tuple[str, ...] = ("*",),
    protos: tuple[str, ...] = ("Any",),
    src: tuple[str, ...] = ("*",),
    fqdns: tuple[str, ...] = (),
) -> Rule:
    return Rule(
        name,
        "NetworkRule",
        source_addresses=src,
        destination_addresses=() if fqdns else dst,
        destination_fqdns=fqdns,
        destination_ports=ports,
        ip_protocols=protos,
    )


def coll(name: str, priority: int, *rules: Rule, action: str = "Allow") -> RuleCollection:
    return RuleCollection(name, "Filter", action, priority, rules)


def group(name: str, priority: int, *collections: RuleCollection) -> RuleCollectionGroup:
    return RuleCollectionGroup(f"/p/ruleCollectionGroups/{name}", name, priority, collections)


def policy(*groups: RuleCollectionGroup, pid: str = "/p", base: str | None = None, proxy: bool = True) -> Policy:
    return Policy(pid, pid.strip("/"), base, proxy, (), groups)


def network(*policies: Policy) -> Network:
    n = Network()
    for p in policies:
        n.policies[p.id.lower()] = p
    n.ip_groups["/ipg/nodes"] = ("10.1.0.0/22",)
    return n


def request(
    fqdn: str | None = "www.example.com",
    *,
    port: int = 443,
    protocol: Protocol = "https",
    dest: Endpoint = PUBLIC,
    src: Endpoint = SRC,
) -> FirewallRequest:
    return FirewallRequest(src, dest, port, protocol, fqdn)


def rule_of(p: Policy, req: FirewallRequest, *extra: Policy) -> str | None:
    d = decide(network(p, *extra), p, req, region="westeurope")
    return f"{'allow' if d.allowed else 'deny'}:{d.rule}"


# --------------------------------------------------------------------------- order

ORDER_CASES = [
    pytest.param(
        policy(
            group("g300", 300, coll("allow", 100, app("a"))),
            group("g200", 200, coll("deny", 100, app("d"), action="Deny")),
        ),
        "deny:g200/deny/d",
        id="lower group priority number first",
    ),
    pytest.param(
        policy(
            group("g300", 300, coll("deny", 100, app("d"), action="Deny")),
            group("g200", 200, coll("allow", 100, app("a"))),
        ),
        "allow:g200/allow/a",
        id="group priority beats collection priority",
    ),
    pytest.param(
        policy(group("g", 100, coll("allow", 200, app("a")), coll("deny", 150, app("d"), action="Deny"))),
        "deny:g/deny/d",
        id="collection priority within a group (Deny above Allow)",
    ),
    pytest.param(
        policy(group("g", 100, coll("deny", 300, app("d"), action="Deny"), coll("allow", 150, app("a")))),
        "allow:g/allow/a",
        id="Allow above Deny",
    ),
    pytest.param(
        policy(
            group("g100", 100, coll("allow-app", 100, app("a"))),
            group("g900", 900, coll("deny-net", 900, net("n"), action="Deny")),
        ),
        "deny:g900/deny-net/n",
        id="network rules before application rules whatever the priorities",
    ),
    pytest.param(
        policy(
            group("g100", 100, coll("deny-app", 100, app("d"), action="Deny")),
            group("g900", 900, coll("allow-net", 900, net("n"))),
        ),
        "allow:g900/allow-net/n",
        id="a matching network rule stops: application rules not evaluated",
    ),
    pytest.param(
        policy(group("g", 100, coll("other", 100, app("x", ("other.example.com",))))),
        "deny:None",
        id="no match: default deny",
    ),
    pytest.param(
        policy(group("g", 100, coll("c", 100, app("first", ("www.example.com",)), app("second", ("*.example.com",))))),
        "allow:g/c/first",
        id="first matching rule of the collection is named",
    ),
]


@pytest.mark.parametrize(("pol", "expected"), ORDER_CASES)
def test_processing_order(pol: Policy, expected: str) -> None:
    assert rule_of(pol, request()) == expected


def test_parent_policy_groups_first_whatever_the_priority() -> None:
    parent = policy(group("parent-g", 65000, coll("deny", 65000, app("d"), action="Deny")), pid="/parent")
    child = policy(group("child-g", 100, coll("allow", 100, app("a"))), pid="/child", base="/parent")
    d = decide(network(parent, child), child, request(), region="westeurope")
    assert not d.allowed and d.rule == "parent-g/deny/d" and d.policy == "parent"
    assert "parent policy parent" in d.reason
    assert [g.name for _, g in ordered_groups(network(parent, child), child)] == ["parent-g", "child-g"]


def test_parent_network_rule_beats_child_and_network_before_application_across_policies() -> None:
    parent = policy(group("pg", 100, coll("allow-app", 100, app("a"))), pid="/parent")
    child = policy(group("cg", 65000, coll("deny-net", 65000, net("n"), action="Deny")), pid="/child", base="/parent")
    assert rule_of(child, request(), parent) == "deny:cg/deny-net/n"


def test_dnat_before_network_rules() -> None:
    nat = RuleCollection(
        "dnat",
        "Nat",
        "DNAT",
        100,
        (
            Rule(
                "web",
                "NatRule",
                source_addresses=("*",),
                destination_addresses=("20.1.2.3",),
                destination_ports=("443",),
                ip_protocols=("TCP",),
                translated_address="10.1.9.10",
                translated_port="8443",
            ),
        ),
    )
    p = policy(group("g1", 100, coll("deny", 100, net("n"), action="Deny")), group("g9", 900, nat))
    d = decide(network(p), p, request(None, dest=Endpoint.of(["20.1.2.3"]), protocol="tcp"), region="westeurope")
    assert d.allowed and d.stage == "dnat" and d.translated == ("10.1.9.10", "8443")
    other = decide(network(p), p, request(None, dest=Endpoint.of(["20.1.2.4"]), protocol="tcp"), region="westeurope")
    assert other.rule == "g1/deny/n"


def test_application_rules_only_for_http_and_https() -> None:
    p = policy(group("g", 100, coll("c", 100, app("a"))))
    assert rule_of(p, request(protocol="https")) == "allow:g/c/a"
    assert rule_of(p, request(protocol="tcp")) == "deny:None"
    assert rule_of(p, request(None, protocol="https")) == "deny:None"  # no name: nothing to match


# --------------------------------------------------------------------------- wildcards and tags

WILDCARDS = [
    ("*.example.com", "a.example.com", True),
    ("*.example.com", "a.b.example.com", True),
    ("*.example.com", "example.com", False),
    ("*.example.com", "badexample.com", False),
    ("*example.com", "badexample.com", True),
    ("*", "anything.at.all", True),
    ("www.example.com", "WWW.Example.com.", True),
    ("www.example.com", "x.www.example.com", False),
]


@pytest.mark.parametrize(("pattern", "fqdn", "expected"), WILDCARDS)
def test_fqdn_wildcards(pattern: str, fqdn: str, expected: bool) -> None:
    assert fqdn_matches(pattern, fqdn) is expected


AKS_TAG = [
    ("mcr.microsoft.com", "westeurope", True),
    ("eastus.data.mcr.microsoft.com", "westeurope", True),
    ("mcr-0001.mcr-msedge.net", "westeurope", True),
    ("management.azure.com", "westeurope", True),
    ("login.microsoftonline.com", "westeurope", True),
    ("packages.microsoft.com", "westeurope", True),
    ("acs-mirror.azureedge.net", "westeurope", True),
    ("packages.aks.azure.com", "westeurope", True),
    ("x-1.hcp.westeurope.azmk8s.io", "westeurope", True),
    ("x-1.hcp.westeurope.azmk8s.io", "eastus", False),
    ("data.policy.core.windows.net", "westeurope", False),  # Azure Policy add-on: not in the tag
    ("global.handler.control.monitor.azure.com", "westeurope", False),  # Container Insights: not in the tag
    ("archive.ubuntu.com", "westeurope", False),
]


@pytest.mark.parametrize(("fqdn", "region", "expected"), AKS_TAG)
def test_aks_fqdn_tag(fqdn: str, region: str, expected: bool) -> None:
    p = policy(group("g", 100, coll("c", 100, app("aks", tags=("AzureKubernetesService",)))))
    d = decide(network(p), p, request(fqdn), region=region)
    assert d.allowed is expected
    assert "*.hcp.westeurope.azmk8s.io" in tag_fqdns("azurekubernetesservice", "WestEurope")
    assert tag_fqdns("NoSuchTag", "westeurope") == ()


# --------------------------------------------------------------------------- ports, protocols

PORTS = [
    ("*", 1, True),
    ("443", 443, True),
    ("443", 80, False),
    ("80-443", 80, True),
    ("80-443", 443, True),
    ("80-443", 444, False),
    ("1-65535", 65535, True),
    ("abc", 1, False),
]


@pytest.mark.parametrize(("spec", "port", "expected"), PORTS)
def test_port_specs(spec: str, port: int, expected: bool) -> None:
    assert port_matches(spec, port) is expected


NETWORK_CASES = [
    # (rule, request kwargs, allowed)
    (net("r", ports=("80-443",), protos=("TCP",)), {"port": 22, "protocol": "tcp"}, False),
    (net("r", ports=("80-443",), protos=("TCP",)), {"port": 443, "protocol": "tcp"}, True),
    (net("r", ports=("123",), protos=("UDP",)), {"port": 123, "protocol": "udp"}, True),
    (net("r", ports=("123",), protos=("TCP",)), {"port": 123, "protocol": "udp"}, False),
    (net("r", ports=("123",), protos=("Any",)), {"port": 123, "protocol": "udp"}, True),
    (net("r", protos=("ICMP",)), {"protocol": "tcp"}, False),
    (net("r", ports=("443",), protos=("TCP",)), {"port": 443, "protocol": "https"}, True),
    (net("r", ports=("8080", "443")), {"port": 443}, True),
]


@pytest.mark.parametrize(("rule", "kwargs", "allowed"), NETWORK_CASES)
def test_network_rule_ports_and_protocols(rule: Rule, kwargs: dict[str, object], allowed: bool) -> None:
    p = policy(group("g", 100, coll("c", 100, rule)))
    req = request(None, **kwargs)  # type: ignore[arg-type]
    assert decide(network(p), p, req, region="westeurope").allowed is allowed


def test_application_rule_protocol_and_port_must_both_match() -> None:
    p = policy(group("g", 100, coll("c", 100, app("a", protocols=(("Https", 8443),)))))
    assert rule_of(p, request(port=443)) == "deny:None"
    assert rule_of(p, request(port=8443)) == "allow:g/c/a"
    assert rule_of(p, request(port=8443, protocol="http")) == "deny:None"


# --------------------------------------------------------------------------- sources and destinations

SOURCES = [
    (("*",), True),
    (("10.1.0.0/16",), True),
    (("10.1.0.0/22",), True),
    (("10.1.0.0/23",), False),  # covers only half of the source subnet
    (("10.1.0.0-10.1.3.255",), True),
    (("10.1.0.0-10.1.2.255",), False),
    (("10.9.0.0/16", "10.1.0.0/22"), True),
    (("192.168.0.0/16",), False),
]


@pytest.mark.parametrize(("sources", "allowed"), SOURCES)
def test_source_addresses_must_cover_the_whole_source(sources: tuple[str, ...], allowed: bool) -> None:
    p = policy(group("g", 100, coll("c", 100, app("a", src=sources))))
    assert decide(network(p), p, request(), region="westeurope").allowed is allowed


def test_source_ip_groups() -> None:
    rule = Rule(
        "a", "ApplicationRule", source_ip_groups=("/IPG/Nodes",), target_fqdns=("*",), protocols=(("Https", 443),)
    )
    p = policy(group("g", 100, coll("c", 100, rule)))
    assert rule_of(p, request()) == "allow:g/c/a"
    assert rule_of(p, request(src=Endpoint.of(["10.1.9.0/24"]))) == "deny:None"


DESTINATIONS = [
    # (rule destinations, destination endpoint, allowed)
    (("*",), PUBLIC, True),
    (("0.0.0.0/0",), PUBLIC, True),
    (("20.0.0.0/8",), PUBLIC, False),  # the name's IP is unknown
    (("20.0.0.0/8",), Endpoint.of(["20.1.2.3"]), True),
    (("AzureCloud.westeurope",), Endpoint.public(("AzureCloud.westeurope",)), True),
    (("AzureCloud",), Endpoint.public(("AzureCloud.westeurope",)), True),
    (("AzureCloud.eastus",), Endpoint.public(("AzureCloud.westeurope",)), False),
    (("AzureCloud.westeurope",), PUBLIC, False),
]


@pytest.mark.parametrize(("dests", "dest", "allowed"), DESTINATIONS)
def test_network_rule_destinations_and_service_tags(dests: tuple[str, ...], dest: Endpoint, allowed: bool) -> None:
    p = policy(group("g", 100, coll("c", 100, net("n", dst=dests, ports=("9000",), protos=("TCP",)))))
    req = request(None, port=9000, protocol="tcp", dest=dest)
    assert decide(network(p), p, req, region="westeurope").allowed is allowed


@pytest.mark.parametrize(("proxy", "allowed"), [(True, True), (False, False)])
def test_network_rule_fqdns_need_the_dns_proxy(proxy: bool, allowed: bool) -> None:
    p = policy(
        group("g", 100, coll("c", 100, net("ntp", fqdns=("ntp.ubuntu.com",), ports=("123",), protos=("UDP",)))),
        proxy=proxy,
    )
    req = request("ntp.ubuntu.com", port=123, protocol="udp")
    assert decide(network(p), p, req, region="westeurope").allowed is allowed
