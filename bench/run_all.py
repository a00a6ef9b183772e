"""Run every benchmark (what ``make bench`` does), one after another, each in its own process, then print every
figure with its goal and PASS / MISS (``info``: a figure without a goal).

    .venv/bin/python bench/run_all.py [--only ack,burst] [--strict] [--json FILE]

Exit 0 when every script ran (a MISS is reported, not fatal: see docs/benchmarks.md for the noisy ones);
with ``--strict`` a MISS exits 1 too. A script that crashes always exits 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import Figure, machine  # noqa: E402

HERE = Path(__file__).resolve().parent
SCRIPTS = ("startup", "ack", "burst", "failover", "graph", "snapshots", "replicas")


def run_script(name: str, out_dir: Path) -> tuple[int, float, dict[str, object] | None]:
    """Run ``bench/<name>.py --json``; its output streams through. Returns (exit code, seconds, its figures)."""
    target = out_dir / f"{name}.json"
    start = time.monotonic()
    print(f"\n=== bench/{name}.py", flush=True)
    code = subprocess.call([sys.executable, str(HERE / f"{name}.py"), "--json", str(target)])
    took = time.monotonic() - start
    data = json.loads(target.read_text(encoding="utf-8")) if target.exists() else None
    return code, took, data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--only", default=",".join(SCRIPTS), help="comma-separated subset of " + ",".join(SCRIPTS)
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a figure misses its goal")
    parser.add_argument("--json", metavar="FILE", help="write every script's figures to FILE")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(SCRIPTS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    header = machine()
    print(f"make bench: {', '.join(names)}; {header}", flush=True)
    started = time.monotonic()
    results: dict[str, dict[str, object]] = {}
    crashed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        for name in names:
            code, took, data = run_script(name, Path(tmp))
            if code != 0 or data is None:
                crashed.append(name)
            results[name] = {"seconds": took, "exit": code, **(data or {"title": name, "figures": []})}
    total = time.monotonic() - started
    print(f"\n=== summary ({header})")
    verdicts: dict[str, int] = {"PASS": 0, "MISS": 0, "info": 0}
    for name in names:
        result = results[name]
        print(
            f"{result['title']}  [{float(str(result['seconds'])):.0f} s]"
            + ("  CRASHED" if name in crashed else "")
        )
        for raw in result["figures"]:  # type: ignore[attr-defined]
            fig = Figure(**raw)
            verdicts[fig.verdict] += 1
            print(fig.line())
    print(
        f"total {total:.0f} s; {verdicts['PASS']} PASS, {verdicts['MISS']} MISS, {verdicts['info']} info"
        + (f"; crashed: {', '.join(crashed)}" if crashed else "")
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": header, "seconds": total, "results": results}, indent=1), encoding="utf-8"
        )
    if crashed or (args.strict and verdicts["MISS"]):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
