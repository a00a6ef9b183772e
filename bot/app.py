"""The composition root: ``build_app(settings, capabilities=...)`` builds every client and wires the bot.

It creates the WebClient (``SLACK_API_URL``, rate-limit retries), the Bolt ``App`` (token checked with
``auth.test``, requests verified), the migrated ``Store``, the Azure clients, the (not yet started)
``BackgroundScheduler``, the clock, the capability registry (from the explicit table in
``bot.capabilities``), the job engine and its card writer, and returns them together as a ``Runtime``.
Sandbox mode is the same factory with other settings. Only the entry points (``bot.cli``, ``bot.sandbox``,
``bot.snapshot_cli``) import this module.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from azureops.clients import AzureClients
from bot.capabilities import CAPABILITIES
from bot.config.settings import Settings
from bot.engine import schedules
from bot.engine.registry import build_registry, check_complete
from bot.engine.runner import Engine
from bot.roles import InboxWriter, durable_from_env, records_before_ack
from bot.runtime import ROLES, Capability, Clock, ProgressSink, Runtime, utcnow
from bot.slack import actions, cards, listeners
from bot.slack.ackgate import AckGate
from bot.slack.authz import Authz, ReplayMemory
from bot.slack.progress import Progress
from bot.storage import Store, audit, jobs, open_store
from commands import Vocabulary

log = logging.getLogger(__name__)
LISTENER_THREADS = 8
# Bolt reads these from os.environ in App(); the bot passes everything explicitly instead.
_BOLT_ENV = (
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "SLACK_VERIFICATION_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
)


def build_web_client(settings: Settings) -> WebClient:
    return WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=2)],
    )


def build_vocab(settings: Settings) -> Vocabulary:
    cfg = settings.config
    return Vocabulary(
        sites={name: site.location for name, site in cfg.sites.items()},
        profiles=tuple(cfg.snapshot_profiles),
        scale_sets=tuple(dict.fromkeys(site.scale_set for site in cfg.sites.values())),
    )


def build_azure(settings: Settings) -> AzureClients:
    return AzureClients(settings.arm_endpoint, settings.ca_bundle or None)


@contextmanager
def _bolt_env_isolated() -> Iterator[None]:
    """Hide Bolt's environment variables while App() is built (SLACK_CLIENT_ID would switch it to OAuth)."""
    saved = {k: os.environ.pop(k) for k in _BOLT_ENV if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def card_writer(runtime: Runtime) -> Progress:
    """The engine's ``ProgressSink`` for Slack: one card per job, edited as the store changes."""
    store = runtime.store
    return Progress(
        runtime.client,
        lambda job_id, ts: cards.render_job(
            store, job_id, ts, now=runtime.clock(), simulated=runtime.simulated_azure
        ),
        lambda job_id, channel, ts, wall: jobs.record_card(store, job_id, channel, ts, wall),
        lambda job_id, channel, ts, wall: jobs.record_card_update(store, job_id, ts, wall),
        final=lambda job_id: cards.final_text(store, job_id, runtime.clock()),
    )


def build_app(
    settings: Settings,
    *,
    capabilities: Sequence[Capability] = CAPABILITIES,
    web_client: WebClient | None = None,
    clock: Clock | None = None,
    azure: AzureClients | None = None,
    store: Store | None = None,
    progress: ProgressSink | None = None,
    headless: bool = False,
    role: str = "all",
) -> Runtime:
    """Build the runtime. Nothing is started: call ``runtime.start()`` and serve ``runtime.app``.

    ``capabilities`` is the table of what the bot answers (tests and benchmarks pass their own); every
    operation must have exactly one handler. ``headless`` builds the same runtime for a command-line run
    (``avd-bot snapshots``): no ``auth.test``, no listeners, no start-up hooks, jobs run in the caller's thread.
    ``role`` (``bot.roles``): ``web`` records post-ack work in the inbox (``InboxWriter``) and runs no start-up
    hooks; ``worker`` runs that work through ``bot.roles.Worker``; ``all`` does both in this process: on
    PostgreSQL through the inbox too (``records_before_ack``), on SQLite in this process after the ack.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    for secret in (settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token):
        audit.register_secret(secret)
    audit.use_key(settings.audit_key)
    registry = build_registry(capabilities)
    check_complete(registry)
    client = web_client or build_web_client(settings)
    clock = clock or utcnow
    executor = ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="avd-listener")
    with _bolt_env_isolated():
        app = App(
            name="avd-ops",
            client=client,
            signing_secret=settings.slack_signing_secret,
            token_verification_enabled=not headless,
            request_verification_enabled=True,
            raise_error_for_unhandled_request=True,  # listeners.unhandled acks them instead of a 404
            # Listeners only ack and hand their work to Runtime.after_ack, so Bolt may run them on the request
            # thread and answer as soon as they return, instead of polling for the ack every 10 ms.
            process_before_response=True,
            oauth_settings=None,
            listener_executor=executor,
            logger=logging.getLogger("avd.bolt"),
        )
    if app.oauth_flow is not None:  # pragma: no cover - guarded by _bolt_env_isolated
        raise RuntimeError("Bolt switched to OAuth: unset SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
    store = store or open_store(settings.db_path)
    store.migrate()
    authz = Authz(settings.config.policy, client)
    replay = ReplayMemory(store)  # read the remembered interactions now, not during the first request
    runtime = Runtime(
        settings=settings,
        app=app,
        client=client,
        store=store,
        azure=azure if azure is not None else build_azure(settings),
        scheduler=BackgroundScheduler(timezone=UTC),
        clock=clock,
        authz=authz,
        vocab=build_vocab(settings),
        executor=executor,
        registry=registry,
        gate=AckGate(),
        replay=replay,
        on_stop=[replay.close],
        role=role,
    )
    if records_before_ack(role, store):
        writer = InboxWriter(store, durable=durable_from_env(), yield_to=runtime.gate.wait)
        runtime.defer = writer
        runtime.on_stop.insert(0, writer.close)
    sink = progress or card_writer(runtime)
    engine = Engine(runtime, sink, inline=headless)
    runtime.engine = engine
    runtime.on_stop.append(engine.leases.stop)  # the job-lease heartbeat stops before the store closes
    if headless:
        return runtime
    runtime.timers = schedules.install(engine, registry.timers)
    listeners.register(app, runtime)
    actions.register(app, runtime)
    if role == "web":  # the start-up hooks install schedules: the workers' business
        return runtime
    for on_start in registry.on_start:
        on_start(runtime)
    return runtime
