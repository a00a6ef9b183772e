"""Settings: environment variables (the BRIEF's runtime contract) plus the TOML site config.

``load_settings(env)`` reads both and never raises for a bad value: ``Settings.problems()`` lists
one clear sentence per problem so start-up can print them all at once. ``avd-bot`` refuses to
start while any remain. The site config's schema and validation live in ``bot.config.siteconfig``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from azureops.credentials import is_loopback
from bot.config.siteconfig import SiteConfig, load_site_config

log = logging.getLogger(__name__)

PUBLIC_ARM = "https://management.azure.com"
PUBLIC_SLACK_API = "https://slack.com/api/"


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = PUBLIC_SLACK_API
    config_path: str = "avd.toml"
    db_path: str = "avd.db"  # AVD_DB: a SQLite file, or a postgresql:// URL (bot.storage.open_store)
    arm_endpoint: str = PUBLIC_ARM
    ca_bundle: str = ""
    azure_client_id: str = ""  # AZURE_CLIENT_ID (azure-identity's): the bot identity's client id, for doctor
    env: str = "development"  # AVD_ENV: development | production
    mode: str = "serve"  # serve | socket | sandbox
    command_burst: int = 10  # AVD_COMMAND_BURST: /avd commands a user may send at once
    commands_per_minute: int = 20  # AVD_COMMANDS_PER_MINUTE: then this many a minute, per user
    retention_days: int = 365  # AVD_RETENTION_DAYS: audit rows and finished jobs kept this long
    leader_lease_seconds: int = 15  # AVD_LEADER_LEASE_SECONDS: a standby takes over this long after a loss
    job_lease_seconds: int = 10  # AVD_JOB_LEASE_SECONDS: a job of a lost process is resumed this long after
    audit_key: str = ""  # AVD_AUDIT_KEY: SECRET, keys the audit chain (HMAC); kept out of the database
    config: SiteConfig = field(default_factory=SiteConfig)
    config_problems: tuple[str, ...] = ()
    env_problems: tuple[str, ...] = ()

    @property
    def simulated_azure(self) -> bool:
        """True when ARM is a loopback simulator (cards then say "simulated Azure")."""
        return is_loopback_url(self.arm_endpoint)

    def problems(self) -> list[str]:
        """Every configuration problem, one sentence each, with what to do about it."""
        out = list(self.env_problems) + list(self.config_problems)
        if not self.slack_signing_secret and self.mode == "serve":
            out.append("SLACK_SIGNING_SECRET is empty: copy it from your Slack app's Basic Information page.")
        if not self.slack_bot_token:
            out.append(
                "SLACK_BOT_TOKEN is empty: install the app to your workspace and copy the xoxb- token."
            )
        if self.mode == "socket" and not self.slack_app_token:
            out.append(
                "SLACK_APP_TOKEN is empty: Socket Mode needs an app-level xapp- token with connections:write."
            )
        if self.simulated_azure and self.env == "production":
            out.append(
                f"AZURE_ARM_ENDPOINT={self.arm_endpoint} is a loopback simulator but AVD_ENV=production: "
                "unset AZURE_ARM_ENDPOINT to use Azure."
            )
        if self.mode == "sandbox" and not self.simulated_azure:
            out.append(
                f"avd-bot sandbox only runs against the loopback simulator, not {self.arm_endpoint}: "
                "unset AZURE_ARM_ENDPOINT."
            )
        return out


def is_loopback_url(url: str) -> bool:
    """True for a loopback (simulator) URL: 127.0.0.0/8, [::1] or localhost."""
    return is_loopback(url)


def load_settings(env: Mapping[str, str] | None = None, *, mode: str = "serve") -> Settings:
    """Read the environment and the TOML config named by ``AVD_CONFIG``."""
    env = os.environ if env is None else env
    env_problems: list[str] = []
    for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
        if env.get(name):
            env_problems.append(
                f"{name} is set: this bot is a single-workspace app and Bolt would silently switch to "
                "OAuth and drop SLACK_BOT_TOKEN. Unset it."
            )
    api_url = env.get("SLACK_API_URL") or PUBLIC_SLACK_API
    if not api_url.endswith("/"):
        api_url += "/"
    avd_env = env.get("AVD_ENV", "development")
    if avd_env not in ("development", "production"):
        env_problems.append(f"AVD_ENV={avd_env!r} is not development or production: set one of them.")
    config_path = env.get("AVD_CONFIG") or "avd.toml"
    config, config_problems = load_site_config(config_path)
    if config.policy.exempted:
        log.warning(
            "[policy] exempt_from_approval: these destructive verbs run without a second person: %s",
            ", ".join(config.policy.exempted),
        )
    burst = _positive_int(env, "AVD_COMMAND_BURST", 10, env_problems)
    per_minute = _positive_int(env, "AVD_COMMANDS_PER_MINUTE", 20, env_problems)
    retention = _positive_int(env, "AVD_RETENTION_DAYS", 365, env_problems)
    leader_lease = _positive_int(env, "AVD_LEADER_LEASE_SECONDS", 15, env_problems)
    job_lease = _positive_int(env, "AVD_JOB_LEASE_SECONDS", 10, env_problems)
    return Settings(
        slack_bot_token=env.get("SLACK_BOT_TOKEN", ""),
        slack_signing_secret=env.get("SLACK_SIGNING_SECRET", ""),
        slack_app_token=env.get("SLACK_APP_TOKEN", ""),
        slack_api_url=api_url,
        config_path=config_path,
        db_path=env.get("AVD_DB") or "avd.db",
        arm_endpoint=(env.get("AZURE_ARM_ENDPOINT") or PUBLIC_ARM).rstrip("/"),
        ca_bundle=env.get("AZURE_CA_BUNDLE", ""),
        azure_client_id=env.get("AZURE_CLIENT_ID", ""),
        env=avd_env,
        mode=mode,
        command_burst=burst,
        commands_per_minute=per_minute,
        retention_days=retention,
        leader_lease_seconds=leader_lease,
        job_lease_seconds=job_lease,
        audit_key=env.get("AVD_AUDIT_KEY", ""),
        config=config,
        config_problems=tuple(config_problems),
        env_problems=tuple(env_problems),
    )


def _positive_int(env: Mapping[str, str], name: str, default: int, problems: list[str]) -> int:
    """A whole number >= 1 from ``env[name]`` (``default`` when unset); anything else is a start-up problem."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    problems.append(
        f"{name}={raw!r} is not a whole number of at least 1: unset it for the default ({default})."
    )
    return default
