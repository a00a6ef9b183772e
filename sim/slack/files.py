"""File uploads as Slack does them now (what ``WebClient.files_upload_v2`` calls), in three requests:

1. ``files.getUploadURLExternal`` (``filename``, ``length``) -> ``upload_url``, ``file_id``;
2. a POST of the raw bytes to ``upload_url`` (no token: the URL is the credential) -> 200 ``OK - <length>``;
3. ``files.completeUploadExternal`` (``files=[{id, title}]``, ``channel_id``, ``thread_ts``, ``initial_comment``)
   -> the files, shared as one bot message (``files``, ``upload: true``) in the channel or thread.

Both methods need ``files:write``. Rejected as Slack documents: a missing ``filename``/``length``
(``invalid_arguments``), ``length`` 0 (``missing_argument``), ``alt_txt`` over 1,000 characters
(``alt_txt_too_large``), a ``channel_id`` not shaped like a conversation id (``invalid_arguments``), an unknown
channel (``channel_not_found``), one the bot is not in (``not_in_channel``), and a file id that is unknown, never
uploaded or already completed (``file_not_found``). The double's own choices where Slack documents nothing: a
POST whose size differs from ``length`` gets 400 ``length_mismatch`` (nothing stored), a ticket takes one POST,
``thread_ts`` needs exactly one channel. The upload URL is ``<root>/hooks/upload/v1/<ticket>``.
"""

from __future__ import annotations

import copy
import mimetypes
import re
import secrets
import time
from dataclasses import dataclass, field, replace
from typing import Any

from sim.slack.methods import MAX_TEXT, ApiError, Method, check_member, json_arg, missing, required
from sim.slack.state import BOT_USER, Workspace

SCOPE = "files:write"
UPLOAD_PREFIX = "upload/v1/"  # under /hooks/, the path the double routes raw POST bodies on
UPLOAD = "upload"  # the journal's and fail_next's name for the upload POST
CHANNEL_ID = re.compile(r"^[CGDZ][A-Z0-9]{8,}$")
MAX_ALT_TXT = 1000
SHELF = "_files"


@dataclass
class Upload:
    """One file from getUploadURLExternal to completeUploadExternal; ``content`` is None until the POST."""

    file_id: str
    ticket: str
    filename: str
    length: int
    created: float
    alt_txt: str | None = None
    snippet_type: str | None = None
    content: bytes | None = None
    title: str | None = None
    completed: bool = False
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    message_ts: str | None = None


@dataclass
class Shelf:
    """The workspace's uploads by file id and ticket, and the upload URLs' prefix."""

    upload_root: str = ""
    uploads: dict[str, Upload] = field(default_factory=dict)
    tickets: dict[str, str] = field(default_factory=dict)

    def clear(self) -> None:
        self.uploads.clear()
        self.tickets.clear()


def shelf(ws: Workspace) -> Shelf:
    """The uploads kept alongside a workspace (created on first use)."""
    found = vars(ws).get(SHELF)
    if not isinstance(found, Shelf):
        found = Shelf()
        vars(ws)[SHELF] = found
    return found


def recorded(ws: Workspace) -> list[Upload]:
    """Copies of every upload, in the order their URLs were issued."""
    return [replace(u) for u in shelf(ws).uploads.values()]


def invalid(message: str) -> ApiError:
    return ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {message}"]})


def get_upload_url(ws: Workspace, args: dict[str, Any], now: float) -> dict[str, Any]:
    """files.getUploadURLExternal: a one-use upload URL and the file id it will become."""
    filename = required(args, "filename")
    size = str(required(args, "length")).strip()
    if not re.fullmatch(r"-?\d+", size):
        raise invalid("invalid value for field: length (an integer)")
    length = int(size)
    if length == 0:
        raise ApiError("missing_argument")
    if length < 0:
        raise invalid("invalid value for field: length (must be positive)")
    alt_txt = args.get("alt_txt") or None
    if alt_txt is not None and len(str(alt_txt)) > MAX_ALT_TXT:
        raise ApiError("alt_txt_too_large")
    store = shelf(ws)
    upload = Upload(
        file_id="F" + secrets.token_hex(5).upper(),
        ticket=secrets.token_urlsafe(18),
        filename=filename,
        length=length,
        created=time.time(),
        alt_txt=str(alt_txt) if alt_txt else None,
        snippet_type=args.get("snippet_type") or None,
    )
    store.uploads[upload.file_id] = upload
    store.tickets[upload.ticket] = upload.file_id
    return {"upload_url": store.upload_root + upload.ticket, "file_id": upload.file_id}


def receive(ws: Workspace, ticket: str, raw: bytes) -> tuple[int, str]:
    """The POST to an upload URL: (HTTP status, text body)."""
    store = shelf(ws)
    upload = store.uploads.get(store.tickets.get(ticket, ""))
    if upload is None or upload.content is not None:
        return 404, "not_found"
    if len(raw) != upload.length:
        return 400, "length_mismatch"
    upload.content = bytes(raw)
    return 200, f"OK - {len(raw)}"


def destinations(ws: Workspace, args: dict[str, Any]) -> list[str]:
    """Channels from ``channel_id`` or ``channels``, each a conversation the bot may post in."""
    channel_id, listed = args.get("channel_id") or None, args.get("channels") or None
    if channel_id and listed:
        raise invalid("channel_id and channels cannot both be given")
    wanted = (
        [str(channel_id)] if channel_id else [c.strip() for c in str(listed or "").split(",") if c.strip()]
    )
    for channel in wanted:
        if not CHANNEL_ID.match(channel):
            raise invalid(f"input must match regex pattern: {CHANNEL_ID.pattern} [json-pointer:/channel_id]")
        check_member(ws, channel)
    if args.get("thread_ts") and len(wanted) != 1:
        raise invalid("thread_ts needs exactly one channel")
    return wanted


def file_object(ws: Workspace, upload: Upload) -> dict[str, Any]:
    """A file as the Web API returns it."""
    extension = upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
    body: dict[str, Any] = {
        "id": upload.file_id,
        "created": int(upload.created),
        "timestamp": int(upload.created),
        "name": upload.filename,
        "title": upload.title or upload.filename,
        "mimetype": mimetypes.guess_type(upload.filename)[0] or "application/octet-stream",
        "filetype": extension,
        "pretty_type": extension.upper(),
        "user": BOT_USER,
        "user_team": ws.team_id,
        "size": upload.length,
        "mode": "hosted",
        "is_external": False,
        "editable": False,
        "url_private": f"https://files.slack.com/files-pri/{ws.team_id}-{upload.file_id}/{upload.filename}",
        "channels": [upload.channel] if upload.channel else [],
    }
    if upload.alt_txt:
        body["alt_txt"] = upload.alt_txt
    return body


def complete_upload(ws: Workspace, args: dict[str, Any], now: float) -> dict[str, Any]:
    """files.completeUploadExternal: finish uploaded files and share them, as one message per channel."""
    items = json_arg(args, "files", "invalid_arguments")
    if items in (None, ""):
        raise missing("files")
    if (
        not isinstance(items, list)
        or not items
        or not all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in items)
    ):
        raise invalid("files must be a non-empty array of objects with an id")
    channels = destinations(ws, args)
    comment = args.get("initial_comment") or None
    if comment is not None and len(str(comment)) > MAX_TEXT:
        raise ApiError("msg_too_long")
    store = shelf(ws)
    found = [store.uploads.get(i["id"]) for i in items]
    uploads = [u for u in found if u is not None and u.content is not None and not u.completed]
    if len(uploads) != len(items) or len({u.file_id for u in uploads}) != len(uploads):
        raise ApiError("file_not_found")
    thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
    for item, upload in zip(items, uploads, strict=True):
        upload.title = str(item.get("title") or upload.filename)
        upload.completed = True
        upload.channel, upload.thread_ts = (channels[0] if channels else None), thread_ts
        upload.initial_comment = str(comment) if comment else None
    for channel in channels:
        message = ws.bot_message(str(comment or ""), [], thread_ts)
        message["files"] = [file_object(ws, u) for u in uploads]
        message["upload"] = True
        ws.store(channel, message)
        for upload in uploads:
            upload.message_ts = upload.message_ts or str(message["ts"])
    return {"files": [copy.deepcopy(file_object(ws, u)) for u in uploads]}


FILE_METHODS: dict[str, tuple[Method, str | None]] = {
    "files.getUploadURLExternal": (get_upload_url, SCOPE),
    "files.completeUploadExternal": (complete_upload, SCOPE),
}
