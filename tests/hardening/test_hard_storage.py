"""Storage faults under `gateway run`: disk full (8 MiB tmpfs mounted over the pipeline's work dir, the HTTP
spool and the signed folder, filled up), a read-only signed folder (tmpfs remounted ro), and the decision log
locked by another process (an exclusive SQLite transaction held past the busy timeout).

Each door must fail closed ("try again": SMTP 451, HTTP 503, file kept queued), keep nothing half-written
where people look, say why with a reason code, and recover without a restart once the fault is gone.
Needs root (mount); skipped otherwise.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from gw_harness import mail_with_pdf, wait_until
from util import make_pdf

pytestmark = [pytest.mark.slow, pytest.mark.hsm]


def _mount_tmpfs(path: Path, size: str = "2m") -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True,
                   capture_output=True)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _can_mount(tmp: Path) -> bool:
    probe = tmp / "probe"
    try:
        _mount_tmpfs(probe, "64k")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return False
    _umount(probe)
    return True


def _fill(path: Path, leave: int) -> Path:
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    filler = path / ".filler"
    with open(filler, "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))
    return filler


def _queued(g, name: str) -> bool:
    """Still in the inbox, or in a claim of the work area (whose private copy no longer carries the name:
    its claim.json does)."""
    import json

    claims = [c for c in (g.folders / ".work").rglob("claim.json") if json.loads(c.read_text()).get("rel") == name]
    return bool(list((g.folders / "inbox").glob(name)) + list((g.folders / ".work").rglob(name)) + claims)


def test_disk_full_and_read_only_output_fail_closed_then_recover(private_dev_settings, gateway_process, tmp_path):
    if os.geteuid() != 0 or not _can_mount(tmp_path):
        pytest.skip("needs root to mount a small tmpfs")
    s = private_dev_settings
    var = Path(s.var_dir)
    mounts = [var / "work", var / "uploads", var / "folders" / "signed"]
    for m in mounts:
        _mount_tmpfs(m, "8m")  # room for a mail, its members and the rebuilt message
    try:
        g = gateway_process(s, workers=2)
        pdf = make_pdf(tmp_path / "big.pdf", filler_bytes=700_000).read_bytes()
        fillers = [_fill(m, 150_000) for m in mounts]

        # --- disk full ---------------------------------------------------------------------------------
        mail = g.send_mail(mail_with_pdf(pdf))
        post = g.post(pdf)
        g.drop_file("full.pdf", pdf)
        time.sleep(3)
        print(f"\ndisk full: SMTP {mail[0]} {mail[1][:90]!r}; HTTP {post.status_code} "
              f"{post.headers.get('content-type')} {post.text[:120]!r}; folder: queued={_queued(g, 'full.pdf')}, "
              f"rejected={bool(list((g.folders / 'rejected').glob('full*')))}")
        assert mail[0] == 451, mail
        assert post.status_code in (503, 507) and "retry-after" in post.headers, post.text[:300]
        code = post.json().get("code")
        assert code == "STORAGE_UNAVAILABLE", post.json()
        assert _queued(g, "full.pdf") and not list((g.folders / "rejected").glob("full*"))
        assert not [p for p in (g.folders / "signed").glob("*.pdf")]  # nothing half-written where people look

        for f in fillers:
            f.unlink()
        t0 = time.monotonic()
        assert wait_until(lambda: g.send_mail(mail_with_pdf(pdf))[0] == 250, timeout=60, interval=1,
                          what="SMTP after space freed")
        assert g.post(pdf).status_code == 200
        wait_until(lambda: list((g.folders / "signed").glob("full*.pdf")), timeout=60, what="queued file delivered")
        full_recovery = time.monotonic() - t0

        # --- read-only signed folder -------------------------------------------------------------------
        signed = g.folders / "signed"
        subprocess.run(["mount", "-o", "remount,ro", str(signed)], check=True, capture_output=True)
        try:
            g.drop_file("ro.pdf", pdf)
            time.sleep(3)
            ro_queued = _queued(g, "ro.pdf")
            ro_rejected = bool(list((g.folders / "rejected").glob("ro*")))
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(signed)], check=True, capture_output=True)
        assert ro_queued and not ro_rejected
        t0 = time.monotonic()
        wait_until(lambda: list(signed.glob("ro*.pdf")), timeout=60, what="file delivered after remount rw")
        ro_recovery = time.monotonic() - t0
        assert g.stop() == 0
        log = g.stderr()
        print(f"recovered without restart: disk full {full_recovery:.1f} s, read-only {ro_recovery:.1f} s; "
              f"reason codes in the log: {sorted({c for c in ('STORAGE_UNAVAILABLE', 'INTERNAL_ERROR') if c in log})}")
    finally:
        for m in mounts:
            _umount(m)


def test_decision_log_locked_fails_closed_then_recovers(private_dev_settings, gateway_process, tmp_path):
    s = private_dev_settings
    # the wait for a busy log is configurable (default 30 s); 3 s keeps the drill short
    g = gateway_process(s, workers=1, env={"GATEWAY_AUDIT__BUSY_TIMEOUT_SECONDS": "3"})
    pdf = make_pdf(tmp_path / "a.pdf").read_bytes()
    assert g.post(pdf).status_code == 200
    con = sqlite3.connect(s.audit.path, isolation_level=None, timeout=60)
    con.execute("BEGIN EXCLUSIVE")  # another process holds the log: every writer waits, then gives up
    held = time.monotonic()
    result: dict = {}

    def post() -> None:
        result["post"] = g.post(pdf, timeout=120)

    t = threading.Thread(target=post)
    t.start()
    g.drop_file("locked.pdf", pdf)
    t.join(120)
    waited = time.monotonic() - held
    queued = _queued(g, "locked.pdf")
    delivered_while_locked = bool(list((g.folders / "signed").glob("locked*")))
    con.execute("ROLLBACK")
    con.close()
    r = result["post"]
    print(f"\nlog locked: HTTP {r.status_code} {r.json().get('code') if r.headers.get('content-type', '').endswith('json') else ''} "
          f"after {waited:.1f} s; file queued={queued}, delivered while locked={delivered_while_locked}")
    assert r.status_code == 503 and r.json()["code"] == "AUDIT_UNAVAILABLE", r.text[:300]
    assert not delivered_while_locked and queued
    t0 = time.monotonic()
    assert g.post(pdf).status_code == 200
    wait_until(lambda: list((g.folders / "signed").glob("locked*")), timeout=90, what="file delivered after unlock")
    print(f"log unlocked: HTTP 200 and the queued file delivered in {time.monotonic() - t0:.1f} s, no restart")
