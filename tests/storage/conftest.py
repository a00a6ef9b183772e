"""Every storage test runs on both backends: ``store`` is a SQLite file, then a PostgreSQL database made for the
test on the session's server (``tests.kit.postgres``, started once, stopped at the end)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.storage import Store, open_store
from tests.kit.postgres import PgServer

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    with PgServer.started() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A new, empty database on the session's server (dropped after the test)."""
    name = f"avd_test_{next(_names)}"
    url = pg_server.create_database(name)
    try:
        yield url
    finally:
        pg_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fresh_store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of ``backend`` (not migrated), closed after the test."""
    where = request.getfixturevalue("pg_url") if backend == "postgresql" else str(tmp_path / "avd.db")
    store = open_store(where)
    try:
        yield store
    finally:
        store.close()
