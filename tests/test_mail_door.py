"""Issue 12 §2 "done when", over real sockets: stdlib smtplib -> the SMTP door (real Engine, dev token) -> a
real sink. For each way of packing a document: a clean one arrives signed (checked on what the sink received,
extracted by Python's email package AND by ripmime / munpack, then `pdfsig` / `openssl cms -verify` against
the dev PKI); a MẬT-marked one gets 550 and NOTHING reaches the sink; what cannot be read is refused.
"""

from __future__ import annotations

import base64
import binascii
import email.policy
import email.utils
import smtplib
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest
from container_support import make_mat_pdf, unzip_all, zip_tool
from mail_support import (HAVE_MUNPACK, HAVE_RIPMIME, email_files, is_pdf, munpack_files, recipients_pdfs,
                          ripmime_files)
from smtp_support import Gateway, loop  # noqa: F401 - loop is a fixture
from util import make_pdf, pdfsig

from gateway.engine import Engine

pytestmark = pytest.mark.hsm

SENDER, RCPT = "van.thu@so-a.gov.vn", "nhan@so-b.gov.vn"


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
def pdf(tmp_path_factory) -> bytes:
    return make_pdf(tmp_path_factory.mktemp("pdf") / "cv.pdf").read_bytes()


@pytest.fixture(scope="module")
def mat_pdf(tmp_path_factory) -> bytes:
    return make_mat_pdf(tmp_path_factory.mktemp("pdf") / "mat.pdf").read_bytes()


def base_message(subject: str = "Công văn gửi Sở", **headers) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = SENDER, RCPT, subject
    msg["Message-ID"] = email.utils.make_msgid(domain="so-a.gov.vn")
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    msg.set_content("Kính gửi Sở B,\nXin gửi tài liệu kèm theo.\n")
    return msg


def with_file(data: bytes, name: str = "cong-van.pdf", ctype=("application", "octet-stream"), **headers) -> bytes:
    msg = base_message(**headers)
    msg.add_attachment(data, maintype=ctype[0], subtype=ctype[1], filename=name)
    return msg.as_bytes(policy=email.policy.SMTP)


def send(port: int, raw: bytes) -> tuple[int, str]:
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as c:
        try:
            c.sendmail(SENDER, [RCPT], raw, mail_options=["BODY=8BITMIME"])
            return 250, ""
        except smtplib.SMTPDataError as exc:
            return exc.smtp_code, exc.smtp_error.decode("utf-8", "replace")


def relayed(gw) -> bytes:
    msgs = gw.sink.messages()
    assert len(msgs) == 1, msgs
    return msgs[0].read_bytes()


def assert_refused(gw, raw: bytes, code: str) -> str:
    status, text = send(gw.port, raw)
    assert status == 550 and code in text, (status, text)
    assert gw.sink.messages() == []  # NOTHING reached the next hop
    return text


def assert_pdfs_signed(out: bytes, original: bytes, nssdb: Path, tmp: Path, count: int = 1) -> None:
    """Every recipient (email, ripmime, munpack) extracts the same `count` PDFs, each the original plus a
    valid, trusted organisation signature."""
    found = recipients_pdfs(out)
    assert set(found) >= {"email"} and (not HAVE_RIPMIME or "ripmime" in found)
    for reader, pdfs in found.items():
        assert len(pdfs) == count and pdfs == found["email"], (reader, len(pdfs))
    for i, data in enumerate(found["email"]):
        assert data.startswith(original[: len(original) // 2]) or original in data, "not an update of the original"
        p = tmp / f"signed-{i}.pdf"
        p.write_bytes(data)
        sigs = pdfsig(p, nssdb)
        assert sigs and sigs[-1]["valid"] and sigs[-1]["trusted"], sigs


# --- plain attachments and the strictest classification ----------------------------------------------------


def test_clean_pdf_arrives_signed_for_every_recipient(gw, pdf, dev_nssdb, tmp_path):
    assert send(gw.port, with_file(pdf))[0] == 250
    assert_pdfs_signed(relayed(gw), pdf, dev_nssdb, tmp_path)


def test_mat_pdf_is_blocked(gw, mat_pdf):
    assert_refused(gw, with_file(mat_pdf), "SECRET_MARKED")


@pytest.mark.parametrize("headers", [
    {"subject": "[MẬT] Kế hoạch"},
    {"subject": "[MẬT] Kế hoạch", "X_Classification": "Thường"},  # the strictest signal wins
    {"X_Classification": "Tối mật"},
])
def test_classification_headers_block_with_and_without_documents(gw, pdf, headers):
    msg = base_message(**headers)
    raw = msg.as_bytes(policy=email.policy.SMTP.clone(utf8=True))  # raw UTF-8 headers (RFC 6532)
    assert b"M\xe1\xba\xacT" in raw or "mật".encode() in raw  # really raw, not RFC 2047
    assert_refused(gw, raw, "SECRET_MARKED")
    assert_refused(gw, with_file(pdf, **headers), "SECRET_MARKED")


def test_secret_marked_file_name_blocks(gw, pdf):
    assert_refused(gw, with_file(pdf, name="Kế hoạch TỐI MẬT.pdf"), "SECRET_MARKED")


def test_junk_before_pdf_header_is_a_pdf(gw, pdf, mat_pdf, dev_nssdb, tmp_path):
    junk = b"X" * 200 + b"\n"
    assert_refused(gw, with_file(junk + mat_pdf, name="bao-cao.dat"), "SECRET_MARKED")
    status, text = send(gw.port, with_file(junk + pdf, name="bao-cao.dat"))
    if status == 250:
        found = recipients_pdfs(relayed(gw))
        for reader, pdfs in found.items():  # signed as the PDF readers see it (the signer may repair it)
            assert len(pdfs) == 1 and pdfs == found["email"], reader
        (tmp_path / "j.pdf").write_bytes(recipients_pdfs(relayed(gw))["email"][0])
        sigs = pdfsig(tmp_path / "j.pdf", dev_nssdb)
        assert sigs and sigs[-1]["valid"], sigs
    else:  # refused with a reason: never relayed unsigned
        assert status == 550 and "[" in text and gw.sink.messages() == []


# --- archives inside mail (the containers lane's readers) --------------------------------------------------


def test_zip_of_pdfs_arrives_rebuilt_with_every_pdf_signed(gw, pdf, mat_pdf, dev_nssdb, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"cv-{i}.pdf").write_bytes(pdf)
    archive = zip_tool(tmp_path / "ho-so.zip", src, ["cv-0.pdf", "cv-1.pdf", "cv-2.pdf"])
    assert send(gw.port, with_file(archive.read_bytes(), "ho-so.zip", ("application", "zip")))[0] == 250
    out = relayed(gw)
    zips = [p for _, _, p in email_files(out) if p[:4] == b"PK\x03\x04"]
    assert len(zips) == 1
    if HAVE_RIPMIME:
        assert [p for p in ripmime_files(out) if p[:4] == b"PK\x03\x04"] == zips
    (tmp_path / "got.zip").write_bytes(zips[0])
    got = unzip_all(tmp_path / "got.zip", tmp_path / "unzipped")
    for i in range(3):
        sigs = pdfsig(got / f"cv-{i}.pdf", dev_nssdb)
        assert sigs and sigs[-1]["valid"] and sigs[-1]["trusted"], sigs
    (src / "mat.pdf").write_bytes(mat_pdf)
    secret = zip_tool(tmp_path / "mat.zip", src, ["cv-0.pdf", "mat.pdf"])
    gw.sink.clear() if hasattr(gw.sink, "clear") else [p.unlink() for p in gw.sink.messages()]
    assert_refused(gw, with_file(secret.read_bytes(), "ho-so.zip", ("application", "zip")), "SECRET_MARKED")


# --- uuencode -----------------------------------------------------------------------------------------------


def _uu(name: str, data: bytes) -> bytes:
    lines = [b"begin 644 " + name.encode()] + [binascii.b2a_uu(data[i:i + 45]).rstrip(b"\n")
                                              for i in range(0, len(data), 45)]
    return b"\r\n".join(lines + [b"`", b"end"]) + b"\r\n"


def uu_mail(data: bytes, name: str = "cong-van.pdf") -> bytes:
    return (b"From: " + SENDER.encode() + b"\r\nTo: " + RCPT.encode() + b"\r\nSubject: uu\r\n"
            b"Message-ID: <uu-" + name.encode() + b"@so-a.gov.vn>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nXin gui tai lieu:\r\n\r\n"
            + _uu(name, data) + b"\r\nTran trong\r\n")


def test_uuencoded_pdf_in_text_arrives_signed(gw, pdf, mat_pdf, dev_nssdb, tmp_path):
    assert_refused(gw, uu_mail(mat_pdf), "SECRET_MARKED")
    assert send(gw.port, uu_mail(pdf))[0] == 250
    out = relayed(gw)
    from gateway.inspect import mime

    text = [p for _, _, p in email_files(out)][0]
    assert b"Tran trong" in text
    (block,) = mime.uu_blocks(text)
    candidates = {"email+uudecode": block.content}
    if HAVE_RIPMIME:
        (candidates["ripmime"],) = [p for p in ripmime_files(out) if is_pdf(p)]
    for reader, data in candidates.items():
        assert data.startswith(pdf), reader
        (tmp_path / "u.pdf").write_bytes(data)
        sigs = pdfsig(tmp_path / "u.pdf", dev_nssdb)
        assert sigs and sigs[-1]["valid"] and sigs[-1]["trusted"], (reader, sigs)


def test_x_uuencode_transfer_encoding(gw, mat_pdf):
    msg = base_message()
    raw = msg.as_bytes(policy=email.policy.SMTP)
    boundary = b"UU-B"
    raw = (b"From: " + SENDER.encode() + b"\r\nTo: " + RCPT.encode() + b"\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--UU-B\r\nContent-Type: text/plain\r\n\r\n"
           b"hi\r\n--UU-B\r\nContent-Type: application/octet-stream; name=a.pdf\r\n"
           b"Content-Transfer-Encoding: x-uuencode\r\n\r\n" + _uu("a.pdf", mat_pdf) + b"--UU-B--\r\n")
    assert_refused(gw, raw, "SECRET_MARKED")


# --- message/* ----------------------------------------------------------------------------------------------


def _forward(inner: bytes, ctype: str = "message/rfc822", cte: str | None = None) -> bytes:
    body = inner if cte is None else base64.encodebytes(inner).replace(b"\n", b"\r\n")
    return (b"From: " + SENDER.encode() + b"\r\nTo: " + RCPT.encode() + b"\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n"
            b"Message-ID: <fwd-" + ctype.replace("/", "-").encode() + (cte or "").encode() + b"@so-a.gov.vn>\r\n"
            b"Content-Type: multipart/mixed; boundary=FWD\r\n\r\n--FWD\r\nContent-Type: text/plain\r\n\r\nFwd\r\n"
            b"--FWD\r\nContent-Type: " + ctype.encode() + b"\r\n"
            + (b"Content-Transfer-Encoding: " + cte.encode() + b"\r\n" if cte else b"") + b"\r\n" + body
            + b"\r\n--FWD--\r\n")


@pytest.mark.parametrize("ctype,cte", [("message/rfc822", None), ("message/global", None),
                                       ("message/rfc822", "base64")])
def test_forwarded_messages_are_read_and_signed_inside(gw, pdf, mat_pdf, dev_nssdb, tmp_path, ctype, cte):
    assert_refused(gw, _forward(with_file(mat_pdf), ctype, cte), "SECRET_MARKED")
    assert send(gw.port, _forward(with_file(pdf), ctype, cte))[0] == 250
    out = relayed(gw)
    found = [p for _, _, p in email_files(out) if is_pdf(p)]
    assert len(found) == 1 and found[0].startswith(pdf)
    (tmp_path / "f.pdf").write_bytes(found[0])
    sigs = pdfsig(tmp_path / "f.pdf", dev_nssdb)
    assert sigs and sigs[-1]["valid"] and sigs[-1]["trusted"], sigs


@pytest.mark.parametrize("sub", ['partial; id="x@y"; number=1; total=2',
                                 'external-body; access-type=URL; URL="http://example.invalid/a.pdf"'])
def test_messages_that_cannot_be_read_completely_are_refused(gw, sub):
    raw = _forward(b"Subject: part\r\n\r\nx\r\n", "message/" + sub)
    assert_refused(gw, raw, "MIME_INCOMPLETE_MESSAGE")


# --- S/MIME and PGP --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recipient_cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("smime")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=nhan",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")], check=True, capture_output=True)
    return d


def _openssl(args: list[str], data: bytes, d: Path) -> bytes:
    (d / "in.eml").write_bytes(data)
    subprocess.run(["openssl", "cms", *args, "-in", str(d / "in.eml"), "-out", str(d / "out.eml")],
                   check=True, capture_output=True)
    return (d / "out.eml").read_bytes()


def _with_envelope_headers(body: bytes) -> bytes:
    return (b"From: " + SENDER.encode() + b"\r\nTo: " + RCPT.encode() + b"\r\nSubject: enc\r\n"
            + body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


def test_smime_encrypted_is_refused(gw, pdf, recipient_cert, tmp_path):
    d = recipient_cert
    enc = _openssl(["-encrypt", "-aes256", "-recip", str(d / "cert.pem")], with_file(pdf), tmp_path)
    assert_refused(gw, _with_envelope_headers(enc), "MAIL_ENCRYPTED")


def test_pgp_encrypted_is_refused(gw):
    pgp_mime = (b"From: " + SENDER.encode() + b"\r\nTo: " + RCPT.encode() + b"\r\nSubject: pgp\r\nMIME-Version: 1.0\r\n"
                b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary=P\r\n\r\n'
                b"--P\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n--P\r\n"
                b"Content-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA0\r\n"
                b"-----END PGP MESSAGE-----\r\n--P--\r\n")
    assert_refused(gw, pgp_mime, "MAIL_ENCRYPTED")
    inline = (b"From: " + SENDER.encode() + b"\r\nTo: " + RCPT.encode() + b"\r\nSubject: pgp\r\n\r\n"
              b"-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA0\r\n-----END PGP MESSAGE-----\r\n")
    assert_refused(gw, inline, "MAIL_ENCRYPTED")


def test_sender_signed_mail_with_a_pdf_is_refused_and_without_one_passes_unchanged(gw, pdf, recipient_cert,
                                                                                   tmp_path):
    d = recipient_cert
    args = ["-sign", "-signer", str(d / "cert.pem"), "-inkey", str(d / "key.pem")]
    signed = _openssl(args, with_file(pdf), tmp_path)
    assert_refused(gw, _with_envelope_headers(signed), "MAIL_SENDER_SIGNED")
    plain = base_message().as_bytes(policy=email.policy.SMTP)
    signed_text = _with_envelope_headers(_openssl(args, plain, tmp_path))
    assert send(gw.port, signed_text)[0] == 250
    from gateway.inspect import mime

    assert relayed(gw) == mime.normalise(signed_text)  # byte for byte: the sender's signature still verifies


# --- MIME split games --------------------------------------------------------------------------------------


def _split_game(mat_pdf: bytes) -> dict[str, bytes]:
    b64 = base64.encodebytes(mat_pdf).replace(b"\n", b"\r\n")
    head = (b"From: " + SENDER.encode() + b"\r\nTo: " + RCPT.encode() + b"\r\nSubject: x\r\nMIME-Version: 1.0\r\n")
    pdf_part = b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64
    return {
        "two Content-Type": head + b"Content-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
                            b"--B\r\n" + pdf_part + b"--B--\r\n",
        "bare LF vs CRLF boundary": (head + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
                                     b"Content-Type: text/plain\r\n\r\nhi\n--B\r\n" + pdf_part + b"--B--\r\n"),
        "prefix boundary": head + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: '
                           b"text/plain\r\n\r\nhi\r\n--Bx\r\n" + pdf_part + b"--B--\r\n",
        "missing blank line": head + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
                              b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n" + b64 + b"--B--\r\n",
        "unknown encoding": head + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
                            b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: x-binhex\r\n\r\n" + b64 + b"--B--\r\n",
    }


@pytest.mark.parametrize("case", ["two Content-Type", "bare LF vs CRLF boundary", "prefix boundary",
                                  "missing blank line", "unknown encoding"])
def test_mime_split_games_are_refused_or_read_as_the_next_hop_reads_them(gw, mat_pdf, case):
    raw = _split_game(mat_pdf)[case]
    status, text = send(gw.port, raw)
    assert status == 550 and gw.sink.messages() == [], (case, status, text)
    assert any(code in text for code in ("MIME_AMBIGUOUS", "MIME_UNKNOWN_ENCODING", "SECRET_MARKED")), text


# --- 7z and TNEF inside mail (the containers lane's readers and rebuilders) ------------------------------


def test_7z_of_pdfs_arrives_rebuilt_and_7z_reads_it(gw, pdf, mat_pdf, dev_nssdb, tmp_path):
    from container_support import seven_unzip, seven_zip

    src = tmp_path / "src"
    src.mkdir()
    (src / "cv.pdf").write_bytes(pdf)
    archive = seven_zip(tmp_path / "ho-so.7z", src, ["cv.pdf"])
    assert send(gw.port, with_file(archive.read_bytes(), "ho-so.7z", ("application", "x-7z-compressed")))[0] == 250
    out = relayed(gw)
    (got,) = [p for _, _, p in email_files(out) if p[:6] == b"7z\xbc\xaf\x27\x1c"]
    if HAVE_RIPMIME:
        assert got in ripmime_files(out)
    (tmp_path / "got.7z").write_bytes(got)
    x = seven_unzip(tmp_path / "got.7z", tmp_path / "x")
    sigs = pdfsig(x / "cv.pdf", dev_nssdb)
    assert sigs and sigs[-1]["valid"] and sigs[-1]["trusted"], sigs
    (src / "mat.pdf").write_bytes(mat_pdf)
    secret = seven_zip(tmp_path / "mat.7z", src, ["cv.pdf", "mat.pdf"])
    [p.unlink() for p in gw.sink.messages()]
    assert_refused(gw, with_file(secret.read_bytes(), "ho-so.7z", ("application", "x-7z-compressed")),
                   "SECRET_MARKED")


def test_tnef_winmail_dat_arrives_rebuilt_and_tnef_reads_it(gw, pdf, mat_pdf, dev_nssdb, tmp_path):
    from gateway.signing import container_tnef as tnef_writer

    dat = tnef_writer.message("Báo cáo", "Nội dung", [("bao-cao.pdf", pdf)])
    assert send(gw.port, with_file(dat, "winmail.dat", ("application", "ms-tnef")))[0] == 250
    out = relayed(gw)
    (got,) = [p for _, _, p in email_files(out) if p[:4] == b"\x78\x9f\x3e\x22"]
    if HAVE_RIPMIME:
        assert got in ripmime_files(out)
    (tmp_path / "winmail.dat").write_bytes(got)
    x = tmp_path / "x"
    x.mkdir()
    subprocess.run(["tnef", "-C", str(x), str(tmp_path / "winmail.dat")], check=True)
    sigs = pdfsig(x / "bao-cao.pdf", dev_nssdb)
    assert sigs and sigs[-1]["valid"] and sigs[-1]["trusted"], sigs
    [p.unlink() for p in gw.sink.messages()]
    secret = tnef_writer.message("Thư", "", [("mat.pdf", mat_pdf)])
    assert_refused(gw, with_file(secret, "winmail.dat", ("application", "ms-tnef")), "SECRET_MARKED")
    subject = tnef_writer.message("TỐI MẬT", "", [("a.pdf", pdf)])
    assert_refused(gw, with_file(subject, "winmail.dat", ("application", "ms-tnef")), "SECRET_MARKED")


def test_office_documents_are_read_then_signed_with_a_p7s_or_blocked(gw, dev_settings, tmp_path):
    """Word files are read by the office lane's reader (gateway/inspect/office.py): a clean .docx arrives with
    a detached CAdES .p7s beside it that `openssl cms -verify` accepts over the file as Python's email package
    extracts it (and ripmime); a TỐI MẬT one never leaves."""
    import docx

    from container_support import cms_verify

    def make(lines: list[str]) -> bytes:
        d = docx.Document()
        for line in lines:
            d.add_paragraph(line)
        path = tmp_path / "f.docx"
        d.save(path)
        return path.read_bytes()

    ctype = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
    assert_refused(gw, with_file(make(["TỐI MẬT", "Kế hoạch"]), "ke-hoach.docx", ctype), "SECRET_MARKED")
    clean = make(["Báo cáo tình hình", "Nội dung"])
    status, text = send(gw.port, with_file(clean, "bao-cao.docx", ctype))
    assert status == 250, text
    out = relayed(gw)
    files = {name: data for name, _, data in email_files(out) if name}
    assert files["bao-cao.docx"] == clean
    (tmp_path / "bao-cao.docx").write_bytes(files["bao-cao.docx"])
    (tmp_path / "bao-cao.docx.p7s").write_bytes(files["bao-cao.docx.p7s"])
    cms_verify(tmp_path / "bao-cao.docx.p7s", tmp_path / "bao-cao.docx", dev_settings)
    if HAVE_RIPMIME:
        got = ripmime_files(out)
        assert clean in got and files["bao-cao.docx.p7s"] in got


def test_each_part_may_declare_its_own_kind(gw, pdf):
    """X-Kyso-Kind on the message applies to every document; a part's own header overrides it (a document
    management system can declare each attachment); an invalid value refuses the message with its reason."""
    issued = with_file(pdf, X_Kyso_Kind="issued")  # an issued document needs the competent person's signature
    assert_refused(gw, issued, "ISSUED_NEEDS_PERSONAL_SIGNATURE")
    msg = base_message(X_Kyso_Kind="issued")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="phu-luc.pdf")
    part = list(msg.iter_attachments())[0]
    part["X-Kyso-Kind"] = "phụ lục"  # this attachment is an appendix: the organisation signs it
    assert send(gw.port, msg.as_bytes(policy=email.policy.SMTP))[0] == 250
    [p.unlink() for p in gw.sink.messages()]
    assert_refused(gw, with_file(pdf, X_Kyso_Kind="thư mời họp"), "KIND_DECLARATION_INVALID")
