"""A flood of half-open connections from one address against `gateway run` (issue 15 §4).

The attack: ~1,100 half-open unauthenticated HTTP connections stopped all three doors under the systemd
default file limit (1024 descriptors), and the log grew by 521 MB in 20 s. Here the gateway runs with
RLIMIT_NOFILE 1024, and one address (127.0.0.2) opens 1,500 HTTP and 300 SMTP connections that send a partial
request or nothing. While they stand, an authenticated portal client from another address (127.0.0.1) gets
its document signed, a mail is signed and relayed, a dropped file is signed; /healthz answers; the log stays
small; and the half-open connections the gateway did accept are closed at the header deadline.
"""

from __future__ import annotations

import errno
import resource
import socket
import time

import httpx
import pytest

from gw_harness import mail_with_pdf, wait_until
from util import make_pdf

pytestmark = [pytest.mark.slow, pytest.mark.hsm]

ATTACKER = "127.0.0.2"


def _flood(port: int, n: int, first_bytes: bytes) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((ATTACKER, 0))
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    time.sleep(1.0)
    for s in socks:
        try:
            s.send(first_bytes)
        except OSError:
            pass
    return socks


def _states(socks: list[socket.socket]) -> dict[str, int]:
    """How each attacker connection stands: answered (503/421/408 then closed), closed, or still open."""
    out = {"answered": 0, "closed": 0, "open": 0}
    for s in socks:
        try:
            data = s.recv(4096)
        except BlockingIOError:
            out["open"] += 1
            continue
        except OSError as exc:
            out["closed" if exc.errno in (errno.ECONNRESET, errno.ENOTCONN, errno.EPIPE) else "open"] += 1
            continue
        out["answered" if data else "closed"] += 1
    return out


def test_half_open_flood_from_one_address_leaves_every_door_working(private_dev_settings, gateway_process, tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 4096:
        pytest.skip("the test itself needs more than 4096 descriptors")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    s = private_dev_settings
    g = gateway_process(s, workers=1, nofile=1024, env={"GATEWAY_HTTP__HEADER_SECONDS": "4"})
    pdf = make_pdf(tmp_path / "a.pdf").read_bytes()
    log_before = sum(p.stat().st_size for p in g.logdir.glob("std*"))
    t0 = time.monotonic()
    http = _flood(g.ports["http"], 1500, b"POST /v1/documents:sign HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    smtp = _flood(g.ports["smtp"], 300, b"")
    flood_s = time.monotonic() - t0
    try:
        # While the flood stands: every door serves the others.
        t1 = time.monotonic()
        r = g.post(pdf, timeout=60)
        post_s = time.monotonic() - t1
        code, _ = g.send_mail(mail_with_pdf(pdf))
        g.drop_file("giua-con-lu.pdf", pdf)
        wait_until(lambda: list((g.folders / "signed").glob("giua-con-lu*")), timeout=60, what="folder file signed")
        health = httpx.get(g.url + "/healthz", timeout=30)
        time.sleep(5)  # past the header deadline: the accepted half-open ones are closed
        http_states, smtp_states = _states(http), _states(smtp)
    finally:
        for sock in http + smtp:
            sock.close()
    log_growth = sum(p.stat().st_size for p in g.logdir.glob("std*")) - log_before
    print(f"\nflood from {ATTACKER}: 1500 HTTP + 300 SMTP half-open connections in {flood_s:.1f} s (gateway "
          f"RLIMIT_NOFILE 1024); HTTP {http_states}, SMTP {smtp_states}; meanwhile an authenticated client from "
          f"127.0.0.1: HTTP {r.status_code} {r.headers.get('x-kyso-outcome')} in {post_s:.1f} s, SMTP {code}, "
          f"folder signed, /healthz {health.status_code}; log grew {log_growth} bytes")
    assert r.status_code == 200 and r.headers["x-kyso-outcome"] == "sign", r.text[:300]
    assert code == 250 and health.status_code == 200
    assert http_states["open"] == 0, http_states  # the ones accepted were closed at the header deadline
    assert log_growth < 200_000
    assert g.stop() == 0
