"""Credentials: a static sandbox token for the loopback simulator, ``DefaultAzureCredential`` otherwise.

The sandbox credential is refused for any endpoint that is not loopback, so a sandbox configuration can
never send its fake token to real Azure.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken, AccessTokenInfo, TokenCredential

from avdcore.errors import NotAllowed

SANDBOX_TOKEN = "avd-ops-sandbox-token"  # noqa: S105 - not a secret: the simulator accepts any bearer token


def is_loopback(endpoint: str) -> bool:
    """True for https://127.0.0.1:port, https://[::1]:port and https://localhost:port."""
    host = (urlsplit(endpoint).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SandboxCredential:
    """A static bearer token for the simulator (sync ``TokenCredential`` + ``get_token_info``)."""

    def __init__(self, endpoint: str) -> None:
        if not is_loopback(endpoint):
            raise NotAllowed(
                f"the sandbox credential only talks to a loopback simulator, not {endpoint!r}; "
                "unset AZURE_ARM_ENDPOINT (or point it at the simulator) to use DefaultAzureCredential"
            )
        self.endpoint = endpoint

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(SANDBOX_TOKEN, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(SANDBOX_TOKEN, int(time.time()) + 3600)

    def close(self) -> None:
        return None


def credential_for(endpoint: str) -> TokenCredential:
    """The sandbox credential for a loopback endpoint, ``DefaultAzureCredential`` for anything else."""
    if is_loopback(endpoint):
        return SandboxCredential(endpoint)
    from azure.identity import DefaultAzureCredential

    credential: TokenCredential = DefaultAzureCredential()
    return credential
