"""SDK exceptions -> the project's ``AzureError`` family, at the azureops boundary.

``translate(exc, resource_id)`` maps one azure.core exception to ``AzureNotFound``,
``AzureConflict``, ``AzureThrottled``, ``AzureUnavailable`` or plain ``AzureError``, keeping Azure's
own error code (``e.error.code``, not the exception class), the resource id and a next step.
``translated(resource_id)`` does the same as a decorator or a context manager::

    with translated(scale_set_id):
        client.virtual_machine_scale_sets.get(rg, name)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from azure.core import exceptions as az

from avdcore.errors import (
    AvdError,
    AzureConflict,
    AzureError,
    AzureNotFound,
    AzureThrottled,
    AzureUnavailable,
)

NEXT_STEPS: dict[str, str] = {
    "ScopeLocked": "remove the management lock on the resource (or its resource group) or ask its owner, then retry",
    "GalleryImageNotFound": "replicate the image version to this region first: /avd replicas add REGION",
    "ResourceNotFound": "check the name in the config and that the resource exists",
    "ResourceGroupNotFound": "create the resource group or fix its name in the config",
    "hostPoolDoesNotExist": "create the host pool or fix host_pool / its resource group in the config "
    "(/avd doctor checks it)",
    "AuthorizationFailed": "grant the bot's identity the needed role on this scope (/avd doctor lists them)",
    "OperationNotAllowed": "check the subscription quota or the operation's preconditions, then retry",
    "Conflict": "another operation is changing this resource; wait for it to finish, then retry",
    "OperationPreempted": "another operation replaced this one; retry when the resource is idle",
    "Authorization_RequestDenied": "Microsoft Graph refused the bot's identity: it needs Application.ReadWrite.OwnedBy "
    "and to own the application, or Application.ReadWrite.All (/avd doctor names "
    "what is missing)",
}
_DEFAULT_NEXT = {
    AzureNotFound: "check the name in the config and that the resource exists",
    AzureConflict: "wait for the conflicting operation or lock to clear, then retry",
    AzureThrottled: "Azure is throttling this subscription; wait a minute, then retry",
    AzureUnavailable: "the region did not answer; retry, or check Azure status for the region",
    AzureError: "read Azure's message above, fix the cause, then retry",
}


def _code_and_message(exc: az.HttpResponseError) -> tuple[str, str]:
    err: Any = getattr(exc, "error", None)
    code = str(getattr(err, "code", "") or "") if err is not None else ""
    message = str(getattr(err, "message", "") or "") if err is not None else ""
    if not message:
        message = str(exc.reason or exc.message or "Azure returned an error").splitlines()[0]
    return code, message


def _host_pool_named(resource_id: str) -> tuple[str, str] | None:
    """(pool, resource group) from an id under ``.../hostPools/<pool>``, else ``None``."""
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    if "hostpools" not in lowered or "resourcegroups" not in lowered:
        return None
    at = lowered.index("hostpools")
    if at + 1 >= len(parts):
        return None
    return parts[at + 1], parts[lowered.index("resourcegroups") + 1]


def _in_user_terms(code: str, message: str, resource_id: str) -> tuple[str, str]:
    """Azure's terse text for some codes, said with the resource's name; and its next step ("" = default).

    AVD answers a missing pool with only ``hostPoolDoesNotExist: Host Pool Does Not Exist``.
    """
    if code == "hostPoolDoesNotExist":
        named = _host_pool_named(resource_id)
        if named is not None:
            pool, group = named
            return (
                f"host pool {pool} does not exist in resource group {group} ({message})",
                f"create host pool {pool} in {group} or fix host_pool / its resource group in the "
                "config (/avd doctor checks it)",
            )
    return message, ""


def translate(exc: BaseException, resource_id: str = "", next_step: str = "") -> AvdError:
    """The project error for ``exc``; ``AvdError`` passes through unchanged."""
    if isinstance(exc, AvdError):
        return exc
    if isinstance(exc, (az.ServiceRequestError, az.ServiceResponseError, TimeoutError)):
        cls: type[AzureError] = AzureUnavailable
        kind = "timed out" if "Timeout" in type(exc).__name__ or isinstance(exc, TimeoutError) else "failed"
        return cls(
            f"the request to Azure {kind}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            code=type(exc).__name__,
            resource_id=resource_id,
            next_step=next_step or _DEFAULT_NEXT[cls],
        )
    if isinstance(exc, az.HttpResponseError):
        code, message = _code_and_message(exc)
        message, named_next = _in_user_terms(code, message, resource_id)
        status = exc.status_code
        if isinstance(exc, az.ResourceNotFoundError) or status == 404:
            cls = AzureNotFound
        elif status == 429 or code in ("TooManyRequests", "SubscriptionRequestsThrottled"):
            cls = AzureThrottled
        elif isinstance(exc, az.ResourceExistsError) or status == 409 or code in ("ScopeLocked", "Conflict"):
            cls = AzureConflict
        elif status is not None and (status >= 500 or status == 408):
            cls = AzureUnavailable
        else:
            cls = AzureError
        return cls(
            message,
            code=code,
            resource_id=resource_id,
            next_step=next_step or named_next or NEXT_STEPS.get(code, _DEFAULT_NEXT[cls]),
            status=status,
        )
    if isinstance(exc, az.AzureError):
        return AzureError(
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            code=type(exc).__name__,
            resource_id=resource_id,
            next_step=next_step or _DEFAULT_NEXT[AzureError],
        )
    raise TypeError(f"not an Azure exception: {type(exc).__name__}") from exc


class translated(contextlib.ContextDecorator):  # noqa: N801 - used as a decorator
    """Context manager / decorator: re-raise azure.core exceptions as project errors."""

    def __init__(self, resource_id: str = "", next_step: str = "") -> None:
        self.resource_id = resource_id
        self.next_step = next_step

    def __enter__(self) -> translated:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, AvdError):
            return None
        if isinstance(exc, (az.AzureError, TimeoutError)):
            raise translate(exc, self.resource_id, self.next_step) from exc
        return None


@contextlib.contextmanager
def translating(resource_id: str = "", next_step: str = "") -> Iterator[None]:
    """Function form of ``translated`` for call sites that prefer ``with translating(id):``."""
    with translated(resource_id, next_step):
        yield


def project_error(exc: BaseException, resource_id: str = "") -> AvdError | None:
    """``exc`` as a project error when it is one or an Azure SDK error; ``None`` for anything else (a bug).

    Lets ``bot`` classify exceptions escaping a step without importing ``azure.core``.
    """
    if isinstance(exc, AvdError):
        return exc
    if isinstance(exc, (az.AzureError, TimeoutError)):
        return translate(exc, resource_id)
    return None
