"""A fixed development token credential for the simulator."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

SIMULATOR_TOKEN = "simulator-dev-token"


class SimulatorCredential:
    """An ``azure.core`` TokenCredential (and SupportsTokenInfo) returning a fixed development token.

    The simulator accepts any bearer token; this one never expires in practice. Refuse to
    use it against anything but a loopback endpoint (the CLI enforces that).
    """

    def __init__(self, token: str = SIMULATOR_TOKEN) -> None:
        self._token = token

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        return AccessTokenInfo(self._token, int(time.time()) + 3600)

    def close(self) -> None:
        return None

    def __enter__(self) -> SimulatorCredential:
        return self

    def __exit__(self, *args: Any) -> None:
        return None
