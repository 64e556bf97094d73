"""SIGKILL drills: `gateway run` (and its signing workers) killed while mail DATA, folder files and an HTTP
upload are in flight, then restarted on the same var dir. Senders behave as real ones do: a mail not answered
250 is sent again, an HTTP upload not answered is posted again, dropped files stay where they were put.

Counted per door: sent, delivered, refused, duplicated, unsigned leaked, lost. Asserted: 0 lost, 0 unsigned
leaked, 0 duplicated folder outputs; mail duplicates can only come from the window between the next hop's
250 and ours (at-least-once, as in every MTA) and are reported.
"""

from __future__ import annotations

import email
import email.policy
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from gw_harness import mail_with_pdf, wait_until
from smtp_support import LoopThread
from util import make_pdf, pdfsig

from gateway.smtp import MailSink

pytestmark = [pytest.mark.slow, pytest.mark.hsm]

N_MAIL = 6
N_FILES = 8


def _signed_pdf(data: bytes) -> bool:
    return data.startswith(b"%PDF") and b"/ByteRange" in data  # the originals carry no signature at all


def _sink_messages(sink_dir: Path) -> dict[str, list[bytes]]:
    """Message-ID -> the PDF attachments of each delivered copy."""
    out: dict[str, list[bytes]] = {}
    for p in sorted(sink_dir.glob("*.eml")):
        msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        pdfs = [part.get_content() for part in msg.iter_attachments() if part.get_content_type() == "application/pdf"]
        out.setdefault(str(msg["X-Drill-Id"]), []).extend(pdfs or [b""])
    return out


def _partial_data(port: int, raw: bytes) -> socket.socket:
    """An SMTP client stopped in the middle of DATA (half the message sent)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    f = s.makefile("rb")
    f.readline()
    for cmd in (b"EHLO drill\r\n", b"MAIL FROM:<vanthu@dev.test>\r\n", b"RCPT TO:<nhan@dev.test>\r\n", b"DATA\r\n"):
        s.sendall(cmd)
        while True:
            line = f.readline()
            if line[3:4] != b"-":
                break
    body = raw.replace(b"\n", b"\r\n") if b"\r\n" not in raw else raw
    s.sendall(body[: len(body) // 2])
    return s


def _partial_upload(port: int, token: str, pdf: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall((f"POST /v1/documents:sign HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
               f"Content-Type: application/pdf\r\nContent-Length: {len(pdf)}\r\n\r\n").encode() + pdf[: len(pdf) // 2])
    return s


def test_sigkill_mid_flight_then_restart_loses_nothing(private_dev_settings, gateway_process, tmp_path):
    s = private_dev_settings
    loop = LoopThread()
    sink = MailSink("127.0.0.1", 0, tmp_path / "sink")
    loop.run(sink.start())
    try:
        g = gateway_process(s, start=False, workers=2,
                            env={"GATEWAY_SMTP__SINK_ENABLED": "false", "GATEWAY_SMTP__UPSTREAM_PORT": str(sink.port)})
        g.start()
        pdf = make_pdf(tmp_path / "doc.pdf", pages=3).read_bytes()
        mails = {}
        for i in range(N_MAIL):
            raw = mail_with_pdf(pdf, name=f"cv-{i}.pdf")
            mails[f"m{i}"] = raw.replace(b"Subject:", f"X-Drill-Id: m{i}\nSubject:".encode(), 1)
        acked: dict[str, int | None] = {}

        def send(mid: str) -> None:
            acked[mid] = g.send_mail(mails[mid], timeout=30)[0]

        # In flight at the kill: half of the mails (threads), one DATA cut in half, all files, one upload.
        threads = [threading.Thread(target=send, args=(m,)) for m in list(mails)[: N_MAIL // 2]]
        for t in threads:
            t.start()
        half = _partial_data(g.ports["smtp"], mails[f"m{N_MAIL - 1}"])
        files = {f"d{i}.pdf": pdf for i in range(N_FILES)}
        for name, data in files.items():
            g.drop_file(name, data)
        upload = _partial_upload(g.ports["http"], g.token, pdf)
        wait_until(lambda: len(list((g.folders / "inbox").glob("d*.pdf"))) < N_FILES, timeout=30,
                   what="the folder door to take files")
        time.sleep(0.3)
        killed_at = time.monotonic()
        g.kill()
        for t in threads:
            t.join(60)
        half.close()
        upload.close()
        killed_in_flight = {m: a for m, a in acked.items()}

        g.start()
        restart_s = time.monotonic() - killed_at
        # Senders retry what was not acknowledged; the rest of the mails are sent now.
        for mid in mails:
            if acked.get(mid) != 250:
                for _ in range(10):
                    acked[mid] = g.send_mail(mails[mid], timeout=60)[0]
                    if acked[mid] == 250:
                        break
                    time.sleep(1)
        r = g.post(pdf)
        assert r.status_code == 200 and _signed_pdf(r.content)
        # The folder door finishes the claims it held and the files still in the inbox.
        wait_until(lambda: len(list((g.folders / "signed").glob("d*.pdf"))) >= N_FILES, timeout=120,
                   what="every dropped file delivered")
        time.sleep(1.5)  # a duplicate would land within a rescan period
        assert g.stop() == 0
    finally:
        loop.run(sink.stop())
        loop.close()

    # --- mail -----------------------------------------------------------------------------------------------
    delivered = _sink_messages(tmp_path / "sink")
    lost_mail = [m for m in mails if m not in delivered]
    dup_mail = {m: len(v) for m, v in delivered.items() if len(v) > 1}
    unsigned_mail = [m for m, pdfs in delivered.items() for d in pdfs if not _signed_pdf(d)]
    assert all(acked[m] == 250 for m in mails), acked
    assert not lost_mail and not unsigned_mail
    # --- folder ---------------------------------------------------------------------------------------------
    signed = sorted((g.folders / "signed").glob("d*"))
    names = [p.name for p in signed]
    dup_files = len(names) - len(set(names))
    unsigned_files = [p.name for p in signed if not _signed_pdf(p.read_bytes())]
    lost_files = [n for n in files if n not in names]
    leftovers = [p.name for p in (g.folders / "inbox").iterdir() if p.name.startswith("d")]
    verdicts = pdfsig(signed[0], s.paths.nssdb)
    assert verdicts and verdicts[-1]["valid"] and verdicts[-1]["trusted"]
    assert len(signed) == N_FILES and not dup_files and not unsigned_files and not lost_files and not leftovers
    # --- HTTP: the killed upload's partial spool file stays private; Spool.prepare removes it at a start
    # more than request_seconds + 1 h later (another process may share the spool, so not sooner).
    spool = Path(s.var_dir) / "uploads"
    left = [p for p in spool.rglob("*") if p.is_file()] if spool.exists() else []
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 and p.stat().st_size < len(pdf) for p in left)
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    print(
        f"\nSIGKILL drill: restart {restart_s:.1f} s; mail sent {N_MAIL} (in flight at kill: "
        f"{sum(1 for a in killed_in_flight.values() if a != 250)} unanswered, 1 cut mid-DATA), delivered "
        f"{len(delivered)}, duplicated {sum(v - 1 for v in dup_mail.values())}, lost {len(lost_mail)}, unsigned "
        f"{len(unsigned_mail)}; files {N_FILES} -> signed {len(signed)}, duplicated {dup_files}, lost "
        f"{len(lost_files)}, unsigned {len(unsigned_files)}; HTTP upload cut and re-posted: 200 signed, spool "
        f"leftovers {len(left)} (partial, 0600, removed by a later start); restart log: "
        f"{'claims recovered' if 'found in the work area' in g.stderr() else 'no claim held at kill'}"
    )
