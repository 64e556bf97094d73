"""Decision log: hash chain, tamper detection, concurrent writers (threads and processes), fail closed."""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import stat
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gateway.audit import GENESIS, AuditLog, canonical_json
from gateway.errors import AuditUnavailable
from gateway.model import Channel, Decision, Document, Facts, Origin, Outcome, Reason, RuleHit, SignedOutput


@pytest.fixture
def log(tmp_path):
    with AuditLog.at(tmp_path / "audit" / "log.sqlite3") as a:
        yield a


def fill(log: AuditLog, n: int = 6) -> None:
    for i in range(n):
        log.record_event("smtp", "smtp.relayed", n=i, recipients=["a@b.vn"])


def raw(log: AuditLog) -> sqlite3.Connection:
    """Someone with write access to the file, bypassing the application's append-only triggers."""
    c = sqlite3.connect(log.path, isolation_level=None)
    c.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    c.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    return c


def test_chain_links_and_verifies(log):
    fill(log)
    recs = log.query()
    assert [r.id for r in recs] == [1, 2, 3, 4, 5, 6]
    assert recs[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(recs, recs[1:]))
    assert all(r.time.tzinfo is not None and r.time.utcoffset() == timedelta(0) for r in recs)
    rep = log.verify()
    assert rep.ok and rep.count == 6 and rep.last_hash == recs[-1].hash


def test_records_appended_together_are_chained_and_all_or_none(log):
    """A container's decision and its members' go in one transaction (AuditLog.append_all)."""
    from gateway.audit.log import Entry

    fill(log, 2)
    recs = log.append_all([Entry("event", "smtp", event=f"e{i}", data={"i": i}) for i in range(3)])
    assert [r.id for r in recs] == [3, 4, 5] and [r.event for r in recs] == ["e0", "e1", "e2"]
    assert log.verify().ok and log.head_seq() == 5
    with pytest.raises(AuditUnavailable):  # one record that cannot be written: none of them is
        log.append_all([Entry("event", "smtp", event="ok"), Entry("event", "smtp", data={"x": float("nan")})])
    assert log.head_seq() == 5 and log.verify().count == 5


def test_files_are_private(log):
    fill(log, 1)
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.path.parent.stat().st_mode) == 0o700


def test_application_cannot_update_or_delete(log):
    fill(log, 2)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        log.connect().execute("UPDATE audit_log SET channel = 'x' WHERE seq = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        log.connect().execute("DELETE FROM audit_log WHERE seq = 1")


def test_edit_is_detected(log):
    fill(log)
    c = raw(log)
    data = json.loads(c.execute("SELECT data FROM audit_log WHERE seq = 3").fetchone()[0])
    data["recipients"] = ["attacker@example.com"]
    c.execute("UPDATE audit_log SET data = ? WHERE seq = 3", (canonical_json(data),))
    rep = log.verify()
    assert not rep.ok and rep.first_bad == 3 and "edited" in rep.problem


def test_edit_of_a_column_is_detected(log):
    fill(log)
    raw(log).execute("UPDATE audit_log SET outcome = 'pass' WHERE seq = 2")
    assert log.verify().first_bad == 2


def test_delete_is_detected(log):
    fill(log)
    raw(log).execute("DELETE FROM audit_log WHERE seq = 4")
    rep = log.verify()
    assert not rep.ok and rep.first_bad == 5 and "deleted" in rep.problem


def test_delete_of_the_tail_is_detected(log):
    fill(log)
    raw(log).execute("DELETE FROM audit_log WHERE seq >= 5")
    rep = log.verify()
    assert not rep.ok and rep.first_bad == 5


def test_renumbered_delete_is_detected(log):
    fill(log)
    c = raw(log)
    c.execute("DELETE FROM audit_log WHERE seq = 3")
    c.execute("UPDATE audit_log SET seq = seq - 1 WHERE seq > 3")
    rep = log.verify()
    assert not rep.ok and rep.first_bad == 3


def test_insert_is_detected(log):
    fill(log)
    c = raw(log)
    c.execute("UPDATE audit_log SET seq = seq + 100 WHERE seq > 3")
    c.execute("UPDATE audit_log SET seq = seq - 99 WHERE seq > 100")
    row = c.execute("SELECT time, kind, channel, outcome, event, alert, data, prev_hash, hash FROM audit_log WHERE seq = 3").fetchone()
    c.execute("INSERT INTO audit_log VALUES (4,?,?,?,?,?,?,?,?,?)", row)
    rep = log.verify()
    assert not rep.ok and rep.first_bad == 4


def test_reorder_is_detected(log):
    fill(log)
    c = raw(log)
    c.execute("UPDATE audit_log SET seq = -1 WHERE seq = 2")
    c.execute("UPDATE audit_log SET seq = 2 WHERE seq = 3")
    c.execute("UPDATE audit_log SET seq = 3 WHERE seq = -1")
    rep = log.verify()
    assert not rep.ok and rep.first_bad == 2


def _thread_writer(path: Path, n: int, errors: list) -> None:
    try:
        with AuditLog.at(path) as a:
            for i in range(n):
                a.record_event("folder", "folder.moved", i=i)
    except Exception as exc:  # pragma: no cover - reported by the test
        errors.append(exc)


def _process_writer(path: str, n: int) -> None:
    with AuditLog.at(Path(path)) as a:
        for i in range(n):
            a.record_event("smtp", "smtp.relayed", i=i, pid=os.getpid())


def test_concurrent_writers_threads_and_processes(tmp_path):
    path = tmp_path / "log.sqlite3"
    shared = AuditLog.at(path)
    errors: list = []
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(str(path), 40)) for _ in range(3)]
    threads = [threading.Thread(target=_thread_writer, args=(path, 40, errors)) for _ in range(3)]
    threads += [threading.Thread(target=lambda: [shared.record_event("cli", "x", i=i) for i in range(40)])]
    for p in procs:
        p.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    assert not errors
    rep = shared.verify()
    assert rep.ok and rep.count == 7 * 40
    assert len(shared.query(channel="smtp")) == 120
    shared.close()


def test_query_filters_and_limit(log):
    t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for i in range(5):
        log.append("decision", "smtp" if i % 2 else "portal", outcome="sign" if i < 3 else "reject",
                   time=t0 + timedelta(days=i), data={"i": i})
    assert [r.data["i"] for r in log.query(outcome="reject")] == [3, 4]
    assert [r.data["i"] for r in log.query(channel="smtp")] == [1, 3]
    assert [r.data["i"] for r in log.query(since=t0 + timedelta(days=1), until=t0 + timedelta(days=3))] == [1, 2]
    assert [r.data["i"] for r in log.query(limit=2)] == [3, 4]
    # a time in another zone is compared in UTC
    ict = timezone(timedelta(hours=7))
    assert [r.data["i"] for r in log.query(since=datetime(2025, 1, 5, 7, 0, tzinfo=ict))] == [4]
    assert log.get(2).data == {"i": 1} and log.get(99) is None


def test_decision_record_keeps_metadata_never_content(log):
    secret = b"%PDF-1.7 NOI DUNG MAT 0123456789"
    doc = Document(Channel.SMTP, "cv.pdf", content=secret, origin=Origin(sender="a@x.vn", recipients=("b@y.vn",)))
    facts = Facts(media_type="application/pdf", size=len(secret), sha256="ab" * 32)
    reason = Reason.of("SIGN_ORGANISATION")
    dec = Decision(Outcome.SIGN, (reason,), (RuleHit("sign_organisation", Outcome.SIGN, reason),), "kyso-default", "1")
    out = SignedOutput(Path("/tmp/x.pdf"), "cd" * 32, 99, "application/pdf", "ef" * 32, "1234")
    rec = log.record_decision(doc, outcome="sign", decision=dec, facts=facts, output=out, duration_ms=12.5,
                              warnings=(Reason.of("REVOCATION_UNCHECKED", subject="X"),))
    d = rec.data
    assert d["sha256_before"] == "ab" * 32 and d["sha256_after"] == "cd" * 32
    assert d["signer"] == {"sha256": "ef" * 32, "serial": "1234"}
    assert d["policy"] == {"id": "kyso-default", "version": "1"}
    assert d["reasons"] == [{"code": "SIGN_ORGANISATION", "params": {}}]
    assert d["origin"]["recipients"] == ["b@y.vn"] and d["warnings"][0]["code"] == "REVOCATION_UNCHECKED"
    blob = log.path.read_bytes() + Path(str(log.path) + "-wal").read_bytes()
    assert b"NOI DUNG MAT" not in blob


def test_unwritable_log_raises_audit_unavailable(tmp_path):
    path = tmp_path / "log.sqlite3"
    a = AuditLog.at(path)
    fill(a, 1)
    a.storage._conn.close()  # the database went away under us (disk, permissions, ...)
    with pytest.raises(AuditUnavailable):
        a.record_event("cli", "x")


def test_unopenable_log_raises_audit_unavailable(tmp_path):
    (tmp_path / "f").write_text("not a dir")
    with pytest.raises(AuditUnavailable):
        AuditLog.at(tmp_path / "f" / "log.sqlite3")


def test_decision_data_keeps_client_reference_but_never_the_title():
    import json as _json

    from gateway.audit import decision_data
    from gateway.model import Channel, Declared, Document, Origin

    doc = Document(Channel.PORTAL, "a.pdf", content=b"%PDF-1.7", origin=Origin(client="portal"),
                   declared=Declared(title="Tiêu đề bí ẩn XYZ", client_reference="CMS-42"))
    data = decision_data(doc, None, None, None, (), None, 1.0, False)
    assert data["declared"]["client_reference"] == "CMS-42"
    assert "Tiêu đề bí ẩn XYZ" not in _json.dumps(data, ensure_ascii=False)


def test_connect_uses_the_configured_busy_timeout(tmp_path):
    from gateway.audit import AuditLog

    with AuditLog.at(tmp_path / "log.sqlite3", busy_timeout_ms=1234) as log:
        conn = log.connect()
        try:
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 1234
        finally:
            conn.close()
