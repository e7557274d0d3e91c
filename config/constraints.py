"""Value constraints of the JSON Schema (CIDR and name patterns, ranges, zone enums, non-empty arrays).

Pydantic calls :func:`add_constraints` while it generates each config model's schema (it is the
``json_schema_extra`` of every section), so ``hubspoke-deploy schema`` gives an editor what it needs to
refuse ``10.1.0.0/33`` or a fourth availability zone as you type. They only shape the schema: loading a
config still reports these problems through ``validate_config``, with the key path and the fix. The
limits are the ones ``config/validate.py`` enforces (and cites); the patterns avoid look-arounds so every
editor's regex engine (ECMA-262, Rust) accepts them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CONSTRAINTS", "add_constraints", "cidr_pattern"]

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = rf"^{_OCTET}(\.{_OCTET}){{3}}$"
GUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def cidr_pattern(max_prefix: int = 32) -> str:
    """An IPv4 CIDR whose prefix length is at most ``max_prefix`` (``/26 or larger`` is ``max_prefix=26``)."""
    prefixes = "|".join(str(n) for n in range(max_prefix, -1, -1))
    return rf"^{_OCTET}(\.{_OCTET}){{3}}/({prefixes})$"


CIDR = cidr_pattern()
ZONES = {"items": {"enum": ["1", "2", "3"]}, "uniqueItems": True}
ADDRESS_SPACE = {"items": {"pattern": CIDR}, "minItems": 1}


def _range(low: int, high: int) -> dict[str, Any]:
    return {"minimum": low, "maximum": high}


#: model class name -> field -> schema keywords. A subclass (``SystemPool``) gets its bases' entries.
CONSTRAINTS: dict[str, dict[str, dict[str, Any]]] = {
    "DeploymentSection": {
        # 3-16 lowercase letters, digits and single hyphens, starting with a letter, not ending with a hyphen
        "name": {"pattern": r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", "minLength": 3, "maxLength": 16},
        "location": {"pattern": r"^[A-Za-z][A-Za-z0-9 ]*$"},
        "subscription_id": {"pattern": GUID},
    },
    "AzureConfig": {
        "endpoint": {"pattern": r"^(public|usgovernment|china|simulator|https://[^\s/]+.*)$"},
        "managed_identity_client_id": {"pattern": GUID},
        "tenant_id": {"pattern": GUID},
    },
    "StateConfig": {
        "account_url": {"pattern": r"^https://[^\s/]+"},
        # blob containers: 3-63 lowercase letters, digits and single hyphens
        "container": {"pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$", "minLength": 3, "maxLength": 63},
        "connection_string_env": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
    },
    "HubSubnets": {
        "firewall": {"pattern": cidr_pattern(26)},
        "bastion": {"pattern": cidr_pattern(26)},
        "firewall_management": {"pattern": cidr_pattern(26)},
    },
    "HubConfig": {"address_space": ADDRESS_SPACE},
    "SpokeSubnets": {
        "system_nodes": {"pattern": CIDR},
        "user_nodes": {"pattern": CIDR},
        "pods": {"pattern": CIDR},
        "api_server": {"pattern": cidr_pattern(28)},
        "jumpbox": {"pattern": CIDR},
        "app_gateway": {"pattern": CIDR},
    },
    "SpokeConfig": {
        "name": {"pattern": r"^[a-z][a-z0-9-]{0,11}$"},
        "address_space": ADDRESS_SPACE,
    },
    "ApplicationRule": {
        "protocols": {"items": {"pattern": r"^(Http|Https|Mssql):[0-9]{1,5}$"}, "minItems": 1},
    },
    "NetworkRule": {
        "protocols": {"minItems": 1},
        "destination_ports": {"items": {"pattern": r"^(\*|[0-9]{1,5}(-[0-9]{1,5})?)$"}, "minItems": 1},
    },
    "DnatRule": {
        "public_port": _range(1, 65535),
        "translated_port": _range(1, 65535),
        "translated_address": {"pattern": IPV4},
    },
    "FirewallConfig": {
        "zones": ZONES,
        "public_ip_count": _range(1, 250),
        "public_ip_prefix_length": _range(28, 31),
    },
    "NodePool": {
        "name": {"pattern": r"^[a-z][a-z0-9]{0,11}$"},
        "vm_size": {"pattern": r"^Standard_[A-Za-z0-9_]+$"},
        "count": _range(0, 1000),
        "min_count": _range(0, 1000),
        "max_count": _range(1, 1000),
        "zones": ZONES,
        "max_pods": _range(10, 250),
        "os_disk_size_gb": _range(30, 2048),
    },
    "AksConfig": {
        "name": {"pattern": r"^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$"},
        "dns_prefix": {"pattern": r"^[A-Za-z0-9]([A-Za-z0-9-]{0,52}[A-Za-z0-9])?$"},
        "kubernetes_version": {"pattern": r"^[0-9]+\.[0-9]+(\.[0-9]+)?$"},
        "pod_cidr": {"pattern": CIDR},
        "service_cidr": {"pattern": CIDR},
        "dns_service_ip": {"pattern": IPV4},
        "admin_group_object_ids": {"items": {"pattern": GUID}},
    },
    "JumpboxConfig": {
        "admin_username": {"pattern": r"^[a-z_][a-z0-9_-]{0,31}$"},
        "ssh_public_key": {"pattern": r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-[a-z0-9]+) [A-Za-z0-9+/=]+"},
    },
    "AcrConfig": {"name": {"pattern": r"^[A-Za-z0-9]{5,50}$"}},
    "KeyVaultConfig": {
        "name": {"pattern": r"^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$"},
        "soft_delete_retention_days": _range(7, 90),
    },
    "StorageConfig": {"name": {"pattern": r"^[a-z0-9]{3,24}$"}},
    "MonitoringConfig": {
        "workspace_name": {"pattern": r"^[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]$"},
        "retention_days": _range(30, 730),
    },
    "DeploymentConfig": {"spokes": {"minItems": 1}},
}


def add_constraints(schema: dict[str, Any], cls: type[Any]) -> None:
    """``json_schema_extra`` of every config section: merge the section's constraints into its
    properties. On an optional key (``anyOf: [string, null]``) the keywords sit beside the ``anyOf``:
    ``pattern`` binds strings only, ``minimum`` numbers only, ``items`` arrays only."""
    properties: Any = schema.get("properties", {})
    for klass in reversed(cls.__mro__):
        for name, extra in CONSTRAINTS.get(klass.__name__, {}).items():
            if name not in properties:
                continue
            prop = properties[name]
            for key, value in extra.items():
                if isinstance(value, dict) and isinstance(prop.get(key), dict):
                    prop[key] = {**prop[key], **value}
                else:
                    prop[key] = value
