"""Examples, env overrides, SSH key files, derived names, warnings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hubspoke_deploy.config as config_pkg
import pytest
from hubspoke_deploy.config import (
    DeploymentConfig,
    load_config,
    load_config_dict,
    validate_config,
)
from hubspoke_deploy.errors import ConfigError
from pydantic import ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

EXAMPLES = Path(config_pkg.__file__).parent / "examples"
SANDBOX = EXAMPLES / "sandbox.toml"
PROD = EXAMPLES / "prod.toml"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGv/eLRcO9o5/un7Jbya6YDolCfOoZge+2yh8Kpnu0oR test@key"


def parsed(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


# --------------------------------------------------------------------------- examples


def test_sandbox_example_loads_without_warnings() -> None:
    cfg = load_config(SANDBOX, env={})
    assert cfg.deployment.environment == "sandbox"
    assert cfg.azure.endpoint == "simulator" and cfg.azure.credential == "simulator"
    assert cfg.state.backend == "file"
    assert len(cfg.spokes) == 1
    assert 1 <= cfg.firewall.public_ip_count <= 2
    assert cfg.warnings == ()
    assert validate_config(cfg) == []
    assert cfg.source == str(SANDBOX)


def test_prod_example_loads_with_no_warnings_and_follows_the_article() -> None:
    cfg = load_config(PROD, env={})
    assert validate_config(cfg) == []
    assert cfg.warnings == ()
    assert cfg.is_production
    fw = cfg.firewall
    assert fw.tier == "Premium" and fw.zones == ["1", "2", "3"]
    assert fw.public_ip_count >= 20 or fw.nat_gateway
    assert fw.effective_threat_intel_mode == "Deny" and fw.effective_idps_mode == "Deny"
    assert len(cfg.spokes) == 2 and cfg.cluster_spoke.name == "aks"
    assert cfg.state.backend == "blob" and cfg.state.account_url
    assert cfg.azure.credential == "default"
    assert len(fw.dnat_rules) >= 2 and len(fw.application_rules) >= 2
    assert cfg.aks.private_cluster and cfg.aks.api_server_vnet_integration


def test_models_are_frozen() -> None:
    cfg = load_config(SANDBOX, env={})
    with pytest.raises(ValidationError):
        cfg.firewall.tier = "Basic"  # type: ignore[misc]


# --------------------------------------------------------------------------- derived values


def test_derived_names_and_tags() -> None:
    cfg = load_config(SANDBOX, env={})
    assert cfg.resource_group == "rg-sandbox"
    assert cfg.hub_vnet_name == "vnet-hub-sandbox"
    assert cfg.spoke_vnet_name("aks") == "vnet-sandbox-aks"
    assert cfg.spoke_vnet_name(cfg.spokes[0]) == "vnet-sandbox-aks"
    assert cfg.aks_name == "aks-sandbox"
    assert cfg.workspace_name == "log-sandbox"
    assert cfg.state_path == ".hubspoke/sandbox.state.json"
    assert cfg.state_blob == "sandbox.state.json"
    assert cfg.tags == {"owner": "platform-team", "deployment": "sandbox", "managed-by": "hubspoke-deploy"}
    # Globally unique names: stable for the same subscription+name, different for another subscription.
    assert cfg.acr_name.startswith("acrsandbox") and len(cfg.acr_name) == len("acrsandbox") + 6
    assert cfg.storage_account_name.startswith("stsandbox")
    assert cfg.keyvault_name.startswith("kv-sandbox-")
    data = parsed(SANDBOX)
    data["deployment"]["subscription_id"] = "00000000-0000-0000-0000-000000000002"
    other = load_config_dict(data, env={})
    assert other.acr_name != cfg.acr_name
    assert load_config(SANDBOX, env={}).acr_name == cfg.acr_name


def test_longest_name_still_gives_valid_global_names() -> None:
    data = parsed(SANDBOX)
    data["deployment"]["name"] = "abcdefgh-ijklmno"  # 16 chars
    cfg = load_config_dict(data, env={})
    assert len(cfg.keyvault_name) <= 24 and len(cfg.storage_account_name) <= 24
    assert 5 <= len(cfg.acr_name) <= 50


def test_location_is_normalised_and_explicit_names_win() -> None:
    data = parsed(SANDBOX)
    data["deployment"]["location"] = "West Europe"
    data["deployment"]["resource_group"] = "rg-custom"
    data["acr"] = {"name": "myregistry01"}
    cfg = load_config_dict(data, env={})
    assert cfg.location == "westeurope"
    assert cfg.resource_group == "rg-custom"
    assert cfg.acr_name == "myregistry01"


@pytest.mark.parametrize(
    ("endpoint", "url", "scope"),
    [
        ("public", "https://management.azure.com/", "https://management.azure.com/.default"),
        ("usgovernment", "https://management.usgovcloudapi.net/", "https://management.core.usgovcloudapi.net/.default"),
        ("china", "https://management.chinacloudapi.cn/", "https://management.chinacloudapi.cn/.default"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443/", "https://127.0.0.1:8443/.default"),
        ("simulator", None, None),
    ],
)
def test_cloud_endpoints(endpoint: str, url: str | None, scope: str | None) -> None:
    data = parsed(SANDBOX)
    data["azure"]["endpoint"] = endpoint
    if endpoint in ("public", "usgovernment", "china"):
        data["azure"]["credential"] = "cli"
    cfg = load_config_dict(data, env={})
    assert cfg.resource_manager_url == url
    assert cfg.credential_scope == scope


def test_simulator_credential_accepted_on_loopback_urls() -> None:
    for endpoint in ("https://localhost:9443", "https://127.0.0.5", "https://[::1]:8443"):
        data = parsed(SANDBOX)
        data["azure"]["endpoint"] = endpoint
        assert load_config_dict(data, env={}).azure.credential == "simulator"


def test_tier_dependent_defaults_adapt_when_left_unset() -> None:
    data = parsed(SANDBOX)
    data["firewall"] = {"tier": "Basic", "public_ip_count": 1}
    data["hub"] = {"subnets": {"firewall_management": "10.0.0.128/26"}}
    data["bastion"] = {"sku": "Basic"}
    cfg = load_config_dict(data, env={})
    assert cfg.firewall.effective_threat_intel_mode == "Alert"
    assert cfg.firewall.effective_idps_mode == "Off"
    assert cfg.firewall.effective_dns_proxy is False
    assert cfg.bastion.effective_tunneling is False


# --------------------------------------------------------------------------- warnings


def test_production_warnings_do_not_raise_and_are_on_the_config() -> None:
    data = parsed(SANDBOX)
    data["deployment"]["environment"] = "production"
    data["aks"] = {**data["aks"], "api_server_vnet_integration": False}
    cfg = load_config_dict(data, env={})
    by_path = {w.path: w for w in cfg.warnings}
    assert all(w.severity == "warning" for w in cfg.warnings)
    assert "SNAT" in by_path["firewall.public_ip_count"].message
    assert "Premium" in by_path["firewall.tier"].message
    assert "aks.api_server_vnet_integration" in by_path
    assert "state.backend" in by_path
    assert {p.path for p in validate_config(cfg)} == set(by_path)


def test_nat_gateway_or_prefix_silences_the_snat_warning() -> None:
    for extra in ({"nat_gateway": True}, {"public_ip_prefix_length": 30}):
        data = parsed(PROD)
        data["firewall"] = {**data["firewall"], "public_ip_count": 2, **extra}
        cfg = load_config_dict(data, env={})
        assert cfg.warnings == ()


def test_sandbox_gets_no_article_warnings() -> None:
    data = parsed(SANDBOX)
    data["firewall"]["public_ip_count"] = 1
    assert load_config_dict(data, env={}).warnings == ()


# --------------------------------------------------------------------------- env overrides


def test_env_overrides_azure_and_state() -> None:
    env = {
        "HUBSPOKE_AZURE_ENDPOINT": "https://127.0.0.1:7443",
        "HUBSPOKE_STATE_BACKEND": "blob",
        "HUBSPOKE_STATE_ACCOUNT_URL": "https://acct.blob.core.windows.net",
        "HUBSPOKE_STATE_PATH": "/tmp/x.json",
        "UNRELATED": "1",
    }
    cfg = load_config(SANDBOX, env=env)
    assert cfg.azure.endpoint == "https://127.0.0.1:7443"
    assert cfg.resource_manager_url == "https://127.0.0.1:7443/"
    assert cfg.state.backend == "blob"
    assert cfg.state.account_url == "https://acct.blob.core.windows.net"
    assert cfg.state_path == "/tmp/x.json"


def test_env_override_creates_missing_section_and_empty_value_unsets() -> None:
    data = parsed(SANDBOX)
    del data["state"]
    cfg = load_config_dict(data, env={"HUBSPOKE_STATE_CONTAINER": "other"})
    assert cfg.state.container == "other"
    cfg = load_config(SANDBOX, env={"HUBSPOKE_STATE_BACKEND": ""})
    assert cfg.state.backend == "file"


def test_invalid_env_override_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(SANDBOX, env={"HUBSPOKE_STATE_BACKEND": "s3"})
    [problem] = info.value.problems
    assert problem.path == "state.backend"
    assert "HUBSPOKE_STATE_BACKEND" in problem.message

    with pytest.raises(ConfigError) as info:
        load_config(SANDBOX, env={"HUBSPOKE_AZURE_ENDPOINT": "public"})
    # The semantic error is on azure.credential; the override itself is on azure.endpoint.
    assert [p.path for p in info.value.problems] == ["azure.credential"]

    with pytest.raises(ConfigError) as info:
        load_config(SANDBOX, env={"HUBSPOKE_AZURE_ENDPOINT": "ftp://x"})
    [problem] = [p for p in info.value.problems if p.path == "azure.endpoint"]
    assert problem.message.endswith("(set by environment variable HUBSPOKE_AZURE_ENDPOINT).")


def test_misspelt_env_variable_is_a_warning() -> None:
    cfg = load_config(SANDBOX, env={"HUBSPOKE_AZURE_ENDPIONT": "public"})
    assert cfg.azure.endpoint == "simulator"
    [warning] = cfg.warnings
    assert warning.path == "HUBSPOKE_AZURE_ENDPIONT" and "HUBSPOKE_AZURE_ENDPOINT" in warning.message


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSPOKE_STATE_CONTAINER", "from-os-env")
    assert load_config(SANDBOX).state.container == "from-os-env"


# --------------------------------------------------------------------------- files


def _write_config(tmp_path: Path, jumpbox: str) -> Path:
    text = SANDBOX.read_text()
    start = text.index("[jumpbox]")
    end = text.index("[keyvault]")
    path = tmp_path / "deploy.toml"
    path.write_text(text[:start] + jumpbox + "\n" + text[end:])
    return path


def test_ssh_key_path_is_read_relative_to_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "id.pub").write_text(KEY + "\n")
    cfg = load_config(_write_config(tmp_path, '[jumpbox]\nssh_public_key_path = "keys/id.pub"\n'), env={})
    assert cfg.ssh_public_key == KEY
    assert cfg.jumpbox.ssh_public_key_path == "keys/id.pub"


def test_ssh_key_path_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write_config(tmp_path, '[jumpbox]\nssh_public_key_path = "missing.pub"\n'), env={})
    [problem] = info.value.problems
    assert problem.path == "jumpbox.ssh_public_key_path" and "cannot read" in problem.message

    (tmp_path / "bad.pub").write_text("ssh-ed25519 AAAA\n")
    with pytest.raises(ConfigError) as info:
        load_config(_write_config(tmp_path, '[jumpbox]\nssh_public_key_path = "bad.pub"\n'), env={})
    assert [p.path for p in info.value.problems] == ["jumpbox.ssh_public_key_path"]

    (tmp_path / "ok.pub").write_text(KEY)
    both = f'[jumpbox]\nssh_public_key_path = "ok.pub"\nssh_public_key = "{KEY}"\n'
    with pytest.raises(ConfigError) as info:
        load_config(_write_config(tmp_path, both), env={})
    assert "both" in info.value.problems[0].message


def test_toml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[deployment\nname = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(bad, env={})
    assert info.value.problems[0].path == "(toml)" and info.value.source == str(bad)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml", env={})
    assert info.value.problems[0].path == "(file)"


def test_load_config_dict_does_not_mutate_its_input() -> None:
    data = parsed(SANDBOX)
    snapshot = repr(data)
    load_config_dict(data, env={"HUBSPOKE_STATE_CONTAINER": "zzz"})
    assert repr(data) == snapshot


def test_model_can_be_built_directly_and_validated() -> None:
    cfg = DeploymentConfig.model_validate(parsed(SANDBOX))
    assert validate_config(cfg) == []
    assert cfg.warnings == ()  # only load_config fills it


def test_pool_tables_keep_their_own_defaults() -> None:
    data = parsed(SANDBOX)
    data["aks"] = {"system_pool": {"vm_size": "Standard_D4ds_v5"}, "user_pool": {"vm_size": "Standard_D8ds_v5"}}
    data["spokes"][0]["subnets"]["user_nodes"] = "10.1.4.0/24"
    cfg = load_config_dict(data, env={})
    assert (cfg.aks.system_pool.name, cfg.aks.system_pool.max_count) == ("system", 5)
    assert (cfg.aks.user_pool.name, cfg.aks.user_pool.max_count) == ("user", 10)
    assert cfg.aks.user_pool.max_nodes == 10
