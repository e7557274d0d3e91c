"""The whole reference architecture: every step, and the operator-facing outputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.orchestrator.step import Step
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.globalentry import global_entry_outputs, global_entry_steps
from hubspoke_deploy.steps.network import foundation_steps


def build_steps(cfg: DeploymentConfig) -> list[Step]:
    """All steps of the deployment, in a stable order (the scheduler orders them by the DAG)."""
    from hubspoke_deploy.steps.firewall import firewall_steps
    from hubspoke_deploy.steps.ingress import ingress_steps
    from hubspoke_deploy.steps.platform import platform_steps

    steps: list[Step] = [*foundation_steps(cfg), *firewall_steps(cfg), *platform_steps(cfg), *ingress_steps(cfg)]
    steps += ops_steps(cfg, steps)
    if cfg.regions:  # issue 18: the other regions, the parent policy, what joins the regions
        from hubspoke_deploy.steps.multiregion import regional_ingress_endpoints, with_regions

        steps = with_regions(cfg, steps, build_steps)
        return steps + global_entry_steps(cfg, steps, regional_ingress_endpoints(cfg, steps))
    steps += global_entry_steps(cfg, steps)
    return steps


def ops_steps(cfg: DeploymentConfig, steps: list[Step]) -> list[Step]:
    """Operations and security over the architecture's steps (issue 17): DDoS plan, TLS inspection,
    policy assignment, then the diagnostic settings of every service and the alerts."""
    from hubspoke_deploy.steps.alerts import alert_steps
    from hubspoke_deploy.steps.diagnostics import diagnostic_steps
    from hubspoke_deploy.steps.security import security_steps

    extra = security_steps(cfg, steps)
    extra += diagnostic_steps(cfg, [*steps, *extra])
    extra += alert_steps(cfg, [*steps, *extra])
    return extra


def deployment_outputs(cfg: DeploymentConfig, step_outputs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Outputs an operator needs next, from the steps' recorded outputs. Never a credential."""
    from hubspoke_deploy.steps.platform import platform_outputs

    result: dict[str, Any] = {
        "deployment": cfg.name,
        "resource_group": cfg.resource_group,
        "location": cfg.location,
    }
    fw = step_outputs.get(keys.FIREWALL, {})
    if fw:
        result["firewall_id"] = fw.get("id")
        result["firewall_private_ip"] = fw.get("private_ip")
        from hubspoke_deploy.steps.firewall import firewall_public_ips

        result["firewall_public_ips"] = firewall_public_ips(cfg, step_outputs)
    ws = step_outputs.get(keys.WORKSPACE, {})
    if ws:
        result["log_analytics_workspace_id"] = ws.get("id")
    result.update(platform_outputs(cfg, step_outputs))
    result.update(global_entry_outputs(cfg, step_outputs))
    if cfg.regions:  # issue 18: the same outputs per region
        from hubspoke_deploy.steps.multiregion import regional_outputs

        result["regions"] = regional_outputs(cfg, step_outputs)
    from hubspoke_deploy.steps.ingress import ingress_outputs

    result.update(ingress_outputs(cfg, step_outputs))
    return result
