"""``[global_entry]``: a global load balancer in front of the regional ingress endpoints (issue 18).

The article's business continuity section puts "a global load balancer (Azure Front Door or
Traffic Manager)" in front of the regions
(https://learn.microsoft.com/azure/architecture/guide/aks/aks-firewall). Two kinds:

* ``front-door``: Azure Front Door Premium with a WAF policy (layer 7, TLS at the edge, origins
  probed by Front Door's edge), https://learn.microsoft.com/azure/frontdoor/front-door-overview;
* ``traffic-manager``: DNS-based, clients connect to the regional endpoint directly,
  https://learn.microsoft.com/azure/traffic-manager/traffic-manager-overview.

The origins are the deployment's public ingress endpoints: today the firewall public IPs that
``[[firewall.dnat_rules]]`` publish (``steps/globalentry.py``). Kept apart from
``config/model.py``, which only gains the field. The offline checks are :func:`check_global_entry`
(called by ``config/validate.py``); each cites where Azure documents the limit.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from hubspoke_deploy.config.model import DeploymentConfig, DnatRule

__all__ = [
    "AFD_ENDPOINT_NAME_RE",
    "AFD_PROBE_INTERVAL_RANGE",
    "TM_INTERVALS",
    "TM_RELATIVE_NAME_RE",
    "TM_TIMEOUT_RANGE",
    "TM_TOLERATED_FAILURES_RANGE",
    "WAF_MANAGED_RULE_SETS",
    "GlobalEntryConfig",
    "check_global_entry",
    "global_entry_dns_name",
    "selected_dnat_rules",
]

GlobalEntryKind = Literal["front-door", "traffic-manager"]

# --------------------------------------------------------------------------- facts (with sources)

# Managed rule sets of the WAF policy (Premium_AzureFrontDoor only: the Standard tier has custom
# rules only, https://learn.microsoft.com/azure/frontdoor/web-application-firewall).
# Default Rule Set 2.1 (based on OWASP CRS 3.3.2, anomaly scoring), the newest DRS on Front Door:
# https://learn.microsoft.com/azure/web-application-firewall/afds/waf-front-door-drs
# Bot Manager 1.1 (1.0 plus more bad-bot signatures), the newest bot rule set on Front Door:
# https://learn.microsoft.com/azure/web-application-firewall/afds/afds-overview#bot-protection-rule-set
# Azure supports the latest three releases of each (N, N-1, N-2):
# https://learn.microsoft.com/azure/web-application-firewall/ruleset-support-policy
WAF_MANAGED_RULE_SETS: tuple[tuple[str, str, str | None], ...] = (
    # (ruleSetType, ruleSetVersion, ruleSetAction: DRS 2.x scores anomalies and blocks)
    ("Microsoft_DefaultRuleSet", "2.1", "Block"),
    ("Microsoft_BotManagerRuleSet", "1.1", None),
)

# Front Door origin group health probes: probeIntervalInSeconds 1-255
# (REST: HealthProbeParameters.probeIntervalInSeconds minimum 1, maximum 255;
# https://learn.microsoft.com/rest/api/frontdoor/azurefrontdoorstandardpremium/afd-origin-groups/create).
AFD_PROBE_INTERVAL_RANGE = (1, 255)
# Front Door endpoint names (Microsoft.Cdn/profiles/afdEndpoints): 1-50 alphanumerics and hyphens,
# starting and ending with an alphanumeric:
# https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftcdn
AFD_ENDPOINT_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,48}[A-Za-z0-9])?$")
# Traffic Manager: "Allowed values: 10 or 30 seconds" (intervalInSeconds); timeout 5-10 s, and below
# the interval (5-9 s for 10 s probing); tolerated failures 0-9:
# https://learn.microsoft.com/azure/traffic-manager/traffic-manager-monitoring#configure-endpoint-monitoring
TM_INTERVALS = (10, 30)
TM_TIMEOUT_RANGE = (5, 10)
TM_TOLERATED_FAILURES_RANGE = (0, 9)
# The relative DNS name becomes <name>.trafficmanager.net and is unique across all of Azure: a DNS
# label, 1-63 letters, digits and hyphens, starting and ending with a letter or digit
# (https://learn.microsoft.com/azure/traffic-manager/quickstart-create-traffic-manager-profile;
# RFC 1123 host names).
TM_RELATIVE_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
HOST_HEADER_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")
# Well-known ports whose protocol is fixed: an HTTPS origin on port 80 (or HTTP on 443) cannot work.
_PLAIN_PORT = {"https": 80, "http": 443}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class GlobalEntryConfig(_Model):
    """[global_entry]: Front Door Premium with WAF, or Traffic Manager, in front of the regional ingress endpoints.

    The endpoints are the firewall public IPs of ``[[firewall.dnat_rules]]``; both probe their health."""

    kind: GlobalEntryKind = Field(
        description=(
            "`front-door`: Azure Front Door Premium with a WAF policy (Prevention mode, Default Rule Set 2.1 and Bot "
            "Manager 1.1) linked by a security policy; `traffic-manager`: DNS-based Traffic Manager with external "
            "endpoints. Switching kind deletes the old one after the new one is created."
        ),
    )
    name: str | None = Field(
        default=None,
        description="Name of the Front Door or Traffic Manager profile.",
        json_schema_extra={"x-default": "afd-{deployment.name} / tm-{deployment.name}"},
    )
    dns_name: str | None = Field(
        default=None,
        description=(
            "Front Door: the endpoint name (host `<name>-<hash>.z01.azurefd.net`); Traffic Manager: the relative DNS "
            "name (`<name>.trafficmanager.net`, unique across Azure). A DNS label."
        ),
        json_schema_extra={"x-default": "{deployment.name}-{6-char hash}"},
    )
    routing: Literal["performance", "priority"] = Field(
        default="performance",
        description=(
            "`performance`: every region serves, the closest healthy one is chosen (Front Door: equal priority, "
            "lowest latency; Traffic Manager: Performance routing). `priority`: the first region serves, the next "
            "one takes over when its probes fail."
        ),
    )
    protocol: Literal["https", "http"] | None = Field(
        default=None,
        description=(
            "Protocol to the origins and of the health probes. Unset: `https` (Front Door forwards HTTPS only). "
            "`http` must be set explicitly, and sends traffic unencrypted from the edge to the firewall."
        ),
        json_schema_extra={"x-default": "https"},
    )
    dnat_rules: list[str] | None = Field(
        default=None,
        description=(
            "Names of the `[[firewall.dnat_rules]]` that publish the application: each distinct public IP and port "
            "is one origin / endpoint."
        ),
        json_schema_extra={"x-default": "the TCP DNAT rules on port 443 (80 with protocol = \"http\")"},
    )
    origin_host_header: str | None = Field(
        default=None,
        description=(
            "Front Door: Host header (and TLS SNI) sent to the origins, the name the ingress certificate is for. "
            "Origins are IP addresses, so with HTTPS set it: Front Door checks the origin certificate's name."
        ),
    )
    probe_path: str = Field(default="/", description="Path of the health probe; starts with `/`.")
    probe_interval_seconds: int = Field(
        default=30,
        description="Seconds between health probes: Front Door 1-255, Traffic Manager 10 or 30.",
    )
    probe_method: Literal["HEAD", "GET"] = Field(
        default="HEAD", description="Front Door: HTTP method of the health probe (HEAD costs the origin less)."
    )
    probe_timeout_seconds: int = Field(
        default=10,
        description="Traffic Manager: seconds a probe may take, 5-10 and less than the interval.",
    )
    tolerated_failures: int = Field(
        default=3,
        description="Traffic Manager: failed probes tolerated before an endpoint is degraded, 0-9.",
    )
    waf_mode: Literal["Prevention", "Detection"] = Field(
        default="Prevention",
        description="Front Door: WAF policy mode. `Prevention` blocks what the rules match; `Detection` only logs.",
    )

    @property
    def effective_protocol(self) -> str:
        return self.protocol or "https"


# --------------------------------------------------------------------------- derived values


def global_entry_dns_name(cfg: DeploymentConfig) -> str:
    """The Front Door endpoint name / Traffic Manager relative DNS name."""
    ge = cfg.global_entry
    if ge is not None and ge.dns_name:
        return ge.dns_name
    return f"{cfg.name}-{cfg.name_hash}"


def selected_dnat_rules(cfg: DeploymentConfig) -> list[DnatRule]:
    """The DNAT rules whose public IP and port are the ingress endpoints (see ``dnat_rules``)."""
    ge = cfg.global_entry
    if ge is None:
        return []
    rules = list(cfg.firewall.dnat_rules)
    if ge.dnat_rules is not None:
        wanted = set(ge.dnat_rules)
        return [r for r in rules if r.name in wanted]
    port = 443 if ge.effective_protocol == "https" else 80
    return [r for r in rules if r.protocol == "TCP" and r.public_port == port]


# --------------------------------------------------------------------------- offline checks


class Collector(Protocol):
    def error(self, path: str, message: str, fix: str = "") -> None: ...

    def warn(self, path: str, message: str, fix: str = "") -> None: ...


def check_global_entry(cfg: DeploymentConfig, c: Collector) -> None:
    """Every problem of ``[global_entry]``, with key path and fix."""
    ge = cfg.global_entry
    if ge is None:
        return
    key = "global_entry"
    _check_names(cfg, ge, c)
    if not ge.probe_path.startswith("/"):
        # Front Door: "The path relative to the origin that is used to determine the health of the origin";
        # Traffic Manager: "a forward slash / is a valid entry for the relative path".
        # https://learn.microsoft.com/azure/traffic-manager/traffic-manager-monitoring#configure-endpoint-monitoring
        c.error(f"{key}.probe_path", f"'{ge.probe_path}' is not a path.", f"write it as '/{ge.probe_path}'.")
    _check_origins(cfg, ge, c)
    if ge.kind == "front-door":
        _check_front_door(ge, c)
    else:
        _check_traffic_manager(ge, c)


def _check_names(cfg: DeploymentConfig, ge: GlobalEntryConfig, c: Collector) -> None:
    dns = global_entry_dns_name(cfg)
    if ge.kind == "front-door" and not AFD_ENDPOINT_NAME_RE.match(dns):
        c.error(
            "global_entry.dns_name",
            f"'{dns}' is not a valid Front Door endpoint name (1-50 letters, digits and hyphens, starting and ending "
            "with a letter or digit).",
            "choose a shorter name of letters, digits and hyphens.",
        )
    if ge.kind == "traffic-manager" and not TM_RELATIVE_NAME_RE.match(dns):
        c.error(
            "global_entry.dns_name",
            f"'{dns}' is not a DNS label: the Traffic Manager name becomes {dns}.trafficmanager.net (1-63 letters, "
            "digits and hyphens, starting and ending with a letter or digit; unique across Azure).",
            "choose a label such as 'contoso-app-prod'.",
        )
    if ge.name is not None and not TM_RELATIVE_NAME_RE.match(ge.name):
        # Microsoft.Cdn/profiles: 1-260 alphanumerics and hyphens; trafficmanagerprofiles: 1-63 alphanumerics,
        # hyphens and periods, starting and ending with an alphanumeric: both accept a DNS label.
        # https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules
        c.error(
            "global_entry.name",
            f"'{ge.name}' is not a valid profile name.",
            "use 1-63 letters, digits and hyphens, starting and ending with a letter or digit.",
        )


def _check_origins(cfg: DeploymentConfig, ge: GlobalEntryConfig, c: Collector) -> None:
    known = {r.name: r for r in cfg.firewall.dnat_rules}
    for index, name in enumerate(ge.dnat_rules or []):
        rule = known.get(name)
        if rule is None:
            c.error(
                f"global_entry.dnat_rules[{index}]",
                f"no [[firewall.dnat_rules]] is named '{name}'.",
                f"name one of: {', '.join(sorted(known)) or '(none: add a [[firewall.dnat_rules]])'}.",
            )
        elif rule.protocol != "TCP":
            c.error(
                f"global_entry.dnat_rules[{index}]",
                f"DNAT rule '{name}' is {rule.protocol}; a global entry forwards HTTP(S), over TCP.",
                "name a TCP rule.",
            )
    selected = selected_dnat_rules(cfg)
    protocol = ge.effective_protocol
    if not selected:
        port = 443 if protocol == "https" else 80
        c.error(
            "global_entry.dnat_rules",
            f"the global entry has no origin: no TCP [[firewall.dnat_rules]] publishes port {port}, and those rules "
            "are the regional ingress endpoints.",
            f"add a [[firewall.dnat_rules]] with public_port = {port} (dedicated_public_ip = true), or list the "
            "rules that publish the application in global_entry.dnat_rules.",
        )
        return
    for rule in selected:
        if rule.public_port == _PLAIN_PORT[protocol]:
            if protocol == "https" and ge.kind == "front-door":
                # Front Door's route forwards to the origins with the route's forwardingProtocol; HTTPS
                # unless HTTP is chosen: https://learn.microsoft.com/azure/frontdoor/routing-methods
                message = (f"DNAT rule '{rule.name}' publishes port 80, but Front Door forwards HTTPS to the origins "
                           "unless the forwarding protocol is set explicitly.")
            else:
                message = (f"DNAT rule '{rule.name}' publishes port {rule.public_port}, which is not "
                           f"{protocol.upper()}.")
            other = "http" if protocol == "https" else "https"
            c.error(
                "global_entry.protocol",
                message,
                f"publish the {protocol.upper()} port of the ingress, or set global_entry.protocol = \"{other}\".",
            )
    if ge.kind == "traffic-manager" and len({r.public_port for r in selected}) > 1:
        # One monitorConfig.port per profile:
        # https://learn.microsoft.com/azure/traffic-manager/traffic-manager-monitoring#configure-endpoint-monitoring
        c.error(
            "global_entry.dnat_rules",
            "Traffic Manager probes every endpoint on one port, but the selected DNAT rules publish ports "
            f"{sorted({r.public_port for r in selected})}.",
            "select rules that publish the same port.",
        )


def _check_front_door(ge: GlobalEntryConfig, c: Collector) -> None:
    low, high = AFD_PROBE_INTERVAL_RANGE
    if not low <= ge.probe_interval_seconds <= high:
        c.error(
            "global_entry.probe_interval_seconds",
            f"{ge.probe_interval_seconds} is outside Front Door's probe interval range ({low}-{high} seconds).",
            "use 30 (Front Door's default) or another value in range.",
        )
    if ge.origin_host_header is not None and not HOST_HEADER_RE.match(ge.origin_host_header):
        c.error(
            "global_entry.origin_host_header",
            f"'{ge.origin_host_header}' is not a host name.",
            "write the name the ingress certificate is for, e.g. app.contoso.com.",
        )
    if ge.effective_protocol == "https" and ge.origin_host_header is None:
        # "Front Door validates the origin certificate's name against the origin host header":
        # https://learn.microsoft.com/azure/frontdoor/end-to-end-tls#backend-tls-connection-azure-front-door-to-origin
        c.warn(
            "global_entry.origin_host_header",
            "the origins are IP addresses and Front Door checks the origin certificate's name against the host "
            "header: without a host header the HTTPS connection to the origins fails the name check.",
            "set global_entry.origin_host_header to the name the ingress certificate is for.",
        )
    if ge.waf_mode != "Prevention":
        c.warn(
            "global_entry.waf_mode",
            "the WAF policy only logs what its rules match; nothing is blocked.",
            'set waf_mode = "Prevention" once the logs show no false positives.',
        )


def _check_traffic_manager(ge: GlobalEntryConfig, c: Collector) -> None:
    if ge.probe_interval_seconds not in TM_INTERVALS:
        c.error(
            "global_entry.probe_interval_seconds",
            f"Traffic Manager probes every 10 or 30 seconds, not {ge.probe_interval_seconds}.",
            "use 30 (normal probing) or 10 (fast probing, billed extra).",
        )
    low, high = TM_TIMEOUT_RANGE
    upper = high if ge.probe_interval_seconds != 10 else 9
    if not low <= ge.probe_timeout_seconds <= upper:
        c.error(
            "global_entry.probe_timeout_seconds",
            f"{ge.probe_timeout_seconds} s is outside Traffic Manager's range ({low}-{upper} s with a "
            f"{ge.probe_interval_seconds} s interval).",
            f"use a value from {low} to {upper}.",
        )
    low, high = TM_TOLERATED_FAILURES_RANGE
    if not low <= ge.tolerated_failures <= high:
        c.error(
            "global_entry.tolerated_failures",
            f"Traffic Manager tolerates {low}-{high} failed probes, not {ge.tolerated_failures}.",
            "use 3 (the default) or another value from 0 to 9.",
        )
    if ge.origin_host_header is not None:
        c.warn(
            "global_entry.origin_host_header",
            "Traffic Manager answers DNS queries only: clients send their own Host header, this key is ignored.",
            "remove it.",
        )
