"""``/avd scaleset create [SITE]``: a form, a preflight, then a job that builds the site's DR scale set.

The command opens the modal at once (``views.open`` right after the ack; the trigger id lives 3 s), then fills
in what the primary scale set actually uses with ``views.update``. A submitted form becomes the site's
requested spec in ``dr_scale_sets`` (no secrets in it) and a ``scaleset create`` job whose plan is built from
that spec after the preflight (replica Completed in the location, identity, subnet, VM size, host pool).
``dr_scale_set(store, site)`` tells other commands which scale set is a site's DR capacity.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from azureops import hostpools, identities, scalesets
from azureops.errors import project_error
from azureops.gallery import parse_image_id
from azureops.plan import Plan, Step, StepContext
from bot import approvals, audit, jobs, modals, render
from bot.capabilities.identity import site_of
from bot.runner import register_capability
from bot.settings import Site
from bot.store import Store, register_migration
from commands import ops
from commands.errors import AvdError, NotAllowed

if TYPE_CHECKING:
    from bot.app import Runtime
    from bot.listeners import CommandContext

log = logging.getLogger(__name__)
KIND = "scaleset create"
DOMAIN_PASSWORD_ENV = "AVD_DOMAIN_JOIN_PASSWORD"
WAIT_TIMEOUT = 1800.0


def _schema(db: Database) -> None:
    db.execute("create table dr_scale_sets (site text primary key, subscription text not null, resource_group text"
               " not null, name text not null, location text not null, host_pool_resource_group text not null,"
               " host_pool text not null, spec_json text not null, status text not null, requested_by text,"
               " job_id integer, updated_at text not null)")


register_migration("scaleset_0001_dr_scale_sets", _schema)


@dataclass(frozen=True)
class DrScaleSet:
    """Which scale set is a site's DR capacity; ``created`` once a job built (or found) it."""

    site: str
    subscription: str
    resource_group: str
    name: str
    location: str
    host_pool_resource_group: str
    host_pool: str
    created: bool

    @property
    def id(self) -> str:
        return scalesets.scale_set_id(self.subscription, self.resource_group, self.name)


def dr_scale_set(store: Store, site: str) -> DrScaleSet | None:
    """The DR scale set remembered for ``site`` (requested or created), or ``None``."""
    if not store.db["dr_scale_sets"].exists():
        return None
    rows = list(store.db.query("select * from dr_scale_sets where site = ?", [site]))
    if not rows:
        return None
    r = rows[0]
    return DrScaleSet(site=r["site"], subscription=r["subscription"], resource_group=r["resource_group"],
                      name=r["name"], location=r["location"], host_pool_resource_group=r["host_pool_resource_group"],
                      host_pool=r["host_pool"], created=r["status"] == "created")


def requested_spec(store: Store, site: str) -> scalesets.ScaleSetSpec | None:
    rows = list(store.db.query("select spec_json from dr_scale_sets where site = ?", [site]))
    return scalesets.ScaleSetSpec(**json.loads(rows[0]["spec_json"])) if rows else None


def save_request(store: Store, site: str, spec: scalesets.ScaleSetSpec, user: str, now: datetime) -> None:
    """Record ``spec`` as the site's requested DR scale set (``created`` stays if the name is unchanged)."""
    old = dr_scale_set(store, site)
    keep = old is not None and old.created and old.id.lower() == spec.id.lower()
    with store.transaction() as db:
        db.table("dr_scale_sets").upsert({
            "site": site, "subscription": spec.subscription, "resource_group": spec.resource_group,
            "name": spec.name, "location": spec.location, "host_pool_resource_group": spec.host_pool_resource_group,
            "host_pool": spec.host_pool, "spec_json": json.dumps(asdict(spec), sort_keys=True),
            "status": "created" if keep else "requested", "requested_by": user, "updated_at": jobs.iso(now)},
            pk="site")


def mark_created(store: Store, site: str, name: str, now: datetime) -> None:
    with store.transaction() as db:
        db.execute("update dr_scale_sets set status = 'created', updated_at = ? where site = ? and name = ?",
                   [jobs.iso(now), site, name])


# ---- form <-> spec -------------------------------------------------------------------------------


def form_defaults(runtime: Runtime, site: Site) -> tuple[modals.ScaleSetForm, str]:
    """Initial form values from the config (the primary's image and size), and the gallery's resource group."""
    primary = runtime.settings.config.primary_of(site)
    return modals.ScaleSetForm(
        name=site.scale_set, gallery=primary.gallery, image=primary.image, version=primary.image_version,
        vm_size=site.vm_size or primary.vm_size, vnet=site.vnet, subnet=site.subnet, capacity=0,
        join_type=site.join_type or primary.join_type, host_pool=site.host_pool), primary.master_resource_group


def spec_from(site: Site, gallery_sub: str, gallery_rg: str, form: modals.ScaleSetForm) -> scalesets.ScaleSetSpec:
    image = (f"/subscriptions/{gallery_sub}/resourceGroups/{gallery_rg}/providers/Microsoft.Compute/galleries/"
             f"{form.gallery}/images/{form.image}/versions/{form.version}")
    subnet = (f"/subscriptions/{site.subscription}/resourceGroups/{site.network_resource_group}/providers/"
              f"Microsoft.Network/virtualNetworks/{form.vnet}/subnets/{form.subnet}")
    return scalesets.ScaleSetSpec(
        subscription=site.subscription, resource_group=site.scale_set_resource_group, name=form.name,
        location=site.location, image_id=image, vm_size=form.vm_size, subnet_id=subnet, capacity=form.capacity,
        join_type=form.join_type, identity_id=identities.identity_id(site.subscription, site.scale_set_resource_group,
                                                                      site.identity),
        host_pool=form.host_pool, host_pool_resource_group=site.host_pool_resource_group, domain=form.domain,
        domain_user=form.domain_user)


# ---- the plan ------------------------------------------------------------------------------------


def domain_password() -> str:
    """SECRET: the domain join password, read from the environment when the step runs."""
    return os.environ.get(DOMAIN_PASSWORD_ENV, "")


def preflight(runtime: Runtime, site: Site, spec: scalesets.ScaleSetSpec) -> None:
    """Everything that must already be true before the scale set is created; raises the first problem."""
    azure = runtime.azure
    again = f"submit `/avd scaleset create {site.name}` again"
    scalesets.check_replica(azure, spec.image_id, spec.location, again)
    identities.require_identity(azure, site.subscription, site.scale_set_resource_group, site.identity,
                                f"create it with `/avd identity create {site.name}`, then {again}")
    scalesets.check_subnet(azure, site.subscription, spec.subnet_id)
    scalesets.check_vm_size(azure, site.subscription, spec.vm_size, spec.location)
    hostpools.get_host_pool(azure, site.subscription, spec.host_pool_resource_group, spec.host_pool)
    if spec.join_type == "domain" and not domain_password():
        raise NotAllowed(f"domain join needs the join account's password in {DOMAIN_PASSWORD_ENV} on the bot host")


def remember_step(runtime: Runtime, site: Site, spec: scalesets.ScaleSetSpec) -> Step:
    def check(ctx: StepContext) -> bool:
        found = dr_scale_set(runtime.store, site.name)
        return found is not None and found.created and found.name == spec.name

    def apply(ctx: StepContext) -> str:
        mark_created(runtime.store, site.name, spec.name, runtime.clock())
        return f"{spec.name} is the DR capacity of {site.name}"

    return Step(name="remember-dr-capacity", resource_id="", apply=apply, check=check, estimate_seconds=1,
                description=f"Remember {spec.name} as the DR capacity of site {site.name} (/avd status, /avd scale)",
                intent={"site": site.name, "scale_set": spec.id.lower()})


def plan_for(runtime: Runtime, site: Site, spec: scalesets.ScaleSetSpec) -> Plan:
    preflight(runtime, site, spec)
    azure = runtime.azure
    interval = float(azure.polling_interval)

    def token() -> str:
        return hostpools.registration_token(azure, site.subscription, spec.host_pool_resource_group, spec.host_pool,
                                            runtime.clock())

    steps = [scalesets.create_step(azure, spec, token=token, domain_password=domain_password, interval=interval,
                                   timeout=WAIT_TIMEOUT)]
    if spec.capacity:
        steps.append(scalesets.hosts_step(
            azure, spec.subscription, spec.resource_group, spec.name, spec.capacity,
            pool_subscription=site.subscription, pool_resource_group=spec.host_pool_resource_group,
            pool=spec.host_pool, interval=interval, timeout=WAIT_TIMEOUT))
    steps.append(remember_step(runtime, site, spec))
    return Plan(kind=KIND, title=f"Create scale set {spec.name} in {spec.location} (site {site.name})",
                steps=tuple(steps), summary=f"{spec.capacity} x {spec.vm_size}")


def build_plan(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.ScalesetCreate)
    site = site_of(runtime, op.site)
    spec = requested_spec(runtime.store, site.name)
    if spec is None:
        raise NotAllowed(f"no scale set form was submitted for site {site.name}: run `/avd scaleset create {site.name}`")
    return plan_for(runtime, site, spec)


# ---- the command and the form --------------------------------------------------------------------


def open_form(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply | None:
    """Open the modal first (the trigger id expires in 3 s), then refine its defaults in the background."""
    assert isinstance(op, ops.ScalesetCreate)
    site = site_of(runtime, op.site)
    form, gallery_rg = form_defaults(runtime, site)
    primary = runtime.settings.config.primary_of(site)
    meta = {"c": ctx.channel_id, "u": ctx.user_id, "s": site.name, "d": op.dry_run, "gs": primary.subscription,
            "gr": gallery_rg}
    view = view_for(runtime, site, form, meta)
    try:
        opened = ctx.client.views_open(trigger_id=ctx.trigger_id, view=view)
    except Exception as exc:  # noqa: BLE001 - slack_sdk errors: tell the user to type it again
        log.warning("views.open failed: %s", exc)
        return render.Reply(text=":warning: The scale set form could not be opened (Slack allows 3 s). "
                                 f"Type `/avd scaleset create {site.name}` again.")
    view_id, view_hash = opened["view"]["id"], opened["view"]["hash"]
    runtime.scheduler.add_job(refine_form, args=[runtime, site, form, meta, view_id, view_hash], executor="light",
                              misfire_grace_time=None)
    return None


def view_for(runtime: Runtime, site: Site, form: modals.ScaleSetForm, meta: dict[str, Any]) -> dict[str, Any]:
    view = modals.scaleset_view(site.name, site.location, form, meta, network_group=site.network_resource_group,
                                gallery_group=str(meta["gr"]), host_pool_group=site.host_pool_resource_group)
    return view.to_dict()


def refine_form(runtime: Runtime, site: Site, form: modals.ScaleSetForm, meta: dict[str, Any], view_id: str,
                view_hash: str) -> None:
    """Replace the config's defaults with the primary scale set's image, size and join type (best effort)."""
    primary = runtime.settings.config.primary_of(site)
    try:
        state = scalesets.get_scale_set(runtime.azure, primary.subscription, primary.scale_set_resource_group,
                                        primary.scale_set)
    except AvdError as err:
        log.info("primary scale set not read for the form: %s", err)
        return
    ref = parse_image_id(state.image_id) if state is not None else None
    if state is None or ref is None:
        return
    better = modals.ScaleSetForm(**{**asdict(form), "gallery": ref.gallery, "image": ref.image,
                                    "version": ref.version or form.version, "vm_size": state.vm_size or form.vm_size,
                                    "join_type": state.join_type or form.join_type})
    new_meta = {**meta, "gs": ref.subscription, "gr": ref.resource_group}
    if better == form and new_meta == meta:
        return
    try:
        runtime.client.views_update(view_id=view_id, hash=view_hash, view=view_for(runtime, site, better, new_meta))
    except Exception as exc:  # noqa: BLE001 - the user may already have submitted or closed the form
        log.info("scale set form not refined: %s", exc)


def submitted(runtime: Runtime, user: str, meta: dict[str, Any], form: modals.ScaleSetForm) -> None:
    """A valid form was acked: check who and where, save the spec, then plan on the light pool."""
    channel = str(meta.get("c", ""))

    def say(text: str) -> None:
        runtime.client.chat_postEphemeral(channel=channel, user=user, text=text)

    refusal = runtime.authz.refusal(user, channel)
    if refusal is None and user != meta.get("u"):
        refusal = ("other_user", render.not_allowed("this form belongs to another operator."))
    if refusal is not None:
        audit.record(runtime.store, actor=user or "unknown", action="refused", target="scaleset create form",
                     detail={"channel": channel, "reason": refusal[0]}, outcome="refused", at=runtime.clock())
        say(refusal[1])
        return
    site = site_of(runtime, str(meta.get("s")))
    spec = spec_from(site, str(meta.get("gs") or site.subscription), str(meta.get("gr")), form)
    op = ops.ScalesetCreate(site=site.name, dry_run=bool(meta.get("d")))
    audit.record(runtime.store, actor=user, action="scaleset create form", target=spec.id,
                 detail={"channel": channel, "form": modals.form_dict(form)}, outcome="accepted", at=runtime.clock())
    runtime.scheduler.add_job(plan_request, args=[runtime, op, site, spec, user, channel, say], executor="light",
                              misfire_grace_time=None)


def plan_request(runtime: Runtime, op: ops.ScalesetCreate, site: Site, spec: scalesets.ScaleSetSpec, user: str,
                 channel: str, say: approvals.Say) -> None:
    """Preflight ``spec`` (a refused form changes nothing). Dry run: preview it. Otherwise save it as the site's
    requested DR scale set and request the job (approval per policy)."""
    try:
        plan = plan_for(runtime, site, spec)
    except Exception as exc:
        err = project_error(exc)
        if err is None:
            raise
        say(str(err))
        return
    if op.dry_run:
        audit.record(runtime.store, actor=user, action="dry run", detail={"verb": op.verb, "plan_hash": plan.hash()},
                     at=runtime.clock())
        say("\n".join([f"*Dry run: {plan.title}* (nothing was changed)", *plan.preview()]))
        return
    save_request(runtime.store, site.name, spec, user, runtime.clock())
    approvals.request_job(runtime.extensions["engine"], op, user, channel, say)


def register(runtime: Runtime) -> None:
    runtime.store.migrate()
    register_capability(KIND, build_plan)
    runtime.handlers[ops.ScalesetCreate] = open_form
    modals.register_view(runtime, lambda user, meta, form: submitted(runtime, user, meta, form))
