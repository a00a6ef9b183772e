"""Pure pieces of snapshot replication: tag filter, provenance diff, mode validation, lock scope, polling."""

from __future__ import annotations

from dataclasses import replace

import pytest

from avdcore.errors import NotAllowed, UsageError
from azureops import locks
from azureops import snapshot_copies as copies
from azureops import snapshots as snaps
from azureops.snapshot_plans import out_of_order

RG = "/subscriptions/s1/resourceGroups/GOLD"


def snap(
    name: str,
    tags: dict[str, str] | None = None,
    *,
    rg: str = RG,
    created: str = "2026-05-22T17:19:00+00:00",
    incremental: bool = True,
    location: str = "westeurope",
) -> snaps.Snap:
    return snaps.Snap(
        id=f"{rg}/providers/Microsoft.Compute/snapshots/{name}",
        name=name,
        location=location,
        incremental=incremental,
        sku="Standard_LRS",
        os_type="Windows",
        hyper_v="V2",
        created=created,
        size_bytes=1024**3,
        tags=tags or {},
    )


def replica_of(src: snaps.Snap, name: str | None = None) -> snaps.Snap:
    return snap(
        name or src.name,
        snaps.replica_tags(src),
        rg="/subscriptions/s2/resourceGroups/DR",
        location="uksouth",
    )


@pytest.mark.parametrize(
    ("tags", "wanted"),
    [
        ({"SnapReplicate": "Replicate"}, True),
        ({"snapreplicate": "Replicate"}, True),
        ({"Other": "Replicate"}, False),
        ({"SnapReplicate": "replicate"}, False),
        ({}, False),
    ],
)
def test_tag_filter_is_exact_key_value(tags: dict[str, str], wanted: bool) -> None:
    assert snaps.matches_tag(snap("a", tags), ("SnapReplicate", "Replicate")) is wanted


def test_diff_uses_provenance_not_names() -> None:
    kept, gone = snap("a"), snap("b")
    recreated = snap("c", created="2026-06-01T00:00:00+00:00")
    targets = [
        replica_of(kept),
        replica_of(gone),
        replica_of(snap("c")),
        snap("a-copy"),
        replica_of(snap("x", rg="/subscriptions/s1/resourceGroups/OTHER")),
    ]
    d = snaps.diff([kept, recreated], targets, source_scope=RG, tag=None, allow_empty_source=False)
    assert set(d.replicated) == {kept.id.lower()}
    assert sorted(o.name for o in d.orphans) == [
        "b",
        "c",
    ]  # another profile's replica and hand-made ones stay
    assert recreated.id.lower() not in d.replicated  # a recreated source is copied again


def test_empty_source_deletes_nothing_unless_allowed() -> None:
    targets = [replica_of(snap("a"))]
    assert snaps.diff([], targets, source_scope=RG, tag=None, allow_empty_source=False).orphans == []
    assert len(snaps.diff([], targets, source_scope=RG, tag=None, allow_empty_source=True).orphans) == 1


@pytest.mark.parametrize(
    ("mode", "src_sub", "dst_sub", "src", "dst", "ok"),
    [
        ("DifferentSubDifferentRegion", "s1", "s2", "westeurope", "uksouth", True),
        ("DifferentSubSameRegion", "s1", "s2", "westeurope", "westeurope", True),
        ("SameSubDifferentRegion", "s1", "s1", "westeurope", "uksouth", True),
        ("DifferentSubSameRegion", "s1", "s2", "westeurope", "uksouth", False),
        ("SameSubDifferentRegion", "s1", "s2", "westeurope", "uksouth", False),
        ("SameSubDifferentRegion", "s1", "s1", "westeurope", "westeurope", False),
    ],
)
def test_mode_is_checked_against_subscriptions_and_regions(
    mode: str, src_sub: str, dst_sub: str, src: str, dst: str, ok: bool
) -> None:
    if ok:
        snaps.validate_mode(mode, src_sub, dst_sub, src, dst)
    else:
        with pytest.raises(UsageError):
            snaps.validate_mode(mode, src_sub, dst_sub, src, dst)


@pytest.mark.parametrize(
    ("incremental", "location", "route"),
    [
        (True, "uksouth", "Copy"),
        (True, "westeurope", "CopyStart"),
        (False, "westeurope", "Staging"),
        (False, "uksouth", "Copy"),
    ],
)
def test_route(incremental: bool, location: str, route: str) -> None:
    assert snaps.route_for(snap("a", incremental=incremental, location=location), "UK South") == route


def test_replica_body_keeps_sku_os_generation_tags_and_adds_provenance() -> None:
    src = snap("a", {"SnapReplicate": "Replicate", "avdops-source-id": "forged"})
    body = snaps.replica_body(src, "uksouth", "CopyStart")
    assert body["sku"] == {"name": "Standard_LRS"} and body["location"] == "uksouth"
    assert body["properties"]["osType"] == "Windows" and body["properties"]["hyperVGeneration"] == "V2"
    assert body["tags"]["avdops-source-id"] == src.id and body["tags"]["SnapReplicate"] == "Replicate"


def test_locks_apply_to_their_scope_and_below_and_subscription_locks_are_not_lifted() -> None:
    rg_lock = locks.Lock(scope="/subscriptions/s2/resourceGroups/DR", name="freeze", level="ReadOnly")
    snap_lock = locks.Lock(
        scope="/subscriptions/s2/resourceGroups/DR/providers/Microsoft.Compute/snapshots/a",
        name="keep",
        level="CanNotDelete",
    )
    target = "/subscriptions/s2/resourceGroups/DR/providers/Microsoft.Compute/snapshots/a"
    assert locks.blocking([rg_lock, snap_lock], target, deleting=True) == [rg_lock, snap_lock]
    assert locks.blocking([rg_lock, snap_lock], target, deleting=False) == [rg_lock]
    assert locks.blocking([snap_lock], target.replace("/a", "/b"), deleting=True) == []
    with pytest.raises(NotAllowed):
        locks.check_liftable([locks.Lock(scope="/subscriptions/s2", name="all", level="ReadOnly")])


def test_next_poll_waits_for_the_estimated_end_but_never_longer_than_the_ceiling() -> None:
    assert copies.next_poll((0.0, 0.0), 1.0, 50.0, 15.0) == pytest.approx(1.02)
    assert copies.next_poll((0.0, 0.0), 1.0, 0.0, 15.0) == 15.0
    assert copies.next_poll((0.0, 0.0), 1.0, 1.0, 15.0) == 15.0


def test_families_group_a_disks_snapshots_in_creation_order_and_full_ones_alone() -> None:
    def member(name: str, created: str, family: str, incremental: bool = True) -> snaps.Snap:
        return replace(snap(name, created=created, incremental=incremental), family_id=family)

    os2 = member("os-0522", "2026-05-22T18:00:00+00:00", "F1")
    os1 = member("os-0515", "2026-05-15T18:00:00+00:00", "F1")
    data = member("data-0522", "2026-05-22T17:00:00+00:00", "F2")
    full = member("full", "2026-05-01T00:00:00+00:00", "", incremental=False)
    full2 = member("full2", "2026-05-02T00:00:00+00:00", "", incremental=False)
    groups = snaps.families([os2, data, full2, os1, full])
    assert [[s.name for s in g] for g in groups] == [
        ["full"],
        ["full2"],
        ["os-0515", "os-0522"],
        ["data-0522"],
    ]


def test_a_snapshot_older_than_a_replicated_one_of_its_disk_is_not_copied() -> None:
    old = replace(snap("old", created="2026-05-15T00:00:00+00:00"), family_id="F")
    new = replace(snap("new", created="2026-05-22T00:00:00+00:00"), family_id="F")
    newer = replace(snap("newer", created="2026-05-29T00:00:00+00:00"), family_id="F")
    other = replace(snap("other", created="2026-05-01T00:00:00+00:00"), family_id="G")
    late = out_of_order([old, new, newer, other], {new.id.lower()})
    assert set(late) == {old.id.lower()} and "older than new" in late[old.id.lower()]
