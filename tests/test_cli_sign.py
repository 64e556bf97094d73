"""`gateway sign`, `gateway check`, `gateway log verify|show` through the real CLI entry point."""

from __future__ import annotations

import json
import sqlite3

import pytest
from util import make_pdf, pdfsig

from gateway.audit import AuditLog
from gateway.cli import main

pytestmark = pytest.mark.hsm


@pytest.fixture
def env(dev_settings, tmp_path, monkeypatch):
    """The CLI reads settings from the environment: the shared dev token, a private log."""
    monkeypatch.delenv("KYSO_CONFIG", raising=False)
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(dev_settings.var_dir))
    monkeypatch.setenv("GATEWAY_AUDIT__PATH", str(tmp_path / "log" / "audit.sqlite3"))
    return tmp_path


def log_of(env) -> AuditLog:
    return AuditLog.at(env / "log" / "audit.sqlite3")


def test_sign_one_file(env, dev_settings, capsys):
    src = make_pdf(env / "phu-luc.pdf")
    out = env / "signed.pdf"
    assert main(["sign", str(src), "-o", str(out), "--kind", "attachment", "--number", "12/UBND-VP"]) == 0
    sigs = pdfsig(out, dev_settings.paths.nssdb)
    assert len(sigs) == 1 and sigs[0]["valid"] and sigs[0]["trusted"]
    assert "ĐÃ KÝ SỐ / SIGNED" in capsys.readouterr().out
    rec = log_of(env).query()[-1]
    assert rec.channel == "cli" and rec.outcome == "sign" and rec.data["declared"]["number"] == "12/UBND-VP"


def test_sign_in_place_and_pass_onto_itself(env, dev_settings, capsys):
    """-o naming the input: replaced atomically by its signed version; signing that again PASSes in place."""
    src = make_pdf(env / "cv.pdf")
    assert main(["sign", str(src), "-o", str(src)]) == 0
    assert pdfsig(src, dev_settings.paths.nssdb)[0]["valid"]
    signed = src.read_bytes()
    assert main(["sign", str(src), "-o", str(src)]) == 0  # already org-signed: passed, unchanged
    assert src.read_bytes() == signed and "CHUYỂN TIẾP" in capsys.readouterr().out
    assert sorted(p.name for p in env.iterdir() if p.suffix == ".pdf" or p.name.startswith(".")) == ["cv.pdf"]


def test_unwritable_output_is_temporary_with_a_summary(env, capsys):
    import os
    import subprocess

    src = make_pdf(env / "cv.pdf")
    out = env / "ro"
    out.mkdir()
    if subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i not available (root ignores permission bits)")
    try:
        code = main(["sign", str(src), str(make_pdf(env / "b.pdf")), "-o", str(out)])
    finally:
        subprocess.run(["chattr", "-i", str(out)], check=True)
    cap = capsys.readouterr()
    assert code == 4 and "STORAGE_UNAVAILABLE" in cap.out and "lỗi tạm thời / temporary 2" in cap.out
    assert os.listdir(out) == []


def test_sign_issued_without_person_is_refused(env, capsys):
    src = make_pdf(env / "qd.pdf")
    assert main(["sign", str(src), "-o", str(env / "out.pdf"), "--kind", "issued"]) == 3
    out = capsys.readouterr().out
    assert "TỪ CHỐI" in out and "ISSUED_NEEDS_PERSONAL_SIGNATURE" in out and "Điều 32.2.d" in out
    assert not (env / "out.pdf").exists()


def test_sign_folder_with_progress_and_summary(env, dev_settings, capsys):
    folder = env / "in"
    make_pdf(folder / "a.pdf")
    make_pdf(folder / "b.pdf", lines=["CƠ QUAN (DEV)", "TỐI MẬT", "Nội dung"])
    (folder / "c.pdf").write_bytes(b"%PDF-1.4\nnot really\n")
    code = main(["sign", str(folder), "-o", str(env / "out"), "--kind", "attachment", "--workers", "1"])
    cap = capsys.readouterr()
    assert code == 3
    assert sorted(p.name for p in (env / "out").iterdir()) == ["a.pdf"]
    assert pdfsig(env / "out" / "a.pdf", dev_settings.paths.nssdb)[0]["valid"]
    assert "3/3" in cap.err and "[####################]" in cap.err
    assert "ký số / signed 1" in cap.out and "chặn / blocked 1" in cap.out and "từ chối / rejected 1" in cap.out


def test_missing_input_is_a_usage_error(env, capsys):
    missing = str(env / "khong-co.pdf")
    assert main(["sign", missing, "-o", str(env / "out.pdf")]) == 2
    assert main(["check", missing]) == 2
    assert "không tìm thấy tệp / file not found" in capsys.readouterr().err


def test_same_name_twice_into_one_directory_is_refused(env, capsys):
    a, b = make_pdf(env / "a" / "cv.pdf"), make_pdf(env / "b" / "cv.pdf")
    assert main(["sign", str(a), str(b), "-o", str(env / "out"), "--kind", "attachment"]) == 2
    assert "cv.pdf" in capsys.readouterr().err
    assert not (env / "out").exists() or list((env / "out").iterdir()) == []


def test_sign_passes_already_signed_unchanged(env):
    src = make_pdf(env / "a.pdf")
    assert main(["sign", str(src), "-o", str(env / "once.pdf")]) == 0
    assert main(["sign", str(env / "once.pdf"), "-o", str(env / "twice.pdf")]) == 0
    assert (env / "twice.pdf").read_bytes() == (env / "once.pdf").read_bytes()


def test_sign_temporary_failure_exits_4(env, monkeypatch, capsys):
    monkeypatch.setenv("GATEWAY_TOKEN__TOKEN_LABEL", "NO-SUCH-TOKEN")
    monkeypatch.setenv("GATEWAY_TOKEN__DISCOVERY_ATTEMPTS", "1")
    assert main(["sign", str(make_pdf(env / "a.pdf")), "-o", str(env / "o.pdf")]) == 4
    assert "TOKEN_UNAVAILABLE" in capsys.readouterr().out
    assert not (env / "o.pdf").exists()
    assert log_of(env).query()[-1].outcome == "temporary"


def test_check_is_a_logged_dry_run(env, capsys):
    src = make_pdf(env / "a.pdf")
    assert main(["check", str(src), "--json", "--kind", "attachment"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["outcome"] == "sign" and rows[0]["dry_run"] is True
    assert rows[0]["reasons"][0]["code"] == "SIGN_ORGANISATION" and rows[0]["reasons"][0]["vi"]
    rec = log_of(env).get(rows[0]["record_id"])
    assert rec.data["dry_run"] is True and "sha256_after" not in rec.data


def test_check_channel_changes_the_decision(env, capsys):
    note = env / "x.txt"
    note.write_text("Lịch công tác tuần 49\n", encoding="utf-8")
    assert main(["check", str(note), "--channel", "smtp"]) == 0
    assert main(["check", str(note), "--channel", "portal"]) == 3
    assert "UNSUPPORTED_TYPE" in capsys.readouterr().out
    junk = env / "x.docx"  # not a Word file the gateway can read: refused on every channel
    junk.write_bytes(b"PK\x03\x04" + bytes(100))
    assert main(["check", str(junk), "--channel", "smtp"]) == 3


def test_check_secret_exits_3(env, capsys):
    src = make_pdf(env / "m.pdf", lines=["BỘ (DEV)", "MẬT", "Nội dung"])
    assert main(["check", str(src)]) == 3
    assert "SECRET_MARKED" in capsys.readouterr().out


def _tamper(path, sql: list[str]) -> None:
    c = sqlite3.connect(path, isolation_level=None)
    c.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    c.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    for s in sql:
        c.execute(s)
    c.close()


@pytest.mark.parametrize(
    "sql, bad",
    [
        (["UPDATE audit_log SET outcome = 'pass' WHERE seq = 3"], 3),
        (["DELETE FROM audit_log WHERE seq = 2"], 3),
        (["UPDATE audit_log SET seq = seq + 10 WHERE seq >= 3",
          "INSERT INTO audit_log SELECT 3, time, kind, channel, outcome, event, alert, data, prev_hash, hash "
          "FROM audit_log WHERE seq = 2",
          "UPDATE audit_log SET seq = seq - 9 WHERE seq >= 13"], 3),
        (["UPDATE audit_log SET seq = -1 WHERE seq = 2", "UPDATE audit_log SET seq = 2 WHERE seq = 4",
          "UPDATE audit_log SET seq = 4 WHERE seq = -1"], 2),
    ],
    ids=["edit", "delete", "insert", "reorder"],
)
def test_log_verify_names_the_first_bad_record(env, capsys, sql, bad):
    with log_of(env) as log:
        for i in range(5):
            log.record_event("folder", "folder.moved", i=i)
    assert main(["log", "verify"]) == 0
    assert "5 bản ghi" in capsys.readouterr().out
    _tamper(env / "log" / "audit.sqlite3", sql)
    assert main(["log", "verify"]) == 3  # the documented scheme: 3 = refused / invalid
    assert f"#{bad} " in capsys.readouterr().out


def test_log_show_filters(env, capsys):
    make_pdf(env / "a.pdf")
    main(["check", str(make_pdf(env / "a.pdf"))])
    main(["check", str(make_pdf(env / "q.pdf")), "--kind", "issued"])
    capsys.readouterr()
    assert main(["log", "show", "--outcome", "reject", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["data"]["name"] for r in rows] == ["q.pdf"]
    assert main(["log", "show", "--since", "2000-01-01"]) == 0
    out = capsys.readouterr().out
    assert "a.pdf" in out and "q.pdf" in out and "ISSUED_NEEDS_PERSONAL_SIGNATURE" in out and "+07:00" in out
