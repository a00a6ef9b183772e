"""Operations: what a parsed ``/avd ...`` command means, as frozen dataclasses.

``commands.parse`` turns text into exactly one of these. They carry no Slack or Azure objects:
the bot decides who may run them and the job engine turns them into Azure plans.
Fields left ``None`` mean "use the default from the config" (for example the primary scale
set's image, the newest version, or the secondary site).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    """Base class. ``verb`` names the command for policy and audit (``"replicas remove"``)."""

    @property
    def verb(self) -> str:
        return _VERBS[type(self)]

    @property
    def changes_azure(self) -> bool:
        """True when running it would change Azure (it then accepts ``--dry-run``)."""
        return type(self) in _CHANGING


@dataclass(frozen=True)
class Help(Operation):
    topic: str | None = None


@dataclass(frozen=True)
class Status(Operation):
    pass


@dataclass(frozen=True)
class Doctor(Operation):
    pass


@dataclass(frozen=True)
class ReplicasList(Operation):
    image: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class ReplicasAdd(Operation):
    region: str  # canonical lower-case name, e.g. "uksouth"
    image: str | None = None
    version: str | None = None
    count: int | None = None
    storage: str | None = None  # Standard_LRS | Standard_ZRS | Premium_LRS | PremiumV2_LRS
    dry_run: bool = False


@dataclass(frozen=True)
class ReplicasRemove(Operation):
    region: str
    image: str | None = None
    version: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class IdentityCreate(Operation):
    site: str | None = None  # site name from the config (a location selects its site)
    dry_run: bool = False


@dataclass(frozen=True)
class ScalesetCreate(Operation):
    site: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class Scale(Operation):
    target: str  # a scale set name or a site name
    count: int
    dry_run: bool = False


@dataclass(frozen=True)
class SnapshotsSync(Operation):
    profile: str
    dry_run: bool = False


@dataclass(frozen=True)
class SnapshotsCopy(Operation):
    snapshot: str
    profile: str
    dry_run: bool = False


@dataclass(frozen=True)
class SnapshotsSchedule(Operation):
    profile: str
    cron: str | None  # None means "off"


@dataclass(frozen=True)
class FailoverPlan(Operation):
    site: str | None = None


@dataclass(frozen=True)
class FailoverStart(Operation):
    site: str | None = None
    now: bool = False  # skip the user grace period
    dry_run: bool = False


@dataclass(frozen=True)
class FailoverStatus(Operation):
    site: str | None = None


@dataclass(frozen=True)
class FailoverCancel(Operation):
    site: str | None = None


@dataclass(frozen=True)
class FailbackPlan(Operation):
    site: str | None = None


@dataclass(frozen=True)
class FailbackStart(Operation):
    site: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class Drill(Operation):
    site: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class Jobs(Operation):
    pass


@dataclass(frozen=True)
class JobShow(Operation):
    job_id: int


@dataclass(frozen=True)
class JobRetry(Operation):
    job_id: int


@dataclass(frozen=True)
class JobCancel(Operation):
    job_id: int


@dataclass(frozen=True)
class Audit(Operation):
    count: int = 20


_VERBS: dict[type[Operation], str] = {
    Help: "help",
    Status: "status",
    Doctor: "doctor",
    ReplicasList: "replicas list",
    ReplicasAdd: "replicas add",
    ReplicasRemove: "replicas remove",
    IdentityCreate: "identity create",
    ScalesetCreate: "scaleset create",
    Scale: "scale",
    SnapshotsSync: "snapshots sync",
    SnapshotsCopy: "snapshots copy",
    SnapshotsSchedule: "snapshots schedule",
    FailoverPlan: "failover plan",
    FailoverStart: "failover start",
    FailoverStatus: "failover status",
    FailoverCancel: "failover cancel",
    FailbackPlan: "failback plan",
    FailbackStart: "failback start",
    Drill: "drill",
    Jobs: "jobs",
    JobShow: "job",
    JobRetry: "job retry",
    JobCancel: "job cancel",
    Audit: "audit",
}

_CHANGING: frozenset[type[Operation]] = frozenset(
    {
        ReplicasAdd,
        ReplicasRemove,
        IdentityCreate,
        ScalesetCreate,
        Scale,
        SnapshotsSync,
        SnapshotsCopy,
        FailoverStart,
        FailbackStart,
        Drill,
    }
)

ALL_VERBS: tuple[str, ...] = tuple(_VERBS.values())
