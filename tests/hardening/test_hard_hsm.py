"""The signing token goes away while `gateway run` is serving (its directory moved: SoftHSM still loads, the
token is gone; every worker's open session is lost), then comes back. Every door must answer "try again"
meanwhile (SMTP 451, HTTP 503 + Retry-After, the dropped file neither signed nor rejected) and recover
without a restart."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

from gw_harness import mail_with_pdf, wait_until
from util import make_pdf, pdfsig

pytestmark = [pytest.mark.slow, pytest.mark.hsm]


def test_token_gone_every_door_says_try_again_then_recovers(private_dev_settings, gateway_process, tmp_path):
    s = private_dev_settings
    g = gateway_process(s, workers=2)
    pdf = make_pdf(tmp_path / "a.pdf").read_bytes()
    mail = mail_with_pdf(pdf)
    assert g.send_mail(mail)[0] == 250  # sessions open on every door's path
    tokens = Path(s.paths.softhsm) / "tokens"
    away = tokens.with_name("tokens.away")
    shutil.move(tokens, away)
    tokens.mkdir()
    outage_started = time.monotonic()
    try:
        smtp = [g.send_mail(mail) for _ in range(3)]  # more than one worker answers
        http = [g.post(pdf) for _ in range(3)]
        g.drop_file("queued.pdf", pdf)
        health = httpx.get(g.url + "/healthz", timeout=30)
        time.sleep(3)  # several folder retries (initial backoff 0.5 s)
        signed = list((g.folders / "signed").glob("queued*"))
        rejected = list((g.folders / "rejected").glob("queued*"))
        waiting = list((g.folders / "inbox").glob("queued*")) + list((g.folders / ".work").rglob("queued.pdf"))
    finally:
        shutil.rmtree(tokens)
        shutil.move(away, tokens)
    outage_s = time.monotonic() - outage_started
    assert [c for c, _ in smtp] == [451] * 3, smtp
    assert all(b"TOKEN_UNAVAILABLE" in text for _, text in smtp), smtp
    assert [r.status_code for r in http] == [503] * 3
    assert all(int(r.headers["retry-after"]) > 0 and r.json()["code"] == "TOKEN_UNAVAILABLE" for r in http)
    assert health.status_code == 503
    assert not signed and not rejected and waiting, (signed, rejected, waiting)

    t0 = time.monotonic()
    r = wait_until(lambda: (r := g.post(pdf)).status_code == 200 and r, timeout=60, interval=0.5,
                   what="HTTP recovery")
    http_recovery = time.monotonic() - t0
    assert wait_until(lambda: g.send_mail(mail)[0] == 250, timeout=60, interval=0.5, what="SMTP recovery")
    out = wait_until(lambda: list((g.folders / "signed").glob("queued*")), timeout=60, what="queued file signed")
    folder_recovery = time.monotonic() - t0
    assert not list((g.folders / "rejected").glob("queued*"))
    for data in (r.content, out[0].read_bytes()):
        (tmp_path / "check.pdf").write_bytes(data)
        sigs = pdfsig(tmp_path / "check.pdf", s.paths.nssdb)
        assert sigs and sigs[-1]["valid"] and sigs[-1]["trusted"]
    assert httpx.get(g.url + "/healthz", timeout=30).status_code == 200
    print(f"\nHSM outage {outage_s:.1f} s: SMTP 451 x3, HTTP 503 x3 (Retry-After {http[0].headers['retry-after']} s), "
          f"file kept queued; after return: HTTP signs in {http_recovery:.1f} s, queued file signed in "
          f"{folder_recovery:.1f} s, no restart")
