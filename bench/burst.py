"""A 20-job burst (10 replicas add, 8 snapshot syncs, 2 scale-outs) through `avd-bot serve` against both doubles
with their real limits: Slack's rate limits and ARM's per-subscription token buckets (reads 250 @ 25/s, writes
200 @ 10/s, deletes 200 @ 10/s, on real time).

The doubles run in this process (seed scenario, time scale 30, plus 9 more image versions and 8 snapshot target
resource groups so the 20 jobs lock different resources); the bot is a child process, so its memory is its own:
peak RSS is ``VmHWM`` from /proc/PID/status after the burst, rest RSS is ``VmRSS`` after start-up and 2 s idle.
All 20 commands are typed within a second in the incident channel; each sync's approval card is approved by
U0LEAD1 as soon as it appears. Measured until every job has ended and Slack has been quiet for 12 s.

    .venv/bin/python bench/burst.py [--time-scale 30] [--json FILE]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import (  # noqa: E402
    BOT_TOKEN,
    SECRET,
    BotProcess,
    Report,
    add_json_option,
    bot_env,
    figure,
    machine,
    workdir,
)
from bot.sandbox import example_config  # noqa: E402
from bot.storage.sqlite import Store  # noqa: E402
from sim.azure import AzureSim  # noqa: E402
from sim.azure.providers import gallery, resources  # noqa: E402
from sim.azure.scenarios import prepare_dr  # noqa: E402
from sim.slack import SlackSim  # noqa: E402
from sim.slack.chat import Chat, block_actions_payload, buttons, interactivity_body  # noqa: E402

SUB1, SUB2 = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"
GALLERY = f"/subscriptions/{SUB1}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/galleries/AVDGallery"
SEED_VERSION = "2026.0522.1719"
REGIONS = ("northeurope", "francecentral", "germanywestcentral", "swedencentral", "uksouth")
REPLICAS, SYNCS = 10, 8
TERMINAL = ("done", "failed", "cancelled", "rejected", "expired")


def versions() -> list[str]:
    return [SEED_VERSION] + [f"2026.0601.{n:04d}" for n in range(1, REPLICAS)]


def add_versions(sim: AzureSim) -> None:
    """More published versions of Win11MultiS, each replicated to westeurope only (like the seed's)."""
    seed = sim.store.get(f"{GALLERY}/images/Win11MultiS/versions/{SEED_VERSION}")
    assert seed is not None
    for name in versions()[1:]:
        doc = gallery.make_version(
            sim,
            f"{GALLERY}/images/Win11MultiS/versions/{name}",
            "westeurope",
            {
                "storageProfile": seed["properties"]["storageProfile"],
                "safetyProfile": {"allowDeletionOfReplicatedLocations": False},
            },
        )
        doc["properties"]["publishingProfile"]["targetRegions"] = [
            {
                "name": "West Europe",
                "regionalReplicaCount": 1,
                "storageAccountType": "Standard_LRS",
                "excludeFromLatest": False,
            }
        ]
        doc["properties"]["provisioningState"] = "Succeeded"
        doc["_sim"] = {
            "replicas": {
                "westeurope": {"start": 0.0, "end": 0.0, "state": "Completed", "progress": 100, "details": ""}
            }
        }
        sim.store.put(doc)


def config_text() -> str:
    text = Path(example_config()).read_text(encoding="utf-8")
    for n in range(1, SYNCS + 1):
        text += (
            f'\n[snapshot_profiles.burst-{n}]\nsource_subscription = "{SUB1}"\nsource_resource_group = "GOLD-VDA"\n'
            f'target_subscription = "{SUB2}"\ntarget_resource_group = "SNAPB{n}"\ntarget_region = "uksouth"\n'
            'mode = "DifferentSubDifferentRegion"\ntag_filter = "SnapReplicate=Replicate"\nsync = true\n'
            'schedule = ""\nconcurrency = 5\n'
        )
    return text


def commands() -> list[str]:
    lines = [
        f"/avd replicas add {REGIONS[n % len(REGIONS)]} Win11MultiS/{v}" for n, v in enumerate(versions())
    ]
    lines += [f"/avd snapshots sync burst-{n}" for n in range(1, SYNCS + 1)]
    lines += ["/avd scale primary 3", "/avd scale dr 2"]
    order: list[str] = []  # interleave the kinds, as a busy channel would
    for group in zip(lines[:SYNCS], lines[REPLICAS : REPLICAS + SYNCS], strict=True):
        order += group
    return order + lines[SYNCS:REPLICAS] + lines[REPLICAS + SYNCS :]


def _secs(iso: object) -> float:
    return datetime.fromisoformat(str(iso)).timestamp()


def max_in_window(times: list[float], window: float = 60.0) -> int:
    times = sorted(times)
    return max((sum(1 for t in times if s <= t < s + window) for s in times), default=0)


def approve_new_cards(chat: Chat, slack: SlackSim, clicked: set[str]) -> None:
    for message in slack.messages("C0INCIDENT"):
        if message["ts"] in clicked:
            continue
        for block_id, button in buttons(message.get("blocks") or []):
            if (button.get("text") or {}).get("text") == "Approve":
                clicked.add(message["ts"])
                payload = block_actions_payload(
                    message,
                    block_id,
                    button,
                    user="U0LEAD1",
                    channel="C0INCIDENT",
                    response_url=slack.new_response_url("C0INCIDENT", "U0LEAD1"),
                    trigger_id=slack.new_trigger_id(),
                )
                chat.send(interactivity_body(payload))


def run(time_scale: float, report: Report) -> None:
    azure = AzureSim(scenario="seed", time_scale=time_scale)  # ARM's documented buckets, on real time
    for n in range(1, SYNCS + 1):
        resources.make_group(azure, SUB2, f"SNAPB{n}", "uksouth")
    add_versions(azure)
    azure.start()
    prepare_dr(azure)  # EntraDR exists (capacity 0), so `scale dr 2` has a scale set
    slack = SlackSim(team_id="T0AVDOPS", bot_token=BOT_TOKEN, rate_limits=True)
    slack.start()
    work = workdir("bench-burst-")
    bot = BotProcess(
        bot_env(work, slack.url, arm=azure.url, ca=azure.ca_path, config_text=config_text()), work
    )
    try:
        bot.start()
        time.sleep(2.0)
        rest_kb = bot.rss_kb()
        arm_start, slack_start = len(azure.journal), len(slack.calls)
        chat = Chat(bot.url, slack, SECRET)
        t0 = time.monotonic()
        for line in commands():
            if chat.slash(line, user="U0OPS1").status != 200:
                raise RuntimeError(f"{line}: HTTP error")
        typed = time.monotonic() - t0
        store = Store(str(work / "avd.db"))
        clicked: set[str] = set()
        deadline = time.monotonic() + 400
        rows: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            approve_new_cards(chat, slack, clicked)
            rows = list(
                store.db.query(
                    "select id, kind, status, error, created_at, started_at, finished_at from jobs"
                )
            )
            if len(rows) == 20 and all(r["status"] in TERMINAL for r in rows):
                break
            time.sleep(0.2)
        ended = time.monotonic() - t0
        quiet_since = time.monotonic()
        seen = len(slack.calls)
        while time.monotonic() - quiet_since < 12 and time.monotonic() < deadline:
            time.sleep(0.5)
            if len(slack.calls) != seen:
                seen, quiet_since = len(slack.calls), time.monotonic()
        peak_kb = bot.hwm_kb()
        store.close()
    finally:
        bot.stop()
        slack.stop()
        azure.stop()
    arm = azure.journal[arm_start:]
    calls = slack.calls[slack_start:]
    updates: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        if call.method == "chat.update" and call.status == 200:
            updates[str(call.args.get("ts"))].append(call.at)
    done = sum(1 for r in rows if r["status"] == "done")
    for r in rows:
        if r["status"] != "done":
            print(f"  job {r['id']} ({r['kind']}) ended {r['status']}: {r['error']}")
    print(
        f"burst: {len(rows)} jobs ({dict((k, sum(1 for r in rows if r['kind'] == k)) for k in {r['kind'] for r in rows})})"
        f", typed in {typed:.2f} s, all ended after {ended:.1f} s; {len(arm)} ARM requests, {len(calls)} Slack calls"
    )
    for kind in sorted({str(r["kind"]) for r in rows}):
        spans = [
            (
                _secs(r["started_at"]) - _secs(r["created_at"]),
                _secs(r["finished_at"]) - _secs(r["started_at"]),
            )
            for r in rows
            if r["kind"] == kind and r["started_at"] and r["finished_at"]
        ]
        if spans:
            print(
                f"  {kind:15} {len(spans):>2} jobs: waited {max(w for w, _ in spans):5.1f} s at most before starting"
                f" (approval, queue), ran {min(r for _, r in spans):5.1f}..{max(r for _, r in spans):5.1f} s"
            )
    report.add(figure("jobs created by the burst", len(rows), "", at_least=20))
    report.add(figure("jobs done", done, "", at_least=20))
    report.add(figure("Slack 429 answers", sum(1 for c in calls if c.status == 429), "", at_most=0))
    report.add(
        figure(
            "ARM 429 answers",
            sum(1 for e in arm if e.status == 429),
            "",
            at_most=0,
            note=f"{len(arm)} ARM requests",
        )
    )
    per_card = max((max_in_window(t) for t in updates.values()), default=0)
    report.add(
        figure(
            "chat.update per card per minute (max)",
            per_card,
            "",
            at_most=6,
            note="the bot edits a card at most every 10 s",
        )
    )
    report.add(
        figure(
            "chat.update per minute, all cards (max)",
            max_in_window([t for v in updates.values() for t in v]),
            "",
            at_most=50,
            note="Slack Tier 3",
        )
    )
    report.add(figure("burst: first command to last job end", ended, "s"))
    report.add(figure("bot RSS at rest before the burst", rest_kb / 1024, "MiB"))
    report.add(
        figure(
            "bot peak RSS (VmHWM) over the burst",
            peak_kb / 1024,
            "MiB",
            at_most=512,
            note="avd-bot serve child process, /proc/PID/status",
        )
    )
    shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=30.0, help="ARM simulator speed-up")
    add_json_option(parser)
    args = parser.parse_args(argv)
    print(f"20-job burst, ARM time scale {args.time_scale:g}; {machine()}")
    report = Report("20-job burst (bench/burst.py)")
    run(args.time_scale, report)
    return report.emit(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
