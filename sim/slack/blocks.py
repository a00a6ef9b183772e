"""Block Kit validation with Slack's server-side limits.

Errors are returned as Slack words them in ``response_metadata.messages``:
``"[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"``.
"""

from __future__ import annotations

from typing import Any

MESSAGE_BLOCKS = 50
MODAL_BLOCKS = 100

BLOCK_TYPES = frozenset(
    {
        "section",
        "header",
        "context",
        "actions",
        "divider",
        "image",
        "input",
        "rich_text",
        "file",
        "video",
        "markdown",
        "context_actions",
    }
)
ELEMENT_TYPES = frozenset(
    {
        "button",
        "checkboxes",
        "datepicker",
        "datetimepicker",
        "email_text_input",
        "file_input",
        "image",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
        "number_input",
        "overflow",
        "plain_text_input",
        "radio_buttons",
        "rich_text_input",
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "timepicker",
        "url_text_input",
        "workflow_button",
    }
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
MODAL_TEXT = 24


def too_long(limit: int, pointer: str) -> str:
    """Slack's message for a string over ``limit`` characters."""
    return f"[ERROR] must be less than {limit + 1} characters [json-pointer:{pointer}]"


def too_many(limit: int, pointer: str) -> str:
    """Slack's message for an array over ``limit`` items."""
    return f"[ERROR] must be less than {limit + 1} items [json-pointer:{pointer}]"


def invalid(reason: str, pointer: str) -> str:
    """A generic schema failure message."""
    return f"[ERROR] {reason} [json-pointer:{pointer}]"


def check_text(obj: Any, pointer: str, limit: int, plain_only: bool = False) -> list[str]:
    """Validate a text composition object."""
    if not isinstance(obj, dict):
        return [invalid("must provide an object", pointer)]
    kinds = {"plain_text"} if plain_only else TEXT_TYPES
    if obj.get("type") not in kinds:
        return [invalid(f"must be one of {sorted(kinds)}", pointer + "/type")]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [invalid("must be more than 0 characters", pointer + "/text")]
    if len(text) > limit:
        return [too_long(limit, pointer + "/text")]
    return []


def check_string(value: Any, limit: int, pointer: str) -> list[str]:
    """Validate an optional string field's length."""
    if value is None:
        return []
    if not isinstance(value, str):
        return [invalid("must be a string", pointer)]
    return [too_long(limit, pointer)] if len(value) > limit else []


def check_confirm(obj: Any, pointer: str) -> list[str]:
    """Validate a confirmation dialog object."""
    if not isinstance(obj, dict):
        return [invalid("must provide an object", pointer)]
    errors = check_text(obj.get("title"), pointer + "/title", 100, plain_only=True)
    errors += check_text(obj.get("text"), pointer + "/text", 300)
    errors += check_text(obj.get("confirm"), pointer + "/confirm", 30, plain_only=True)
    errors += check_text(obj.get("deny"), pointer + "/deny", 30, plain_only=True)
    if obj.get("style") not in (None, "primary", "danger"):
        errors.append(invalid("must be one of primary, danger", pointer + "/style"))
    return errors


def check_element(element: Any, pointer: str) -> list[str]:
    """Validate one interactive (or image) element."""
    if not isinstance(element, dict):
        return [invalid("must provide an object", pointer)]
    kind = element.get("type")
    if kind not in ELEMENT_TYPES:
        return [invalid(f"unsupported type: {kind!r}", pointer + "/type")]
    errors = check_string(element.get("action_id"), 255, pointer + "/action_id")
    if "confirm" in element:
        errors += check_confirm(element["confirm"], pointer + "/confirm")
    if kind == "button":
        errors += check_text(element.get("text"), pointer + "/text", 75, plain_only=True)
        errors += check_string(element.get("value"), 2000, pointer + "/value")
        errors += check_string(element.get("url"), 3000, pointer + "/url")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(invalid("must be one of primary, danger", pointer + "/style"))
    elif kind == "image":
        errors += check_string(element.get("image_url"), 3000, pointer + "/image_url")
    return errors


def check_section(block: dict[str, Any], pointer: str) -> list[str]:
    """Section: text up to 3000 characters, up to 10 fields of 2000."""
    errors: list[str] = []
    if "text" not in block and "fields" not in block:
        errors.append(invalid("must provide either text or fields", pointer))
    if "text" in block:
        errors += check_text(block["text"], pointer + "/text", 3000)
    fields = block.get("fields")
    if fields is not None:
        if not isinstance(fields, list):
            errors.append(invalid("must be an array", pointer + "/fields"))
        elif len(fields) > 10:
            errors.append(too_many(10, pointer + "/fields"))
        else:
            for i, field in enumerate(fields):
                errors += check_text(field, f"{pointer}/fields/{i}", 2000)
    if "accessory" in block:
        errors += check_element(block["accessory"], pointer + "/accessory")
    return errors


def check_elements(block: dict[str, Any], pointer: str, limit: int, context: bool) -> list[str]:
    """Context (10 text/image items) and actions (25 interactive elements)."""
    elements = block.get("elements")
    if not isinstance(elements, list) or not elements:
        return [invalid("must provide a non-empty array", pointer + "/elements")]
    if len(elements) > limit:
        return [too_many(limit, pointer + "/elements")]
    errors: list[str] = []
    for i, element in enumerate(elements):
        item = f"{pointer}/elements/{i}"
        if context and isinstance(element, dict) and element.get("type") in TEXT_TYPES:
            errors += check_text(element, item, 3000)
        elif context and isinstance(element, dict) and element.get("type") == "image":
            errors += check_element(element, item)
        elif context:
            errors.append(invalid("must be a text or image element", item))
        else:
            errors += check_element(element, item)
    return errors


def check_block(block: Any, pointer: str) -> list[str]:
    """Validate one block by its type."""
    if not isinstance(block, dict):
        return [invalid("must provide an object", pointer)]
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        return [invalid(f"unsupported type: {kind!r}", pointer + "/type")]
    errors = check_string(block.get("block_id"), 255, pointer + "/block_id")
    if kind == "section":
        errors += check_section(block, pointer)
    elif kind == "header":
        errors += check_text(block.get("text"), pointer + "/text", 150, plain_only=True)
    elif kind == "context":
        errors += check_elements(block, pointer, 10, context=True)
    elif kind == "actions":
        errors += check_elements(block, pointer, 25, context=False)
    elif kind == "input":
        errors += check_text(block.get("label"), pointer + "/label", 2000, plain_only=True)
        errors += check_element(block.get("element"), pointer + "/element")
        if "hint" in block:
            errors += check_text(block["hint"], pointer + "/hint", 2000, plain_only=True)
    elif kind == "image":
        errors += check_string(block.get("image_url"), 3000, pointer + "/image_url")
        errors += check_string(block.get("alt_text"), 2000, pointer + "/alt_text")
    return errors


def validate_blocks(blocks: Any, limit: int = MESSAGE_BLOCKS, root: str = "/blocks") -> list[str]:
    """All problems with a block list; empty when Slack would accept it."""
    if not isinstance(blocks, list):
        return [invalid("must be an array", root)]
    if len(blocks) > limit:
        return [too_many(limit, root)]
    errors: list[str] = []
    for i, block in enumerate(blocks):
        errors += check_block(block, f"{root}/{i}")
    return errors


def validate_view(view: Any) -> list[str]:
    """All problems with a modal view; empty when Slack would accept it."""
    if not isinstance(view, dict):
        return [invalid("must provide an object", "/view")]
    if view.get("type") not in ("modal", "home"):
        return [invalid("must be one of modal, home", "/view/type")]
    errors: list[str] = []
    if view["type"] == "modal":
        errors += check_text(view.get("title"), "/view/title", MODAL_TEXT, plain_only=True)
        for key in ("submit", "close"):
            if view.get(key) is not None:
                errors += check_text(view[key], f"/view/{key}", MODAL_TEXT, plain_only=True)
    errors += check_string(view.get("callback_id"), 255, "/view/callback_id")
    errors += check_string(view.get("private_metadata"), 3000, "/view/private_metadata")
    errors += check_string(view.get("external_id"), 255, "/view/external_id")
    errors += validate_blocks(view.get("blocks"), MODAL_BLOCKS, "/view/blocks")
    return errors
