"""``/avd doctor``: config checks and the bot identity's permissions against the ARM simulator's RBAC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from azureops import doctor
from sim.azure import AzureSim
from tests.kit import Chat
from tests.kit.replicas import OPS, bot_fixture, chat_fixture, fast_azure_fixture  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
VERSIONS_WRITE = "Microsoft.Compute/galleries/images/versions/write"


def every_needed_action() -> list[str]:
    return sorted({a for needs in doctor.NEEDS.values() for actions in needs.values() for a in actions})


def answer(chat: Chat) -> str:
    said = chat.wait_for(lambda: [e for e in chat.ephemerals(OPS) if "avd-ops doctor" in e["text"]])[-1]
    return str(said["blocks"])


def test_doctor_with_full_permissions_reports_only_what_is_still_to_create(chat: Chat) -> None:
    chat.slash("/avd doctor", user=OPS)
    text = answer(chat)
    assert ":x:" not in text
    assert "identity AVDManage in VMSSDR: not created yet" in text and "/avd identity create dr" in text
    assert "scale set EntraDR: not created yet" in text and "/avd scaleset create dr" in text
    assert (
        "image version Win11MultiS/2026.0522.1719" in text
        and "subnet vnet-avd-uks/snet-avd in INFRADR" in text
    )
    assert "*GOLD-VDA* (master, snapshots): every needed action" in text


def test_doctor_names_a_removed_permission(chat: Chat, fast_azure: AzureSim) -> None:
    granted = [a for a in every_needed_action() if a != VERSIONS_WRITE]
    fast_azure.set_permissions([*granted, "Microsoft.Authorization/permissions/read", "*/read"])
    chat.slash("/avd doctor", user=OPS)
    text = answer(chat)
    assert "*GOLD-VDA* (master, snapshots) is missing 1 action(s)" in text
    assert f"`{VERSIONS_WRITE}` (needed by replicas)" in text
    assert "deploy/roles/avd-ops-gallery-replicas.json" in text
    assert text.count("is missing") == 1


def test_doctor_reports_a_missing_resource_group(chat: Chat, fast_azure: AzureSim) -> None:
    rg = "/subscriptions/00000000-0000-0000-0000-000000000002/resourceGroups/SNAPDR"
    with fast_azure.lock:
        fast_azure.store.delete(rg)
    chat.slash("/avd doctor", user=OPS)
    text = answer(chat)
    assert ":x: resource group SNAPDR: not found (ResourceGroupNotFound)" in text


@pytest.mark.parametrize("purpose", sorted(doctor.ROLE_FILES))
def test_role_files_grant_every_action_their_purpose_needs(purpose: str) -> None:
    role = json.loads((ROOT / doctor.ROLE_FILES[purpose]).read_text(encoding="utf-8"))
    granted = [{"actions": role["Actions"], "notActions": role["NotActions"]}]
    needed = doctor.required([purpose])
    assert [a for a in needed if not doctor.permitted(a, granted)] == []


@pytest.mark.parametrize(
    ("action", "entries", "allowed"),
    [
        ("Microsoft.Compute/snapshots/write", [{"actions": ["*"]}], True),
        (
            "Microsoft.Compute/snapshots/write",
            [{"actions": ["*"], "notActions": ["Microsoft.Compute/*/write"]}],
            False,
        ),
        ("Microsoft.Compute/snapshots/read", [{"actions": ["*/read"]}], True),
        ("microsoft.compute/SNAPSHOTS/read", [{"actions": ["Microsoft.Compute/snapshots/read"]}], True),
        (
            "Microsoft.Compute/snapshots/delete",
            [{"actions": ["*/read"]}, {"actions": ["Microsoft.Compute/*"]}],
            True,
        ),
        ("Microsoft.Compute/snapshots/delete", [], False),
    ],
)
def test_permitted_follows_arm_wildcards(
    action: str, entries: list[dict[str, list[str]]], allowed: bool
) -> None:
    assert doctor.permitted(action, entries) is allowed


def test_doctor_checks_what_the_staging_route_needs(chat: Chat, fast_azure: AzureSim) -> None:
    """The staging route creates a storage account and gives the bot a data role on it: both are checked."""
    staging = doctor.NEEDS["snapshots (full, staged)"]["snapshots"]
    granted = [a for a in every_needed_action() if a not in staging]
    fast_azure.set_permissions([*granted, "Microsoft.Authorization/permissions/read"])
    chat.slash("/avd doctor", user=OPS)
    text = answer(chat)
    assert "`Microsoft.Storage/storageAccounts/write` (needed by snapshots (full, staged))" in text
    assert "`Microsoft.Authorization/roleAssignments/write` (needed by snapshots (full, staged)" in text
    assert "deploy/roles/avd-ops-snapshots.json" in text
