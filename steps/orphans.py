"""How to delete each resource type of the architecture once it left the config (orphans,
``orchestrator.prune``): what foreign use keeps it, what to undo before the delete, what to
tell the operator afterwards. The same checks ``down`` applies through the steps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hubspoke_deploy.config import DeploymentConfig
from hubspoke_deploy.orchestrator.prune import OrphanHandler
from hubspoke_deploy.orchestrator.step import OwnedIds, Spec, StepContext
from hubspoke_deploy.steps.globalentry import global_entry_orphan_handlers
from hubspoke_deploy.steps.network import (
    association_blockers,
    public_ip_blockers,
    resource_group_blockers,
    subnet_users,
    vnet_blockers,
)

Blockers = Callable[[StepContext, Spec, OwnedIds], list[str]]
Prepare = Callable[[StepContext, Spec, OwnedIds], None]


def _none(ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
    return []


def _nothing(ctx: StepContext, observed: Spec, owned: OwnedIds) -> None:
    return None


@dataclass(frozen=True)
class Handler:
    blockers_fn: Blockers = _none
    prepare_fn: Prepare = _nothing
    note_text: str | None = None

    def blockers(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
        return self.blockers_fn(ctx, observed, owned)

    def prepare(self, ctx: StepContext, observed: Spec, owned: OwnedIds) -> None:
        self.prepare_fn(ctx, observed, owned)

    def note(self, observed: Spec) -> str | None:
        if self.note_text is None:
            return None
        return self.note_text.format(name=str(observed.get("id", "")).rsplit("/", 1)[-1])


def _rg_blockers(ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
    return resource_group_blockers(ctx, str(observed.get("id", "")).rstrip("/").rsplit("/", 1)[-1], owned)


def _subnet_blockers(ctx: StepContext, observed: Spec, owned: OwnedIds) -> list[str]:
    return subnet_users(ctx, observed, owned)


def orphan_handlers(cfg: DeploymentConfig) -> dict[str, OrphanHandler]:
    """Handlers by lower-cased resource type."""
    from hubspoke_deploy.steps.firewall import RouteTableStep
    from hubspoke_deploy.steps.ingress import traffic_controller_blockers, waf_policy_blockers

    # The route table's own teardown (disassociate our kept subnets first); its identity
    # (spoke, name) plays no part in it.
    route_table: Any = RouteTableStep("rt.orphan", cfg, "orphan", [])
    handlers: dict[str, OrphanHandler] = {
        "microsoft.resources/resourcegroups": Handler(_rg_blockers),
        "microsoft.network/virtualnetworks": Handler(vnet_blockers),
        "microsoft.network/virtualnetworks/subnets": Handler(_subnet_blockers),
        "microsoft.network/publicipaddresses": Handler(public_ip_blockers),
        "microsoft.network/networksecuritygroups": Handler(association_blockers),
        "microsoft.network/natgateways": Handler(association_blockers),
        "microsoft.network/routetables": Handler(route_table.delete_blockers, route_table.prepare_delete),
        "microsoft.network/applicationgatewaywebapplicationfirewallpolicies": Handler(waf_policy_blockers),
        "microsoft.servicenetworking/trafficcontrollers": Handler(traffic_controller_blockers),
        "microsoft.keyvault/vaults": Handler(
            note_text="Key Vault {name} is soft-deleted: its name stays reserved for the vault's retention period"
        ),
    }
    handlers.update(global_entry_orphan_handlers())
    return handlers
