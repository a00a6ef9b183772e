"""What failover, failback, rollback, drill and DR scale-down plans are built from: the two sites (``SiteSpec``) and
the run's options (``Options``), plain values the bot reads from its config (``bot.capabilities.failover_config``).
"""

from __future__ import annotations

from dataclasses import dataclass

from azureops import assignments
from azureops.asr import RecoveryPlanRef
from azureops.dr_capacity import ScaleSetRef
from azureops.sessions import HostPoolRef


@dataclass(frozen=True)
class SiteSpec:
    name: str
    location: str
    pool: HostPoolRef
    vmss: ScaleSetRef
    identity_id: str = ""
    image_version_id: str = ""  # the gallery image version the DR scale set is built from
    app_group: str = ""  # the application group (in the host pool's resource group) users are assigned to
    entra_joined: bool = False  # hosts joined to Entra ID: their users need a VM login role to sign in

    @property
    def app_group_ref(self) -> assignments.AppGroupRef:
        return assignments.AppGroupRef(self.pool.subscription, self.pool.resource_group, self.app_group)


@dataclass(frozen=True)
class Options:
    grace_seconds: int = 300
    message_title: str = "AVD failover"
    message_body: str = "You will be signed out in {seconds} seconds."
    recheck_sessions: bool = True
    primary_timeout: float = 60.0
    capacity: int = 2  # dr_capacity (failover) or drill_capacity (drill)
    now: bool = False  # --now: no grace period
    asr: RecoveryPlanRef | None = None
    asr_planned: bool = False
    tick: float = 15.0  # seconds between polls while waiting on Azure
    sessions_timeout: float = 600.0  # failback: how long to wait for DR sessions to end
    app_group_principals: tuple[str, ...] = ()  # post-step assign_app_group: Entra object ids of users/groups
