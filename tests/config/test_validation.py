"""Table-driven invalid configs: each is the sandbox example with one change."""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hubspoke_deploy.config as config_pkg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hubspoke_deploy.config import load_config_dict
from hubspoke_deploy.errors import ConfigError, Problem

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

EXAMPLES = Path(config_pkg.__file__).parent / "examples"
ED25519_BODY = "AAAAC3NzaC1lZDI1NTE5AAAAIGv/eLRcO9o5/un7Jbya6YDolCfOoZge+2yh8Kpnu0oR"

Mutation = Callable[[dict[str, Any]], None]


def sandbox() -> dict[str, Any]:
    with (EXAMPLES / "sandbox.toml").open("rb") as fh:
        return tomllib.load(fh)


def problems_for(mutate: Mutation) -> list[Problem]:
    data = sandbox()
    mutate(data)
    with pytest.raises(ConfigError) as info:
        load_config_dict(data, env={})
    return info.value.problems


def _set(path: str, value: Any) -> Mutation:
    """Mutation setting a dotted path (``spokes.0.subnets.pods``), creating tables on the way."""

    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        last = parts[-1]
        node[last] = value

    return mutate


def _del(path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[parts[-1]]

    return mutate


def _both(*mutations: Mutation) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        for m in mutations:
            m(data)

    return mutate


def _add_spoke(name: str, space: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["spokes"].append({"name": name, "address_space": [space]})

    return mutate


def _rsa_key(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


CASES: list[tuple[str, Mutation, str, str]] = [
    # --- pydantic errors, converted
    (
        "extra key near miss",
        _set("firewall.tier2", "Premium"),
        "firewall.tier2",
        "unknown key 'tier2'; did you mean 'tier'?",
    ),
    (
        "unknown section",
        _set("firewal", {"tier": "Premium"}),
        "firewal",
        "unknown section 'firewal'; did you mean 'firewall'?",
    ),
    (
        "extra key in list item",
        _set("spokes.0.subnets.api_servr", "10.1.2.0/28"),
        "spokes[0].subnets.api_servr",
        "did you mean 'api_server'?",
    ),
    (
        "literal typo",
        _set("firewall.tier", "Premiun"),
        "firewall.tier",
        "'Premiun' is not one of Basic, Standard, Premium",
    ),
    (
        "int as string",
        _set("firewall.public_ip_count", "2"),
        "firewall.public_ip_count",
        "expected an integer, got a string",
    ),
    ("bool as string", _set("aks.private_cluster", "yes"), "aks.private_cluster", "expected true or false"),
    (
        "missing key",
        _del("deployment.subscription_id"),
        "deployment.subscription_id",
        "required key 'subscription_id' is missing",
    ),
    ("password refused", _set("jumpbox.password", "hunter2"), "jumpbox.password", "SSH keys only"),
    # --- deployment / azure / state
    ("bad deployment name", _set("deployment.name", "Sandbox_1"), "deployment.name", "is not a valid deployment name"),
    (
        "bad subscription",
        _set("deployment.subscription_id", "not-a-guid"),
        "deployment.subscription_id",
        "is not a GUID",
    ),
    ("reserved tag", _set("deployment.tags", {"managed-by": "me"}), "deployment.tags.managed-by", "is reserved"),
    (
        "http endpoint",
        _set("azure.endpoint", "http://127.0.0.1:8443"),
        "azure.endpoint",
        "is not a known cloud or an https:// URL",
    ),
    (
        "simulator credential on public",
        _set("azure.endpoint", "public"),
        "azure.credential",
        "only accepted with the simulator endpoint",
    ),
    (
        "simulator credential on remote https",
        _set("azure.endpoint", "https://arm.example.com"),
        "azure.credential",
        "on loopback",
    ),
    ("blob without url", _set("state.backend", "blob"), "state.backend", "needs account_url or connection_string_env"),
    (
        "connection string inline",
        _both(_set("state.backend", "blob"), _set("state.connection_string_env", "AccountName=x;AccountKey=y")),
        "state.connection_string_env",
        "looks like a connection string",
    ),
    # --- network
    (
        "host bits",
        _set("spokes.0.subnets.system_nodes", "10.1.0.5/24"),
        "spokes[0].subnets.system_nodes",
        "has host bits set",
    ),
    (
        "bad cidr",
        _set("spokes.0.subnets.system_nodes", "10.1.0.0/33"),
        "spokes[0].subnets.system_nodes",
        "is not a valid CIDR",
    ),
    (
        "subnet outside vnet",
        _set("spokes.0.subnets.jumpbox", "10.9.0.0/24"),
        "spokes[0].subnets.jumpbox",
        "is outside the address space",
    ),
    (
        "overlapping subnets",
        _set("spokes.0.subnets.user_nodes", "10.1.0.0/24"),
        "spokes[0].subnets.user_nodes",
        "overlaps subnet 'system_nodes'",
    ),
    (
        "spoke overlaps spoke",
        _add_spoke("apps", "10.1.128.0/17"),
        "spokes[1].address_space",
        "peered VNets cannot overlap",
    ),
    (
        "spoke overlaps hub",
        _add_spoke("apps", "10.0.2.0/24"),
        "spokes[1].address_space",
        "overlaps 10.0.0.0/22 (the hub)",
    ),
    (
        "firewall subnet too small",
        _set("hub.subnets.firewall", "10.0.0.0/27"),
        "hub.subnets.firewall",
        "AzureFirewallSubnet must be /26 or larger",
    ),
    (
        "bastion subnet too small",
        _set("hub.subnets.bastion", "10.0.0.64/27"),
        "hub.subnets.bastion",
        "AzureBastionSubnet must be /26",
    ),
    (
        "api server subnet too small",
        _set("spokes.0.subnets.api_server", "10.1.2.0/29"),
        "spokes[0].subnets.api_server",
        "must be /28 or larger",
    ),
    (
        "node subnet too small",
        _set("spokes.0.subnets.user_nodes", "10.1.1.0/29"),
        "spokes[0].subnets.user_nodes",
        "needs 9 for its nodes",
    ),
    (
        "node subnet too small for pods without overlay",
        _both(
            _set("aks.network_plugin_mode", "none"),
            _set("aks.network_dataplane", "azure"),
            _set("aks.network_policy", "azure"),
        ),
        "spokes[0].subnets.user_nodes",
        "needs 449 for its nodes and their pods",
    ),
    (
        "pod subnet with overlay",
        _set("spokes.0.subnets.pods", "10.1.16.0/20"),
        "spokes[0].subnets.pods",
        "only used without overlay",
    ),
    (
        "cluster spoke misses api subnet",
        _del("spokes.0.subnets.api_server"),
        "spokes[0].subnets.api_server",
        "needs a 'api_server' subnet",
    ),
    (
        "service cidr overlaps vnet",
        _set("aks.service_cidr", "10.1.0.0/16"),
        "aks.service_cidr",
        "overlaps 10.1.0.0/16 (spoke 'aks')",
    ),
    ("service cidr overlaps pods", _set("aks.pod_cidr", "172.16.0.0/12"), "aks.service_cidr", "overlaps the pod CIDR"),
    ("dns ip outside", _set("aks.dns_service_ip", "10.0.0.10"), "aks.dns_service_ip", "is not inside the service CIDR"),
    ("dns ip is .1", _set("aks.dns_service_ip", "172.16.0.1"), "aks.dns_service_ip", "the first (.0), .1"),
    ("aks spoke unknown", _set("aks.spoke", "ak"), "aks.spoke", "no spoke is named 'ak'; did you mean 'aks'?"),
    ("duplicate spoke", _add_spoke("aks", "10.2.0.0/16"), "spokes[1].name", "duplicate spoke name 'aks'"),
    # --- names
    ("acr name", _set("acr.name", "my-acr"), "acr.name", "5-50 letters and digits"),
    ("keyvault consecutive hyphens", _set("keyvault.name", "kv--sandbox"), "keyvault.name", "no '--'"),
    ("storage name", _set("storage.name", "St_Bad"), "storage.name", "3-24 lowercase letters and digits"),
    ("dns prefix", _set("aks.dns_prefix", "-bad"), "aks.dns_prefix", "is not a valid DNS prefix"),
    # --- ssh
    (
        "ssh type mismatch",
        _set("jumpbox.ssh_public_key", f"ssh-rsa {ED25519_BODY} x"),
        "jumpbox.ssh_public_key",
        "its body holds a 'ssh-ed25519' key",
    ),
    (
        "ssh not base64",
        _set("jumpbox.ssh_public_key", "ssh-ed25519 !!!notbase64"),
        "jumpbox.ssh_public_key",
        "not valid base64",
    ),
    (
        "ssh unknown type",
        _set("jumpbox.ssh_public_key", f"ssh-dss {ED25519_BODY}"),
        "jumpbox.ssh_public_key",
        "'ssh-dss' is not supported",
    ),
    (
        "ssh truncated",
        _set(
            "jumpbox.ssh_public_key",
            "ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20abc").decode(),
        ),
        "jumpbox.ssh_public_key",
        "truncated",
    ),
    (
        "ssh rsa too short",
        _set("jumpbox.ssh_public_key", _rsa_key(1024)),
        "jumpbox.ssh_public_key",
        "has 1024 bits; Azure requires at least 2048",
    ),
    ("no ssh key", _del("jumpbox.ssh_public_key"), "jumpbox.ssh_public_key", "needs an SSH public key"),
    ("reserved admin", _set("jumpbox.admin_username", "root"), "jumpbox.admin_username", "is not allowed"),
    # --- pools
    (
        "count above max",
        _set("aks.system_pool.count", 5),
        "aks.system_pool.count",
        "min_count <= count <= max_count; got 1 <= 5 <= 2",
    ),
    (
        "system min zero",
        _set("aks.system_pool.min_count", 0),
        "aks.system_pool.min_count",
        "at least 1 for the system pool",
    ),
    ("pool zone", _set("aks.user_pool.zones", ["1", "5"]), "aks.user_pool.zones[1]", "'5' is not an availability zone"),
    ("max pods", _set("aks.user_pool.max_pods", 300), "aks.user_pool.max_pods", "out of range (10-250)"),
    # --- firewall
    ("firewall zone", _set("firewall.zones", ["1", "4"]), "firewall.zones[1]", "'4' is not an availability zone"),
    (
        "basic needs mgmt subnet",
        _set("firewall.tier", "Basic"),
        "hub.subnets.firewall_management",
        "Basic firewall tier needs an AzureFirewallManagementSubnet",
    ),
    (
        "basic threat intel deny",
        _both(_set("firewall.tier", "Basic"), _set("firewall.threat_intel_mode", "Deny")),
        "firewall.threat_intel_mode",
        "not supported on the Basic tier",
    ),
    ("idps on standard", _set("firewall.idps_mode", "Alert"), "firewall.idps_mode", "Premium-only"),
    (
        "zero public ips",
        _set("firewall.public_ip_count", 0),
        "firewall.public_ip_count",
        "out of range; Azure Firewall takes 1 to 250",
    ),
    ("too many public ips", _set("firewall.public_ip_count", 251), "firewall.public_ip_count", "1 to 250"),
    (
        "prefix length",
        _set("firewall.public_ip_prefix_length", 27),
        "firewall.public_ip_prefix_length",
        "/27 is not a supported prefix length",
    ),
    (
        "ips do not fit prefix",
        _both(_set("firewall.public_ip_count", 3), _set("firewall.public_ip_prefix_length", 31)),
        "firewall.public_ip_count",
        "do not fit a /31 prefix",
    ),
    (
        "dnat dedicated over limit",
        _both(
            _set("firewall.public_ip_count", 249),
            _set(
                "firewall.dnat_rules",
                [
                    {
                        "name": "web",
                        "public_port": 443,
                        "translated_address": "10.1.1.250",
                        "translated_port": 443,
                        "dedicated_public_ip": True,
                    }
                ],
            ),
        ),
        "firewall.dnat_rules",
        "= 251, over Azure Firewall's limit of 250",
    ),
    (
        "dnat bad address",
        _set(
            "firewall.dnat_rules",
            [{"name": "web", "public_port": 443, "translated_address": "lb.local", "translated_port": 443}],
        ),
        "firewall.dnat_rules[0].translated_address",
        "is not an IPv4 address",
    ),
    (
        "app rule protocol",
        _set("firewall.application_rules", [{"name": "gh", "fqdns": ["github.com"], "protocols": ["Https443"]}]),
        "firewall.application_rules[0].protocols[0]",
        "is not '<Http|Https|Mssql>:<port>'",
    ),
    (
        "network rule fqdn without dns proxy",
        _both(
            _set("firewall.dns_proxy", False),
            _set(
                "firewall.network_rules",
                [
                    {
                        "name": "ntp",
                        "protocols": ["UDP"],
                        "destination_fqdns": ["ntp.ubuntu.com"],
                        "destination_ports": ["123"],
                    }
                ],
            ),
        ),
        "firewall.network_rules[0].destination_fqdns",
        "need the firewall DNS proxy",
    ),
    # --- aks / other resources
    ("k8s version", _set("aks.kubernetes_version", "v1.33"), "aks.kubernetes_version", "is not a Kubernetes version"),
    (
        "policy with cilium",
        _set("aks.network_policy", "calico"),
        "aks.network_policy",
        "cannot be used with the Cilium dataplane",
    ),
    ("workload identity needs oidc", _set("aks.oidc_issuer", False), "aks.workload_identity", "needs the OIDC issuer"),
    (
        "local accounts need rbac",
        _set("aks.azure_rbac", False),
        "aks.local_accounts_disabled",
        "Microsoft Entra integration",
    ),
    (
        "admin group guid",
        _set("aks.admin_group_object_ids", ["admins"]),
        "aks.admin_group_object_ids[0]",
        "is not a GUID",
    ),
    (
        "bastion basic tunneling",
        _both(_set("bastion.sku", "Basic"), _set("bastion.tunneling", True)),
        "bastion.tunneling",
        "needs the Standard or Premium SKU",
    ),
    ("acr sku", _set("acr.sku", "Standard"), "acr.sku", "needs the Premium SKU"),
    (
        "kv retention",
        _set("keyvault.soft_delete_retention_days", 100),
        "keyvault.soft_delete_retention_days",
        "out of range (7-90)",
    ),
    ("log retention", _set("monitoring.retention_days", 7), "monitoring.retention_days", "out of range (30-730)"),
]


@pytest.mark.parametrize(("mutate", "path", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_config_reports_path_and_message(mutate: Mutation, path: str, text: str) -> None:
    problems = problems_for(mutate)
    at_path = [p for p in problems if p.path == path]
    assert at_path, f"no problem at {path!r}; got {[str(p) for p in problems]}"
    assert any(text in p.message for p in at_path), [str(p) for p in at_path]
    assert all(p.severity == "error" for p in problems)


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


def test_sandbox_itself_is_valid() -> None:
    cfg = load_config_dict(sandbox(), env={})
    assert cfg.name == "sandbox"


def test_extra_key_fix_and_host_bits_fix() -> None:
    [extra] = [p for p in problems_for(_set("firewall.tier2", "x")) if p.path == "firewall.tier2"]
    assert extra.fix == "rename it to 'tier'."
    [host] = [p for p in problems_for(_set("spokes.0.subnets.system_nodes", "10.1.0.5/24"))]
    assert host.fix == "use the network address: 10.1.0.0/24."


def test_several_problems_reported_together() -> None:
    problems = problems_for(
        _both(
            _set("firewall.public_ip_count", 0),
            _set("hub.subnets.firewall", "10.0.0.0/28"),
            _set("aks.dns_service_ip", "10.0.0.10"),
            _set("acr.sku", "Basic"),
            _set("deployment.subscription_id", "nope"),
        )
    )
    paths = {p.path for p in problems}
    assert {
        "firewall.public_ip_count",
        "hub.subnets.firewall",
        "aks.dns_service_ip",
        "acr.sku",
        "deployment.subscription_id",
    } <= paths


def test_several_pydantic_errors_reported_together() -> None:
    problems = problems_for(
        _both(
            _set("firewall.tier", "Gold"),
            _set("aks.user_pool.count", "three"),
            _set("bastion.skuu", "Standard"),
            _del("deployment.location"),
        )
    )
    assert {p.path for p in problems} == {
        "firewall.tier",
        "aks.user_pool.count",
        "bastion.skuu",
        "deployment.location",
    }


def test_config_error_text_lists_every_problem_and_source() -> None:
    data = sandbox()
    data["firewall"]["public_ip_count"] = 0
    data["acr"] = {"sku": "Basic"}
    with pytest.raises(ConfigError) as info:
        load_config_dict(data, env={}, source="my.toml")
    text = str(info.value)
    assert text.startswith("2 problem(s) in my.toml:")
    assert "firewall.public_ip_count:" in text and "acr.sku:" in text
    assert info.value.exit_code == 2


def test_derived_names_of_an_invalid_deployment_name_are_not_reported_twice() -> None:
    problems = problems_for(_set("deployment.name", "a"))
    assert [p.path for p in problems] == ["deployment.name"]


def test_unknown_keys_and_semantic_errors_reported_together() -> None:
    problems = problems_for(
        _both(
            _set("firewall.tier2", "Premium"),
            _set("spokes.0.subnets.api_servr", "10.1.2.0/28"),
            _set("firewall.public_ip_count", 0),
            _set("aks.dns_service_ip", "172.16.0.1"),
        )
    )
    assert {p.path for p in problems} == {
        "firewall.tier2",
        "spokes[0].subnets.api_servr",
        "firewall.public_ip_count",
        "aks.dns_service_ip",
    }
