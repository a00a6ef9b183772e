"""The project's errors: one small hierarchy, shown to users in two ways.

    AvdError                      base of everything the bot raises on purpose
    ├── UserError                 shown verbatim to the person who typed the command
    │   ├── UsageError            the text did not parse; always carries a hint (did you mean ...?)
    │   ├── NotAllowed            the user, channel or button press is outside the policy
    │   ├── NotApproved           approval missing, expired, rejected or bound to another plan
    │   └── Busy                  another job holds a resource this one would change
    └── AzureError                Azure refused or failed: resource id, Azure's code, the next step
        ├── AzureNotFound         the resource (or replica) is not there
        ├── AzureConflict         locks, safety profiles, state conflicts (409)
        ├── AzureThrottled        429 after the bounded retries
        └── AzureUnavailable      the region/API did not answer in time (timeouts, 5xx, resets)

Anything else is a bug: the bot's one ``@app.error`` handler answers with a short message and an
incident id, and logs the traceback under that id.
"""

from __future__ import annotations


class AvdError(Exception):
    """Base class of every error the bot raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UserError(AvdError):
    """An error whose message is shown verbatim to the user."""


class UsageError(UserError):
    """The command text did not parse. ``hint`` says what to type instead."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class NotAllowed(UserError):
    """The user, channel or action is outside the configured policy."""


class NotApproved(UserError):
    """An approval is missing, expired, rejected, or bound to a different plan."""


class Busy(UserError):
    """Another job holds a resource this job would change."""

    def __init__(self, message: str, job_id: int | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id


class AzureError(AvdError):
    """Azure refused or failed an operation.

    ``code`` is Azure's error code (``GalleryImageNotFound``, ``ScopeLocked`` ...), ``resource_id``
    the ARM id concerned, ``next_step`` one sentence telling the operator what to do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        resource_id: str = "",
        next_step: str = "",
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.resource_id = resource_id
        self.next_step = next_step
        self.status = status

    def __str__(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"(Azure code {self.code})")
        if self.resource_id:
            parts.append(f"on {self.resource_id}")
        text = " ".join(parts)
        return f"{text}. Next: {self.next_step}" if self.next_step else text


class AzureNotFound(AzureError):
    """The resource, or the replica the operation needs, does not exist."""


class AzureConflict(AzureError):
    """A lock, safety profile or conflicting state refused the change (HTTP 409)."""


class AzureThrottled(AzureError):
    """ARM kept answering 429 after the bounded retries."""


class AzureUnavailable(AzureError):
    """The region or API did not answer in time (timeout, 5xx, connection reset)."""
