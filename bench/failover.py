"""Recovery time of a failover against its physical limit, the graph plan beside the sequential one, same run.

Two in-process runs, one after the other: the ARM simulator (seed scenario, DR prepared through the SDK), the
Slack double and the real bot (``build_app`` + WSGI server); ``/avd failover start`` approved by a second person.
The first runs the product's plan (DR's scale-out and host wait beside the primary's drain, grace and log-off),
the second the same steps as a line (``tests.kit.failover_line``: the failover before graphs). The seed's timings
are scaled by the time scale: DR's session hosts boot in about 6m40s in the simulator (13.4 s at 30x; the seed says
about 5 minutes), and the grace period is by default the same (``--grace``), so a sequential plan takes about twice
the limit.

Measured from the steps table and the simulator, per run:

* recovery time = the end of the checks (the later of the DR preflight and the primary probe) to the later of "users signed out" (``log-off-users`` end) and "DR
  capacity Available" (``dr-hosts-available`` end): everything after the checks;
* the limit = max(grace + log-off, DR boot): the grace period plus the log-off step's own duration, and the DR
  scale-out as the simulator ran it (the PATCH's virtual time to the last of the N hosts registering, divided
  by the time scale);
* the RTO figures the job reports (DR capacity Available, users signed out, outage; from the approval);
* ARM requests by step (the simulator's journal, sampled at each step's end, so a step is charged with what both
  branches sent since the previous end; monitor polls included).

Goal: graph recovery time / limit <= 1.05; the sequential plan's ratio is printed beside it (about 2x).

    .venv/bin/python bench/failover.py [--time-scale 30] [--grace SECONDS] [--json FILE]
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
from bot.capabilities import CAPABILITIES  # noqa: E402
from bot.engine.registry import overlay  # noqa: E402
from sim.azure.scenarios import prepare_dr  # noqa: E402
from sim.slack import SlackSim  # noqa: E402
from tests.kit import BOT_TOKEN, SIGNING_SECRET, Chat, start_bot  # noqa: E402
from tests.kit.failover import failover_config, make_sim  # noqa: E402
from tests.kit.failover_line import CAPABILITY as LINE  # noqa: E402

# DR's session hosts come up in about 5 minutes (the seed); the simulator's take about 6m40s of virtual time (13.4 s
# at 30x), which the default grace period matches so that grace and boot are equal
DR_BOOT_SECONDS = 400


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def run(time_scale: float, grace: int, *, sequential: bool) -> dict[str, Any]:
    sim = make_sim(time_scale)
    prepare_dr(sim)
    slack = SlackSim(team_id="T0AVDOPS", bot_token=BOT_TOKEN)
    slack.start()
    work = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    cfg = work / "failover.toml"
    cfg.write_text(failover_config(grace=grace, timeout=5), encoding="utf-8")
    table = overlay(CAPABILITIES, LINE) if sequential else CAPABILITIES
    bot = start_bot(work, slack.url, arm=sim.url, ca=sim.ca_path, AVD_CONFIG=str(cfg), capabilities=table)
    store = bot.runtime.store
    try:
        chat = Chat(bot.url, slack, SIGNING_SECRET)
        chat.slash("/avd failover start dr", user="U0OPS1")
        chat.wait_for(
            lambda: list(store.db.query("select 1 from approvals where message_ts is not null")), 10
        )
        chat.click("Approve", user="U0LEAD1")
        requests: dict[str, int] = {}
        start_journal = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            steps = list(store.db.query("select name, status from steps where job_id = 1 order by idx"))
            if start_journal is None and any(s["status"] != "pending" for s in steps):
                start_journal = len(sim.journal)
            for s in steps:
                if s["status"] == "done" and s["name"] not in requests:
                    requests[s["name"]] = len(sim.journal)
            if all(s["status"] == "done" for s in steps):
                break
            time.sleep(0.002)
        rows = {r["name"]: r for r in store.db.query("select * from steps where job_id = 1 order by idx")}
        run = next(iter(store.db.query("select * from dr_runs where job_id = 1")))
        began = max(seconds(rows[n]["finished_at"]) for n in ("dr-preflight", "primary-probe"))
        ended = max(seconds(rows[n]["finished_at"]) for n in ("log-off-users", "dr-hosts-available"))
        log_off = seconds(rows["log-off-users"]["finished_at"]) - seconds(rows["log-off-users"]["started_at"])
        patch = next(e for e in sim.journal if e.method == "PATCH" and e.path.lower().endswith("/entradr"))
        hosts = sim.session_hosts("AVDDR", "EntraAuthDR")
        boot = (max(seconds(h.properties["statusTimestamp"]) for h in hosts) - seconds(patch.at)) / time_scale
        by_step, prev = {}, start_journal or 0
        for name in sorted(requests, key=requests.__getitem__):
            by_step[name] = requests[name] - prev
            prev = requests[name]
        return {
            "recovery": ended - began,
            "limit": max(grace + log_off, boot),
            "boot": boot,
            "log_off": log_off,
            "figures": {k: run[k] for k in ("to_capacity", "signed_out", "outage")},
            "requests": by_step,
        }
    finally:
        bot.stop()
        slack.stop()
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=30.0)
    parser.add_argument("--grace", type=int, default=None, help="default: the seed's DR boot, scaled")
    add_json_option(parser)
    args = parser.parse_args(argv)
    grace = args.grace if args.grace is not None else round(DR_BOOT_SECONDS / args.time_scale)
    print(
        f"failover recovery time vs its limit, time scale {args.time_scale:g}, grace {grace} s; {machine()}"
    )
    graph = run(args.time_scale, grace, sequential=False)
    line = run(args.time_scale, grace, sequential=True)
    for label, result in (("graph", graph), ("sequential", line)):
        fig = result["figures"]
        print(
            f"{label:10} recovery {result['recovery']:.2f} s, limit {result['limit']:.2f} s (DR boot "
            f"{result['boot']:.2f} s, log-off {result['log_off']:.2f} s); figures from approval: DR Available "
            f"{fig['to_capacity']:.2f} s, signed out {fig['signed_out']:.2f} s, outage {fig['outage']:.2f} s"
        )
    print("ARM requests by step (graph plan, in the order the steps finished):")
    for name, count in graph["requests"].items():
        print(f"  {name:22} {count}")
    report = Report("failover (bench/failover.py)")
    report.add(
        figure(
            "failover recovery time (graph)",
            graph["recovery"],
            "s",
            note="checks' end to both branches' end",
        )
    )
    report.add(figure("limit: max(grace + log-off, DR boot)", graph["limit"], "s"))
    report.add(figure("graph recovery time / limit", graph["recovery"] / graph["limit"], "x", at_most=1.05))
    report.add(
        figure(
            "sequential recovery time / limit",
            line["recovery"] / line["limit"],
            "x",
            note="the plan before graphs",
        )
    )
    report.add(
        figure(
            "user-visible outage (graph)", graph["figures"]["outage"], "s", note="0 when DR was ready first"
        )
    )
    report.add(figure("user-visible outage (sequential)", line["figures"]["outage"], "s"))
    return report.emit(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
