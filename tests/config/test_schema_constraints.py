"""The JSON Schema carries the value constraints (an editor refuses a /33 as you type), they agree with
what loading the config refuses, and the examples are wired to the schema for editors."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import hubspoke_deploy.config as config_pkg
import jsonschema
import pytest
from hubspoke_deploy.config import ConfigError, json_schema, load_config_dict
from hubspoke_deploy.config.constraints import CONSTRAINTS
from hubspoke_deploy.config.reference import iter_sections
from hubspoke_deploy.config.schema import EXAMPLE_SCHEMA_FILE, FILE_PATTERNS, json_schema_text

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

EXAMPLES = Path(config_pkg.__file__).parent / "examples"


def sandbox() -> dict[str, Any]:
    with (EXAMPLES / "sandbox.toml").open("rb") as fh:
        return tomllib.load(fh)


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    node: Any = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[parts[-1]] = value
    return out


# (key, a value the schema and the loader both refuse, the problem's key path)
REFUSED = [
    ("spokes.0.address_space", ["10.1.0.0/33"], "spokes[0].address_space[0]"),
    ("spokes.0.subnets.jumpbox", "10.1.3.0/33", "spokes[0].subnets.jumpbox"),
    ("hub.subnets.firewall", "10.0.0.0/27", "hub.subnets.firewall"),
    ("spokes.0.subnets.api_server", "10.1.2.0/29", "spokes[0].subnets.api_server"),
    ("aks.service_cidr", "172.16.0.0/40", "aks.service_cidr"),
    ("aks.dns_service_ip", "172.16.0.300", "aks.dns_service_ip"),
    ("firewall.zones", ["1", "4"], "firewall.zones[1]"),
    ("firewall.public_ip_count", 251, "firewall.public_ip_count"),
    ("aks.system_pool.max_pods", 5, "aks.system_pool.max_pods"),
    ("aks.user_pool.os_disk_size_gb", 10, "aks.user_pool.os_disk_size_gb"),
    ("deployment.name", "Sandbox_1", "deployment.name"),
    ("deployment.subscription_id", "not-a-guid", "deployment.subscription_id"),
    ("aks.kubernetes_version", "v1.30", "aks.kubernetes_version"),
    ("keyvault.soft_delete_retention_days", 3, "keyvault.soft_delete_retention_days"),
    ("monitoring.retention_days", 10, "monitoring.retention_days"),
]


@pytest.mark.parametrize(("key", "value", "path"), REFUSED, ids=[r[0] for r in REFUSED])
def test_the_schema_refuses_what_loading_refuses(key: str, value: Any, path: str) -> None:
    data = _set(sandbox(), key, value)
    validator = jsonschema.Draft202012Validator(json_schema())
    assert list(validator.iter_errors(data)), f"the schema accepts {key} = {value!r}"
    with pytest.raises(ConfigError) as info:
        load_config_dict(data, env={})
    assert path in [p.path for p in info.value.problems]


def test_a_slash_33_is_refused_by_the_schema_and_a_slash_16_accepted() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    good = _set(sandbox(), "spokes.0.address_space", ["10.1.0.0/16"])
    assert list(validator.iter_errors(good)) == []
    bad = _set(sandbox(), "spokes.0.address_space", ["10.1.0.0/33"])
    (error,) = list(validator.iter_errors(bad))
    assert list(error.absolute_path) == ["spokes", 0, "address_space", 0]


def test_required_keys_and_enums_are_in_the_schema() -> None:
    schema = json_schema()
    assert set(schema["required"]) == {"deployment", "spokes"}
    section = schema["$defs"]["DeploymentSection"]
    assert set(section["required"]) == {"name", "location", "subscription_id"}
    assert schema["$defs"]["FirewallConfig"]["properties"]["tier"]["enum"] == ["Basic", "Standard", "Premium"]
    assert schema["properties"]["spokes"]["minItems"] == 1


def test_every_constraint_names_a_field_of_its_model() -> None:
    fields = {model.__name__: set(model.model_fields) for _path, model, _array in iter_sections()}
    fields["NodePool"] = fields["SystemPool"]
    for model, keys in CONSTRAINTS.items():
        assert model in fields, model
        assert set(keys) <= fields[model], (model, set(keys) - fields[model])


def test_examples_point_at_the_shipped_schema_and_it_is_current() -> None:
    for name in ("sandbox.toml", "prod.toml"):
        first = (EXAMPLES / name).read_text(encoding="utf-8").splitlines()[0]
        assert first == f"#:schema ./{EXAMPLE_SCHEMA_FILE}"
    shipped = EXAMPLES / EXAMPLE_SCHEMA_FILE
    assert shipped.read_text(encoding="utf-8") == json_schema_text(), "run python scripts/gen_docs.py"


def test_taplo_patterns_match_the_examples_and_the_naming_convention() -> None:
    patterns = json_schema()["x-taplo-info"]["patterns"]
    assert patterns == list(FILE_PATTERNS)

    def matched(path: str) -> bool:
        return any(re.search(p, path) for p in patterns)

    for example in EXAMPLES.glob("*.toml"):
        assert matched(example.as_posix()), example
    assert matched("/site-packages/hubspoke_deploy/config/examples/prod.toml")
    assert matched("/home/me/infra/hubspoke.toml") and matched("deploy/hubspoke-prod.toml")
    assert matched("envs/prod.hubspoke.toml")
    assert not matched("/home/me/project/pyproject.toml") and not matched("prod.toml")
