"""Replies aiosmtpd writes itself reach the client bilingual, with an enhanced status code and a reason code.

Over a real socket (stdlib smtplib -> door). The 3-digit codes are aiosmtpd's and must not change (Postfix
and other clients act on them); only the text does. Each check looks for the enhanced code, the reason code
and the Vietnamese text, none of which aiosmtpd's English lines carry.
"""

from __future__ import annotations

import smtplib
import ssl
import subprocess

import pytest
from smtp_support import Gateway, loop  # noqa: F401 - loop is a fixture

from gateway.engine import Engine
from gateway.smtp.server import hash_password

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module")
def engine(dev_settings):
    with Engine(dev_settings, workers=1) as eng:
        yield eng


@pytest.fixture(scope="module")
def gw(loop, dev_settings, engine, tmp_path_factory):
    g = Gateway(loop, dev_settings, engine, tmp_path_factory.mktemp("sink"), max_message_bytes=4096)
    yield g
    g.close()


def client(port: int) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", port, timeout=60)


def check(answer: tuple[int, bytes], code: int, status: str, reason: str, vi: str) -> None:
    got, text = answer
    assert got == code, answer
    assert text.startswith(status.encode() + b" "), answer
    assert f"[{reason}]".encode() in text, answer
    assert vi.encode() in text and b" / " in text, answer  # Vietnamese first, then English
    assert text.isascii(), answer  # no SMTPUTF8: Vietnamese without diacritics


def test_size_over_the_limit_at_mail_is_552_5_3_4(gw):
    with client(gw.port) as c:
        c.ehlo()
        check(c.mail("a@b.c", ["SIZE=4097"]), 552, "5.3.4", "MESSAGE_TOO_LARGE", "Thu vuot qua kich thuoc")
        assert b"4 KB" in c.mail("a@b.c", ["SIZE=99999"])[1]  # the limit is named, for people (issue 16)
        assert c.mail("a@b.c", ["SIZE=4096"])[0] == 250  # the state is aiosmtpd's: no transaction was open


def test_size_with_smtputf8_keeps_diacritics(gw):
    with client(gw.port) as c:
        c.ehlo()
        code, text = c.mail("a@b.c", ["SMTPUTF8", "SIZE=5000"])
        assert code == 552 and text.startswith(b"5.3.4 ")
        assert "Thư vượt quá kích thước".encode() in text


def test_data_over_the_limit_is_bilingual(gw):
    with client(gw.port) as c:
        c.ehlo()
        assert c.mail("a@b.c")[0] == 250 and c.rcpt("d@e.f")[0] == 250
        answer = c.data(b"Subject: big\r\n\r\n" + (b"y" * 70 + b"\r\n") * 100)
        check(answer, 552, "5.3.4", "MESSAGE_TOO_LARGE", "Thu vuot qua kich thuoc")


def test_bad_sequence_is_503_5_5_1(gw):
    with client(gw.port) as c:
        check(c.docmd("MAIL", "FROM:<a@b.c>"), 503, "5.5.1", "SMTP_BAD_SEQUENCE", "Sai thu tu lenh")  # no EHLO
        c.ehlo()
        answer = c.rcpt("d@e.f")
        check(answer, 503, "5.5.1", "SMTP_BAD_SEQUENCE", "can gui lenh MAIL truoc")
        assert c.mail("a@b.c")[0] == 250
        check(c.docmd("DATA"), 503, "5.5.1", "SMTP_BAD_SEQUENCE", "can gui lenh RCPT truoc")
        check(c.mail("x@y.z"), 503, "5.5.1", "SMTP_NESTED_MAIL", "gui RSET")
        assert c.rset()[0] == 250 and c.mail("x@y.z")[0] == 250  # the session goes on as before


def test_syntax_errors_are_501_5_5_4_and_500_5_5_2(gw):
    with client(gw.port) as c:
        c.ehlo()
        answer = c.docmd("MAIL", "FROM:")
        check(answer, 501, "5.5.4", "SMTP_SYNTAX", "Sai cu phap lenh")
        assert b"MAIL FROM: <address>" in answer[1]  # the usage is still shown
        check(c.docmd("MAIL", "FROM:<a@b.c> BODY=9BIT"), 501, "5.5.4", "SMTP_BAD_PARAMETER", "Tham so BODY")
        check(c.docmd("MAIL", "FROM:<a@b.c> RET=ALL"), 501, "5.5.4", "SMTP_BAD_PARAMETER", "Tham so RET")
        check(c.docmd("MAIL", "FROM:<a@b.c> XFOO=1"), 555, "5.5.4", "SMTP_UNKNOWN_PARAMETER", "khong duoc ho tro")
        check(c.docmd("MAIL", "FROM:<a@@b>"), 553, "5.1.3", "SMTP_BAD_ADDRESS", "Dia chi thu khong hop le")
        answer = c.docmd("XYZZY")
        check(answer, 500, "5.5.2", "SMTP_BAD_COMMAND", "Lenh khong hop le")
        assert b"XYZZY" not in answer[1]  # the client's text is not echoed
        assert c.mail("a@b.c")[0] == 250
        check(c.docmd("RCPT", "TO:"), 501, "5.5.4", "SMTP_SYNTAX", "Sai cu phap lenh")


@pytest.fixture(scope="module")
def auth_gw(loop, dev_settings, engine, tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True, capture_output=True,
    )
    users = [{"name": "vanthu", "password_hash": hash_password("mat-khau-dung")}]
    g = Gateway(loop, dev_settings, engine, d / "sink", require_auth=True, tls_cert=d / "cert.pem",
                tls_key=d / "key.pem", auth_users=users)
    ctx = ssl.create_default_context(cafile=str(d / "cert.pem"))
    ctx.check_hostname = False
    yield g, ctx
    g.close()


def test_auth_required_and_auth_errors(auth_gw):
    g, ctx = auth_gw
    with client(g.port) as c:
        c.ehlo()
        check(c.mail("a@b.c"), 530, "5.7.0", "AUTH_REQUIRED", "Can xac thuc")
        check(c.docmd("AUTH", "PLAIN"), 538, "5.7.11", "SMTP_TLS_REQUIRED", "gui STARTTLS")
        c.starttls(context=ctx)
        c.ehlo()
        check(c.mail("a@b.c"), 530, "5.7.0", "AUTH_REQUIRED", "Can xac thuc")
        check(c.docmd("AUTH", "CRAM-MD5"), 504, "5.5.4", "SMTP_AUTH_MECHANISM", "Co che xac thuc")
        with pytest.raises(smtplib.SMTPAuthenticationError) as ei:
            c.login("vanthu", "sai")
        check((ei.value.smtp_code, ei.value.smtp_error), 535, "5.7.8", "AUTH_FAILED", "Xac thuc that bai")
        c.login("vanthu", "mat-khau-dung")
        check(c.docmd("AUTH", "PLAIN"), 503, "5.5.1", "SMTP_ALREADY_AUTHENTICATED", "da xac thuc")
        assert c.mail("a@b.c")[0] == 250
