"""Fault matrix: every ARM (and Graph) operation the bot uses x every fault the simulator can inject.

Each case runs the real ``azureops`` function (the real SDK pipeline, over HTTPS into ``sim.azure``) with one
transient fault on that operation's request: 429 with Retry-After, 500, 503, a reset connection, a reply slower
than the client's read timeout, and (long-running operations only) an operation that ends ``Failed``.
Each must be *survived* (the call returns, Azure ends in the wanted state, the SDK retried a bounded number of
times) or *reported* (a project ``AzureError`` with a code and a next step; Azure's own code when it sent one)
and then nothing is left half-done: once the fault is gone, running the same function again completes.
The expected outcome of every cell is the rule in ``expected()``; the test asserts the actual one equals it.

Default size: every operation x every fault except "slow", which runs on one operation per HTTP method;
``AVD_TEST_FULL=1`` runs "slow" on every operation too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from avdcore.errors import AvdError, AzureError
from azureops import (
    asr,
    dr_capacity,
    hostpools,
    identities,
    scaleset_spec,
    scaleset_steps,
    scalesets,
    sessions,
)
from azureops import locks as azlocks
from azureops import snapshot_copies as copies
from azureops import snapshots as snaps
from azureops.errors import project_error
from azureops.gallery import ImageRef, read_replicas
from azureops.replicas import add_step, follow_step
from azureops.staging import stage_and_import
from bot.storage import jobs
from tests.kit.chaos import (
    APP,
    ASR_PLAN,
    POOL,
    SUB,
    SUB2,
    VMSS,
    World,
    make_world,
    wait_for,
)
from tests.kit.failover import Harness, failover_config, harness_factory  # noqa: F401 - fixture

FULL = os.environ.get("AVD_TEST_FULL") == "1"
FAULTS = ("429", "500", "503", "reset", "slow", "lro-failed")
LRO_CODE = "InternalExecutionError"
Call = Callable[[World], Any]
IMAGE = ImageRef(SUB, "GOLD-VDA", "AVDGallery", "Win11MultiS", "2026.0522.1719")
SNAP_RG = f"/subscriptions/{SUB}/resourceGroups/GOLD-VDA/providers/Microsoft.Compute/snapshots"


class Op:
    """One operation: the request a fault targets, the azureops call, and the state it must leave."""

    def __init__(
        self,
        name: str,
        method: str,
        path: str,
        call: Call,
        *,
        lro: bool = False,
        done: Callable[[World], bool] = lambda w: True,
        slow: bool = False,
        failed_shows: Callable[[World], bool] | None = None,
    ) -> None:
        self.name, self.method, self.path, self.call, self.lro = name, method, path, call, lro
        self.done, self.slow = done, slow
        self.failed_shows = (
            failed_shows  # after a failed LRO that a re-run cannot fix: Azure keeps showing it
        )


def source(w: World, name: str) -> snaps.Snap:
    found = snaps.get_snapshot(w.clients.compute(SUB), SUB, "GOLD-VDA", name)
    assert found is not None
    return found


def copy(w: World, name: str) -> Any:
    return copies.copy_snapshot(w.target, source(w, name), w.ctx.progress, stage=stage_and_import)


def replica_ready(w: World, name: str) -> bool:
    found = snaps.get_snapshot(w.clients.compute(SUB2), SUB2, "SNAPDR", name)
    return found is not None and found.usable


def replicate(w: World) -> str:
    shared: dict[str, str] = {}
    add_step(w.clients, IMAGE, ("uksouth",), None, None, shared).apply(w.ctx)
    return str(follow_step(w.clients, IMAGE, ("uksouth",), shared, timeout=60).apply(w.ctx))


def drained(w: World) -> bool:
    return sessions.is_drained(w.clients, POOL)


def token_renewed(w: World) -> bool:
    got = w.clients.avd(SUB).host_pools.retrieve_registration_token("AVD", "EntraAuth")
    expires = got.expiration_time
    return bool(got.token) and expires is not None and expires > datetime.now(UTC) + timedelta(hours=20)


def vmss_spec() -> scaleset_spec.ScaleSetSpec:
    base = f"/subscriptions/{SUB}/resourceGroups"
    return scaleset_spec.ScaleSetSpec(
        subscription=SUB,
        resource_group="VMSS",
        name="EntraNew",
        location="westeurope",
        image_id=IMAGE.id,
        vm_size="Standard_D4s_v5",
        capacity=0,
        join_type="entra",
        subnet_id=f"{base}/INFRA/providers/Microsoft.Network/virtualNetworks/vnet-avd-weu/subnets/snet-avd",
        identity_id=f"{base}/VMSS/providers/Microsoft.ManagedIdentity/userAssignedIdentities/AVDManage",
        host_pool="EntraAuth",
        host_pool_resource_group="AVD",
    )


def create_vmss(w: World) -> str:
    step = scaleset_steps.create_step(
        w.clients,
        vmss_spec(),
        token=lambda: "registration-token",
        domain_password=lambda: "",
        interval=0.05,
        timeout=30,
    )
    return str(step.apply(w.ctx))


def restore_lock(w: World) -> bool:
    return azlocks.restore(w.clients, SUB2, w.lock)


def lock_exists(w: World) -> bool:
    return any(lk.name == w.lock.name for lk in azlocks.find(w.clients, SUB2, "SNAPDR"))


def asr_failover(w: World) -> str:
    return str(
        asr.asr_step(w.clients, ASR_PLAN, 1, name="asr-failover", tick=0.05, planned=lambda: False).apply(
            w.ctx
        )
    )


def fic(w: World) -> tuple[str, bool]:
    ident, _ = identities.ensure_identity(w.clients, SUB, "VMSSDR", "AVDManage", "uksouth")
    return identities.ensure_credential(w.clients, APP, "AVDManage-dr", ident)


OPS = (
    Op(
        "gallery version get",
        "GET",
        r"/versions/2026\.0522\.1719$",
        lambda w: read_replicas(w.clients, IMAGE),
        slow=True,
    ),
    Op(
        "gallery version update",
        "PATCH",
        r"/versions/2026\.0522\.1719$",
        replicate,
        lro=True,
        done=lambda w: read_replicas(w.clients, IMAGE).region("uksouth") is not None,
        failed_shows=lambda w: (
            getattr(read_replicas(w.clients, IMAGE).region("uksouth"), "state", "") == "Failed"
        ),
    ),
    Op(
        "snapshots get",
        "GET",
        r"/snapshots/snap-gold-os-20260522$",
        lambda w: source(w, "snap-gold-os-20260522"),
    ),
    Op(
        "snapshots list",
        "GET",
        r"/resourceGroups/GOLD-VDA/providers/Microsoft\.Compute/snapshots$",
        lambda w: snaps.list_snapshots(w.clients.compute(SUB), SUB, "GOLD-VDA"),
    ),
    Op(
        "snapshots create (CopyStart)",
        "PUT",
        r"/SNAPDR/providers/Microsoft\.Compute/snapshots/snap-gold-data",
        lambda w: copy(w, "snap-gold-data-20260522"),
        lro=True,
        slow=True,
        done=lambda w: replica_ready(w, "snap-gold-data-20260522"),
    ),
    Op(
        "snapshots delete",
        "DELETE",
        r"/SNAPDR/providers/Microsoft\.Compute/snapshots/",
        lambda w: copies.delete_snapshot(w.target, w.replica),
        lro=True,
        slow=True,
        done=lambda w: snaps.get_snapshot(w.clients.compute(SUB2), SUB2, "SNAPDR", w.replica) is None,
    ),
    Op(
        "snapshots grant access",
        "POST",
        r"/snap-gold-manual/beginGetAccess$",
        lambda w: copy(w, "snap-gold-manual"),
        lro=True,
        slow=True,
        done=lambda w: replica_ready(w, "snap-gold-manual"),
    ),
    Op(
        "snapshots revoke access",
        "POST",
        r"/snap-gold-manual/endGetAccess$",
        lambda w: copy(w, "snap-gold-manual"),
        lro=True,
        done=lambda w: replica_ready(w, "snap-gold-manual"),
    ),
    Op(
        "snapshots create (Import)",
        "PUT",
        r"/SNAPDR/providers/Microsoft\.Compute/snapshots/snap-gold-manual$",
        lambda w: copy(w, "snap-gold-manual"),
        lro=True,
        done=lambda w: replica_ready(w, "snap-gold-manual"),
    ),
    Op(
        "storage account create",
        "PUT",
        r"/storageAccounts/avdstg[0-9a-f]+$",
        lambda w: copy(w, "snap-gold-manual"),
        done=lambda w: replica_ready(w, "snap-gold-manual"),
    ),
    Op(
        "VMSS get",
        "GET",
        r"/virtualMachineScaleSets/Entra$",
        lambda w: dr_capacity.read_scale_set(w.clients, VMSS),
    ),
    Op(
        "VMSS create",
        "PUT",
        r"/virtualMachineScaleSets/EntraNew$",
        create_vmss,
        lro=True,
        done=lambda w: (
            (s := scalesets.get_scale_set(w.clients, SUB, "VMSS", "EntraNew")) is not None and s.ready
        ),
    ),
    Op(
        "VMSS update",
        "PATCH",
        r"/virtualMachineScaleSets/Entra$",
        lambda w: dr_capacity.scale_step(w.clients, VMSS, 3, name="scale", wait=True).apply(w.ctx),
        lro=True,
        done=lambda w: dr_capacity.read_scale_set(w.clients, VMSS).sku.capacity == 3,
    ),
    Op(
        "identity get",
        "GET",
        r"/userAssignedIdentities/AVDManage$",
        lambda w: identities.get_identity(w.clients, SUB, "VMSS", "AVDManage"),
        slow=True,
    ),
    Op(
        "identity create",
        "PUT",
        r"/VMSSDR/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/AVDManage$",
        lambda w: identities.ensure_identity(w.clients, SUB, "VMSSDR", "AVDManage", "uksouth"),
        done=lambda w: identities.get_identity(w.clients, SUB, "VMSSDR", "AVDManage") is not None,
    ),
    Op("Graph FIC list", "GET", r"/federatedIdentityCredentials$", fic),
    Op(
        "Graph FIC create",
        "POST",
        r"/federatedIdentityCredentials$",
        fic,
        slow=True,
        done=lambda w: len(identities.list_credentials(w.clients, APP)) == 2,
    ),
    Op(
        "host pool get",
        "GET",
        r"/hostPools/EntraAuth$",
        lambda w: hostpools.get_host_pool(w.clients, SUB, "AVD", "EntraAuth"),
    ),
    Op(
        "host pool update (token)",
        "PATCH",
        r"/hostPools/EntraAuth$",
        lambda w: hostpools.registration_token(
            w.clients, SUB, "AVD", "EntraAuth", datetime.now(UTC), min_left=timedelta(days=60)
        ),
        done=token_renewed,
        slow=True,
    ),
    Op(
        "host pool retrieve token",
        "POST",
        r"/hostPools/EntraAuth/retrieveRegistrationToken$",
        lambda w: hostpools.registration_token(
            w.clients, SUB, "AVD", "EntraAuth", datetime.now(UTC), min_left=timedelta(days=60)
        ),
        done=token_renewed,
    ),
    Op(
        "session hosts list",
        "GET",
        r"/hostPools/EntraAuth/sessionHosts$",
        lambda w: sessions.session_hosts(w.clients, POOL),
    ),
    Op(
        "session hosts update",
        "PATCH",
        r"/hostPools/EntraAuth/sessionHosts/[^/]+$",
        lambda w: sessions.set_drain(w.clients, POOL, True),
        done=drained,
    ),
    Op(
        "user sessions list",
        "GET",
        r"/hostPools/EntraAuth/userSessions$",
        lambda w: sessions.user_sessions(w.clients, POOL),
    ),
    Op(
        "user sessions send message",
        "POST",
        r"/userSessions/[^/]+/sendMessage$",
        lambda w: sessions.message_user(w.clients, POOL, w.session, "AVD failover", "bye"),
        done=lambda w: len(w.sim.messages) >= 1,
    ),
    Op(
        "user sessions delete (log off)",
        "DELETE",
        r"/userSessions/[^/]+$",
        lambda w: sessions.log_off_all(w.clients, POOL),
        done=lambda w: not sessions.user_sessions(w.clients, POOL),
        slow=True,
    ),
    Op(
        "scaling plans list",
        "GET",
        r"/hostPools/EntraAuth/scalingPlans$",
        lambda w: sessions.scaling_plans(w.clients, POOL),
    ),
    Op(
        "scaling plan update",
        "PATCH",
        r"/scalingPlans/EntraAuth-Scaling$",
        lambda w: sessions.set_autoscale(w.clients, POOL, False),
        done=lambda w: sessions.autoscale_settled(w.clients, POOL, False),
    ),
    Op(
        "scaling plan get",
        "GET",
        r"/scalingPlans/EntraAuth-Scaling$",
        lambda w: sessions.set_autoscale(w.clients, POOL, False),
        done=lambda w: sessions.autoscale_settled(w.clients, POOL, False),
    ),
    Op(
        "locks list",
        "GET",
        r"/resourceGroups/SNAPDR/providers/Microsoft\.Authorization/locks$",
        lambda w: azlocks.find(w.clients, SUB2, "SNAPDR"),
    ),
    Op("locks create", "PUT", r"/providers/Microsoft\.Authorization/locks/", restore_lock, done=lock_exists),
    Op(
        "locks delete",
        "DELETE",
        r"/providers/Microsoft\.Authorization/locks/",
        lambda w: azlocks.remove(w.clients, SUB2, w.lock),
        done=lambda w: not lock_exists(w),
    ),
    Op("ASR recovery plan get", "GET", r"/replicationRecoveryPlans/avd-personal$", asr_failover),
    Op(
        "ASR unplanned failover",
        "POST",
        r"/replicationRecoveryPlans/avd-personal/unplannedFailover$",
        asr_failover,
        lro=True,
        done=lambda w: asr.read_state(w.clients, ASR_PLAN).active == "Recovery",
    ),
)


def expected(op: Op, fault: str) -> str:
    """The rule: transient 429/500/503 are retried by the SDK for every method; a reset or a timed-out reply is
    retried for GET/PUT/DELETE but reported for POST/PATCH (Azure may have applied it); a failed LRO is reported."""
    if fault == "lro-failed":
        return "reported"
    if fault in ("reset", "slow") and op.method in ("POST", "PATCH"):
        return "reported"
    return "survived"


def inject(w: World, op: Op, fault: str) -> None:
    f = w.sim.faults
    if fault == "429":
        f.fail(
            op.method,
            op.path,
            status=429,
            code="TooManyRequests",
            retry_after=1,
            message="Too many requests, retry after 1 second.",
        )
    elif fault == "500":
        f.fail(op.method, op.path, status=500, code="InternalServerError")
    elif fault == "503":
        f.fail(
            op.method, op.path, status=503, code="ServiceUnavailable", message="The service is unavailable."
        )
    elif fault == "reset":
        f.reset(op.method, op.path)
    elif fault == "slow":
        f.latency(op.method, op.path, seconds=w.read_timeout + 1.0, count=1)
    else:
        f.fail_lro(op.method, op.path, code=LRO_CODE, message="The operation failed (fault matrix).")


def attempts(w: World, op: Op, since: int) -> int:
    rx = re.compile(op.path, re.IGNORECASE)
    return sum(1 for e in w.sim.journal[since:] if op.method in ("*", e.method) and rx.search(e.path))


def cases() -> Iterator[Any]:
    for op in OPS:
        for fault in FAULTS:
            if fault == "lro-failed" and not op.lro:
                continue
            if fault == "slow" and not (op.slow or FULL):
                continue
            yield pytest.param(op, fault, id=f"{op.name}-{fault}".replace(" ", "_"))


@pytest.fixture
def world_for(tmp_path: Any) -> Iterator[Callable[[Op], World]]:
    made: list[World] = []

    def make(op: Op) -> World:
        made.append(make_world(lock=op.name in ("locks list", "locks delete")))
        return made[-1]

    yield make
    for w in made:
        w.close()


@pytest.mark.parametrize(("op", "fault"), list(cases()))
def test_fault_is_survived_or_reported(op: Op, fault: str, world_for: Callable[[Op], World]) -> None:
    w = world_for(op)
    before = len(w.sim.journal)
    inject(w, op, fault)
    try:
        op.call(w)
        outcome, err = "survived", None
    except Exception as exc:  # noqa: BLE001 - classified below
        outcome, err = "reported", exc
    assert not [r for r in w.sim.faults.rules if r.hits == 0], (
        f"the fault never hit {op.name}: {w.sim.faults.rules}"
    )
    assert outcome == expected(op, fault), f"{op.name} x {fault}: {outcome}: {err!r}"
    if err is None:
        assert op.done(w), f"{op.name} x {fault}: survived but Azure is not in the wanted state"
        assert attempts(w, op, before) <= 4, f"{op.name} x {fault}: {attempts(w, op, before)} attempts"
        return
    reported = project_error(err)
    assert isinstance(reported, AzureError), f"{op.name} x {fault}: not a project Azure error: {err!r}"
    assert reported.code and reported.next_step, f"{op.name} x {fault}: no code or next step: {reported!r}"
    if fault == "lro-failed":
        assert reported.code == LRO_CODE
    else:
        assert reported.code in ("ServiceResponseError", "ServiceResponseTimeoutError"), reported.code
    if fault == "slow":  # Azure still applies the request the client gave up on; the re-run must see it
        wait_for(lambda: attempts(w, op, before) >= 1 and all(e.status for e in w.sim.journal[before:]), 10)
    if fault == "lro-failed" and op.failed_shows is not None:  # e.g. a Failed replica: /avd replicas shows it
        assert op.failed_shows(w), f"{op.name}: the failure is not visible in Azure afterwards"
        return
    op.call(w)  # nothing half-done: the same call with the fault gone completes the work
    assert op.done(w), f"{op.name} x {fault}: re-run after the fault did not finish the work"


def test_matrix_covers_every_operation_and_fault() -> None:
    table = {(op.name, f): expected(op, f) for op in OPS for f in FAULTS if f != "lro-failed" or op.lro}
    assert len(OPS) >= 30 and len(table) >= 6 * 30 - 30
    assert {"survived", "reported"} == set(table.values())
    assert sum(1 for op in OPS if op.slow) >= 5 and {op.method for op in OPS if op.slow} >= {
        "GET",
        "PUT",
        "PATCH",
        "POST",
        "DELETE",
    }


def test_azure_clients_bound_every_request_with_timeouts() -> None:
    """Regression: azure-core waits 300 s for a reply by default; AzureClients passes 10 s / 60 s."""
    from azureops.clients import AzureClients

    clients = AzureClients("https://127.0.0.1:9", None)
    try:
        config = clients.compute(SUB)._client._pipeline._transport.connection_config  # type: ignore[attr-defined]
        assert (config.timeout, config.read_timeout) == (10.0, 60.0)
        graph = clients.graph._client._pipeline._transport.connection_config  # type: ignore[attr-defined]
        assert (graph.timeout, graph.read_timeout) == (10.0, 60.0)
    finally:
        clients.close()


def test_a_hung_reply_fails_within_the_read_timeout_not_300s() -> None:
    w = make_world(read_timeout=0.5)
    try:
        w.sim.faults.latency("PATCH", r"/scalingPlans/EntraAuth-Scaling$", seconds=3.0, count=1)
        with pytest.raises(AvdError) as caught:
            sessions.set_autoscale(w.clients, POOL, False)
        assert project_error(caught.value) is not None and "timed out" in str(caught.value)
    finally:
        w.close()


# ---- through the engine: the real bot, a failover job, the card and /avd job N -------------------------------


def approve_failover(h: Harness) -> None:
    assert h.chat.slash("/avd failover start dr", user="U0OPS1").status == 200
    h.chat.wait_for(lambda: h.job(1).get("card_ts"), timeout=10)
    assert h.chat.click("Approve", user="U0LEAD1").status == 200


def test_engine_failed_scale_out_is_reported_with_azures_code(harness_factory: Any) -> None:  # noqa: F811
    """Regression (azureops.dr_capacity.available_hosts_step): a DR scale-out whose operation ended Failed was reported as
    "scale set EntraDR failed while adding instances" with no Azure code; the card now carries Azure's code."""
    h: Harness = harness_factory()
    h.sim.faults.fail_lro(
        "PATCH",
        r"/virtualMachineScaleSets/EntraDR$",
        code="AllocationFailed",
        message="Allocation failed. We do not have sufficient capacity for the requested VM size.",
    )
    approve_failover(h)
    job = h.wait_job(1, "failed", timeout=30)
    assert jobs.error_detail(job)["code"] == "AllocationFailed" and jobs.error_detail(job)["next_step"]
    card = h.chat.wait_for(
        lambda: (
            (m := h.slack.message(job["channel"], job["card_ts"]))
            and "AllocationFailed" in str(m["blocks"])
            and m
        ),
        timeout=15,
    )
    assert "Next:" in str(card["blocks"]) and "Retry" in str(card["blocks"])
    assert h.chat.slash("/avd job 1", user="U0OPS1").status == 200
    shown = h.chat.wait_for_ephemeral("U0OPS1", contains="Job 1", timeout=10)
    assert "AllocationFailed" in str(shown["blocks"]) and "Next:" in str(shown["blocks"])


@pytest.mark.parametrize("fault", ["429", "500", "503"])
def test_engine_transient_faults_on_the_drain_are_survived(harness_factory: Any, fault: str) -> None:  # noqa: F811
    h: Harness = harness_factory(
        config=failover_config(timeout=10)
    )  # a Retry-After inside the primary's bound
    status, code = {
        "429": (429, "TooManyRequests"),
        "500": (500, "InternalServerError"),
        "503": (503, "ServiceUnavailable"),
    }[fault]
    h.sim.faults.fail(
        "PATCH",
        r"/hostPools/EntraAuth/sessionHosts/[^/]+$",
        status=status,
        code=code,
        retry_after=1 if status == 429 else None,
    )
    approve_failover(h)
    h.wait_job(1, "done", timeout=30)
    drain = next(s for s in h.steps(1) if s["name"] == "primary-drain")
    assert "skipped" not in (drain["output"] or "") and "2 session host(s) drained" in drain["output"]
    assert all(
        not h["allowNewSession"] for h in [x.properties for x in h.sim.session_hosts("AVD", "EntraAuth")]
    )
