"""Bounded resources at the SMTP and HTTP doors (issue 15 §4), through real sockets and the real doors.

SMTP: over the per-address limit a connection gets 421 at once; DATA that takes longer than data_seconds is
cut with 421; a message over the in-memory budget is spooled to a private file (0600, in the 0700 spool
directory), relayed intact, and the file is gone afterwards; a message that cannot get room in memory within
inflight_wait_seconds gets 451 BUSY (the sender's queue retries). HTTP: over the per-address limit 503; headers
slower than header_seconds 408 (slowloris); a body pausing longer than body_idle_seconds 408.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
import stat
import threading
import time
from email.message import EmailMessage

import pytest
from smtp_support import Gateway, loop, parse_eml  # noqa: F401 - loop is a fixture
from util import make_pdf

from gateway.admission import Budget, ConnectionGuard, address_of
from gateway.engine import Engine

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module")
def engine(dev_settings):
    with Engine(dev_settings, workers=1) as eng:
        yield eng


def _mail(body: bytes = b"", *, attachment: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@so-a.gov.vn", "b@so-b.gov.vn", "Thư"
    msg.set_content("Kính gửi\n" + body.decode())
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="phu-luc.bin")
    return msg.as_bytes()


def _read_reply(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


# --- the tools -------------------------------------------------------------------------------------------------


def test_guard_counts_per_address_and_in_all():
    g = ConnectionGuard("t", total=3, per_address=2)
    a1, a2 = g.admit(("10.0.0.1", 1)), g.admit(("::ffff:10.0.0.1", 2))
    assert a1 == a2 == "10.0.0.1" and g.admit(("10.0.0.1", 3)) is None  # IPv4-mapped counts as the same address
    b = g.admit(("10.0.0.2", 1))
    assert b and g.admit(("10.0.0.3", 1)) is None  # the door is full
    g.release(a1)
    assert g.admit(("10.0.0.3", 1)) == "10.0.0.3" and g.refused == 2


def test_budget_waits_for_room_then_says_busy():
    async def main():
        b = Budget(100, wait_seconds=0.3)
        order = []
        async with b.hold(80):
            assert not b.try_take(30)

            async def second():
                async with b.hold(50):
                    order.append("second")

            t = asyncio.create_task(second())
            await asyncio.sleep(0.1)
            order.append("first done")
        await t
        async with b.hold(500):  # bigger than the whole budget: alone, it goes through
            pass
        async with b.hold(90):
            from gateway.errors import Busy

            with pytest.raises(Busy):
                async with b.hold(20):
                    pass
        return order, b.peak, b.used

    order, peak, used = asyncio.run(main())
    assert order == ["first done", "second"] and used == 0 and peak == 500


# --- SMTP ----------------------------------------------------------------------------------------------------


def test_smtp_connections_over_the_per_address_limit_get_421(loop, dev_settings, engine, tmp_path):
    gw = Gateway(loop, dev_settings, engine, tmp_path / "sink", max_connections_per_address=3)
    socks = []
    try:
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", gw.port))
            socks.append(s)
            assert _read_reply(s).startswith(b"220")
        extra = socket.create_connection(("127.0.0.1", gw.port))
        reply = _read_reply(extra)
        assert reply.startswith(b"421 4.7.0") and b"TOO_MANY_CONNECTIONS" in reply
        assert extra.recv(10) == b""  # closed by the gateway
        socks[0].close()
        time.sleep(0.2)
        again = socket.create_connection(("127.0.0.1", gw.port))
        socks.append(again)
        assert _read_reply(again).startswith(b"220")  # a slot freed is a slot again
    finally:
        for s in socks:
            s.close()
        gw.close()


def test_smtp_data_slower_than_data_seconds_is_cut(loop, dev_settings, engine, tmp_path):
    gw = Gateway(loop, dev_settings, engine, tmp_path / "sink", data_seconds=1.0)
    try:
        s = socket.create_connection(("127.0.0.1", gw.port))
        _read_reply(s)
        for cmd in (b"EHLO x\r\n", b"MAIL FROM:<a@so-a.gov.vn>\r\n", b"RCPT TO:<b@so-b.gov.vn>\r\n", b"DATA\r\n"):
            s.sendall(cmd)
            _read_reply(s) if cmd != b"EHLO x\r\n" else time.sleep(0.2) or s.recv(4096)
        t0 = time.monotonic()
        reply = b""
        for _ in range(20):  # a byte now and then: each resets the idle timer, not the DATA deadline
            try:
                s.sendall(b"x")
            except OSError:
                break
            time.sleep(0.2)
            s.setblocking(False)
            try:
                reply += s.recv(4096)
            except BlockingIOError:
                pass
            s.setblocking(True)
            if reply:
                break
        took = time.monotonic() - t0
        assert reply.startswith(b"421 4.4.2") and b"DATA_TIMEOUT" in reply, reply
        assert took < 3
        s.close()
    finally:
        gw.close()


def test_smtp_message_over_the_memory_budget_is_spooled_privately_and_relayed(loop, dev_settings, engine, tmp_path):
    spool = tmp_path / "spool"
    gw = Gateway(loop, dev_settings, engine, tmp_path / "sink", max_inflight_bytes=256 * 1024, spool_dir=spool)
    seen: list[tuple[str, int]] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for p in spool.glob("data-*"):
                try:
                    seen.append((p.name, stat.S_IMODE(p.stat().st_mode)))
                except FileNotFoundError:
                    pass
            time.sleep(0.005)

    t = threading.Thread(target=watch)
    t.start()
    try:
        text = "".join(f"Dòng {i}: nội dung thư thường, không có tài liệu đính kèm.\n" for i in range(40_000))
        raw = _mail(text.encode())  # ~2.7 MB of plain text
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as c:
            c.sendmail("a@so-a.gov.vn", ["b@so-b.gov.vn"], raw)
    finally:
        stop.set()
        t.join()
        gw.close()
    delivered = list((tmp_path / "sink").glob("*.eml"))
    assert len(delivered) == 1
    got = parse_eml(delivered[0])
    assert got.get_content().count("nội dung thư thường") == 40_000
    assert seen and all(mode == 0o600 for _, mode in seen), seen  # it was spooled, privately
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert not list(spool.glob("data-*"))  # and removed once answered
    # bigger than the whole budget: processed alone (peak = its own size), never beside another
    assert gw.door.budget.used == 0 and gw.door.budget.peak <= len(raw) + 64 * 1024


def test_smtp_message_that_finds_no_room_gets_451_busy(loop, dev_settings, engine, tmp_path):
    gw = Gateway(loop, dev_settings, engine, tmp_path / "sink", max_inflight_bytes=64 * 1024,
                 inflight_wait_seconds=0.5, spool_dir=tmp_path / "spool")
    try:
        gw.door.budget.used = 64 * 1024  # another message holds all the room
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as c:
            with pytest.raises(smtplib.SMTPDataError) as err:
                c.sendmail("a@so-a.gov.vn", ["b@so-b.gov.vn"], _mail(attachment=b"x" * 300_000))
        gw.door.budget.used = 0
        assert err.value.smtp_code == 451 and b"BUSY" in err.value.smtp_error
        assert not list((tmp_path / "sink").glob("*.eml")) and not list((tmp_path / "spool").glob("data-*"))
    finally:
        gw.close()


# --- HTTP ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def portal(dev_settings, tmp_path_factory, engine):
    from publish_support import RunningDoor, http_settings

    settings = http_settings(dev_settings, tmp_path_factory.mktemp("limits"), max_connections_per_address=4,
                             header_seconds=1.0, body_idle_seconds=1.0)
    door = RunningDoor(settings, engine)
    yield door
    door.stop()


def test_http_over_the_per_address_limit_gets_503_at_once(portal):
    socks = [socket.create_connection(("127.0.0.1", portal.port)) for _ in range(4)]
    try:
        extra = socket.create_connection(("127.0.0.1", portal.port))
        reply = _read_reply(extra)
        assert reply.startswith(b"HTTP/1.1 503"), reply
    finally:
        for s in socks:
            s.close()


def test_http_headers_slower_than_header_seconds_get_408(portal):
    s = socket.create_connection(("127.0.0.1", portal.port))
    t0 = time.monotonic()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    reply = b""
    for _ in range(30):  # one header line every 0.2 s: never complete
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except OSError:
            break
        time.sleep(0.2)
        s.setblocking(False)
        try:
            reply += s.recv(4096)
        except BlockingIOError:
            pass
        s.setblocking(True)
        if reply:
            break
    took = time.monotonic() - t0
    s.close()
    assert reply.startswith(b"HTTP/1.1 408") and 0.9 < took < 3, (reply, took)


def test_http_body_that_stalls_gets_408(portal, tmp_path):
    pdf = make_pdf(tmp_path / "a.pdf").read_bytes()
    s = socket.create_connection(("127.0.0.1", portal.port))
    head = (f"POST /v1/documents:sign HTTP/1.1\r\nHost: x\r\nAuthorization: {portal.headers['Authorization']}\r\n"
            f"Content-Type: application/pdf\r\nContent-Length: {len(pdf)}\r\n\r\n").encode()
    s.sendall(head + pdf[:1000])  # then nothing
    reply = _read_reply(s, timeout=10)
    s.close()
    assert reply.startswith(b"HTTP/1.1 408"), reply


def test_mime_limits_of_the_settings_hold_in_the_pipeline_and_answer_552(dev_settings, loop, tmp_path):  # noqa: F811
    """settings.limits.max_mime_parts reaches the message reader (it was a constant of 500); a message refused
    only for a limit gets 552 5.3.4 (too big / too complex), not 550 5.7.1 (forbidden), and is not relayed."""
    s = dev_settings.model_copy(deep=True)
    s.limits.max_mime_parts = 20
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@so-a.gov.vn", "b@so-b.gov.vn", "Thư"
    msg.set_content("Kính gửi")
    for i in range(30):
        msg.add_attachment(f"phụ lục {i}".encode(), maintype="text", subtype="plain", filename=f"pl-{i}.txt")
    with Engine(s, workers=1) as eng:
        gw = Gateway(loop, s, eng, tmp_path / "sink")
        try:
            with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as c:
                with pytest.raises(smtplib.SMTPDataError) as err:
                    c.sendmail("a@so-a.gov.vn", ["b@so-b.gov.vn"], msg.as_bytes())
            assert err.value.smtp_code == 552 and b"5.3.4" in err.value.smtp_error, err.value
            assert b"LIMIT_EXCEEDED" in err.value.smtp_error and b"20 MIME parts" in err.value.smtp_error
            assert not list((tmp_path / "sink").glob("*.eml"))
        finally:
            gw.close()


def test_smtp_message_files_are_removed_after_the_reply_and_before_stop_returns(loop, dev_settings, engine, tmp_path):
    """The door's private copy of a message (msg-*.eml) and the signed output are removed after the reply
    (off its path), and stopping the door waits for that: nothing of a message stays behind."""
    spool = tmp_path / "spool"
    gw = Gateway(loop, dev_settings, engine, tmp_path / "sink", spool_dir=spool)
    try:
        pdfs = [make_pdf(tmp_path / f"cv{i}.pdf").read_bytes() for i in range(4)]
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as c:
            for pdf in pdfs[:3]:
                c.sendmail("a@so-a.gov.vn", ["b@so-b.gov.vn"], _mail(attachment=pdf))
        deadline = time.monotonic() + 10
        while list(spool.glob("msg-*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not list(spool.glob("msg-*"))
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as c:
            c.sendmail("a@so-a.gov.vn", ["b@so-b.gov.vn"], _mail(attachment=pdfs[3]))
    finally:
        gw.close()  # stops the door: waits for the last message's tidying
    assert not list(spool.glob("msg-*"))
    assert len(list((tmp_path / "sink").glob("*.eml"))) == 4
