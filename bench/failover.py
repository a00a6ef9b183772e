"""Wall time of a failover vs the critical path of the simulated Azure operations it waits on, same run.

One in-process run: the ARM simulator (seed scenario, DR prepared through the SDK), the Slack double and the
real bot (``build_app`` + WSGI server); ``/avd failover start`` approved by a second person. Measured:

* wall = the failover's recovery time (first step start to the last Azure step's end, from the steps table);
* critical path = the grace period + the DR scale-out as the simulator ran it (the PATCH's virtual time to the
  last of the N session hosts registering, divided by the time scale);
* ARM requests by step (the simulator's journal, sampled at each step boundary; monitor polls included).

Goal: wall / critical <= 1.02.

    .venv/bin/python bench/failover.py [--time-scale 30] [--grace 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Report, add_json_option, figure, machine  # noqa: E402
from sim.azure.scenarios import prepare_dr  # noqa: E402
from sim.slack import SlackSim  # noqa: E402
from tests.kit import BOT_TOKEN, SIGNING_SECRET, Chat, start_bot  # noqa: E402
from tests.kit.failover import failover_config, make_sim  # noqa: E402

AZURE_STEPS_END = "dr-hosts-available"


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def run(time_scale: float, grace: int) -> dict[str, Any]:
    sim = make_sim(time_scale)
    prepare_dr(sim)
    slack = SlackSim(team_id="T0AVDOPS", bot_token=BOT_TOKEN)
    slack.start()
    work = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    cfg = work / "failover.toml"
    cfg.write_text(failover_config(grace=grace, timeout=5), encoding="utf-8")
    bot = start_bot(work, slack.url, arm=sim.url, ca=sim.ca_path, AVD_CONFIG=str(cfg))
    store = bot.runtime.store
    try:
        chat = Chat(bot.url, slack, SIGNING_SECRET)
        chat.slash("/avd failover start dr", user="U0OPS1")
        chat.wait_for(
            lambda: list(store.db.query("select 1 from approvals where message_ts is not null")), 10
        )
        chat.click("Approve", user="U0LEAD1")
        requests: dict[str, int] = {}
        seen: set[str] = set()
        start_journal = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            steps = list(store.db.query("select name, status from steps where job_id = 1 order by idx"))
            if start_journal is None and any(s["status"] != "pending" for s in steps):
                start_journal = len(sim.journal)
            for s in steps:
                if s["status"] == "done" and s["name"] not in seen:
                    seen.add(s["name"])
                    requests[s["name"]] = len(sim.journal)
            if all(s["status"] == "done" for s in steps):
                break
            time.sleep(0.002)
        rows = list(store.db.query("select * from steps where job_id = 1 order by idx"))
        first = seconds(rows[0]["started_at"])
        last = seconds(next(r for r in rows if r["name"] == AZURE_STEPS_END)["finished_at"])
        patch = next(e for e in sim.journal if e.method == "PATCH" and e.path.lower().endswith("/entradr"))
        hosts = sim.session_hosts("AVDDR", "EntraAuthDR")
        ready = max(seconds(h.properties["statusTimestamp"]) for h in hosts)
        critical = grace + (ready - seconds(patch.at)) / time_scale
        by_step, prev = {}, start_journal or 0
        for r in rows:
            count = requests.get(r["name"], prev)
            by_step[r["name"]] = count - prev
            prev = count
        return {"wall": last - first, "critical": critical, "requests": by_step}
    finally:
        bot.stop()
        slack.stop()
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=30.0)
    parser.add_argument("--grace", type=int, default=2)
    add_json_option(parser)
    args = parser.parse_args(argv)
    print(
        f"failover wall time vs critical path, time scale {args.time_scale:g}, grace {args.grace} s; {machine()}"
    )
    result = run(args.time_scale, args.grace)
    ratio = result["wall"] / result["critical"]
    print("ARM requests by step:")
    for name, count in result["requests"].items():
        print(f"  {name:22} {count}")
    report = Report("failover (bench/failover.py)")
    report.add(
        figure("failover wall time", result["wall"], "s", note=f"first step start to {AZURE_STEPS_END} end")
    )
    report.add(
        figure(
            "simulated Azure critical path",
            result["critical"],
            "s",
            note="grace + DR scale-out to hosts Available",
        )
    )
    report.add(figure("failover wall / critical path", ratio, "x", at_most=1.02))
    return report.emit(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
