"""The control endpoint ``/_sim/...`` (JSON, no auth) for tests and tools in another process.

GET  /_sim/faults                 rules and partitions
POST /_sim/faults                 {"kind": "error"|"latency"|"reset"|"lro_failure", "method", "path",
                                   "count", "status", "code", "message", "retry_after", "seconds"}
DELETE /_sim/faults               clear every rule and partition
POST /_sim/partition              {"region", "mode": "hang"|"503", "seconds"};  DELETE: heal all
GET  /_sim/clock                  {"now", "timeScale"};  POST {"advance": seconds}
GET  /_sim/journal?since=N        entries from index N
GET  /_sim/state                  the full state;  POST {"path"} saves it to a file
POST /_sim/permissions            {"actions": [...] | null}
GET  /_sim/messages               AVD messages sent to user sessions
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from sim.azure.clock import iso
from sim.azure.router import ArmError, Request, Response
from sim.azure.state import State

if TYPE_CHECKING:
    from sim.azure.journal import Entry


class Controlled(State, Protocol):
    """What the control endpoint needs beyond the providers' ``State`` (``AzureSim`` has it)."""

    @property
    def journal(self) -> list[Entry]: ...

    def save(self, path: str) -> None: ...

    def state(self) -> dict[str, Any]: ...

    def set_permissions(self, principal_actions: list[str] | None) -> None: ...


def handle(sim: Controlled, req: Request) -> Response:
    name = req.path.lower().removeprefix("/_sim").strip("/")
    body: dict[str, Any] = req.body if isinstance(req.body, dict) else {}
    try:
        return _route(sim, req.method, name, body, req)
    except (TypeError, ValueError, KeyError) as exc:
        raise ArmError(400, "InvalidControlRequest", str(exc)) from exc


def _route(sim: Controlled, method: str, name: str, body: dict[str, Any], req: Request) -> Response:
    if name == "faults":
        if method == "POST":
            fields = dict(body)
            kind = fields.pop("kind")
            rule = sim.faults.add(kind, fields.pop("method", "*"), fields.pop("path", ".*"), **fields)
            return Response(201, rule.to_json())
        if method == "DELETE":
            sim.faults.clear()
            return Response(204)
        return Response(200, sim.faults.to_json())
    if name == "partition":
        if method == "DELETE":
            sim.faults.heal(body.get("region"))
            return Response(204)
        sim.faults.partition(body["region"], body.get("mode", "hang"), float(body.get("seconds", 30.0)))
        return Response(200, sim.faults.to_json())
    if name == "clock":
        if method == "POST":
            sim.clock.advance(float(body.get("advance", 0)))
        return Response(200, {"now": iso(sim.clock.seconds()), "timeScale": sim.clock.time_scale})
    if name == "journal":
        start = int(req.q("since") or 0)
        return Response(200, {"value": [e.to_json() for e in sim.journal[start:]]})
    if name == "state":
        if method == "POST":
            sim.save(body["path"])
            return Response(200, {"saved": body["path"]})
        return Response(200, sim.state())
    if name == "permissions":
        sim.set_permissions(body.get("actions"))
        return Response(200, {"actions": sim.permissions})
    if name == "messages":
        return Response(200, {"value": list(sim.messages)})
    raise ArmError(404, "NotFound", f"unknown control endpoint /_sim/{name}")
