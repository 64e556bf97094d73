"""`gateway verify`: Thông tư 15/2025 fields in Vietnamese and English, exit codes, --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main

from util import make_pdf, sign_as_person


@pytest.fixture()
def env(dev_settings, monkeypatch):
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(dev_settings.var_dir))
    monkeypatch.delenv("KYSO_CONFIG", raising=False)
    return dev_settings


@pytest.fixture(scope="module")
def signed(dev_settings, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("verify")
    return sign_as_person(make_pdf(d / "in.pdf"), d / "signed.pdf", dev_settings, person=2)


def test_valid_signature_human_output(env, signed, capsys):
    assert main(["verify", str(signed)]) == 0
    out = capsys.readouterr().out
    for label in (
        "Người ký / Signer: Trần Thị Bình (DEV) (cá nhân / person)",
        "Đơn vị quản lý / Managing unit: Cơ quan thử nghiệm Kyso (DEV)",
        "Tổ chức cấp chứng thư số / Issuer: Common Name: CA phục vụ các cơ quan Nhà nước (DEV)",
        "Thời điểm ký / Signing time: ",
        "Dấu thời gian / Timestamp: không có / none",
        "Tính toàn vẹn / Integrity: toàn vẹn / intact",
        "Thời hạn chứng thư số / Certificate validity: ",
        "Hiệu lực tại thời điểm ký / Valid at signing time: có / yes",
        "Chuỗi tin cậy / Trust: tin cậy / trusted",
        "Tình trạng thu hồi / Revocation: chưa bị thu hồi / not revoked",
        "HỢP LỆ / VALID",
    ):
        assert label in out, label
    assert "+07:00" in out  # times in Vietnam time, ISO 8601


def test_json_output(env, signed, capsys):
    assert main(["verify", "--json", str(signed)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["valid"] is True
    (sig,) = data["signatures"]
    assert sig["signer"] == "Trần Thị Bình (DEV)" and sig["revocation"] == "good" and sig["intact"]
    assert sig["managing_unit"] == "Cơ quan thử nghiệm Kyso (DEV)"


def test_offline_warns(env, signed, capsys, monkeypatch):
    monkeypatch.setenv("GATEWAY_TRUST__REVOCATION", "offline")
    assert main(["verify", str(signed)]) == 0  # valid, but with the warning TT 15 asks for
    out = capsys.readouterr().out
    assert "Tình trạng thu hồi / Revocation: chưa kiểm tra / not checked" in out
    assert "REVOCATION_UNCHECKED" in out and "không kiểm tra được tình trạng thu hồi" in out


def test_unsigned_and_tampered_exit_3(env, signed, tmp_path, capsys):
    assert main(["verify", str(make_pdf(tmp_path / "plain.pdf"))]) == 3
    out = capsys.readouterr().out
    assert "không có chữ ký số" in out and "VERIFY_NO_SIGNATURE" in out
    data = bytearray(signed.read_bytes())
    i = data.index(b"595.27")
    data[i + 5] = ord("8") if data[i + 5] != ord("8") else ord("9")
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(bytes(data))
    assert main(["verify", str(bad)]) == 3
    assert "ĐÃ BỊ THAY ĐỔI HOẶC HỎNG / ALTERED OR BROKEN" in capsys.readouterr().out
    txt = tmp_path / "x.pdf"
    txt.write_text("not a pdf")
    assert main(["verify", str(txt)]) == 3
    assert main(["verify", str(tmp_path / "missing.pdf")]) == 2


def test_temporary_when_hard_fail_source_down(env, signed, capsys, monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("GATEWAY_TRUST__CRLS", json.dumps([f"http://127.0.0.1:{port}/ca.crl"]))
    monkeypatch.setenv("GATEWAY_TRUST__REVOCATION", "hard-fail")
    monkeypatch.setenv("GATEWAY_TRUST__FETCH_TIMEOUT_SECONDS", "2")
    assert main(["verify", str(signed)]) == 4
    assert "REVOCATION_SOURCE_UNAVAILABLE" in capsys.readouterr().err


def test_real_process(env, signed):
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", "verify", "--json", str(signed)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["signatures"][0]["valid"] is True
