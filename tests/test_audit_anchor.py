"""The anchored decision log (issue 15 §2, §3): canonical records refused in any other form, checkpoints
signed by the organisation's HSM key and checked by `gateway log verify`, an anchor kept in a second place,
and a log that goes missing is never replaced by an empty one.

The attacks reproduced here, each through the real `gateway log verify` child process:
- an insider rewrites the whole chain consistently with the gateway's own code (every BLOCK turned into
  SIGN, a record deleted and the rest renumbered, the tail cut, the head row fixed): the signed checkpoints
  no longer match; with the log's own checkpoints deleted as well, the anchor still catches it;
- a duplicate JSON key that SQL readers (json_extract: first key) and Python (last key) read differently,
  without changing any hash: refused on read and by verify;
- verify on a missing log: exit 3, says so, creates nothing.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.audit import (
    Anchor,
    AuditLog,
    AuditLogLost,
    AuditRecordInvalid,
    Checkpointer,
    Row,
    canonical_json,
)
from gateway.audit.checkpoints import CheckpointInvalid, Statement, organisation_certs, verify_signature
from gateway.audit.log import anchor_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def signer(dev_settings):
    from gateway.signing import OrgSigner

    s = OrgSigner(dev_settings)
    yield s
    s.close()


@pytest.fixture
def settings(dev_settings, tmp_path):
    s = dev_settings.model_copy(deep=True)
    s.audit.path = tmp_path / "log" / "audit.sqlite3"
    s.audit.anchor_dir = tmp_path / "anchor"
    return s


def _verify(settings, *extra: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_VAR_DIR=str(settings.var_dir), GATEWAY_AUDIT__PATH=str(settings.audit.path),
               GATEWAY_AUDIT__ANCHOR_DIR=str(settings.audit.anchor_dir))
    r = subprocess.run([sys.executable, "-m", "gateway", "log", "verify", *extra], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        outcome = "block" if i % 3 == 0 else "sign"
        log.append("decision", "smtp", outcome=outcome, alert=outcome == "block",
                   data={"n": i, "name": f"cv-{i}.pdf", "reasons": [{"code": "SECRET_MARKED" if outcome == "block"
                                                                     else "SIGN_ORGANISATION", "params": {}}]})


def _checkpointer(log: AuditLog, signer, settings) -> Checkpointer:
    return Checkpointer(log, signer.sign_statement, organisation=settings.organisation, every_records=5,
                        every_seconds=3600, anchor=Anchor(anchor_dir(settings)))


def _raw(path: Path) -> sqlite3.Connection:
    """Someone with write access to the file: the application's append-only triggers dropped first."""
    c = sqlite3.connect(path, isolation_level=None)
    for t in ("audit_log_no_update", "audit_log_no_delete", "audit_checkpoint_no_update", "audit_checkpoint_no_delete"):
        c.execute(f"DROP TRIGGER IF EXISTS {t}")
    return c


def _rewrite_consistently(path: Path, *, drop_checkpoints: bool) -> None:
    """The whole chain rebuilt as the attacker wants it, every hash recomputed with the gateway's own code."""
    c = _raw(path)
    cols = "seq, time, kind, channel, outcome, event, alert, data, prev_hash, hash"
    rows = c.execute(f"SELECT {cols} FROM audit_log ORDER BY seq").fetchall()
    kept = [r for r in rows if r[0] != 4][:-2]  # record 4 deleted, the last two cut off
    c.execute("DELETE FROM audit_log")
    prev = "0" * 64
    for i, r in enumerate(kept, 1):
        data = json.loads(r[7])
        outcome, alert = r[4], r[6]
        if outcome == "block":  # every BLOCK becomes SIGN
            outcome, alert = "sign", 0
            data["reasons"] = [{"code": "SIGN_ORGANISATION", "params": {}}]
        row = Row.build(i, prev, time=r[1], kind=r[2], channel=r[3], outcome=outcome, event=r[5], alert=bool(alert),
                        data=canonical_json(data))
        c.execute(f"INSERT INTO audit_log ({cols}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                  (row.seq, row.time, row.kind, row.channel, row.outcome, row.event, int(row.alert), row.data,
                   row.prev_hash, row.hash))
        prev = row.hash
    c.execute("UPDATE audit_head SET seq = ?, hash = ?", (len(kept), prev))
    if drop_checkpoints:
        c.execute("DELETE FROM audit_checkpoint")
    c.close()


# --- records in one exact form ----------------------------------------------------------------------------


def test_duplicate_key_is_refused_on_read_and_by_verify(tmp_path):
    path = tmp_path / "log.sqlite3"
    with AuditLog.at(path) as log:
        log.record_event("smtp", "smtp.blocked", alert=True, recipients=["boss@x.vn"], outcome="block")
        log.record_event("smtp", "smtp.relayed", n=2)
        assert log.verify().ok
    c = _raw(path)
    data = c.execute("SELECT data FROM audit_log WHERE seq = 1").fetchone()[0]
    forged = '{"outcome":"sign",' + data[1:]  # SQL's json_extract reads the first key, Python the last
    c.execute("UPDATE audit_log SET data = ? WHERE seq = 1", (forged,))
    sql_sees = c.execute("SELECT json_extract(data, '$.outcome') FROM audit_log WHERE seq = 1").fetchone()[0]
    c.close()
    assert sql_sees == "sign" and json.loads(forged)["outcome"] == "block"
    # The old reader re-serialised what json.loads kept: the hash still matched. Not any more.
    with AuditLog.at(path) as log:
        with pytest.raises(AuditRecordInvalid, match="duplicate key"):
            log.get(1)
        with pytest.raises(AuditRecordInvalid):
            log.query()
        rep = log.verify()
    assert not rep.ok and rep.first_bad == 1 and "duplicate key" in rep.problem


@pytest.mark.parametrize("column,value,words", [
    ("data", '{"n": 1}', "canonical"),
    ("data", '{"n":NaN}', "NaN"),
    ("alert", 2, "alert"),
    ("kind", "verdict", "kind"),
    ("time", "2025-01-01 00:00:00", "time"),
    ("hash", "AB" * 32, "hash"),
])
def test_records_in_any_other_form_are_refused(tmp_path, column, value, words):
    path = tmp_path / "log.sqlite3"
    with AuditLog.at(path) as log:
        log.record_event("cli", "x", n=1)
    c = _raw(path)
    c.execute(f"UPDATE audit_log SET {column} = ? WHERE rowid = 1", (value,))
    c.close()
    with AuditLog.at(path) as log:
        with pytest.raises(AuditRecordInvalid):
            log.query()
        rep = log.verify()
    assert not rep.ok and words.lower() in rep.problem.lower(), rep.problem


def test_names_that_are_not_utf8_are_recorded_exactly(tmp_path):
    """A folder file name with bytes that are not UTF-8 (a surrogate escape in Python) used to make the
    record unwritable; it is kept as \\xNN text."""
    name = b"c\xf4ng-v\xe3n.pdf".decode("utf-8", "surrogateescape")
    with AuditLog.at(tmp_path / "log.sqlite3") as log:
        rec = log.record_event("folder", "folder.delivered", path=name)
        assert rec.data["path"] == "c\\xf4ng-v\\xe3n.pdf"
        assert log.verify().ok


# --- checkpoints and the anchor ----------------------------------------------------------------------------


@pytest.mark.hsm
def test_checkpoint_is_signed_by_the_organisation_and_verifies_independently(settings, signer, tmp_path):
    with AuditLog.open(settings) as log:
        _fill(log, 7)
        cp = _checkpointer(log, signer, settings).make()
        assert cp is not None and (cp.seq, cp.hash) == log.head()
        rep = log.verify(trusted=organisation_certs(settings), anchor=anchor_dir(settings))
    assert rep.ok and rep.checkpoints == 1 and rep.anchored == 1 and rep.last_checkpoint == 7, rep
    st = Statement.parse(cp.statement)
    assert st.log_id == log.log_id and st.organisation == settings.organisation
    # The anchor's latest.json + .p7s verify with openssl alone (what an auditor without the gateway runs).
    a = anchor_dir(settings)
    r = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(a / "latest.json.p7s"),
                        "-content", str(a / "latest.json"), "-CAfile", str(settings.paths.pki / "root.pem"),
                        "-purpose", "any", "-out", "/dev/null"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # A signature by any other key, or over other bytes, is not a checkpoint.
    with pytest.raises(CheckpointInvalid, match="other bytes"):
        verify_signature(cp.statement.replace('"seq":7', '"seq":9'), cp.signature, organisation_certs(settings))
    with pytest.raises(CheckpointInvalid, match="not the organisation"):
        verify_signature(cp.statement, cp.signature, [b"not this certificate"])
    lines = (a / "checkpoints.jsonl").read_text().splitlines()
    assert len(lines) == 1 and base64.b64decode(json.loads(lines[0])["signature"]) == cp.signature
    assert oct((a / "checkpoints.jsonl").stat().st_mode & 0o777) == "0o600"


@pytest.mark.hsm
@pytest.mark.parametrize("drop_checkpoints", [False, True], ids=["checkpoints-kept", "checkpoints-deleted-too"])
def test_consistent_rewrite_of_the_whole_chain_is_caught(settings, signer, drop_checkpoints):
    with AuditLog.open(settings) as log:
        _fill(log, 6)
        cps = _checkpointer(log, signer, settings)
        cps.make()
        _fill(log, 6)
        cps.make()
    code, out = _verify(settings)
    assert code == 0 and "12 bản ghi" in out and "#12" in out, out
    _rewrite_consistently(settings.audit.path, drop_checkpoints=drop_checkpoints)
    with AuditLog.at(settings.audit.path) as log:
        chain_only = log.verify()  # what the log said before checkpoints: the rewritten chain is consistent
        assert chain_only.ok or not drop_checkpoints
        assert [r.outcome for r in log.query()].count("block") == 0
    code, out = _verify(settings)
    print(f"\nconsistent rewrite ({'checkpoints deleted too' if drop_checkpoints else 'checkpoints kept'}): "
          f"exit {code}: {out.strip()[:200]}")
    assert code == 3 and "TAMPERED" in out, out
    assert ("anchor" in out) if drop_checkpoints else ("checkpoint" in out)


@pytest.mark.hsm
def test_auditor_checks_a_log_against_a_checkpoint_kept_elsewhere(settings, signer, tmp_path):
    """What the auditor keeps (latest.json + latest.json.p7s, copied off the machine) is enough; the
    configured anchor is not needed (and here it is gone)."""
    with AuditLog.open(settings) as log:
        _fill(log, 5)
        _checkpointer(log, signer, settings).make()
    kept = tmp_path / "auditor"
    kept.mkdir()
    a = anchor_dir(settings)
    for name in ("latest.json", "latest.json.p7s"):
        (kept / name).write_bytes((a / name).read_bytes())
    for p in a.iterdir():
        p.unlink()
    with AuditLog.at(settings.audit.path) as log:
        _fill(log, 2)  # the gateway went on writing: fine
    code, out = _verify(settings, "--anchor", str(kept / "latest.json"))
    assert code == 0 and "1 ở điểm neo" in out and "2 bản ghi sau" in out, out
    c = _raw(settings.audit.path)
    c.execute("DELETE FROM audit_checkpoint")
    c.execute("DELETE FROM audit_log WHERE seq >= 4")
    c.execute("UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_log WHERE seq = 3)")
    c.close()
    code, out = _verify(settings, "--anchor", str(kept / "latest.json"))
    assert code == 3 and "cut off" in out, out


def test_verify_on_a_missing_log_fails_and_creates_nothing(settings):
    code, out = _verify(settings)
    assert code == 3 and "MISSING" in out, out
    assert not settings.audit.path.exists() and not settings.audit.path.parent.exists()


def test_a_missing_log_is_not_replaced_by_an_empty_one(settings):
    with AuditLog.open(settings) as log:
        _fill(log, 3)
        log_id = log.log_id
    assert Anchor(anchor_dir(settings)).identity()["log_id"] == log_id
    settings.audit.path.unlink()
    with pytest.raises(AuditLogLost, match="anchor"):
        AuditLog.open(settings)
    assert not settings.audit.path.exists()
    with pytest.raises(AuditLogLost):  # workers and readers never create
        AuditLog.open(settings, create=False)


def test_a_deleted_or_replaced_log_stops_writing_until_it_is_back(tmp_path, caplog):
    path = tmp_path / "log.sqlite3"
    log = AuditLog.at(path)
    _fill(log, 3)
    aside = tmp_path / "aside.sqlite3"
    os.rename(path, aside)  # gone from where it belongs (deleted, as far as the gateway can tell)
    with pytest.raises(AuditLogLost):
        log.ensure_writable()
    with pytest.raises(AuditLogLost):
        log.record_event("cli", "x")
    assert "ALERT" in caplog.text
    # Another file put in its place (here: another log; or an older copy of this one) is not adopted.
    with AuditLog.at(tmp_path / "old.sqlite3") as other:
        _fill(other, 1)
    os.rename(tmp_path / "old.sqlite3", path)
    with pytest.raises(AuditLogLost):
        log.record_event("cli", "x")
    os.unlink(path)
    os.rename(aside, path)  # the real one is back
    log.record_event("cli", "x", after=True)
    assert log.verify().ok and log.head_seq() == 4
    log.close()


def test_another_log_at_the_path_is_not_the_anchored_one(settings, tmp_path):
    """An empty log some tool created where the real one was (or a swapped file) is refused at open."""
    with AuditLog.open(settings) as log:
        _fill(log, 2)
    settings.audit.path.unlink()
    with AuditLog.at(settings.audit.path) as other:  # e.g. a certificate-inventory command on a missing log
        other.record_event("cli", "x")
    with pytest.raises(AuditLogLost, match="belongs to log"):
        AuditLog.open(settings)
