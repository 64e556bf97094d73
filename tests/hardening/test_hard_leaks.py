"""A full `gateway run` session (mail, folder, HTTP) with documents carrying a unique marker text, then:
everything the gateway wrote (var dir minus signed outputs/originals and the token store, its stdout/stderr,
an SQL dump of the decision log, /metrics) is grepped for the PIN, the HTTP token and the marker; the files
and folders it created are checked for world/group access; `gateway log verify` holds."""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from gw_harness import GATEWAY, ROOT, mail_with_pdf, wait_until
from util import make_pdf

pytestmark = [pytest.mark.slow, pytest.mark.hsm]

# Files that legitimately hold the document or a secret: outputs and originals the gateway was asked to keep,
# the token store and the secret files themselves.
EXCLUDED_DIRS = ("folders/signed", "folders/archive", "folders/rejected", "folders/quarantine", "mail-sink",
                 "softhsm/tokens", "secrets", "pki")


def _forms(text: str) -> list[bytes]:
    return [text.encode(), text.encode("utf-16-be"), text.encode("utf-16-le"), text.encode().hex().encode()]


def _scanned_files(var: Path) -> list[Path]:
    out = []
    for p in var.rglob("*"):
        rel = p.relative_to(var).as_posix()
        if p.is_file() and not any(rel == d or rel.startswith(d + "/") for d in EXCLUDED_DIRS):
            out.append(p)
    return out


def _notes(var: Path) -> list[Path]:
    """Notes beside rejected/quarantined files are for people and must not quote the document either."""
    return [p for d in ("folders/rejected", "folders/quarantine") for p in (var / d).rglob("*")
            if p.is_file() and not p.read_bytes()[:1024].count(b"%PDF-")]


def test_full_session_leaks_nothing_and_keeps_files_private(private_dev_settings, gateway_process, tmp_path):
    s = private_dev_settings
    marker = "KYSOMARK" + secrets.token_hex(6).upper()
    pin = s.token.read_pin()
    http_token = s.paths.http_dev_token.read_text().strip()
    lines = ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", f"Nội dung riêng {marker}", "Số: 12/UBND-VP"]
    plain = make_pdf(tmp_path / "a.pdf", lines=lines, title=f"Tiêu đề {marker}", subject=marker).read_bytes()
    secret = make_pdf(tmp_path / "s.pdf", lines=["MẬT", f"Bí mật {marker}"]).read_bytes()
    broken = b"%PDF-1.7\n" + f"1 0 obj ({marker}) endobj\n".encode() + b"trailer <<>>\n%%EOF\n"

    g = gateway_process(s)
    try:
        # Mail: signed and relayed, secret-marked and blocked, broken and refused.
        replies = [g.send_mail(mail_with_pdf(d, extra_text=f"Thân thư {marker}")) for d in (plain, secret, broken)]
        assert replies[0][0] == 250 and replies[1][0] == 550 and replies[2][0] == 550, replies
        # HTTP.
        assert g.post(plain).status_code == 200
        assert g.post(secret).status_code == 422
        assert g.post(broken).status_code == 422
        # Folder.
        for i, d in enumerate((plain, secret, broken)):
            g.drop_file(f"f{i}.pdf", d)
        inbox = g.folders / "inbox"
        wait_until(lambda: not [p for p in inbox.iterdir() if p.name.startswith("f") and p.name != "f1.pdf"],
                   timeout=60, what="folder files taken")
        wait_until(lambda: list((g.folders / "signed").glob("f0*")) and list((g.folders / "rejected").glob("f2*")),
                   timeout=60, what="folder outputs")
        metrics = httpx.get(g.url + "/metrics", headers={"Authorization": f"Bearer {http_token}"}, timeout=10).text
    finally:
        assert g.stop() == 0

    var = Path(s.var_dir)
    files = _scanned_files(var) + _notes(var)
    blobs: dict[str, bytes] = {str(p.relative_to(var)): p.read_bytes() for p in files}
    con = sqlite3.connect(s.audit.path)
    dump = "\n".join(con.iterdump())
    con.close()
    assert "smtp.relayed" in dump and "SECRET_MARKED" in dump  # the dump is the real log
    blobs.update({"sqlite-dump": dump.encode(), "metrics": metrics.encode(), "std-streams": g.outputs_text()})
    leaks = []
    for what, needle in (("PIN", pin), ("HTTP token", http_token), ("marker", marker)):
        for name, blob in blobs.items():
            if any(f in blob for f in _forms(needle)):
                leaks.append(f"{what} in {name}")
    print(f"\nleak scan: {len(blobs)} blobs ({len(files)} files, "
          f"{sum(len(b) for b in blobs.values())} bytes); leaks: {leaks or 'none'}")
    assert not leaks

    # Permissions: nothing the gateway keeps (log, spool, work areas, secrets, token) is readable by others.
    open_to_others = []
    for p in [var, *var.rglob("*")]:
        mode = stat.S_IMODE(p.lstat().st_mode)
        rel = p.relative_to(var).as_posix() or "."
        sensitive = ((rel.startswith(("secrets", "softhsm/tokens", "spool", "uploads", "work", "folders/.work",
                                      "folders/quarantine")) or rel.startswith("audit.sqlite3"))
                     or p.suffix in (".key", ".p12", ".pass") or "pin" in p.name)
        if sensitive and mode & 0o077 and not p.is_symlink():
            open_to_others.append(f"{rel} {oct(mode)}")
    print("group/world-accessible sensitive paths:", open_to_others or "none")
    assert not open_to_others

    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    res = subprocess.run([str(GATEWAY), "log", "verify"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**env, "GATEWAY_VAR_DIR": str(var)})
    assert res.returncode == 0, res.stdout + res.stderr
