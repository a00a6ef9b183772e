"""``Db``: what the storage modules use of a database handle, the same on SQLite (sqlite-utils' ``Database``)
and PostgreSQL (``bot.storage.postgres.PgDatabase``). One SQL dialect: ``?`` placeholders, ``insert ... on
conflict``, times as ISO-8601 text; the backend maps the rest (types in DDL, ``?``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Protocol


class Cursor(Protocol):
    """What callers read from ``Db.execute``: rows as tuples and how many rows a write changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Table(Protocol):
    """``db.table(name)``: inserts and upserts of dict rows; ``last_pk`` is the inserted row's key."""

    last_pk: Any

    def insert(self, record: dict[str, Any]) -> Table: ...

    def insert_all(self, records: Iterable[dict[str, Any]]) -> Table: ...

    def upsert(self, record: dict[str, Any], pk: Any = ...) -> Table: ...


class Db(Protocol):
    """A database handle of either backend (sqlite-utils' ``Database`` is one)."""

    def execute(self, sql: str, parameters: Any = None) -> Cursor: ...

    def query(self, sql: str, params: Any = None) -> Iterable[dict[str, Any]]: ...

    def table(self, table_name: str) -> Table: ...

    def table_names(self) -> list[str]: ...


def rows_source(backend: str, rows: Sequence[Sequence[str]]) -> tuple[str, list[Any]]:
    """What follows ``insert into t (a, b, ...)`` to insert ``rows`` (of text values) in one statement, and its
    parameters. SQLite: a ``VALUES`` list. PostgreSQL: one JSON array (``json_array_elements``), so the
    statement's text is the same for any number of rows: psycopg converts it once and the server prepares it
    once, where a ``VALUES`` list past 50 parameters is parsed again on every send (psycopg caches no longer
    ones) and ``text[]`` arrays are escaped element by element in Python."""
    width = len(rows[0]) if rows else 0
    if backend != "postgresql":
        marks = "(" + ", ".join(["?"] * width) + ")"
        return "values " + ", ".join([marks] * len(rows)), [value for row in rows for value in row]
    fields = ", ".join(f"r ->> {k}" for k in range(width))
    return f"select {fields} from json_array_elements(?::json) as r", [json.dumps(rows)]
