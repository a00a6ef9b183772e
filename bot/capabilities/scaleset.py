"""``/avd scaleset create [SITE]``: a form, a preflight, then a job that builds the site's DR scale set.

The command opens the modal at once (``views.open`` right after the ack; the trigger id lives 3 s), then fills
in what the primary scale set actually uses with ``views.update``. After the preflight (replica Completed in the
location, identity, subnet, VM size, host pool) a submitted form becomes a ``scaleset create`` job; its spec is
kept with the job (``scaleset_requests``, keyed by the job's plan hash; no secrets in it), so the job builds
exactly what was approved, and a form refused as busy changes nothing. The job's last step records the scale set
as the site's DR capacity in ``dr_scale_sets`` (``bot.storage.records``: ``dr_scale_set(store, site)``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from avdcore.errors import AvdError, NotAllowed
from azureops import hostpools, identities, joinchain, scale_plans, scaleset_spec, scalesets
from azureops.errors import project_error
from azureops.gallery import parse_image_id
from azureops.plan import Plan, Step, StepContext
from azureops.scaleset_spec import ScaleSetSpec
from bot.capabilities.identity import site_of
from bot.config.siteconfig import Site
from bot.runtime import Capability, CommandContext, Runtime, Say
from bot.slack import modals, render
from bot.storage import audit, jobs
from bot.storage.records import (
    carry_spec,
    dr_scale_set,
    mark_created,
    offer_spec,
    save_request,
    spec_of_plan,
    withdraw_spec,
)
from commands import ops

log = logging.getLogger(__name__)
KIND = "scaleset create"
DOMAIN_PASSWORD_ENV = "AVD_DOMAIN_JOIN_PASSWORD"
WAIT_TIMEOUT = 1800.0


# ---- form <-> spec -------------------------------------------------------------------------------


def form_defaults(runtime: Runtime, site: Site) -> tuple[modals.ScaleSetForm, str]:
    """Initial form values from the config (the primary's image and size), and the gallery's resource group."""
    primary = runtime.settings.config.primary_of(site)
    return modals.ScaleSetForm(
        name=site.scale_set,
        gallery=primary.gallery,
        image=primary.image,
        version=primary.image_version,
        vm_size=site.vm_size or primary.vm_size,
        vnet=site.vnet,
        subnet=site.subnet,
        capacity=0,
        join_type=site.join_type or primary.join_type,
        host_pool=site.host_pool,
    ), primary.master_resource_group


def spec_from(site: Site, gallery_sub: str, gallery_rg: str, form: modals.ScaleSetForm) -> ScaleSetSpec:
    image = (
        f"/subscriptions/{gallery_sub}/resourceGroups/{gallery_rg}/providers/Microsoft.Compute/galleries/"
        f"{form.gallery}/images/{form.image}/versions/{form.version}"
    )
    subnet = (
        f"/subscriptions/{site.subscription}/resourceGroups/{site.network_resource_group}/providers/"
        f"Microsoft.Network/virtualNetworks/{form.vnet}/subnets/{form.subnet}"
    )
    return ScaleSetSpec(
        subscription=site.subscription,
        resource_group=site.scale_set_resource_group,
        name=form.name,
        location=site.location,
        image_id=image,
        vm_size=form.vm_size,
        subnet_id=subnet,
        capacity=form.capacity,
        join_type=form.join_type,
        identity_id=identities.identity_id(site.subscription, site.scale_set_resource_group, site.identity),
        host_pool=form.host_pool,
        host_pool_resource_group=site.host_pool_resource_group,
        domain=form.domain,
        domain_user=form.domain_user,
    )


# ---- the plan ------------------------------------------------------------------------------------


def domain_password() -> str:
    """SECRET: the domain join password, read from the environment when the step runs (and redacted from
    every log line and audit row from then on)."""
    password = os.environ.get(DOMAIN_PASSWORD_ENV, "")
    audit.register_secret(password)
    return password


def preflight(runtime: Runtime, site: Site, spec: ScaleSetSpec) -> None:
    """Everything that must already be true before the scale set is created; raises the first problem."""
    scale_plans.preflight(
        runtime.azure,
        spec,
        site=site.name,
        identity_resource_group=site.scale_set_resource_group,
        identity=site.identity,
        domain_password=domain_password,
    )


def remember_step(runtime: Runtime, site: Site, spec: ScaleSetSpec, requested_by: str) -> Step:
    def check(ctx: StepContext) -> bool:
        found = dr_scale_set(runtime.store, site.name)
        return found is not None and found.created and found.name == spec.name

    def apply(ctx: StepContext) -> str:
        save_request(runtime.store, site.name, spec, requested_by, runtime.clock())
        mark_created(runtime.store, site.name, spec.name, runtime.clock())
        return f"{spec.name} is the DR capacity of {site.name}"

    return Step(
        name="remember-dr-capacity",
        resource_id="",
        apply=apply,
        check=check,
        estimate_seconds=1,
        description=f"Remember {spec.name} as the DR capacity of site {site.name} (/avd status, /avd scale)",
        intent={"site": site.name, "scale_set": spec.id.lower()},
    )


def plan_for(runtime: Runtime, site: Site, spec: ScaleSetSpec, requested_by: str = "") -> Plan:
    preflight(runtime, site, spec)
    azure = runtime.azure

    def token() -> str:
        return hostpools.registration_token(
            azure, site.subscription, spec.host_pool_resource_group, spec.host_pool, runtime.clock()
        )

    return scale_plans.create_plan(
        azure,
        spec,
        kind=KIND,
        site=site.name,
        token=token,
        domain_password=domain_password,
        timeout=WAIT_TIMEOUT,
        final=[remember_step(runtime, site, spec, requested_by)],
    )


def build_plan(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    """The plan of the job that is this request, from the spec that job was requested (and approved) with."""
    assert isinstance(op, ops.ScalesetCreate)
    site = site_of(runtime, op.site)
    busy = jobs.same_request(runtime.store, op)  # the active job for this op: the one being planned
    job = jobs.get_job(runtime.store, busy.job_id) if busy is not None and busy.job_id else None
    spec = spec_of_plan(runtime.store, job["plan_hash"]) if job is not None else None
    if job is None or spec is None:
        raise NotAllowed(
            f"no scale set form is waiting for site {site.name}: run `/avd scaleset create {site.name}`"
        )
    plan = plan_for(runtime, site, spec, job["requested_by"])
    carry_spec(runtime.store, job["plan_hash"], plan.hash())
    return plan


# ---- the command and the form --------------------------------------------------------------------


def open_form(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> render.Reply | None:
    """Open the modal first (the trigger id expires in 3 s), then refine its defaults in the background."""
    assert isinstance(op, ops.ScalesetCreate)
    site = site_of(runtime, op.site)
    form, gallery_rg = form_defaults(runtime, site)
    primary = runtime.settings.config.primary_of(site)
    meta = {
        "c": ctx.channel_id,
        "u": ctx.user_id,
        "s": site.name,
        "d": op.dry_run,
        "gs": primary.subscription,
        "gr": gallery_rg,
    }
    view = view_for(runtime, site, form, meta)
    try:
        opened = ctx.client.views_open(trigger_id=ctx.trigger_id, view=view)
    except Exception as exc:  # noqa: BLE001 - slack_sdk errors: tell the user to type it again
        log.warning("views.open failed: %s", exc)
        return render.Reply(
            text=":warning: The scale set form could not be opened (Slack allows 3 s). "
            f"Type `/avd scaleset create {site.name}` again."
        )
    view_id, view_hash = opened["view"]["id"], opened["view"]["hash"]
    runtime.scheduler.add_job(
        refine_form,
        args=[runtime, site, form, meta, view_id, view_hash],
        executor="light",
        misfire_grace_time=None,
    )
    return None


def view_for(runtime: Runtime, site: Site, form: modals.ScaleSetForm, meta: dict[str, Any]) -> dict[str, Any]:
    view = modals.scaleset_view(
        site.name,
        site.location,
        form,
        meta,
        network_group=site.network_resource_group,
        gallery_group=str(meta["gr"]),
        host_pool_group=site.host_pool_resource_group,
    )
    return view.to_dict()


def refine_form(
    runtime: Runtime,
    site: Site,
    form: modals.ScaleSetForm,
    meta: dict[str, Any],
    view_id: str,
    view_hash: str,
) -> None:
    """Replace the config's defaults with the primary scale set's image, size and join type (best effort)."""
    primary = runtime.settings.config.primary_of(site)
    try:
        state = scalesets.get_scale_set(
            runtime.azure, primary.subscription, primary.scale_set_resource_group, primary.scale_set
        )
    except AvdError as err:
        log.info("primary scale set not read for the form: %s", err)
        return
    ref = parse_image_id(state.image_id) if state is not None else None
    if state is None or ref is None:
        return
    better = modals.ScaleSetForm(
        **{
            **asdict(form),
            "gallery": ref.gallery,
            "image": ref.image,
            "version": ref.version or form.version,
            "vm_size": state.vm_size or form.vm_size,
            "join_type": state.join_type or form.join_type,
        }
    )
    new_meta = {**meta, "gs": ref.subscription, "gr": ref.resource_group}
    if better == form and new_meta == meta:
        return
    try:
        runtime.client.views_update(
            view_id=view_id, hash=view_hash, view=view_for(runtime, site, better, new_meta)
        )
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
        audit.record(
            runtime.store,
            actor=user or "unknown",
            action="refused",
            target="scaleset create form",
            detail={"channel": channel, "reason": refusal[0]},
            outcome="refused",
            at=runtime.clock(),
        )
        say(refusal[1])
        return
    site = site_of(runtime, str(meta.get("s")))
    spec = spec_from(site, str(meta.get("gs") or site.subscription), str(meta.get("gr")), form)
    op = ops.ScalesetCreate(site=site.name, dry_run=bool(meta.get("d")))
    audit.record(
        runtime.store,
        actor=user,
        action="scaleset create form",
        target=spec.id,
        detail={"channel": channel, "form": modals.form_dict(form)},
        outcome="accepted",
        at=runtime.clock(),
    )
    runtime.scheduler.add_job(
        plan_request,
        args=[runtime, op, site, spec, user, channel, say],
        executor="light",
        misfire_grace_time=None,
    )


def with_join_app(runtime: Runtime, spec: ScaleSetSpec) -> ScaleSetSpec:
    """``spec`` with AVD-Join's application id, which the registration script presents to Entra ID (read from
    Graph; without it new instances register only with the fallback token, and the preflight says so)."""
    cfg = runtime.settings.config
    if cfg.register_script_uri:
        spec = replace(spec, script_uri=cfg.register_script_uri)
    if spec.join_app_id or not cfg.join_app_object_id:
        return spec
    app = identities.JoinApp(cfg.join_app_object_id, cfg.join_app_name, cfg.tenant_id)
    return replace(spec, join_app_id=joinchain.read_app_id(runtime.azure, app))


def plan_request(
    runtime: Runtime,
    op: ops.ScalesetCreate,
    site: Site,
    spec: ScaleSetSpec,
    user: str,
    channel: str,
    say: Say,
) -> None:
    """Preflight ``spec``. Dry run: preview it. Otherwise keep it with the plan's hash and request the job
    (approval per policy); a refused request (busy, locks) drops it again, so it changes nothing."""
    try:
        spec = scaleset_spec.with_security_type(runtime.azure, with_join_app(runtime, spec))
        plan = plan_for(runtime, site, spec, user)
    except Exception as exc:
        err = project_error(exc)
        if err is None:
            raise
        say(str(err))
        return
    if op.dry_run:
        audit.record(
            runtime.store,
            actor=user,
            action="dry run",
            detail={"verb": op.verb, "plan_hash": plan.hash()},
            at=runtime.clock(),
        )
        say("\n".join([f"*Dry run: {plan.title}* (nothing was changed)", *plan.preview()]))
        return
    offer_spec(runtime.store, plan.hash(), site.name, spec, user, runtime.clock())
    if runtime.engine.request(op, user, channel, say, plan=plan) is None:
        withdraw_spec(runtime.store, plan.hash())


CAPABILITY = Capability(
    name="scaleset", handlers={ops.ScalesetCreate: open_form}, plans={KIND: build_plan}, form=submitted
)
