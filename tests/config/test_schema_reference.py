"""JSON Schema and generated reference."""

from __future__ import annotations

import json
import sys
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hubspoke_deploy.config as config_pkg
import jsonschema
import pytest
from hubspoke_deploy.config import DeploymentConfig, config_reference_markdown, json_schema
from pydantic import BaseModel

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

EXAMPLES = Path(config_pkg.__file__).parent / "examples"


def parsed(name: str) -> dict[str, Any]:
    with (EXAMPLES / name).open("rb") as fh:
        return tomllib.load(fh)


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    json.dumps(schema)  # serialisable for editors


@pytest.mark.parametrize("name", ["sandbox.toml", "prod.toml"])
def test_schema_accepts_the_examples(name: str) -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    assert list(validator.iter_errors(parsed(name))) == []


def test_schema_rejects_unknown_keys_and_bad_types() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    data = parsed("sandbox.toml")
    data["firewall"]["tier2"] = "Premium"
    errors = list(validator.iter_errors(data))
    assert errors and any("tier2" in e.message for e in errors)

    data = parsed("sandbox.toml")
    data["firewall"]["tier"] = "Gold"
    assert list(validator.iter_errors(data))

    data = parsed("sandbox.toml")
    del data["spokes"]
    assert list(validator.iter_errors(data))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The config model inside ``X``, ``list[X]`` or ``X | None``."""
    if typing.get_origin(annotation) is None:
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        return annotation if is_model else None
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _all_keys(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, info in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        yield key
        sub = _model_of(info.annotation)
        if sub is not None:
            yield from _all_keys(sub, key)


def test_reference_mentions_every_key_of_the_model() -> None:
    text = config_reference_markdown()
    keys = list(_all_keys(DeploymentConfig))
    assert len(keys) > 100  # the walk really went deep
    missing = [k for k in keys if f"`{k}`" not in text]
    assert missing == []


def test_reference_shows_types_defaults_and_descriptions() -> None:
    text = config_reference_markdown()
    row = next(line for line in text.splitlines() if line.startswith("| `firewall.public_ip_count`"))
    assert "integer" in row and "`20`" in row and "SNAT" in row
    row = next(line for line in text.splitlines() if line.startswith("| `deployment.resource_group`"))
    assert "`rg-{deployment.name}`" in row
    row = next(line for line in text.splitlines() if line.startswith("| `firewall.tier`"))
    assert '`"Premium"`' in row and "article" in row
    assert "## `[[spokes]]`" in text and "## `[[firewall.dnat_rules]]`" in text
    assert "CriticalAddonsOnly" in text
    assert "HUBSPOKE_AZURE_ENDPOINT" in text


def test_every_field_has_a_description() -> None:
    def walk(model: type[BaseModel]) -> Iterator[tuple[str, str | None]]:
        for name, info in model.model_fields.items():
            yield f"{model.__name__}.{name}", info.description
            sub = _model_of(info.annotation)
            if sub is not None:
                yield from walk(sub)

    assert [name for name, desc in walk(DeploymentConfig) if not desc] == []
