"""The engine's trace of a sandbox run: only what truly needs the firewall waits for it."""

from __future__ import annotations

from typing import Any

from hubspoke_deploy.orchestrator.engine import RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.simulator import Simulator

INDEPENDENT_OF_FIREWALL = ("id.aks", "id.kubelet", "st", "acr", "kv", "dns.privatelink.azurecr.io",
                           "dns.privatelink.vaultcore.azure.net", "dns.privatelink.blob.core.windows.net",
                           "dns.privatelink.westeurope.azmk8s.io", "bastion",
                           # the route table knows the firewall's address in advance (issue 15)
                           "rt.aks", "subnet.aks.system_nodes", "subnet.aks.jumpbox", "pe.acr")
# What must not start without egress waits for the firewall: the cluster and the jump box VM.
BEHIND_THE_FIREWALL = ("jumpbox.vm", "aks", "rt.aks.next-hop")


def test_platform_proceeds_while_the_firewall_is_created(sim: Simulator, cfg: Any) -> None:
    with open_session(cfg, command="up") as session:
        result = session.engine.up()
    assert result.status == RunStatus.SUCCEEDED
    o = result.outcomes
    fw = o["fw"]
    for key in INDEPENDENT_OF_FIREWALL:
        assert o[key].started < fw.finished, f"{key} waited for the firewall"
    for key in BEHIND_THE_FIREWALL:
        assert o[key].started >= fw.finished, f"{key} started before the firewall existed"
