"""A soft-deleted Key Vault of the same name is recovered by ``up``, not a failure (issue 6)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hubspoke_deploy.config import DeploymentConfig, load_config
from hubspoke_deploy.orchestrator.engine import RunStatus
from hubspoke_deploy.orchestrator.runner import open_session
from hubspoke_deploy.orchestrator.step import Step
from hubspoke_deploy.simulator import Simulator
from hubspoke_deploy.steps import keys
from hubspoke_deploy.steps.identity import ID_CONTROL_PLANE, UserAssignedIdentityStep
from hubspoke_deploy.steps.network import ResourceGroupStep
from hubspoke_deploy.steps.paas import KEYVAULT, KeyVaultStep, keyvault_id

SANDBOX = Path(__file__).resolve().parents[2] / "config" / "examples" / "sandbox.toml"


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    with Simulator(time_scale=0.002, seed=3) as simulator:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", simulator.ca_path)
        yield simulator


@pytest.fixture
def env(sim: Simulator, tmp_path: Path) -> dict[str, str]:
    return {
        "HUBSPOKE_AZURE_ENDPOINT": sim.endpoint,
        "HUBSPOKE_AZURE_CREDENTIAL": "simulator",
        "HUBSPOKE_STATE_BACKEND": "file",
        "HUBSPOKE_STATE_PATH": str(tmp_path / "state.json"),
    }


def vault_steps(cfg: DeploymentConfig) -> list[Step]:
    return [
        ResourceGroupStep(keys.RG, cfg),
        UserAssignedIdentityStep(ID_CONTROL_PLANE, cfg, "aks"),
        KeyVaultStep(KEYVAULT, cfg),
    ]


def test_soft_deleted_vault_is_recovered(sim: Simulator, env: dict[str, str]) -> None:
    cfg = load_config(SANDBOX, env=env)
    with open_session(cfg, command="up", steps=vault_steps(cfg), env=env) as session:
        first = session.engine.up()
        assert first.status == RunStatus.SUCCEEDED
        # An earlier teardown: the vault is deleted and kept soft-deleted.
        kv = session.clients.get("keyvault")
        kv.vaults.delete(cfg.resource_group, cfg.keyvault_name)
        assert sim.get_resource(keyvault_id(cfg)) is None
        assert kv.vaults.get_deleted(cfg.keyvault_name, cfg.location) is not None
    with open_session(cfg, command="up", steps=vault_steps(cfg), env=env) as session:
        second = session.engine.up()
    assert second.status == RunStatus.SUCCEEDED, [str(o.error) for o in second.outcomes.values() if o.error]
    assert second.outcomes[KEYVAULT].action == "create"
    vault = sim.get_resource(keyvault_id(cfg))
    assert vault is not None
    props = vault["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["publicNetworkAccess"] == "Disabled"
    assert vault["tags"]["managed-by"] == "hubspoke-deploy"
    # recovered, not re-created beside it: the soft-deleted entry is gone
    deleted_id = (f"/subscriptions/{cfg.subscription_id}/providers/Microsoft.KeyVault/locations/"
                  f"{cfg.location}/deletedVaults/{cfg.keyvault_name}")
    assert sim.get_resource(deleted_id) is None
