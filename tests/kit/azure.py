"""Shared helpers for the ARM simulator tests: a started simulator and SDK clients built by AzureClients."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from azureops.clients import AzureClients
from sim.azure import AzureSim

SUB = "00000000-0000-0000-0000-000000000001"
SUB2 = "00000000-0000-0000-0000-000000000002"
GOLD = f"/subscriptions/{SUB}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute"
VERSION_ID = f"{GOLD}/galleries/AVDGallery/images/Win11MultiS/versions/2026.0522.1719"
IMAGE = ("GOLD-VDA", "AVDGallery", "Win11MultiS", "2026.0522.1719")


@contextmanager
def running(**kwargs: Any) -> Iterator[tuple[AzureSim, AzureClients]]:
    """A seeded simulator at a high time scale, and clients that poll quickly and never retry."""
    kwargs.setdefault("time_scale", 6000.0)
    retry_total = kwargs.pop("retry_total", 0)
    sim = AzureSim(**kwargs)
    url = sim.start()
    try:
        yield sim, AzureClients(url, sim.ca_path, polling_interval=0.01, retry_total=retry_total)
    finally:
        sim.stop()


def raw(
    sim_url: str, ca: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One HTTPS request without the SDK (control endpoint, api-version checks)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        sim_url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    ctx = ssl.create_default_context(cafile=ca)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            text = resp.read()
            return resp.status, dict(resp.headers), json.loads(text) if text else None
    except urllib.error.HTTPError as err:
        text = err.read()
        status, hdrs = err.code, dict(err.headers)
        err.close()
        return status, hdrs, json.loads(text) if text else None
