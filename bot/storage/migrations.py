"""The one ordered list of schema migrations (the sqlite-utils ``Migrations`` habit).

Each entry is ``(name, fn)``; ``Store.migrate()`` applies those not yet recorded in the ``migrations`` table,
in this order. Names are recorded in existing databases: never rename or reorder an entry, only append.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.storage.db import Db as Database  # either backend's handle (the name migrations were written with)

Migration = Callable[[Database], None]


def core(db: Database) -> None:
    db.execute("create table meta (key text primary key, value text)")
    db.execute(
        """create table audit (
            id integer primary key, at text not null, actor text not null, action text not null,
            target text not null default '', detail text not null default '{}', outcome text not null default '',
            prev_hash text not null, hash text not null)"""
    )
    db.execute(
        """create table jobs (
            id integer primary key, kind text not null, op_json text not null default '{}',
            status text not null default 'pending', requested_by text not null default '',
            channel text not null default '', card_ts text, plan_hash text,
            created_at text not null, updated_at text not null, error text)"""
    )
    db.execute("create index jobs_status on jobs(status)")
    db.execute(
        """create table steps (
            job_id integer not null references jobs(id), idx integer not null, name text not null,
            status text not null default 'pending', started_at text, finished_at text, output text,
            error text, continuation_token text, primary key (job_id, idx))"""
    )
    db.execute(
        """create table approvals (
            id text primary key, job_id integer references jobs(id), requester text not null,
            status text not null default 'pending', expires_at text not null, decided_by text,
            decided_at text, channel text not null default '', message_ts text, plan_hash text)"""
    )
    db.execute("create index approvals_status on approvals(status)")


def engine_jobs_locks(db: Database) -> None:
    for table, columns in {
        "jobs": (
            "title text",
            "verb text",
            "started_at text",
            "finished_at text",
            "cancel_requested integer not null default 0",
            "error_json text",
            "card_updated_at real",
        ),
        "steps": (
            "resource_id text",
            "description text",
            "estimate_seconds integer",
            "percent real",
            "progress text",
        ),
        "approvals": ("created_at text", "verb text", "reason text"),
    }.items():
        for column in columns:
            db.execute(f"alter table {table} add column {column}")
    db.execute(
        "create table locks (resource text primary key, job_id integer not null references jobs(id),"
        " acquired_at text not null)"
    )
    db.execute("create index steps_job on steps(job_id)")
    db.execute("create index approvals_job on approvals(job_id)")


def interactions(db: Database) -> None:
    db.execute("create table interactions (key text primary key, seen_at text not null)")
    db.execute("create index interactions_seen_at on interactions (seen_at)")


def dr_scale_sets(db: Database) -> None:
    db.execute(
        "create table dr_scale_sets (site text primary key, subscription text not null, resource_group text"
        " not null, name text not null, location text not null, host_pool_resource_group text not null,"
        " host_pool text not null, spec_json text not null, status text not null, requested_by text,"
        " job_id integer, updated_at text not null)"
    )


def dr_runs(db: Database) -> None:
    db.execute(
        "create table dr_runs (id integer primary key, kind text not null, site text not null,"
        " job_id integer, at text not null, seconds real, capacity integer)"
    )
    db.execute("create index dr_runs_site on dr_runs(site, kind)")


def schedules(db: Database) -> None:
    db.execute(
        "create table schedules (id text primary key, target text not null, args_json text not null"
        " default '{}', cron text, run_at text, created_by text not null default '', channel text not null"
        " default '', updated_at text not null)"
    )


def always_steps(db: Database) -> None:
    db.execute("alter table steps add column always integer not null default 0")


def step_needs(db: Database) -> None:
    """The names of the steps a step of a graph waits for (JSON; null in a line), for the card's "after 2, 3"."""
    db.execute("alter table steps add column needs text")


def scaleset_requests(db: Database) -> None:
    """The scale-set spec of each ``/avd scaleset create`` request, keyed by the hash of the plan built from it
    (the job's ``plan_hash``): a job builds its plan from the spec it was approved with, never from the site's
    latest form. Rows are written once and never changed."""
    db.execute(
        "create table scaleset_requests (plan_hash text primary key, site text not null, spec_json text not"
        " null, requested_by text not null, created_at text not null)"
    )


def audit_mac(db: Database) -> None:
    db.execute("alter table audit add column mac text")


def leases(db: Database) -> None:
    """Named leases (``bot.storage.leases``): the leader's, and the jobs' next; ``expires_at`` is epoch seconds.
    ``schedule_fires`` records each occurrence of a recurring schedule once: the insert that wins fires it."""
    db.execute(
        "create table leases (name text primary key, owner text not null, epoch integer not null,"
        " expires_at double precision not null, acquired_at double precision not null)"
    )
    db.execute(
        "create table schedule_fires (schedule_id text not null, fire_at text not null, owner text not null,"
        " epoch integer not null, fired_at double precision not null, primary key (schedule_id, fire_at))"
    )


def dr_runs_rto(db: Database) -> None:
    """The RTO figures users feel, per run (seconds from the approval, or the job's start)."""
    for column in ("to_capacity", "signed_out", "outage"):
        db.execute(f"alter table dr_runs add column {column} real")


def inbox(db: Database) -> None:
    """Post-ack work a web process recorded for the workers (``bot.storage.inbox``): claimed by one worker with
    a compare-and-set, its claim renewed while it runs and taken over by another worker once expired."""
    db.execute(
        "create table inbox (id integer primary key, kind text not null, payload text not null default '{}',"
        " user_id text not null default '', channel text not null default '', response_url text not null"
        " default '', created_at text not null, claimed_by text, claimed_at text, done_at text)"
    )
    db.execute("create index inbox_open on inbox (done_at, claimed_at)")


def inbox_ids(db: Database) -> None:
    """PostgreSQL: inbox ids from a sequence instead of the rowid trigger's ``max(id) + 1``, so the web role's
    inserts need no writer lock (``Store.transaction(exclusive=False)``): concurrent acks commit at once. SQLite:
    nothing (its rowid is taken under its one writer lock)."""
    if getattr(db, "dialect", "sqlite") != "postgresql":
        return
    db.execute("create sequence inbox_id_seq owned by inbox.id")
    db.execute("select setval('inbox_id_seq', coalesce(max(id), 0) + 1, false) from inbox")
    db.execute("alter table inbox alter column id set default nextval('inbox_id_seq')")
    db.execute("drop trigger if exists inbox_rowid on inbox")


def inbox_keys(db: Database) -> None:
    """A key per inbox row, unique, so that the insert a web process sends before its ack may be sent again when
    its first send's outcome is unknown (a lost connection): the repeat finds its row instead of adding one
    (``bot.storage.inbox.record``). Rows written before have none."""
    db.execute("alter table inbox add column request_key text")
    db.execute("create unique index inbox_request_key on inbox (request_key)")


def step_epoch(db: Database) -> None:
    """The epoch of the job lease (``job:<id>``) under which a step row was last written (``bot.engine.tenure``)."""
    db.execute("alter table steps add column epoch integer")


MIGRATIONS: tuple[tuple[str, Migration], ...] = (
    ("0001_core", core),
    ("engine_0001_jobs_locks", engine_jobs_locks),
    ("security_0001_interactions", interactions),
    ("scaleset_0001_dr_scale_sets", dr_scale_sets),
    ("failover_0001_dr_runs", dr_runs),
    ("engine_0002_schedules", schedules),
    ("engine_0003_always_steps", always_steps),
    ("scaleset_0002_requests", scaleset_requests),
    ("audit_0002_mac", audit_mac),
    ("leader_0001_leases", leases),
    ("engine_0004_step_needs", step_needs),
    ("failover_0002_rto", dr_runs_rto),
    ("roles_0001_inbox", inbox),
    ("engine_0005_step_epoch", step_epoch),
    ("roles_0002_inbox_ids", inbox_ids),
    ("roles_0003_inbox_keys", inbox_keys),
)
