"""``build_app(settings)``: the one place that builds every client and wires the Bolt app.

It creates the WebClient (``SLACK_API_URL``, rate-limit retries), the Bolt ``App`` (token checked with
``auth.test``, requests verified), the migrated ``Store``, the Azure clients, the (not yet started)
``BackgroundScheduler`` and the clock, and returns them together as a ``Runtime``. Sandbox mode is
the same factory with other settings.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot import audit
from bot.ackgate import AckGate
from bot.authz import Authz, close_replay_memory, operator_middleware
from bot.render import internal_error
from bot.settings import Settings
from bot.store import Store
from commands import Vocabulary, ops

if TYPE_CHECKING:
    from bot.listeners import CommandContext
    from bot.render import Reply

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Handler = Callable[["Runtime", "CommandContext", ops.Operation], "Reply | None"]
LISTENER_THREADS = 8
WORK_THREADS = 8
# Bolt reads these from os.environ in App(); the bot passes everything explicitly instead.
_BOLT_ENV = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_VERIFICATION_TOKEN", "SLACK_BOT_TOKEN",
             "SLACK_SIGNING_SECRET")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Everything a listener or job needs, built once by ``build_app``."""

    settings: Settings
    app: App
    client: WebClient
    store: Store
    azure: Any  # azureops.clients.AzureClients, or None when azureops is not available
    scheduler: BackgroundScheduler
    clock: Clock
    authz: Authz
    vocab: Vocabulary
    executor: ThreadPoolExecutor
    handlers: dict[type[ops.Operation], Handler] = field(default_factory=dict)
    require_operator: Callable[..., Any] | None = None
    extensions: dict[str, Any] = field(default_factory=dict)  # state the job engine hangs here
    # Answers from memory for the ack (``/avd status``: the last read, labelled with its time), op type -> the
    # serialized reply (``Reply.to_dict()``, computed once) or None; the handler still runs after the ack.
    ack_answers: dict[type[ops.Operation], Callable[[Runtime, ops.Operation], dict[str, Any] | None]] = field(
        default_factory=dict)
    # Post-ack work (audit writes, handlers, approval decisions) runs here, never on Bolt's listener
    # threads: those only ack, so a burst of slow answers cannot delay the next request's ack.
    workers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=WORK_THREADS, thread_name_prefix="avd-work"))
    gate: AckGate = field(default_factory=AckGate)  # the HTTP server counts requests; after_ack work yields

    @property
    def simulated_azure(self) -> bool:
        return self.settings.simulated_azure

    def start(self) -> None:
        if not self.scheduler.running:
            self.scheduler.start()

    def after_ack(self, fn: Callable[..., Any], *args: Any, respond: Callable[..., Any] | None = None) -> None:
        """Run ``fn(*args)`` on the work pool; an unexpected error is logged with an incident id and, when
        ``respond`` is given, the user is told that id (the same answer as Bolt's ``@app.error``)."""

        def run() -> None:
            self.gate.wait()  # acks of a burst first (at most AckGate.max_wait)
            try:
                fn(*args)
            except Exception as exc:  # noqa: BLE001 - the one catch-all for work after the ack
                incident = uuid.uuid4().hex[:8]
                log.error("incident %s: unhandled %s", incident, type(exc).__name__, exc_info=exc)
                if respond is not None:
                    try:
                        respond(text=internal_error(incident), response_type="ephemeral")
                    except Exception:  # noqa: BLE001 - the error path must not raise
                        log.exception("incident %s: could not tell the user", incident)

        self.workers.submit(run)

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.workers.shutdown(wait=True, cancel_futures=True)  # nothing may write while the store closes
        for pool in self.extensions.values():  # capability pools (e.g. the status readers)
            if isinstance(pool, ThreadPoolExecutor):
                pool.shutdown(wait=False, cancel_futures=True)
        close = getattr(self.azure, "close", None)
        if callable(close):
            close()
        close_replay_memory(self.store)
        self.store.close()


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


def build_azure(settings: Settings) -> Any:
    """``AzureClients`` for the configured endpoint, or ``None`` when azureops is not installed yet."""
    try:
        from azureops.clients import AzureClients
    except ImportError:
        log.warning("azureops.clients is not available: Azure commands are disabled")
        return None
    return AzureClients(settings.arm_endpoint, settings.ca_bundle or None)


@contextmanager
def _bolt_env_isolated() -> Iterator[None]:
    """Hide Bolt's environment variables while App() is built (SLACK_CLIENT_ID would switch it to OAuth)."""
    saved = {k: os.environ.pop(k) for k in _BOLT_ENV if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def build_app(settings: Settings, *, web_client: WebClient | None = None, clock: Clock | None = None,
              azure: Any = None, store: Store | None = None) -> Runtime:
    """Build the runtime. Nothing is started: call ``runtime.start()`` and serve ``runtime.app``."""
    for secret in (settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token):
        audit.register_secret(secret)
    client = web_client or build_web_client(settings)
    executor = ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="avd-listener")
    with _bolt_env_isolated():
        app = App(
            name="avd-ops",
            client=client,
            signing_secret=settings.slack_signing_secret,
            token_verification_enabled=True,
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
    store = store or Store(settings.db_path)
    store.migrate()
    authz = Authz(settings.config.policy, client)
    runtime = Runtime(
        settings=settings,
        app=app,
        client=client,
        store=store,
        azure=azure if azure is not None else build_azure(settings),
        scheduler=BackgroundScheduler(timezone=UTC),
        clock=clock or utcnow,
        authz=authz,
        vocab=build_vocab(settings),
        executor=executor,
        require_operator=operator_middleware(authz, store),
    )
    from bot import listeners

    listeners.register(app, runtime)

    # ---- job engine hook -------------------------------------------------------------------------
    # bot/engine_listeners.py (the job engine) plugs in here: it adds runtime.handlers entries for the
    # operations it runs, its button/modal listeners and its scheduler jobs. Optional until it exists.
    if importlib.util.find_spec("bot.engine_listeners") is not None:
        importlib.import_module("bot.engine_listeners").register(app, runtime)
    else:
        log.debug("job engine not installed: only the foundation's commands are answered")
    # -----------------------------------------------------------------------------------------------
    return runtime
