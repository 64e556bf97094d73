"""MIME indexing/splicing on raw bytes and the reply mapping (no network, no token)."""

from __future__ import annotations

import asyncio
import base64
import io
import zipfile

import pytest

from gateway.errors import LimitExceeded, SignerUnavailable, UpstreamUnavailable
from gateway.inspect import mime
from gateway.signing import message as rebuilder
from mail_support import gateway_documents
from gateway.smtp import replies
from gateway.smtp.server import GatewaySMTP, RelayHandler
from gateway.signing.message import seven_bit

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        # fixed timestamps: the bytes must be the same on every call
        zf.writestr(zipfile.ZipInfo("[Content_Types].xml", (2025, 1, 1, 0, 0, 0)), "<Types/>")
        zf.writestr(zipfile.ZipInfo("word/document.xml", (2025, 1, 1, 0, 0, 0)), "<w:document/>")
    return buf.getvalue()


NESTED = (
    b"From: a@b.c\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"OUT\"\r\n\r\n"
    b"preamble\r\n--OUT\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    + "Xin chào\r\n".encode() +
    b"--OUT\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename*=utf-8''C%C3%B4ng%20v%C4%83n.pdf\r\n\r\n" + b64(PDF) +
    b"--OUT\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: inner\r\nContent-Type: multipart/mixed; boundary=IN\r\n\r\n--IN\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
    b"--IN\r\nContent-Type: application/pdf; name=\"=?utf-8?b?" + base64.b64encode("Quyết định.pdf".encode()) +
    b"?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(PDF) + b"--IN--\r\n"
    b"--OUT\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document\r\n"
    b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"bao-cao.docx\"\r\n\r\n"
    + b64(docx()) + b"--OUT--\r\nepilogue\r\n"
)


def test_finds_pdfs_by_content_with_rfc2231_rfc2047_names_nested_and_office():
    msg = mime.parse(NESTED)
    docs = gateway_documents(msg)
    assert [d.name for d in docs] == ["Công văn.pdf", "Quyết định.pdf", "bao-cao.docx"]
    assert docs[0].content == PDF and docs[1].content == PDF
    assert docs[1].part.path == (2, 0, 1)


def test_splice_replaces_only_the_document_bodies_and_adds_p7s_beside_office():
    msg = mime.parse(NESTED)
    docs = gateway_documents(msg)
    signed = PDF + b"% signed\n" * 50
    out = rebuilder.rebuild(
        msg, [(docs[0], rebuilder.Edit(content=signed)), (docs[1], rebuilder.Edit(content=signed)),
              (docs[2], rebuilder.Edit(detached=b"0\x82DER"))]
    )
    again = gateway_documents(mime.parse(out))
    assert [d.content for d in again[:2]] == [signed, signed]
    assert again[2].content == docx()
    # text part, preamble, epilogue, inner text, headers: byte for byte
    for piece in (b"preamble\r\n--OUT\r\n", "Xin chào\r\n".encode(), b"hi\r\n--IN", b"--OUT--\r\nepilogue\r\n",
                  NESTED[: NESTED.index(b"\r\n\r\n")]):
        assert piece in out
    assert b'filename="bao-cao.docx.p7s"' in out and out.count(b"--OUT\r\n") == NESTED.count(b"--OUT\r\n") + 1
    body = out.split(b"filename*=utf-8''C%C3%B4ng%20v%C4%83n.pdf\r\n\r\n", 1)[1].split(b"\r\n--OUT", 1)[0]
    assert all(len(line) <= 76 for line in body.split(b"\r\n")) and len(body.split(b"\r\n")[0]) == 76


def test_non_base64_document_gets_a_base64_cte_line():
    raw = b"Subject: q\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + PDF
    msg = mime.parse(raw)
    out = rebuilder.rebuild(msg, [(gateway_documents(msg)[0], rebuilder.Edit(content=PDF + b"%x\n"))])
    assert out.startswith(b"Subject: q\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n")
    assert gateway_documents(mime.parse(out))[0].content == PDF + b"%x\n"


def test_limits_raise_permanent_errors():
    deep = b"".join(b"Content-Type: message/rfc822\r\n\r\n" for _ in range(20)) + b"Subject: x\r\n\r\nbody\r\n"
    with pytest.raises(LimitExceeded):
        mime.parse(deep, max_depth=10)
    assert replies.for_error(LimitExceeded("x", limit="MIME depth 10")).code == 552
    huge = b"Subject: x\r\n" + b"X-Pad: " + b"a" * 5000 + b"\r\n\r\nbody\r\n"
    assert mime.parse(huge, max_header_bytes=8192).root.body_start > 5000
    with pytest.raises(LimitExceeded, match="header"):
        mime.parse(huge, max_header_bytes=4096)


def test_seven_bit_encodes_8bit_and_long_lines_only():
    raw = NESTED.replace(b"hi\r\n", b"y" * 1200 + b"\r\n")
    out = seven_bit(raw)
    msg = mime.parse(out)
    for _, header, body in mime.leaf_spans(msg):
        assert body.isascii() and max(len(x) for x in body.split(b"\r\n")) <= 998
    assert b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n" in out
    assert b"preamble" in out and seven_bit(out) == out  # idempotent: nothing left to encode


def test_reply_mapping_never_5xx_for_our_bugs_and_never_leaks():
    bug = replies.for_error(KeyError("/var/secret/path token=1234"))
    assert (bug.code, bug.status) == (451, "4.3.0")
    assert "secret" not in bug.render() and "KeyError" not in bug.render() and "INTERNAL_ERROR" in bug.render()
    assert replies.for_error(SignerUnavailable("pkcs11 slot 3 gone")).render().startswith("451 4.3.0")
    assert "slot" not in replies.for_error(SignerUnavailable("pkcs11 slot 3 gone")).render()
    assert replies.for_error(UpstreamUnavailable("x")).render().startswith("451 4.4.1")
    handler = RelayHandler(networks=[], upstream_factory=None, process=None, require_auth=False)
    status = asyncio.run(handler.handle_exception(RuntimeError("boom at 0xdeadbeef")))
    assert status.startswith("451 4.3.0") and "boom" not in status


def test_multiline_reply_ascii_and_utf8():
    r = replies.blocked(())
    assert r.render() == "550 5.7.1 Thu bi chan / Message blocked"
    assert r.render(utf8=True) == "550 5.7.1 Thư bị chặn / Message blocked"
    long = replies.Reply(550, "5.7.1", ("a" * 900, "b"))
    lines = long.render().split("\r\n")
    assert all(len(x) <= 512 for x in lines) and lines[0].startswith("550-5.7.1") and lines[-1] == "550 5.7.1 b"


def test_dsn_parameter_parsing():
    proto = GatewaySMTP(None, max_message_bytes=1024, loop=asyncio.new_event_loop())

    class S:
        extended_smtp = True

    proto.session = S()
    rest, dsn, err = proto._take_params("FROM:<a@b.c> SIZE=10 RET=HDRS ENVID=Ab+2B", "FROM:", ("RET", "ENVID"))
    assert (rest, dsn, err) == ("FROM:<a@b.c> SIZE=10", {"RET": "HDRS", "ENVID": "Ab+2B"}, "")
    _, _, err = proto._take_params("TO:<a@b.c> NOTIFY=NEVER,SUCCESS", "TO:", ("NOTIFY", "ORCPT"))
    assert err.startswith("501")
    proto.loop.close()
