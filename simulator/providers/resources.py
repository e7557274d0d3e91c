"""Microsoft.Resources: resource groups (the engine handles their CRUD; this sets the latency)."""

from __future__ import annotations

from typing import ClassVar

from hubspoke_deploy.regions import REGIONS
from hubspoke_deploy.simulator.providers.base import JSON, ResourceType, register


@register
class ResourceGroups(ResourceType):
    """Resource groups: PUT is synchronous (200/201); DELETE is a long-running operation that
    deletes everything in the group, extension resources included
    (https://learn.microsoft.com/azure/azure-resource-manager/management/delete-resource-group)."""

    type_name = "Microsoft.Resources/resourceGroups"
    create_latency_s: ClassVar[float] = 0.0
    delete_latency_s: ClassVar[float | None] = 5.0
    long_running: ClassVar[bool] = False
    requires_location: ClassVar[bool] = True


def subscription_locations(subscription: str) -> list[JSON]:
    """``GET /subscriptions/{id}/locations``: the public cloud's regions, in the shape ARM returns
    (https://learn.microsoft.com/en-us/rest/api/resources/subscriptions/list-locations), from the table
    the offline ``validate`` uses (``hubspoke_deploy.regions``)."""
    return [
        {
            "id": f"/subscriptions/{subscription}/locations/{name}",
            "name": name,
            "type": "Region",
            "displayName": name,
            "regionalDisplayName": name,
            "metadata": {"regionType": "Physical", "regionCategory": "Recommended"},
        }
        for name in sorted(REGIONS["public"])
    ]
