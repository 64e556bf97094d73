"""The SMTP door end to end on loopback: stdlib smtplib -> door (real Engine, dev token) -> real sink."""

from __future__ import annotations

import base64
import email.utils
import json
import smtplib
import ssl
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest
from mail_support import gateway_documents, logo_png, recipients_pdfs
from smtp_support import Gateway, loop, parse_eml  # noqa: F401 - loop is a fixture
from util import make_pdf, pdfsig

from gateway.engine import Engine
from gateway.inspect import mime
from gateway.smtp.server import hash_password

pytestmark = pytest.mark.hsm

VI_NAME = "Công văn số 123-UBND.pdf"


@pytest.fixture(scope="module")
def engine(dev_settings):
    with Engine(dev_settings, workers=1) as eng:
        yield eng


@pytest.fixture()
def gw(loop, dev_settings, engine, tmp_path):
    g = Gateway(loop, dev_settings, engine, tmp_path / "sink")
    yield g
    g.close()


@pytest.fixture(scope="module")
def plain_pdf(tmp_path_factory) -> bytes:
    return make_pdf(tmp_path_factory.mktemp("pdf") / "cv.pdf").read_bytes()


@pytest.fixture(scope="module")
def secret_pdf(tmp_path_factory) -> bytes:
    lines = ["ỦY BAN NHÂN DÂN TỈNH THỬ NGHIỆM", "Số: 7/UBND-VP", "MẬT", "V/v thử nghiệm"]
    return make_pdf(tmp_path_factory.mktemp("pdf") / "secret.pdf", lines=lines).read_bytes()


def mail_with(pdf: bytes | None, *, subject="Công văn gửi Sở", filename=VI_NAME, extra_headers=None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "van.thu@so-a.gov.vn"
    msg["To"] = "nhan@so-b.gov.vn"
    msg["Subject"] = subject
    msg["Message-ID"] = email.utils.make_msgid(domain="so-a.gov.vn")
    for k, v in (extra_headers or {}).items():
        msg[k] = v
    msg.set_content("Kính gửi Sở B,\nXin gửi công văn kèm theo.\n")
    msg.add_attachment(logo_png(), maintype="image", subtype="png", filename="logo.png")
    if pdf is not None:
        # a PDF labelled as octet-stream: found by content, not by type or name
        msg.add_attachment(pdf, maintype="application", subtype="octet-stream", filename=filename)
    return msg.as_bytes(policy=email.policy.SMTP)


def send(port: int, raw: bytes, rcpts=("nhan@so-b.gov.vn",), sender="van.thu@so-a.gov.vn", **kw):
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as c:
        return c.sendmail(sender, list(rcpts), raw, **kw)


def only_message(gw) -> Path:
    msgs = gw.sink.messages()
    assert len(msgs) == 1, msgs
    return msgs[0]


def test_pdf_is_signed_in_place_and_everything_else_kept(gw, engine, plain_pdf, dev_nssdb, tmp_path):
    raw = mail_with(plain_pdf)
    assert send(gw.port, raw) == {}
    out = only_message(gw).read_bytes()

    before, after = mime.parse(raw), mime.parse(out)
    docs = gateway_documents(after)
    assert len(docs) == 1 and docs[0].name == VI_NAME  # RFC 2231 name kept and still decodes
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(docs[0].content)
    sigs = pdfsig(signed, dev_nssdb)
    assert sigs and sigs[-1]["valid"] and sigs[-1]["trusted"], sigs
    assert docs[0].content.startswith(plain_pdf)  # incremental update of the original
    # base64 in 76-column lines
    body = out[docs[0].part.body_start : docs[0].part.end]
    assert max(len(line) for line in body.split(b"\r\n")) == 76
    # every other leaf byte for byte, and the document's own header block unchanged; the picture attached as
    # a file is a document too (read by OCR): it gets a detached .p7s right after it (smtp: non_pdf = cades)
    old_doc = gateway_documents(before)[0].part.path
    kept = [(h, b) for _, h, b in mime.leaf_spans(after) if b"pkcs7-signature" not in h]
    added = [h for _, h, b in mime.leaf_spans(after) if b"pkcs7-signature" in h]
    assert len(added) == 1 and b'filename="logo.png.p7s"' in added[0]
    for (p1, h1, b1), (h2, b2) in zip(mime.leaf_spans(before), kept, strict=True):
        assert h1 == h2
        if p1 != old_doc:
            assert b1 == b2
    # what a recipient extracts (Python's email, ripmime, munpack): the same signed PDF
    for reader, pdfs in recipients_pdfs(out).items():
        assert pdfs == [docs[0].content], reader
    # the picture's .p7s verifies over the picture, both as Python's email package extracts them
    from container_support import cms_verify
    from mail_support import email_files

    files = {name: data for name, _, data in email_files(out) if name}
    (tmp_path / "logo.png").write_bytes(files["logo.png"])
    (tmp_path / "logo.png.p7s").write_bytes(files["logo.png.p7s"])
    cms_verify(tmp_path / "logo.png.p7s", tmp_path / "logo.png", engine.settings)
    # top-level headers unchanged
    assert out[: before.root.body_start] == raw[: before.root.body_start]
    # one decision for the document, one event for the message (counts, never content)
    msg_id = before.header("Message-ID")
    import time

    deadline = time.monotonic() + 10  # the next hop's answer is recorded just after the sender has the reply
    while True:
        events = [r for r in engine.audit.query(channel="smtp", kind="event") if r.data.get("message_id") == msg_id]
        if events or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [e.event for e in events] == ["smtp.relayed"]
    assert events[0].data["documents"] == 2 and events[0].data["signed"] == 2 and events[0].data["upstream"] == 250
    assert "content" not in events[0].data


def test_secret_marked_pdf_is_blocked_and_nothing_relayed(gw, engine, secret_pdf):
    with pytest.raises(smtplib.SMTPDataError) as ei:
        send(gw.port, mail_with(secret_pdf))
    assert ei.value.smtp_code == 550
    text = ei.value.smtp_error.decode()
    assert "5.7.1" in text and "SECRET_MARKED" in text and "Tai lieu mang dau chi do mat" in text
    assert text.isascii()
    assert gw.sink.messages() == []
    blocked = [r for r in engine.audit.query(channel="smtp", kind="event") if r.event == "smtp.blocked"]
    assert blocked and blocked[-1].alert


def test_sender_signed_message_with_unsigned_pdf_is_refused_not_blocked(gw, dev_settings, plain_pdf):
    """Signing the PDF would break the sender's own S/MIME signature: refused, and not called a secret."""
    from gateway.signing import OrgSigner

    inner = EmailMessage()
    inner.set_content("Kính gửi Sở B")
    inner.add_attachment(plain_pdf, maintype="application", subtype="pdf", filename="cv.pdf")
    body = inner.as_bytes(policy=email.policy.SMTP)
    with OrgSigner(dev_settings) as signer:  # stands in for the sender's own S/MIME signature
        signed = signer.sign_smime(b"From: van.thu@so-a.gov.vn\r\nTo: nhan@so-b.gov.vn\r\nSubject: x\r\n" + body)
    with pytest.raises(smtplib.SMTPDataError) as ei:
        send(gw.port, signed)
    text = ei.value.smtp_error.decode()
    assert ei.value.smtp_code == 550 and "MAIL_SENDER_SIGNED" in text
    assert "Message refused" in text and "blocked" not in text
    assert gw.sink.messages() == []


def test_declared_secret_subject_without_document_is_blocked(gw):
    with pytest.raises(smtplib.SMTPDataError) as ei:
        send(gw.port, mail_with(None, subject="[MẬT] Kế hoạch"))
    assert ei.value.smtp_code == 550 and b"SECRET_MARKED" in ei.value.smtp_error
    assert gw.sink.messages() == []


def test_declared_classification_header_reaches_the_pipeline(gw, plain_pdf):
    with pytest.raises(smtplib.SMTPDataError) as ei:
        send(gw.port, mail_with(plain_pdf, extra_headers={"X-Classification": "Tối mật"}))
    assert ei.value.smtp_code == 550 and b"SECRET_MARKED" in ei.value.smtp_error
    assert gw.sink.messages() == []


def test_smtputf8_client_gets_vietnamese_with_diacritics(gw, secret_pdf):
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as c:
        c.ehlo()
        assert c.has_extn("smtputf8")
        with pytest.raises(smtplib.SMTPDataError) as ei:
            c.sendmail("văn.thư@sở-a.gov.vn", ["nhan@so-b.gov.vn"], mail_with(secret_pdf), mail_options=["SMTPUTF8"])
    assert "Tài liệu mang dấu chỉ độ mật" in ei.value.smtp_error.decode("utf-8")


def test_recipient_refused_upstream_is_refused_here(loop, dev_settings, engine, tmp_path, plain_pdf):
    refuse = lambda addr: "550 5.1.1 no such user" if addr.startswith("ghost") else None  # noqa: E731
    g = Gateway(loop, dev_settings, engine, tmp_path / "sink", refuse=refuse)
    try:
        refused = send(g.port, mail_with(plain_pdf), rcpts=["nhan@so-b.gov.vn", "ghost@so-b.gov.vn"])
        assert refused == {"ghost@so-b.gov.vn": (550, b"5.1.1 no such user")}
        meta = json.loads(only_message(g).with_suffix(".json").read_text())
        assert meta["recipients"] == ["nhan@so-b.gov.vn"]
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            send(g.port, mail_with(plain_pdf), rcpts=["ghost@so-b.gov.vn"])
        assert len(g.sink.messages()) == 1
    finally:
        g.close()


def test_dsn_parameters_are_accepted_and_forwarded_case_kept(gw):
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as c:
        c.ehlo()
        assert c.has_extn("dsn")
        code, _ = c.mail("van.thu@so-a.gov.vn", ["RET=HDRS", "ENVID=Qx+2Bid42", "BODY=8BITMIME"])
        assert code == 250
        code, _ = c.rcpt("nhan@so-b.gov.vn", ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Nhan@So-B.gov.vn"])
        assert code == 250
        code, _ = c.data(mail_with(None))
        assert code == 250
        code, msg = c.docmd("MAIL FROM:<a@b.c> RET=SOMETIMES")
        assert code == 501
    meta = json.loads(only_message(gw).with_suffix(".json").read_text())
    assert meta["dsn"]["mail"] == {"RET": "HDRS", "ENVID": "Qx+2Bid42"}
    assert meta["dsn"]["rcpt"]["nhan@so-b.gov.vn"] == {"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;Nhan@So-B.gov.vn"}


def test_null_sender_bounce_is_relayed(gw):
    """A bounce / DSN (MAIL FROM:<>) must be accepted and relayed with the null reverse-path (RFC 5321 4.5.5)."""
    with smtplib.SMTP("127.0.0.1", gw.port, timeout=60) as c:
        c.ehlo()
        assert c.docmd("MAIL FROM:<>")[0] == 250
        assert c.rcpt("nhan@so-b.gov.vn")[0] == 250
        assert c.data(mail_with(None))[0] == 250
    assert json.loads(only_message(gw).with_suffix(".json").read_text())["sender"] == "<>"


def test_long_lines_and_8bit_pass_unchanged(gw):
    long_line = b"x" * 5000
    raw = (b"From: a@b.c\r\nTo: d@e.f\r\nSubject: long\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n" + long_line + b"\r\n" + "Tiếng Việt\r\n".encode() + b".dot\r\n")
    assert send(gw.port, raw, mail_options=["BODY=8BITMIME"]) == {}
    assert only_message(gw).read_bytes() == raw


def test_size_is_advertised_and_enforced(loop, dev_settings, engine, tmp_path):
    g = Gateway(loop, dev_settings, engine, tmp_path / "sink", max_message_bytes=4096)
    try:
        with smtplib.SMTP("127.0.0.1", g.port, timeout=60) as c:
            c.ehlo()
            assert c.esmtp_features["size"] == "4096"
            code, _ = c.mail("a@b.c", ["SIZE=4097"])
            assert code == 552
        with smtplib.SMTP("127.0.0.1", g.port, timeout=60) as c:  # a client that does not declare SIZE
            c.ehlo()
            assert c.mail("a@b.c")[0] == 250 and c.rcpt("d@e.f")[0] == 250
            code, msg = c.data(b"Subject: big\r\n\r\n" + (b"y" * 70 + b"\r\n") * 100)
            assert code == 552 and msg.startswith(b"5.3.4")
            assert g.sink.messages() == []
            # the transaction is over, upstream too: the next one on the same connection goes through
            assert c.mail("a@b.c")[0] == 250 and c.rcpt("d@e.f")[0] == 250
            assert c.data(b"Subject: small\r\n\r\nhi\r\n")[0] == 250
        assert len(g.sink.messages()) == 1
    finally:
        g.close()


def test_relay_denied_outside_allowed_networks(loop, dev_settings, engine, tmp_path):
    g = Gateway(loop, dev_settings, engine, tmp_path / "sink", allowed_networks=["10.0.0.0/8"])
    try:
        with smtplib.SMTP("127.0.0.1", g.port, timeout=60) as c:
            c.ehlo()
            code, msg = c.mail("a@b.c")
            assert code == 550 and b"RELAY_DENIED" in msg
            code, _ = c.rcpt("d@e.f")
            assert code == 503  # no transaction was opened
    finally:
        g.close()


def test_upstream_down_is_451_at_mail(loop, dev_settings, engine, tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    g = Gateway(loop, dev_settings, engine, tmp_path / "sink", upstream_port=dead)
    try:
        with smtplib.SMTP("127.0.0.1", g.port, timeout=60) as c:
            c.ehlo()
            code, msg = c.mail("a@b.c")
            assert code == 451 and msg.startswith(b"4.4.1") and b"UPSTREAM_UNAVAILABLE" in msg
            assert b"127.0.0.1" not in msg and b"Error" not in msg  # nothing internal leaks
    finally:
        g.close()


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")],
        check=True, capture_output=True,
    )
    return d / "cert.pem", d / "key.pem"


def test_auth_over_starttls(loop, dev_settings, engine, tmp_path, self_signed):
    cert, key = self_signed
    users = [{"name": "vanthu", "password_hash": hash_password("mat-khau-dung")}]
    g = Gateway(loop, dev_settings, engine, tmp_path / "sink", require_auth=True, tls_cert=cert, tls_key=key,
                auth_users=users)
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    try:
        with smtplib.SMTP("127.0.0.1", g.port, timeout=60) as c:
            c.ehlo()
            assert c.has_extn("starttls") and not c.has_extn("auth")  # never AUTH in clear text
            code, _ = c.mail("a@b.c")
            assert code == 530
            c.starttls(context=ctx)
            c.ehlo()
            assert "PLAIN" in c.esmtp_features["auth"]
            with pytest.raises(smtplib.SMTPAuthenticationError):
                c.login("vanthu", "sai")
        with smtplib.SMTP("127.0.0.1", g.port, timeout=60) as c:
            c.starttls(context=ctx)
            c.login("vanthu", "mat-khau-dung")
            assert c.sendmail("a@b.c", ["d@e.f"], mail_with(None)) == {}
        assert len(g.sink.messages()) == 1
    finally:
        g.close()


def test_smime_whole_message_verifies_with_openssl(loop, dev_settings, tmp_path, plain_pdf):
    """settings.smtp.smime_sign = true: the policy option smime = "sign" for the smtp channel (decided and
    recorded by the pipeline, applied after the documents are signed)."""
    from smtp_support import smtp_settings

    settings = smtp_settings(dev_settings, smime_sign=True)
    with Engine(settings, workers=1) as engine:
        _smime_case(loop, settings, engine, tmp_path, plain_pdf, dev_settings)


def _smime_case(loop, settings, engine, tmp_path, plain_pdf, dev_settings):
    g = Gateway(loop, settings, engine, tmp_path / "sink")
    try:
        raw = mail_with(plain_pdf).replace(b"Xin g", "Xin gửi 8-bit ".encode() + b"g", 1)
        assert send(g.port, raw) == {}
        out = only_message(g)
        assert max(len(line) for line in out.read_bytes().split(b"\r\n")) <= 998
        assert out.read_bytes().isascii() or b"8bit" not in out.read_bytes().lower()
        verify_smime(out, dev_settings.paths.pki, tmp_path / "content")
        msg = parse_eml(out)
        assert msg.get_content_type() == "multipart/signed" and msg["Subject"] == "Công văn gửi Sở"
        inner = mime.parse((tmp_path / "content").read_bytes())
        docs = gateway_documents(inner)
        assert len(docs) == 1 and docs[0].content.startswith(plain_pdf) and len(docs[0].content) > len(plain_pdf)
    finally:
        g.close()


def verify_smime(eml: Path, pki: Path, content_out: Path) -> None:
    """Independent S/MIME checks with openssl, against the dev root.

    1. `openssl cms -verify` on the S/MIME message as stored.
    2. `openssl cms -verify -binary` over the exact first-part bytes (RFC 2046 split) with the detached DER
       signature. (OpenSSL 3.0's S/MIME reader in -binary mode keeps a stray CR of the CRLF that belongs to the
       boundary, so `-binary -in message.eml` fails for any CRLF message; verifying the exact bytes avoids it.)
    """
    import re

    args = ["-CAfile", str(pki / "root.pem"), "-certfile", str(pki / "ca.pem"), "-purpose", "any"]
    res = subprocess.run(["openssl", "cms", "-verify", "-in", str(eml), *args, "-out", str(content_out)],
                         capture_output=True, text=True)
    assert res.returncode == 0 and "Verification successful" in res.stderr, res.stderr
    raw = eml.read_bytes()
    boundary = re.search(rb'boundary="([^"]+)"', raw).group(1)
    pieces = raw.split(b"\r\n--" + boundary)
    first = pieces[1].split(b"\r\n", 1)[1]
    sig_b64 = pieces[2].split(b"\r\n\r\n", 1)[1]
    (eml.parent / "part.bin").write_bytes(first)
    (eml.parent / "sig.der").write_bytes(base64.b64decode(sig_b64))
    res = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(eml.parent / "sig.der"),
                          "-content", str(eml.parent / "part.bin"), *args, "-out", "/dev/null"],
                         capture_output=True, text=True)
    assert res.returncode == 0 and "Verification successful" in res.stderr, res.stderr
