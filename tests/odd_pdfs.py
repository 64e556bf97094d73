"""A generator of hostile and odd PDFs, written byte by byte (issue 17): what real-world files do that
well-behaved writers never do.

Each function returns the bytes of a small one- or two-page PDF whose pages show known words (standard
Helvetica, WinAnsi), so a test can sign it and compare `pdftotext` of input and output:
- size_below_highest: the trailer's /Size is smaller than the highest object number, and the page's font is
  the object a writer numbering from /Size would overwrite;
- duplicate_numbers: a later revision redefines object numbers of an earlier one (the earlier revision's
  xref stream number is reused for a page's content, as EU DSS writes);
- offset_header: junk before %PDF- (offsets counted from the file's start, or from the header);
- broken_xref: no xref at all / offsets all wrong / startxref a few bytes off;
- pdfa1b: a PDF/A-1b file (XMP in UTF-16 with the pdfaid schema, an OutputIntent);
- odd_boxes: negative origins, a CropBox inside the MediaBox, /UserUnit, /Rotate, inherited boxes;
- need_appearances: form values drawn by the viewer (/NeedAppearances true, no appearance streams);
- signed_without_widget: an earlier signature whose field has no widget on any page, by an unknown CA with
  an expired certificate (`signed_pdf` helper: any structure, real CMS).
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta, timezone

WORDS = ("Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot")
HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def content(words=WORDS, x: float = 72, y: float = 720) -> bytes:
    lines = [f"BT /F1 14 Tf {x} {y} Td ({' '.join(words)}) Tj ET"]
    return "\n".join(lines).encode()


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


def build(objects: dict[int, bytes], *, root: int = 1, size: int | None = None, header: bytes = HEADER,
          prefix: bytes = b"", xref: str = "table", offsets_from_header: bool = False, info: int | None = None,
          startxref_shift: int = 0, trailer_extra: bytes = b"") -> bytes:
    """One revision. xref: "table", "stream", "none" (objects and a trailer only), "garbage" (offsets wrong)."""
    out = bytearray(prefix + header)
    base = len(prefix) if offsets_from_header else 0
    offsets: dict[int, int] = {}
    for num in sorted(objects):
        offsets[num] = len(out) - base
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    top = max(objects)
    size = size if size is not None else top + 1
    trailer = b"/Size %d /Root %d 0 R" % (size, root) + (b" /Info %d 0 R" % info if info else b"") + trailer_extra
    if xref == "none":
        out += b"trailer\n<< " + trailer + b" >>\n%%EOF\n"
        return bytes(out)
    if xref == "stream":
        xnum = top + 1
        offsets[xnum] = len(out) - base
        rows = b"".join(
            (b"\x01" + offsets[n].to_bytes(4, "big") + b"\x00") if n in offsets else b"\x00\x00\x00\x00\x00\xff"
            for n in range(0, xnum + 1)
        )
        data = zlib.compress(rows)
        xs = stream(data, b"/Type /XRef /W [1 4 1] /Index [0 %d] /Filter /FlateDecode " % (xnum + 1) + trailer.replace(b"/Size %d" % size, b"/Size %d" % max(size, xnum + 1)) + b" ")
        out += b"%d 0 obj\n" % xnum + xs + b"\nendobj\n"
        out += b"startxref\n%d\n%%%%EOF\n" % (offsets[xnum] + startxref_shift)
        return bytes(out)
    where = len(out) - base
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (top + 1)
    for n in range(1, top + 1):
        off = offsets.get(n)
        if off is None:
            out += b"0000000000 65535 f \n"
        else:
            out += b"%010d 00000 n \n" % (off + (977 if xref == "garbage" else 0))
    out += b"trailer\n<< " + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % (where + startxref_shift)
    return bytes(out)


def update(base: bytes, objects: dict[int, bytes], *, root: int = 1, size: int | None = None,
           xref: str = "table") -> bytes:
    """An incremental update of `base` (which must have a classic or stream xref) redefining `objects`."""
    import re

    prev = int(re.findall(rb"startxref\s+(\d+)", base)[-1])
    out = bytearray(base)
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    top = max(objects)
    size = size if size is not None else top + 1
    if xref == "stream":
        xnum = max(top, size - 1) + 1
        offsets[xnum] = len(out)
        nums = sorted(offsets)
        rows = b"".join(b"\x01" + offsets[n].to_bytes(4, "big") + b"\x00" for n in nums)
        index = b" ".join(b"%d 1" % n for n in nums)
        xs = stream(zlib.compress(rows), b"/Type /XRef /W [1 4 1] /Index [%s] /Filter /FlateDecode /Size %d /Root %d 0 R /Prev %d "
                    % (index, xnum + 1, root, prev))
        out += b"%d 0 obj\n" % xnum + xs + b"\nendobj\n"
        out += b"startxref\n%d\n%%%%EOF\n" % offsets[xnum]
        return bytes(out)
    where = len(out)
    out += b"xref\n"
    for n in sorted(offsets):
        out += b"%d 1\n%010d 00000 n \n" % (n, offsets[n])
    out += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, prev, where)
    return bytes(out)


def simple(words=WORDS, *, page_extra: bytes = b"", pages_extra: bytes = b"", catalog_extra: bytes = b"",
           media: bytes = b"[0 0 595 842]") -> dict[int, bytes]:
    return {
        1: b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b">>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 " + pages_extra + b">>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox " + media + b" /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R " + page_extra + b">>",
        4: stream(content(words)),
        5: FONT,
    }


# --- the classes -------------------------------------------------------------------------------------------


def size_below_highest() -> bytes:
    """/Size 6 while objects go up to 8; the font is object 7 (= /Size + 1, where pyHanko used to start)."""
    objs = simple()
    objs[3] = objs[3].replace(b"/F1 5 0 R", b"/F1 7 0 R").replace(b"/Contents 4 0 R", b"/Contents 8 0 R")
    objs[7] = objs.pop(5)
    objs[8] = objs.pop(4)
    objs[4] = b"<< /Producer (odd_pdfs) >>"
    return build(objs, size=6, info=4)


def duplicate_numbers() -> bytes:
    """Revision 1 with an xref *stream* numbered 6; revision 2 redefines object 6 as the page's content and
    object 4 (the old content) as something else. Readers must take revision 2's objects."""
    first = build(simple(("Obsolete", "words")), xref="stream")  # xref stream is object 6
    second = update(first, {
        3: simple()[3].replace(b"/Contents 4 0 R", b"/Contents 6 0 R"),
        6: stream(content()),
        4: b"<< /Note (object 4 reused) >>",
    }, size=7)
    return second


def offset_header(*, relative: bool = False, version: bytes = b"2.0") -> bytes:
    """1 KB of junk (a mail gateway's banner, a BOM, zeros) before %PDF-; xref offsets from the file start
    (the spec) or, as many writers do, from the header (`relative`)."""
    junk = b"\xef\xbb\xbfX-Scanned-By: something\r\n" + b"\x00" * 64 + b"-" * 900 + b"\n"
    return build(simple(), header=b"%PDF-" + version + b"\n%\xe2\xe3\xcf\xd3\n", prefix=junk,
                 offsets_from_header=relative)


def broken_xref(kind: str) -> bytes:
    """kind: "none" (no xref, no startxref: only objects and a trailer), "garbage" (every offset wrong),
    "startxref" (startxref 3 bytes off)."""
    if kind == "startxref":
        return build(simple(), startxref_shift=3)
    return build(simple(), xref=kind)


def pdfa1b() -> bytes:
    """PDF/A-1b: XMP metadata (UTF-16, with the BOM the XMP spec allows) naming pdfaid:part 1 conformance B,
    an OutputIntent, Info and XMP agreeing."""
    xmp = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">'
        "<pdfaid:part>1</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance></rdf:Description>"
        '<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/"><pdf:Producer>odd_pdfs</pdf:Producer>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>" + " " * 200 + '<?xpacket end="w"?>'
    ).encode("utf-16")
    objs = simple(catalog_extra=b"/Metadata 6 0 R /OutputIntents [7 0 R] ")
    objs[6] = stream(xmp, b"/Type /Metadata /Subtype /XML ")
    objs[7] = b"<< /Type /OutputIntent /S /GTS_PDFA1 /OutputConditionIdentifier (sRGB) /Info (sRGB IEC61966-2.1) >>"
    objs[8] = b"<< /Producer (odd_pdfs) >>"
    return build(objs, header=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", info=8)


def odd_boxes(kind: str) -> bytes:
    """kind: "negative" (MediaBox [-300 -421 295 421]), "crop" (CropBox well inside the MediaBox, off-centre),
    "userunit" (/UserUnit 2 on a half-size page), "rotate" (/Rotate 90), "inherited" (boxes on /Pages only,
    the CropBox entries indirect)."""
    if kind == "negative":
        objs = simple(media=b"[-300 -421 295 421]")
        objs[4] = stream(content(x=-250, y=300))
    elif kind == "crop":
        objs = simple(page_extra=b"/CropBox [100 150 450 600] ")
        objs[4] = stream(content(x=120, y=500))
    elif kind == "userunit":
        objs = simple(media=b"[0 0 297.5 421]", page_extra=b"/UserUnit 2.0 ")
        objs[4] = stream(content(x=20, y=300))
    elif kind == "rotate":
        objs = simple(page_extra=b"/Rotate 90 ")
    elif kind == "inherited":
        objs = simple(pages_extra=b"/MediaBox [0 0 612 792] /CropBox [6 0 R 7 0 R 560 740] ")
        objs[3] = objs[3].replace(b"/MediaBox [0 0 595 842] ", b"")
        objs[6], objs[7] = b"36", b"36"
    else:
        raise ValueError(kind)
    return build(objs)


def need_appearances() -> bytes:
    """A filled text field without an appearance stream; /NeedAppearances true: the viewer draws 'Zulu'."""
    objs = simple(catalog_extra=b"/AcroForm << /Fields [6 0 R] /NeedAppearances true /DA (/Helv 0 Tf 0 g) "
                  b"/DR << /Font << /Helv 5 0 R >> >> >> ", page_extra=b"/Annots [6 0 R] ")
    objs[6] = b"<< /FT /Tx /T (name) /V (Zulu) /Type /Annot /Subtype /Widget /Rect [72 600 272 630] /P 3 0 R >>"
    return build(objs)


# --- signatures made here (real CMS, any structure) ----------------------------------------------------------


def foreign_identity(*, expired: bool = True):
    """(private key, certificate, CA certificate) of an unknown CA; the signer's certificate long expired."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    now = datetime.now(timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unknown Test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=4000))
        .not_valid_after(now + timedelta(days=4000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    nb, na = (now - timedelta(days=2000), now - timedelta(days=1000)) if expired else (now - timedelta(days=1), now + timedelta(days=300))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Nguyen Van Foreign"),
                                 x509.NameAttribute(NameOID.SURNAME, "Nguyen")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(nb).not_valid_after(na)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert, ca


def _cms(data: bytes, key, cert, ca, when: datetime) -> bytes:
    """A detached CMS SignedData over `data` (signed attributes: content type, signing time, digest)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7

    return (
        pkcs7.PKCS7SignatureBuilder().set_data(data).add_signer(cert, key, hashes.SHA256())
        .add_certificate(ca)
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoCapabilities,
                                         pkcs7.PKCS7Options.Binary])
    )


def _fill_signature(pdf: bytearray, placeholder: bytes, key, cert, ca) -> bytes:
    """Write /ByteRange and the CMS into the last signature dictionary of `pdf` (placeholders reserved)."""
    start = pdf.rindex(b"/Contents <") + len(b"/Contents ")
    end = start + len(placeholder) + 2
    br = b"[%010d %010d %010d %010d]" % (0, start, end, len(pdf) - end)
    at = pdf.rindex(b"/ByteRange [")
    pdf[at + len(b"/ByteRange ") : at + len(b"/ByteRange ") + len(br)] = br
    der = _cms(bytes(pdf[:start]) + bytes(pdf[end:]), key, cert, ca, datetime.now(timezone.utc))
    pdf[start + 1 : end - 1] = der.hex().encode().ljust(len(placeholder), b"0")
    return bytes(pdf)


_SIG_DICT = (b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /adbe.pkcs7.detached "
             b"/ByteRange [0000000000 0000000000 0000000000 0000000000] /M (D:20200101000000Z) /Contents <")


def signed_pdf(*, widget: bool = False, in_acroform: bool = True, expired: bool = True,
               reuse_xref_number: bool = False) -> bytes:
    """A one-page PDF carrying one signature (adbe.pkcs7.detached) by an unknown CA's expired certificate.

    widget=False: the signature field has no widget at all (no /Rect, on no page's /Annots) — a signature
    without widget, as some signers write them. in_acroform=False: the signed widget sits only on the
    page's /Annots, the form lists no field (an unusual structure viewers still show).
    reuse_xref_number: the signature comes in a second revision whose field takes the object number of the
    first revision's xref stream (as EU DSS writes; pypdf then reads the xref stream for the field)."""
    key, cert, ca = foreign_identity(expired=expired)
    placeholder = b"0" * 8192
    form = b"/AcroForm << /Fields [6 0 R] /SigFlags 3 >> " if in_acroform else b""
    annots = b"/Annots [6 0 R] " if widget or not in_acroform else b""
    widget_part = b"/Type /Annot /Subtype /Widget /Rect [300 80 500 160] /F 4 /P 3 0 R " if widget or not in_acroform else b""
    field = b"<< /FT /Sig /T (Foreign) /V 7 0 R " + widget_part + b">>"
    sig = _SIG_DICT + placeholder + b"> >>"
    if reuse_xref_number:
        base = build(simple(), xref="stream")  # its xref stream is object 6
        objs = {1: simple(catalog_extra=form)[1], 6: field, 7: sig}
        if annots:
            objs[3] = simple(page_extra=annots)[3]
        return _fill_signature(bytearray(update(base, objs, size=8)), placeholder, key, cert, ca)
    objs = simple(catalog_extra=form, page_extra=annots)
    objs[6], objs[7] = field, sig
    return _fill_signature(bytearray(build(objs)), placeholder, key, cert, ca)


ALL = {
    "size_below_highest": size_below_highest,
    "duplicate_numbers": duplicate_numbers,
    "offset_header": offset_header,
    "offset_header_relative": lambda: offset_header(relative=True),
    "broken_xref_none": lambda: broken_xref("none"),
    "broken_xref_garbage": lambda: broken_xref("garbage"),
    "broken_xref_startxref": lambda: broken_xref("startxref"),
    "pdfa1b": pdfa1b,
    "box_negative": lambda: odd_boxes("negative"),
    "box_crop": lambda: odd_boxes("crop"),
    "box_userunit": lambda: odd_boxes("userunit"),
    "box_rotate": lambda: odd_boxes("rotate"),
    "box_inherited": lambda: odd_boxes("inherited"),
    "need_appearances": need_appearances,
    "signed_without_widget": lambda: signed_pdf(widget=False),
    "signed_widget_outside_form": lambda: signed_pdf(in_acroform=False),
    "signed_reused_xref_number": lambda: signed_pdf(reuse_xref_number=True),
}
