"""Step keys: stable names used in the checkpoint and in ``requires``.

Keep them stable: a renamed key looks like a new step to an existing checkpoint.
"""

from __future__ import annotations

HUB = "hub"

RG = "rg"
WORKSPACE = "log"
FIREWALL_POLICY = "fw.policy"
FIREWALL = "fw"
FIREWALL_DIAG = "fw.diag"
FIREWALL_MGMT_PIP = "fw.pip.mgmt"
FIREWALL_PIP_PREFIX = "fw.pip-prefix"
NAT_GATEWAY = "fw.natgw"
NAT_GATEWAY_PIP = "fw.natgw.pip"


def vnet(spoke: str) -> str:
    return f"vnet.{spoke}"


def subnet(spoke: str, field: str) -> str:
    return f"subnet.{spoke}.{field}"


def peering(local: str, remote: str) -> str:
    return f"peering.{local}-to-{remote}"


def firewall_pip(index: int) -> str:
    """Firewall public IPs, numbered from 1."""
    return f"fw.pip.{index}"


def rule_collection_group(name: str) -> str:
    return f"fw.rcg.{name}"


def route_table(spoke: str) -> str:
    return f"rt.{spoke}"
