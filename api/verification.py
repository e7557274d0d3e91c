"""``verify``: does the live network carry the traffic the architecture needs?

Reads the deployment's network from Azure (``orchestrator.observe``), builds the model of
``hubspoke_deploy.verify`` and evaluates every required flow (``steps.flows``: the egress
requirement table and the private paths) in Azure's own order: DNS, the source subnet's
routes, NSGs, then the firewall policy. Also lists every subnet that reaches the Internet
without the firewall and every catch-all allow rule. Reads only; takes no lock.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubspoke_deploy.config import DeploymentConfig

__all__ = ["VerifyReport", "VerifyRow", "verify"]


@dataclass
class VerifyRow:
    """One flow's verdict: ``ok`` is whether it goes as required."""

    name: str
    source: str
    destination: str
    port: int
    protocol: str
    status: str
    ok: bool
    path: str
    rule: str | None
    reason: str
    fix: str | None
    private: bool = False
    why: str = ""
    crosses_firewall: bool = False
    resolved: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VerifyReport:
    rows: list[VerifyRow]
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows) and not any(f.get("problem") for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "flows": [r.as_dict() for r in self.rows], "findings": self.findings}


def _is_private(value: str | None) -> bool:
    try:
        return value is not None and ipaddress.ip_address(value).is_private
    except ValueError:
        return False


def _row(flow: Any, verdict: Any, *, private: bool, why: str) -> VerifyRow:
    ok = bool(verdict.allowed)
    reason, fix = str(verdict.reason), verdict.fix
    if private and ok and not _is_private(verdict.resolved):
        ok = False
        where = verdict.resolved or "a public address"
        reason = f"resolves to {where}: it must reach the service's private endpoint"
        fix = fix or ("link the service's privatelink zone to the hub VNet (the firewall's DNS proxy resolves "
                      "there) and to the source's VNet")
    return VerifyRow(
        name=flow.name, source=flow.source, destination=flow.destination, port=flow.port,
        protocol=flow.protocol, status=str(verdict.status), ok=ok, path=str(verdict.path), rule=verdict.rule,
        reason=reason, fix=fix, private=private, why=why, crosses_firewall=bool(verdict.crosses_firewall),
        resolved=verdict.resolved,
    )


def evaluate_live(cfg: DeploymentConfig, resources: list[dict[str, Any]], *,
                  flow_from: str | None = None, flow_to: str | None = None) -> VerifyReport:
    """The verdicts for a network read as ARM JSON (pure; ``verify`` reads it first)."""
    from hubspoke_deploy.steps.flows import required_flows
    from hubspoke_deploy.verify import Flow, evaluate, findings, network_from_arm

    network = network_from_arm(resources)
    region = cfg.location.replace(" ", "").lower()
    if flow_from is not None and flow_to is not None:
        flow = Flow.parse(flow_from, flow_to)
        [verdict] = evaluate(network, [flow], region=region)
        return VerifyReport([_row(flow, verdict, private=False, why="asked on the command line")])
    cluster = next((r for r in resources
                    if str(r.get("type", "")).lower() == "microsoft.containerservice/managedclusters"
                    and str(r.get("name", "")).lower() == cfg.aks_name.lower()), None)
    required = required_flows(cfg, cluster)
    flows = [Flow(r.name, r.source, r.destination, r.port, r.protocol,  # type: ignore[arg-type]
                  why=r.why) for r in required]
    verdicts = evaluate(network, flows, region=region)
    rows = [_row(f, v, private=r.private, why=r.why) for f, v, r in zip(flows, verdicts, required, strict=True)]
    found = [{**f.to_dict(), "problem": f.problem} for f in findings(network)]
    found += _dns_proxy_findings(cfg, resources, rows)
    return VerifyReport(rows, found)


def _dns_proxy_findings(cfg: DeploymentConfig, resources: list[dict[str, Any]],
                        rows: list[VerifyRow]) -> list[dict[str, Any]]:
    """Each spoke must resolve through the firewall's DNS proxy when the deployment turns it on:
    an FQDN network rule matches what the proxy resolved, so a client resolving elsewhere may
    use another address (https://learn.microsoft.com/azure/firewall/fqdn-filtering-network-rules).
    A spoke that does not is a problem, and so is every flow from it that an FQDN network rule
    allows (a non-HTTP flow to a name)."""
    from hubspoke_deploy.steps.firewall import spoke_dns_servers

    want = spoke_dns_servers(cfg)
    if not want:
        return []
    live = {str(r.get("name", "")).lower(): r for r in resources
            if str(r.get("type", "")).lower() == "microsoft.network/virtualnetworks"}
    out: list[dict[str, Any]] = []
    for spoke in cfg.spokes:
        name = cfg.spoke_vnet_name(spoke)
        vnet = live.get(name.lower())
        if vnet is None:
            continue
        have = ((vnet.get("properties") or {}).get("dhcpOptions") or {}).get("dnsServers") or []
        if list(have) == want:
            continue
        fix = f"set the DNS servers of {name} to the firewall's private IP {', '.join(want)} (up does)"
        out.append({"kind": "dns", "subject": name, "problem": True, "fix": fix,
                    "detail": f"resolves with {', '.join(have) or 'Azure DNS'}, not the firewall's DNS proxy"})
        vnet_id = str(vnet.get("id", "")).lower()
        for row in rows:
            fqdn = not _is_ip(row.destination)
            if row.ok and fqdn and row.protocol in ("tcp", "udp") and row.source.lower().startswith(vnet_id + "/"):
                row.ok = False
                row.reason = (f"{name} resolves {row.destination} itself, not through the firewall's DNS proxy, "
                              f"so the FQDN network rule {row.rule} may not match the address it connects to")
                row.fix = fix
    return out


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def check_desired(cfg: DeploymentConfig, desired: list[dict[str, Any]]) -> VerifyReport:
    """The egress flows evaluated on the state a plan leads to (``Plan.desired``), before anything
    is written. Private paths are left out: their addresses exist only once the endpoints do.
    The firewall's private IP, unknown before it exists, is the one Azure will give it."""
    from hubspoke_deploy.steps.firewall import predicted_firewall_ip

    ip = predicted_firewall_ip(cfg)
    resources: list[dict[str, Any]] = []
    for res in desired:
        rtype = str(res.get("type", "")).lower()
        props = dict(res.get("properties") or {})
        if rtype == "microsoft.network/azurefirewalls":
            configs = [dict(c) for c in props.get("ipConfigurations") or []]
            if configs:
                first = dict(configs[0].get("properties") or {})
                first.setdefault("privateIPAddress", ip)
                configs[0] = {**configs[0], "properties": first}
            props["ipConfigurations"] = configs
        if rtype == "microsoft.network/routetables/routes" and props.get("nextHopType") == "VirtualAppliance":
            props.setdefault("nextHopIpAddress", ip)
        if rtype == "microsoft.network/routetables":
            props["routes"] = [
                {**r, "properties": {**(r.get("properties") or {}), "nextHopIpAddress": ip}}
                if (r.get("properties") or {}).get("nextHopType") == "VirtualAppliance"
                and not (r.get("properties") or {}).get("nextHopIpAddress") else r
                for r in props.get("routes") or []
            ]
        resources.append({**res, "properties": props})
    report = evaluate_live(cfg, resources)
    report.rows = [r for r in report.rows if not r.private]
    return report


def verify(config: Any, *, credential: Any = None, flow_from: str | None = None,
           flow_to: str | None = None) -> VerifyReport:
    """Evaluate the live deployment's required flows (or the one flow ``flow_from`` ->
    ``flow_to``, ``HOST:PORT[/tcp|udp|http|https]``). Reads only; no lock."""
    from azure.core.exceptions import ResourceNotFoundError
    from hubspoke_deploy.errors import HubspokeError
    from hubspoke_deploy.library import _session, load_config
    from hubspoke_deploy.orchestrator.observe import read_network

    cfg = load_config(config)
    with _session(cfg, "verify", credential=credential, lock=False) as session:
        try:
            resources = read_network(session.clients, cfg.resource_group)
        except ResourceNotFoundError as err:  # ResourceGroupNotFound: nothing is deployed yet
            raise HubspokeError(f"verify: nothing to verify, resource group {cfg.resource_group} does not exist "
                                f"({getattr(err.error, 'code', None) or 'NotFound'}); deploy it with up first") from err
    if cfg.regions and flow_from is None:  # issue 18: every region's flows, grouped by region
        from hubspoke_deploy.regional import evaluate_regions

        return evaluate_regions(cfg, resources)
    return evaluate_live(cfg, resources, flow_from=flow_from, flow_to=flow_to)
