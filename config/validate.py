"""Semantic validation of a :class:`DeploymentConfig`, before any Azure call.

``validate_config`` reports every problem at once (errors and warnings), each
with the key path, what is wrong and how to fix it. Rules that mirror an Azure
limit cite where Azure documents it.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from hubspoke_deploy.config.global_entry import check_global_entry
from hubspoke_deploy.config.ignored import ignored_value_warnings
from hubspoke_deploy.config.model import (
    CLOUD_ENDPOINTS,
    AksConfig,
    DeploymentConfig,
    FirewallConfig,
    NodePool,
    SpokeConfig,
)
from hubspoke_deploy.config.validate_ops import check_ops
from hubspoke_deploy.errors import Problem
from hubspoke_deploy.regions import closest_region, location_problem, regions_for

__all__ = ["did_you_mean", "ssh_key_problem", "validate_config"]

IPv4Net = ipaddress.IPv4Network

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DEPLOYMENT_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{2,15}$")
SPOKE_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,11}$")
# Naming rules: https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/resource-name-rules
RESOURCE_GROUP_RE = re.compile(r"^[-\w.()]{0,89}[-\w()]$")
VNET_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?$")  # 2-64 in practice
AKS_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$")  # 1-63
DNS_PREFIX_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,52}[A-Za-z0-9])?$")  # 1-54
ACR_NAME_RE = re.compile(r"^[A-Za-z0-9]{5,50}$")  # Microsoft.ContainerRegistry/registries
KEYVAULT_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$")  # Microsoft.KeyVault/vaults
STORAGE_NAME_RE = re.compile(r"^[a-z0-9]{3,24}$")  # Microsoft.Storage/storageAccounts
WORKSPACE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]$")  # 4-63
POOL_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")  # Linux agent pools: 1-12 lowercase alnum
CONTAINER_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$")  # blob containers 3-63
ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
K8S_VERSION_RE = re.compile(r"^\d+\.\d+(?:\.\d+)?$")
FQDN_RE = re.compile(r"^(\*\.)?(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
APP_PROTOCOL_RE = re.compile(r"^(Http|Https|Mssql):(\d{1,5})$")
PORT_RE = re.compile(r"^(\*|\d{1,5}(?:-\d{1,5})?)$")
LINUX_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# Linux VM admin names Azure refuses:
# https://learn.microsoft.com/en-us/azure/virtual-machines/linux/faq#what-are-the-username-requirements-when-creating-a-vm-
RESERVED_USERNAMES = frozenset(
    [
        "administrator",
        "admin",
        "user",
        "user1",
        "test",
        "user2",
        "test1",
        "user3",
        "admin1",
        "1",
        "123",
        "a",
        "actuser",
        "adm",
        "admin2",
        "aspnet",
        "backup",
        "console",
        "david",
        "guest",
        "john",
        "owner",
        "root",
        "server",
        "sql",
        "support",
        "support_388945a0",
        "sys",
        "test2",
        "test3",
        "user4",
        "user5",
    ]
)
VALID_ZONES = ("1", "2", "3")
RESERVED_TAGS = ("deployment", "managed-by")

# Azure reserves the first four and the last address of every subnet:
# https://learn.microsoft.com/en-us/azure/virtual-network/virtual-networks-faq#are-there-any-restrictions-on-using-ip-addresses-within-these-subnets
AZURE_RESERVED_PER_SUBNET = 5
# AzureFirewallSubnet (and AzureFirewallManagementSubnet) must be /26:
# https://learn.microsoft.com/en-us/azure/firewall/firewall-faq#why-does-azure-firewall-need-a--26-subnet-size
FIREWALL_SUBNET_MAX_PREFIX = 26
# AzureBastionSubnet must be /26 or larger:
# https://learn.microsoft.com/en-us/azure/bastion/configuration-settings#subnet
BASTION_SUBNET_MAX_PREFIX = 26
# API Server VNet Integration needs a delegated subnet of at least /28:
# https://learn.microsoft.com/en-us/azure/aks/api-server-vnet-integration
API_SERVER_SUBNET_MAX_PREFIX = 28
# "You can deploy an Azure Firewall with up to 250 public IP addresses, however DNAT destination rules also
# contribute toward the maximum of 250": https://learn.microsoft.com/en-us/azure/firewall/deploy-multi-public-ip-powershell
FIREWALL_MAX_PUBLIC_IPS = 250
# Article: at least 20 front-end public IPs for production to avoid SNAT exhaustion.
ARTICLE_MIN_PUBLIC_IPS = 20
# Azure rejects RSA keys under 2048 bits for Linux VMs:
# https://learn.microsoft.com/en-us/azure/virtual-machines/linux/mac-create-ssh-keys
MIN_RSA_BITS = 2048


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to ``word`` (difflib), or ``None``."""
    options = list(candidates)
    lowered = {c.lower(): c for c in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    match = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return match[0] if match else None


@dataclass
class _Collector:
    problems: list[Problem] = field(default_factory=list)

    def error(self, path: str, message: str, fix: str = "") -> None:
        self.problems.append(Problem(path=path, message=message, fix=fix, severity="error"))

    def warn(self, path: str, message: str, fix: str = "") -> None:
        self.problems.append(Problem(path=path, message=message, fix=fix, severity="warning"))

    def cidr(self, path: str, value: str) -> IPv4Net | None:
        """Parse an IPv4 CIDR, reporting invalid ones (host bits set gets the network form as fix)."""
        try:
            strict = ipaddress.ip_network(value, strict=True)
        except ValueError:
            try:
                loose = ipaddress.ip_network(value, strict=False)
            except ValueError:
                self.error(path, f"'{value}' is not a valid CIDR.", "write it as address/prefix, e.g. 10.1.0.0/24.")
                return None
            self.error(
                path,
                f"'{value}' has host bits set.",
                f"use the network address: {loose.with_prefixlen}.",
            )
            return None
        if not isinstance(strict, ipaddress.IPv4Network):
            self.error(path, f"'{value}' is IPv6; only IPv4 ranges are supported.", "use an IPv4 CIDR.")
            return None
        if "/" not in value:
            self.error(path, f"'{value}' has no prefix length.", f"write it as {strict.with_prefixlen}.")
            return None
        return strict


def _addr_ok(value: str) -> bool:
    """An IPv4 address, an IPv4 CIDR (network form) or ``*``."""
    if value == "*":
        return True
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return False
    return True


def ssh_key_problem(key: str) -> str | None:
    """Why ``key`` is not a plausible OpenSSH public key, or ``None`` when it is."""
    text = key.strip()
    if "PRIVATE KEY" in text:
        return "this is a private key; never put it in the config"
    parts = text.split()
    if len(parts) < 2:
        return "is not an OpenSSH public key ('<type> <base64> [comment]')"
    key_type, body = parts[0], parts[1]
    if key_type not in ("ssh-rsa", "ssh-ed25519") and not key_type.startswith("ecdsa-sha2-"):
        return f"key type '{key_type}' is not supported (use ssh-ed25519, ssh-rsa or ecdsa-sha2-*)"
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return "the key body is not valid base64"

    fields: list[bytes] = []
    offset = 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            return "the key body is truncated"
        length = int.from_bytes(blob[offset : offset + 4], "big")
        offset += 4
        if offset + length > len(blob):
            return "the key body is truncated"
        fields.append(blob[offset : offset + length])
        offset += length
    if not fields:
        return "the key body is empty"
    embedded = fields[0].decode("ascii", errors="replace")
    if embedded != key_type:
        return f"the key says '{key_type}' but its body holds a '{embedded}' key"
    if key_type == "ssh-ed25519":
        if len(fields) != 2 or len(fields[1]) != 32:
            return "the ed25519 key body is malformed"
    elif key_type == "ssh-rsa":
        if len(fields) != 3:
            return "the RSA key body is malformed"
        bits = int.from_bytes(fields[2], "big").bit_length()
        if bits < MIN_RSA_BITS:
            return f"the RSA key has {bits} bits; Azure requires at least {MIN_RSA_BITS}"
    else:
        if len(fields) != 3 or f"ecdsa-sha2-{fields[1].decode('ascii', errors='replace')}" != key_type:
            return "the ECDSA key body is malformed"
    return None


def _is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------- sections


def _check_deployment(cfg: DeploymentConfig, c: _Collector) -> bool:
    """Returns whether the deployment name is valid (derived names are only checked then)."""
    d = cfg.deployment
    name_ok = bool(DEPLOYMENT_NAME_RE.match(d.name)) and "--" not in d.name and not d.name.endswith("-")
    if not name_ok:
        c.error(
            "deployment.name",
            f"'{d.name}' is not a valid deployment name: 3-16 lowercase letters, digits and single hyphens, "
            "starting with a letter and not ending with a hyphen.",
            'e.g. name = "aks-prod".',
        )
    known = regions_for(cfg.azure.endpoint)
    region_like = bool(re.match(r"^[a-z][a-z0-9]+$", d.location))
    if not region_like or (known is not None and d.location not in known):
        problem = location_problem(d.location, known or (), source="not in this release's region list")
        if region_like and known is not None and closest_region(d.location, known) is None:
            # Maybe a region opened after this release: `plan`/`up` ask the subscription. Warn only.
            c.warn(problem.path, problem.message, "check the name; plan and up check it against the subscription.")
        else:
            c.problems.append(problem)
    if not GUID_RE.match(d.subscription_id):
        c.error(
            "deployment.subscription_id",
            f"'{d.subscription_id}' is not a GUID.",
            "copy it from `az account show --query id`.",
        )
    if d.resource_group is not None and not RESOURCE_GROUP_RE.match(d.resource_group):
        c.error(
            "deployment.resource_group",
            f"'{d.resource_group}' is not a valid resource group name (1-90 letters, digits, '_', '-', '.', "
            "'(', ')', not ending with '.').",
            "remove it to use the default rg-{name}.",
        )
    for key, value in d.tags.items():
        path = f"deployment.tags.{key}"
        if key.lower() in RESERVED_TAGS:
            c.error(path, f"tag '{key}' is reserved: the tool sets it to mark what it owns.", "remove this tag.")
        elif len(key) > 512 or any(ch in key for ch in "<>%&\\?/"):
            c.error(path, f"tag name '{key}' is invalid (max 512 chars, none of < > % & \\ ? /).", "rename it.")
        if len(value) > 256:
            c.error(path, "tag value is longer than 256 characters.", "shorten it.")
    return name_ok


def _check_azure(cfg: DeploymentConfig, c: _Collector) -> None:
    a = cfg.azure
    endpoint_is_loopback = False
    if a.endpoint not in CLOUD_ENDPOINTS and a.endpoint != "simulator":
        parts = urlsplit(a.endpoint)
        if parts.scheme != "https" or not parts.hostname:
            guess = did_you_mean(a.endpoint, [*CLOUD_ENDPOINTS, "simulator"])
            hint = f"did you mean '{guess}'? " if guess else ""
            c.error(
                "azure.endpoint",
                f"'{a.endpoint}' is not a known cloud or an https:// URL.",
                hint + "use public, usgovernment, china, simulator or https://<host>[:port].",
            )
        else:
            endpoint_is_loopback = _is_loopback_host(parts.hostname)
    if a.credential == "simulator" and not (a.endpoint == "simulator" or endpoint_is_loopback):
        c.error(
            "azure.credential",
            "credential 'simulator' is only accepted with the simulator endpoint or an https URL on loopback "
            f"(endpoint is '{a.endpoint}').",
            'use credential = "default" (or cli, managed-identity, workload-identity) for a real cloud.',
        )
    if a.endpoint == "simulator" and a.credential != "simulator":
        c.error(
            "azure.credential",
            f"endpoint 'simulator' needs credential 'simulator'; '{a.credential}' would send real tokens to it.",
            'set credential = "simulator".',
        )
    if a.managed_identity_client_id is not None and not GUID_RE.match(a.managed_identity_client_id):
        c.error("azure.managed_identity_client_id", f"'{a.managed_identity_client_id}' is not a GUID.", "")
    if a.tenant_id is not None and not GUID_RE.match(a.tenant_id):
        c.error("azure.tenant_id", f"'{a.tenant_id}' is not a GUID.", "")


def _check_state(cfg: DeploymentConfig, c: _Collector) -> None:
    s = cfg.state
    if s.connection_string_env is not None:
        if "=" in s.connection_string_env or ";" in s.connection_string_env:
            c.error(
                "state.connection_string_env",
                "this looks like a connection string; the key takes the NAME of an environment variable.",
                "export the connection string, e.g. HUBSPOKE_STATE_CONNECTION_STRING, and put that name here.",
            )
        elif not ENV_VAR_RE.match(s.connection_string_env):
            c.error(
                "state.connection_string_env",
                f"'{s.connection_string_env}' is not a valid environment variable name.",
                "use letters, digits and underscores.",
            )
    if s.account_url is not None:
        parts = urlsplit(s.account_url)
        if parts.scheme != "https" or not parts.hostname:
            c.error(
                "state.account_url",
                f"'{s.account_url}' is not an https:// URL.",
                "e.g. https://<account>.blob.core.windows.net.",
            )
    if s.backend == "blob":
        if s.account_url is None and s.connection_string_env is None:
            c.error(
                "state.backend",
                "the blob backend needs account_url or connection_string_env.",
                'set state.account_url = "https://<account>.blob.core.windows.net".',
            )
        if not CONTAINER_RE.match(s.container) or "--" in s.container:
            c.error(
                "state.container",
                f"'{s.container}' is not a valid container name (3-63 lowercase letters, digits, single "
                "hyphens, starting and ending with a letter or digit).",
                "e.g. hubspoke-state.",
            )
        if s.blob is not None and (not s.blob or len(s.blob) > 1024 or s.blob.endswith((".", "/"))):
            c.error("state.blob", f"'{s.blob}' is not a valid blob name.", "e.g. {name}.state.json.")
    if s.backend == "file" and s.path is not None and not s.path.strip():
        c.error("state.path", "the state file path is empty.", "remove it to use the default.")


def _check_network(cfg: DeploymentConfig, c: _Collector) -> dict[str, IPv4Net]:
    """CIDRs, containment, overlaps and sizes. Returns the parsed subnets by path."""
    subnets: dict[str, IPv4Net] = {}
    vnets: list[tuple[str, str, list[IPv4Net]]] = []  # (label, path, prefixes)

    def parse_space(path: str, space: Sequence[str]) -> list[IPv4Net]:
        if not space:
            c.error(path, "the address space is empty.", 'add at least one CIDR, e.g. ["10.1.0.0/16"].')
        parsed = []
        for i, value in enumerate(space):
            net = c.cidr(f"{path}[{i}]", value)
            if net is not None:
                parsed.append(net)
        return parsed

    def parse_subnets(prefix: str, items: dict[str, str | None], spaces: list[IPv4Net], vnet: str) -> None:
        mine: list[tuple[str, IPv4Net]] = []
        for key, value in items.items():
            if value is None:
                continue
            path = f"{prefix}.{key}"
            net = c.cidr(path, value)
            if net is None:
                continue
            subnets[path] = net
            if spaces and not any(net.subnet_of(space) for space in spaces):
                c.error(
                    path,
                    f"{net} is outside the address space of {vnet} ({', '.join(map(str, spaces))}).",
                    "pick a range inside the VNet's address_space or widen the address space.",
                )
            for other_key, other in mine:
                if net.overlaps(other):
                    c.error(
                        path,
                        f"{net} overlaps subnet '{other_key}' ({other}) in the same VNet.",
                        "give each subnet its own range.",
                    )
            mine.append((key, net))

    hub_spaces = parse_space("hub.address_space", cfg.hub.address_space)
    vnets.append(("the hub", "hub.address_space", hub_spaces))
    hs = cfg.hub.subnets
    parse_subnets(
        "hub.subnets",
        {"firewall": hs.firewall, "bastion": hs.bastion, "firewall_management": hs.firewall_management},
        hub_spaces,
        "the hub",
    )

    if not cfg.spokes:
        c.error(
            "spokes",
            "at least one spoke is needed (the cluster lives in a spoke).",
            "add a [[spokes]] table.",
        )
    seen: dict[str, int] = {}
    for i, spoke in enumerate(cfg.spokes):
        path = f"spokes[{i}]"
        if not SPOKE_NAME_RE.match(spoke.name):
            c.error(
                f"{path}.name",
                f"'{spoke.name}' is not a valid spoke name (1-12 lowercase letters, digits and hyphens, "
                "starting with a letter).",
                'e.g. name = "aks".',
            )
        if spoke.name in seen:
            c.error(
                f"{path}.name",
                f"duplicate spoke name '{spoke.name}' (also spokes[{seen[spoke.name]}]).",
                "give every spoke a unique name.",
            )
        else:
            seen[spoke.name] = i
        spaces = parse_space(f"{path}.address_space", spoke.address_space)
        vnets.append((f"spoke '{spoke.name}'", f"{path}.address_space", spaces))
        parse_subnets(f"{path}.subnets", spoke.subnets.model_dump(), spaces, f"spoke '{spoke.name}'")

    # Hub and spokes pairwise non-overlapping: peering refuses overlapping address spaces.
    # https://learn.microsoft.com/en-us/azure/virtual-network/virtual-network-manage-peering#requirements-and-constraints
    # Reported on the later VNet (the one that collides with an earlier one).
    for b_idx, (b_label, b_path, b_spaces) in enumerate(vnets):
        for a_label, _a_path, a_spaces in vnets[:b_idx]:
            for b_net in b_spaces:
                for a_net in a_spaces:
                    if b_net.overlaps(a_net):
                        c.error(
                            b_path,
                            f"{b_net} ({b_label}) overlaps {a_net} ({a_label}); peered VNets cannot overlap.",
                            "give every VNet its own range.",
                        )

    # Fixed-size subnets.
    for key, label, max_prefix in (
        ("firewall", "AzureFirewallSubnet", FIREWALL_SUBNET_MAX_PREFIX),
        ("firewall_management", "AzureFirewallManagementSubnet", FIREWALL_SUBNET_MAX_PREFIX),
        ("bastion", "AzureBastionSubnet", BASTION_SUBNET_MAX_PREFIX),
    ):
        net = subnets.get(f"hub.subnets.{key}")
        if net is not None and net.prefixlen > max_prefix:
            c.error(
                f"hub.subnets.{key}",
                f"{label} must be /{max_prefix} or larger; {net} is /{net.prefixlen}.",
                f"use a /{max_prefix}, e.g. {net.supernet(new_prefix=max_prefix)}.",
            )
    for i, _spoke in enumerate(cfg.spokes):
        path = f"spokes[{i}].subnets.api_server"
        net = subnets.get(path)
        if net is not None and net.prefixlen > API_SERVER_SUBNET_MAX_PREFIX:
            c.error(
                path,
                f"the API server subnet must be /{API_SERVER_SUBNET_MAX_PREFIX} or larger; {net} is /{net.prefixlen}.",
                f"use a /{API_SERVER_SUBNET_MAX_PREFIX}, e.g. {net.supernet(new_prefix=API_SERVER_SUBNET_MAX_PREFIX)}.",
            )
    return subnets


def _cluster_spoke_index(cfg: DeploymentConfig, c: _Collector) -> int | None:
    names = [s.name for s in cfg.spokes]
    if cfg.aks.spoke is None:
        return 0 if names else None
    if cfg.aks.spoke in names:
        return names.index(cfg.aks.spoke)
    guess = did_you_mean(cfg.aks.spoke, names)
    c.error(
        "aks.spoke",
        f"no spoke is named '{cfg.aks.spoke}'" + (f"; did you mean '{guess}'?" if guess else "."),
        f"use one of: {', '.join(names)}." if names else "add a [[spokes]] table.",
    )
    return None


def _node_subnet_need(pool: NodePool, overlay: bool, separate_pod_subnet: bool) -> int:
    # +1 node: the surge node AKS adds during upgrades.
    nodes = pool.max_nodes + 1
    if overlay or separate_pod_subnet:
        return nodes + AZURE_RESERVED_PER_SUBNET
    return nodes * (pool.max_pods + 1) + AZURE_RESERVED_PER_SUBNET


def _check_cluster_network(
    cfg: DeploymentConfig, c: _Collector, subnets: dict[str, IPv4Net], spoke_idx: int | None
) -> None:
    aks = cfg.aks
    vnet_spaces: list[tuple[str, IPv4Net]] = []
    labelled = [("the hub", v) for v in cfg.hub.address_space]
    labelled += [(f"spoke '{s.name}'", v) for s in cfg.spokes for v in s.address_space]
    for label, value in labelled:
        try:
            vnet_spaces.append((label, ipaddress.IPv4Network(value)))
        except ValueError:
            continue  # reported by _check_network

    if spoke_idx is not None:
        spoke: SpokeConfig = cfg.spokes[spoke_idx]
        base = f"spokes[{spoke_idx}].subnets"
        required = {
            "system_nodes": "the system node pool",
            "user_nodes": "the user node pool",
        }
        if aks.api_server_vnet_integration:
            required["api_server"] = "API server VNet integration"
        if cfg.jumpbox.enabled:
            required["jumpbox"] = "the jump box and the private endpoints"
        else:
            required["jumpbox"] = "the private endpoints (ACR, Key Vault, storage)"
        for key, why in required.items():
            if getattr(spoke.subnets, key) is None:
                c.error(
                    f"{base}.{key}",
                    f"the cluster spoke '{spoke.name}' needs a '{key}' subnet for {why}.",
                    f'add {key} = "<cidr>" under [spokes.subnets].',
                )
        if aks.overlay and spoke.subnets.pods is not None:
            c.error(
                f"{base}.pods",
                'a pod subnet is only used without overlay; with network_plugin_mode = "overlay" pods take '
                "their addresses from aks.pod_cidr.",
                'remove spokes.subnets.pods, or set aks.network_plugin_mode = "none".',
            )
        separate_pods = not aks.overlay and spoke.subnets.pods is not None
        for key, pool in _pools(aks, ("system_nodes", "user_nodes")):
            net = subnets.get(f"{base}.{key}")
            if net is None:
                continue
            need = _node_subnet_need(pool, aks.overlay, separate_pods)
            if net.num_addresses < need:
                what = "nodes" if aks.overlay or separate_pods else "nodes and their pods"
                c.error(
                    f"{base}.{key}",
                    f"{net} has {net.num_addresses} addresses but pool '{pool.name}' needs {need} for its "
                    f"{what} (max {pool.max_nodes} nodes + 1 upgrade surge"
                    + ("" if aks.overlay or separate_pods else f", {pool.max_pods} pods each")
                    + f", + {AZURE_RESERVED_PER_SUBNET} addresses Azure reserves).",
                    "use a larger subnet or lower max_count/max_pods.",
                )
        pods_net = subnets.get(f"{base}.pods")
        if separate_pods and pods_net is not None:
            need = (
                sum((p.max_nodes + 1) * p.max_pods for _, p in _pools(aks, ("", "")))
                + AZURE_RESERVED_PER_SUBNET
            )
            if pods_net.num_addresses < need:
                c.error(
                    f"{base}.pods",
                    f"{pods_net} has {pods_net.num_addresses} addresses but the pools need {need} pod addresses.",
                    "use a larger pod subnet or lower max_count/max_pods.",
                )
        if aks.network_dataplane == "cilium" and not aks.overlay and spoke.subnets.pods is None:
            # Azure CNI Powered by Cilium needs overlay or a pod subnet (dynamic IP allocation):
            # https://learn.microsoft.com/en-us/azure/aks/azure-cni-powered-by-cilium
            c.error(
                "aks.network_dataplane",
                "the Cilium dataplane needs overlay or a pod subnet (dynamic IP allocation).",
                'set aks.network_plugin_mode = "overlay" or add spokes.subnets.pods.',
            )

    pod_net: IPv4Net | None = None
    if aks.overlay:
        pod_net = c.cidr("aks.pod_cidr", aks.pod_cidr)
        if pod_net is not None:
            for label, space in vnet_spaces:
                if pod_net.overlaps(space):
                    c.error(
                        "aks.pod_cidr",
                        f"pod CIDR {pod_net} overlaps {space} ({label}).",
                        "pick a private range no VNet uses, e.g. 192.168.0.0/16.",
                    )
    svc_net = c.cidr("aks.service_cidr", aks.service_cidr)
    if svc_net is not None:
        for label, space in vnet_spaces:
            if svc_net.overlaps(space):
                c.error(
                    "aks.service_cidr",
                    f"service CIDR {svc_net} overlaps {space} ({label}).",
                    "pick a range no VNet uses, e.g. 172.16.0.0/16.",
                )
        if pod_net is not None and svc_net.overlaps(pod_net):
            c.error(
                "aks.service_cidr",
                f"service CIDR {svc_net} overlaps the pod CIDR {pod_net}.",
                "use separate ranges.",
            )
    try:
        dns_ip = ipaddress.IPv4Address(aks.dns_service_ip)
    except ValueError:
        c.error("aks.dns_service_ip", f"'{aks.dns_service_ip}' is not an IPv4 address.", "e.g. 172.16.0.10.")
        return
    if svc_net is not None:
        if dns_ip not in svc_net:
            c.error(
                "aks.dns_service_ip",
                f"{dns_ip} is not inside the service CIDR {svc_net}.",
                f"use an address inside it, e.g. {svc_net.network_address + 10}.",
            )
        elif dns_ip in (svc_net.network_address, svc_net.network_address + 1, svc_net.broadcast_address):
            c.error(
                "aks.dns_service_ip",
                f"{dns_ip} is the first (.0), .1 (the kubernetes service) or last address of {svc_net}.",
                f"use e.g. {svc_net.network_address + 10}.",
            )


def _check_firewall(cfg: DeploymentConfig, c: _Collector) -> None:
    fw: FirewallConfig = cfg.firewall
    explicit = fw.model_fields_set
    _check_zones(c, "firewall.zones", fw.zones)
    if fw.tier == "Basic":
        # Basic needs the management subnet and supports threat intel in alert mode only, no DNS proxy:
        # https://learn.microsoft.com/en-us/azure/firewall/basic-features
        # https://learn.microsoft.com/en-us/azure/firewall/deploy-firewall-basic-portal-policy
        if cfg.hub.subnets.firewall_management is None:
            c.error(
                "hub.subnets.firewall_management",
                "the Basic firewall tier needs an AzureFirewallManagementSubnet.",
                'add firewall_management = "<a /26>" under [hub.subnets].',
            )
        if "threat_intel_mode" in explicit and fw.threat_intel_mode == "Deny":
            c.error(
                "firewall.threat_intel_mode",
                "threat intelligence 'Deny' is not supported on the Basic tier (alert mode only).",
                'use "Alert", or tier = "Standard"/"Premium".',
            )
        if "dns_proxy" in explicit and fw.dns_proxy:
            c.error(
                "firewall.dns_proxy",
                "DNS proxy is not available on the Basic tier.",
                'remove dns_proxy or use tier = "Standard"/"Premium".',
            )
    if fw.tier != "Premium" and "idps_mode" in explicit and fw.idps_mode != "Off":
        # IDPS is a Premium feature: https://learn.microsoft.com/en-us/azure/firewall/premium-features
        c.error(
            "firewall.idps_mode",
            f"IDPS is a Premium-only feature; the tier is {fw.tier}.",
            'set idps_mode = "Off" or tier = "Premium".',
        )
    if not 1 <= fw.public_ip_count <= FIREWALL_MAX_PUBLIC_IPS:
        c.error(
            "firewall.public_ip_count",
            f"{fw.public_ip_count} public IPs is out of range; Azure Firewall takes 1 to {FIREWALL_MAX_PUBLIC_IPS}.",
            "use a count between 1 and 250 (20 for production per the article).",
        )
    if fw.public_ip_prefix_length is not None:
        if not 28 <= fw.public_ip_prefix_length <= 31:
            c.error(
                "firewall.public_ip_prefix_length",
                f"/{fw.public_ip_prefix_length} is not a supported prefix length (/28 to /31).",
                "use 28 (16 addresses) to 31 (2 addresses).",
            )
        elif fw.public_ip_count > 2 ** (32 - fw.public_ip_prefix_length):
            size = 2 ** (32 - fw.public_ip_prefix_length)
            c.error(
                "firewall.public_ip_count",
                f"{fw.public_ip_count} public IPs do not fit a /{fw.public_ip_prefix_length} prefix ({size} "
                "addresses).",
                "lower public_ip_count or use a shorter prefix length.",
            )
    total = fw.public_ip_count + fw.dedicated_ip_count + len(fw.dnat_rules)
    if fw.dnat_rules and 1 <= fw.public_ip_count <= FIREWALL_MAX_PUBLIC_IPS and total > FIREWALL_MAX_PUBLIC_IPS:
        c.error(
            "firewall.dnat_rules",
            f"{fw.public_ip_count} public IPs + {fw.dedicated_ip_count} dedicated DNAT IPs + "
            f"{len(fw.dnat_rules)} "
            f"DNAT destinations = {total}, over Azure Firewall's limit of {FIREWALL_MAX_PUBLIC_IPS}.",
            "lower public_ip_count or use fewer dedicated DNAT IPs.",
        )
    for i, fqdn in enumerate(fw.container_registries):
        if not FQDN_RE.match(fqdn):
            c.error(f"firewall.container_registries[{i}]", f"'{fqdn}' is not an FQDN.", "e.g. mcr.microsoft.com.")

    def unique(kind: str, names: list[str]) -> None:
        seen: set[str] = set()
        for i, name in enumerate(names):
            if not name.strip():
                c.error(f"firewall.{kind}[{i}].name", "the rule name is empty.", "name the rule.")
            elif name in seen:
                c.error(
                    f"firewall.{kind}[{i}].name",
                    f"duplicate rule name '{name}'.",
                    "give each rule its own name.",
                )
            seen.add(name)

    def sources(path: str, values: list[str] | None) -> None:
        for j, value in enumerate(values or []):
            if not _addr_ok(value):
                c.error(f"{path}[{j}]", f"'{value}' is not an IPv4 address, CIDR or '*'.", "e.g. 10.1.0.0/24.")

    unique("application_rules", [r.name for r in fw.application_rules])
    for i, app in enumerate(fw.application_rules):
        path = f"firewall.application_rules[{i}]"
        if not app.fqdns and not app.fqdn_tags:
            c.error(
                f"{path}.fqdns",
                "the rule has no target: set fqdns or fqdn_tags.",
                'e.g. fqdns = ["github.com"].',
            )
        for j, fqdn in enumerate(app.fqdns):
            if not FQDN_RE.match(fqdn):
                c.error(f"{path}.fqdns[{j}]", f"'{fqdn}' is not an FQDN.", "e.g. *.github.com.")
        if not app.protocols:
            c.error(f"{path}.protocols", "no protocol given.", 'e.g. protocols = ["Https:443"].')
        for j, proto in enumerate(app.protocols):
            m = APP_PROTOCOL_RE.match(proto)
            if not m or not 1 <= int(m.group(2)) <= 65535:
                c.error(
                    f"{path}.protocols[{j}]",
                    f"'{proto}' is not '<Http|Https|Mssql>:<port>'.",
                    'e.g. "Https:443".',
                )
        sources(f"{path}.source_addresses", app.source_addresses)

    unique("network_rules", [r.name for r in fw.network_rules])
    for i, net in enumerate(fw.network_rules):
        path = f"firewall.network_rules[{i}]"
        if not net.protocols:
            c.error(f"{path}.protocols", "no protocol given.", 'e.g. protocols = ["TCP"].')
        if not net.destination_addresses and not net.destination_fqdns:
            c.error(
                f"{path}.destination_addresses",
                "the rule has no destination: set destination_addresses or destination_fqdns.",
                "",
            )
        if net.destination_addresses and net.destination_fqdns:
            c.error(
                f"{path}.destination_fqdns",
                "a network rule takes destination addresses or FQDNs, not both.",
                "split it into two rules.",
            )
        if net.destination_fqdns and not fw.effective_dns_proxy:
            c.error(
                f"{path}.destination_fqdns",
                "FQDNs in network rules need the firewall DNS proxy, which is off.",
                "set firewall.dns_proxy = true (Standard/Premium) or use destination_addresses.",
            )
        for j, fqdn in enumerate(net.destination_fqdns):
            if not FQDN_RE.match(fqdn):
                c.error(f"{path}.destination_fqdns[{j}]", f"'{fqdn}' is not an FQDN.", "")
        if not net.destination_ports:
            c.error(f"{path}.destination_ports", "no port given.", 'e.g. destination_ports = ["443"].')
        for j, port in enumerate(net.destination_ports):
            if not PORT_RE.match(port) or any(int(p) > 65535 or int(p) < 1 for p in re.findall(r"\d+", port)):
                c.error(f"{path}.destination_ports[{j}]", f"'{port}' is not a port, range or '*'.", 'e.g. "443".')
        sources(f"{path}.source_addresses", net.source_addresses)

    unique("dnat_rules", [r.name for r in fw.dnat_rules])
    for i, dnat in enumerate(fw.dnat_rules):
        path = f"firewall.dnat_rules[{i}]"
        for key, number in (("public_port", dnat.public_port), ("translated_port", dnat.translated_port)):
            if not 1 <= number <= 65535:
                c.error(f"{path}.{key}", f"{number} is not a port (1-65535).", "")
        try:
            ipaddress.IPv4Address(dnat.translated_address)
        except ValueError:
            c.error(
                f"{path}.translated_address",
                f"'{dnat.translated_address}' is not an IPv4 address.",
                "use the private IP of the internal load balancer, e.g. 10.1.1.250.",
            )
        sources(f"{path}.source_addresses", dnat.source_addresses)


def _check_zones(c: _Collector, path: str, zones: list[str]) -> None:
    for i, zone in enumerate(zones):
        if zone not in VALID_ZONES:
            c.error(f"{path}[{i}]", f"'{zone}' is not an availability zone.", 'use "1", "2" or "3".')
    if len(set(zones)) != len(zones):
        c.error(path, "a zone is listed twice.", "list each zone once.")


def _check_pool(c: _Collector, path: str, pool: NodePool, system: bool) -> None:
    if not POOL_NAME_RE.match(pool.name):
        c.error(
            f"{path}.name",
            f"'{pool.name}' is not a valid node pool name (1-12 lowercase letters and digits, starting with a letter).",
            'e.g. "system".',
        )
    low = 1 if system else 0
    if pool.autoscaling:
        if pool.min_count < low:
            c.error(
                f"{path}.min_count",
                f"min_count must be at least {low}" + (" for the system pool." if system else "."),
                f"set min_count = {max(low, 1)}.",
            )
        if pool.max_count > 1000:
            c.error(f"{path}.max_count", f"max_count {pool.max_count} is over AKS's 1000 nodes per pool.", "")
        if not pool.min_count <= pool.count <= pool.max_count:
            c.error(
                f"{path}.count",
                f"node counts must satisfy min_count <= count <= max_count; got {pool.min_count} <= "
                f"{pool.count} <= {pool.max_count}.",
                "adjust count, min_count or max_count.",
            )
    elif not max(low, 1) <= pool.count <= 1000:
        c.error(f"{path}.count", f"count {pool.count} is out of range (1-1000).", "")
    if not 10 <= pool.max_pods <= 250:
        c.error(f"{path}.max_pods", f"max_pods {pool.max_pods} is out of range (10-250).", "e.g. 110.")
    if not 30 <= pool.os_disk_size_gb <= 2048:
        c.error(f"{path}.os_disk_size_gb", f"{pool.os_disk_size_gb} GB is out of range (30-2048).", "e.g. 128.")
    if not re.match(r"^Standard_[A-Za-z0-9_]+$", pool.vm_size):
        c.error(f"{path}.vm_size", f"'{pool.vm_size}' is not a VM size.", "e.g. Standard_D4ds_v5.")
    _check_zones(c, f"{path}.zones", pool.zones)


def _check_aks(cfg: DeploymentConfig, c: _Collector, name_ok: bool) -> None:
    aks = cfg.aks
    if aks.kubernetes_version is not None and not K8S_VERSION_RE.match(aks.kubernetes_version):
        c.error(
            "aks.kubernetes_version",
            f"'{aks.kubernetes_version}' is not a Kubernetes version.",
            'write it as "1.33" or "1.33.2" (no leading \'v\').',
        )
    if aks.name is not None and not AKS_NAME_RE.match(aks.name):
        c.error(
            "aks.name",
            f"'{aks.name}' is not a valid cluster name (1-63 letters, digits, '_' and '-', starting and "
            "ending "
            "with a letter or digit).",
            "remove it to use aks-{name}.",
        )
    if (aks.dns_prefix is not None or name_ok) and not DNS_PREFIX_RE.match(cfg.dns_prefix):
        c.error(
            "aks.dns_prefix",
            f"'{cfg.dns_prefix}' is not a valid DNS prefix (1-54 letters, digits and hyphens, starting and "
            "ending with a letter or digit).",
            'e.g. dns_prefix = "aksprod".',
        )
    if aks.network_dataplane == "cilium" and aks.network_policy != "cilium":
        # With the Cilium dataplane the network policy engine is Cilium:
        # https://learn.microsoft.com/en-us/azure/aks/azure-cni-powered-by-cilium
        c.error(
            "aks.network_policy",
            f"network_policy '{aks.network_policy}' cannot be used with the Cilium dataplane.",
            'set network_policy = "cilium" (or network_dataplane = "azure").',
        )
    if aks.workload_identity and not aks.oidc_issuer:
        # https://learn.microsoft.com/en-us/azure/aks/workload-identity-deploy-cluster
        c.error("aks.workload_identity", "workload identity needs the OIDC issuer.", "set aks.oidc_issuer = true.")
    if aks.secret_rotation and not aks.key_vault_secrets_provider:
        c.error(
            "aks.secret_rotation",
            "secret rotation is a setting of the Key Vault secrets provider, which is off.",
            "set key_vault_secrets_provider = true or secret_rotation = false.",
        )
    if aks.local_accounts_disabled and not aks.azure_rbac:
        # Disabling local accounts needs Microsoft Entra integration:
        # https://learn.microsoft.com/en-us/azure/aks/manage-local-accounts-managed-azure-ad
        c.error(
            "aks.local_accounts_disabled",
            "local accounts can only be disabled with Microsoft Entra integration (azure_rbac).",
            "set aks.azure_rbac = true or local_accounts_disabled = false.",
        )
    for i, gid in enumerate(aks.admin_group_object_ids):
        if not GUID_RE.match(gid):
            c.error(f"aks.admin_group_object_ids[{i}]", f"'{gid}' is not a GUID (a group object id).", "")
    _check_pool(c, "aks.system_pool", aks.system_pool, system=True)
    if aks.user_pool.enabled:
        _check_pool(c, "aks.user_pool", aks.user_pool, system=False)
    if aks.user_pool.enabled and aks.system_pool.name == aks.user_pool.name:
        c.error("aks.user_pool.name", f"both pools are named '{aks.user_pool.name}'.", 'use "system" and "user".')


def _check_jumpbox_bastion(cfg: DeploymentConfig, c: _Collector) -> None:
    jb = cfg.jumpbox
    if jb.enabled:
        if not jb.ssh_public_key:
            c.error(
                "jumpbox.ssh_public_key",
                "the jump box needs an SSH public key (passwords are not supported).",
                'set ssh_public_key = "ssh-ed25519 AAAA..." or ssh_public_key_path = "~/.ssh/id_ed25519.pub".',
            )
        else:
            why = ssh_key_problem(jb.ssh_public_key)
            if why:
                path = "jumpbox.ssh_public_key_path" if jb.ssh_public_key_path else "jumpbox.ssh_public_key"
                c.error(path, f"invalid SSH public key: {why}.", "generate one with `ssh-keygen -t ed25519`.")
        if not LINUX_USER_RE.match(jb.admin_username) or jb.admin_username in RESERVED_USERNAMES:
            c.error(
                "jumpbox.admin_username",
                f"'{jb.admin_username}' is not allowed as a Linux admin name on Azure (reserved or invalid).",
                'e.g. admin_username = "azureuser".',
            )
    b = cfg.bastion
    if b.enabled and cfg.hub.subnets.bastion is None:
        c.error(
            "hub.subnets.bastion",
            "Azure Bastion is enabled but the hub has no AzureBastionSubnet.",
            'set hub.subnets.bastion = "<a /26>" or bastion.enabled = false.',
        )
    if b.sku == "Basic" and "tunneling" in b.model_fields_set and b.tunneling:
        # Native client support (tunneling) needs Standard or higher:
        # https://learn.microsoft.com/en-us/azure/bastion/configuration-settings#skus
        c.error(
            "bastion.tunneling",
            "tunneling (native client) needs the Standard or Premium SKU.",
            'set sku = "Standard".',
        )


def _check_resources(cfg: DeploymentConfig, c: _Collector, name_ok: bool) -> None:
    if cfg.hub.name is not None and not VNET_NAME_RE.match(cfg.hub.name):
        c.error("hub.name", f"'{cfg.hub.name}' is not a valid VNet name.", "remove it to use vnet-hub-{name}.")
    if cfg.acr.sku != "Premium":
        # Private endpoints and zone redundancy need Premium:
        # https://learn.microsoft.com/en-us/azure/container-registry/container-registry-skus
        c.error(
            "acr.sku",
            f"the registry is reached over a private endpoint, which needs the Premium SKU (got {cfg.acr.sku}).",
            'set acr.sku = "Premium".',
        )
    checks = (
        ("acr.name", cfg.acr.name, cfg.acr_name, ACR_NAME_RE, "5-50 letters and digits"),
        (
            "keyvault.name",
            cfg.keyvault.name,
            cfg.keyvault_name,
            KEYVAULT_NAME_RE,
            "3-24 letters, digits and hyphens, starting with a letter, ending with a letter or digit, no '--'",
        ),
        (
            "storage.name",
            cfg.storage.name,
            cfg.storage_account_name,
            STORAGE_NAME_RE,
            "3-24 lowercase letters and digits",
        ),
        (
            "monitoring.workspace_name",
            cfg.monitoring.workspace_name,
            cfg.workspace_name,
            WORKSPACE_NAME_RE,
            "4-63 letters, digits and hyphens, starting and ending with a letter or digit",
        ),
    )
    for path, explicit, resolved, pattern, rule in checks:
        if explicit is None and not name_ok:
            continue  # derived from an invalid deployment name: already reported there
        bad = not pattern.match(resolved) or (path == "keyvault.name" and "--" in resolved)
        if bad:
            c.error(path, f"'{resolved}' is not a valid name ({rule}).", "choose another name.")
    kv = cfg.keyvault
    if not 7 <= kv.soft_delete_retention_days <= 90:
        c.error(
            "keyvault.soft_delete_retention_days",
            f"{kv.soft_delete_retention_days} days is out of range (7-90).",
            "e.g. 90.",
        )
    if not 30 <= cfg.monitoring.retention_days <= 730:
        c.error(
            "monitoring.retention_days",
            f"{cfg.monitoring.retention_days} days is out of range (30-730).",
            "e.g. 30.",
        )


def _check_warnings(cfg: DeploymentConfig, c: _Collector) -> None:
    fw, aks = cfg.firewall, cfg.aks
    if not aks.api_server_vnet_integration:
        c.warn(
            "aks.api_server_vnet_integration",
            "API server VNet integration is off: node-to-API traffic needs the AKS tunnel and extra firewall rules.",
            "the article recommends api_server_vnet_integration = true for new private clusters.",
        )
    if not aks.private_cluster:
        c.warn("aks.private_cluster", "the API server has a public endpoint.", "set private_cluster = true.")
    for i, spoke in enumerate(cfg.spokes):
        if spoke.use_remote_gateways:
            c.warn(
                f"spokes[{i}].use_remote_gateways",
                "peering will use the hub's gateway, which this tool does not create; peering fails without one.",
                "make sure a VPN/ExpressRoute gateway exists in the hub.",
            )
    if cfg.jumpbox.enabled and not cfg.bastion.enabled:
        c.warn(
            "bastion.enabled",
            "the jump box has no public IP and Bastion is off: nothing can reach it.",
            "enable Bastion or provide your own connectivity.",
        )
    if not cfg.is_production:
        return
    if fw.public_ip_count < ARTICLE_MIN_PUBLIC_IPS and not fw.nat_gateway and fw.public_ip_prefix_length is None:
        c.warn(
            "firewall.public_ip_count",
            f"{fw.public_ip_count} firewall public IP(s) risk SNAT port exhaustion in production.",
            f"use at least {ARTICLE_MIN_PUBLIC_IPS} (article), a NAT gateway (nat_gateway = true) or a "
            "public IP prefix.",
        )
    if fw.tier != "Premium":
        c.warn(
            "firewall.tier",
            f"the article strongly recommends Premium; the tier is {fw.tier}.",
            'tier = "Premium".',
        )
    if fw.effective_threat_intel_mode != "Deny" and fw.tier != "Basic":
        c.warn(
            "firewall.threat_intel_mode",
            f"threat intelligence is '{fw.effective_threat_intel_mode}': known-malicious traffic is not blocked.",
            'threat_intel_mode = "Deny".',
        )
    if fw.tier == "Premium" and fw.idps_mode != "Deny":
        c.warn("firewall.idps_mode", f"IDPS is '{fw.idps_mode}'.", 'idps_mode = "Deny".')
    if len(set(fw.zones)) < 3:
        c.warn(
            "firewall.zones",
            "the firewall does not span three zones (lower SLA).",
            'zones = ["1", "2", "3"].',
        )
    for path, pool in _pools(aks, ("aks.system_pool", "aks.user_pool")):
        if len(set(pool.zones)) < 3:
            c.warn(f"{path}.zones", "the pool does not span three zones.", 'zones = ["1", "2", "3"].')
    if aks.tier == "Free":
        c.warn("aks.tier", "the Free tier has no API server uptime SLA.", 'tier = "Standard".')
    if aks.network_policy == "none":
        c.warn("aks.network_policy", "no network policy engine: pods talk to each other unrestricted.", "")
    if not aks.local_accounts_disabled:
        c.warn(
            "aks.local_accounts_disabled",
            "static local kubeconfig credentials stay enabled.",
            "set it to true.",
        )
    if not cfg.acr.zone_redundancy:
        c.warn("acr.zone_redundancy", "the registry is not zone redundant.", "zone_redundancy = true.")
    if not cfg.keyvault.purge_protection:
        c.warn(
            "keyvault.purge_protection",
            "deleted secrets can be purged immediately.",
            "purge_protection = true.",
        )
    if cfg.state.backend == "file":
        c.warn(
            "state.backend",
            "a local state file cannot be shared or locked across machines.",
            'use backend = "blob" for production.',
        )


def validate_config(cfg: DeploymentConfig) -> list[Problem]:
    """Every semantic problem of ``cfg`` (errors and warnings), in a stable order."""
    c = _Collector()
    name_ok = _check_deployment(cfg, c)
    _check_azure(cfg, c)
    _check_state(cfg, c)
    subnets = _check_network(cfg, c)
    spoke_idx = _cluster_spoke_index(cfg, c)
    _check_cluster_network(cfg, c, subnets, spoke_idx)
    _check_firewall(cfg, c)
    _check_aks(cfg, c, name_ok)
    _check_jumpbox_bastion(cfg, c)
    _check_resources(cfg, c, name_ok)
    _check_warnings(cfg, c)
    check_ops(cfg, c)
    check_global_entry(cfg, c)
    c.problems.extend(ignored_value_warnings(cfg))
    if cfg.regions:  # issue 18: [[regions]] (config/regions.py)
        from hubspoke_deploy.config.regions import region_problems

        c.problems.extend(region_problems(cfg))
    from hubspoke_deploy.config.ingress import check_ingress

    c.problems.extend(check_ingress(cfg))
    return c.problems


def _pools(aks: AksConfig, names: tuple[str, str]) -> list[tuple[str, NodePool]]:
    """(name, pool) of the pools the cluster has: the system pool, and the user pool when enabled."""
    result: list[tuple[str, NodePool]] = [(names[0], aks.system_pool)]
    if aks.user_pool.enabled:
        result.append((names[1], aks.user_pool))
    return result
