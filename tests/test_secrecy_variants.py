"""Every variant class of the labelled secrecy set (bench/secrecy_corpus.py, one sample per class) through
inspect(), through the CLI (`gateway check`) and through a door (the portal hook's :check over real HTTP).

The full set (about 300 documents) and the figures are in bench/bench_secrecy.py; this is the subset that
keeps each class honest in the test suite.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from bench import secrecy_corpus
from gateway.inspect import marks
from gateway.model import Channel, Document

SMALL = secrecy_corpus.small()


@pytest.fixture(scope="module")
def variant_set(tmp_path_factory) -> dict[str, Path]:
    directory = Path(tmp_path_factory.mktemp("secrecy-set"))
    return {s.name: p for s, p in secrecy_corpus.generate(directory, SMALL)}


@pytest.fixture(scope="module")
def plain_settings(tmp_path_factory):
    from gateway.settings import load_settings

    return load_settings(var_dir=tmp_path_factory.mktemp("var"))


def test_the_subset_covers_every_class():
    classes = {s.cls for s in secrecy_corpus.samples()}
    assert {s.cls for s in SMALL} == classes and len(classes) >= 40
    assert len(secrecy_corpus.samples()) >= 200


@pytest.mark.parametrize("sample", SMALL, ids=lambda s: s.cls)
def test_inspect_sees_each_variant(sample, variant_set, plain_settings):
    from gateway.inspect import inspect
    from gateway.validation import Validator

    path = variant_set[sample.name]
    facts = inspect(Document(Channel.CLI, path.name, path=path), plain_settings, Validator(plain_settings))
    level = marks.highest(f.level for f in facts.secrecy)
    if sample.grainy:
        # seen through grain or noise: the mark read, or the document refused as too grainy; never released
        codes = {r.code for r in facts.incomplete}
        assert codes <= {"SCAN_TOO_GRAINY"}, facts.incomplete
        if sample.level:
            assert level is not None or codes, "a grainy marked scan would be released"
        else:
            assert level is None and codes, (facts.secrecy, facts.incomplete)
        return
    assert (level.value if level else None) == sample.level, (facts.secrecy, facts.incomplete)
    assert set(sample.marks) <= {m.value for m in facts.marks}
    if not sample.level:
        assert not facts.incomplete, facts.incomplete  # a negative is read completely, not refused as unread


# --- through the CLI and a door (real token: the decision log needs the dev environment) -------------------


@pytest.fixture
def cli_env(dev_settings, tmp_path, monkeypatch):
    monkeypatch.delenv("KYSO_CONFIG", raising=False)
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(dev_settings.var_dir))
    monkeypatch.setenv("GATEWAY_AUDIT__PATH", str(tmp_path / "log" / "audit.sqlite3"))
    return tmp_path


def _expect_block(sample) -> bool:
    return bool(sample.level)


def _wrong(sample, outcome) -> bool:
    """A grainy or noisy scan is refused as too grainy when its mark is not read: never signed."""
    if sample.grainy:
        return outcome not in ({"block", "reject"} if sample.level else {"reject"})
    return (outcome == "block") != _expect_block(sample)


@pytest.mark.hsm
def test_every_class_through_the_cli(cli_env, variant_set, capsys):
    from gateway.cli import main

    paths = [str(variant_set[s.name]) for s in SMALL]
    main(["check", *paths, "--json"])
    out = capsys.readouterr().out
    rows = json.loads(out)
    rows = rows["documents"] if isinstance(rows, dict) and "documents" in rows else rows
    by_file = {Path(r["file"]).name: r for r in rows}
    wrong = []
    for s in SMALL:
        row = by_file[variant_set[s.name].name]
        if _wrong(s, row["outcome"]):
            wrong.append((s.cls, row["outcome"], [r["code"] for r in row["reasons"]]))
    assert not wrong, wrong


@pytest.mark.hsm
def test_every_class_through_the_portal_door(dev_settings, variant_set, tmp_path):
    from gateway.engine import Engine
    from publish_support import RunningDoor, http_settings

    settings = http_settings(dev_settings, tmp_path, max_upload_bytes=16 * 1024 * 1024, request_seconds=120)
    wrong = []
    # one worker, in this process: the variants were read above in this process, and the door's engine answers
    # the same bytes from the reading kept (gateway.inspect.memo), as a running gateway does; what is tested
    # here is the door (upload, decision, answer), not a second OCR of every scan in a child (40 s)
    with Engine(settings, workers=1) as engine:
        door = RunningDoor(settings, engine)
        try:
            with httpx.Client(base_url=door.url, headers=door.headers, timeout=120) as c:
                for s in SMALL:
                    body = variant_set[s.name].read_bytes()
                    r = c.post("/v1/documents:check", content=body)
                    outcome = r.json().get("outcome") if r.headers.get("content-type", "").endswith("json") else None
                    if _wrong(s, outcome):
                        wrong.append((s.cls, r.status_code, outcome, r.text[:200]))
        finally:
            door.stop()
    assert not wrong, wrong


# After the door tests above, which answer the variants from the readings this process kept: this one forgets them.
def test_an_earlier_document_does_not_hide_a_lying_fonts_mark(variant_set, plain_settings):
    """Glyphs are read on shared sheets, and what they read as is remembered: after a document in the same face
    (the circulation sample), the lying glyph that draws "Ậ" was read as nothing on its sheet, and the lying
    line passed as honest ("M T"). A line whose font lies somewhere, with a glyph read as nothing, is read by
    eye whole."""
    from gateway.inspect import inspect, ocr

    ocr.forget()  # what earlier tests read in this process is not part of this case
    by_class = {s.cls: variant_set[s.name] for s in SMALL}
    for cls in ("circulation", "lying-prose"):
        path = by_class[cls]
        facts = inspect(Document(Channel.CLI, path.name, path=path), plain_settings, None)
    assert marks.highest(f.level for f in facts.secrecy).value == "MẬT", (facts.secrecy, facts.incomplete)


# --- limits fail closed ---------------------------------------------------------------------------------------


def _long_scan(variant_set, tmp_path, marked_first: bool) -> Path:
    """A text page (with or without a mark) followed by several scanned pages: OCR outlasts a short budget."""
    from pypdf import PdfReader, PdfWriter

    first = next(s for s in SMALL if s.cls == ("stamp-boxed" if marked_first else "neg-plain"))
    # unmarked scans after an unmarked page: whether OCR reads one page or five in the time, nothing is seen
    scanned = next(s for s in SMALL if s.cls == ("scanned-pdf" if marked_first else "neg-scanned"))
    w = PdfWriter()
    w.append(PdfReader(variant_set[first.name]))
    for i in range(6):
        w.append(PdfReader(variant_set[scanned.name]))
        # each scan a little larger: six different pictures (OCR reads the same pixels only once per process)
        w.pages[-1].scale_by(1.0 + 0.03 * (i + 1))
    out = tmp_path / f"long-{marked_first}.pdf"
    with open(out, "wb") as fh:
        w.write(fh)
    return out


@pytest.mark.parametrize("marked_first", [True, False])
def test_a_reading_cut_short_is_never_released(marked_first, variant_set, tmp_path):
    """Out of time in the middle of OCR: REJECT as not read completely, or BLOCK when a mark was seen."""
    from gateway.inspect import inspect
    from gateway.model import Outcome
    from gateway.policy import load_policies
    from gateway.settings import load_settings
    from gateway.validation import Validator

    # 3 s: the text page is read on a loaded machine too; six scanned pages (over 1 s each) are not
    settings = load_settings(var_dir=tmp_path / "var", limits={"document_seconds": 3.0})
    path = _long_scan(variant_set, tmp_path, marked_first)
    from gateway.inspect import ocr

    ocr.forget()  # nothing of these pages read before, in this process
    facts = inspect(Document(Channel.CLI, path.name, path=path), settings, Validator(settings))
    assert {"SECRECY_SCAN_INCOMPLETE", "TIME_LIMIT"} & {r.code for r in facts.incomplete}, facts.incomplete
    decision = load_policies(settings.policy.dir).decide(Document(Channel.CLI, path.name, path=path), facts)
    assert decision.outcome is (Outcome.BLOCK if marked_first else Outcome.REJECT)
    assert bool(facts.secrecy) is marked_first


def test_ocr_unavailable_is_a_refusal_not_a_pass(variant_set, plain_settings, monkeypatch):
    """No Tesseract data: a scan cannot be read, so it is refused with its own code (never signed unread)."""
    from gateway.inspect import inspect, ocr
    from gateway.validation import Validator

    monkeypatch.setattr(ocr, "_ENGINE", None)
    monkeypatch.setattr(ocr, "_UNAVAILABLE", None)
    monkeypatch.setenv("TESSDATA_PREFIX", "/nonexistent")
    monkeypatch.setattr(ocr, "tessdata_dir", lambda: None)
    scanned = next(s for s in SMALL if s.cls == "scanned-pdf")
    path = variant_set[scanned.name]
    facts = inspect(Document(Channel.CLI, path.name, path=path), plain_settings, Validator(plain_settings))
    assert [r.code for r in facts.incomplete] == ["OCR_UNAVAILABLE"] and not facts.secrecy


def test_an_image_that_cannot_be_decoded_is_refused_without_showing_paths(tmp_path, plain_settings):
    """OCR_FAILED names the failure, never the gateway's work path (a clerk reads it; it tells where the
    gateway keeps its files)."""
    from gateway.inspect import inspect

    bad = tmp_path / "anh.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + bytes(range(256)) * 8)
    facts = inspect(Document(Channel.CLI, bad.name, path=bad), plain_settings)
    assert facts.incomplete and not facts.secrecy
    for r in facts.incomplete:
        assert str(tmp_path) not in str(r.params) and "/" not in r.args.get("detail", ""), r


@pytest.mark.parametrize("px", [40, 96, 160, 400])
def test_large_letters_in_an_image_are_read(px, tmp_path, plain_settings):
    """A mark written large across an image (a photographed stamp, a poster-sized TỐI MẬT) is read at every
    size: Tesseract reads letters about 20-80 px high, larger ones at a reduction (96 px was read as nothing)."""
    from PIL import Image, ImageDraw, ImageFont

    from gateway.inspect import inspect
    from gateway.model import SecrecyLevel

    font = ImageFont.truetype(str(secrecy_corpus._font_file("LiberationSans-Bold.ttf")), px)
    img = Image.new("RGB", (int(px * 5.5), int(px * 2.2)), "white")
    ImageDraw.Draw(img).text((px // 2, px // 2), "TỐI MẬT", fill=(20, 20, 20), font=font)
    path = tmp_path / f"dau-{px}.png"
    img.save(path)
    facts = inspect(Document(Channel.CLI, path.name, path=path), plain_settings)
    assert [f.level for f in facts.secrecy] == [SecrecyLevel.TOI_MAT], (px, facts.secrecy, facts.incomplete)


def test_a_large_photograph_in_a_docx_is_read_in_seconds(tmp_path):
    """A report with a big photograph (a 5 MB noisy JPEG, as phone photos are): read, not given up on. At full
    size its grain kept Tesseract busy for minutes, and the .docx was refused for time (TIME_LIMIT)."""
    import io
    import os

    import docx
    from docx.shared import Cm
    from PIL import Image

    from gateway.inspect import inspect
    from gateway.settings import load_settings

    d = docx.Document()
    d.add_paragraph("Báo cáo kết quả kiểm tra thực địa.")
    photo = io.BytesIO()
    Image.frombytes("RGB", (2300, 2300), os.urandom(2300 * 2300 * 3)).save(photo, "JPEG", quality=92)
    photo.seek(0)
    d.add_picture(photo, width=Cm(15))
    path = tmp_path / "bao-cao-anh.docx"
    d.save(path)
    settings = load_settings(var_dir=tmp_path / "var", limits={"document_seconds": 20.0})
    facts = inspect(Document(Channel.CLI, path.name, path=path), settings)
    assert facts.incomplete == () and not facts.secrecy, facts.incomplete


def _without_to_unicode(path: Path, text: str, per_glyph: bool) -> Path:
    """A page stamped `text` (bold, 16 pt) above a line of body text, its fonts stripped of /ToUnicode: what
    a person reads is the stamp, what the text layer says is control codes and stray letters."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    from util import _register_fonts

    serif, bold = _register_fonts()
    c = canvas.Canvas(str(path.with_suffix(".src.pdf")), pagesize=A4)
    x = 400
    for ch in (text if per_glyph else [text]):  # per glyph: one text object a letter, as some producers write
        c.setFont(bold, 16)
        c.drawString(x, 780, ch)
        x += c.stringWidth(ch, bold, 16)
    c.setFont(serif, 12)
    c.drawString(72, 700, "Kính gửi các cơ quan, đơn vị trong tỉnh.")
    c.save()
    w = PdfWriter(clone_from=PdfReader(str(path.with_suffix(".src.pdf"))))
    for page in w.pages:
        for f in page["/Resources"]["/Font"].values():
            f.get_object().pop(NameObject("/ToUnicode"), None)
    w.write(str(path))
    return path


@pytest.mark.parametrize("per_glyph", [False, True])
def test_a_mark_in_a_font_without_unicode_is_read_as_a_person_sees_it(per_glyph, tmp_path, plain_settings):
    """A font without /ToUnicode: "TỐI MẬT" extracts as "T\\x01I MT". The text objects whose glyphs have no
    letter are read by OCR (merged when each letter is its own object); it was signed as unmarked."""
    from gateway.inspect import inspect
    from gateway.model import SecrecyLevel

    marked = _without_to_unicode(tmp_path / "mat.pdf", "TỐI MẬT", per_glyph)
    facts = inspect(Document(Channel.CLI, marked.name, path=marked), plain_settings)
    assert [f.level for f in facts.secrecy] == [SecrecyLevel.TOI_MAT], (facts.secrecy, facts.incomplete)
    plain = _without_to_unicode(tmp_path / "thuong.pdf", "CÔNG VĂN", per_glyph)
    facts = inspect(Document(Channel.CLI, plain.name, path=plain), plain_settings)
    assert not facts.secrecy and facts.incomplete == ()


def test_a_picture_inside_html_as_a_data_uri_is_read(tmp_path, plain_settings):
    """An HTML mail body or page shows its data: URI pictures in place: a stamp drawn there BLOCKs (it was
    relayed unread); a plain logo the same way passes; an undecodable one is not read, so refused."""
    import base64
    import io

    from PIL import Image, ImageDraw, ImageFont

    from gateway.inspect import inspect
    from gateway.model import SecrecyLevel

    def page(text: str | None) -> str:
        img = Image.new("RGB", (360, 120), "white")
        if text:
            font = ImageFont.truetype(str(secrecy_corpus._font_file("LiberationSans-Bold.ttf")), 48)
            ImageDraw.Draw(img).text((40, 30), text, fill=(200, 0, 0), font=font)
        buf = io.BytesIO()
        img.save(buf, "PNG")
        return (f"<html><body><p>Kính gửi các đơn vị</p><img alt='' src=\"data:image/png;base64,"
                f"{base64.b64encode(buf.getvalue()).decode()}\"></body></html>")

    def facts(markup: str, name: str, mail: bool):
        path = tmp_path / name
        body = markup.encode()
        if mail:
            body = (b"From: a@dev.test\r\nTo: b@dev.test\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
                    b"Content-Type: text/html; charset=utf-8\r\n\r\n" + body + b"\r\n")
        path.write_bytes(body)
        return inspect(Document(Channel.CLI, name, path=path), plain_settings)

    def levels(f):
        out = [x.level for x in f.secrecy]
        for m in f.members:
            out += levels(m.facts)
        return out

    for mail in (False, True):
        name = "thu.eml" if mail else "trang.html"
        assert SecrecyLevel.TOI_MAT in levels(facts(page("TỐI MẬT"), name, mail)), mail
        clean = facts(page(None), name, mail)
        assert not levels(clean) and clean.incomplete == (), (mail, clean.incomplete)
    broken = facts("<html><body><img src=\"data:image/png;base64,%%%\"></body></html>", "hong.html", False)
    assert broken.incomplete, broken


# --- how a picture is stored or lit says nothing about what it shows ---------------------------------------


def _page_image(variant_set, name: str):
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(variant_set[name]))
    try:
        return doc[0].render(scale=200 / 72).to_pil().convert("L")
    finally:
        doc.close()


def test_pure_noise_on_a_text_page_is_not_read_but_writing_under_uneven_light_is(variant_set, tmp_path, plain_settings):
    """The bench's 1 MB page (a line of text over an uncompressed picture of pure noise) holds nothing to read
    and is not refused; a clean marked scan photographed under uneven light (no uniform background until the
    light is evened out), stored uncompressed on a page with a line of text, is still read and BLOCKed."""
    import numpy as np
    from PIL import Image

    from bench.common import make_pdf
    from gateway.inspect import inspect
    from gateway.validation import Validator

    noise = make_pdf(tmp_path / "noise.pdf", 1024 * 1024)
    facts = inspect(Document(Channel.CLI, noise.name, path=noise), plain_settings, Validator(plain_settings))
    assert not facts.secrecy and not facts.incomplete, facts.incomplete

    marked = next(s for s in SMALL if s.cls == "scanned-pdf")
    gray = np.asarray(_page_image(variant_set, marked.name), dtype=np.float32)
    h, w = gray.shape
    lit = gray * np.linspace(0.4, 1.0, w)[None, :] * np.linspace(0.75, 1.0, h)[:, None]
    img = Image.fromarray(lit.astype(np.uint8), "L")
    from gateway.inspect import ocr

    assert ocr.legible(img) is None  # the light alone defeats the plain test
    path = tmp_path / "lit.pdf"
    secrecy_corpus._scan_on_text_page(img, path, "raw")
    facts = inspect(Document(Channel.CLI, path.name, path=path), plain_settings, Validator(plain_settings))
    level = marks.highest(f.level for f in facts.secrecy)
    assert level is not None and level.value == marked.level, (facts.secrecy, facts.incomplete)


# --- what the object walk does not reach is still read (the rendered page is the reference) ---------------


def _stamp_pdf(path: Path, word: str, how: str) -> Path:
    """A text page (two lines of Helvetica) with a boxed stamp of `word` drawn `how`: "nested" (an image in a
    form 12 forms deep), "pattern-image" or "pattern-text" (a tiling pattern's cell fills the stamp's box)."""
    import zlib

    from PIL import Image, ImageDraw, ImageFont

    st = Image.new("L", (480, 200), 255)
    d = ImageDraw.Draw(st)
    d.rectangle((5, 5, 474, 194), outline=0, width=10)
    d.text((50, 30), word, font=ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 100), fill=0)
    data = zlib.compress(st.tobytes())
    image = (b"<< /Type /XObject /Subtype /Image /Width 480 /Height 200 /ColorSpace /DeviceGray /BitsPerComponent 8"
             b" /Filter /FlateDecode /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
    body = (b"BT /F1 11 Tf 72 700 Td (Cong van ve viec trien khai ke hoach nam 2026) Tj 0 -16 Td "
            b"(Noi dung chinh cua van ban duoc trinh bay tai day) Tj ET")

    def stream(ops: bytes, head: bytes = b"") -> bytes:
        return b"<< %s /Length %d >>\nstream\n" % (head, len(ops)) + ops + b"\nendstream"

    extra = [image]
    if how == "nested":
        depth = 12
        for k in range(depth):
            ops = b"q 120 0 0 50 400 760 cm /X Do Q" if k == 0 else b"/X Do"
            extra.append(stream(ops, b"/Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources << /XObject << /X %d 0 R >> >>" % (6 + k)))
        resources, ops = b"/XObject << /F %d 0 R >>" % (6 + depth), b"/F Do " + body
    else:
        cell = (b"q 120 0 0 50 0 0 cm /I Do Q" if how == "pattern-image"
                else b"BT /F1 30 Tf 5 12 Td (%s) Tj ET 2 w 1 1 118 48 re S" % word.encode("ascii", "replace"))
        extra.append(stream(cell, b"/Type /Pattern /PatternType 1 /PaintType 1 /TilingType 1 /BBox [0 0 120 50] "
                                  b"/XStep 600 /YStep 900 /Resources << /XObject << /I 6 0 R >> /Font << /F1 3 0 R >> >> "
                                  b"/Matrix [1 0 0 1 400 760]"))
        resources, ops = b"/Pattern << /P1 7 0 R >>", b"q /Pattern cs /P1 scn 400 760 120 50 re f Q " + body
    bodies = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
              b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
              b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 5 0 R /Resources << /Font << /F1 3 0 R >> %s >> >>" % resources,
              stream(ops), *extra]
    from bench.common import write_pdf

    return write_pdf(path, bodies)


@pytest.mark.parametrize("how", ["nested", "pattern-image", "pattern-text"])
def test_a_stamp_the_object_walk_does_not_reach_is_read(how, tmp_path, plain_settings):
    """A stamp in a form nested deeper than the walk goes, or in a tiling pattern's cell, on a page with
    text: a person sees it; it was signed unread. Now the rendered page shows ink nothing accounts for, and
    that ink is read. A harmless word drawn the same way is read too, and blocks nothing."""
    from gateway.inspect import inspect
    from gateway.validation import Validator

    marked = _stamp_pdf(tmp_path / f"{how}.pdf", "MẬT" if how != "pattern-text" else "MAT", how)
    facts = inspect(Document(Channel.CLI, marked.name, path=marked), plain_settings, Validator(plain_settings))
    level = marks.highest(f.level for f in facts.secrecy)
    assert level is not None and level.value == "MẬT", (facts.secrecy, facts.incomplete)
    plain = _stamp_pdf(tmp_path / f"{how}-plain.pdf", "KHẨN" if how != "pattern-text" else "KHAN", how)
    facts = inspect(Document(Channel.CLI, plain.name, path=plain), plain_settings, Validator(plain_settings))
    assert not facts.secrecy and not facts.incomplete, (facts.secrecy, facts.incomplete)


@pytest.mark.hsm
def test_a_lying_stamp_in_hollow_letters_is_refused_not_signed(cli_env, tmp_path, capsys):
    """A lying font's TỐI MẬT drawn as outlines only (text render mode 1): Tesseract reads hollow letters
    as doubled strokes ("TTỐII MIẬT"), so what the line shows is not known and the document is refused as
    not read completely (SECRECY_SCAN_INCOMPLETE), through the CLI. The same line filled is read: BLOCK."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from gateway.cli import main

    regular, _ = secrecy_corpus._register("DejaVuSerif")
    font = secrecy_corpus._lying_font("TỐI MẬT", "DejaVuSerif", tmp_path)
    paths = []
    for mode in (1, 0):
        path = tmp_path / f"mode{mode}.pdf"
        c = canvas.Canvas(str(path), pagesize=A4)
        c.setFont(regular, 11)
        for i in range(8):
            c.drawString(80, 700 - 15 * i, "Thực hiện chỉ đạo của Ủy ban nhân dân tỉnh về việc tăng cường công tác.")
        c.setStrokeColorRGB(0.85, 0.05, 0.05)
        c.setFillColorRGB(0.85, 0.05, 0.05)
        t = c.beginText(200, 765)
        t.setTextRenderMode(mode)
        t.setFont(font, 14)
        t.textOut(secrecy_corpus._lying_text("TỐI MẬT"))
        c.drawText(t)
        c.save()
        paths.append(str(path))
    main(["check", *paths, "--json"])
    rows = json.loads(capsys.readouterr().out)
    rows = rows["documents"] if isinstance(rows, dict) and "documents" in rows else rows
    by_file = {Path(r["file"]).name: r for r in rows}
    hollow, filled = by_file["mode1.pdf"], by_file["mode0.pdf"]
    assert hollow["outcome"].upper() == "REJECT" and "SECRECY_SCAN_INCOMPLETE" in [r["code"] for r in hollow["reasons"]]
    assert filled["outcome"].upper() == "BLOCK"


def test_a_font_mapping_a_letter_twice_is_read_by_eye_also_in_the_child_process(variant_set):
    """Large files are read in a child process: the fonts' maps read in the worker (twins.by_page) go with
    them. A "T" said "Z" in Liberation Sans Bold has the "Z"'s box to 0.019 em: only the map shows it."""
    import time

    from pypdf import PdfReader

    from gateway.inspect import pdftext, twins

    path = variant_set[next(s.name for s in SMALL if s.cls == "lying-twin-box")]
    found = twins.by_page(PdfReader(path))
    assert any("Z" in letters for letters in found[0].values())

    def read(given):
        doc = pdftext.read_in_child(str(path), deadline=time.monotonic() + 120, max_chars=1_000_000, twins=given)
        assert not doc.incomplete
        return [line.text for page in doc.pages for line in page.lines if line.where.startswith("ocr")]

    assert any("MẬT" in text for text in read(found))
    assert not any("MẬT" in text for text in read(None))


def test_a_page_of_more_new_glyphs_than_the_cap_is_read_by_eye_not_one_by_one(variant_set, plain_settings,
                                                                                  monkeypatch):
    """Past fonts.MAX_NEW_GLYPHS glyphs not read before on a page (a CJK page draws thousands), their lines go
    to the eye instead of one sheet of thousands of glyphs: the lying twin is still found."""
    from gateway.inspect import claimed, fonts, inspect
    from gateway.validation import Validator

    read_one_by_one = []
    monkeypatch.setattr(fonts, "MAX_NEW_GLYPHS", 3)
    monkeypatch.setattr(fonts, "_read", lambda pictures: read_one_by_one.append(len(pictures)) or [""] * len(pictures))
    fonts.forget()
    claimed.forget()
    path = variant_set[next(s.name for s in SMALL if s.cls == "lying-twin")]
    facts = inspect(Document(Channel.CLI, path.name, path=path), plain_settings, Validator(plain_settings))
    assert not read_one_by_one
    assert facts.secrecy and not facts.incomplete
