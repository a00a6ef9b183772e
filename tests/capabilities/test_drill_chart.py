"""The drill trend chart: the PNG as data (``bot.slack.chart``), the Slack double's external upload (``files.*``)
through the real ``WebClient``, and a drill that ends with the chart in its job's thread (or survives a failed
upload)."""

from __future__ import annotations

import json
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import chart
from sim.slack import SlackSim
from tests.kit.failover import Harness, harness_factory  # noqa: F401 - fixture

TOKEN = "xoxb-sandbox-token"
SCOPES = ["chat:write", "files:write"]


# ---- reading a PNG back (independent of bot.chart's encoder) -------------------------------------------


def read_png(data: bytes) -> tuple[dict[str, Any], list[bytes]]:
    """IHDR fields and the unfiltered scanlines (palette indexes); every chunk's CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    header = {
        "width": width,
        "height": height,
        "depth": depth,
        "colour": colour,
        "interlace": interlace,
        "compression": compression,
        "filter": filtering,
        "palette": next(b for k, b in chunks if k == b"PLTE"),
    }
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    stride = width + 1
    assert len(raw) == stride * height
    rows = [raw[i * stride : (i + 1) * stride] for i in range(height)]
    assert all(row[0] == 0 for row in rows)  # filter type None on every scanline
    return header, [row[1:] for row in rows]


def bars(rows: list[bytes]) -> list[tuple[int, int, int]]:
    """``(x, height, colour)`` of each bar, read at the bar's first column."""
    found, x, width = [], 0, len(rows[0])
    while x < width:
        column = [row[x] for row in rows]
        painted = [c for c in column if c in (chart.BAR, chart.NEWEST)]
        if painted:
            found.append((x, len(painted), painted[0]))
            while x < width and rows[-chart.MARGIN - 2][x] in (chart.BAR, chart.NEWEST):
                x += 1
        x += 1
    return found


# ---- the chart as data -----------------------------------------------------------------------------------


def test_chart_is_a_valid_indexed_png_of_the_stated_size() -> None:
    header, rows = read_png(chart.bar_chart([130.0, 185.0, 92.0]))
    assert (header["width"], header["height"]) == (chart.WIDTH, chart.HEIGHT) == (480, 160)
    assert (
        header["depth"],
        header["colour"],
        header["compression"],
        header["filter"],
        header["interlace"],
    ) == (8, 3, 0, 0, 0)
    assert len(header["palette"]) == 3 * len(chart.PALETTE)
    assert len(rows) == 160 and {len(r) for r in rows} == {480}
    assert max(max(r) for r in rows) < len(chart.PALETTE)
    baseline = rows[chart.HEIGHT - chart.MARGIN - 1]
    assert baseline[chart.MARGIN : chart.WIDTH - chart.MARGIN] == bytes([chart.BASELINE]) * (
        chart.WIDTH - 2 * chart.MARGIN
    )


def test_a_larger_value_draws_a_taller_bar_and_the_newest_is_highlighted() -> None:
    _, rows = read_png(chart.bar_chart([60.0, 120.0, 90.0]))
    found = bars(rows)
    assert [colour for _, _, colour in found] == [chart.BAR, chart.BAR, chart.NEWEST]
    heights = [h for _, h, _ in found]
    assert heights[1] > heights[2] > heights[0]
    assert heights[1] == chart.HEIGHT - 2 * chart.MARGIN - 1  # the longest time fills the plot
    assert abs(heights[0] * 2 - heights[1]) <= 1  # 0-based scale: half the time, half the bar
    assert [x for x, _, _ in found] == sorted(x for x, _, _ in found)  # oldest left


@pytest.mark.parametrize("seconds", [[], [0.0], [75.0], [10.0] * 25])
def test_chart_of_any_history_decodes(seconds: list[float]) -> None:
    _, rows = read_png(chart.bar_chart(seconds))
    assert len(bars(rows)) == len([s for s in seconds if s > 0][-chart.MAX_POINTS :])


def test_chart_bytes_are_deterministic_and_keep_the_last_twenty() -> None:
    times = [float(30 + (i * 37) % 90) for i in range(25)]
    assert chart.bar_chart(times) == chart.bar_chart(list(times))
    assert chart.bar_chart(times) == chart.bar_chart(times[-chart.MAX_POINTS :])
    assert chart.bar_chart(times) != chart.bar_chart(times[:-1])


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [([], []), ([0.0, 0.0], [0, 0]), ([1.0, 1000.0], [1, 100]), ([50.0, 100.0, 0.0], [50, 100, 0])],
)
def test_bar_heights(seconds: list[float], expected: list[int]) -> None:
    assert chart.bar_heights(seconds, 100) == expected


def test_encoder_refuses_ragged_rows_and_tiny_charts() -> None:
    with pytest.raises(ValueError, match="equal width"):
        chart.encode_png([b"\x00\x00", b"\x00"], chart.PALETTE)
    with pytest.raises(ValueError, match="at least"):
        chart.bar_chart([1.0], width=10, height=10)


# ---- the Slack double's files.* through the real WebClient ----------------------------------------------


@pytest.fixture
def slack() -> Iterator[SlackSim]:
    with SlackSim(scopes=SCOPES, rate_limits=False) as double:
        yield double


@pytest.fixture
def client(slack: SlackSim) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.url)


def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        call()
    return str(info.value.response["error"])


def test_files_upload_v2_shares_the_png_in_the_thread(slack: SlackSim, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C0INCIDENT", text="job card")["ts"]
    png = chart.bar_chart([60.0, 90.0])
    response = client.files_upload_v2(
        content=png,
        filename="trend.png",
        title="Trend",
        alt_txt="two bars",
        channel="C0INCIDENT",
        thread_ts=parent,
        initial_comment="the trend",
    )
    assert response["file"]["title"] == "Trend" and response["file"]["mimetype"] == "image/png"
    assert response["file"]["size"] == len(png)
    [upload] = slack.uploads
    assert (upload.content, upload.filename, upload.channel, upload.thread_ts, upload.completed) == (
        png,
        "trend.png",
        "C0INCIDENT",
        parent,
        True,
    )
    [reply] = slack.thread("C0INCIDENT", parent)
    assert reply["text"] == "the trend" and reply["upload"] is True
    assert reply["files"][0]["id"] == upload.file_id == response["file"]["id"]
    assert slack.message("C0INCIDENT", parent)["reply_count"] == 1  # type: ignore[index]
    assert [c.method for c in slack.calls][1:] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]


def test_upload_without_a_channel_stays_private(slack: SlackSim, client: WebClient) -> None:
    client.files_upload_v2(content=b"abc", filename="a.txt")
    [upload] = slack.uploads
    assert upload.completed and upload.channel is None and slack.messages("C0INCIDENT") == []


def test_files_write_scope_is_required() -> None:
    with SlackSim(scopes=["chat:write"]) as double:
        client = WebClient(token=TOKEN, base_url=double.url)
        with pytest.raises(SlackApiError) as info:
            client.files_upload_v2(content=b"x", filename="x.png", channel="C0INCIDENT")
        assert (info.value.response["error"], info.value.response["needed"]) == (
            "missing_scope",
            "files:write",
        )
        assert double.uploads == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"length": 3}, "invalid_arguments"),
        ({"filename": "a.png"}, "invalid_arguments"),
        ({"filename": "a.png", "length": 0}, "missing_argument"),
        ({"filename": "a.png", "length": "three"}, "invalid_arguments"),
        ({"filename": "a.png", "length": -3}, "invalid_arguments"),
        ({"filename": "a.png", "length": 3, "alt_txt": "x" * 1001}, "alt_txt_too_large"),
    ],
)
def test_get_upload_url_rejects_what_slack_rejects(
    client: WebClient, params: dict[str, Any], error: str
) -> None:
    assert error_of(lambda: client.api_call("files.getUploadURLExternal", params=params)) == error


def ticket(client: WebClient, data: bytes, *, post: bool = True) -> str:
    """A file id for ``data``, its bytes POSTed to the upload URL unless ``post`` is False."""
    answer = client.files_getUploadURLExternal(filename="c.png", length=len(data))
    if post:
        with urllib.request.urlopen(
            urllib.request.Request(answer["upload_url"], data=data, method="POST")
        ) as r:
            assert (r.status, r.read()) == (200, f"OK - {len(data)}".encode())
    return str(answer["file_id"])


@pytest.mark.parametrize(
    ("channel", "error"),
    [
        ("C0RANDOM", "invalid_arguments"),  # not shaped like a conversation id: ^[CGDZ][A-Z0-9]{8,}$
        ("#incident", "invalid_arguments"),
        ("C0NOWHERE1", "channel_not_found"),
        ("C0OUTSIDE", "not_in_channel"),
    ],
)
def test_complete_refuses_bad_channels(client: WebClient, slack: SlackSim, channel: str, error: str) -> None:
    file_id = ticket(client, b"png")
    assert (
        error_of(lambda: client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=channel))
        == error
    )
    assert not slack.uploads[0].completed  # still completable
    client.files_completeUploadExternal(files=[{"id": file_id}], channel_id="C0INCIDENT")


def test_complete_refuses_unknown_unuploaded_and_completed_files(client: WebClient) -> None:
    complete = client.files_completeUploadExternal
    assert (
        error_of(lambda: complete(files=[{"id": "F0NOSUCHFILE"}], channel_id="C0INCIDENT"))
        == "file_not_found"
    )
    never = ticket(client, b"abc", post=False)
    assert error_of(lambda: complete(files=[{"id": never}], channel_id="C0INCIDENT")) == "file_not_found"
    done = ticket(client, b"abc")
    complete(files=[{"id": done, "title": "t"}], channel_id="C0INCIDENT")
    assert error_of(lambda: complete(files=[{"id": done}], channel_id="C0INCIDENT")) == "file_not_found"
    assert error_of(lambda: complete(files=[], channel_id="C0INCIDENT")) == "invalid_arguments"
    assert (
        error_of(lambda: client.api_call("files.completeUploadExternal", params={"channel_id": "C0INCIDENT"}))
        == "invalid_arguments"
    )
    assert (
        error_of(
            lambda: client.api_call(
                "files.completeUploadExternal", params={"files": json.dumps([{"title": "no id"}])}
            )
        )
        == "invalid_arguments"
    )
    fresh = ticket(client, b"abc")
    assert (
        error_of(lambda: complete(files=[{"id": fresh}], thread_ts="1700000000.000100"))
        == "invalid_arguments"
    )


def post_raw(url: str, data: bytes) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST")) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def test_upload_url_takes_the_declared_length_once(client: WebClient, slack: SlackSim) -> None:
    answer = client.files_getUploadURLExternal(filename="c.png", length=4)
    url = str(answer["upload_url"])
    assert url.startswith(slack.root + "/hooks/upload/v1/")
    assert post_raw(url, b"abc") == 400  # length mismatch: nothing stored
    assert post_raw(url, b"abcd") == 200
    assert post_raw(url, b"abcd") == 404  # one POST per ticket
    assert post_raw(url + "x", b"abcd") == 404
    assert slack.uploads[0].content == b"abcd"
    assert [c.status for c in slack.calls_to("upload")] == [400, 200, 404, 404]


def test_injected_upload_failure_fails_files_upload_v2_and_reset_forgets(
    client: WebClient, slack: SlackSim
) -> None:
    slack.fail_next("upload", status=500)
    with pytest.raises(urllib.error.HTTPError) as info:
        client.files_upload_v2(content=b"x", filename="x.png", channel="C0INCIDENT")
    info.value.close()
    assert (
        info.value.code == 500
        and not slack.uploads[0].completed
        and slack.calls_to("files.completeUploadExternal") == []
    )
    slack.reset()
    assert slack.uploads == []


# ---- a drill ends with the chart in its thread ----------------------------------------------------------


def grant_files_write(h: Harness) -> None:
    with h.slack.lock:
        h.slack.workspace.scopes = (*h.slack.workspace.scopes, "files:write")


def test_drill_ends_with_the_trend_png_in_the_job_thread(harness_factory: Any) -> None:  # noqa: F811
    h: Harness = harness_factory()
    grant_files_write(h)
    assert h.chat.slash("/avd drill dr", user="U0OPS1").status == 200
    job = h.wait_job(1, timeout=30)
    [upload] = h.chat.wait_for(lambda: [u for u in h.slack.uploads if u.completed], timeout=15)
    assert (upload.filename, upload.channel, upload.thread_ts) == (
        "drill-trend-dr.png",
        job["channel"],
        job["card_ts"],
    )
    assert upload.alt_txt and "dr" in upload.alt_txt
    header, rows = read_png(upload.content or b"")
    assert (header["width"], header["height"]) == (480, 160)
    assert [colour for _, _, colour in bars(rows)] == [chart.NEWEST]
    thread = h.slack.thread(job["channel"], job["card_ts"])
    assert [m["files"][0]["name"] for m in thread if m.get("files")] == ["drill-trend-dr.png"]
    h.chat.wait_for(lambda: [t for t in h.thread(1) if "Trend over 1 drill(s)" in t], timeout=15)
    assert next(s for s in h.steps(1) if s["name"] == "report")["output"] == "reported with the trend chart"


@pytest.mark.parametrize(
    ("method", "error", "status"),
    [
        ("files.completeUploadExternal", "not_in_channel", 200),  # Slack's ok: false
        ("upload", "internal_error", 500),  # the byte POST fails: urllib raises, not slack_sdk
    ],
)
def test_drill_whose_chart_upload_fails_still_ends_done(
    harness_factory: Any,  # noqa: F811
    method: str,
    error: str,
    status: int,
) -> None:
    h: Harness = harness_factory()
    grant_files_write(h)
    h.slack.fail_next(method, error, status=status)
    assert h.chat.slash("/avd drill dr", user="U0OPS1").status == 200
    h.wait_job(1, timeout=30)
    h.chat.wait_for(lambda: [t for t in h.thread(1) if "Trend over 1 drill(s)" in t], timeout=15)
    assert next(s for s in h.steps(1) if s["name"] == "report")["output"] == "reported"
    assert [c.status for c in h.slack.calls_to(method)] == [status]
    assert not any(u.completed for u in h.slack.uploads)
    assert not any(m.get("files") for m in h.slack.messages(h.job(1)["channel"]))
