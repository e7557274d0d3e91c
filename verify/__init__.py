"""``hubspoke-deploy verify``'s evaluator: a pure, offline static analysis of a hub-spoke
network read from ARM (REST JSON), in the spirit of Network Watcher's next hop and IP flow
verify, but across DNS, routes, NSGs and the Azure Firewall policy.

No network, no SDK: ``network_from_arm(resources)`` builds the model from ARM JSON,
``evaluate(network, flows, region=...)`` returns one ``Verdict`` per ``Flow``, and
``findings(network)`` lists subnets that bypass the firewall and catch-all rules.

Modules: ``model`` (dataclasses), ``build`` (ARM JSON -> model), ``addresses`` (address,
tag and port matching), ``dns``, ``routing``, ``nsg``, ``firewall``, ``evaluate``. Each
module's docstring states its model and its simplifications.
"""

from hubspoke_deploy.verify.build import network_from_arm
from hubspoke_deploy.verify.evaluate import evaluate, evaluate_flow, exemption, findings
from hubspoke_deploy.verify.model import (
    DnsZone,
    Finding,
    Firewall,
    Flow,
    Hop,
    Network,
    NsgRule,
    Peering,
    Policy,
    PrivateEndpoint,
    Route,
    RouteTable,
    Rule,
    RuleCollection,
    RuleCollectionGroup,
    SecurityGroup,
    Subnet,
    Verdict,
    Vnet,
)

__all__ = [
    "DnsZone",
    "Finding",
    "Firewall",
    "Flow",
    "Hop",
    "Network",
    "NsgRule",
    "Peering",
    "Policy",
    "PrivateEndpoint",
    "Route",
    "RouteTable",
    "Rule",
    "RuleCollection",
    "RuleCollectionGroup",
    "SecurityGroup",
    "Subnet",
    "Verdict",
    "Vnet",
    "evaluate",
    "evaluate_flow",
    "exemption",
    "findings",
    "network_from_arm",
]
