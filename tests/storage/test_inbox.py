"""The inbox (``bot.storage.inbox``): claims by compare-and-set, expiry, renewal, finish only by the holder."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.storage import Store, inbox, open_store
from bot.storage.inbox import NewItem
from bot.storage.sqlite import SqliteStore

T0 = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
LEASE = 30.0


@pytest.fixture
def store(fresh_store: Store) -> Store:
    fresh_store.migrate()
    return fresh_store


def put(store: Store, n: int = 1, at: datetime = T0) -> list[int]:
    return inbox.record(
        store,
        [
            NewItem(
                "command", {"text": f"status {i}"}, user_id="U1", channel="C1", response_url=f"http://r/{i}"
            )
            for i in range(n)
        ],
        at,
    )


def test_a_burst_larger_than_one_statement_is_recorded_whole_and_in_order(store: Store) -> None:
    ids = put(store, 2 * inbox.CHUNK + 7)
    assert len(ids) == len(set(ids)) == 2 * inbox.CHUNK + 7 and ids == sorted(ids)
    texts = [r["payload"] for r in store.db.query("select payload from inbox order by id")]
    assert texts[0] == '{"text": "status 0"}' and texts[-1] == f'{{"text": "status {2 * inbox.CHUNK + 6}"}}'
    assert put(store, 0) == []


def test_an_insert_sent_again_after_a_lost_connection_finds_its_rows_and_adds_none(store: Store) -> None:
    """``record``'s statement is sent again when its first send's outcome is unknown (PostgreSQL, a connection
    lost mid-statement): its request keys make the repeat return the ids the first send wrote."""
    items = [NewItem("command", {"text": f"status {i}"}, user_id="U1") for i in range(3)]
    sql, args = inbox.statement(items, T0, wake=False, backend=store.backend)
    first = store.write_once(sql, args)
    again = store.write_once(sql, args)
    assert sorted(first) == sorted(again) and len(first) == 3
    assert store.db.execute("select count(*) from inbox").fetchone()[0] == 3
    assert len(put(store, 2)) == 2  # other requests' rows have keys of their own
    assert inbox.record(store, items[:1], T0) == [min(row[0] for row in first)]  # recorded again: its row


def test_rows_of_any_text_read_back_as_written_and_the_statement_is_one_text_for_any_count(
    store: Store,
) -> None:
    """Quotes, backslashes, unicode and JSON-looking text in every column survive the insert (on PostgreSQL the
    rows travel as one JSON array), and its text does not grow with the rows (converted and prepared once)."""
    odd = ['it\'s "quoted"', "back\\slash \\n", "üñí 🚀", '{"not": "json"}', "", "%s ? $1"]
    items = [
        NewItem("command", {"text": text, "n": i}, user_id=text, channel=text, response_url=text)
        for i, text in enumerate(odd)
    ]
    ids = inbox.record(store, items, T0)
    back = [inbox.get(store, row_id) for row_id in ids]
    assert [(b.payload, b.user_id, b.channel, b.response_url) for b in back if b] == [
        ({"text": text, "n": i}, text, text, text) for i, text in enumerate(odd)
    ]
    one, many = (inbox.statement(items[:k], T0, wake=True, backend=store.backend)[0] for k in (1, len(items)))
    assert (one == many) == (store.backend == "postgresql")


def test_a_recorded_row_reads_back_with_its_columns(store: Store) -> None:
    (row_id,) = put(store)
    item = inbox.get(store, row_id)
    assert item is not None
    assert (item.kind, item.payload, item.user_id, item.channel, item.response_url) == (
        "command",
        {"text": "status 0"},
        "U1",
        "C1",
        "http://r/0",
    )
    assert (item.claimed_by, item.claimed_at, item.done_at, item.created_at) == (None, None, None, T0)


def test_claim_takes_the_oldest_free_rows_up_to_the_limit(store: Store) -> None:
    ids = put(store, 3)
    taken = inbox.claim(store, "w1", T0, lease=LEASE, limit=2)
    assert [i.id for i in taken] == ids[:2]
    assert all(i.claimed_by == "w1" and i.claimed_at == T0 for i in taken)
    assert [i.id for i in inbox.claim(store, "w2", T0, lease=LEASE, limit=5)] == ids[2:]
    assert inbox.claim(store, "w3", T0, lease=LEASE, limit=5) == []


@pytest.mark.parametrize(
    ("seconds_later", "renewed", "taken"),
    [
        (LEASE - 1, False, False),  # the claim still holds
        (LEASE + 1, False, True),  # expired: a dead worker's row
        (LEASE + 1, True, False),  # renewed by its worker's heartbeat
    ],
)
def test_a_claim_expires_unless_renewed(
    store: Store, seconds_later: float, renewed: bool, taken: bool
) -> None:
    (row_id,) = put(store)
    assert inbox.claim(store, "w1", T0, lease=LEASE)
    if renewed:
        assert inbox.renew(store, "w1", [row_id], T0 + timedelta(seconds=10)) == 1
    later = T0 + timedelta(seconds=seconds_later)
    assert bool(inbox.claim(store, "w2", later, lease=LEASE)) is taken
    assert inbox.pending(store, later, lease=LEASE) == 0


def test_only_the_holder_finishes_a_row_and_a_done_row_is_never_claimed(store: Store) -> None:
    (row_id,) = put(store)
    inbox.claim(store, "w1", T0, lease=LEASE)
    later = T0 + timedelta(seconds=LEASE + 1)
    assert inbox.claim(store, "w2", later, lease=LEASE)
    assert inbox.finish(store, row_id, "w1", later) is False  # its claim was taken over
    assert inbox.renew(store, "w1", [row_id], later) == 0
    assert inbox.finish(store, row_id, "w2", later) is True
    assert inbox.finish(store, row_id, "w2", later) is False
    done = inbox.get(store, row_id)
    assert done is not None and done.response_url == ""  # the bearer URL does not outlive the work
    much_later = later + timedelta(hours=1)
    assert inbox.claim(store, "w3", much_later, lease=LEASE) == []
    assert inbox.pending(store, much_later, lease=LEASE) == 0


def test_racing_claimers_each_take_a_row_once(store: Store) -> None:
    put(store, 40)
    got: list[int] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while True:
            items = inbox.claim(store, name, T0, lease=LEASE, limit=3)
            if not items:
                return
            with lock:
                got.extend(i.id for i in items)

    threads = [threading.Thread(target=claimer, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(Counter(got).items()) == [(i, 1) for i in range(1, 41)]


def test_prune_deletes_done_rows_past_the_keep_time(store: Store) -> None:
    done, open_ = put(store, 2)
    inbox.claim(store, "w1", T0, lease=LEASE, limit=1)
    inbox.finish(store, done, "w1", T0)
    assert inbox.prune(store, T0 + timedelta(hours=1)) == 0
    assert inbox.prune(store, T0 + inbox.KEEP_DONE + timedelta(seconds=1)) == 1
    assert inbox.get(store, done) is None and inbox.get(store, open_) is not None


def test_wait_returns_when_a_row_is_claimable_and_times_out_otherwise(store: Store) -> None:
    assert inbox.wait(store, 0.0, clock=lambda: T0) is False
    put(store)
    assert inbox.wait(store, 5.0, clock=lambda: T0) is True


class Hooked(SqliteStore):
    """A store with its own wake-up (as the PostgreSQL backend's LISTEN/NOTIFY): inbox uses it, not polling."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls: list[tuple[str, ...]] = []

    def notify(self, channel: str) -> None:
        self.calls.append(("notify", channel))

    def wait(self, channel: str, timeout: float) -> bool:
        self.calls.append(("wait", channel))
        return True


def test_a_store_with_its_own_notify_and_wait_is_used_through_them(tmp_path: Path) -> None:
    store = Hooked(tmp_path / "hooked.db")
    try:
        store.migrate()
        inbox.notify(store)
        assert inbox.wait(store, 2.0, clock=lambda: T0) is True  # nothing pending: the hook woke it
        assert store.calls == [("notify", inbox.CHANNEL), ("wait", inbox.CHANNEL)]
    finally:
        store.close()


def test_on_postgresql_a_notify_wakes_a_waiting_worker_without_polling(pg_url: str) -> None:
    """LISTEN/NOTIFY: the waiter's slices are 30 s long, so only the notification can wake it early; the web
    process's store sends it (another connection, as another process would)."""
    worker, web = open_store(pg_url), open_store(pg_url)
    try:
        worker.migrate()
        assert (
            inbox.wait(worker, 0.2, clock=lambda: T0) is False
        )  # nothing pending, nothing sent (now listening)
        woke: list[bool] = []
        waiter = threading.Thread(
            target=lambda: woke.append(inbox.wait(worker, 30.0, clock=lambda: T0, poll=30.0))
        )
        waiter.start()
        inbox.notify(web)  # kept on the listening connection even if the waiter is not yet inside its wait
        waiter.join(20.0)
        assert woke == [True]
    finally:
        worker.close()
        web.close()


def test_on_postgresql_recorded_rows_notify_at_their_commit(pg_url: str) -> None:
    """The web role's group commit wakes the workers in the same statement (``record(..., wake=True)``): the
    notification is on the worker's listening connection once the rows are committed; without ``wake`` none is."""
    worker, web = open_store(pg_url), open_store(pg_url)
    try:
        worker.migrate()
        assert inbox.wait(worker, 0.2, clock=lambda: T0) is False  # listening from here on
        item = NewItem("command", {"text": "status"}, user_id="U0OPS1")
        inbox.record(web, [item], T0)
        assert worker.wait(inbox.CHANNEL, 0.5) is False  # type: ignore[attr-defined]
        ids = inbox.record(
            web, [NewItem("command", {"text": f"status {n}"}) for n in range(2)], T0, wake=True
        )
        assert worker.wait(inbox.CHANNEL, 20.0) is True  # type: ignore[attr-defined]
        assert len(ids) == 2 and ids == sorted(ids)
    finally:
        worker.close()
        web.close()


def test_a_claim_marks_the_workers_finished_rows_done_in_the_same_transaction(store: Store) -> None:
    first, second, third = put(store, 3)
    assert [i.id for i in inbox.claim(store, "w1", T0, lease=LEASE, limit=1)] == [first]
    taken = inbox.claim(store, "w1", T0, lease=LEASE, limit=1, done=[first])
    assert [i.id for i in taken] == [second]
    row = inbox.get(store, first)
    assert row is not None and row.done_at == T0
    assert inbox.claim(store, "w2", T0, lease=LEASE, limit=0, done=[second]) == []  # not w2's to finish
    assert inbox.get(store, second).done_at is None  # type: ignore[union-attr]
    assert [i.id for i in inbox.claim(store, "w2", T0, lease=LEASE, limit=5)] == [third]
