"""``Db``: what the storage modules use of a database handle, the same on SQLite (sqlite-utils' ``Database``)
and PostgreSQL (``bot.storage.postgres.PgDatabase``). One SQL dialect: ``?`` placeholders, ``insert ... on
conflict``, times as ISO-8601 text; the backend maps the rest (types in DDL, ``?``)."""

from __future__ import annotations

from collections.abc import Iterable
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
