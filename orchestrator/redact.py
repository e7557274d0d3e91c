"""Keeping secrets out of logs, state and outputs.

Two tools: :func:`redact` rewrites text/values (used by the structlog processor
and by error messages), :func:`find_secrets` reports where a document holds
something secret-looking (the checkpoint refuses to save such a document).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

REDACTED = "***"

# Keys whose values are secrets whatever they look like (matched at the end of the key, so
# ``adminPassword``, ``vpnSharedKey``, ``idToken`` and a bare ``token`` are secrets, while
# ``tokenExpiry``, ``keyVaultUri``, ``publicKey`` or ``keyData`` -- an SSH *public* key -- are not).
SECRET_KEYS = re.compile(
    r"(password|passwd|secret|client_secret|token|bearer|authorization|"
    r"account_?key|accountkey|shared_?key|connection_?string|kube_?config|kubeconfigs|private_?key|"
    r"client-key-data|client-certificate-data|primary_?key|secondary_?key|admin_?password)$",
    re.I,
)

# Lists whose items carry a secret in their ``value``: ACR ``listCredentials`` (``passwords``),
# storage ``listKeys`` (``keys``), AKS ``listClusterUserCredential`` (``kubeconfigs``, an
# ARM ``CredentialResults``: ``credentialResults``). The item's ``name``/``keyName`` stays readable.
SECRET_CONTAINERS = re.compile(r"^(passwords|keys|credential_?results)$", re.I)


def is_secret_key(key: str) -> bool:
    return bool(key) and SECRET_KEYS.search(key) is not None


def _empty(value: Any) -> bool:
    """Nothing to hide: no value, or a flag (a boolean is never a secret, e.g. a Key Vault's
    ``enableRbacAuthorization``, whose key ends like the secret ``authorization``)."""
    return value is None or isinstance(value, bool) or (isinstance(value, (str, list, dict)) and not value)


def _secret_fields(value: Mapping[Any, Any], in_container: bool) -> set[str]:
    """Fields of a mapping whose values are secret because of where they are."""
    fields = {str(k) for k in value if is_secret_key(str(k))}
    # a key object of a secret list, or a storage key object on its own ({keyName, value})
    if "value" in value and (in_container or "keyName" in value):
        fields.add("value")
    return fields


_JSON_STRING = r'"((?:[^"\\]|\\.)*)"'
_JSON_PAIR = re.compile(r'("([A-Za-z0-9_\-]+)"\s*:\s*)' + _JSON_STRING)
_JSON_CONTAINER = re.compile(r'("(?:passwords|keys|credential_?results)"\s*:\s*\[)([^\]]*)(\])', re.I)
_JSON_VALUE = re.compile(r'("value"\s*:\s*)' + _JSON_STRING)
_JSON_KEY_OBJECT = re.compile(r'\{[^{}]*"keyName"[^{}]*\}')


def _json_pair(match: re.Match[str]) -> str:
    """``"password": "x"`` inside a text (an Azure error echoing a request body)."""
    if not is_secret_key(match.group(2)) or match.group(3) in ("", REDACTED):
        return match.group(0)
    return f'{match.group(1)}"{REDACTED}"'


def _json_values(text: str) -> str:
    return _JSON_VALUE.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)


def _json_container(match: re.Match[str]) -> str:
    return match.group(1) + _json_values(match.group(2)) + match.group(3)


_PATTERNS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # Storage / Service Bus connection strings and SAS (a SAS query string may start with sig=)
    (re.compile(r"(AccountKey=)[^;\s\"']+", re.I), r"\1" + REDACTED),
    (re.compile(r"(SharedAccessKey=)[^;\s\"']+", re.I), r"\1" + REDACTED),
    (re.compile(r"(SharedAccessSignature=)[^;\s\"']+", re.I), r"\1" + REDACTED),
    (re.compile(r"(?<![^?&;,\s\"'])(sig=)[^&\s\"']+", re.I), r"\1" + REDACTED),
    # Bearer tokens and JWTs
    (re.compile(r"(Bearer\s+)[A-Za-z0-9\-._~+/]+=*", re.I), r"\1" + REDACTED),
    (re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"), REDACTED),
    # PEM private keys
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        REDACTED,
    ),
    # kubeconfig fields
    (re.compile(r"((?:client-key-data|client-certificate-data|token):\s*)\S+", re.I), r"\1" + REDACTED),
    # JSON in a text: "<secret key>": "...", and the values of the secret lists
    (_JSON_PAIR, _json_pair),
    (_JSON_CONTAINER, _json_container),
    (_JSON_KEY_OBJECT, lambda m: _json_values(m.group(0))),
]


def redact_text(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact(value: Any, key: str = "") -> Any:
    """Return a copy of ``value`` with secrets replaced by ``***``."""
    if key and is_secret_key(key) and not _empty(value):
        return REDACTED
    return _redact(value, key)


def _redact(value: Any, key: str, in_container: bool = False) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        secret = _secret_fields(value, in_container)
        return {
            k: REDACTED if str(k) in secret and not _empty(v) else _redact(v, str(k)) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        container = bool(SECRET_CONTAINERS.match(key))
        return [_redact(v, key, container) for v in value]
    return value


def find_secrets(value: Any, path: str = "$") -> list[str]:
    """Paths under ``value`` that hold something secret-looking."""
    return _find(value, path, "", False)


def _find(value: Any, path: str, key: str, in_container: bool) -> list[str]:
    found: list[str] = []
    if isinstance(value, Mapping):
        secret = _secret_fields(value, in_container)
        for k, v in value.items():
            sub = f"{path}.{k}"
            if str(k) in secret:
                if not _empty(v) and v != REDACTED:
                    found.append(sub)
            else:
                found.extend(_find(v, sub, str(k), False))
    elif isinstance(value, (list, tuple)):
        container = bool(SECRET_CONTAINERS.match(key))
        for i, v in enumerate(value):
            found.extend(_find(v, f"{path}[{i}]", key, container))
    elif isinstance(value, str) and redact_text(value) != value:
        found.append(path)
    return found


def structlog_processor(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: redact every field of every log line."""
    for k in list(event_dict.keys()):
        event_dict[k] = redact(event_dict[k], str(k))
    return event_dict
