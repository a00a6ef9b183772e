"""CopyStart of incremental snapshots, as "Copy an incremental snapshot to a new region" restricts it: one
snapshot of a disk (an ``incrementalSnapshotFamilyId``) copied to a region at a time, in creation order;
other families and other regions are not held up."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from sim.azure.providers import disks
from tests.kit.azure import SUB, running

GOLD = f"/subscriptions/{SUB}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/snapshots"


def copy_start(name: str, region: str = "uksouth") -> dict[str, Any]:
    return {
        "location": region,
        "properties": {
            "incremental": True,
            "creationData": {"createOption": "CopyStart", "sourceResourceId": f"{GOLD}/{name}"},
        },
    }


def families(sim: Any) -> dict[str, str]:
    return {
        doc["name"]: doc["properties"].get("incrementalSnapshotFamilyId", "")
        for doc in sim.store.of_type(disks.SNAP_TYPE, f"/subscriptions/{SUB}/resourceGroups/GOLD-VDA")
    }


def test_the_seeds_tagged_snapshots_are_one_family_created_in_date_order() -> None:
    with running() as (sim, clients):
        fam = families(sim)
        tagged = ("snap-gold-os-20260515", "snap-gold-data-20260522", "snap-gold-os-20260522")
        assert len({fam[n] for n in tagged}) == 1 and all(fam[n] for n in tagged)
        created = [clients.compute(SUB).snapshots.get("GOLD-VDA", n).time_created for n in tagged]
        assert created == sorted(created) and len(set(created)) == 3


def test_one_copy_of_a_family_to_a_region_at_a_time() -> None:
    with running(time_scale=1.0) as (sim, clients):
        ops = clients.compute(SUB).snapshots
        ops.begin_create_or_update("GOLD-VDA", "c1", copy_start("snap-gold-os-20260515"), polling=False)
        with pytest.raises(HttpResponseError) as err:
            ops.begin_create_or_update("GOLD-VDA", "c2", copy_start("snap-gold-data-20260522"), polling=False)
        assert err.value.status_code == 409 and err.value.error is not None
        assert err.value.error.code == "Conflict"
        assert "Only one incremental snapshot of a disk can be copied at a time" in err.value.error.message
        # another region is not held up
        ops.begin_create_or_update(
            "GOLD-VDA", "c3", copy_start("snap-gold-data-20260522", "northeurope"), polling=False
        )
        sim.clock.advance(4000)
        assert ops.get("GOLD-VDA", "c1").completion_percent == 100.0
        ops.begin_create_or_update("GOLD-VDA", "c2", copy_start("snap-gold-data-20260522"), polling=False)


def test_a_family_is_copied_in_creation_order() -> None:
    with running(time_scale=1.0) as (sim, clients):
        ops = clients.compute(SUB).snapshots
        ops.begin_create_or_update("GOLD-VDA", "newest", copy_start("snap-gold-os-20260522"), polling=False)
        sim.clock.advance(4000)
        assert ops.get("GOLD-VDA", "newest").completion_percent == 100.0
        with pytest.raises(HttpResponseError) as err:
            ops.begin_create_or_update(
                "GOLD-VDA", "older", copy_start("snap-gold-os-20260515"), polling=False
            )
        assert err.value.status_code == 409 and err.value.error is not None
        assert (
            err.value.error.code == "Conflict" and "in the order they were created" in err.value.error.message
        )
        # a snapshot of another disk is its own family
        other = disks.make_snapshot(
            sim,
            f"{GOLD}/snap-other-disk",
            "westeurope",
            8,
            incremental=True,
            creation={"createOption": "Empty"},
            created=0.0,
        )
        with sim.lock:
            sim.store.put(other)
        ops.begin_create_or_update("GOLD-VDA", "other", copy_start("snap-other-disk"), polling=False)
