"""Issue 17: hostile and odd PDFs through the signer and the output check (tests/odd_pdfs.py makes them).

Every signed output is checked by poppler (pdfsig: valid and trusted; pdfinfo: same pages; pdftotext: every
word of the input kept) and by the gateway's own output check; every refusal is permanent with its reason.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import odd_pdfs
import pytest
from util import pdfsig

from gateway.errors import InputRejected
from gateway.model import Appearance
from gateway.signing import PdfSignRequest
from gateway.signing.check import OutputRejected, check_pdf

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module")
def signer(dev_settings):
    from gateway.signing import OrgSigner

    with OrgSigner(dev_settings) as s:
        yield s


_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def pdftext(path: Path) -> str:
    res = subprocess.run(["pdftotext", "-q", "-enc", "UTF-8", str(path), "-"], capture_output=True, timeout=60)
    return _BIDI.sub("", res.stdout.decode("utf-8", "replace"))


def pages(path: Path) -> int | None:
    res = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, timeout=60)
    m = re.search(r"^Pages:\s+(\d+)", res.stdout, re.M)
    return int(m.group(1)) if m else None


def words_kept(src: Path, out: Path) -> list[str]:
    """Input words not found in the output's text (the signature's own text block may join a line)."""
    after = pdftext(out)
    return [w for w in pdftext(src).split() if w not in after]


def assert_faithful(src: Path, out: Path, nssdb: Path) -> None:
    sigs = pdfsig(out, nssdb)
    assert sigs and sigs[-1]["valid"] and sigs[-1]["trusted"] and sigs[-1]["total_document"], sigs
    assert pages(out) == pages(src) is not None
    assert words_kept(src, out) == []


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / f"{name}.pdf"
    p.write_bytes(data)
    return p


# --- /Size smaller than the highest object number (the 9 altered + 7 broken outputs) ---------------------------


def test_size_below_highest_object_signed_without_touching_the_font(signer, dev_settings, tmp_path):
    src = write(tmp_path, "size", odd_pdfs.size_below_highest())
    assert "Alpha Bravo" in pdftext(src)
    out = tmp_path / "size-signed.pdf"
    signer.sign_pdf(src, out, PdfSignRequest())
    check_pdf(out, src)
    assert_faithful(src, out, dev_settings.paths.nssdb)


def test_output_check_catches_an_update_that_reuses_object_numbers(dev_settings, tmp_path):
    """The writer as it was (new objects numbered from /Size) redefines the page's font: poppler then shows
    other glyphs or none, while the signature is valid. The output check refuses it, permanently."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from util import person_signer

    src = write(tmp_path, "size", odd_pdfs.size_below_highest())
    out = tmp_path / "old-writer.pdf"
    with open(src, "rb") as inf, open(out, "w+b") as fh:
        w = IncrementalPdfFileWriter(inf, strict=False)
        meta = signers.PdfSignatureMetadata(field_name="Sig1", subfilter=fields.SigSeedSubFilter.PADES)
        signers.PdfSigner(meta, person_signer(dev_settings), new_field_spec=fields.SigFieldSpec(
            "Sig1", on_page=0, box=(300, 700, 500, 780))).sign_pdf(w, output=fh)
    assert words_kept(src, out), "the old numbering should have clobbered the font (test premise)"
    with pytest.raises(OutputRejected) as exc:
        check_pdf(out, src)
    assert exc.value.code == "PDF_OUTPUT_INVALID"
    assert "redefined" in exc.value.params["detail"] or "changed" in exc.value.params["detail"]


def test_new_objects_are_numbered_above_every_number_in_use(tmp_path):
    from gateway.signing.pades import highest_object_number, new_writer

    src = write(tmp_path, "size", odd_pdfs.size_below_highest())
    with open(src, "rb") as fh:
        w, repairs = new_writer(fh)
        assert highest_object_number(w.prev) == 8
        assert w.add_object(odd_pdfs_dict(w)).idnum == 9
    assert repairs == []


def odd_pdfs_dict(w):
    from pyhanko.pdf_utils import generic

    return generic.DictionaryObject()


# --- the other classes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["duplicate_numbers", "pdfa1b", "broken_xref_startxref",
                                  "box_negative", "box_crop", "box_userunit", "box_rotate", "box_inherited"])
def test_odd_files_are_signed_faithfully(signer, dev_settings, tmp_path, name):
    src = write(tmp_path, name, odd_pdfs.ALL[name]())
    out = tmp_path / f"{name}-signed.pdf"
    signer.sign_pdf(src, out, PdfSignRequest())
    check_pdf(out, src)
    assert_faithful(src, out, dev_settings.paths.nssdb)


def test_startxref_a_few_bytes_off_is_repaired_in_the_update_and_recorded(signer, tmp_path):
    src = write(tmp_path, "obo", odd_pdfs.broken_xref("startxref"))
    signer.sign_pdf(src, tmp_path / "obo-signed.pdf", PdfSignRequest())
    assert [r.code for r in signer.last_repairs] == ["PDF_REPAIRED"]


def test_pdfa_metadata_left_alone(signer, tmp_path):
    """pyHanko rewrote the XMP packet and failed on UTF-16 ones (16 veraPDF PDF/A-1b files, INTERNAL_ERROR);
    the gateway leaves Info and XMP as they are."""
    src = write(tmp_path, "pdfa", odd_pdfs.pdfa1b())
    out = tmp_path / "pdfa-signed.pdf"
    signer.sign_pdf(src, out, PdfSignRequest())
    added = out.read_bytes()[src.stat().st_size:]
    assert b"/Type /Metadata" not in added and b"xpacket" not in added


@pytest.mark.parametrize("kind", ["negative", "crop", "userunit", "rotate", "inherited"])
@pytest.mark.parametrize("appearance", [Appearance.TEXT, Appearance.SEAL])
def test_stamp_stays_on_the_visible_page(signer, tmp_path, kind, appearance):
    from pypdf import PdfReader

    from gateway.signing.pades import _page_box

    src = write(tmp_path, kind, odd_pdfs.odd_boxes(kind))
    out = tmp_path / f"{kind}-signed.pdf"
    signer.sign_pdf(src, out, PdfSignRequest(appearance=appearance))
    page = PdfReader(out).pages[0]
    visible = _page_box(page)
    widgets = [a.get_object() for a in page.get("/Annots", []) if a.get_object().get("/FT") == "/Sig"]
    if appearance is Appearance.SEAL:
        # no competent person's signature and no signature block to anchor on: no seal at all (issue 14),
        # never one in a page corner
        assert [r.code for r in signer.last_repairs if r.code == "SEAL_NO_ANCHOR"] == ["SEAL_NO_ANCHOR"]
        assert not widgets or [float(v) for v in widgets[-1]["/Rect"]] == [0, 0, 0, 0]
        return
    x1, y1, x2, y2 = (float(v) for v in widgets[-1]["/Rect"])
    assert visible[0] <= x1 < x2 <= visible[2] and visible[1] <= y1 < y2 <= visible[3], (visible, (x1, y1, x2, y2))


@pytest.mark.parametrize("appearance", [Appearance.TEXT, Appearance.SEAL])
def test_small_page_gets_a_block_inside_it_or_none(signer, dev_settings, tmp_path, appearance):
    """pdf.js test pages are 200 x 50 pt: the block stands inside the page where it is blank, or (issue 14:
    nothing blank holds a legible block; a seal with no signature to go on) the signature is invisible with a
    recorded warning — never hanging off the page."""
    from pypdf import PdfReader

    src = write(tmp_path, "small", odd_pdfs.build(odd_pdfs.simple(("Tiny", "page"), media=b"[0 0 200 50]")))
    out = tmp_path / "small-signed.pdf"
    signer.sign_pdf(src, out, PdfSignRequest(appearance=appearance))
    page = PdfReader(out).pages[0]
    widget = [a.get_object() for a in page["/Annots"]][-1]
    x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
    if (x1, y1, x2, y2) == (0, 0, 0, 0):
        assert {r.code for r in signer.last_repairs} & {"STAMP_NO_FREE_SPACE", "SEAL_NO_ANCHOR"}
    else:
        assert 0 <= x1 < x2 <= 200 and 0 <= y1 < y2 <= 50
    assert_faithful(src, out, dev_settings.paths.nssdb)


def test_page_too_small_for_any_block_is_not_drawn_off_page(signer, tmp_path):
    # issue 14: when no blank place on the page holds the text block, the signature is invisible and the
    # decision carries STAMP_NO_FREE_SPACE (gateway/signing/placement.py), never a block off the page
    from pypdf import PdfReader

    src = write(tmp_path, "tiny", odd_pdfs.build(odd_pdfs.simple(media=b"[0 0 12 6]")))
    signer.sign_pdf(src, tmp_path / "tiny-signed.pdf", PdfSignRequest())
    assert "STAMP_NO_FREE_SPACE" in [r.code for r in signer.last_repairs]
    page = PdfReader(tmp_path / "tiny-signed.pdf").pages[0]
    widgets = [a.get_object() for a in page.get("/Annots", []) if a.get_object().get("/FT") == "/Sig"]
    assert widgets and [float(v) for v in widgets[-1]["/Rect"]] == [0, 0, 0, 0]


def test_form_values_the_viewer_draws_are_refused(signer, tmp_path):
    """/NeedAppearances: a signature must clear it, and the value 'Zulu' would vanish from the page."""
    src = write(tmp_path, "na", odd_pdfs.need_appearances())
    assert "Zulu" in pdftext(src)
    with pytest.raises(InputRejected) as exc:
        signer.sign_pdf(src, tmp_path / "na-signed.pdf", PdfSignRequest())
    assert exc.value.code == "PDF_UNSUPPORTED"


# --- through the pipeline: one inspection, check and sign agree, refusals permanent ---------------------------


def _doc(path: Path):
    from gateway.model import Channel, DocKind, Document

    return Document(channel=Channel.CLI, name=path.name, path=path, kind=DocKind.CORRESPONDENCE)


@pytest.mark.parametrize("name", ["signed_without_widget", "signed_widget_outside_form", "signed_reused_xref_number"])
def test_an_earlier_signature_is_seen_by_policy_as_by_verify(pipeline, dev_settings, tmp_path, name):
    """Issue 17 §3: 42 corpus files carried a signature by an unknown CA, expired, that verify showed and the
    pipeline missed (signed as if unsigned). One discovery now serves both."""
    from gateway.validation import Validator

    src = write(tmp_path, name, odd_pdfs.ALL[name]())
    sigs = pdfsig(src, dev_settings.paths.nssdb)
    assert len(sigs) == 1 and sigs[0]["valid"] and not sigs[0]["trusted"]  # premise: poppler sees it
    seen = Validator(dev_settings).validate_pdf(src)
    assert len(seen) == 1 and seen[0].intact and not seen[0].trusted
    for res in (pipeline.check(_doc(src)), pipeline.process(_doc(src), out_dir=tmp_path / "out")):
        codes = {r.code for r in res.decision.reasons}
        assert res.decision.outcome.value == "reject" and res.output is None
        assert {"SIGNATURE_UNTRUSTED", "SIGNATURE_CERT_EXPIRED"} <= codes, codes


def test_a_signature_compressed_into_an_object_stream_is_seen(pipeline, dev_settings, tmp_path):
    """A signature dictionary without its optional /Type is compressed into an object stream by qpdf: its
    /ByteRange is then not in the file's bytes, and the pages' widgets (a signature the form does not list)
    were not searched. pdfsig shows it; the policy signed the file as unsigned and `gateway verify` said it had
    no signature. Both see it now, and the file is refused."""
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, ByteStringObject, DictionaryObject, FloatObject, NameObject, NumberObject
    from pypdf.generic import TextStringObject

    from gateway.validation import Validator

    w = PdfWriter()
    w.add_blank_page(595, 842)
    sig = DictionaryObject({NameObject("/Filter"): NameObject("/Adobe.PPKLite"),
                            NameObject("/SubFilter"): NameObject("/adbe.pkcs7.detached"),
                            NameObject("/ByteRange"): ArrayObject([NumberObject(n) for n in (0, 10, 20, 30)]),
                            NameObject("/Contents"): ByteStringObject(b"\x30\x03\x02\x01\x01" + bytes(64))})
    widget = DictionaryObject({NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Widget"),
                               NameObject("/FT"): NameObject("/Sig"), NameObject("/T"): TextStringObject("Sig1"),
                               NameObject("/V"): w._add_object(sig), NameObject("/F"): NumberObject(132),
                               NameObject("/Rect"): ArrayObject([FloatObject(0)] * 4)})
    w.pages[0][NameObject("/Annots")] = ArrayObject([w._add_object(widget)])
    plain = tmp_path / "plain.pdf"
    w.write(plain)
    src = tmp_path / "compressed.pdf"
    subprocess.run(["qpdf", "--object-streams=generate", str(plain), str(src)], check=True)
    assert b"/ByteRange" not in src.read_bytes()  # premise: in an object stream
    shown = subprocess.run(["pdfsig", str(src)], capture_output=True, text=True).stdout
    assert "Signature #1" in shown  # premise: poppler sees it
    assert len(Validator(dev_settings).validate_pdf(src)) == 1
    res = pipeline.check(_doc(src))
    assert res.decision.outcome.value == "reject", res.decision
    assert any(r.code.startswith("SIGNATURE_") for r in res.decision.reasons), res.decision


@pytest.mark.parametrize("name", sorted(odd_pdfs.ALL))
def test_check_and_sign_agree_and_every_refusal_is_permanent(pipeline, dev_settings, tmp_path, name):
    src = write(tmp_path, name, odd_pdfs.ALL[name]())
    checked = pipeline.check(_doc(src))  # a TemporaryError would fail the test: refusals are permanent
    signed = pipeline.process(_doc(src), out_dir=tmp_path / "out")
    assert (checked.decision.outcome, [r.code for r in checked.decision.reasons]) == (
        signed.decision.outcome, [r.code for r in signed.decision.reasons])
    if signed.output is not None:
        assert_faithful(src, signed.output.path, dev_settings.paths.nssdb)
    else:
        assert signed.decision.reasons and not list((tmp_path / "out").glob("*"))


# --- repairs: only unsigned files, only what poppler reads, content kept ---------------------------------


@pytest.mark.parametrize("name", ["broken_xref_none", "broken_xref_garbage", "offset_header", "offset_header_relative"])
def test_broken_structure_is_repaired_then_signed_and_the_repair_recorded(pipeline, dev_settings, tmp_path, name):
    src = write(tmp_path, name, odd_pdfs.ALL[name]())
    res = pipeline.process(_doc(src), out_dir=tmp_path / "out")
    assert res.decision.outcome.value == "sign", res.decision
    assert "PDF_REPAIRED" in [w.code for w in res.decision.warnings]
    # the record is about what was sent: the original's hash, not the repaired copy's
    assert hashlib.sha256(src.read_bytes()).hexdigest() in json.dumps(dict(pipeline.audit.query()[-1].data))
    assert_faithful(src, res.output.path, dev_settings.paths.nssdb)


@pytest.mark.parametrize("carrier", ["zip", "mail"])
def test_a_member_is_repaired_like_a_document(pipeline, dev_settings, tmp_path, carrier):
    """The four doors agree: a PDF the folder door repairs and signs is repaired and signed inside an archive or
    a mail too (the repair recorded on the member), and the rebuilt container is checked against what was put
    in. Extracted by independent readers (unzip; Python's email package), verified by poppler."""
    import zipfile
    from email import message_from_bytes, policy
    from email.message import EmailMessage

    from gateway.model import Channel, Document, Origin

    src = write(tmp_path, "no-xref", odd_pdfs.broken_xref("none"))
    if carrier == "zip":
        arc = tmp_path / "ho-so.zip"
        with zipfile.ZipFile(arc, "w") as zf:
            zf.write(src, "no-xref.pdf")
        doc = Document(channel=Channel.FOLDER, name=arc.name, path=arc, origin=Origin(path=str(arc)))
    else:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "vanthu@dev.test", "nhan@dev.test", "Công văn"
        msg.set_content("Kính gửi")
        msg.add_attachment(src.read_bytes(), maintype="application", subtype="pdf", filename="no-xref.pdf")
        arc = tmp_path / "thu.eml"
        arc.write_bytes(msg.as_bytes())
        doc = Document(channel=Channel.SMTP, name="message.eml", path=arc, media_type="message/rfc822",
                       origin=Origin(sender="vanthu@dev.test", recipients=("nhan@dev.test",)))
    checked = pipeline.check(doc)
    res = pipeline.process(doc, out_dir=tmp_path / "out")
    for r in (checked, res):
        assert r.decision.outcome.value == "sign", [x.code for x in r.decision.reasons]
    pdf = next(m for m in res.members if m.name.endswith("no-xref.pdf"))
    assert pdf.signed
    record = next(r for r in pipeline.audit.query() if r.id == pdf.record_id)
    assert "PDF_REPAIRED" in json.dumps(dict(record.data))
    out = tmp_path / "got.pdf"
    if carrier == "zip":
        with zipfile.ZipFile(res.output.path) as zf:
            out.write_bytes(zf.read("no-xref.pdf"))
    else:
        parsed = message_from_bytes(res.output.path.read_bytes(), policy=policy.default)
        part = next(p for p in parsed.walk() if p.get_filename() == "no-xref.pdf")
        out.write_bytes(part.get_payload(decode=True))
    assert_faithful(src, out, dev_settings.paths.nssdb)


def test_a_signed_file_is_never_repaired(pipeline, tmp_path):
    """A broken file that carries a signature: rewriting it would break that signature. Refused, permanent."""
    signed = bytearray(odd_pdfs.signed_pdf(widget=True))
    at = signed.rindex(b"startxref")
    signed[at:] = b"startxref\n99999\n%%EOF\n"  # the xref can no longer be found
    src = write(tmp_path, "signed-broken", bytes(signed))
    for res in (pipeline.check(_doc(src)), pipeline.process(_doc(src), out_dir=tmp_path / "out")):
        assert res.decision.outcome.value == "reject" and res.output is None
        assert "PDF_REPAIRED" not in [w.code for w in res.decision.warnings]


def test_output_of_another_source_is_refused(signer, tmp_path):
    """The update must extend exactly the bytes inspected: a valid signed PDF of other bytes is refused."""
    a = write(tmp_path, "a", odd_pdfs.build(odd_pdfs.simple(("Alpha",))))
    b = write(tmp_path, "b", odd_pdfs.build(odd_pdfs.simple(("Bravo",))))
    signer.sign_pdf(b, tmp_path / "b-signed.pdf", PdfSignRequest())
    with pytest.raises(OutputRejected) as exc:
        check_pdf(tmp_path / "b-signed.pdf", a)
    assert exc.value.code == "PDF_OUTPUT_INVALID"


def test_which_faults_are_the_documents():
    import sqlite3

    from gateway.errors import SignerUnavailable
    from gateway.pipeline import document_fault

    assert document_fault(KeyError("/Count")) and document_fault(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "x"))
    assert not document_fault(SignerUnavailable("token")) and not document_fault(OSError(28, "No space left"))
    assert not document_fault(MemoryError()) and not document_fault(sqlite3.OperationalError("locked"))
