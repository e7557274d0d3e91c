"""Shared pieces of the architecture steps: ids, tags, and the common step shapes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.orchestrator.step import ArmStep, Outputs, Spec


def rg_id(cfg: DeploymentConfig) -> str:
    return f"/subscriptions/{cfg.subscription_id}/resourceGroups/{cfg.resource_group}"


def arm_id(cfg: DeploymentConfig, provider_type: str, *names: str) -> str:
    """``arm_id(cfg, "Microsoft.Network/virtualNetworks/subnets", "vnet", "snet")``."""
    namespace, *types = provider_type.split("/")
    if len(types) != len(names):
        raise ValueError(f"{provider_type} needs {len(types)} names, got {names}")
    path = "/".join(f"{t}/{n}" for t, n in zip(types, names, strict=False))
    return f"{rg_id(cfg)}/providers/{namespace}/{path}"


def ref(resource_id: str) -> dict[str, str]:
    return {"id": resource_id}


class DeploymentStep(ArmStep):
    """A step owning one resource of the deployment's resource group.

    Subclasses set ``client``, ``operations``, ``resource_type`` and implement
    ``names()`` (the resource's name path) and ``desired``.
    """

    def __init__(self, key: str, cfg: DeploymentConfig, requires: tuple[str, ...] = ()) -> None:
        super().__init__(key, requires)
        self.cfg = cfg

    def names(self) -> tuple[str, ...]:
        raise NotImplementedError

    def args(self) -> tuple[str, ...]:
        return (self.cfg.resource_group, *self.names())

    def resource_id(self) -> str:
        return arm_id(self.cfg, self.resource_type, *self.names())

    def display_name(self) -> str:
        return "/".join(self.names())

    def top(self, config: DeploymentConfig, properties: Mapping[str, Any], **extra: Any) -> Spec:
        """Body of a top-level tracked resource: location, tags, properties (+ sku, zones...)."""
        body: Spec = {"location": config.location, "tags": dict(config.tags)}
        body.update(extra)
        body["properties"] = dict(properties)
        return body


def out(observed: Mapping[str, Any], **fields: Any) -> Outputs:
    result: Outputs = {"id": observed.get("id"), "name": observed.get("name")}
    result.update(fields)
    return result


def props(observed: Mapping[str, Any]) -> Mapping[str, Any]:
    value = observed.get("properties")
    return value if isinstance(value, Mapping) else {}
