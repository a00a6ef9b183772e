"""The ``/avd scaleset create`` modal: the view (pure), its validation (pure) and the submission listener.

``scaleset_view`` builds the form with ``slack_sdk.models`` (limits checked before views.open). On submission
``parse_form`` checks every input; problems go back in the ack as ``response_action="errors"`` keyed by block
id, so the modal stays open. A valid form is acked (the modal closes) and, the first time its view id is
seen (a replayed submission runs nothing), handed to the capability's ``on_submit`` with the submitter and
the ``private_metadata`` the command put there (channel, user, site).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack
from slack_sdk.models.blocks import (
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.runtime import BUSY_TEXT, run_reporting
from bot.storage import audit

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
CALLBACK_ID = "avd_scaleset_create"
JOIN_TYPES = {"entra": "Entra ID", "domain": "Active Directory domain"}
MAX_INSTANCES = 1000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]$|^[A-Za-z0-9]$")
_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "name": (_NAME, "1-64 letters, digits, '-', '_' or '.'; start with a letter or digit"),
    "gallery": (
        re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]{0,79}$"),
        "a gallery name: letters, digits, '_' or '.'",
    ),
    "image": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"), "an image definition name"),
    "version": (
        re.compile(r"^\d{1,10}\.\d{1,10}\.\d{1,10}$"),
        "a version as Major.Minor.Patch, e.g. 2026.0522.1719",
    ),
    "vm_size": (re.compile(r"^(Standard|Basic)_[A-Za-z0-9_]+$"), "a VM size such as Standard_D4s_v5"),
    "vnet": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"), "a virtual network name"),
    "subnet": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$"), "a subnet name"),
    "host_pool": (re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$"), "a host pool name (3-64 characters)"),
}
_DOMAIN = re.compile(r"^(?=.{3,253}$)([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")
_USER = re.compile(r"^[^\s\"/\[\]:;|=,+*?<>]{1,104}$")


@dataclass(frozen=True)
class ScaleSetForm:
    """The form's fields: initial values when opening it, parsed values after submission."""

    name: str
    gallery: str
    image: str
    version: str
    vm_size: str
    vnet: str
    subnet: str
    capacity: int
    join_type: str
    host_pool: str
    domain: str = ""
    domain_user: str = ""


def _text(block_id: str, label: str, initial: str, hint: str = "", optional: bool = False) -> InputBlock:
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=optional,
        hint=hint or None,
        element=PlainTextInputElement(action_id=block_id, initial_value=initial or None),
    )


def scaleset_view(
    site: str,
    location: str,
    form: ScaleSetForm,
    metadata: Mapping[str, Any],
    *,
    network_group: str,
    gallery_group: str,
    host_pool_group: str,
) -> View:
    """The modal for ``/avd scaleset create SITE`` with ``form`` as initial values."""
    join_options = [Option(value=k, label=v) for k, v in JOIN_TYPES.items()]
    initial_join = next((o for o in join_options if o.value == form.join_type), join_options[0])
    blocks = [
        SectionBlock(
            text=MarkdownTextObject(
                text=(
                    f"New scale set for site *{site}* in *{location}*. VM source: Compute Gallery (the replica in "
                    f"{location} is checked before anything is created). Defaults are what the primary scale set uses."
                )
            )
        ),
        _text("name", "Scale set name", form.name),
        _text("gallery", "Compute Gallery", form.gallery, f"in resource group {gallery_group}"),
        _text("image", "Image definition", form.image),
        _text("version", "Image version", form.version),
        _text("vm_size", "VM size", form.vm_size),
        _text("vnet", "Virtual network", form.vnet, f"in resource group {network_group}"),
        _text("subnet", "Subnet", form.subnet),
        InputBlock(
            block_id="capacity",
            label="Instances",
            hint="0 costs nothing until /avd scale adds capacity",
            element=NumberInputElement(
                action_id="capacity",
                is_decimal_allowed=False,
                initial_value=str(form.capacity),
                min_value="0",
                max_value=str(MAX_INSTANCES),
            ),
        ),
        InputBlock(
            block_id="join_type",
            label="Instances join",
            element=RadioButtonsElement(
                action_id="join_type", options=join_options, initial_option=initial_join
            ),
        ),
        _text("domain", "AD domain (domain join only)", form.domain, "e.g. corp.contoso.com", optional=True),
        _text(
            "domain_user",
            "Domain join account (domain join only)",
            form.domain_user,
            "the password comes from AVD_DOMAIN_JOIN_PASSWORD on the bot host",
            optional=True,
        ),
        _text("host_pool", "Host pool", form.host_pool, f"in resource group {host_pool_group}"),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text="The host pool registration token is fetched when the job runs; it is never shown here."
                )
            ]
        ),
    ]
    return View(
        type="modal",
        callback_id=CALLBACK_ID,
        title=PlainTextObject(text="New DR scale set"),
        submit=PlainTextObject(text="Review plan"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps(dict(metadata), separators=(",", ":")),
        blocks=blocks,
    )


def _value(values: Mapping[str, Any], block_id: str) -> str:
    entry = (values.get(block_id) or {}).get(block_id) or {}
    if entry.get("selected_option"):
        return str(entry["selected_option"].get("value", "")).strip()
    return str(entry.get("value") or "").strip()


def parse_form(values: Mapping[str, Any]) -> tuple[ScaleSetForm | None, dict[str, str]]:
    """``view.state.values`` -> the form, or ``None`` and one error per block id (Slack's ``errors`` map)."""
    raw = {k: _value(values, k) for k in (*_PATTERNS, "capacity", "join_type", "domain", "domain_user")}
    errors = {k: f"Expected {why}." for k, (rx, why) in _PATTERNS.items() if not rx.match(raw[k])}
    try:
        capacity = int(raw["capacity"])
        if not 0 <= capacity <= MAX_INSTANCES:
            raise ValueError
    except ValueError:
        capacity = 0
        errors["capacity"] = f"Expected a whole number from 0 to {MAX_INSTANCES}."
    if raw["join_type"] not in JOIN_TYPES:
        errors["join_type"] = "Choose Entra ID or Active Directory domain."
    if raw["join_type"] == "domain":
        if not _DOMAIN.match(raw["domain"]):
            errors["domain"] = "Domain join needs the domain's DNS name, e.g. corp.contoso.com."
        if not _USER.match(raw["domain_user"]):
            errors["domain_user"] = (
                "Domain join needs the account that joins machines, e.g. svc-join@corp.contoso.com."
            )
    if errors:
        return None, errors
    return ScaleSetForm(
        name=raw["name"],
        gallery=raw["gallery"],
        image=raw["image"],
        version=raw["version"],
        vm_size=raw["vm_size"],
        vnet=raw["vnet"],
        subnet=raw["subnet"],
        capacity=capacity,
        join_type=raw["join_type"],
        host_pool=raw["host_pool"],
        domain=raw["domain"],
        domain_user=raw["domain_user"],
    ), {}


def metadata_of(view: Mapping[str, Any]) -> dict[str, Any]:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


VIEW_KIND = f"view:{CALLBACK_ID}"  # the inbox kind of a submitted form (web role)
OnSubmit = Callable[[str, dict[str, Any], ScaleSetForm], None]


def register_view(runtime: Runtime, on_submit: OnSubmit) -> None:
    """Listen for the form's submission: errors in the ack, else ack and call ``on_submit(user, meta, form)``."""

    @runtime.app.view(CALLBACK_ID)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        form, errors = parse_form(((view.get("state") or {}).get("values")) or {})
        if form is None:
            ack(response_action="errors", errors=errors)
            return
        user = str((body.get("user") or {}).get("id", ""))
        view_id = str(view.get("id") or "")
        if view_id and not runtime.replay.claim(f"view:{view_id}"):  # a replay: the form was handled
            ack()
            runtime.after_ack(
                functools.partial(
                    audit.record,
                    runtime.store,
                    actor=user or "unknown",
                    action="refused",
                    target="scaleset create form",
                    detail={"view": view_id, "reason": "replay"},
                    outcome="refused",
                )
            )
            return
        meta = metadata_of(view)
        payload = (
            {
                "user_id": user,
                "channel_id": str(meta.get("channel", "")),
                "metadata": meta,
                "form": form_dict(form),
            }
            if runtime.defer is not None
            else {}
        )
        if runtime.hand_off(VIEW_KIND, payload, on_submit, user, meta, form):
            ack()
        else:  # not queued or not recorded: the form stays open with what was typed, to submit again
            ack(response_action="errors", errors={"name": BUSY_TEXT})

    def run(payload: dict[str, Any]) -> None:  # a worker's half (the web role recorded the submission)
        form = ScaleSetForm(**payload["form"])
        run_reporting(on_submit, str(payload.get("user_id", "")), dict(payload.get("metadata") or {}), form)

    runtime.inbox_handlers[VIEW_KIND] = run


def form_dict(form: ScaleSetForm) -> dict[str, Any]:
    return asdict(form)
