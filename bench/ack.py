"""Ack latency of `/avd help`, `/avd status`, `/avd failover start` and an Approve click: the real `avd-bot serve`
vs a bare Bolt app that only acks, at 1 and 20 concurrent requests.

Processes: the bot (``avd-bot serve``, pointed at the doubles), the bare app (``bot.slack.server.BotServer`` with the
same listener pool size), the doubles (Slack + the ARM simulator, seed scenario, ARM throttling off here: the
burst benchmark measures throttling) and this client (fresh connection per request). Rounds alternate bot and
bare, swapping who goes first; before each round the three server processes are left to go quiet, so the bot's
after-ack work from one round (status reads, plans) does not land on the other server's round. Every Approve
click is on a fresh, valid approval (``bench/approve_kit.py``). Reported: pooled p50/p99 per cell, the ratio
bot/bare of the pooled p99 and the median of the per-round p99 ratios (goal <= 1.1), and the bot's worst
latency (goal: far from Slack's 3 s; <= 1 s).

    .venv/bin/python bench/ack.py [--rounds 8] [--n1 30] [--n20 200] [--roles all|split|both]
        [--inbox-ack commit|queue] [--db sqlite|postgres] [--standby none|sync|async] [--worker-nice N]
        [--doubles-nice N]
        [--pin WEB_CPUS:REST_CPUS] [--json FILE]

``--roles split`` measures the roles instead of one ``avd-bot serve`` ("bot"): ``avd-bot serve --role web``
("web") plus one ``--role worker`` on the same SQLite file; the web process acks and records each request in
the inbox (``--inbox-ack``: committed before the ack, or queued), the worker does the rest. ``--roles both``
runs the two bots, each on its own database, in the same interleaved rounds as the bare app, so their ratios
are measured under the same load. The quiet wait before each round covers every process.

``--db postgres`` gives each bot a database on a PostgreSQL server this run starts (durable: fsync and
synchronous commit on, as in production; ``tests/kit/postgres.py``), ``--standby sync|async`` a streaming
standby of it too (``tests/kit/region.py``: ``sync`` is the setting docs/deploy.md recommends, every commit
flushed on the standby before it returns). ``--pin WEB:REST`` keeps the servers Slack talks to (bot, web, bare)
on the CPUs ``WEB`` and everything else they rely on (the worker, the doubles, PostgreSQL, and this client) on
``REST``: the split as deployed, the web process on a host of its own, its database and Slack and Azure
elsewhere. On a machine with two CPUs, ``--worker-nice 19 --doubles-nice 19`` lets PostgreSQL and the client go
first on the shared one, as they would on hosts of their own.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import approve_kit  # noqa: E402
from bench.harness import (  # noqa: E402
    SECRET,
    BotProcess,
    DoublesProcess,
    Report,
    add_json_option,
    bot_env,
    cpu_seconds,
    exit_on_sigterm,
    figure,
    machine,
    pct,
    wait_quiet,
    workdir,
)
from bot.slack.cards import APPROVE  # noqa: E402
from sim.slack.chat import block_actions_payload, interactivity_body, signed_request, slash_command_body  # noqa: E402

TEXTS = {"help": "help", "status": "status", "failover start": "failover start dr"}
CASES = ("help", "status", "failover start", "approve")
LEAD, OPS, CHANNEL = "U0LEAD1", "U0OPS1", "C0INCIDENT"
TRIGGERS = itertools.count(
    1
)  # Slack's trigger_id is unique per interaction; the bot refuses a repeat as a replay


def trigger() -> str:
    return f"{next(TRIGGERS)}.{int(time.time())}.bench"


def serve_bare(slack_url: str) -> int:
    """Child process: the bare Bolt app on the bot's server class; prints its URL, serves until stdin closes."""
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.app import LISTENER_THREADS
    from bot.slack.server import BotServer

    app = App(
        name="bare",
        client=WebClient(token="xoxb-sandbox-token", base_url=slack_url),
        signing_secret=SECRET,
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS),
    )

    @app.command("/avd")
    def only_ack(ack: Ack) -> None:
        ack()

    @app.action(APPROVE)
    def click_ack(ack: Ack) -> None:
        ack()

    server = BotServer(app).start()
    print(json.dumps({"url": server.url}), flush=True)
    sys.stdin.read()
    server.stop()
    return 0


def pin(pid: int, cpus: str) -> None:
    """Keep a running process, its threads and its children (a PostgreSQL postmaster's backends, and the ones
    it forks later) on ``cpus``."""
    if not cpus:
        return
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    for each in (pid, *map(int, children.split())):
        subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(each)], capture_output=True, check=False)


@contextlib.contextmanager
def databases(kind: str, standby: str, names: list[str], cpus: str) -> Iterator[tuple[dict[str, str], str]]:
    """One ``AVD_DB`` per bot: a SQLite file in its folder (``{}``), or a database each on one durable
    PostgreSQL server (with a streaming standby when ``standby`` is ``sync``/``async``) kept to ``cpus``;
    yields (name -> URL, a line saying what it is)."""
    if kind == "sqlite":
        yield {}, "SQLite (WAL) per bot"
        return
    from tests.kit.postgres import PgServer, durable
    from tests.kit.region import pair

    with contextlib.ExitStack() as stack:
        if standby == "none":
            primary = stack.enter_context(PgServer.started(**durable()))
            servers = [primary]
        else:
            both = stack.enter_context(pair(sync=standby == "sync", durable=True))
            primary, servers = both.primary, [both.primary, both.standby]
        for server in servers:
            pidfile = server.data / "postmaster.pid"
            pin(int(pidfile.read_text(encoding="utf-8").split()[0]), cpus)
        version = str(primary.admin("show server_version")[0][0])
        urls = {name: primary.create_database(f"bench_{name}") for name in names}
        yield urls, f"PostgreSQL {version}, durable, standby {standby}"


def one_request(url: str, body: str) -> float:
    parsed = urlparse(url)
    headers = signed_request(SECRET, body)
    start = time.perf_counter()
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=10)
    try:
        conn.request("POST", "/slack/events", body=body.encode(), headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status} from {url}")
    finally:
        conn.close()
    return time.perf_counter() - start


def measure(url: str, bodies: list[str], concurrency: int) -> list[float]:
    if concurrency == 1:
        return [one_request(url, b) for b in bodies]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(lambda b: one_request(url, b), bodies))


class Bodies:
    """Request bodies per case: a fresh response_url each, and a fresh approval for each bot click."""

    def __init__(self, doubles: DoublesProcess, dbs: dict[str, str]) -> None:
        self.doubles, self.dbs = doubles, dbs  # server name -> its AVD_DB (bare: none)
        self.next_job = dict.fromkeys(dbs, 1)

    def make(self, case: str, n: int, server: str) -> list[str]:
        user = LEAD if case == "approve" else OPS
        urls = self.doubles.call("response_urls", channel=CHANNEL, user=user, n=n)
        if case != "approve":
            return [
                slash_command_body(
                    TEXTS[case], user=OPS, channel=CHANNEL, response_url=u, trigger_id=trigger()
                )
                for u in urls
            ]
        if server in self.dbs:
            pairs = approve_kit.seed_approvals(self.dbs[server], self.next_job[server], n)
            self.next_job[server] += n
        else:
            pairs = [(f"bare{k:07d}", f"1700000000.{k:06d}") for k in range(n)]
        out = []
        for (approval_id, ts), url in zip(pairs, urls, strict=True):
            button = {
                "action_id": APPROVE,
                "value": approval_id,
                "style": "primary",
                "text": {"type": "plain_text", "text": "Approve"},
            }
            payload = block_actions_payload(
                {"ts": ts, "text": "", "blocks": []},
                "engine:approval",
                button,
                user=LEAD,
                channel=CHANNEL,
                response_url=url,
                trigger_id=trigger(),
            )
            out.append(interactivity_body(payload))
        return out


def run_cell(
    urls: dict[str, str],
    make: Callable[[int, str], list[str]],
    pids: list[int],
    concurrency: int,
    rounds: int,
    n: int,
    front: dict[str, int] | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, list[float]], dict[str, float]]:
    """Interleaved rounds (the order rotates each round); returns pooled samples per server, per server other
    than ``bare`` the per-round p50 and p99 ratios server/bare, and the CPU seconds per request of each
    server's HTTP process (``front``: name -> pid) while its rounds ran."""
    names = list(urls)
    pooled: dict[str, list[float]] = {name: [] for name in names}
    bots = [name for name in names if name != "bare"]
    r50: dict[str, list[float]] = {name: [] for name in bots}
    r99: dict[str, list[float]] = {name: [] for name in bots}
    cpu = dict.fromkeys(names, 0.0)
    for r in range(rounds):
        k = r % len(names)
        order = names[k:] + names[:k]
        this: dict[str, list[float]] = {}
        for name in order:
            bodies = make(n, name)
            wait_quiet(pids)
            before = cpu_seconds(front[name]) if front else 0.0
            this[name] = measure(urls[name], bodies, concurrency)
            if front:
                cpu[name] += cpu_seconds(front[name]) - before
            pooled[name] += this[name]
        for name in bots:
            r50[name].append(pct(this[name], 0.5) / pct(this["bare"], 0.5))
            r99[name].append(pct(this[name], 0.99) / pct(this["bare"], 0.99))
    return pooled, r50, r99, {name: cpu[name] / max(1, len(pooled[name])) for name in names}


def report_cell(
    report: Report,
    case: str,
    concurrency: int,
    name: str,
    label: str,
    pooled: dict[str, list[float]],
    r50: list[float],
    r99: list[float],
) -> None:
    """Print and add the figures of one server against the bare app for one case and concurrency."""
    tag = f"{name}/bare"
    ratio99 = pct(pooled[name], 0.99) / pct(pooled["bare"], 0.99)
    ratio50 = pct(pooled[name], 0.5) / pct(pooled["bare"], 0.5)
    print(
        f"{case:>15} {concurrency:>4} {name[:3] + '/bare':>6} {ratio50:>8.3f} {ratio99:>8.3f}   per-round p99 "
        f"ratios {min(r99):.2f}..{max(r99):.2f}, median {statistics.median(r99):.3f}"
    )
    label = f"ack {case} c={concurrency}{label}"
    report.add(
        figure(f"{label} p99 ratio {tag}, pooled", ratio99, "x", at_most=1.1, note=f"n={len(pooled[name])}")
    )
    report.add(
        figure(
            f"{label} p99 ratio, median of rounds",
            statistics.median(r99),
            "x",
            at_most=1.1,
            note=f"{len(r99)} rounds, {min(r99):.2f}..{max(r99):.2f}",
        )
    )
    report.add(figure(f"{label} p50 ratio, median of rounds", statistics.median(r50), "x"))
    report.add(
        figure(
            f"{label} {name} worst latency",
            max(pooled[name]) * 1e3,
            "ms",
            at_most=1000,
            note=f"p99 {pct(pooled[name], 0.99) * 1e3:.1f} ms",
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds per cell")
    parser.add_argument("--n1", type=int, default=30, help="requests per server per round at concurrency 1")
    parser.add_argument(
        "--n20", type=int, default=200, help="requests per server per round at concurrency 20"
    )
    parser.add_argument(
        "--cases", default=",".join(CASES), help="comma-separated subset of " + ",".join(CASES)
    )
    parser.add_argument(
        "--roles",
        choices=("all", "split", "both"),
        default="all",
        help="all: one avd-bot serve (default); split: a --role web process and a --role worker process;"
        " both: the two, each on its own database, measured in the same rounds",
    )
    parser.add_argument(
        "--inbox-ack",
        choices=("commit", "queue"),
        default="commit",
        help="with --roles split/both: the web process acks once the inbox row is committed (default) or queued",
    )
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="each bot's AVD_DB: a SQLite file (default) or a database on a durable PostgreSQL server",
    )
    parser.add_argument(
        "--standby",
        choices=("none", "sync", "async"),
        default="none",
        help="with --db postgres: a streaming standby (sync: commits wait for its flush, as docs/deploy.md recommends)",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=0,
        help="with --roles split/both: run the worker at this nice level (a worker sharing the web process's host)",
    )
    parser.add_argument(
        "--doubles-nice",
        type=int,
        default=0,
        help="run the Slack and ARM doubles at this nice level (with --pin they share a core with PostgreSQL and"
        " this client, which Slack and Azure do not)",
    )
    parser.add_argument(
        "--pin",
        metavar="WEB_CPUS:REST_CPUS",
        default="",
        help="keep the web-facing servers (bot, web, bare) on WEB_CPUS and the worker, the doubles and PostgreSQL"
        " on REST_CPUS (taskset -c lists, e.g. 0:1): the split as it runs on its own hosts",
    )
    parser.add_argument("--serve-bare", metavar="SLACK_URL", help=argparse.SUPPRESS)
    add_json_option(parser)
    args = parser.parse_args(argv)
    if args.serve_bare:
        return serve_bare(args.serve_bare)
    cases = [c for c in args.cases.split(",") if c]
    exit_on_sigterm()
    work = workdir("bench-ack-")
    front, _, back = args.pin.partition(":")
    pin(
        os.getpid(), back
    )  # this client too: the web-facing servers' CPUs are theirs alone, as on hosts of their own
    doubles = DoublesProcess(arm=True, arm_throttle_off=True, nice=args.doubles_nice)
    names = [n for n, roles in (("bot", ("all", "both")), ("web", ("split", "both"))) if args.roles in roles]
    stack = contextlib.ExitStack()
    dbs, db_line = stack.enter_context(databases(args.db, args.standby, names, back))
    servers: dict[str, list[BotProcess]] = {}  # bot name -> its processes (the first serves HTTP)
    labels: dict[str, str] = {}
    if "bot" in names:
        home = work / "all" if args.roles == "both" else work
        home.mkdir(exist_ok=True)
        env = bot_env(home, doubles.info["slack"], arm=doubles.info["arm"], ca=doubles.info["ca"])
        env.update({"AVD_DB": dbs["bot"]} if "bot" in dbs else {})
        servers["bot"] = [BotProcess(env, home, capabilities="bench.approve_kit", cpus=front)]
        labels["bot"] = ""
    if "web" in names:
        home = work / "split" if args.roles == "both" else work
        home.mkdir(exist_ok=True)
        env = bot_env(
            home,
            doubles.info["slack"],
            arm=doubles.info["arm"],
            ca=doubles.info["ca"],
            AVD_INBOX_ACK=args.inbox_ack,
        )
        env.update({"AVD_DB": dbs["web"]} if "web" in dbs else {})
        servers["web"] = [
            BotProcess(env, home, capabilities="bench.approve_kit", role="web", cpus=front),
            BotProcess(
                env, home, capabilities="bench.approve_kit", role="worker", nice=args.worker_nice, cpus=back
            ),
        ]
        niced = f", worker nice {args.worker_nice}" if args.worker_nice else ""
        pinned = f", pinned {args.pin}" if args.pin else ""
        pinned += f", doubles nice {args.doubles_nice}" if args.doubles_nice else ""
        labels["web"] = f" web+worker (ack on {args.inbox_ack}{niced}{pinned})"
    bare = subprocess.Popen(
        [
            *(["taskset", "-c", front] if front else []),
            sys.executable,
            __file__,
            "--serve-bare",
            doubles.info["slack"],
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    report = Report("ack latency (bench/ack.py)")
    try:
        for procs in servers.values():
            for proc in procs:
                proc.start()
        assert bare.stdout is not None
        urls = {name: procs[0].url for name, procs in servers.items()}
        urls["bare"] = json.loads(bare.stdout.readline())["url"]
        pids = [bare.pid, doubles.pid, *(p.pid for procs in servers.values() for p in procs)]
        front = {**{name: procs[0].pid for name, procs in servers.items()}, "bare": bare.pid}
        bodies = Bodies(doubles, {name: procs[0].env["AVD_DB"] for name, procs in servers.items()})
        shown = ", ".join(f"{name}:{labels[name]}" if labels.get(name) else name for name in urls)
        print(
            f"ack latency: {args.rounds} interleaved rounds per cell, {args.n1} (c=1) / {args.n20} (c=20) requests "
            f"per server per round; servers: {shown}; {db_line}; {machine()}"
        )
        print(
            f"{'case':>15} {'conc':>4} {'server':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}   CPU of its process"
        )
        for case in cases:
            for name in urls:  # warm up every server on this case
                measure(urls[name], bodies.make(case, 40, name), 5)
            for concurrency, n in ((1, args.n1), (20, args.n20)):

                def make(k: int, server: str, c: str = case) -> list[str]:
                    return bodies.make(c, k, server)

                pooled, r50, r99, cpu = run_cell(urls, make, pids, concurrency, args.rounds, n, front)
                for name in urls:
                    s = pooled[name]
                    print(
                        f"{case:>15} {concurrency:>4} {name:>6} {pct(s, 0.5) * 1e3:>8.2f} {pct(s, 0.99) * 1e3:>8.2f} "
                        f"{max(s) * 1e3:>8.2f}   CPU {cpu[name] * 1e3:.2f} ms/request"
                    )
                    label = labels.get(name, "")
                    report.add(
                        figure(
                            f"ack {case} c={concurrency}{label} {name} CPU per request", cpu[name] * 1e3, "ms"
                        )
                    )
                for name in r99:
                    report_cell(report, case, concurrency, name, labels[name], pooled, r50[name], r99[name])
    finally:
        if bare.stdin is not None:
            bare.stdin.close()
        bare.wait(timeout=30)
        if bare.stdout is not None:
            bare.stdout.close()
        for procs in servers.values():
            for proc in reversed(procs):
                proc.stop()
        doubles.stop()
        stack.close()
        shutil.rmtree(work, ignore_errors=True)
    return report.emit(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
