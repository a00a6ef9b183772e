"""The PostgreSQL store (``AVD_DB=postgresql://...``): the SQLite store's surface over psycopg 3 and a pool.

- **One dialect.** Statements are the storage modules' (``?`` placeholders become ``%s``); in ``create`` and
  ``alter`` statements ``integer`` becomes ``bigint`` and ``real`` ``double precision``, and an ``integer primary
  key`` keeps SQLite's rowid rule (an id not given is the largest one plus one, through ``avd_rowid()``), so an
  explicit id (the audit chain writes its own) never collides with a generated one.
- **Writers take turns.** ``transaction()`` is ``BEGIN`` plus ``pg_advisory_xact_lock(WRITE_LOCK)``: every
  write transaction of every process on the database runs alone, as under SQLite's ``BEGIN IMMEDIATE``, so a
  read-then-write (``take_locks``, the audit chain's next id) and a compare-and-set (``jobs.transition``) mean
  the same on both backends. Reads outside a transaction take no lock. ``transaction(exclusive=False)`` takes
  none either: the web role's inbox inserts (ids from a sequence, migration ``roles_0002_inbox_ids``, so two
  web processes never take the same id), so an ack waiting for its row waits for no job write.
- **A lost connection is not fatal.** A multi-host URL (``postgresql://a,b/avd?target_session_attrs=read-write``)
  makes each new connection find the writable server, so a promoted standby is followed. A read whose
  connection was dropped is run again on a fresh one; so is a write transaction that had not committed: its
  statements are replayed on the fresh connection, and the replay goes on only while every statement returns
  what it returned the first time (the caller's code saw those results), else ``ConnectionLost`` is raised.
  A connection lost while ``COMMIT`` was in flight is never replayed (it may have committed). Retries are
  bounded (``RETRY_SECONDS``) with backoff.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import conninfo
from psycopg import sql as pgsql
from psycopg.adapt import Dumper
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.storage.store import Store

log = logging.getLogger(__name__)

WRITE_LOCK = 0x61766400  # the advisory lock every exclusive write transaction holds ("avd\0")
RETRY_SECONDS = 15.0  # how long an operation keeps trying fresh connections (a standby's promotion fits)
POOL_MIN, POOL_MAX = 1, 16
POOL_WAIT = 10.0  # seconds a thread waits for a free connection
HEALTH_WAIT = 2.0  # seconds healthy() waits for a connection
CONNECT_TIMEOUT = 5  # libpq's connect_timeout, unless the URL sets one

ROWID_FUNCTION = """create or replace function avd_rowid() returns trigger language plpgsql as $$
begin
  if new.id is null then
    execute format('select coalesce(max(id), 0) + 1 from %I.%I', tg_table_schema, tg_table_name) into new.id;
  end if;
  return new;
end $$"""

_DDL = re.compile(r"^\s*(create|alter)\s", re.I)
_ROWID_TABLE = re.compile(
    r"^\s*create\s+table\s+(?:if\s+not\s+exists\s+)?(\w+)\s*\(\s*id\s+integer\s+primary\s+key\b", re.I
)


class ConnectionLost(psycopg.OperationalError):
    """The connection dropped and the operation could not be run again safely (or not within the bound)."""


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """The storage dialect as psycopg takes it: ``?`` outside quotes -> ``%s``, ``%`` -> ``%%``; column types
    of DDL mapped (``integer primary key`` -> ``bigint primary key``, ``integer`` -> ``bigint``, ``real`` ->
    ``double precision``)."""
    out: list[str] = []
    quote = ""
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    text = "".join(out)
    if _DDL.match(text):
        text = re.sub(r"\binteger\b", "bigint", text, flags=re.I)
        text = re.sub(r"\breal\b", "double precision", text, flags=re.I)
    return text


def _params(parameters: Any) -> list[Any]:
    return [] if parameters is None else list(parameters)


class _BoolAsInt(Dumper):
    """SQLite keeps booleans as 0/1 in integer columns; so does this store."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.adapters.register_dumper(bool, _BoolAsInt)


class Result:
    """A statement's rows (fetched at once) and ``rowcount``: what ``sqlite3.Cursor`` gives the callers."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int, columns: list[str]) -> None:
        self.rows, self.rowcount, self.columns = rows, rowcount, columns
        self._at = 0

    def fetchone(self) -> Any:
        if self._at >= len(self.rows):
            return None
        self._at += 1
        return self.rows[self._at - 1]

    def fetchall(self) -> list[Any]:
        rest, self._at = self.rows[self._at :], len(self.rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())

    def same(self, other: Result) -> bool:
        return (self.rowcount, self.rows) == (other.rowcount, other.rows)


def _run(conn: psycopg.Connection[Any], sql: str, params: list[Any]) -> Result:
    with conn.cursor() as cur:
        cur.execute(translate(sql), params)
        if cur.description is None:
            return Result([], cur.rowcount, [])
        return Result(cur.fetchall(), cur.rowcount, [c.name for c in cur.description])


def _lost(conn: psycopg.Connection[Any] | None, err: BaseException) -> bool:
    """Whether ``err`` means the connection is gone (not a statement's own error)."""
    if isinstance(err, PoolTimeout):
        return True
    return isinstance(err, psycopg.OperationalError) and (conn is None or conn.closed or conn.broken)


@dataclass
class _Tx:
    """This thread's open write transaction: its connection and what it ran (to replay on a fresh one)."""

    conn: psycopg.Connection[Any]
    exclusive: bool = True  # holds WRITE_LOCK (a replay takes it again)
    log: list[tuple[str, list[Any] | None, Result]] = field(default_factory=list)  # None: run as written
    savepoints: int = 0
    returned: bool = False  # conn went back to the pool (a replay that could not get a fresh one)


class PgTable:
    """``db.table(name)`` on PostgreSQL: ``insert`` (sets ``last_pk``), ``insert_all``, ``upsert(pk=)``."""

    def __init__(self, db: PgDatabase, name: str) -> None:
        self.db, self.name = db, name
        self.last_pk: Any = None

    def insert(self, record: dict[str, Any]) -> PgTable:
        return self.insert_all([record])

    def insert_all(self, records: Iterable[dict[str, Any]]) -> PgTable:
        rows = list(records)
        if not rows:
            return self
        cols = list(rows[0])
        marks = "(" + ", ".join("?" * len(cols)) + ")"
        returning = " returning id" if "id" not in cols and "id" in self.db.columns(self.name) else ""
        result = self.db.execute(
            f"insert into {self.name} ({', '.join(cols)}) values {', '.join([marks] * len(rows))}{returning}",
            [r.get(c) for r in rows for c in cols],
        )
        self.last_pk = result.rows[-1][0] if returning else rows[-1].get("id")
        return self

    def upsert(self, record: dict[str, Any], pk: Any = "id") -> PgTable:
        keys = [pk] if isinstance(pk, str) else list(pk)
        cols = list(record)
        rest = [c for c in cols if c not in keys]
        action = "do update set " + ", ".join(f"{c} = excluded.{c}" for c in rest) if rest else "do nothing"
        self.db.execute(
            f"insert into {self.name} ({', '.join(cols)}) values ({', '.join('?' * len(cols))})"
            f" on conflict ({', '.join(keys)}) {action}",
            list(record.values()),
        )
        self.last_pk = record[keys[0]] if len(keys) == 1 else tuple(record[k] for k in keys)
        return self

    # sqlite-utils' reading helpers, for tests and tools
    def exists(self) -> bool:
        return self.name in self.db.table_names()

    @property
    def count(self) -> int:
        return int(self.db.execute(f"select count(*) from {self.name}").fetchone()[0])

    @property
    def columns_dict(self) -> dict[str, str]:
        return self.db.columns(self.name)


class PgDatabase:
    """This store's ``Db``: statements run in the thread's open transaction, else as reads on any pooled
    connection, or as one-statement write transactions."""

    dialect = "postgresql"  # what a migration with a step of its own on PostgreSQL checks (``roles_0002_inbox_ids``)

    def __init__(self, store: PgStore) -> None:
        self.store = store

    def execute(self, sql: str, parameters: Any = None) -> Result:
        return self.store.run(sql, _params(parameters))

    def query(self, sql: str, params: Any = None) -> Iterator[dict[str, Any]]:
        result = self.execute(sql, params)
        for row in result.rows:
            yield dict(zip(result.columns, row, strict=True))

    def table(self, table_name: str) -> PgTable:
        return PgTable(self, table_name)

    __getitem__ = table

    def table_names(self) -> list[str]:
        rows = self.execute(
            "select table_name from information_schema.tables where table_schema = current_schema()"
            " and table_type = 'BASE TABLE' order by table_name"
        ).rows
        return [str(r[0]) for r in rows]

    def columns(self, table_name: str) -> dict[str, str]:
        return self.store.columns(table_name)


class PgStore(Store):
    """PostgreSQL through a psycopg pool (closed by ``close()``)."""

    backend = "postgresql"

    def __init__(self, url: str, *, min_size: int = POOL_MIN, max_size: int = POOL_MAX) -> None:
        params = conninfo.conninfo_to_dict(url)
        params.setdefault("connect_timeout", CONNECT_TIMEOUT)
        self.url = url
        self._local = threading.local()
        self._columns: dict[str, dict[str, str]] = {}
        self._db = PgDatabase(self)
        self._listen_lock = threading.Lock()
        self._listener: psycopg.Connection[Any] | None = None
        self._channels: set[str] = set()
        self._conninfo = conninfo.make_conninfo("", **params)
        self.pool = ConnectionPool(
            self._conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=POOL_WAIT,
            kwargs={"autocommit": True},
            configure=_configure,
            open=True,
            name="avd-store",
        )

    @property
    def db(self) -> PgDatabase:
        return self._db

    # ---- statements ---------------------------------------------------------------------------------

    def run(self, sql: str, params: list[Any]) -> Result:
        tx: _Tx | None = getattr(self._local, "tx", None)
        if tx is not None:
            return self._in_tx(tx, sql, params)
        if sql.lstrip()[:6].lower() == "select":
            return self._alone(sql, params)
        with self.transaction():
            return self._in_tx(self._local.tx, sql, params)

    def write_once(self, sql: str, params: Iterable[Any]) -> list[Any]:
        """``Store.write_once``: on an autocommit connection, one round trip (no BEGIN, no COMMIT), sent again
        on a fresh connection if the first was lost; inside this thread's transaction, one of its statements."""
        tx: _Tx | None = getattr(self._local, "tx", None)
        if tx is not None:
            return self._in_tx(tx, sql, _params(list(params))).rows
        return self._alone(sql, _params(list(params))).rows

    def _alone(self, sql: str, params: list[Any]) -> Result:
        """A statement outside a transaction (a read, or ``write_once``'s write that is safe to repeat): any
        pooled connection (autocommit); run again on a fresh one if it dropped."""
        deadline = time.monotonic() + RETRY_SECONDS
        for attempt in range(1_000):
            conn: psycopg.Connection[Any] | None = None
            try:
                with self.pool.connection() as conn:
                    return _run(conn, sql, params)
            except psycopg.OperationalError as err:
                if not _lost(conn, err) or time.monotonic() >= deadline:
                    raise
                self._recover(attempt, err)
        raise AssertionError("unreachable")

    def _in_tx(self, tx: _Tx, sql: str, params: list[Any]) -> Result:
        deadline = time.monotonic() + RETRY_SECONDS
        stale = False
        for attempt in range(1_000):
            try:
                if stale:  # the connection dropped (again, if it dropped during a replay)
                    self._replay(tx, deadline)
                    stale = False
                result = _run(tx.conn, sql, params)
            except psycopg.OperationalError as err:
                if not _lost(tx.conn, err) or time.monotonic() >= deadline:
                    raise
                self._recover(attempt, err)
                stale = True
                continue
            if _DDL.match(sql):
                self._ddl(tx, sql)
            tx.log.append((sql, params, result))
            return result
        raise AssertionError("unreachable")

    def _ddl(self, tx: _Tx, sql: str) -> None:
        """After DDL: forget cached columns; a rowid table gets its trigger (SQLite's ``integer primary key``)."""
        self._columns.clear()
        match = _ROWID_TABLE.match(sql)
        if match:
            table = match.group(1)
            for stmt in (
                ROWID_FUNCTION,
                f"create or replace trigger {table}_rowid before insert on {table} for each row"
                " execute function avd_rowid()",
            ):
                tx.log.append((stmt, None, _raw(tx.conn, stmt)))

    def _recover(self, attempt: int, err: BaseException) -> None:
        log.warning("database connection lost (%s): retrying on a fresh connection", err)
        time.sleep(min(0.05 * 2**attempt, 1.0))
        with suppress(psycopg.Error):
            self.pool.check()  # drop every idle connection that died with it (a failover kills them all)

    # ---- transactions -------------------------------------------------------------------------------

    def _begin(self, deadline: float, exclusive: bool = True) -> _Tx:
        for attempt in range(1_000):
            conn = None
            try:
                conn = self.pool.getconn()
                conn.execute("begin")
                if exclusive:
                    conn.execute("select pg_advisory_xact_lock(%s)", [WRITE_LOCK])
                return _Tx(conn, exclusive)
            except psycopg.OperationalError as err:
                if conn is not None:
                    self._give_back(conn)
                if not _lost(conn, err) or time.monotonic() >= deadline:
                    raise
                self._recover(attempt, err)
        raise AssertionError("unreachable")

    def _replay(self, tx: _Tx, deadline: float) -> None:
        """Run the transaction's statements again on a fresh connection; each must return what it did."""
        self._give_back(tx.conn)
        tx.returned = True
        tx.conn = self._begin(deadline, tx.exclusive).conn
        tx.returned = False
        for sql, params, before in tx.log:
            now = _raw(tx.conn, sql) if params is None else _run(tx.conn, sql, params)
            if not now.same(before):
                raise ConnectionLost(
                    "the database connection was lost and the transaction could not be replayed: "
                    f"{sql.split()[0]} returned other rows"
                )

    def _give_back(self, conn: psycopg.Connection[Any]) -> None:
        if not conn.closed and not conn.broken:
            try:
                conn.rollback()
            except psycopg.Error:
                conn.close()
        self.pool.putconn(conn)

    @contextmanager
    def transaction(self, exclusive: bool = True) -> Iterator[PgDatabase]:
        """A write transaction serialized with every other writer (the advisory lock), or with none when not
        ``exclusive`` (``Store.transaction``); nested: a savepoint of the outer one."""
        tx: _Tx | None = getattr(self._local, "tx", None)
        if tx is not None:
            name = f"avd_{tx.savepoints}"
            tx.savepoints += 1
            self._in_tx(tx, f"savepoint {name}", [])
            try:
                yield self._db
            except BaseException:
                self._in_tx(tx, f"rollback to savepoint {name}", [])
                raise
            else:
                self._in_tx(tx, f"release savepoint {name}", [])
            return
        tx = self._begin(time.monotonic() + RETRY_SECONDS, exclusive)
        self._local.tx = tx
        try:
            yield self._db
        except BaseException:
            self._local.tx = None
            if not tx.returned:
                self._give_back(tx.conn)
            raise
        self._local.tx = None
        try:
            tx.conn.execute("commit")  # lost here: it may have committed; never replayed
        finally:
            self._give_back(tx.conn)

    # ---- the rest of the surface ----------------------------------------------------------------------

    def columns(self, table: str) -> dict[str, str]:
        if table not in self._columns:
            rows = self.db.execute(
                "select column_name, data_type from information_schema.columns where table_schema ="
                " current_schema() and table_name = ? order by ordinal_position",
                [table],
            ).rows
            self._columns[table] = {str(name): str(kind) for name, kind in rows}
        return self._columns[table]

    def unreachable(self, error: BaseException) -> bool:
        """``Store.unreachable``: psycopg's ``OperationalError`` (a connection lost past ``RETRY_SECONDS``, an
        empty pool, a transaction that could not be replayed, a server shutting down or cancelling)."""
        return isinstance(error, psycopg.OperationalError)

    def healthy(self) -> bool:
        """One quick try (``/healthz`` must not wait out the retries): a connection within 2 s and ``select 1``."""
        try:
            with self.pool.connection(timeout=HEALTH_WAIT) as conn:
                conn.execute("select 1")
        except psycopg.Error:
            return False
        return True

    # ---- LISTEN/NOTIFY: the inbox's wake-up (bot.storage.inbox.notify / wait) ----------------------------

    def notify(self, channel: str) -> None:
        """``NOTIFY channel`` on a pooled (autocommit) connection: delivered to every listener at once."""
        with self.pool.connection(timeout=POOL_WAIT) as conn:
            conn.execute(pgsql.SQL("notify {}").format(pgsql.Identifier(channel)))

    def wait(self, channel: str, timeout: float) -> bool:
        """``True`` when a ``NOTIFY channel`` arrives within ``timeout`` s. One dedicated connection listens (a
        notification sent between two waits is kept on it); a lost one is dropped and reopened at the next wait
        (the multi-host URL finds a promoted standby), and that wait answers ``False``."""
        with self._listen_lock:
            try:
                conn = self._listening(channel)
                return any(True for _ in conn.notifies(timeout=timeout, stop_after=1))
            except psycopg.Error as err:
                log.warning("LISTEN %s: %s; reconnecting at the next wait", channel, err)
                self._drop_listener()
                return False

    def _listening(self, channel: str) -> psycopg.Connection[Any]:
        if self._listener is None or self._listener.closed:
            self._listener = psycopg.connect(self._conninfo, autocommit=True)
            self._channels = set()
        if channel not in self._channels:
            self._listener.execute(pgsql.SQL("listen {}").format(pgsql.Identifier(channel)))
            self._channels.add(channel)
        return self._listener

    def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with suppress(psycopg.Error):
                listener.close()

    def close(self) -> None:
        with self._listen_lock:
            self._drop_listener()
        self.pool.close()


def _raw(conn: psycopg.Connection[Any], sql: str) -> Result:
    """A statement of the store's own (the rowid trigger's DDL), run as written."""
    conn.execute(sql.encode())
    return Result([], -1, [])
