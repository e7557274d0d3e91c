"""Issue 13 point 3: the credential shapes Azure returns that used to pass through redaction.

Each case is checked three ways where it applies: ``redact()`` on the value, ``find_secrets()``
on the value (the checkpoint's refusal), and ``redact_text()`` on the value's JSON text (an
Azure error or a log line echoing a body). The boundary cases next to them stay readable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hubspoke_deploy.orchestrator.redact import REDACTED, find_secrets, redact, redact_text

S = "c2VjcmV0LXZhbHVlLTEyMzQ1Njc4OTA"  # the secret in every case

# (name, value, JSON paths find_secrets must report)
SECRET_CASES: list[tuple[str, Any, list[str]]] = [
    (
        "acr passwords[].value",
        {"username": "acrprod", "passwords": [{"name": "password", "value": S}, {"name": "password2", "value": S}]},
        ["$.passwords[0].value", "$.passwords[1].value"],
    ),
    (
        "storage keys[].value",
        {"keys": [{"keyName": "key1", "value": S, "permissions": "FULL"}]},
        ["$.keys[0].value"],
    ),
    (
        "aks credentialResults[].value",
        {"credentialResults": [{"name": "clusterUser", "value": S}]},
        ["$.credentialResults[0].value"],
    ),
    ("a storage key object alone", {"key": {"keyName": "key2", "value": S}}, ["$.key.value"]),
    ("vpn sharedKey", {"properties": {"sharedKey": S}}, ["$.properties.sharedKey"]),
    ("bare token", {"token": S}, ["$.token"]),
    ("camelCase *Token", {"idToken": S}, ["$.idToken"]),
    ("sas token starting sig=", {"sas": f"sig={S}&se=2030-01-01&sp=r"}, ["$.sas"]),
    ("sig= after a space", {"note": f"use sig={S}"}, ["$.note"]),
    ("service bus SharedAccessKey", {"conn": f"Endpoint=sb://x/;SharedAccessKeyName=root;SharedAccessKey={S}"},
     ["$.conn"]),
]


@pytest.mark.parametrize(("value", "paths"), [(v, p) for _, v, p in SECRET_CASES], ids=[n for n, _, _ in SECRET_CASES])
def test_redact_and_find_secrets_cover_it(value: Any, paths: list[str]) -> None:
    assert S not in json.dumps(redact(value))
    assert REDACTED in json.dumps(redact(value))
    assert find_secrets(value) == paths
    assert find_secrets(redact(value)) == []  # what redact() leaves, the checkpoint accepts


@pytest.mark.parametrize("value", [v for _, v, _ in SECRET_CASES], ids=[n for n, _, _ in SECRET_CASES])
def test_redact_text_covers_the_json_text(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, separators=(",", ":"))):
        out = redact_text(f"Azure said: {text}")
        assert S not in out
        assert redact_text(out) == out  # stable: a second pass changes nothing


@pytest.mark.parametrize(
    "text",
    [f"sig={S}", f"https://st1.blob.core.windows.net/c?sv=2022-11-02&sig={S}", f"token: {S}"],
)
def test_redact_text_plain(text: str) -> None:
    assert S not in redact_text(text)


# Boundary: harmless keys next to the secret ones stay as they are.
PLAIN_CASES: list[tuple[str, Any]] = [
    ("tokenExpiry", {"tokenExpiry": "2030-01-01T00:00:00Z", "tokenType": "Bearer-less"}),
    ("keyVaultUri", {"keyVaultUri": "https://kv-aks-prod.vault.azure.net/", "keyName": "cmk"}),
    ("ssh public key", {"linuxProfile": {"ssh": {"publicKeys": [{"keyData": "ssh-rsa AAAAB3NzaC1yc2E user@host"}]}},
                        "publicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops"}),
    ("item names stay readable", {"keys": [{"keyName": "key1", "permissions": "FULL"}],
                                  "passwords": [{"name": "password2"}]}),
    ("a list of lock keys", {"keys": ["rg", "vnet.hub"]}),
    ("a value that is not in a secret list", {"tags": [{"name": "env", "value": "prod"}]}),
    ("a signature word", {"signature": "Contoso", "design": "sig=", "url": "https://x/?designsig=1"}),
    ("a VNet link id", {"id": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/privateDnsZones/"
                              "privatelink.vaultcore.azure.net/virtualNetworkLinks/link-vnet-hub"}),
]


@pytest.mark.parametrize("value", [v for _, v in PLAIN_CASES], ids=[n for n, _ in PLAIN_CASES])
def test_harmless_keys_pass_untouched(value: Any) -> None:
    assert redact(value) == value
    assert find_secrets(value) == []
    assert redact_text(json.dumps(value)) == json.dumps(value)


def test_the_secret_items_keep_their_names() -> None:
    out = redact({"passwords": [{"name": "password", "value": S}], "keys": [{"keyName": "key1", "value": S}]})
    assert out == {"passwords": [{"name": "password", "value": REDACTED}],
                   "keys": [{"keyName": "key1", "value": REDACTED}]}
