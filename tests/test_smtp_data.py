"""The block DATA reader (server.read_data), the relay's wire format (relay.wire_data) and the fast MIME
helpers, against their references: stock aiosmtpd's per-line DATA loop, aiosmtplib's own DATA encoding, the
boundary regex and the lenient regex base64 decoder. DATA goes through real sockets on loopback."""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import random
import re
import socket

import pytest
from aiosmtpd.smtp import SMTP
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from smtp_support import LoopThread, loop  # noqa: F401 - loop is a fixture

from gateway.inspect import mime
from gateway.signing import message as rebuilder
from gateway.smtp.relay import wire_data
from gateway.smtp.server import GatewaySMTP


class Recorder:
    """A handler that keeps what DATA delivered and answers 250."""

    def __init__(self) -> None:
        self.contents: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.contents.append((envelope.original_content, envelope.content))
        return "250 2.0.0 kept"


class Servers:
    """GatewaySMTP and stock aiosmtpd (the reference; its line limit widened) on one loop thread."""

    def __init__(self, loop: LoopThread, limit: int) -> None:
        self.loop = loop
        self.gw, self.ref = Recorder(), Recorder()

        class WideSMTP(SMTP):
            line_length_limit = limit + 3  # stock aiosmtpd refuses lines > 1001 octets; the door does not

        async def start():
            lp = asyncio.get_running_loop()
            gw = await lp.create_server(lambda: GatewaySMTP(self.gw, max_message_bytes=limit), "127.0.0.1", 0)
            ref = await lp.create_server(lambda: WideSMTP(self.ref, data_size_limit=limit), "127.0.0.1", 0)
            return gw, ref

        self._servers = loop.run(start())
        self.gw_port, self.ref_port = (s.sockets[0].getsockname()[1] for s in self._servers)

    def close(self) -> None:
        async def stop():
            for s in self._servers:
                s.close()

        self.loop.run(stop())


@pytest.fixture(scope="module")
def servers(loop):
    s = Servers(loop, 64 * 1024)
    yield s
    s.close()


def converse(port: int, stream: bytes, *, chunk: int | None = None) -> list[bytes]:
    """EHLO, MAIL, RCPT, DATA, then `stream` (the raw data, terminator included, maybe followed by pipelined
    commands) in one write or in `chunk`-sized writes; returns every reply line after 354 until QUIT's 221."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        f = s.makefile("rb")

        def reply() -> bytes:
            while True:
                line = f.readline()
                assert line, "connection closed"
                if line[3:4] != b"-":
                    return line

        reply()
        for cmd in (b"EHLO t.example", b"MAIL FROM:<a@b.c>", b"RCPT TO:<d@e.f>", b"DATA"):
            s.sendall(cmd + b"\r\n")
            code = reply()
        assert code.startswith(b"354"), code
        if chunk:
            for i in range(0, len(stream), chunk):
                s.sendall(stream[i : i + chunk])
        else:
            s.sendall(stream)
        s.sendall(b"QUIT\r\n")
        out = []
        while not out or not out[-1].startswith(b"221"):
            out.append(reply())
        return out


def both(servers: Servers, stream: bytes, **kw):
    """(gateway replies, gateway contents) and the same for stock aiosmtpd."""
    n_gw, n_ref = len(servers.gw.contents), len(servers.ref.contents)
    got = converse(servers.gw_port, stream, **kw)
    want = converse(servers.ref_port, stream, **kw)
    return (got, servers.gw.contents[n_gw:]), (want, servers.ref.contents[n_ref:])


CASES = {
    "empty message": b".\r\n",
    "one empty line": b"\r\n.\r\n",
    "stuffed dots": b"..\r\n...x\r\n.y\r\nmid.dle\r\n. \r\n.\r\n",
    "dot first": b".Subject: a\r\n\r\nbody\r\n.\r\n",
    "lines ending in dots": b"Xin gui.\r\nHet.\r\n..\r\n.\r\n",
    "bare LF is data": b"a\nb\n.\nc\n..d\r\n\n.\n\r\n.\r\n",
    "bare CR is data": b"a\rb\r.\r\n\r.\r\n.\r\n",
    "almost a terminator": b"x\r\n.\r x\r\n.\n\r\n .\r\n.\r\n",
    "pipelined NOOP after the end": b"Subject: p\r\n\r\nx\r\n.\r\nNOOP\r\n",
    "long line": b"Subject: l\r\n\r\n" + b"z" * 5000 + b"\r\n.\r\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_data_reader_matches_stock_aiosmtpd(servers, name):
    stream = CASES[name]
    for chunk in (None, 1, 3):  # one write; byte by byte; the terminator split across reads
        (got, got_contents), (want, want_contents) = both(servers, stream, chunk=chunk)
        assert [r[:3] for r in got] == [r[:3] for r in want], (got, want)
        assert got_contents == want_contents
        assert len(got_contents) == 1 and isinstance(got_contents[0][0], bytes)


def test_random_streams_match_stock_aiosmtpd(servers):
    rnd = random.Random(5)
    tokens = [b"\r\n", b"\n", b"\r", b".", b"..", b"x", b"\r\n.", b". ", b"=", b"--b"]
    for _ in range(25):
        stream = b"".join(rnd.choice(tokens) for _ in range(rnd.randrange(1, 40)))
        stream = stream.replace(b"\r\n.\r\n", b"\r\n..\r\n")
        if stream.startswith(b".\r\n"):
            stream = b"." + stream
        stream += b"\r\n.\r\n"
        (got, got_contents), (want, want_contents) = both(servers, stream, chunk=rnd.choice((None, 2, 7)))
        assert got_contents == want_contents, stream
        assert [r[:3] for r in got] == [r[:3] for r in want]


def test_size_exceeded_mid_data_is_552_and_nothing_delivered(loop):
    s = Servers(loop, 4096)
    try:
        big = (b"y" * 70 + b"\r\n") * 200 + b".\r\n"
        (got, got_contents), (want, want_contents) = both(s, big, chunk=1000)
        assert got[0].startswith(b"552") and want[0].startswith(b"552")
        assert got_contents == want_contents == []
        # far over the limit, with no ".\r\n" in sight for longer than the reader's buffer limit
        huge = b"Subject: h\r\n\r\n" + b"q" * (5 * 4096) + b"\r\n.\r\n"
        assert converse(s.gw_port, huge)[0].startswith(b"552")
        # exactly at the limit is accepted (the limit counts the bytes before the final ".")
        at = b"a" * (4096 - 2) + b"\r\n"
        assert converse(s.gw_port, at + b".\r\n")[0].startswith(b"250")
        assert converse(s.gw_port, b"a" + at + b".\r\n")[0].startswith(b"552")
        assert s.gw.contents == [(at, at)]
    finally:
        s.close()


def test_five_megabytes_in_one_write(loop):
    s = Servers(loop, 8 * 1024 * 1024)
    try:
        body = base64.encodebytes(os.urandom(3_700_000)).replace(b"\n", b"\r\n")
        raw = b"Subject: big\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body
        assert len(raw) > 5_000_000
        stuffed = raw.replace(b"\r\n.", b"\r\n..")
        replies = converse(s.gw_port, stuffed + b".\r\n")
        assert replies[0].startswith(b"250") and replies[-1].startswith(b"221")
        assert s.gw.contents == [(raw, raw)]
    finally:
        s.close()


def test_connection_lost_mid_data_delivers_nothing(servers):
    before = len(servers.gw.contents)
    with socket.create_connection(("127.0.0.1", servers.gw_port), timeout=30) as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"HELO t\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n")
        replies = [f.readline() for _ in range(4)]
        assert replies[-1].startswith(b"354")
        sock.sendall(b"Subject: cut\r\n\r\nhalf a message\r\n")
    with socket.create_connection(("127.0.0.1", servers.gw_port), timeout=30) as sock:  # the server lives on
        assert sock.makefile("rb").readline().startswith(b"220")
    assert len(servers.gw.contents) == before


# --- the relay's DATA payload -----------------------------------------------------------------------------


def aiosmtplib_payload(message: bytes) -> bytes:
    """What aiosmtplib's SMTP.data writes after DATA (protocol.execute_data_command)."""
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"


def test_wire_data_matches_aiosmtplib():
    rnd = random.Random(3)
    tokens = [b"\r\n", b"\n", b"\r", b".", b"..", b"x", b"\r\n.", b"\n.", b"\r.", b"yz"]
    samples = [b"", b".", b"\r\n", b".\r\n", b"a", b"a\r\n.b", b"\n.\n", b"\r\r\n\n"]
    samples += [b"".join(rnd.choice(tokens) for _ in range(rnd.randrange(0, 30))) for _ in range(3000)]
    for m in samples:
        assert wire_data(m) == aiosmtplib_payload(m), m
    clean = b"Subject: s\r\n\r\n" + base64.encodebytes(os.urandom(100_000)).replace(b"\n", b"\r\n")
    assert wire_data(clean) == clean + b".\r\n"


# --- fast MIME helpers vs their references ----------------------------------------------------------------

_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def lenient_b64_reference(body: bytes) -> bytes:
    data = _JUNK.sub(b"", body.split(b"=", 1)[0])
    data = data[: len(data) - len(data) % 4] if len(data) % 4 == 1 else data
    data += b"=" * (-len(data) % 4)
    try:
        return base64.b64decode(data)
    except binascii.Error:
        return b""


def test_base64_decoding_matches_the_lenient_reference():
    rnd = random.Random(7)
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n -_.!\x00\xff"
    for _ in range(20000):
        junk = bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 20)))
        good = base64.encodebytes(os.urandom(rnd.randrange(0, 40)))
        for body in (junk, good + junk, junk + good, good.replace(b"\n", b"\r\n")):
            assert mime.decode_body(body, "base64") == lenient_b64_reference(body), body


def test_boundary_delimiters_match_the_regex():
    rnd = random.Random(11)
    for boundary in (b"b", b"b.b", b"=_x+"):
        rx = mime._boundary_regex(boundary)
        tokens = [b"--", b"\r\n", b"\n", b"\r", b" ", b"\t", b"x", b"-", boundary, b"--" + boundary,
                  b"\n--" + boundary, b"\r\n--" + boundary + b"--"]
        for _ in range(20000):
            raw = b"".join(rnd.choice(tokens) for _ in range(rnd.randrange(0, 14)))
            start = rnd.randrange(0, len(raw) + 1)
            end = rnd.randrange(start, len(raw) + 1)
            want = [(m.start(), m.end(), bool(m.group(1))) for m in rx.finditer(raw, start, end)]
            assert mime.delimiters(raw, boundary, start, end) == want, (raw, start, end)


def _part_for(body: bytes) -> tuple[bytes, mime.Part]:
    raw = b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body
    parsed = mime.parse(raw)
    return raw, parsed.root


def test_signed_pdf_keeps_the_senders_lines_for_the_unchanged_prefix():
    rnd = random.Random(13)
    for _ in range(400):
        original = os.urandom(rnd.randrange(1, 3000))
        width = rnd.choice((76, 64, 72, 60, 4, 77, 78))
        enc = base64.b64encode(original)
        nl = rnd.choice((b"\r\n", b"\r\n", b"\n"))
        body = nl.join(enc[i : i + width] for i in range(0, len(enc), width)) + rnd.choice((b"", nl))
        corrupt = rnd.random() < 0.4 and len(body) > 10
        if corrupt:  # junk, a line break or a stray "=" inserted or put in place of a character
            i = rnd.randrange(len(body))
            bad = rnd.choice((b" ", b"\r", b"\n", b"=", b"!", b"\r\n"))
            body = body[:i] + bad + body[i + rnd.choice((0, len(bad))) :]
        previous = mime.decode_body(body, "base64")  # what the door found and the pipeline signed
        content = previous + os.urandom(rnd.randrange(0, 500))  # an incremental update appends
        if rnd.random() < 0.2:
            content = os.urandom(3) + content  # not an extension: everything is encoded anew
        raw, part = _part_for(body)
        out = rebuilder.encoded_body(raw, part, content, previous)
        lines = out.split(b"\r\n")
        assert all(0 < len(line) <= 76 for line in lines)
        assert base64.b64decode(b"".join(lines), validate=True) == content, (width, nl, body)
        if width == 76 and nl == b"\r\n" and not corrupt and content.startswith(previous):
            # regular 76-column input: the same bytes as a full re-encoding
            assert out == rebuilder.base64_lines(content)
    # the sender's 64-column lines are kept for their bytes
    previous = os.urandom(48 * 50)
    enc = base64.b64encode(previous)
    body = b"\r\n".join(enc[i : i + 64] for i in range(0, len(enc), 64)) + b"\r\n"
    raw, part = _part_for(body)
    out = rebuilder.encoded_body(raw, part, previous + b"%%EOF\n", previous)
    assert out.startswith(body[: 48 * 66]) and base64.b64decode(out.replace(b"\r\n", b"")) == previous + b"%%EOF\n"
