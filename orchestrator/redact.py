"""Keeping secrets out of logs, state and outputs.

Two tools: :func:`redact` rewrites text/values (used by the structlog processor
and by error messages), :func:`find_secrets` reports where a document holds
something secret-looking (the checkpoint refuses to save such a document).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

REDACTED = "***"

# Keys whose values are secrets whatever they look like.
SECRET_KEYS = re.compile(
    r"(password|passwd|secret|client_secret|access_?token|refresh_?token|bearer|authorization|"
    r"account_?key|accountkey|connection_?string|sas_?token|kube_?config|kubeconfigs|private_?key|"
    r"client-key-data|client-certificate-data|primary_?key|secondary_?key|admin_?password)$",
    re.I,
)

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Storage connection strings / SAS
    (re.compile(r"(AccountKey=)[^;\s\"']+", re.I), r"\1" + REDACTED),
    (re.compile(r"(SharedAccessSignature=)[^;\s\"']+", re.I), r"\1" + REDACTED),
    (re.compile(r"([?&]sig=)[^&\s\"']+", re.I), r"\1" + REDACTED),
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
]


def redact_text(text: str) -> str:
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact(value: Any, key: str = "") -> Any:
    """Return a copy of ``value`` with secrets replaced by ``***``."""
    if key and SECRET_KEYS.search(key) and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, key) for v in value]
    return value


def find_secrets(value: Any, path: str = "$") -> list[str]:
    """Paths under ``value`` that hold something secret-looking."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for k, v in value.items():
            sub = f"{path}.{k}"
            if SECRET_KEYS.search(str(k)) and v not in (None, "", [], {}, REDACTED):
                found.append(sub)
            else:
                found.extend(find_secrets(v, sub))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found.extend(find_secrets(v, f"{path}[{i}]"))
    elif isinstance(value, str) and redact_text(value) != value:
        found.append(path)
    return found


def structlog_processor(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: redact every field of every log line."""
    for k in list(event_dict.keys()):
        event_dict[k] = redact(event_dict[k], str(k))
    return event_dict
