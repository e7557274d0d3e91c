"""userAssignedIdentities and roleAssignments against the simulator, through the real SDK clients."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from hubspoke_deploy.simulator import Simulator

from .conftest_providers import LOCATION, SUB, rg_id

NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"


def _role(guid: str) -> str:
    return f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}"


def _identity(client: Any, rg: str, name: str = "id1") -> Any:
    msi = client(ManagedServiceIdentityClient)
    return msi.user_assigned_identities.create_or_update(rg, name, {"location": LOCATION})


def test_identity_gets_stable_server_assigned_guids(sim: Simulator, client: Any, rg: str) -> None:
    first = _identity(client, rg)
    for value in (first.principal_id, first.client_id, first.tenant_id):
        uuid.UUID(value)  # a GUID
    assert first.principal_id != first.client_id
    again = _identity(client, rg)  # update keeps the principal
    assert (again.principal_id, again.client_id) == (first.principal_id, first.client_id)
    got = client(ManagedServiceIdentityClient).user_assigned_identities.get(rg, "id1")
    assert got.principal_id == first.principal_id
    raw = sim.get_resource(first.id)
    assert raw is not None and "simPrincipalCreatedAt" not in raw["properties"]


def test_role_assignment_created_and_duplicate_refused(sim: Simulator, client: Any, rg: str) -> None:
    ident = _identity(client, rg)
    auth = client(AuthorizationManagementClient)
    params = {
        "role_definition_id": _role(NETWORK_CONTRIBUTOR),
        "principal_id": ident.principal_id,
        "principal_type": "ServicePrincipal",
    }
    ra = auth.role_assignments.create(rg_id(rg), str(uuid.uuid4()), params)
    assert ra.scope == rg_id(rg)
    assert ra.role_definition_id.lower().endswith(NETWORK_CONTRIBUTOR)
    # same name again: idempotent
    auth.role_assignments.create(rg_id(rg), ra.name, params)
    with pytest.raises(HttpResponseError) as err:
        auth.role_assignments.create(rg_id(rg), str(uuid.uuid4()), params)
    assert err.value.status_code == 409 and err.value.error.code == "RoleAssignmentExists"
    # a different role for the same principal is fine
    auth.role_assignments.create(rg_id(rg), str(uuid.uuid4()), {**params, "role_definition_id": _role(ACR_PULL)})


def test_role_assignment_name_role_and_scope_validated(sim: Simulator, client: Any, rg: str) -> None:
    ident = _identity(client, rg)
    auth = client(AuthorizationManagementClient)
    good = {
        "role_definition_id": _role(ACR_PULL),
        "principal_id": ident.principal_id,
        "principal_type": "ServicePrincipal",
    }
    with pytest.raises(HttpResponseError) as err:
        auth.role_assignments.create(rg_id(rg), "not-a-guid", good)
    assert err.value.status_code == 400
    with pytest.raises(HttpResponseError) as err:
        auth.role_assignments.create(
            rg_id(rg), str(uuid.uuid4()), {**good, "role_definition_id": _role(str(uuid.uuid4()))}
        )
    assert err.value.status_code == 400 and err.value.error.code == "RoleDefinitionDoesNotExist"
    with pytest.raises(HttpResponseError) as err:
        auth.role_assignments.create(rg_id("nope"), str(uuid.uuid4()), good)
    assert err.value.status_code == 404


def test_principal_not_found_for_new_principal_without_type(sim: Simulator, client: Any, rg: str) -> None:
    sim.settings.principal_delay_s = 200_000.0  # x 0.0005 = 100 s of wall time: always "new"
    ident = _identity(client, rg)
    auth = client(AuthorizationManagementClient)
    params = {"role_definition_id": _role(ACR_PULL), "principal_id": ident.principal_id}
    with pytest.raises(HttpResponseError) as err:
        auth.role_assignments.create(rg_id(rg), str(uuid.uuid4()), params)
    assert err.value.status_code == 400 and err.value.error.code == "PrincipalNotFound"
    assert "principalType" in str(err.value)
    # setting principalType avoids the replication-lag failure
    ra = auth.role_assignments.create(rg_id(rg), str(uuid.uuid4()), {**params, "principal_type": "ServicePrincipal"})
    assert ra.principal_id == ident.principal_id


def test_principal_lag_expires(sim: Simulator, client: Any, rg: str) -> None:
    sim.settings.principal_delay_s = 0.0
    ident = _identity(client, rg)
    auth = client(AuthorizationManagementClient)
    ra = auth.role_assignments.create(
        rg_id(rg), str(uuid.uuid4()), {"role_definition_id": _role(ACR_PULL), "principal_id": ident.principal_id}
    )
    assert ra.principal_type == "ServicePrincipal"


def test_unknown_service_principal_is_not_found(sim: Simulator, client: Any, rg: str) -> None:
    auth = client(AuthorizationManagementClient)
    with pytest.raises(HttpResponseError) as err:
        auth.role_assignments.create(
            rg_id(rg),
            str(uuid.uuid4()),
            {
                "role_definition_id": _role(ACR_PULL),
                "principal_id": str(uuid.uuid4()),
                "principal_type": "ServicePrincipal",
            },
        )
    assert err.value.error.code == "PrincipalNotFound"


def test_builtin_role_definitions_readable(sim: Simulator, client: Any, rg: str) -> None:
    _identity(client, rg)  # any write seeds the built-in definitions
    auth = client(AuthorizationManagementClient)
    rd = auth.role_definitions.get(f"/subscriptions/{SUB}", NETWORK_CONTRIBUTOR)
    assert rd.role_name == "Network Contributor" and rd.role_type == "BuiltInRole"
    by_id = auth.role_definitions.get_by_id(_role(ACR_PULL))
    assert by_id.role_name == "AcrPull"
