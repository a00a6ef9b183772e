"""``avd-bot sandbox --script examples/dr-walkthrough.txt --json``: the seed story end to end, no human."""

from __future__ import annotations

import json

from tests.kit.sandbox import REPO, run_sandbox

WALKTHROUGH = REPO / "examples" / "dr-walkthrough.txt"


def test_the_dr_walkthrough_runs_to_the_end() -> None:
    result = run_sandbox("--script", str(WALKTHROUGH), "--json", "--time-scale", "3000")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(e["ok"] for e in entries), [e for e in entries if not e["ok"]]

    def said(line: str) -> str:
        """Everything the bot answered to ``line`` (the last entry typed so)."""
        entry = [e for e in entries if e["line"] == line][-1]
        return "\n".join([entry.get("ack", "")] + [p.get("text", "") for p in entry.get("posts", [])])

    everything = "\n".join(said(e["line"]) for e in entries)
    assert "uksouth: Completed" in said("wait to uksouth) finished")
    assert "Approval needed: Create scale set EntraDR in uksouth (site dr)" in said("submit instances=0")
    assert "2 session host(s) Available" in everything
    failover = said("wait (Failover primary -> dr) finished")
    assert "Failover primary -> dr*: recovery time *" in failover
    assert "dr-hosts-available" in failover and "3 user(s) messaged" in failover
    # Azure Site Recovery, from avd.example.toml's dr site
    assert "Run recovery plan avd-personal: failover PrimaryToRecovery" in failover
    assert "UnplannedFailover job Succeeded" in failover
    failback = said("wait (Failback dr -> primary) finished")
    assert "Failback dr -> primary*: failback time" in failback
    for step in (
        "Commit the failover of recovery plan avd-personal",
        "failover RecoveryToPrimary",
        "Reprotect",
    ):
        assert step in failback
    final = [e for e in entries if e["line"] == "/avd status"][-1]
    status = "\n".join(p["text"] for p in final["posts"])
    assert "[green] *Image replica*: Win11MultiS/2026.0522.1719 in uksouth: Completed" in status
    assert "[green] *DR capacity*: EntraDR (VMSSDR, uksouth)" in status
    assert "trend over 2 drills" in status and "recovery time" in status
    assert "*approval approved* `job 8`" in said("/avd audit 10")
