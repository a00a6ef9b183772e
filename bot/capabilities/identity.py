"""``/avd identity create [SITE]``: the site's user-assigned identity and its credential on the join app.

The site defaults to the secondary one. The plan is checked when it is requested: a join app already at
Entra's 20-credential limit (without a credential for this identity) is refused at once, before any approval.
"""

from __future__ import annotations

from datetime import datetime

from avdcore.errors import NotAllowed
from azureops import identities
from azureops.plan import Plan
from bot.config.siteconfig import Site
from bot.runtime import Capability, Runtime
from commands import ops

KIND = "identity create"


def site_of(runtime: Runtime, name: str | None) -> Site:
    """The named (or located) site; the secondary site when none is given."""
    try:
        return runtime.settings.config.site(name, role="secondary")
    except KeyError:
        known = ", ".join(runtime.settings.config.sites) or "none"
        raise NotAllowed(f"there is no site {name!r} in the config (sites: {known})") from None


def join_app(runtime: Runtime) -> identities.JoinApp:
    cfg = runtime.settings.config
    if not cfg.join_app_object_id or not cfg.tenant_id:
        raise NotAllowed("the config has no [join_app] app_object_id or tenant_id: add them to avd.toml")
    return identities.JoinApp(
        object_id=cfg.join_app_object_id, name=cfg.join_app_name, tenant_id=cfg.tenant_id
    )


def credential_name(site: Site) -> str:
    return f"avd-ops-{site.name}"


def build_plan(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.IdentityCreate)
    site = site_of(runtime, op.site)
    app = join_app(runtime)
    found = identities.get_identity(
        runtime.azure, site.subscription, site.scale_set_resource_group, site.identity
    )
    identities.preflight_credentials(runtime.azure, app, credential_name(site), found)
    return identities.identity_plan(
        runtime.azure,
        subscription=site.subscription,
        resource_group=site.scale_set_resource_group,
        name=site.identity,
        location=site.location,
        app=app,
        credential_name=credential_name(site),
        site=site.name,
    )


CAPABILITY = Capability(name="identity", jobs={ops.IdentityCreate: KIND}, plans={KIND: build_plan})
