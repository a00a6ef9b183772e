"""``/avd replicas [list|add|remove]``: gallery image version replicas, read in the background, changed as jobs.

``replicas add`` is an ordinary capability (approval per the config's policy). ``replicas remove`` is checked
first in the background: when the version's 'Lock deleting Replicated Locations' is on, the requester gets
the explanation and a button, "Allow deletion, then remove", which requests a separate plan
(``replicas unlock-remove``) that always waits for an approver.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from avdcore.errors import AvdError, AzureNotFound, NotAllowed
from azureops import replicas as plans
from azureops.gallery import ImageRef, VersionReplicas, read_replicas, resolve, scale_set_image
from azureops.plan import Plan
from bot.capabilities.status import in_background
from bot.runtime import Capability, CommandContext, Runtime
from bot.slack import render
from bot.storage import audit
from commands import ops

UNLOCK_ACTION = "replicas_unlock_remove"
STATE_ICON = {
    "Completed": ":large_green_circle:",
    "Replicating": ":large_yellow_circle:",
    "Failed": ":red_circle:",
}


# ---- which image version -------------------------------------------------------------------------


def image_for(runtime: Runtime, image: str | None, version: str | None) -> ImageRef:
    """IMAGE[/VERSION] as typed; else the primary scale set's image (and version); else the config's."""
    primary = runtime.settings.config.site(None, role="primary")
    configured = ImageRef(
        primary.subscription,
        primary.master_resource_group,
        primary.gallery,
        primary.image,
        primary.image_version,
    )
    if image is None:
        try:
            used = scale_set_image(
                runtime.azure, primary.subscription, primary.scale_set_resource_group, primary.scale_set
            )
        except AzureNotFound:
            used = None
        ref = used or configured
    else:
        ref = ImageRef(configured.subscription, configured.resource_group, configured.gallery, image, "")
    if version:
        ref = ref.with_version(version)
    return resolve(runtime.azure, ref)


def current(runtime: Runtime, op: Any) -> VersionReplicas:
    return read_replicas(runtime.azure, image_for(runtime, op.image, op.version))


# ---- plans ---------------------------------------------------------------------------------------


def build_add(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.ReplicasAdd)
    return plans.plan_add(
        runtime.azure, current(runtime, op), (op.region,), count=op.count, storage=op.storage
    )


def build_remove(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.ReplicasRemove)
    return plans.plan_remove(runtime.azure, current(runtime, op), op.region)


def build_unlock_remove(runtime: Runtime, op: ops.Operation, now: datetime) -> Plan:
    assert isinstance(op, ops.ReplicasRemove)
    return plans.plan_unlock_remove(runtime.azure, current(runtime, op), op.region)


# ---- replies (pure) ------------------------------------------------------------------------------


def replicas_reply(vr: VersionReplicas, *, simulated: bool = False) -> render.Reply:
    """Every target region of one version: state, progress, replicas, storage, home, and the safety lock."""
    lines = []
    for r in vr.regions:
        icon = STATE_ICON.get(r.state, ":white_circle:")
        progress = f" {r.progress}%" if r.state == "Replicating" else ""
        home = " · home region" if r.home else ""
        details = f"\n      _{r.details[:200]}_" if r.details and r.state == "Failed" else ""
        lines.append(
            f"{icon} *{r.display}* ({r.region}) {r.state}{progress} · {r.replica_count} replica(s) · "
            f"{r.storage}{home}{details}"
        )
    lock = (
        f":lock: '{plans.LOCK_NAME}' is on: removing a region needs the unlock plan"
        if vr.locked
        else f":unlock: '{plans.LOCK_NAME}' is off"
    )
    head = f"Replicas of {vr.ref.label}"
    text = f"{head}: {vr.aggregated}\n" + "\n".join(lines)
    blocks: list[Block] = [
        HeaderBlock(text=head[:150]),
        SectionBlock(
            text=MarkdownTextObject(
                text=f"Gallery `{vr.ref.gallery}` in `{vr.ref.resource_group}` · replication "
                f"*{vr.aggregated}* · provisioning {vr.provisioning_state or 'unknown'}"
            )
        ),
    ]
    blocks += render.sections("\n".join(lines) or "(no target regions)")
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(text=f"{lock} · add one with `/avd replicas add REGION {vr.ref.label}`")
            ]
        )
    )
    return render.Reply(text=text, blocks=render.card(blocks, simulated=simulated))


def locked_reply(
    err: plans.ReplicaLocked, op: ops.ReplicasRemove, *, simulated: bool = False
) -> render.Reply:
    """The lock explained in the user's words, with a button that requests the separate unlock plan."""
    ref = err.replicas.ref
    text = (
        f":lock: Not removed: {err.message}.\nTo remove it anyway, an approver must approve a separate plan: "
        f"turn '{plans.LOCK_NAME}' off, remove {err.region}, turn the lock back on."
    )
    value = json.dumps({"region": err.region, "image": ref.image, "version": ref.version})
    confirm = ConfirmObject(
        title="Request the unlock plan?",
        text=f"An approver must approve removing {err.region} from {ref.label} with the lock lifted.",
        confirm="Request",
        deny="Cancel",
    )
    blocks: list[Block] = [
        *render.sections(text),
        ActionsBlock(
            block_id="replicas:unlock",
            elements=[
                ButtonElement(
                    text="Allow deletion, then remove",
                    action_id=UNLOCK_ACTION,
                    value=value,
                    style="danger",
                    confirm=confirm,
                )
            ],
        ),
    ]
    return render.Reply(text=text, blocks=render.card(blocks, simulated=simulated))


# ---- handlers ------------------------------------------------------------------------------------


def list_replicas(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> None:
    assert isinstance(op, ops.ReplicasList)
    in_background(
        runtime, ctx, lambda: replicas_reply(current(runtime, op), simulated=runtime.simulated_azure)
    )


def remove_replica(runtime: Runtime, ctx: CommandContext, op: ops.Operation) -> None:
    """Check the safety lock before asking for approval; a locked version gets the unlock button instead."""
    assert isinstance(op, ops.ReplicasRemove)

    def say(text: str) -> None:
        ctx.respond(text=text, response_type="ephemeral")

    def work() -> render.Reply | None:
        try:
            plans.plan_remove(runtime.azure, current(runtime, op), op.region)
        except plans.ReplicaLocked as err:
            audit.record(
                runtime.store,
                actor=ctx.user_id,
                action="replicas remove refused",
                target=err.resource_id,
                detail={"region": err.region, "reason": "locked"},
                outcome="refused",
                at=runtime.clock(),
            )
            return locked_reply(err, op, simulated=runtime.simulated_azure)
        runtime.engine.request(op, ctx.user_id, ctx.channel_id, say)
        return None

    in_background(runtime, ctx, work)


def request_unlock(runtime: Runtime, op: ops.ReplicasRemove, user: str, channel: str) -> str:
    """Plan "allow deletion, then remove" and open its own approval (always required)."""
    said: list[str] = []
    job_id = runtime.engine.request(op, user, channel, said.append, kind=plans.UNLOCK_REMOVE, approval=True)
    if job_id is None:
        return f":no_entry: {said[-1]}" if said else ":no_entry: nothing was requested"
    return f"Requested job {job_id}: an approver must approve it on its card."


def unlock_op(value: str) -> ops.ReplicasRemove:
    """The removal an unlock button names (its value is the JSON the card put there)."""
    try:
        raw = json.loads(value)
    except ValueError:
        raw = None
    fields = (raw.get("region"), raw.get("image"), raw.get("version")) if isinstance(raw, dict) else (None,)
    if not isinstance(fields[0], str) or not all(f is None or isinstance(f, str) for f in fields):
        raise NotAllowed("this button does not name a replica to remove")
    return ops.ReplicasRemove(region=fields[0], image=fields[1], version=fields[2])


def unlock_pressed(runtime: Runtime, user: str, channel: str, value: str) -> str:
    """The unlock button of a refused removal: request "allow deletion, then remove" (always approved)."""
    try:
        refusal = runtime.authz.refusal(user, channel)
        if refusal:
            raise NotAllowed(refusal[-1])
        op = unlock_op(value)
    except AvdError as err:
        return f":no_entry: {err}"
    return request_unlock(runtime, op, user, channel)


CAPABILITY = Capability(
    name="replicas",
    handlers={ops.ReplicasList: list_replicas, ops.ReplicasRemove: remove_replica},
    jobs={ops.ReplicasAdd: plans.ADD},
    # REMOVE is routed by verb: /avd goes through remove_replica first (the safety lock check)
    plans={plans.ADD: build_add, plans.REMOVE: build_remove, plans.UNLOCK_REMOVE: build_unlock_remove},
    buttons={UNLOCK_ACTION: unlock_pressed},
)
