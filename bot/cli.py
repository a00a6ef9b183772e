"""``avd-bot``: serve, socket, sandbox, sim, audit verify, check.

Commands that run the bot first print every settings problem (``Settings.problems()``) and exit 2
when there is any.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from bot.config.settings import Settings, load_settings
from bot.runtime import Capability
from bot.storage import audit

log = logging.getLogger("avd")


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    audit.install_log_redaction()


def settings_or_exit(mode: str) -> Settings:
    from bot.roles import env_problems

    settings = load_settings(mode=mode)
    problems = settings.problems() + env_problems()
    if problems:
        sys.stderr.write("avd-bot cannot start:\n" + "".join(f"  - {p}\n" for p in problems))
        raise SystemExit(2)
    return settings


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def finish(signum: int, frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, finish)
    return stop


def run_worker(runtime: Any, stop: threading.Event) -> int:
    """The worker role: the scheduler (jobs, schedules, resume, sweep) and the inbox's claim loop; no listener."""
    from bot.roles import Worker, lease_from_env

    runtime.start()
    worker = Worker(runtime, lease=lease_from_env()).start()
    log.info("avd-bot worker %s running (simulated Azure: %s)", worker.name, runtime.simulated_azure)
    sys.stdout.write(f"avd-bot worker {worker.name} running\n")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        worker.stop()
        runtime.stop()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.app import build_app
    from bot.roles import start_all
    from bot.slack.server import serve_runtime

    settings = settings_or_exit("serve")
    runtime = build_app(settings, role=args.role, **args.build)
    stop = stop_on_signals()
    if args.role == "worker":
        return run_worker(runtime, stop)
    server = serve_runtime(runtime, host=args.host, port=args.port)
    if args.role == "all":  # the web role runs no scheduler: no jobs, no schedules, no resume, no sweep
        start_all(runtime)
    server.start()
    log.info(
        "avd-bot serving on %s/slack/events (role %s, simulated Azure: %s)",
        server.url,
        args.role,
        settings.simulated_azure,
    )
    sys.stdout.write(f"avd-bot serving on {server.url}\n")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        runtime.stop()
    return 0


# apps.connections.open errors -> what to do about SLACK_APP_TOKEN
SOCKET_HINTS = {
    "not_allowed_token_type": "it is not an app-level token: Socket Mode needs the xapp- token with "
    "connections:write (Basic Information > App-Level Tokens), not the xoxb- bot token",
    "invalid_auth": "Slack does not know it: generate a new app-level xapp- token with connections:write",
    "not_authed": "it is empty: set the app-level xapp- token with connections:write",
    "token_revoked": "it was revoked: generate a new app-level xapp- token with connections:write",
}


class SocketStartError(Exception):
    """Socket Mode could not connect; the message names SLACK_APP_TOKEN or SLACK_API_URL and what to do."""


def open_socket(runtime: Any, app_token: str, *, ping_interval: float = 10.0) -> Any:
    """Connect ``runtime.app`` over Socket Mode and return the connected ``SocketModeHandler``.

    apps.connections.open goes through ``runtime.client`` (so ``SLACK_API_URL`` applies, e.g. a double on
    loopback); a refused token or an unreachable API raises ``SocketStartError``. ``ping_interval`` is also
    how often the client checks its link and reopens a closed one (Bolt's default, 10 s).
    """
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.errors import SlackApiError

    handler = SocketModeHandler(
        runtime.app, app_token, web_client=runtime.client, ping_interval=ping_interval
    )
    try:
        handler.connect()  # type: ignore[no-untyped-call]
    except SlackApiError as err:
        handler.close()  # type: ignore[no-untyped-call]
        code = str(err.response.get("error") or "unknown_error")
        hint = SOCKET_HINTS.get(code, "check the app-level token and Slack's status")
        raise SocketStartError(
            f"SLACK_APP_TOKEN was refused by apps.connections.open ({code}): {hint}."
        ) from None
    except OSError as err:
        handler.close()  # type: ignore[no-untyped-call]
        raise SocketStartError(
            f"cannot reach SLACK_API_URL={runtime.client.base_url} for apps.connections.open "
            f"({type(err).__name__}: {err})"
        ) from None
    return handler


def cmd_socket(args: argparse.Namespace) -> int:
    from bot.app import build_app
    from bot.roles import start_all

    settings = settings_or_exit("socket")
    runtime = build_app(settings, role=args.role, **args.build)
    stop = stop_on_signals()
    if args.role == "worker":  # workers take requests from the inbox, never from a socket
        return run_worker(runtime, stop)
    if args.role == "all":
        start_all(runtime)
    handler = None
    try:
        try:
            handler = open_socket(runtime, settings.slack_app_token)
        except SocketStartError as err:
            sys.stderr.write(f"avd-bot cannot start: {err}\n")
            return 2
        log.info("avd-bot connected over Socket Mode (simulated Azure: %s)", settings.simulated_azure)
        sys.stdout.write("avd-bot connected over Socket Mode\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        if handler is not None:
            handler.close()
        runtime.stop()
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from bot import sandbox

    if args.log_level == "INFO":  # keep the console readable; problems still show
        logging.getLogger().setLevel(logging.WARNING)
    return sandbox.run(args.script, json_mode=args.json, time_scale=args.time_scale)


def cmd_sim(args: argparse.Namespace) -> int:
    rest = list(args.rest)
    if args.port is not None:
        rest += ["--port", str(args.port)]
    if args.kind == "azure":
        if args.time_scale is not None:
            rest += ["--time-scale", str(args.time_scale)]
        from sim import azure as sim_azure

        return int(sim_azure.main(rest) or 0)
    from sim import slack as sim_slack

    return int(sim_slack.main(rest) or 0)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from bot.storage import is_postgres_url, open_store

    path = args.db or os.environ.get("AVD_DB") or "avd.db"
    key = os.environ.get("AVD_AUDIT_KEY", "")
    if args.file:
        with open(args.file, encoding="utf-8") as fh:
            data = json.load(fh)
        if not key:
            sys.stderr.write("an export is verified with the audit key: set AVD_AUDIT_KEY\n")
            return 2
        found = audit.verify_export(data, key)
        for line in found:
            sys.stdout.write(f"audit export BROKEN: {line}\n")
        if not found:
            sys.stdout.write(f"audit export intact and signed: {len(data.get('rows') or [])} rows\n")
        return 1 if found else 0
    if not is_postgres_url(path) and not os.path.exists(path):
        sys.stderr.write(f"no database at {path} (set AVD_DB or pass --db)\n")
        return 2
    store = open_store(path)
    try:
        problems = sorted(audit.verify(store, key or None), key=lambda p: p.row_id)
        if problems:
            first = problems[0]
            sys.stdout.write(f"audit chain BROKEN at row {first.row_id}: {first.message}\n")
            for p in problems[1:]:
                sys.stdout.write(f"  also {p}\n")
            return 1
        keyed, total = audit.keyed_rows(store)
        proof = (
            f"{keyed} of them keyed and checked with AVD_AUDIT_KEY"
            if key
            else "hashes only: set AVD_AUDIT_KEY to check the keyed MACs"
        )
        sys.stdout.write(f"audit chain intact: {total} rows ({proof})\n")
        return 0
    finally:
        store.close()


def cmd_audit_export(args: argparse.Namespace) -> int:
    from bot.storage import is_postgres_url, open_store

    path = args.db or os.environ.get("AVD_DB") or "avd.db"
    key = os.environ.get("AVD_AUDIT_KEY", "")
    if not key:
        sys.stderr.write("an export is signed with the audit key: set AVD_AUDIT_KEY\n")
        return 2
    if not is_postgres_url(path) and not os.path.exists(path):
        sys.stderr.write(f"no database at {path} (set AVD_DB or pass --db)\n")
        return 2
    store = open_store(path)
    try:
        data = audit.export(store, key)
    finally:
        store.close()
    with open(args.file, "w", encoding="utf-8") as fh:
        json.dump(data, fh, sort_keys=True, indent=1)
    sys.stdout.write(
        f"wrote {len(data['rows'])} rows to {args.file}, signed; `avd-bot audit verify --file` checks it\n"
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    settings = load_settings(mode=args.mode)
    problems = settings.problems()
    for p in problems:
        sys.stdout.write(f"- {p}\n")
    if not problems:
        sys.stdout.write(f"settings OK ({settings.config_path}, {len(settings.config.sites)} sites)\n")
    return 2 if problems else 0


def cmd_snapshots(args: argparse.Namespace) -> int:
    from bot import snapshot_cli

    return int(snapshot_cli.main(list(args.rest)))


ROLE_HELP = (
    "all (default): ack and work in one process; web: verify, authorize, ack and record the work in the"
    " database; worker: no listener, claims that work, plans, posts cards and runs jobs"
)


def role(value: str) -> str:
    from bot.runtime import ROLES

    if value not in ROLES:
        raise argparse.ArgumentTypeError(f"unknown role {value!r}: use web, worker or all")
    return value


def add_role(p: argparse.ArgumentParser) -> None:
    p.add_argument("--role", type=role, default="all", metavar="{web,worker,all}", help=ROLE_HELP)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="avd-bot", description="AVD site availability and DR from Slack.")
    p.add_argument("--log-level", default=os.environ.get("AVD_LOG_LEVEL", "INFO"), help="logging level")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="HTTP mode: POST /slack/events, GET /healthz")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=3000, help="port (default 3000; 0 picks a free one)")
    add_role(serve)
    serve.set_defaults(func=cmd_serve)

    sock = sub.add_parser("socket", help="Socket Mode (needs SLACK_APP_TOKEN)")
    add_role(sock)
    sock.set_defaults(func=cmd_socket)

    sandbox = sub.add_parser("sandbox", help="simulators + bot in one process, with a console")
    sandbox.add_argument("--script", help="replay this file of console lines and print the transcript")
    sandbox.add_argument("--json", action="store_true", help="print the transcript as JSON lines")
    sandbox.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="simulated Azure speed-up (default 120; 600 with --script or piped input)",
    )
    sandbox.set_defaults(func=cmd_sandbox)

    sim = sub.add_parser("sim", help="run one double alone: prints a JSON line with its URL")
    sim.add_argument("kind", choices=("azure", "slack"))
    sim.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    sim.add_argument("--time-scale", type=float, default=None, help="Azure simulator speed-up (default 120)")
    sim.add_argument("rest", nargs=argparse.REMAINDER, help="further options for the double")
    sim.set_defaults(func=cmd_sim)

    aud = sub.add_parser("audit", help="the audit trail")
    aud_sub = aud.add_subparsers(dest="audit_command", required=True)
    verify = aud_sub.add_parser(
        "verify",
        help="check the SHA-256 chain (and the MACs with AVD_AUDIT_KEY); exit 1 naming the first broken row",
    )
    verify.add_argument("--db", help="SQLite file or postgresql:// URL (default: AVD_DB or avd.db)")
    verify.add_argument("--file", help="verify a signed export instead of the database (needs AVD_AUDIT_KEY)")
    verify.set_defaults(func=cmd_audit_verify)
    exp = aud_sub.add_parser("export", help="write every row to FILE, signed with AVD_AUDIT_KEY")
    exp.add_argument("file")
    exp.add_argument("--db", help="SQLite file or postgresql:// URL (default: AVD_DB or avd.db)")
    exp.set_defaults(func=cmd_audit_export)

    snaps = sub.add_parser(
        "snapshots", help="snapshot replication from the command line (cron, automation)", add_help=False
    )
    snaps.add_argument("rest", nargs=argparse.REMAINDER, help="e.g. sync PROFILE [--dry-run] [--copies-only]")
    snaps.set_defaults(func=cmd_snapshots)

    check = sub.add_parser("check", help="print every settings problem; exit 2 if any")
    check.add_argument("--mode", default="serve", choices=("serve", "socket", "sandbox"))
    check.set_defaults(func=cmd_check)
    return p


def main(argv: list[str] | None = None, *, capabilities: Sequence[Capability] | None = None) -> int:
    """``avd-bot``; ``capabilities`` replaces the product's table for ``serve`` and ``socket`` (tests, benches)."""
    args = parser().parse_args(argv)
    args.build = {} if capabilities is None else {"capabilities": tuple(capabilities)}
    setup_logging(args.log_level)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
