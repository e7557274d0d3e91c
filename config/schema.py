"""JSON Schema (draft 2020-12) of the TOML config, for editors (Taplo / Even Better TOML)."""

from __future__ import annotations

import json
from typing import Any

from hubspoke_deploy.config.model import DeploymentConfig

__all__ = ["SCHEMA_ID", "json_schema", "json_schema_text"]

SCHEMA_ID = "https://hubspoke-deploy.invalid/schema/config.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the config file (draft 2020-12).

    Derived defaults (``rg-{name}``...) are in each property's ``x-default``; the
    schema checks shape and types, ``validate_config`` the semantic rules."""
    schema = DeploymentConfig.model_json_schema(mode="validation")
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }
    out["title"] = "hubspoke-deploy configuration"
    out["x-taplo-info"] = {"authors": ["hubspoke-deploy"], "patterns": [r"hubspoke.*\.toml$"]}
    return out


def json_schema_text(indent: int = 2) -> str:
    """``json_schema()`` serialised, for writing next to the config (``#:schema ./config.schema.json``)."""
    return json.dumps(json_schema(), indent=indent, sort_keys=False) + "\n"
