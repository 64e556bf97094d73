"""The fast paths added for speed give exactly what the slow ones gave (issues 12, 13, 17: speed goals).

Each fast path stands beside a plain reference computed here: strict base64 (pybase64 first, binascii's strict
mode as the reference), the line-end check on large messages (the three counts as the reference), the index of
a message kept from its reading for the rebuilder (a fresh index as the reference; another message is never
served from it), and the placement's band-only rendering (content just below the band still keeps the block
away).
"""

from __future__ import annotations

import base64
import binascii
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from gateway.inspect import message as mail
from gateway.inspect import mime

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _reference_b64(body: bytes):
    try:
        return binascii.a2b_base64(body.translate(None, b" \t\r\n"), strict_mode=True)
    except binascii.Error:
        return "refused"


def _fast_b64(body: bytes):
    try:
        return mime.strict_base64(body)
    except binascii.Error:
        return "refused"


@hsettings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=40).map(lambda b: bytes(ALPHABET[x % 64] if x < 200 else b"=\r\n -!\x00"[x % 7] for x in b)))
def test_strict_base64_is_binascii_strict(body):
    assert _fast_b64(body) == _reference_b64(body)


def test_strict_base64_on_mail_bodies():
    rng = random.Random(5)
    for _ in range(300):
        data = os.urandom(rng.randint(0, 3000))
        body = base64.encodebytes(data).replace(b"\n", b"\r\n")
        assert mime.strict_base64(body) == data
        if body.strip():
            i = rng.randrange(len(body))
            broken = body[:i] + bytes([rng.choice(b"=!-_\x00")]) + body[i + 1 :]
            assert _fast_b64(broken) == _reference_b64(broken)
    # what binascii's strict mode refuses, refused here too (data after the padding, bad padding, junk)
    for bad in (b"QUJD=QUJD", b"QUJ", b"QU!D", b"=QUJD", b"QUJDRA=="[:-1]):
        assert _fast_b64(bad) == _reference_b64(bad) == "refused"


def _counts(raw: bytes) -> bool:
    crlf = raw.count(b"\r\n")
    return raw.count(b"\n") == crlf and raw.count(b"\r") == crlf


@pytest.mark.parametrize("where", ["start", "middle", "end", "none"])
@pytest.mark.parametrize("stray", [b"\n", b"\r", b"\r\r\n", b"\n\r"])
def test_line_end_check_on_large_messages(where, stray):
    """Above 64 KB the check is vectorised: one bare CR or LF anywhere is still found (the message is then
    normalised, so the next hop gets the bytes that were read)."""
    body = b"Content-Type: text/plain\r\n\r\n" + b"QUJDRA" * 40 + b"\r\n"
    raw = body * 400  # ~100 KB of CRLF lines
    assert len(raw) > 1 << 16
    at = {"start": 0, "middle": len(raw) // 2 + 3, "end": len(raw) - 2, "none": None}[where]
    if at is not None:
        raw = raw[:at] + stray + raw[at:]
    assert mime.all_crlf(raw) is _counts(raw)
    out = mime.normalise(raw)
    assert _counts(out)
    if at is None:
        assert out is raw  # nothing to change: the same object, not a copy


def _mail(subject: str, attachment: bytes) -> bytes:
    return (
        b"From: a@b.example\r\nTo: c@d.example\r\nSubject: " + subject.encode() + b"\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nxin chao\r\n"
        b"--B\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(attachment).replace(b"\n", b"\r\n") + b"--B--\r\n"
    )


def _read(tmp_path, raw: bytes, settings):
    from gateway.inspect.members import Extraction

    p = tmp_path / f"m{abs(hash(raw))}.eml"
    p.write_bytes(raw)
    ex = Extraction.under(tmp_path / "work", settings)
    items = list(mail.members(p, ex))
    ex.close()
    return items


def test_rebuilder_index_is_the_readings_only_for_the_same_bytes(tmp_path, dev_settings):
    a = _mail("A", b"%PDF-1.4 first " + os.urandom(3000))
    b = _mail("B", b"%PDF-1.4 second " + os.urandom(3000))
    _read(tmp_path, a, dev_settings)
    # another message is indexed afresh, never served from what was kept of the first
    parsed, leaves = mail.leaves_by_location(b, {"mime:2"})
    assert parsed.raw == b
    assert leaves["mime:2"].content.startswith(b"%PDF-1.4 second ")
    # the same bytes: the reading's own index, once; afterwards a fresh one, with the same leaves
    _read(tmp_path, a, dev_settings)
    kept = mail._INDEXED.take(a)
    assert kept is not None and kept[0].raw == a
    assert mail._INDEXED.take(a) is None
    _read(tmp_path, a, dev_settings)
    parsed1, leaves1 = mail.leaves_by_location(a, {"mime:2"})
    parsed2, leaves2 = mail.leaves_by_location(a, {"mime:2"})
    assert leaves1["mime:2"].content == leaves2["mime:2"].content and leaves1["mime:2"].location == leaves2["mime:2"].location
    assert (leaves1["mime:2"].part.body_start, leaves1["mime:2"].part.end) == (leaves2["mime:2"].part.body_start, leaves2["mime:2"].part.end)


def test_placement_keeps_clear_of_content_just_below_the_band(tmp_path):
    """Only the top band is rendered, with the clearance below it: a block at the band's foot keeps its
    distance from a line drawn just under the band."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from gateway.signing import placement as pl

    w, h = A4
    band_pt = int(h * pl.SCALE * pl.TOP_BAND) / pl.SCALE  # the band's height in points, as view() computes it
    path = tmp_path / "band.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFillGray(0)
    # the band is full except a 40 pt slot at its foot; a rule 1 pt under the band
    c.rect(0, h - (band_pt - 40), w, band_pt - 40, stroke=0, fill=1)
    c.rect(0, h - band_pt - 2, w, 1, stroke=0, fill=1)
    c.save()
    from pypdf import PdfReader

    page = PdfReader(str(path)).pages[0]
    crop = tuple(float(v) for v in page.mediabox)
    v = pl.view(path, 0, page, crop)
    assert v.occupied is not None and v.band > 0
    assert v.occupied.shape[0] > v.band  # the clearance below the band was rendered too
    # a block as tall as the slot fits only by touching the rule under the band: refused
    assert pl.free_rect(v, 200, 39, margin_right=20, margin_top=20) is None
    # one that leaves the clearance fits, and its foot keeps CLEARANCE from the rule
    rect = pl.free_rect(v, 200, 30, margin_right=20, margin_top=20)
    assert rect is not None
    assert rect[3] <= band_pt + 1 - pl.CLEARANCE + 1 / pl.SCALE
    assert rect[1] >= band_pt - 40 - 1 / pl.SCALE


def test_placement_darkest_channel_is_numpys_min_over_the_channels(tmp_path):
    """The pairwise minimum of the rendered channels is numpy's min over them (the reference), pale yellow
    and pale cyan ink included."""
    import numpy as np
    import pypdfium2 as pdfium
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from gateway.signing import placement as pl

    path = tmp_path / "colours.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    for i, rgb in enumerate([(1, 1, 0.6), (0.6, 1, 1), (1, 0.2, 0.2), (0.1, 0.5, 0.9), (0, 0, 0)]):
        c.setFillColorRGB(*rgb)
        c.rect(40 + 100 * i, 700, 80, 80, stroke=0, fill=1)
        c.drawString(40 + 100 * i, 680, "Văn bản")
    c.save()
    fast = pl.render_page(path, 0, 400.0)
    pdf = pdfium.PdfDocument(str(path))
    try:
        ref = pdf[0].render(scale=pl.SCALE, draw_annots=True, may_draw_forms=True, crop=(0, 400.0, 0, 0)).to_numpy()
        ref = ref.min(axis=2)
    finally:
        pdf.close()
    assert fast.dtype == np.uint8 and fast.shape == ref.shape
    assert np.array_equal(fast, ref)
    assert (fast < 250).sum() > 5 * 80 * 80 * (pl.SCALE ** 2) * 0.9  # the five squares are content


@pytest.mark.parametrize("width", [60, 64, 76, 77])
def test_strict_base64_on_large_regular_and_damaged_bodies(width):
    """Bodies over 64 KB in lines of one width take the strided way; a blank, a short line, junk or padding
    inside them makes no difference to the result."""
    rng = random.Random(width)
    data = os.urandom(100_000 + width)
    flat = base64.b64encode(data)
    body = b"\r\n".join(flat[i : i + width] for i in range(0, len(flat), width)) + b"\r\n"
    assert mime._regular_lines(body) == flat
    assert mime.strict_base64(body) == data
    for damage in (b" ", b"\t", b"\r\n", b"=", b"!", b"\n", b"\r"):
        for _ in range(4):
            i = rng.randrange(len(body))
            broken = body[:i] + damage + body[i:]
            assert _fast_b64(broken) == _reference_b64(broken), (damage, i)
            broken = body[:i] + damage + body[i + 1 :]
            assert _fast_b64(broken) == _reference_b64(broken), (damage, i)


def test_raw_hints_only_for_what_a_pdf_reader_opens():
    """The raw JavaScript and /ByteRange hints are looked for in files whose head a PDF reader opens (junk
    before the header included, and past the first chunk); other files are hashed and measured only."""
    import io

    from gateway.inspect import CHUNK, _stream_scan

    filler = b"% filler\n" * (CHUNK // 9 + 10)
    late = filler + b"<< /S /JavaScript /JS (x) >> << /ByteRange [0 1 2 3] >>\n%%EOF\n"
    for head in (b"%PDF-1.7\n", b"junk before the header " * 10 + b"%PDF-1.4\n"):
        scan = _stream_scan(io.BytesIO(head + late))
        assert scan.js_hint and scan.sig_hint
        assert scan.size == len(head + late)
    mail_text = b"Subject: x\r\n\r\n" + b"a" * 2000 + late
    scan = _stream_scan(io.BytesIO(mail_text))
    assert not scan.js_hint and not scan.sig_hint
    import hashlib

    assert scan.size == len(mail_text) and scan.sha256 == hashlib.sha256(mail_text).hexdigest()
    # a file shorter than the PDF window: undecided, so looked at
    assert _stream_scan(io.BytesIO(b"/ByteRange")).sig_hint
    # a hint cut in two by the chunk boundary is still seen, each on its own
    for hint, attr in ((b"/ByteRange", "sig_hint"), (b"/S /JavaScript ", "js_hint")):
        for cut in (1, 4, len(hint) - 1):
            data = b"%PDF-1.7\n" + b"x" * (CHUNK - 9 - cut) + hint + b"\n%%EOF\n"
            scan = _stream_scan(io.BytesIO(data))
            assert getattr(scan, attr) and not getattr(scan, "js_hint" if attr == "sig_hint" else "sig_hint")


def _sha(b: bytes) -> str:
    import hashlib

    return hashlib.sha256(b).hexdigest()


@pytest.mark.parametrize("kind", ["message", "zip"])
def test_rebuilt_container_read_back_refuses_what_was_not_meant(tmp_path, dev_settings, kind):
    """The read-back check compares members in memory (mail) or from files (archives): a changed byte, a
    missing or reordered member, or a .p7s over other bytes is refused, and nothing is left behind."""
    import zipfile

    from gateway.signing.containers import ContainerOutputRejected, Expected, check_rebuilt

    body = b"xin chao\r\n"
    pdf = b"%PDF-1.4 " + os.urandom(2000)
    if kind == "message":
        path, media = tmp_path / "out.eml", "message/rfc822"
        path.write_bytes(_mail("A", pdf))
        members = [("", body[:-2]), ("a.pdf", pdf)]  # the CRLF before a boundary is the delimiter's
    else:
        path, media = tmp_path / "out.zip", "application/zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("b.txt", body)
            zf.writestr("a.pdf", pdf)
        members = [("b.txt", body), ("a.pdf", pdf)]
    good = [Expected(n, _sha(c)) for n, c in members]
    check_rebuilt(path, media, good, dev_settings)
    if kind == "message":  # what is read back is never rebuilt again: not kept for the rebuilder
        assert mail._INDEXED.take(path.read_bytes()) is None
    for bad in (
        [good[0], Expected(good[1].name, _sha(pdf + b"x"))],  # a member's bytes differ
        [good[1], good[0]],  # order
        good[:1],  # one missing
        [*good, Expected("a.pdf.p7s", _sha(b"none"), "cades")],  # a .p7s that is not there
    ):
        with pytest.raises(ContainerOutputRejected):
            check_rebuilt(path, media, bad, dev_settings)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # the read-back leaves nothing


def test_rebuilt_message_p7s_is_verified_in_memory(tmp_path, dev_settings):
    """A detached signature put beside a mail's attachment is verified again over the attachment read back
    (both kept in memory): over other bytes, refused."""
    from gateway.signing.containers import ContainerOutputRejected, Expected, check_rebuilt
    from gateway.signing.check import OutputRejected, SignatureNotVerified
    from gateway.signing import OrgSigner

    content = b"plain bytes of an attachment " + os.urandom(500)
    src = tmp_path / "att.bin"
    src.write_bytes(content)
    signer = OrgSigner(dev_settings)
    try:
        signer.sign_detached(src, tmp_path / "att.p7s")
    finally:
        signer.close()
    p7s = (tmp_path / "att.p7s").read_bytes()

    def mail_with(att: bytes) -> bytes:
        return (
            b"From: a@b.example\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
            b"--B\r\nContent-Type: application/octet-stream; name=\"att.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(att).replace(b"\n", b"\r\n")
            + b"--B\r\nContent-Type: application/pkcs7-signature; name=\"att.bin.p7s\"\r\n"
            b"Content-Disposition: attachment; filename=\"att.bin.p7s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(p7s).replace(b"\n", b"\r\n") + b"--B--\r\n"
        )

    out = tmp_path / "m.eml"
    out.write_bytes(mail_with(content))
    expected = [Expected("att.bin", _sha(content)), Expected("att.bin.p7s", _sha(p7s), "cades")]
    check_rebuilt(out, "message/rfc822", expected, dev_settings)
    other = content[:-1] + bytes([content[-1] ^ 1])
    out.write_bytes(mail_with(other))
    with pytest.raises((ContainerOutputRejected, OutputRejected, SignatureNotVerified)):
        check_rebuilt(out, "message/rfc822", [Expected("att.bin", _sha(other)), expected[1]], dev_settings)


def test_rebuilder_keeps_the_senders_lines_only_when_they_are_plain_base64():
    """The sender's base64 lines for the unchanged start of a signed PDF are kept only when they are plain
    base64 (checked by a strided copy and pybase64): the same answer as removing the alphabet with
    bytes.translate, whatever byte is damaged."""
    from gateway.signing import message as rb

    alphabet = ALPHABET
    rng = random.Random(11)
    for width in (60, 64, 76):
        stride, lines = width + 2, 50
        flat = base64.b64encode(os.urandom(width // 4 * 3 * lines))
        prefix = b"".join(flat[i * width : (i + 1) * width] + b"\r\n" for i in range(lines))
        assert rb._alphabet_only(prefix, width, lines)
        for junk in (b"=", b"!", b" ", b"\x00", b"-", b"_"):
            i = rng.randrange(len(prefix))
            if i % stride >= width:
                continue
            damaged = prefix[:i] + junk + prefix[i + 1 :]
            reference = damaged.translate(None, alphabet) == b"\r\n" * lines
            assert rb._alphabet_only(damaged, width, lines) is reference is False
        assert not rb._alphabet_only(prefix[:-1], width, lines)  # not whole lines: not kept


def test_ocr_reads_the_same_pixels_once_per_process(monkeypatch):
    """A picture met again (a letterhead in every letter of a template) is answered from what Tesseract read
    the first time: the same lines. Other pixels, or another mode, are read."""
    from PIL import Image, ImageDraw

    from gateway.inspect import ocr

    try:
        eng = ocr.engine()
    except ocr.OcrUnavailable:
        pytest.skip("no Tesseract here")
    calls = []
    real = type(eng).lines
    monkeypatch.setattr(type(eng), "lines", lambda self, image, sparse, block=False, symbols=False: calls.append(1) or real(self, image, sparse, block, symbols))
    ocr.forget()

    def picture(text: str):
        img = Image.new("L", (900, 160), 255)
        ImageDraw.Draw(img).text((20, 40), text, fill=0, font_size=48)
        return img

    first = ocr.recognise(picture("TOI MAT 123"))
    again = ocr.recognise(picture("TOI MAT 123"))
    assert again == first and len(calls) == 1
    ocr.recognise(picture("TOI MAT 124"))
    ocr.recognise(picture("TOI MAT 123").convert("RGB"))
    assert len(calls) == 3
    dpi = picture("TOI MAT 123")
    dpi.info["dpi"] = (150, 150)  # given to Tesseract as the source resolution: another reading
    ocr.recognise(dpi)
    assert len(calls) == 4
    ocr.forget()
    assert ocr.recognise(picture("TOI MAT 123")) == first and len(calls) == 5


def test_noise_with_writing_in_it_is_told_from_pure_noise():
    """Pure noise (the bench's picture) holds nothing; the same noise with writing drawn into it at 150 dpi,
    where averaging 4 x 4 pixels loses the strokes with the noise, is UNREAD (refused, never passed); a smooth
    picture is neither. The grey pixels taken from PDFium as numpy decide as the PIL image does."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from gateway.inspect import ocr

    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (1754 // 2, 1240 // 2), dtype=np.uint8)
    assert ocr._hidden_in_noise(noise) is False
    assert ocr._hidden_in_noise(Image.fromarray(noise)) is False
    page = Image.new("L", (noise.shape[1], noise.shape[0]), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 16)
    for i in range(30):
        draw.text((40, 40 + 26 * i), "Nội dung báo cáo dòng số %d của văn bản." % i, font=font, fill=0)
    a = np.asarray(page)
    written = np.where(a < 128, a, noise)
    assert ocr._hidden_in_noise(written) == ocr.UNREAD
    smooth = np.tile(np.linspace(0, 255, noise.shape[1]).astype(np.uint8), (noise.shape[0], 1))
    assert ocr._hidden_in_noise(smooth) is False
    for arr in (noise, written, a):
        assert ocr.legible(arr) == ocr.legible(Image.fromarray(arr))
        assert bool(ocr._prepare(Image.fromarray(arr), clean=False, grey=arr)) == bool(
            ocr._prepare(Image.fromarray(arr), clean=False))


def test_looking_for_unaccounted_ink_leaves_the_page_as_it_was(tmp_path):
    """`_unaccounted` renders the page with its known images hidden (a zero matrix each): afterwards the page
    renders exactly as before (its regions are rendered for OCR next), and the hidden picture of the bench
    PDF is not taken for unaccounted ink."""
    import numpy as np
    import pypdfium2 as pdfium

    from bench.common import make_pdf
    from gateway.inspect import ocr, pdftext

    path = make_pdf(tmp_path / "page.pdf", 300 * 1024)
    pdf = pdfium.PdfDocument(str(path))
    try:
        text, page = pdftext.read_page(pdf, 0)
        try:
            before = page.render(scale=1).to_numpy().copy()
            assert ocr._unaccounted(page, text) == []
            after = page.render(scale=1).to_numpy().copy()
            assert np.array_equal(before, after)
            assert before.min() < 50  # the picture is drawn
        finally:
            page.close()
    finally:
        pdf.close()


@pytest.mark.parametrize("seed", [34, 112, 793])
def test_a_small_picture_of_pure_noise_is_never_taken_for_writing(seed):
    """A 1024 x 96 picture of pure noise (a 100 KB bench PDF) averaged over 4 x 4 pixels strays far from its
    mean in a few pixels by chance: with these seeds that was taken for writing seen through grain, the
    picture read, and the document refused as too grainy (bench_containers' smoke run failed on a fresh
    clone). Writing shows hundreds of such pixels."""
    import numpy as np
    from PIL import Image

    from gateway.inspect import ocr

    a = np.random.default_rng(seed).integers(0, 256, (96, 1024), dtype=np.uint8)
    assert ocr._prepare(Image.fromarray(a), clean=False, grey=a) == []
    assert ocr._hidden_in_noise(a) is False


def test_a_tables_rules_are_not_unaccounted_ink(tmp_path):
    """A table's rules, cut short once its text is masked, were taken for writing: one region per cell, read
    by OCR (a pdf.js test page: 192 regions, 6 s). Rules are left out on the whole page first."""
    import pypdfium2 as pdfium
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import SimpleDocTemplate, Table, TableStyle

    from gateway.inspect import ocr, pdftext

    path = tmp_path / "table.pdf"
    data = [[chr(65 + (r * 8 + c) % 26) for c in range(20)] for r in range(12)]  # a row's letters: one line
    table = Table(data, colWidths=24, rowHeights=34)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 1.5, (0, 0, 0)), ("FONTSIZE", (0, 0), (-1, -1), 9)]))
    SimpleDocTemplate(str(path), pagesize=A4).build([table])
    pdf = pdfium.PdfDocument(str(path))
    try:
        text, page = pdftext.read_page(pdf, 0)
        try:
            assert text.chars >= 240
            assert ocr._unaccounted(page, text) == []
        finally:
            page.close()
    finally:
        pdf.close()


def test_a_photograph_of_pure_noise_is_read_not_refused():
    """A JPEG of pure noise (the 5 MB .docx of bench_smtp holds one) is grainy and shows no writing: its own
    pixels are uncorrelated noise, so it is not refused as too grainy (it was, for a while: the bench's
    .docx mails got 550)."""
    import io
    import time

    import numpy as np
    from PIL import Image

    from gateway.inspect import ocr

    rng = np.random.default_rng(5)
    photo = Image.fromarray(rng.integers(0, 256, (700, 700, 3), dtype=np.uint8), "RGB")
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=92)
    buf.seek(0)
    reading = ocr.read_image(buf, "image/jpeg", time.monotonic() + 120)
    assert reading.incomplete == (), reading.incomplete


def test_touching_images_are_one_region_and_many_images_one_union():
    """Tiles edge to edge become one region without own pixels (read as rendered); a picture apart keeps its
    own; past MAX_SEPARATE_IMAGES the page's images are one region (the merge is quadratic)."""
    from gateway.inspect import pdftext as pt

    tiles = [pt.Ink("image", (0.0, 10.0 * r, 100.0, 10.0 * (r + 1)), (400, 40)) for r in range(10)]
    apart = pt.Ink("image", (300.0, 300.0, 350.0, 350.0), (200, 200))
    out = pt._touching_images(tiles + [apart])
    assert sorted((i.box, i.pixels) for i in out) == [((0.0, 0.0, 100.0, 100.0), None), (apart.box, apart.pixels)]
    many = [pt.Ink("image", (float(i % 50) * 10, float(i // 50) * 10, float(i % 50) * 10 + 5, float(i // 50) * 10 + 5),
                   (20, 20)) for i in range(pt.MAX_SEPARATE_IMAGES + 1)]
    assert [i.box for i in pt._touching_images(many)] == [(0.0, 0.0, 495.0, 65.0)]


def test_a_page_that_cannot_be_looked_at_whole_is_unread_not_passed(tmp_path, monkeypatch):
    """When the look for ink beyond the text and pictures fails, the page is unread (OCR_FAILED): the
    document is refused, never signed on what the text layer alone says."""
    from bench.common import make_pdf
    from gateway.inspect import ocr, pdftext

    def broken(page, scale):
        raise RuntimeError("render failed")

    monkeypatch.setattr(ocr, "_render_without_images", broken)
    path = make_pdf(tmp_path / "page.pdf", 60 * 1024)
    import time

    reading = pdftext.read(str(path), deadline=time.monotonic() + 60)
    assert [r.code for r in reading.incomplete] == ["OCR_FAILED"]


def _short_lines_pdf(path, lines: list[str], pages: int = 1):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    from util import _register_fonts

    serif, bold = _register_fonts()
    c = canvas.Canvas(str(path), pagesize=A4)
    for _ in range(pages):
        y = 780
        for text in lines:
            c.setFont(bold if len(text) < 20 else serif, 13)
            c.drawString(72, y, text)
            y -= 40
        c.showPage()
    c.save()
    return path


def test_short_lines_that_cannot_be_read_by_eye_leave_the_page_unread(tmp_path, monkeypatch):
    """The short lines a stamp could be are read by OCR (a text layer may lie: claimed.py). When that fails,
    the page is unread (OCR_FAILED), never passed on what the text layer says."""
    import time

    from gateway.inspect import claimed, pdftext

    def broken(page, text, lines, deadline):
        raise RuntimeError("render failed")

    monkeypatch.setattr(claimed, "read", broken)
    path = _short_lines_pdf(tmp_path / "short.pdf", ["CÔNG VĂN", "Kính gửi các cơ quan, đơn vị trong tỉnh để biết."])
    reading = pdftext.read(str(path), deadline=time.monotonic() + 60)
    assert [r.code for r in reading.incomplete] == ["OCR_FAILED"]


def test_the_short_lines_of_a_page_are_read_once_and_prose_is_not(tmp_path, monkeypatch):
    """Short lines (a stamp's width) are read by eye, each line's pixels once per process: a header on every
    page is read on the first. A line of prose is not (its width is many times its height). A reading that
    says what the text layer says adds no line."""
    import time

    from gateway.inspect import claimed, ocr, pdftext

    prose = "Thực hiện chỉ đạo của Ủy ban nhân dân tỉnh về việc tăng cường công tác quản lý nhà nước."
    path = _short_lines_pdf(tmp_path / "pages.pdf", ["BÁO CÁO", "Số: 12/BC-UBND", prose], pages=3)
    sheets: list[int] = []
    real = claimed._read_sheet
    monkeypatch.setattr(claimed, "_read_sheet", lambda images: sheets.append(len(images)) or real(images))
    ocr.forget()
    reading = pdftext.read(str(path), deadline=time.monotonic() + 60)
    assert sheets == [2]  # page 1's two short lines; pages 2 and 3 show the same pixels
    assert not [l.text for p in reading.pages for l in p.lines if l.where.startswith("ocr:")]
    read = [t for known in claimed._READ.values() for t, _, _ in known]
    assert "BÁO CÁO" in read and not [t for t in read if "Thực hiện" in t], read


@pytest.mark.parametrize("grey", [0.0, 0.7])
def test_a_font_that_lies_about_a_pale_stamp_is_read_by_eye(grey, tmp_path):
    """A font whose glyphs for "qwz" draw "MẬT" (its map and its cmap lie alike): the text layer says "qwz",
    a person reads MẬT, in black or in pale grey (0.7: light enough that a fixed threshold of 160 took it
    for background). pdftotext (an independent reader) shows the lie."""
    import subprocess
    import time

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from bench import secrecy_corpus as sc
    from gateway.inspect import marks, pdftext

    sc._register("DejaVuSans")
    font = sc._lying_font("MẬT", "DejaVuSans", tmp_path)
    path = tmp_path / "lie.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFont("KDejaVuSans", 12)
    for i in range(6):
        c.drawString(72, 700 - 18 * i, "Dòng nội dung của công văn gửi các đơn vị trực thuộc để biết và thực hiện.")
    c.setFillColorRGB(grey, grey, grey)
    c.setFont(font, 16)
    c.drawString(90, 760, sc._lying_text("MẬT"))
    c.save()
    shown = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "qwz" in shown and "MẬT" not in shown
    reading = pdftext.read(str(path), deadline=time.monotonic() + 60)
    found = marks.scan_lines([l for p in reading.pages for l in p.lines], "page")
    assert found.level is not None and found.level.value == "MẬT", reading.pages[0].lines


def test_a_glyph_learnt_honest_does_not_vouch_for_a_liar(tmp_path):
    """Lines whose every glyph looks like one already read as its text layer says are not read again
    (claimed._SEEN). A font that draws "MẬT" but says "WỘY" (letters of about the same width and height),
    read after a page where "WỘY" is honest in the same face and size: the lying glyphs look like M, Ậ, T,
    never seen saying W, Ộ, Y, so the line is read."""
    import time

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from bench import secrecy_corpus as sc
    from gateway.inspect import claimed, marks, ocr, pdftext

    regular, bold = sc._register("DejaVuSans")
    liar = sc._lying_font("MẬT", "DejaVuSans", tmp_path, fake="WỘY")

    def page(path, font, word):
        c = canvas.Canvas(str(path), pagesize=A4)
        c.setFont(regular, 12)
        c.drawString(72, 700, "Dòng nội dung của công văn gửi các đơn vị trực thuộc để biết và thực hiện.")
        for i, w in enumerate(["WỘY", "BỘ WỘY", word]):
            c.setFont(font if i == 2 else bold, 16)
            c.drawString(90, 780 - 26 * i, w)
        c.save()
        return path

    ocr.forget()
    honest = page(tmp_path / "honest.pdf", bold, "WỘY")
    reading = pdftext.read(str(honest), deadline=time.monotonic() + 60)
    assert marks.scan_lines(reading.pages[0].lines, "page").level is None
    assert {"W", "Ộ", "Y"} <= set(claimed._SEEN)  # learnt
    lying = page(tmp_path / "lying.pdf", liar, "WỘY")
    reading = pdftext.read(str(lying), deadline=time.monotonic() + 60)
    found = marks.scan_lines(reading.pages[0].lines, "page")
    assert found.level is not None and found.level.value == "MẬT", reading.pages[0].lines


def test_ink_beside_the_glyphs_of_a_line_means_it_is_read_whole():
    """A line is skipped only when all its ink lies in its glyphs' boxes: a frame, an underline or a word drawn
    over the line by something else (a nested form, a pattern) makes it read, however well its glyphs are known."""
    import numpy as np

    from gateway.inspect import claimed

    grey = np.full((40, 120), 255, dtype=np.uint8)
    grey[10:30, 10:25] = 0  # the glyph
    glyphs = (("I", (1.0, 0.0, 3.0, 4.0)),)  # points; scale 10 px a point: columns 10-30, rows 0-40
    assert claimed._shapes(grey.copy(), glyphs, 10.0, (0.0, 0.0, 12.0, 4.0)) is not None
    grey[15:25, 60:90] = 0  # ink no glyph's box holds
    assert claimed._shapes(grey, glyphs, 10.0, (0.0, 0.0, 12.0, 4.0)) is None


def _turned_lying_page(path, tmp_path, word: str, angle: int | None, colour=(0.85, 0.05, 0.05), ground=None,
                       at=(200, 640)):
    """A page of body text with `word` drawn by a lying font (the text layer says `_lying_text(word)`), turned
    `angle` degrees and laid across the body text, or (angle None) its letters stacked in a column; on a
    box filled with `ground` when given."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from bench import secrecy_corpus as sc

    regular, _ = sc._register("DejaVuSerif")
    letters = word if angle is not None else "".join(word.split())
    font = sc._lying_font(letters, "DejaVuSerif", tmp_path)
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFont(font, 14)
    if angle is None:
        if ground:
            c.setFillColorRGB(*ground)
            c.rect(34, 760 - 18 * (len(letters) - 1) - 8, 24, 18 * len(letters) + 4, stroke=0, fill=1)
        c.setFillColorRGB(*colour)
        for i, ch in enumerate(sc._lying_text(letters)):
            c.drawString(40, 760 - 18 * i, ch)
    else:
        c.saveState()
        c.translate(*at)
        c.rotate(angle)
        if ground:
            c.setFillColorRGB(*ground)
            c.rect(-6, -6, c.stringWidth(sc._lying_text(letters), font, 14) + 12, 24, stroke=0, fill=1)
        c.setFillColorRGB(*colour)
        c.drawString(0, 0, sc._lying_text(letters))
        c.restoreState()
    c.setFillColorRGB(0, 0, 0)
    c.setFont(regular, 11)
    for i in range(14):  # drawn after the stamp: its strokes cross the stamp's
        c.drawString(80, 700 - 15 * i, "Thực hiện chỉ đạo của Ủy ban nhân dân tỉnh về việc tăng cường công tác quản lý.")
    c.save()
    return path


@pytest.mark.parametrize("angle", [90, 270, 30, 135, 200, None])
def test_a_turned_or_stacked_lying_stamp_is_read_by_eye(angle, tmp_path):
    """A lying font's MẬT turned (quarter turns, any angle) across the body text, or its letters stacked in a
    column: read turned upright, in the stamp's own colour (the black text over it left out), and found.
    pdftotext (an independent reader) shows the lie."""
    import subprocess
    import time

    from gateway.inspect import marks, pdftext

    path = _turned_lying_page(tmp_path / "turned.pdf", tmp_path, "TỐI MẬT", angle)
    shown = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "MẬT" not in shown
    reading = pdftext.read(str(path), deadline=time.monotonic() + 60)
    found = marks.scan_lines([l for p in reading.pages for l in p.lines], "page")
    assert found.level is not None and found.level.value == "TỐI MẬT", [l.text for l in reading.pages[0].lines]


@pytest.mark.parametrize("angle", [0, 90, 30, 300, None])
def test_a_lying_stamp_in_white_on_red_is_read_by_eye(angle, tmp_path):
    """Light letters on a dark ground (a white-on-red stamp, upright, turned or in a column; clear of the body
    text) are turned over to ink on paper before Tesseract reads them."""
    import time

    from gateway.inspect import marks, pdftext

    path = _turned_lying_page(tmp_path / "inverse.pdf", tmp_path, "TỐI MẬT", angle, (1, 1, 1), (0.85, 0.05, 0.05),
                              at=(200, 765))  # above the body text
    reading = pdftext.read(str(path), deadline=time.monotonic() + 60)
    found = marks.scan_lines([l for p in reading.pages for l in p.lines], "page")
    assert found.level is not None and found.level.value == "TỐI MẬT", [l.text for l in reading.pages[0].lines]


@pytest.mark.parametrize("angle", [90, 30])
def test_a_turned_lying_font_that_shows_nothing_secret_is_not_blocked(angle, tmp_path):
    import time

    from gateway.inspect import marks, pdftext

    path = _turned_lying_page(tmp_path / "turned.pdf", tmp_path, "HỎA TỐC", angle)
    reading = pdftext.read(str(path), deadline=time.monotonic() + 60)
    assert [l for l in reading.pages[0].lines if l.where.startswith("ocr:")], "the turned line was not read"
    assert marks.scan_lines([l for p in reading.pages for l in p.lines], "page").level is None


def test_own_colour_keeps_the_stamp_and_drops_the_text_across_it():
    """pixels.inked: a red stroke is ink, a black one beside it is background, black crossing the red
    stroke stands for it (a person reads the stroke through); unknown colour: every colour is ink."""
    import numpy as np

    from gateway.inspect.pixels import inked

    bgr = np.full((20, 40, 3), 255, dtype=np.uint8)
    bgr[:, 5:9] = (13, 13, 217)  # a red stem (BGR)
    bgr[9:11, 0:40] = 0  # a black line across it and beyond
    grey = inked(bgr, (217, 13, 13))
    assert grey[0, 6] < 64 and grey[10, 6] < 64  # the stem, through the black line
    assert grey[10, 30] == 255  # the black line away from the stem
    assert inked(bgr, None)[10, 30] < 64


def test_a_column_of_letters_is_short_as_long_as_a_stamp_side_by_side():
    """A column of stacked letters is read by eye when its letters set side by side are no longer than a
    stamp (CLAIM_EMS): "TRẢLẠISAUKHIHỌP(HỘINGHỊ)" is; a column of a hundred letters (a table's tick marks)
    would make every sheet of the page a hundred letters wide."""
    from gateway.inspect import claimed
    from gateway.inspect.pdftext import PageText, Turn
    from gateway.inspect.reading import Line

    page = PageText(0, 595.0, 842.0)
    for n in (3, 24, 100):
        line = Line("M" * n, "page1", 0, (20.0, 50.0, 34.0, 50.0 + 18 * n), 14.0, True, False)
        page.lines.append(line)
        page.turns[line] = Turn(0, 18.0 * n, stacked=True)
    assert [len(l.text) for l in claimed.candidates(page)] == [3, 24]


@pytest.mark.parametrize("padding", ["white", "invisible"])
def test_a_lying_stamp_made_long_by_glyphs_that_show_nothing_is_read_by_eye(padding, tmp_path):
    """A lying font's TỐI MẬT on a line made 40 letters longer by glyphs drawn white, or not drawn at all
    (text render mode 3): long by its text layer, short by what it shows, so it is read by eye. A line of
    prose stays long (not read)."""
    import time

    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from bench import secrecy_corpus as sc
    from gateway.inspect import claimed, marks, pdftext

    regular, _ = sc._register("DejaVuSerif")
    font = sc._lying_font("TỐI MẬT", "DejaVuSerif", tmp_path)
    path = tmp_path / "padded.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFont(regular, 11)
    for i in range(8):
        c.drawString(80, 700 - 15 * i, "Thực hiện chỉ đạo của Ủy ban nhân dân tỉnh về việc tăng cường công tác.")
    t = c.beginText(200, 765)
    t.setFont(font, 14)
    t.setFillColorRGB(0.85, 0.05, 0.05)
    t.textOut(sc._lying_text("TỐI MẬT"))
    if padding == "white":
        t.setFillColorRGB(1, 1, 1)
    else:
        t.setTextRenderMode(3)
    t.textOut("a" * 40)
    c.drawText(t)
    c.save()
    reading = pdftext.read(str(path), deadline=time.monotonic() + 60)
    stamp = [l for l in reading.pages[0].lines if l.text.startswith(sc._lying_text("TỐI MẬT")[:3])]
    assert stamp and stamp[0].box[2] - stamp[0].box[0] > claimed.CLAIM_EMS * (stamp[0].box[3] - stamp[0].box[1])
    found = marks.scan_lines([l for p in reading.pages for l in p.lines], "page")
    assert found.level is not None and found.level.value == "TỐI MẬT", [l.text for l in reading.pages[0].lines]
    read = {l.box for l in reading.pages[0].lines if l.where.startswith("ocr:")}
    prose = [l for l in reading.pages[0].lines if l.text.startswith("Thực hiện")]
    assert prose and not any(l.box[1] == p.box[1] for l in reading.pages[0].lines if l.box in read for p in prose)


def _prose_page(path, tmp_path, word: str, lie: bool = True):
    """Ten lines of prose in one bold face, the sixth saying "Đây là tài liệu <word> của cơ quan ..." with
    <word> drawn by a lying copy of the face (its text layer says `_lying_text(word)`) when `lie`."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from bench import secrecy_corpus as sc

    _, bold = sc._register("DejaVuSerif")
    font = sc._lying_font(word, "DejaVuSerif", tmp_path) if lie else bold
    c = canvas.Canvas(str(path), pagesize=A4)
    for i in range(10):
        t = c.beginText(72, 700 - 16 * i)
        t.setFont(bold, 12)
        if i != 5:
            t.textOut("Thực hiện chỉ đạo của Ủy ban nhân dân tỉnh về việc tăng cường công tác quản lý")
        else:
            t.textOut("Đây là tài liệu ")
            t.setFont(font, 12)
            t.textOut(sc._lying_text(word) if lie else word)
            t.setFont(bold, 12)
            t.textOut(" của cơ quan, đề nghị các đơn vị bảo quản theo quy định hiện hành.")
        c.drawText(t)
    c.save()
    return path


def test_a_lying_font_inside_prose_is_read_by_its_outlines(tmp_path):
    """A lying font's MẬT inside a long line of prose: PDFium's outlines for the letters it claims ("q w z")
    are read as M, Ậ, T, so that line (and only it) is read by eye, and the mark is found. pdftotext (an
    independent reader) shows the lie."""
    import subprocess
    import time

    from gateway.inspect import claimed, marks, ocr, pdftext

    path = _prose_page(tmp_path / "prose.pdf", tmp_path, "MẬT")
    shown = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "MẬT" not in shown and "qwz" in shown
    ocr.forget()
    read: list = []
    real = claimed.read
    import unittest.mock

    with unittest.mock.patch.object(claimed, "read", lambda page, text, lines, *a: read.extend(lines) or real(page, text, lines, *a)):
        reading = pdftext.read(str(path), deadline=time.monotonic() + 60)
    found = marks.scan_lines([l for p in reading.pages for l in p.lines], "page")
    assert found.level is not None and found.level.value == "MẬT", [l.text for l in reading.pages[0].lines]
    assert [l.text[:15] for l in read] == ["Đây là tài liệu"]  # the prose around it is not read by eye


@pytest.mark.parametrize("word,lie", [("MẬT", False), ("HỎA TỐC", True)])
def test_prose_that_says_what_it_shows_or_shows_no_mark_is_not_blocked(word, lie, tmp_path):
    import time

    from gateway.inspect import marks, ocr, pdftext

    ocr.forget()
    reading = pdftext.read(str(_prose_page(tmp_path / "prose.pdf", tmp_path, word, lie)), deadline=time.monotonic() + 60)
    lines = [l for p in reading.pages for l in p.lines]
    assert not [l for l in lines if l.where.startswith("ocr:") and l.text.startswith("Thực hiện")]
    if lie:  # "HỎA TỐC" drawn, "qwz xjk" said: nothing secret either way
        assert marks.scan_lines(lines, "page").level is None


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(1, 120), cols=st.integers(1, 120), width=st.integers(1, 60), height=st.integers(1, 60),
       seed=st.integers(0, 2**32 - 1), binary=st.booleans())
def test_glyph_pictures_average_as_pillows_box_filter(rows, cols, width, height, seed, binary):
    """A glyph's picture (claimed.py's looks) is averaged with two small products, not a Pillow image per
    glyph: within one grey level of `Image.resize(size, Image.BOX)` at every size, up and down."""
    import numpy as np
    from PIL import Image

    from gateway.inspect.pixels import box_resize

    a = np.random.default_rng(seed).integers(0, 256, (rows, cols), dtype=np.uint8)
    if binary:
        a = np.where(a < 128, 0, 255).astype(np.uint8)
    want = np.asarray(Image.fromarray(a, "L").resize((width, height), Image.BOX), dtype=np.float32)
    got = box_resize(a, (width, height))
    assert got.shape == (height, width)
    assert float(np.abs(got - want).max()) <= 1.0


@pytest.mark.parametrize("shape", [(7, 9), (1000, 999), (1022, 1024), (2000, 1500)])
def test_grey_counts_are_numpys_counts_of_the_same_pixels(shape):
    """`ocr.grey_counts` (Pillow's histogram, shared by `legible` and `_light_ink`) counts what numpy counts:
    every pixel up to 1 Mpixel, every other pixel each way above; the decisions taken from shared counts are
    the ones taken from each function's own."""
    import numpy as np
    from PIL import Image

    from gateway.inspect import ocr

    rng = np.random.default_rng(shape[0])
    a = np.full(shape, 235, dtype=np.uint8)
    a[shape[0] // 3: shape[0] // 3 + 5, 2:-2] = rng.integers(150, 190, (5, shape[1] - 4), dtype=np.uint8)
    sub = a[::2, ::2] if a.size > 1_000_000 else a
    assert np.array_equal(ocr.grey_counts(a), np.bincount(sub.ravel(), minlength=256))
    assert np.array_equal(ocr.grey_counts(Image.fromarray(a)), ocr.grey_counts(a))
    counts = ocr.grey_counts(a)
    assert ocr.legible(a, counts=counts) == ocr.legible(a)
    img = Image.fromarray(a)
    shared, own = ocr._light_ink(img, a, counts), ocr._light_ink(img, a)
    assert (shared is None) == (own is None)
    if own is not None:
        assert np.array_equal(np.asarray(shared), np.asarray(own))
