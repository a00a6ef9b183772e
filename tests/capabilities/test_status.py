"""``/avd status``: readiness colours on the seed scenario before and after the replica, plus pure rendering."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from azureops import readiness
from azureops.gallery import ImageRef
from azureops.scaleset_spec import ScaleSetSpec
from bot.capabilities import status as status_cap
from bot.capabilities.snapshots import Schedule
from bot.capabilities.status import ICON, status_reply
from bot.reads import STATUS_FRESH, SharedRead
from bot.storage import records as scaleset_cap
from sim.azure import AzureSim
from tests.kit import BotHandle, Chat
from tests.kit.replicas import OPS, bot_fixture, chat_fixture, fast_azure_fixture, replicate_directly  # noqa: F401

COLOUR = {icon: colour for colour, icon in ICON.items()}


def colours(chat: Chat, since: int) -> dict[str, str]:
    """Topic -> colour from the newest status answer after ``since`` ephemerals."""
    said = chat.wait_for(lambda: [e for e in chat.ephemerals(OPS)[since:] if "DR readiness" in e["text"]])[-1]
    text = "\n".join(b["text"]["text"] for b in said["blocks"] if b.get("type") == "section")
    return _parse(text)


def _parse(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        m = re.match(r"(:[a-z_]+:) \*([^*]+)\*", line.strip())
        if m and m[1] in COLOUR:
            out[m[2]] = COLOUR[m[1]]
    return out


class Ticks:
    """The status read's monotonic clock, moved by the test (a read is reused for STATUS_FRESH seconds)."""

    def __init__(self, bot: BotHandle) -> None:
        self.now = 1000.0
        bot.runtime.status_read = SharedRead(monotonic=lambda: self.now)

    def later(self) -> None:
        self.now += STATUS_FRESH


def test_status_before_and_after_the_replica(bot: BotHandle, chat: Chat, fast_azure: AzureSim) -> None:
    ticks = Ticks(bot)
    chat.slash("/avd status", user=OPS)
    first = colours(chat, 0)
    assert first["Image replica"] == "red"
    assert first["DR identity"] == "red" and first["DR scale set"] == "red"
    assert first["Primary host pool"] == "green" and first["DR host pool"] == "green"
    assert first["Drift"] == "amber" and first["Snapshots gold-to-dr"] == "amber"
    assert first["primary → dr"] == "red"
    said = chat.ephemerals(OPS)[-1]["text"]
    assert "primary -> dr: red" in said
    replicate_directly(fast_azure)
    seen = len(chat.ephemerals(OPS))
    ticks.later()
    chat.slash("/avd status", user=OPS)
    assert colours(chat, seen)["Image replica"] == "green"


def test_the_ack_shows_the_last_read_and_a_changed_answer_follows(
    bot: BotHandle, chat: Chat, fast_azure: AzureSim
) -> None:
    ticks = Ticks(bot)

    def reads() -> int:  # one GET of the DR host pool per status read
        return len(
            [e for e in fast_azure.journal if e.method == "GET" and e.path.endswith("hostPools/EntraAuthDR")]
        )

    assert chat.slash("/avd status", user=OPS).text == ""  # nothing read yet: an empty ack, then the answer
    colours(chat, 0)
    assert reads() == 1
    seen = len(chat.ephemerals(OPS))
    again = chat.slash("/avd status", user=OPS)  # within STATUS_FRESH: the ack carries the read, nothing more
    assert "DR readiness" in again.json()["text"] and "Read from Azure at " in str(again.json()["blocks"])
    shown = _parse("\n".join(b["text"]["text"] for b in again.json()["blocks"] if b.get("type") == "section"))
    assert shown["Image replica"] == "red"
    ticks.later()
    chat.slash("/avd status", user=OPS)  # later: the ack shows the last read and a fresh read runs after it
    chat.wait_for(lambda: reads() == 2, timeout=15)
    replicate_directly(fast_azure)
    ticks.later()
    changed = chat.slash("/avd status", user=OPS)
    assert "Read from Azure at " in changed.text  # the ack still shows the red replica of the last read ...
    assert colours(chat, seen)["Image replica"] == "green"  # ... and the read after it posts the change
    assert reads() == 3  # the answer in the ack cost no read
    assert (
        len([e for e in chat.ephemerals(OPS)[seen:] if "DR readiness" in e["text"]]) == 1
    )  # unchanged: silent


def test_status_names_the_next_action(chat: Chat) -> None:
    chat.slash("/avd status", user=OPS)
    said = chat.wait_for(lambda: [e for e in chat.ephemerals(OPS) if "DR readiness" in e["text"]])[-1]
    blocks = str(said["blocks"])
    assert "/avd replicas add uksouth" in blocks and "about 5-15 min" in blocks
    assert "/avd identity create dr" in blocks and "/avd scaleset create dr" in blocks
    assert "2 available, 0 draining, 0 unavailable; 3 active session(s)" in blocks
    assert "/avd snapshots sync gold-to-dr" in blocks


def _pair(lines: list[readiness.Line]) -> readiness.PairReadiness:
    return readiness.PairReadiness("primary", "dr", tuple(lines))


def test_worst_colour_leads_and_render_is_valid_block_kit() -> None:
    pair = _pair([readiness.Line("A", "green", "ok"), readiness.Line("B", "amber", "meh", "do x")])
    reply = status_reply([pair], simulated=True).to_dict()
    assert pair.colour == "amber"
    assert "do x" in str(reply["blocks"]) and "simulated Azure" in str(reply["blocks"])
    assert reply["text"] == "DR readiness: primary -> dr: amber"


NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last", "colour", "says"),
    [
        (None, "amber", "never synced"),
        (
            {"id": 4, "status": "failed", "finished_at": (NOW - timedelta(hours=1)).isoformat()},
            "red",
            "failed",
        ),
        (
            {"id": 5, "status": "done", "finished_at": (NOW - timedelta(hours=2)).isoformat()},
            "green",
            "last synced",
        ),
        (
            {"id": 6, "status": "done", "finished_at": (NOW - timedelta(days=9)).isoformat()},
            "amber",
            "last synced",
        ),
        ({"id": 7, "status": "running", "created_at": NOW.isoformat()}, "amber", "running"),
    ],
)
def test_snapshot_line(last: dict[str, object] | None, colour: str, says: str) -> None:
    line = readiness.snapshot_line("gold-to-dr", last, NOW)
    assert line.colour == colour and says in line.text


def _reads(**kw: object) -> readiness.Reads:
    base: dict[str, object] = {
        "replicas": None,
        "primary_vmss": None,
        "dr_vmss": None,
        "identity": None,
        "credentials": None,
        "primary_pool": None,
        "dr_pool": None,
    }
    return readiness.Reads(**{**base, **kw})  # type: ignore[arg-type]


PAIR = readiness.PairRefs(
    readiness.SiteRefs("primary", "s", "westeurope", "VMSS", "Entra", "AVDManage", "AVD", "EntraAuth"),
    readiness.SiteRefs("dr", "s", "uksouth", "VMSSDR", "EntraDR", "AVDManage", "AVDDR", "EntraAuthDR", 2),
    ImageRef("s", "GOLD-VDA", "AVDGallery", "Win11MultiS", "1.0.0"),
    "app",
    "AVD-Join",
)


def test_identity_line_counts_federated_credential_slots() -> None:
    identity = {"name": "AVDManage", "principal_id": "p-dr"}  # msrest as_dict() shape
    creds = [{"subject": "p-primary"}, {"subject": "p-dr"}]
    line = readiness.identity_line(_reads(identity=identity, credentials=creds), PAIR)
    assert (line.colour, line.text) == ("green", "AVDManage federated on AVD-Join (2 of 20 slots used)")
    missing = readiness.identity_line(_reads(identity=identity, credentials=creds[:1]), PAIR)
    assert missing.colour == "red" and "/avd identity create dr" in missing.action
    full = readiness.identity_line(
        _reads(identity=identity, credentials=creds + [{"subject": "x"}] * 17), PAIR
    )
    assert full.colour == "amber" and "19 of 20" in full.text


def _vmss(version: str) -> dict[str, object]:
    image = (
        f"/subscriptions/s/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/galleries/AVDGallery/images/"
        f"Win11MultiS/versions/{version}"
    )
    return {
        "sku": {"capacity": 0},
        "properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"id": image}}}},
    }


def test_drift_names_each_difference() -> None:
    pool = {"host_pool_type": "Pooled", "load_balancer_type": "BreadthFirst", "max_session_limit": 10}
    dr_pool = {**pool, "load_balancer_type": "DepthFirst", "max_session_limit": 8}
    reads = _reads(
        primary_vmss=_vmss("1.0.0"), dr_vmss=_vmss("0.9.0"), primary_pool=(pool, []), dr_pool=(dr_pool, [])
    )
    line = readiness.drift_line(reads)
    assert line.colour == "amber"
    assert "image version Win11MultiS/1.0.0 vs Win11MultiS/0.9.0" in line.text
    assert "load balancing BreadthFirst vs DepthFirst" in line.text and "max sessions 10 vs 8" in line.text
    same = readiness.drift_line(
        _reads(
            primary_vmss=_vmss("1.0.0"), dr_vmss=_vmss("1.0.0"), primary_pool=(pool, []), dr_pool=(pool, [])
        )
    )
    assert same.colour == "green"
    assert readiness.scale_set_line(reads, PAIR).colour == "amber"


# ---- lines from the bot's own records: DR capacity, snapshot schedules, drills ---------------------


def _remembered(name: str = "EntraDR", created: bool = True) -> scaleset_cap.DrScaleSet:
    return scaleset_cap.DrScaleSet("dr", "s", "VMSSDR", name, "uksouth", "AVDDR", "EntraAuthDR", created)


@pytest.mark.parametrize(
    ("remembered", "in_azure", "colour", "says", "next_action"),
    [
        (None, None, "red", "no DR capacity recorded for dr", "/avd scaleset create dr"),
        (
            None,
            {"sku": {"capacity": 0}},
            "amber",
            "EntraDR exists but is not recorded",
            "finds it and changes nothing",
        ),
        (_remembered(created=False), None, "amber", "was requested but is not built yet", "/avd jobs"),
        (
            _remembered("EntraDR2"),
            {},
            "amber",
            "failover and drills scale VMSSDR/EntraDR",
            'scale_set = "EntraDR2"',
        ),
        (_remembered(), None, "red", "was built but is gone from Azure", "/avd scaleset create dr"),
        (
            _remembered(),
            {"sku": {"capacity": 0}},
            "green",
            "EntraDR (VMSSDR, uksouth) is the DR capacity of dr: a failover scales it to 2",
            "",
        ),
    ],
)
def test_capacity_line(
    remembered: scaleset_cap.DrScaleSet | None, in_azure: object, colour: str, says: str, next_action: str
) -> None:
    line = status_cap.capacity_line(PAIR.secondary, remembered, in_azure)
    assert (line.topic, line.colour) == ("DR capacity", colour)
    assert says in line.text and next_action in line.action
    assert bool(line.action) == (colour != "green")


@pytest.mark.parametrize(
    ("schedule", "colour", "says", "next_action"),
    [
        (None, "amber", "not scheduled", "/avd snapshots schedule gold-to-dr 0 2 * * *"),
        (
            Schedule("gold-to-dr", "0 3 * * 1", None, "U0OPS1", "C0INCIDENT"),
            "amber",
            "`0 3 * * 1` UTC is paused",
            "/avd snapshots schedule gold-to-dr 0 3 * * 1",
        ),
        (
            Schedule("gold-to-dr", "0 2 * * *", NOW + timedelta(hours=14), "U0OPS1", "C0INCIDENT"),
            "green",
            "`0 2 * * *` UTC, next 2026-06-02 02:00 UTC",
            "",
        ),
    ],
)
def test_schedule_line(schedule: Schedule | None, colour: str, says: str, next_action: str) -> None:
    line = status_cap.schedule_line("gold-to-dr", schedule)
    assert line.colour == colour and says in line.text and next_action in line.action
    assert bool(line.action) == (colour != "green")


def _run(days_ago: float, seconds: float | None, job_id: int = 1) -> dict[str, object]:
    return {
        "kind": "drill",
        "site": "dr",
        "job_id": job_id,
        "at": (NOW - timedelta(days=days_ago)).isoformat(),
        "seconds": seconds,
        "capacity": 1,
    }


@pytest.mark.parametrize(
    ("history", "failover", "colour", "says", "next_action"),
    [
        ([], None, "amber", "no drill on record for dr", "/avd drill dr"),
        (
            [_run(1, 250.0), _run(30, 190.0), _run(60, 130.0)],
            None,
            "green",
            "last drill 2026-05-31 12:00 UTC, time to capacity 4m10s; trend over 3 drills ▁▅█ 2m10s -> 4m10s",
            "",
        ),
        ([_run(120, 130.0)], None, "amber", "(120 days ago)", "/avd drill dr"),
        ([_run(1, None, job_id=9)], None, "amber", "measured no time to capacity", "/avd job 9"),
        (
            [_run(1, 60.0)],
            {"at": NOW.isoformat(), "seconds": 421.0},
            "green",
            "last failover 2026-06-01 12:00 UTC, recovery time 7m01s",
            "",
        ),
    ],
)
def test_drill_line(
    history: list[dict[str, object]],
    failover: dict[str, object] | None,
    colour: str,
    says: str,
    next_action: str,
) -> None:
    line = status_cap.drill_line("dr", history, NOW, failover)
    assert line.colour == colour and says in line.text and next_action in line.action


def test_status_and_jobs_show_capacity_schedules_and_drills(chat: Chat, bot: BotHandle) -> None:
    runtime = bot.runtime
    chat.slash("/avd snapshots schedule gold-to-dr 0 2 * * *", user=OPS)
    chat.wait_for_ephemeral(OPS, contains="now syncs on", timeout=10)
    fields = {f: "x" for f in ScaleSetSpec.__dataclass_fields__}
    spec = ScaleSetSpec(
        **{
            **fields,
            "subscription": "00000000-0000-0000-0000-000000000001",  # type: ignore[arg-type]
            "resource_group": "VMSSDR",
            "name": "EntraDR",
            "location": "uksouth",
            "host_pool_resource_group": "AVDDR",
            "host_pool": "EntraAuthDR",
            "capacity": 0,
        }
    )
    scaleset_cap.save_request(runtime.store, "dr", spec, OPS, NOW)
    for n, seconds in enumerate((130.0, 250.0)):
        scaleset_cap.record_run(
            runtime.store,
            kind="drill",
            site="dr",
            job_id=n + 1,
            seconds=seconds,
            capacity=1,
            at=datetime.now(UTC) - timedelta(hours=2 - n),
        )
    seen = len(chat.ephemerals(OPS))
    chat.slash("/avd status", user=OPS)
    got = colours(chat, seen)
    said = str(chat.ephemerals(OPS)[-1]["blocks"])
    assert got["DR capacity"] == "amber" and "was requested but is not built yet" in said
    assert got["Snapshot schedule gold-to-dr"] == "green" and "`0 2 * * *` UTC, next " in said
    assert got["DR drills"] == "green" and "trend over 2 drills ▁█ 2m10s -> 4m10s" in said
    seen = len(chat.ephemerals(OPS))
    chat.slash("/avd jobs", user=OPS)
    jobs_said = chat.wait_for(lambda: [e for e in chat.ephemerals(OPS)[seen:] if "Scheduled" in e["text"]])[
        -1
    ]
    assert "*Scheduled snapshot syncs*\n`gold-to-dr`: `0 2 * * *` UTC, next " in jobs_said["text"]
