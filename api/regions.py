"""Azure region names: the offline table shipped with the package, and the subscription's own list.

``validate`` checks ``deployment.location`` against the offline table (no network); ``plan`` and ``up``
against a real Azure endpoint ask the subscription (``GET /subscriptions/{id}/locations``, what
``SubscriptionClient.subscriptions.list_locations`` and ``az account list-locations`` call), so a region
opened after this release is accepted there. A typo is refused with the closest name (difflib).

This module imports nothing heavy: the simulator uses the same table to refuse a resource group in a
region Azure does not have.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "LOCATIONS_API_VERSION",
    "REGIONS",
    "closest_region",
    "fetch_subscription_locations",
    "regions_for",
]

# Programmatic names of the Azure regions, per cloud.
# Public cloud: "Azure regions list", column "Programmatic name"
# (https://learn.microsoft.com/en-us/azure/reliability/regions-list), plus the two canary regions
# (centraluseuap, eastus2euap) that `az account list-locations` also returns. Sovereign clouds:
# https://learn.microsoft.com/en-us/azure/azure-government/documentation-government-developer-guide and
# https://learn.microsoft.com/en-us/azure/china/resources-developer-guide (`az account list-locations`
# against each cloud). A region opened after this table was written passes `plan`/`up` (they ask the
# subscription) and only draws a warning from the offline `validate`.
REGIONS: dict[str, frozenset[str]] = {
    "public": frozenset(
        {
            "australiacentral",
            "australiacentral2",
            "australiaeast",
            "australiasoutheast",
            "austriaeast",
            "belgiumcentral",
            "brazilsouth",
            "brazilsoutheast",
            "canadacentral",
            "canadaeast",
            "centralindia",
            "centralus",
            "centraluseuap",
            "chilecentral",
            "eastasia",
            "eastus",
            "eastus2",
            "eastus2euap",
            "francecentral",
            "francesouth",
            "germanynorth",
            "germanywestcentral",
            "indonesiacentral",
            "israelcentral",
            "italynorth",
            "japaneast",
            "japanwest",
            "jioindiacentral",
            "jioindiawest",
            "koreacentral",
            "koreasouth",
            "malaysiawest",
            "mexicocentral",
            "newzealandnorth",
            "northcentralus",
            "northeurope",
            "norwayeast",
            "norwaywest",
            "polandcentral",
            "qatarcentral",
            "southafricanorth",
            "southafricawest",
            "southcentralus",
            "southeastasia",
            "southindia",
            "spaincentral",
            "swedencentral",
            "swedensouth",
            "switzerlandnorth",
            "switzerlandwest",
            "uaecentral",
            "uaenorth",
            "uksouth",
            "ukwest",
            "westcentralus",
            "westeurope",
            "westindia",
            "westus",
            "westus2",
            "westus3",
        }
    ),
    "usgovernment": frozenset({"usdodcentral", "usdodeast", "usgovarizona", "usgovtexas", "usgovvirginia"}),
    "china": frozenset({"chinaeast", "chinaeast2", "chinaeast3", "chinanorth", "chinanorth2", "chinanorth3"}),
}

#: api-version of ``GET /subscriptions/{id}/locations`` (Microsoft.Resources subscriptions API)
LOCATIONS_API_VERSION = "2022-12-01"


def regions_for(endpoint: str) -> frozenset[str] | None:
    """The offline region table of ``[azure] endpoint``: a named cloud's, the public cloud's for the
    simulator (it simulates the public cloud), ``None`` for any other URL (Azure Stack Hub and private
    clouds name their own regions)."""
    if endpoint == "simulator":
        return REGIONS["public"]
    return REGIONS.get(endpoint)


def closest_region(name: str, known: Iterable[str]) -> str | None:
    """The known region closest to ``name`` (difflib), or ``None`` when none is close."""
    options = sorted(known)
    found = difflib.get_close_matches(name.replace(" ", "").lower(), options, n=1, cutoff=0.75)
    return found[0] if found else None


def fetch_subscription_locations(
    credential: Any,
    subscription_id: str,
    base_url: str,
    *,
    credential_scope: str,
    connection_verify: str | bool = True,
) -> frozenset[str]:
    """The regions the subscription can use, from ARM's ``GET /subscriptions/{id}/locations``
    (https://learn.microsoft.com/en-us/rest/api/resources/subscriptions/list-locations), through the SDK's
    ARM pipeline (authentication, retries). Only physical regions: logical ones such as ``global`` or the
    geography groups (``europe``) are left out, as ``az account list-locations`` shows them."""
    from azure.core.rest import HttpRequest
    from azure.mgmt.resource.resources import ResourceManagementClient

    client = ResourceManagementClient(
        credential,
        subscription_id,
        base_url=base_url,
        credential_scopes=[credential_scope],
        connection_verify=connection_verify,
    )
    try:
        names: set[str] = set()
        url: str | None = f"/subscriptions/{subscription_id}/locations?api-version={LOCATIONS_API_VERSION}"
        while url:
            response = client.send_request(HttpRequest("GET", url))
            response.raise_for_status()
            page = response.json()
            for item in page.get("value", []):
                meta = item.get("metadata") or {}
                if meta.get("regionType", "Physical") == "Physical" and item.get("name"):
                    names.add(str(item["name"]).lower())
            url = page.get("nextLink")
        return frozenset(names)
    finally:
        client.close()


def location_problem(location: str, known: Iterable[str], *, source: str) -> Any:
    """A :class:`~hubspoke_deploy.errors.Problem` on ``deployment.location`` when ``location`` is not one
    of ``known`` (``source`` says where the list came from), else ``None``."""
    from hubspoke_deploy.errors import Problem

    names = frozenset(known)
    if location in names:
        return None
    guess = closest_region(location, names)
    if guess:
        return Problem(
            "deployment.location",
            f"'{location}' is not an Azure region ({source}); did you mean '{guess}'?",
            f'location = "{guess}".',
        )
    return Problem(
        "deployment.location",
        f"'{location}' is not an Azure region ({source}).",
        "list the regions with `az account list-locations -o table` and use a Name, e.g. \"westeurope\".",
    )


def check_location_online(
    cfg: Any, credential: Any, base_url: str, *, credential_scope: str, connection_verify: str | bool = True
) -> None:
    """Refuse ``deployment.location`` when the subscription does not offer it (``plan`` / ``up`` against a
    named Azure cloud). Raises :class:`~hubspoke_deploy.errors.ConfigError`; nothing was changed then."""
    from azure.core.exceptions import AzureError
    from hubspoke_deploy.errors import ConfigError

    try:
        names = fetch_subscription_locations(
            credential, cfg.subscription_id, base_url, credential_scope=credential_scope,
            connection_verify=connection_verify,
        )
    except AzureError:
        return  # not readable (permissions, network): the run's own requests report it; Azure checks too
    if not names:
        return  # an empty answer proves nothing; Azure refuses the resource group itself
    problem = location_problem(cfg.location, names, source=f"subscription {cfg.subscription_id} does not offer it")
    if problem is not None:
        raise ConfigError(problem, source=cfg.source)
