"""The write guard: a step's thread asks its check before each Azure write it sends (reads pass), so a process
that lost its job lease while paused mid-step sends nothing more to Azure once it runs again."""

from __future__ import annotations

import pytest

from azureops.clients import writes_guarded
from bot.storage.leases import LeaseLost
from tests.kit.azure import SUB, running


def lost() -> None:
    raise LeaseLost("job 1: this process no longer holds its lease")


def test_a_write_is_refused_before_it_leaves_the_process_and_reads_pass() -> None:
    with running() as (sim, clients):
        groups = clients.resources(SUB).resource_groups
        before = len(sim.writes())
        with writes_guarded(lost):
            assert groups.get("AVD").name == "AVD"  # a read passes the guard
            with pytest.raises(LeaseLost):
                groups.create_or_update("GUARDED", {"location": "uksouth"})
        assert len(sim.writes()) == before  # the PUT never reached Azure
        groups.create_or_update("GUARDED", {"location": "uksouth"})  # outside a guarded block: sent
        assert len(sim.writes()) == before + 1


def test_a_passing_check_lets_writes_through() -> None:
    calls: list[int] = []
    with running() as (sim, clients), writes_guarded(lambda: calls.append(1)):
        clients.resources(SUB).resource_groups.create_or_update("GUARDED", {"location": "uksouth"})
        assert calls == [1] and sim.writes()[-1].method == "PUT"
