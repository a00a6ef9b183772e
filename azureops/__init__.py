"""Azure operations: every Azure SDK call the bot makes, as reads and plans of idempotent steps; no Slack.

The public surface is what ``bot`` uses: the shared types below, and the modules by noun (``failover``,
``snapshots``, ``scalesets`` ...), each with its own public functions. SDK exceptions become the project's
``AzureError`` family here (``project_error``); ``bot`` never imports ``azure.*``.

Names are loaded on first use (``_HOME`` says from where), so ``import azureops.credentials`` or the CLI's
``audit verify`` do not pay for importing every Azure SDK client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOME: dict[str, str] = {
    "AzureClients": "azureops.clients",
    "GraphAccess": "azureops.graphaccess",
    "HostPoolRef": "azureops.sessions",
    "ImageRef": "azureops.gallery",
    "Plan": "azureops.plan",
    "PrimaryGate": "azureops.recovery",
    "RecoveryPlanRef": "azureops.asr",
    "ScaleSetRef": "azureops.dr_capacity",
    "ScaleSetSpec": "azureops.scaleset_spec",
    "Step": "azureops.plan",
    "StepContext": "azureops.plan",
    "format_seconds": "azureops.plan",
    "is_loopback": "azureops.credentials",
    "project_error": "azureops.errors",
    "resource_label": "azureops.plan",
    **{name: f"azureops.{name}" for name in (
        "doctor", "failover", "gallery", "hostpools", "identities", "locks", "readiness", "recovery", "replicas",
        "scaleset_spec", "scalesets", "snapshot_copies", "snapshots", "staging")},
}

__all__ = [
    "AzureClients",
    "GraphAccess",
    "HostPoolRef",
    "ImageRef",
    "Plan",
    "PrimaryGate",
    "RecoveryPlanRef",
    "ScaleSetRef",
    "ScaleSetSpec",
    "Step",
    "StepContext",
    "doctor",
    "failover",
    "format_seconds",
    "gallery",
    "hostpools",
    "identities",
    "is_loopback",
    "locks",
    "project_error",
    "readiness",
    "recovery",
    "replicas",
    "resource_label",
    "scaleset_spec",
    "scalesets",
    "snapshot_copies",
    "snapshots",
    "staging",
]  # the keys of _HOME


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'azureops' has no attribute {name!r}")
    module = importlib.import_module(home)
    value: object = module if home == f"azureops.{name}" else getattr(module, name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from azureops import (
        doctor,
        failover,
        gallery,
        hostpools,
        identities,
        locks,
        readiness,
        recovery,
        replicas,
        scaleset_spec,
        scalesets,
        snapshot_copies,
        snapshots,
        staging,
    )
    from azureops.asr import RecoveryPlanRef
    from azureops.clients import AzureClients
    from azureops.credentials import is_loopback
    from azureops.dr_capacity import ScaleSetRef
    from azureops.errors import project_error
    from azureops.gallery import ImageRef
    from azureops.graphaccess import GraphAccess
    from azureops.plan import Plan, Step, StepContext, format_seconds, resource_label
    from azureops.recovery import PrimaryGate
    from azureops.scaleset_spec import ScaleSetSpec
    from azureops.sessions import HostPoolRef
