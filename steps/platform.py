"""Architecture part 2: identities, PaaS behind private endpoints, Bastion, jump box, private AKS (issue 6).

Ordering (``requires``) is only what Azure imposes, so the critical path stays
short: identities, storage, ACR, Key Vault, DNS zones, Bastion and the jump box
proceed while the firewall is being created; only the cluster (whose node
subnets route 0.0.0.0/0 to the firewall) and the role assignments on the
routed subnets / route table wait for it.

* identities and role assignments before the cluster;
* route table association (routed node subnets) and the firewall before the cluster;
* private DNS zones before zone groups; targets before their private endpoints;
* a write that references a resource never runs while a child of that resource is written
  (Azure shows the parent Updating and refuses the reference with
  ``ReferencedResourceNotProvisioned``): VNet links hold their VNet's lock (subnets, peerings)
  and DNS zone groups their zone's lock (links) -- ``lock_keys`` in ``steps/paas.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.orchestrator.step import Step
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.aks import CLUSTER, cluster_id, cluster_steps, identity_steps
from hubspoke_deploy.steps.identity import RoleAssignmentStep
from hubspoke_deploy.steps.jumpbox import BASTION, JUMPBOX_NIC, JUMPBOX_VM, bastion_name, jumpbox_steps, jumpbox_vm_id
from hubspoke_deploy.steps.paas import ACR, KEYVAULT, STORAGE, acr_id, keyvault_id, paas_steps

__all__ = ["platform_outputs", "platform_steps"]


def platform_steps(cfg: DeploymentConfig) -> list[Step]:
    """Every step of the platform half. Requires the foundation (``steps.network``) and
    firewall (``steps.firewall``) steps in the same graph."""
    identities = identity_steps(cfg)
    role_keys = [s.key for s in identities if isinstance(s, RoleAssignmentStep)]
    result: list[Step] = [*identities, *paas_steps(cfg), *jumpbox_steps(cfg), *cluster_steps(cfg, role_keys)]
    return result


def _get(outputs: Mapping[str, Mapping[str, Any]], key: str, field: str) -> Any:
    value = outputs.get(key) or {}
    return value.get(field) if isinstance(value, Mapping) else None


def _private_key_hint(cfg: DeploymentConfig) -> str:
    path = cfg.jumpbox.ssh_public_key_path
    if path and path.endswith(".pub"):
        return str(PurePath(path[: -len(".pub")]))
    return "<path to the private key matching jumpbox.ssh_public_key>"


def platform_outputs(cfg: DeploymentConfig, step_outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What an operator needs next. Ids fall back to the config-derived ones; never a credential."""
    rg = cfg.resource_group
    result: dict[str, Any] = {
        "aks_cluster_id": _get(step_outputs, CLUSTER, "id") or cluster_id(cfg),
        "aks_cluster_name": cfg.aks_name,
        "aks_private_fqdn": _get(step_outputs, CLUSTER, "private_fqdn"),
        "aks_oidc_issuer_url": _get(step_outputs, CLUSTER, "oidc_issuer_url"),
        "aks_command_invoke": (
            f"az aks command invoke --resource-group {rg} --name {cfg.aks_name} --command \"kubectl get nodes\""
        ),
        "acr_id": _get(step_outputs, ACR, "id") or acr_id(cfg),
        "acr_login_server": _get(step_outputs, ACR, "login_server") or f"{cfg.acr_name.lower()}.azurecr.io",
        "keyvault_id": _get(step_outputs, KEYVAULT, "id") or keyvault_id(cfg),
        "keyvault_uri": _get(step_outputs, KEYVAULT, "vault_uri") or f"https://{cfg.keyvault_name}.vault.azure.net/",
        "storage_account_id": _get(step_outputs, STORAGE, "id"),
        "log_analytics_workspace_id": _get(step_outputs, keys.WORKSPACE, "id"),
    }
    if cfg.jumpbox.enabled:
        vm_id = _get(step_outputs, JUMPBOX_VM, "id") or jumpbox_vm_id(cfg)
        result["jumpbox_vm_id"] = vm_id
        result["jumpbox_private_ip"] = _get(step_outputs, JUMPBOX_NIC, "private_ip")
        if cfg.bastion.enabled:
            result["bastion_id"] = _get(step_outputs, BASTION, "id")
            if cfg.bastion.effective_tunneling:
                result["jumpbox_ssh"] = (
                    f"az network bastion ssh --name {bastion_name(cfg)} --resource-group {rg} "
                    f"--target-resource-id {vm_id} --auth-type ssh-key "
                    f"--username {cfg.jumpbox.admin_username} --ssh-key {_private_key_hint(cfg)}"
                )
    return result
