"""Forged Slack request signatures: each function takes a body and returns it with the headers to send."""

from __future__ import annotations

import time

from sim.slack.chat import signed_request

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def no_signature(body: str) -> tuple[str, dict[str, str]]:
    return body, {"Content-Type": "application/x-www-form-urlencoded"}


def wrong_signature(body: str) -> tuple[str, dict[str, str]]:
    return body, signed_request("not-the-signing-secret", body)


def stale_timestamp(body: str) -> tuple[str, dict[str, str]]:
    return body, signed_request(SECRET, body, ts=int(time.time()) - 600)


def future_timestamp(body: str) -> tuple[str, dict[str, str]]:
    return body, signed_request(SECRET, body, ts=int(time.time()) + 600)


def body_altered_after_signing(body: str) -> tuple[str, dict[str, str]]:
    return body.replace("uksouth", "westeurope"), signed_request(SECRET, body)


def timestamp_header_swapped(body: str) -> tuple[str, dict[str, str]]:
    headers = signed_request(SECRET, body)
    headers["X-Slack-Request-Timestamp"] = str(int(headers["X-Slack-Request-Timestamp"]) - 1)
    return body, headers
