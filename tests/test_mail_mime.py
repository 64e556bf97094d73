"""The strict MIME reader (gateway.inspect.mime) and the message's classification signals, without network or
token: normalisation, ambiguities refused, every encoding and message/* subtype, uuencode, S/MIME/PGP,
headers in RFC 2047 and raw UTF-8 with the strictest classification winning; and a differential test: the
gateway, Python's email package, ripmime and munpack find the same documents (corpus and hostile cases)."""

from __future__ import annotations

import base64
import binascii
import csv
import subprocess
from pathlib import Path

import pytest
from mail_support import HAVE_MUNPACK, HAVE_RIPMIME, email_files, is_pdf, munpack_files, ripmime_files

from gateway.inspect import marks, mime
from gateway.inspect import message as mail_reader
from gateway.inspect.reading import Reading
from gateway.model import SecrecyLevel
from gateway.signing import message as rebuilder
from util import shared_corpus

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
CORPUS = shared_corpus()


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def msg(body: bytes, ctype: bytes = b'multipart/mixed; boundary="B"', extra: bytes = b"") -> bytes:
    return (b"From: a@b.c\r\nTo: d@e.f\r\nSubject: x\r\nMIME-Version: 1.0\r\n" + extra
            + b"Content-Type: " + ctype + b"\r\n\r\n" + body)


def pdf_part(boundary: bytes = b"B", name: bytes = b"a.pdf", data: bytes = PDF) -> bytes:
    return (b"--" + boundary + b"\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=\"" + name + b"\"\r\n\r\n" + b64(data))


TEXT = b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nXin chao\r\n"
GOOD = msg(TEXT + pdf_part() + b"--B--\r\n")


def problems(raw: bytes) -> list[str]:
    parsed = mime.parse(mime.normalise(raw))
    return [r.code + ":" + r.args.get("detail", r.args.get("encoding", r.args.get("media_type", "")))
            for r in mime.walk(parsed).problems]


def docs(raw: bytes) -> list[mime.Leaf]:
    return [l for l in mime.walk(mime.parse(mime.normalise(raw))).leaves if l.role == "document"]


# --- normalisation ------------------------------------------------------------------------------------------


def test_normalise_makes_every_line_end_crlf_and_keeps_crlf_input_as_is():
    assert mime.normalise(b"a\nb\rc\r\nd") == b"a\r\nb\r\nc\r\nd\r\n"
    crlf = b"a\r\nb\r\n"
    assert mime.normalise(crlf) is crlf
    # what the relay puts on the wire is what was inspected
    from gateway.smtp.relay import wire_data

    for raw in (b"A: b\n\nbody\rx", GOOD, b"x"):
        n = mime.normalise(raw)
        assert wire_data(n) == n.replace(b"\r\n.", b"\r\n..") + b".\r\n"


def test_a_clean_message_has_no_problem_and_one_document():
    assert problems(GOOD) == []
    (d,) = docs(GOOD)
    assert d.content == PDF and d.name == "a.pdf" and d.location == "mime:2"


# --- ambiguity refused -----------------------------------------------------------------------------------

AMBIGUOUS = {
    "two Content-Type": msg(TEXT + pdf_part() + b"--B--\r\n", extra=b"Content-Type: text/plain\r\n"),
    "two Content-Transfer-Encoding": msg(
        b"--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + b64(PDF) + b"--B--\r\n"),
    "two boundary parameters": msg(TEXT + pdf_part() + b"--B--\r\n", b'multipart/mixed; boundary="B"; boundary="C"'),
    "boundary never occurs": msg(TEXT.replace(b"--B", b"--X") + b"--X--\r\n"),
    "child reuses the parent's boundary": msg(
        b"--B\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n" + TEXT + pdf_part() + b"--B--\r\n--B--\r\n"),
    "child boundary is a prefix": msg(
        b"--BB\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n" + TEXT + pdf_part() + b"--B--\r\n--BB--\r\n",
        b'multipart/mixed; boundary="BB"'),
    "line starting like a delimiter": msg(TEXT + b"--Bogus line\r\n" + pdf_part() + b"--B--\r\n"),
    "header line without colon": msg(
        b"--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n" + b64(PDF) + b"--B--\r\n"),
    "NUL in a header": msg(TEXT + pdf_part() + b"--B--\r\n", extra=b"X-Note: a\x00b\r\n"),
    "continuation first": msg(b"--B\r\n Content-Type: application/pdf\r\n\r\n" + PDF + b"\r\n--B--\r\n"),
    "blank before the colon": msg(TEXT + pdf_part() + b"--B--\r\n").replace(
        b"Content-Type: application/pdf", b"Content-Type : text/plain\r\nX: application/pdf"),
    "multipart with base64": msg(TEXT + pdf_part() + b"--B--\r\n", extra=b"Content-Transfer-Encoding: base64\r\n"),
    "Content-Type does not parse": msg(TEXT + pdf_part() + b"--B--\r\n", b'multipart/mixed/x; boundary="B"'),
    "multipart without boundary": msg(TEXT + pdf_part() + b"--B--\r\n", b"multipart/mixed"),
    "base64 after its end": msg(
        b"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b64(b"harmless") + b"====\r\n" + b64(PDF) + b"--B--\r\n"),
    "base64 junk": msg(
        b"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b64(PDF)[:20] + b"!!" + b64(PDF)[20:] + b"--B--\r\n"),
    "uuencode without end": msg(b"--B\r\nContent-Type: text/plain\r\n\r\nbegin 644 a.pdf\r\n"
                                + binascii.b2a_uu(PDF[:45]).replace(b"\n", b"\r\n") + b"--B--\r\n"),
    # ripmime takes a header line in text for the start of a part also without its colon, and decoded the
    # rest of the text as this PDF (found by the fuzz test below)
    "header in text without colon": msg(b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nXin chao\r\n"
                                        b"Content-Transfer-Encoding base64\r\n\r\n" + b64(PDF) + b"--B--\r\n"),
}


@pytest.mark.parametrize("case", sorted(AMBIGUOUS))
def test_ambiguous_structure_is_a_problem(case):
    found = problems(AMBIGUOUS[case])
    assert found and all(p.startswith("MIME_AMBIGUOUS") for p in found), (case, found)


def test_unknown_transfer_encoding_and_incomplete_messages_are_problems():
    unknown = msg(b"--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: x-gzip64\r\n\r\nxx\r\n--B--\r\n")
    assert problems(unknown) == ["MIME_UNKNOWN_ENCODING:x-gzip64"]
    for sub in (b"partial; id=\"x\"; number=1; total=2", b"external-body; access-type=URL; URL=\"http://x/a.pdf\""):
        raw = msg(b"--B\r\nContent-Type: message/" + sub + b"\r\n\r\nSubject: p\r\n\r\nx\r\n--B--\r\n")
        assert problems(raw) == ["MIME_INCOMPLETE_MESSAGE:message/" + sub.split(b";")[0].decode()]


# --- every encoding, every message/* -------------------------------------------------------------------------


def test_every_transfer_encoding_is_decoded():
    qp = binascii.b2a_qp(PDF, istext=False).replace(b"\n", b"\r\n")
    uu = b"begin 644 a.pdf\r\n" + b"".join(binascii.b2a_uu(PDF[i:i + 45]).replace(b"\n", b"\r\n")
                                          for i in range(0, len(PDF), 45)) + b"`\r\nend\r\n"
    for cte, body in ((b"base64", b64(PDF)), (b"quoted-printable", qp), (b"x-uuencode", uu), (b"uuencode", uu),
                      (b"8bit", PDF), (b"binary", PDF), (b"7BIT", PDF)):
        raw = msg(b"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: " + cte
                  + b"\r\n\r\n" + body + b"\r\n--B--\r\n")
        assert problems(raw) == [], cte
        (d,) = docs(raw)
        assert d.content.rstrip(b"\r\n") == PDF.rstrip(b"\n").replace(b"\n", b"\r\n") if cte in (b"8bit", b"binary", b"7BIT") \
            else d.content == PDF, cte


def test_uuencoded_file_inside_a_text_body_is_a_document_and_is_replaced_in_place():
    uu = b"".join(binascii.b2a_uu(PDF[i:i + 45]).replace(b"\n", b"\r\n") for i in range(0, len(PDF), 45))
    raw = msg(b"--B\r\nContent-Type: text/plain\r\n\r\nSee below\r\nbegin 644 cong-van.pdf\r\n" + uu
              + b"`\r\nend\r\nRegards\r\n--B--\r\n")
    parsed = mime.parse(raw)
    walk = mime.walk(parsed)
    (d,) = [l for l in walk.leaves if l.role == "document"]
    assert d.content == PDF and d.name == "cong-van.pdf" and d.location == "mime:1/uu:1"
    signed = PDF + b"%signed\n"
    out = rebuilder.rebuild(parsed, [(d, rebuilder.Edit(content=signed)), ])
    text = [p for _, _, p in email_files(out) if b"See below" in p][0]
    assert b"Regards" in text and mime.uu_blocks(text)[0].content == signed
    if HAVE_RIPMIME:
        assert signed in ripmime_files(out)


def test_message_subtypes_are_walked():
    inner = b"Subject: inner\r\nContent-Type: multipart/mixed; boundary=I\r\n\r\n" + pdf_part(b"I") + b"--I--\r\n"
    for ctype, cte, body in ((b"message/rfc822", b"7bit", inner), (b"message/global", b"8bit", inner),
                             (b"message/rfc822", b"base64", b64(inner)), (b"message/news", b"7bit", inner)):
        raw = msg(TEXT + b"--B\r\nContent-Type: " + ctype + b"\r\nContent-Transfer-Encoding: " + cte + b"\r\n\r\n"
                  + body + b"--B--\r\n")
        assert problems(raw) == [], ctype
        assert [d.content for d in docs(raw)] == [PDF], (ctype, cte)
    digest = msg(b"--B\r\n\r\n" + inner + b"--B--\r\n", b'multipart/digest; boundary="B"')
    assert [d.content for d in docs(digest)] == [PDF]
    report = msg(b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n--B--\r\n",
                 b'multipart/report; report-type=delivery-status; boundary="B"')
    assert [l.role for l in mime.walk(mime.parse(report)).leaves] == ["body"]


def test_roles():
    raw = msg(TEXT + b"--B\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n"
              b"--B\r\nContent-Type: image/png\r\nContent-ID: <logo>\r\n\r\nPNG\r\n"
              b"--B\r\nContent-Type: text/plain; name=\"ghi-chu.txt\"\r\nContent-Disposition: attachment\r\n\r\nx\r\n"
              + pdf_part() + b"--B--\r\n")
    assert [l.role for l in mime.walk(mime.parse(raw)).leaves] == ["body", "body", "inline", "document", "document"]


# --- S/MIME and PGP ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smime_cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("smime")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=nhan",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem")], check=True, capture_output=True)
    return d


def _openssl_smime(args: list[str], data: bytes, d: Path) -> bytes:
    (d / "in.eml").write_bytes(data)
    subprocess.run(["openssl", "cms", *args, "-in", str(d / "in.eml"), "-out", str(d / "out.eml")],
                   check=True, capture_output=True)
    return (d / "out.eml").read_bytes()


def test_smime_encrypted_is_unreadable_and_opaque_signed_is_read(smime_cert):
    d = smime_cert
    inner = msg(TEXT + pdf_part() + b"--B--\r\n")
    enc = _openssl_smime(["-encrypt", "-aes256", "-recip", str(d / "cert.pem")], inner, d)
    w = mime.walk(mime.parse(mime.normalise(b"Subject: e\r\n" + enc)))
    assert w.encrypted and not [l for l in w.leaves if l.role == "document"]
    opaque = _openssl_smime(["-sign", "-nodetach", "-signer", str(d / "cert.pem"), "-inkey", str(d / "key.pem")],
                            inner, d)
    w = mime.walk(mime.parse(mime.normalise(b"Subject: s\r\n" + opaque)))
    assert w.signed and not w.encrypted and w.problems == []
    (doc,) = [l for l in w.leaves if l.role == "document"]
    assert doc.content == PDF and doc.signed


def test_pgp_encrypted_and_signed():
    pgp_mime = msg(b"--B\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
                   b"--B\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nhQ\r\n"
                   b"-----END PGP MESSAGE-----\r\n--B--\r\n",
                   b'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="B"')
    assert mime.walk(mime.parse(pgp_mime)).encrypted
    inline = b"Subject: i\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nhQEMA\r\n-----END PGP MESSAGE-----\r\n"
    assert mime.walk(mime.parse(inline)).encrypted
    clear = b"Subject: i\r\n\r\n-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\nhi\r\n"
    w = mime.walk(mime.parse(clear))
    assert w.signed and not w.encrypted
    signed = msg(b"--S\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" + TEXT + pdf_part() + b"--B--\r\n"
                 b"--S\r\nContent-Type: application/pgp-signature\r\n\r\nsig\r\n--S--\r\n",
                 b'multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256; boundary="S"')
    w = mime.walk(mime.parse(signed))
    assert w.signed and [l.role for l in w.leaves] == ["body", "document"] and all(l.signed for l in w.leaves)


# --- headers and the strictest classification -----------------------------------------------------------


def level(raw: bytes) -> SecrecyLevel | None:
    parsed = mime.parse(mime.normalise(raw))
    found = marks.scan_reading(Reading("message/rfc822", metadata=mail_reader.signals(parsed, mime.walk(parsed))))
    return found.level


@pytest.mark.parametrize("headers,want", [
    ("Subject: [MẬT] Kế hoạch".encode(), SecrecyLevel.MAT),  # raw UTF-8 (RFC 6532)
    (b"Subject: =?utf-8?b?" + base64.b64encode("[TỐI MẬT] Kế hoạch".encode()) + b"?=", SecrecyLevel.TOI_MAT),
    (b"Subject: =?utf-8?q?=5Bm=E1=BA=ADt=5D_K=E1=BA=BF?=", SecrecyLevel.MAT),  # lower-case tag, RFC 2047 Q
    ("X-Classification: Thường\r\nSubject: [MẬT] Kế hoạch".encode(), SecrecyLevel.MAT),  # the strictest wins
    ("Subject: [MẬT] x\r\nX-Classification: Tuyệt mật".encode(), SecrecyLevel.TUYET_MAT),
    ("X-Classification: Tối mật".encode(), SecrecyLevel.TOI_MAT),  # raw UTF-8 header value
    (b"X-Security-Classification: secret", SecrecyLevel.TOI_MAT),
    ("Subject: Báo cáo\r\nKeywords: kế hoạch, mật".encode(), SecrecyLevel.MAT),
    ("Subject: Bảo mật thông tin và giải mật".encode(), None),
    ("Subject: Thư thường".encode(), None),
])
def test_classification_signals(headers, want):
    raw = b"From: a@b.c\r\n" + headers + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n"
    assert level(raw) == want


def test_forwarded_message_headers_and_file_names_are_signals():
    fwd = msg(TEXT + b"--B\r\nContent-Type: message/rfc822\r\n\r\n" + "Subject: [MẬT] gốc\r\n\r\nx\r\n".encode()
              + b"--B--\r\n")
    assert level(fwd) == SecrecyLevel.MAT
    named = msg(TEXT + pdf_part(name="Kế hoạch TỐI MẬT.pdf".encode()) + b"--B--\r\n")
    assert level(named) == SecrecyLevel.TOI_MAT


# --- differential: the same documents for every reader ---------------------------------------------------


def _corpus() -> list[Path]:
    if not (CORPUS / "eml-manifest.tsv").is_file():
        return []
    with open(CORPUS / "eml-manifest.tsv", newline="") as fh:
        return [CORPUS / r["file"] for r in csv.DictReader(fh, delimiter="\t")]


def _contents(leaves) -> list[bytes]:
    return sorted(l.content for l in leaves)


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name[:60])
def test_corpus_gateway_and_python_email_see_the_same_parts(path):
    """Every message the gateway reads without a problem: the decoded leaves it sees are the ones Python's
    email package sees (compared as contents; text normalised for line ends), and every PDF ripmime or
    munpack extracts is one the gateway inspected."""
    raw = mime.normalise(path.read_bytes())
    parsed = mime.parse(raw)
    walk = mime.walk(parsed)
    if walk.problems or walk.encrypted:
        pytest.skip("refused by the gateway: " + ",".join(r.code for r in walk.problems))
    # Not compared: the sender's detached signatures (not content: the gateway skips them) and the reports
    # the stdlib splits into header blocks (the gateway reads a report as one text).
    ours = [l.content for l in walk.leaves if l.uu is None and l.declared_type not in mime.REPORT_TYPES]
    theirs = [p for _, ctype, p in email_files(raw) if ctype not in mime.SIGNATURE_TYPES]
    norm = lambda b: b.replace(b"\r\n", b"\n").rstrip(b"\n")  # noqa: E731 - the stdlib keeps a final newline
    assert sorted(x for x in map(norm, ours) if x) == sorted(x for x in map(norm, theirs) if x), path.name
    inspected = {l.content for l in walk.leaves}
    for name, extract, have in (("ripmime", ripmime_files, HAVE_RIPMIME), ("munpack", munpack_files, HAVE_MUNPACK)):
        if have:
            for f in extract(raw):
                if is_pdf(f):
                    assert f in inspected, (path.name, name)


# --- differential fuzz: where the gateway sees no problem, the other readers see what it sees ------------

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st  # noqa: E402

_TOKENS = [b"\r\n", b"\n", b"\r", b"--B", b"--B--", b"--C", b"--C--", b" ", b"\t", b":", b";", b'"', b"=",
           b"Content-Type: multipart/mixed; boundary=C\r\n", b"Content-Type: message/rfc822\r\n",
           b"Content-Type: text/plain\r\n", b"Content-Transfer-Encoding: base64\r\n",
           b"Content-Transfer-Encoding: quoted-printable\r\n", b"Content-Transfer-Encoding: x-uuencode\r\n",
           b'Content-Disposition: attachment; filename="b.pdf"\r\n', b"begin 644 c.pdf\r\n", b"end\r\n",
           b"=?utf-8?b?w6E=?=", b"JVBERi0xLjcK", b"%PDF-1.7", b"\x00", b"\xff", b"=\r\n", b"boundary=", b"B"]
_BASES = [
    GOOD,
    msg(TEXT + b"--B\r\nContent-Type: message/rfc822\r\n\r\nSubject: i\r\nContent-Type: multipart/mixed; boundary=C"
        b"\r\n\r\n" + pdf_part(b"C") + b"--C--\r\n--B--\r\n"),
    msg(TEXT + b"--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        + binascii.b2a_qp(PDF, istext=False).replace(b"\n", b"\r\n") + b"\r\n--B--\r\n"),
]


@st.composite
def _mutants(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(_BASES)))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(data)))
        if draw(st.booleans()):
            data[pos:pos] = draw(st.sampled_from(_TOKENS))
        else:
            del data[pos : pos + draw(st.integers(1, 12))]
    return bytes(data)


@hsettings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=_mutants())
def test_fuzz_no_problem_means_python_email_agrees(raw):
    raw = mime.normalise(raw)
    try:
        walk = mime.walk(mime.parse(raw))
    except Exception as exc:  # noqa: BLE001 - only the gateway's own limits may stop it
        assert getattr(exc, "code", "") == "LIMIT_EXCEEDED", exc
        return
    if walk.problems or walk.encrypted:
        return
    norm = lambda b: b.replace(b"\r\n", b"\n").rstrip(b"\n")  # noqa: E731
    ours = sorted(x for x in (norm(l.content) for l in walk.leaves if l.uu is None
                              and l.declared_type not in mime.REPORT_TYPES) if x)
    theirs = sorted(x for x in (norm(p) for _, c, p in email_files(raw) if c not in mime.SIGNATURE_TYPES) if x)
    assert ours == theirs


@pytest.mark.skipif(not (HAVE_RIPMIME and HAVE_MUNPACK), reason="ripmime / munpack not installed")
@hsettings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=_mutants())
def test_fuzz_no_problem_means_ripmime_and_munpack_find_no_other_pdf(raw):
    raw = mime.normalise(raw)
    try:
        walk = mime.walk(mime.parse(raw))
    except Exception as exc:  # noqa: BLE001
        assert getattr(exc, "code", "") == "LIMIT_EXCEEDED", exc
        return
    if walk.problems or walk.encrypted:
        return
    norm = lambda b: b.replace(b"\r\n", b"\n").strip(b"\r\n")  # noqa: E731 - decoders differ on the last CRLF
    ours = {norm(l.content) for l in walk.leaves}
    for f in ripmime_files(raw) + munpack_files(raw):
        if is_pdf(f):
            assert norm(f) in ours
