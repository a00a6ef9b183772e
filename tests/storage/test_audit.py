"""The audit chain: any edited, deleted, inserted or reordered row is detected; secrets never stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.storage import audit
from bot.storage.sqlite import Store

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(fresh_store: Store) -> Store:
    s = fresh_store
    s.migrate()
    for i in range(5):
        audit.record(s, actor=f"U0OPS{i}", action="replicas add", target="uksouth", detail={"n": i})
    return s


def edit_middle(s: Store) -> None:
    s.db.execute("update audit set actor = 'U0EVIL' where id = 3")


def delete_middle(s: Store) -> None:
    s.db.execute("delete from audit where id = 3")


def delete_last(s: Store) -> None:
    s.db.execute("delete from audit where id = 5")


def delete_first(s: Store) -> None:
    s.db.execute("delete from audit where id = 1")


def reorder(s: Store) -> None:
    with s.transaction() as db:
        db.execute("update audit set id = 100 where id = 2")
        db.execute("update audit set id = 2 where id = 3")
        db.execute("update audit set id = 3 where id = 100")


def insert_forged(s: Store) -> None:
    with s.transaction() as db:
        rows = list(db.query("select * from audit order by id desc"))
        for r in rows:
            if r["id"] >= 3:
                db.execute("update audit set id = ? where id = ?", [r["id"] + 1, r["id"]])
        forged = {**rows[-1], "id": 3, "actor": "U0EVIL", "prev_hash": rows[-2]["hash"]}
        forged["hash"] = audit.row_hash(forged["prev_hash"], forged)
        db["audit"].insert(forged)


def rehash_edit(s: Store) -> None:
    """Edit a row and recompute its own hash: the next row's prev_hash still gives it away."""
    row = next(iter(s.db.query("select * from audit where id = 2")))
    row["detail"] = json.dumps({"n": 999})
    row["hash"] = audit.row_hash(row["prev_hash"], row)
    s.db.execute("update audit set detail = ?, hash = ? where id = 2", [row["detail"], row["hash"]])


TAMPERING: list[tuple[Callable[[Store], None], int]] = [
    (edit_middle, 3),
    (delete_middle, 3),
    (delete_last, 5),
    (delete_first, 1),
    (reorder, 2),
    (insert_forged, 4),
    (rehash_edit, 3),
]


def test_intact_chain_verifies(store: Store) -> None:
    assert audit.verify(store) == []
    assert audit.count(store) == 5


@pytest.mark.parametrize(("tamper", "first_bad"), TAMPERING, ids=[t.__name__ for t, _ in TAMPERING])
def test_tampering_is_detected(store: Store, tamper: Callable[[Store], None], first_bad: int) -> None:
    tamper(store)
    problems = sorted(audit.verify(store), key=lambda p: p.row_id)
    assert problems, "tampering went unnoticed"
    assert problems[0].row_id == first_bad


def run_verify(db: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AVD_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "audit", "verify", "--db", str(db)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("tamper", "first_bad"), [(edit_middle, 3), (delete_middle, 3)])
def test_avd_bot_audit_verify_exits_1_naming_the_row(
    store: Store, tamper: Callable[[Store], None], first_bad: int
) -> None:
    ok = run_verify(store.url)
    assert ok.returncode == 0, ok.stderr
    assert "intact: 5 rows" in ok.stdout
    tamper(store)
    bad = run_verify(store.url)
    assert bad.returncode == 1
    assert f"BROKEN at row {first_bad}" in bad.stdout


def test_concurrent_appends_keep_one_chain(store: Store) -> None:
    import threading

    def burst(n: int) -> None:
        for i in range(10):
            audit.record(store, actor=f"U{n}", action="x", detail={"i": i})

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert audit.count(store) == 45
    assert audit.verify(store) == []


@pytest.mark.parametrize(
    ("raw", "leaked"),
    [
        ("token xoxb-1234-5678-abcdefghijkl", "xoxb-1234"),
        ("app token xapp-1-A111-222-abc", "xapp-1"),
        ("https://md-abc.blob.core.windows.net/x/abcd?sv=2018&sr=b&sig=SECRETSIG%3D&se=2026", "SECRETSIG"),
        ("registration eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdmQifQ.c2lnbmF0dXJl", "eyJhbGci"),
        ("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop"),
    ],
)
def test_redact_removes_secrets(raw: str, leaked: str) -> None:
    assert leaked not in audit.redact(raw)
    assert audit.REDACTED in audit.redact(raw)


def test_audit_rows_never_hold_secrets(store: Store) -> None:
    audit.register_secret("my-signing-secret-value")
    audit.record(
        store,
        actor="U0OPS1",
        action="doctor",
        detail={
            "registration_token": "abc",
            "note": "secret my-signing-secret-value",
            "urls": ["https://x.blob.core.windows.net/c/d?sig=zzz"],
        },
    )
    raw = next(iter(store.db.query("select detail from audit order by id desc limit 1")))["detail"]
    for leaked in ("abc", "my-signing-secret-value", "sig=zzz"):
        assert leaked not in raw
    assert audit.verify(store) == []


def test_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    logger = logging.getLogger("avd.test")
    caplog.handler.addFilter(audit.RedactingFilter())
    logger.warning("calling with %s", "xoxb-1111-2222-secretsecret")
    assert "xoxb-1111" not in caplog.text and audit.REDACTED in caplog.text


def test_tracebacks_and_stacks_logged_with_exc_info_are_redacted() -> None:
    """The filter also cleans the text of an exception: a token in its message must not reach the log."""
    import io
    import logging

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(audit.RedactingFilter())
    logger = logging.getLogger("avd.test.exc")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise RuntimeError("Authorization: Bearer abcdefghijklmnop1234 for xoxb-1111-2222-secretsecret")
        except RuntimeError:
            logger.exception("the call failed", stack_info=True)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    text = stream.getvalue()
    assert "RuntimeError" in text and "Traceback" in text
    assert "abcdefghijklmnop1234" not in text and "xoxb-1111" not in text and audit.REDACTED in text


def test_the_domain_join_password_is_a_secret_once_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.capabilities.scaleset import DOMAIN_PASSWORD_ENV, domain_password

    monkeypatch.setenv(DOMAIN_PASSWORD_ENV, "Join-Pa55word!")
    assert domain_password() == "Join-Pa55word!"
    assert audit.redact("joining with Join-Pa55word! now") == f"joining with {audit.REDACTED} now"


KEY = "k3y-for-the-audit-chain-0123456789"


@pytest.fixture
def keyed() -> Iterator[None]:
    audit.use_key(KEY)
    try:
        yield
    finally:
        audit.use_key("")


def rewrite(store: Store, row_id: int, **fields: str) -> None:
    """What someone who can write the file (but has no key) does: change a row and recompute every hash."""
    with store.transaction() as db:
        for name, value in fields.items():
            db.execute(f"update audit set {name} = ? where id = ?", [value, row_id])
        prev = audit.GENESIS
        for row in list(db.query("select * from audit order by id")):
            row["prev_hash"] = prev
            row["hash"] = audit.row_hash(prev, row)
            db.execute(
                "update audit set prev_hash = ?, hash = ? where id = ?",
                [row["prev_hash"], row["hash"], row["id"]],
            )
            prev = row["hash"]
        last = db.execute("select id, hash from audit order by id desc limit 1").fetchone()
        db.execute("update meta set value = ? where key = 'audit_head'", [f"{last[0]}:{last[1]}"])


def test_a_rewrite_with_recomputed_hashes_passes_the_plain_chain_but_not_the_key(
    store: Store, keyed: None
) -> None:
    for n in range(3):
        audit.record(store, actor="U0LEAD1", action="approval approved", target=f"job {n}")
    assert audit.verify(store) == [] and audit.keyed_rows(store) == (
        3,
        8,
    )  # the fixture's 5 came before the key
    rewrite(store, 7, actor="U0GUEST")
    audit.use_key("")
    assert audit.verify(store) == []  # without the key the rewrite is invisible
    problems = audit.verify(store, key=KEY)
    assert [p.row_id for p in problems] == [7, 8] and "MAC does not match" in problems[0].message


def test_rows_stripped_of_their_mac_after_keyed_rows_are_a_problem(store: Store, keyed: None) -> None:
    for n in range(3):
        audit.record(store, actor="U0OPS1", action="job requested", target=f"job {n}")
    with store.transaction() as db:
        db.execute("update audit set mac = null where id = 8")
    assert [p.row_id for p in audit.verify(store, key=KEY)] == [8]


def test_a_signed_export_verifies_and_any_change_to_it_is_caught(store: Store, keyed: None) -> None:
    for n in range(3):
        audit.record(store, actor="U0OPS1", action="job requested", target=f"job {n}")
    data = json.loads(json.dumps(audit.export(store, KEY)))
    assert audit.verify_export(data, KEY) == []
    assert audit.verify_export(data, "another-key-of-someone-else-123456") != []
    data["rows"][1]["actor"] = "U0GUEST"
    assert audit.verify_export(data, KEY) == [
        "the signature does not match: the file was changed, or signed with another key"
    ]
    with pytest.raises(ValueError, match="AVD_AUDIT_KEY"):
        audit.export(store, "")


def test_the_audit_key_is_a_secret(keyed: None) -> None:
    assert audit.redact(f"key={KEY}") == f"key={audit.REDACTED}"


def avd_audit(*args: str, key: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "AVD_"))}
    if key:
        env["AVD_AUDIT_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "audit", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_avd_bot_audit_export_writes_a_signed_file_that_verify_checks(store: Store, tmp_path: Path) -> None:
    db, out = store.url, str(tmp_path / "audit.json")
    assert avd_audit("export", out, "--db", db).returncode == 2  # no key: refused
    done = avd_audit("export", out, "--db", db, key=KEY)
    assert done.returncode == 0 and "wrote 5 rows" in done.stdout, done.stderr
    good = avd_audit("verify", "--file", out, key=KEY)
    assert good.returncode == 0 and "intact and signed: 5 rows" in good.stdout
    data = json.loads(Path(out).read_text(encoding="utf-8"))
    data["rows"][0]["outcome"] = "refused"
    Path(out).write_text(json.dumps(data), encoding="utf-8")
    bad = avd_audit("verify", "--file", out, key=KEY)
    assert bad.returncode == 1 and "signature does not match" in bad.stdout
