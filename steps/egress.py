"""What must leave the spokes through the firewall, as data: one table of requirements, each
with the source that asks for it. The firewall's egress rule collections are built from it
(``steps.firewall``), and ``hubspoke-deploy verify`` checks that the live network carries
every flow it implies (``steps.flows``).

A requirement names *who* needs it (a role: the cluster's nodes, the jump box), *when* (a
predicate on the config: an add-on enabled, an OS upgrade channel), and *what*: FQDNs with
their protocol and port (application rules), or an FQDN tag, or a network rule (protocol,
port, destination). ``{region}`` in an FQDN is the deployment's region.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NODES = "nodes"
JUMPBOX = "jumpbox"

_AKS_EGRESS = "https://learn.microsoft.com/azure/aks/outbound-rules-control-egress"
_MONITOR = "https://learn.microsoft.com/azure/azure-monitor/containers/kubernetes-monitoring-firewall"
_POLICY = f"{_AKS_EGRESS}#azure-policy"
_UBUNTU = f"{_AKS_EGRESS}#optional-recommended-fqdn--application-rules-for-aks-clusters"
_CLI = "https://learn.microsoft.com/cli/azure/azure-cli-endpoints"


@dataclass(frozen=True)
class Requirement:
    """One egress need. ``fqdns`` with ``protocols`` ("Https:443") make an application rule;
    ``fqdn_tags`` an application rule on a tag; ``network`` (protocol, port, destination FQDN or
    address) a network rule. ``probe`` is one concrete (host, port, protocol) ``verify`` checks."""

    name: str
    role: str
    when: Callable[[Any], bool]
    source: str
    fqdns: tuple[str, ...] = ()
    protocols: tuple[str, ...] = ("Https:443",)
    fqdn_tags: tuple[str, ...] = ()
    network: tuple[str, str, str] | None = None  # (UDP|TCP, port, destination fqdn or address)
    probe: tuple[str, int, str] | None = None  # (host, port, tcp|udp|http|https)
    more_probes: tuple[tuple[str, int, str], ...] = ()  # further flows verify checks


def _always(cfg: Any) -> bool:
    return True


def _policy(cfg: Any) -> bool:
    return bool(cfg.aks.azure_policy)


def _monitoring(cfg: Any) -> bool:
    return bool(cfg.aks.monitoring)


def _ubuntu_updates(cfg: Any) -> bool:
    # NodeImage and None get their fixes from node images; SecurityPatch and Unmanaged patch
    # the running nodes from the Ubuntu archive.
    return str(cfg.aks.node_os_upgrade_channel) not in ("NodeImage", "None")


def _jumpbox(cfg: Any) -> bool:
    return bool(cfg.jumpbox.enabled)


REQUIREMENTS: tuple[Requirement, ...] = (
    # --- AKS core: the FQDN tag Azure keeps current with AKS's required FQDNs, and NTP.
    Requirement("aks-fqdn-tag", NODES, _always, _AKS_EGRESS, fqdn_tags=("AzureKubernetesService",),
                protocols=("Http:80", "Https:443"), probe=("mcr.microsoft.com", 443, "https"),
                # what only the tag allows (mcr.microsoft.com is also in the registries rule)
                more_probes=(("management.azure.com", 443, "https"),)),
    Requirement("ntp", NODES, _always, f"{_AKS_EGRESS}#azure-global-required-network-rules",
                network=("UDP", "123", "ntp.ubuntu.com"), probe=("ntp.ubuntu.com", 123, "udp")),
    # --- add-ons the deployment enables
    Requirement("azure-policy", NODES, _policy, _POLICY,
                fqdns=("data.policy.core.windows.net", "store.policy.core.windows.net",
                       "dc.services.visualstudio.com"),
                probe=("data.policy.core.windows.net", 443, "https")),
    Requirement("container-insights", NODES, _monitoring, _MONITOR,
                fqdns=("*.ods.opinsights.azure.com", "*.oms.opinsights.azure.com", "*.monitoring.azure.com",
                       "dc.services.visualstudio.com", "global.handler.control.monitor.azure.com",
                       "{region}.handler.control.monitor.azure.com", "*.ingest.monitor.azure.com",
                       "*.metrics.ingest.monitor.azure.com"),
                probe=("global.handler.control.monitor.azure.com", 443, "https")),
    Requirement("ubuntu-updates", NODES, _ubuntu_updates, _UBUNTU,
                fqdns=("security.ubuntu.com", "azure.archive.ubuntu.com", "changelogs.ubuntu.com"),
                protocols=("Http:80", "Https:443"), probe=("security.ubuntu.com", 80, "http")),
    # --- the jump box: sign in (Entra ID), manage (ARM), install az / kubectl / kubelogin
    Requirement("jumpbox-entra-arm", JUMPBOX, _jumpbox, _CLI,
                fqdns=("login.microsoftonline.com", "management.azure.com", "graph.microsoft.com"),
                probe=("login.microsoftonline.com", 443, "https")),
    Requirement("jumpbox-tools", JUMPBOX, _jumpbox,
                "https://learn.microsoft.com/cli/azure/install-azure-cli-linux, "
                "https://kubernetes.io/releases/download/, https://azure.github.io/kubelogin/install.html",
                fqdns=("packages.microsoft.com", "aka.ms", "azurecliprod.blob.core.windows.net", "dl.k8s.io",
                       "cdn.dl.k8s.io", "github.com", "objects.githubusercontent.com",
                       "release-assets.githubusercontent.com", "azure.archive.ubuntu.com", "security.ubuntu.com"),
                protocols=("Http:80", "Https:443"), probe=("packages.microsoft.com", 443, "https")),
)


def requirements(cfg: Any, role: str | None = None) -> list[Requirement]:
    """The requirements the config enables (optionally of one role), in table order."""
    return [r for r in REQUIREMENTS if r.when(cfg) and (role is None or r.role == role)]


def expand(fqdn: str, cfg: Any) -> str:
    return fqdn.replace("{region}", str(cfg.location))
