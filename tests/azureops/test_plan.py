"""azureops.plan: preview lines, the stable hash, locks, and the project-error translation of SDK errors."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
from azure.core import exceptions as az

from avdcore.errors import AzureError, AzureUnavailable, Busy
from azureops.errors import project_error, translate, translated
from azureops.plan import Plan, Step, format_seconds, resource_label

VMSS = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/VMSSDR/providers/"
    "Microsoft.Compute/virtualMachineScaleSets/EntraDR"
)
SNAP = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/GOLD-VDA/providers/"
    "Microsoft.Compute/snapshots/gold-os"
)


def _plan(capacity: int = 2, *, order: tuple[str, ...] = ("tag", "scale")) -> Plan:
    steps = {
        "tag": Step(
            name="tag",
            resource_id=SNAP,
            description="Tag the snapshot",
            apply=lambda ctx: None,
            estimate_seconds=5,
            intent={"tags": {"a": "b"}},
        ),
        "scale": Step(
            name="scale",
            resource_id=VMSS,
            description=f"Set capacity to {capacity}",
            apply=lambda ctx: None,
            estimate_seconds=90,
            intent={"capacity": capacity},
        ),
    }
    return Plan(kind="scale", title="Scale EntraDR", steps=tuple(steps[n] for n in order))


def test_preview_names_change_resource_and_duration() -> None:
    assert _plan().preview() == [
        "1. Tag the snapshot on `GOLD-VDA/snapshots/gold-os` (~5s)",
        "2. Set capacity to 2 on `VMSSDR/virtualMachineScaleSets/EntraDR` (~1m30s)",
    ]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (_plan(2), _plan(2), True),
        (_plan(2), _plan(3), False),
        (_plan(2), _plan(2, order=("scale", "tag")), False),
    ],
)
def test_hash_covers_names_resources_and_intent(a: Plan, b: Plan, same: bool) -> None:
    assert (a.hash() == b.hash()) is same


def test_hash_is_stable_across_processes() -> None:
    code = "from tests.azureops.test_plan import _plan; print(_plan(2).hash())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _plan(2).hash()


def test_locks_are_the_changed_resources_lowercased_once() -> None:
    plan = Plan(kind="k", title="t", steps=(*_plan().steps, replace(_plan(5).steps[1], name="scale-again")))
    assert plan.locks == (SNAP.lower(), VMSS.lower())
    assert plan.estimate_seconds == 185
    assert plan.policy_verb == "k"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59, "59s"), (60, "1m"), (125, "2m05s"), (3720, "1h02m")]
)
def test_format_seconds(seconds: int, text: str) -> None:
    assert format_seconds(seconds) == text


@pytest.mark.parametrize(
    ("rid", "label"),
    [
        (VMSS, "VMSSDR/virtualMachineScaleSets/EntraDR"),
        ("/subscriptions/s/resourceGroups/RG", "RG"),
        ("plain", "plain"),
    ],
)
def test_resource_label(rid: str, label: str) -> None:
    assert resource_label(rid) == label


@pytest.mark.parametrize(
    ("exc", "cls", "code"),
    [
        (az.ServiceRequestError("connection reset"), AzureUnavailable, "ServiceRequestError"),
        (az.ServiceResponseTimeoutError("read timed out"), AzureUnavailable, "ServiceResponseTimeoutError"),
        (TimeoutError("poller"), AzureUnavailable, "TimeoutError"),
        (az.ClientAuthenticationError("no token"), AzureError, ""),
    ],
)
def test_translate_transport_errors(exc: Exception, cls: type[AzureError], code: str) -> None:
    err = translate(exc, VMSS)
    assert type(err) is cls
    assert isinstance(err, AzureError)
    assert err.code == code and err.resource_id == VMSS and err.next_step


def test_translated_passes_project_errors_and_maps_sdk_errors() -> None:
    with pytest.raises(Busy), translated(VMSS):
        raise Busy("busy: job 1 holds it")
    with pytest.raises(AzureUnavailable) as info, translated(VMSS, "try later"):
        raise az.ServiceRequestError("boom")
    assert info.value.next_step == "try later"
    assert isinstance(info.value.__cause__, az.ServiceRequestError)
    assert project_error(ValueError("bug")) is None


def _step(name: str, seconds: int, after: tuple[str, ...] | None = None) -> Step:
    return Step(
        name=name,
        resource_id="",
        description=name,
        apply=lambda ctx: None,
        estimate_seconds=seconds,
        after=after,
    )


def test_a_plan_without_after_is_a_line_and_hashes_as_before_graphs() -> None:
    line = Plan(kind="k", title="t", steps=(_step("a", 10), _step("b", 20), _step("c", 5)))
    assert line.is_line and line.needs("a") == () and line.needs("c") == ("b",)
    assert line.estimate_seconds == 35
    assert "after" not in line.steps[0].identity()
    assert line.preview()[1] == "2. b (~20s)"


def test_a_graph_waits_for_its_longest_chain_and_shows_its_edges() -> None:
    graph = Plan(
        kind="k",
        title="t",
        steps=(
            _step("pre", 10),
            _step("drain", 60, after=("pre",)),
            _step("scale", 300, after=("pre",)),
            _step("post", 5, after=("drain", "scale")),
            _step("side", 1, after=()),
        ),
    )
    assert not graph.is_line
    assert graph.estimate_seconds == 315
    assert graph.needs("post") == ("drain", "scale")
    assert graph.preview()[3].endswith("· after 2, 3") and graph.preview()[4].endswith("· at once")
    edges_changed = Plan(
        kind="k", title="t", steps=(*graph.steps[:3], _step("post", 5, after=("scale",)), graph.steps[4])
    )
    assert edges_changed.hash() != graph.hash()


@pytest.mark.parametrize(
    "steps",
    [
        (_step("a", 1), _step("a", 1)),
        (_step("a", 1, after=("b",)), _step("b", 1)),
        (_step("a", 1, after=("nope",)),),
    ],
)
def test_a_plan_refuses_repeated_names_and_edges_to_later_or_unknown_steps(steps: tuple[Step, ...]) -> None:
    with pytest.raises(ValueError):
        Plan(kind="k", title="t", steps=steps)
