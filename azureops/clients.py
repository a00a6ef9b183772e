"""``AzureClients``: every Azure SDK client the bot uses, built in one place.

The same factory serves real Azure and the loopback simulator: ``endpoint`` becomes each client's
``base_url`` and ``ca_bundle`` its ``connection_verify`` (the simulator's throwaway CA), so the SDK pipelines
(bearer-token policy, retries, ARM polling) run unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, cast
from urllib.parse import quote

from azure.core import PipelineClient
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    map_error,
)
from azure.core.pipeline.policies import (
    BearerTokenCredentialPolicy,
    HeadersPolicy,
    NetworkTraceLoggingPolicy,
    RetryPolicy,
    SansIOHTTPPolicy,
    UserAgentPolicy,
)
from azure.core.rest import HttpRequest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.desktopvirtualization import DesktopVirtualizationMgmtClient
from azure.mgmt.msi import ManagedServiceIdentityClient
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient
from azure.mgmt.resource.locks import ManagementLockClient
from azure.mgmt.resource.resources import ResourceManagementClient

from azureops.credentials import credential_for, is_loopback

PUBLIC_ARM = "https://management.azure.com"

# The check a write must pass before it leaves this process: the job engine sets it for a step's thread (its job
# lease still held by this process's clock), so a process paused mid-step and resumed after another one took
# the job over sends no write to Azure; reads (GET, HEAD) pass, as an LRO poller's thread does.
_write_guard: ContextVar[Callable[[], None] | None] = ContextVar("avd_write_guard", default=None)


@contextmanager
def writes_guarded(check: Callable[[], None]) -> Iterator[None]:
    """Run the block with ``check()`` called before every Azure write request (and each retry of one)."""
    token = _write_guard.set(check)
    try:
        yield
    finally:
        _write_guard.reset(token)


class WriteGuardPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """A per-retry policy: a write (not GET/HEAD) asks the thread's guard first; its exception stops the call."""

    def on_request(self, request: Any) -> None:
        if request.http_request.method.upper() in ("GET", "HEAD"):
            return
        check = _write_guard.get()
        if check is not None:
            check()


PUBLIC_GRAPH = "https://graph.microsoft.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ERROR_MAP: dict[int, type[HttpResponseError]] = {
    401: ClientAuthenticationError,
    404: ResourceNotFoundError,
    409: ResourceExistsError,
}
NETWORK_API_VERSION = "2024-05-01"  # read vnets/subnets with resources.get_by_id(id, NETWORK_API_VERSION)
CONNECTION_TIMEOUT = 10.0  # seconds to open a connection (azure-core's default is 300)
READ_TIMEOUT = 60.0  # seconds between bytes of a reply (azure-core's default is 300): a hung reply fails fast
TRANSPORT_KEYS = ("connection_verify", "retry_total", "connection_timeout", "read_timeout")


class ReleasingRetryPolicy(RetryPolicy[Any, Any]):
    """azure-core's ``RetryPolicy`` that closes a reply before retrying it (every client of ours uses this one).

    The first request of a long-running operation is streamed. When it is answered 429/5xx and retried, azure-core
    keeps the unread reply in the retry history, and with it a connection its pool no longer owns: closing the
    client leaves that socket open, and the garbage collector later finds it (``ResourceWarning: unclosed
    <ssl.SSLSocket>``, in whichever test it runs). Closing the reply frees the connection now; the status and
    ``Retry-After`` stay readable, and the retry itself is unchanged.
    """

    def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
        if response is not None:
            close = getattr(response.http_response, "close", None)
            if callable(close):
                close()
        super().sleep(settings, transport, response)


class GraphClient:
    """The few Microsoft Graph calls the bot needs: an application's federated identity credentials."""

    def __init__(self, base_url: str, credential: TokenCredential, **kwargs: Any) -> None:
        self.base_url = base_url.rstrip("/")
        policies = [
            HeadersPolicy(),
            UserAgentPolicy(sdk_moniker="avd-ops-graph"),
            ReleasingRetryPolicy(**{k: v for k, v in kwargs.items() if k == "retry_total"}),
            BearerTokenCredentialPolicy(credential, GRAPH_SCOPE),
            NetworkTraceLoggingPolicy(),
        ]
        self._client: PipelineClient[HttpRequest, Any] = PipelineClient(
            self.base_url,
            policies=policies,
            **{
                k: v
                for k, v in kwargs.items()
                if k in ("connection_verify", "connection_timeout", "read_timeout")
            },
        )

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = HttpRequest(method, f"{self.base_url}/v1.0{path}", json=body)
        response = self._client.send_request(request)
        if response.status_code >= 400:
            map_error(response.status_code, response, ERROR_MAP)
            raise HttpResponseError(response=response)
        return response.json() if response.content else None

    def get(self, path: str) -> Any:
        """GET ``path`` relative to ``/v1.0`` (an entity, or one page of a collection); Graph errors raise."""
        return self._send("GET", path)

    def list_federated_credentials(self, app_object_id: str) -> list[dict[str, Any]]:
        body = self._send("GET", f"/applications/{quote(app_object_id)}/federatedIdentityCredentials")
        return list(body["value"])

    def create_federated_credential(
        self, app_object_id: str, name: str, issuer: str, subject: str, description: str = ""
    ) -> dict[str, Any]:
        payload = {
            "name": name,
            "issuer": issuer,
            "subject": subject,
            "description": description,
            "audiences": ["api://AzureADTokenExchange"],
        }
        created: dict[str, Any] = self._send(
            "POST", f"/applications/{quote(app_object_id)}/federatedIdentityCredentials", payload
        )
        return created

    def delete_federated_credential(self, app_object_id: str, credential_id_or_name: str) -> None:
        self._send(
            "DELETE",
            f"/applications/{quote(app_object_id)}/federatedIdentityCredentials/"
            f"{quote(credential_id_or_name)}",
        )

    def close(self) -> None:
        self._client.close()


class AzureClients:
    """Lazily built, per-subscription cached SDK clients sharing one credential and transport settings.

    Every request is bounded: ``connection_timeout`` to connect, ``read_timeout`` between bytes of the reply
    (a timed-out GET/PUT/DELETE is retried by the SDK; a PATCH/POST is reported, Azure may have applied it).
    """

    def __init__(
        self,
        endpoint: str = PUBLIC_ARM,
        ca_bundle: str | None = None,
        credential: TokenCredential | None = None,
        polling_interval: float | None = None,
        retry_total: int | None = None,
        *,
        connection_timeout: float = CONNECTION_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.simulated = is_loopback(self.endpoint)
        self.credential = credential if credential is not None else credential_for(self.endpoint)
        self.polling_interval = (
            polling_interval if polling_interval is not None else (1 if self.simulated else 30)
        )
        self._kwargs: dict[str, Any] = {
            "base_url": self.endpoint,
            "polling_interval": self.polling_interval,
            "connection_timeout": connection_timeout,
            "read_timeout": read_timeout,
        }
        if ca_bundle:
            self._kwargs["connection_verify"] = ca_bundle
        if retry_total is not None:
            self._kwargs["retry_total"] = retry_total
        self._built: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._graph: GraphClient | None = None

    @property
    def connection_verify(self) -> str | bool:
        """The CA bundle every client verifies TLS with (the simulator's), or ``True`` for the system's."""
        verify: str | bool = self._kwargs.get("connection_verify", True)
        return verify

    def _client(self, cls: Any, subscription: str) -> Any:
        key = (cls.__name__, subscription)
        with self._lock:
            if key not in self._built:
                # the same retry settings ``RetryPolicy(**kwargs)`` reads when no policy is given
                policy = ReleasingRetryPolicy(**self._kwargs)
                self._built[key] = cls(
                    self.credential,
                    subscription,
                    retry_policy=policy,
                    per_retry_policies=[WriteGuardPolicy()],
                    **self._kwargs,
                )
            return self._built[key]

    def compute(self, subscription: str) -> ComputeManagementClient:
        return cast(ComputeManagementClient, self._client(ComputeManagementClient, subscription))

    def msi(self, subscription: str) -> ManagedServiceIdentityClient:
        return cast(ManagedServiceIdentityClient, self._client(ManagedServiceIdentityClient, subscription))

    def avd(self, subscription: str) -> DesktopVirtualizationMgmtClient:
        return cast(
            DesktopVirtualizationMgmtClient, self._client(DesktopVirtualizationMgmtClient, subscription)
        )

    def locks(self, subscription: str) -> ManagementLockClient:
        return cast(ManagementLockClient, self._client(ManagementLockClient, subscription))

    def resources(self, subscription: str) -> ResourceManagementClient:
        return cast(ResourceManagementClient, self._client(ResourceManagementClient, subscription))

    def asr(self, subscription: str) -> SiteRecoveryManagementClient:
        return cast(SiteRecoveryManagementClient, self._client(SiteRecoveryManagementClient, subscription))

    def close(self) -> None:
        """Close every client built so far (their connection pools); they are rebuilt on next use."""
        with self._lock:
            built, self._built = list(self._built.values()), {}
            graph, self._graph = self._graph, None
        for client in built:
            client.close()
        if graph is not None:
            graph.close()

    @property
    def graph(self) -> GraphClient:
        """Graph at graph.microsoft.com, or at ``<endpoint>/graph`` for the simulator."""
        with self._lock:  # one GraphClient, so ``close()`` closes every connection it opened
            if self._graph is None:
                base = f"{self.endpoint}/graph" if self.simulated else PUBLIC_GRAPH
                extra = {k: v for k, v in self._kwargs.items() if k in TRANSPORT_KEYS}
                self._graph = GraphClient(base, self.credential, **extra)
            return self._graph
