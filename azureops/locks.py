"""Management locks on snapshots: find them (inherited ones included), lift them around one action and
put the exact lock (name, level, notes) back afterwards, even when the action failed.

``lifted(...)`` is the try/finally. ``on_lift``/``on_restore`` let the caller persist what it removed, so a
lock lifted by a process that then died can still be restored (``restore``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from azure.core.exceptions import ResourceNotFoundError

from avdcore.errors import AzureError, NotAllowed
from azureops.clients import AzureClients
from azureops.errors import translated

LEVELS = ("CanNotDelete", "ReadOnly")


@dataclass(frozen=True)
class Lock:
    scope: str
    name: str
    level: str
    notes: str = ""

    @property
    def id(self) -> str:
        return f"{self.scope}/providers/Microsoft.Authorization/locks/{self.name}"

    def label(self) -> str:
        where = self.scope.rstrip("/").rsplit("/", 1)[-1]
        return f"{self.level} lock '{self.name}' on {where}"


def _scope_of(lock_id: str) -> str:
    low = lock_id.lower()
    cut = low.find("/providers/microsoft.authorization/locks/")
    return lock_id[:cut] if cut >= 0 else lock_id


def applies(lock: Lock, resource_id: str) -> bool:
    """True when ``lock`` sits on ``resource_id`` or on a scope above it (inherited)."""
    scope, rid = lock.scope.lower().rstrip("/"), resource_id.lower().rstrip("/")
    return rid == scope or rid.startswith(scope + "/")


def find(clients: AzureClients, sub: str, rg: str) -> list[Lock]:
    """Every lock on the resource group, its resources and the subscription above it."""
    client = clients.locks(sub)
    found: dict[str, Lock] = {}
    scope = f"/subscriptions/{sub}/resourceGroups/{rg}"
    with translated(scope):
        rows = [
            *client.management_locks.list_by_scope(scope),
            *client.management_locks.list_at_subscription_level(),
        ]
    for row in rows:
        lock = Lock(
            scope=_scope_of(str(row.id)),
            name=str(row.name),
            level=str(getattr(row.level, "value", row.level)),
            notes=str(row.notes or ""),
        )
        found.setdefault(lock.id.lower(), lock)
    return sorted(found.values(), key=lambda lk: lk.id.lower())


def blocking(locks: Iterable[Lock], resource_id: str, *, deleting: bool) -> list[Lock]:
    """Locks that stop a delete (any level) or a write (ReadOnly) on ``resource_id``."""
    return [lk for lk in locks if applies(lk, resource_id) and (deleting or lk.level == "ReadOnly")]


def check_liftable(locks: Iterable[Lock]) -> None:
    """The bot lifts locks on snapshots and resource groups only, never on a whole subscription."""
    for lk in locks:
        if lk.scope.rstrip("/").count("/") <= 2:
            raise NotAllowed(
                f"{lk.label()} covers the whole subscription; the bot will not lift it: "
                "ask its owner to remove it for the sync window"
            )


def remove(clients: AzureClients, sub: str, lock: Lock) -> None:
    with translated(lock.id):
        clients.locks(sub).management_locks.delete_by_scope(lock.scope, lock.name)


def restore(clients: AzureClients, sub: str, lock: Lock) -> bool:
    """Put the lock back exactly; False when its scope no longer exists (it went with the resource)."""
    body = {"properties": {"level": lock.level, **({"notes": lock.notes} if lock.notes else {})}}
    with translated(lock.id, "re-create the lock by hand with the same name, level and notes"):
        try:
            clients.locks(sub).management_locks.create_or_update_by_scope(  # type: ignore[call-overload]
                lock.scope, lock.name, body
            )  # a JSON body, sent as is
        except ResourceNotFoundError:
            return False
    return True


@contextlib.contextmanager
def lifted(
    clients: AzureClients,
    sub: str,
    locks: Iterable[Lock],
    *,
    note: Callable[[str], None],
    on_lift: Callable[[Lock], None] = lambda lk: None,
    on_restore: Callable[[Lock], None] = lambda lk: None,
) -> Iterator[None]:
    """Remove ``locks``, run the body, then restore every removed lock (try/finally)."""
    removed: list[Lock] = []
    try:
        for lk in locks:
            on_lift(lk)
            remove(clients, sub, lk)
            removed.append(lk)
            note(f"lifted {lk.label()}")
        yield
    finally:
        failures = []
        for lk in reversed(removed):
            try:
                back = restore(clients, sub, lk)
            except AzureError as err:
                failures.append(f"{lk.label()}: {err.message}")
                continue
            on_restore(lk)
            note(f"restored {lk.label()}" if back else f"{lk.label()} went with its resource")
        if failures:
            raise AzureError(
                "could not restore " + "; ".join(failures),
                code="LockRestoreFailed",
                next_step="re-create the lock(s) by hand with the same name, level and notes",
            )
