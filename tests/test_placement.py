"""Placement checked by rendering (pdftoppm, an independent renderer): the pixels a visible organisation signature
adds fall only where the original page was blank — standard Decree 30 layouts, A4, A5, landscape, pages with
/Rotate 90 and 270, a CropBox, a /UserUnit, and the shared corpus; the text block reads upright; the seal is its
configured size (± 0.5 mm) over the left third of the competent person's signature, or on the signature block
found in the text when that signature is invisible (issue 14)."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

import forms_samples as fs
from util import make_pdf, pdfsig, shared_corpus, sign_as_person

from gateway.model import Appearance, DocKind
from gateway.signing import OrgSigner, PdfSignRequest
from gateway.signing import placement as pl
from gateway.signing.appearance import VN_TZ

pytestmark = pytest.mark.hsm

CORPUS = shared_corpus() / "pdf"
DPI = 72
WHITE = 240  # an original pixel at least this light counts as blank paper
T = datetime(2025, 3, 1, 9, 30, tzinfo=VN_TZ)


@pytest.fixture(scope="module")
def signer(dev_settings):
    with OrgSigner(dev_settings) as s:
        yield s


def render(pdf: Path, page: int = 1, dpi: int = DPI) -> np.ndarray:
    """Grey pixels of one page as pdftoppm draws it (annotations included)."""
    from PIL import Image

    out = subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-f", str(page), "-l", str(page), "-png",
                          str(pdf)], capture_output=True, check=True).stdout
    import io

    return np.asarray(Image.open(io.BytesIO(out)).convert("L"), dtype=np.int16)


def added_pixels(before: Path, after: Path, page: int = 1):
    a, b = render(before, page), render(after, page)
    assert a.shape == b.shape
    changed = np.abs(b - a) > 40
    return a, changed


def assert_only_on_blank(before: Path, after: Path, page: int = 1) -> np.ndarray:
    a, changed = added_pixels(before, after, page)
    over = changed & (a < WHITE)
    assert not over.any(), f"the stamp covers {int(over.sum())} content pixels of page {page}"
    return changed


def text_request(kind=DocKind.ATTACHMENT) -> PdfSignRequest:
    return PdfSignRequest(appearance=Appearance.TEXT, kind=kind, number="12/QĐ-UBND", signing_time=T)


LAYOUTS = {
    "cong-van-a4": fs.Spec(doc_type=None, number="345/UBND-VP"),
    "quyet-dinh-a4": fs.Spec(),
    "phu-luc-a4": fs.Spec(header=False, closing=False, top_lines=("PHỤ LỤC", "(Kèm theo Quyết định số 12/QĐ-UBND)")),
    "a5": fs.Spec(pagesize=fs.A5, body=fs.Spec().body[:3]),
    "landscape": fs.Spec(landscape=True, body=fs.Spec().body[:2]),
    "rotate-90": fs.Spec(landscape=True, rotate=90, body=fs.Spec().body[:2]),
    "rotate-270": fs.Spec(landscape=True, rotate=270, body=fs.Spec().body[:2]),
    "portrait-rotate-90": fs.Spec(rotate=90, body=fs.Spec().body[:2]),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_text_block_only_on_blank_paper_and_upright(signer, tmp_path, name):
    src = fs.draw(tmp_path / f"{name}.pdf", LAYOUTS[name])
    out = signer.sign_pdf(src, tmp_path / "out.pdf", text_request()).path
    changed = assert_only_on_blank(src, out)
    assert changed.any(), "no visible block"
    ys, xs = np.nonzero(changed)
    h, w = changed.shape
    # at the top of the page as displayed, wider than tall (upright lines of text), in its right part
    assert ys.max() < 0.45 * h and (xs.max() - xs.min()) > (ys.max() - ys.min())
    assert xs.max() > 0.5 * w


def test_motto_and_appendix_label_are_never_covered(signer, tmp_path):
    """The issue's case: the block used to land on the motto (box 2) of every standard document."""
    src = fs.draw(tmp_path / "cv.pdf", LAYOUTS["cong-van-a4"])
    out = signer.sign_pdf(src, tmp_path / "out.pdf", text_request()).path
    a, changed = added_pixels(src, out)
    motto_rows = np.nonzero((a < WHITE)[: a.shape[0] // 6, a.shape[1] // 2 :].any(axis=1))[0]
    assert len(motto_rows) and not changed[motto_rows.min() - 2 : motto_rows.max() + 2, a.shape[1] // 2 :].any()


def test_cropbox_and_user_unit(signer, tmp_path):
    from pypdf import PdfWriter
    from pypdf.generic import FloatObject, NameObject

    src = make_pdf(tmp_path / "base.pdf")
    w = PdfWriter(clone_from=str(src))
    page = w.pages[0]
    page.cropbox.lower_left = (40, 60)
    page.cropbox.upper_right = (560, 800)
    w.write(str(tmp_path / "crop.pdf"))
    out = signer.sign_pdf(tmp_path / "crop.pdf", tmp_path / "crop-out.pdf", text_request()).path
    assert assert_only_on_blank(tmp_path / "crop.pdf", out).any()

    w = PdfWriter(clone_from=str(src))
    w.pages[0][NameObject("/UserUnit")] = FloatObject(2.0)
    w.write(str(tmp_path / "uu.pdf"))
    out = signer.sign_pdf(tmp_path / "uu.pdf", tmp_path / "uu-out.pdf", text_request()).path
    assert assert_only_on_blank(tmp_path / "uu.pdf", out).any()


def test_a_full_page_leaves_the_signature_invisible_with_a_warning(signer, tmp_path):
    from reportlab.pdfgen import canvas

    src = tmp_path / "full.pdf"
    c = canvas.Canvas(str(src), pagesize=fs.A4)
    c.setFillGray(0.3)
    c.rect(0, 0, fs.A4[0], fs.A4[1], fill=1, stroke=0)  # a scan's grey paper, edge to edge
    c.save()
    out = signer.sign_pdf(src, tmp_path / "out.pdf", text_request()).path
    assert [r.code for r in signer.last_repairs] == ["STAMP_NO_FREE_SPACE"]
    assert not added_pixels(src, out)[1].any()


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.pdf")) if CORPUS.is_dir() else []


def test_shared_corpus_stamp_only_on_blank(signer, dev_settings, tmp_path):
    """Every corpus PDF the signer accepts: the block adds pixels only where the page was blank (or none)."""
    from gateway.errors import GatewayError

    checked = visible = 0
    for src in _corpus():
        try:
            out = signer.sign_pdf(src, tmp_path / f"{src.stem}.out.pdf", text_request()).path
        except GatewayError:
            continue  # refused (encrypted, broken, certified ...): nothing drawn
        try:
            render(src)
        except subprocess.CalledProcessError:
            continue  # poppler cannot draw the original: nothing to compare
        changed = assert_only_on_blank(src, out)
        checked += 1
        visible += bool(changed.any())
    print(f"\n[placement] corpus: {checked} signed and compared, {visible} with a visible block")
    assert checked >= 30 and visible >= checked * 0.6


# --- the seal ---------------------------------------------------------------------------------------------------


def _red(pdf: Path, page: int, dpi: int):
    from PIL import Image
    import io

    out = subprocess.run(["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-png", str(pdf)],
                         capture_output=True, check=True).stdout
    rgb = np.asarray(Image.open(io.BytesIO(out)).convert("RGB"), dtype=np.int16)
    return (rgb[..., 0] > 150) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)


def test_seal_is_its_configured_size_over_the_left_third(signer, dev_settings, tmp_path):
    src = fs.draw(tmp_path / "qd.pdf", fs.Spec())
    rect = (380, 120, 520, 190)
    person = sign_as_person(src, tmp_path / "p.pdf", dev_settings, page=0, rect=rect)
    req = PdfSignRequest(appearance=Appearance.SEAL, kind=DocKind.ISSUED, signing_time=T)
    out = signer.sign_pdf(person, tmp_path / "out.pdf", req).path
    sigs = pdfsig(out, dev_settings.paths.nssdb)
    assert len(sigs) == 2 and all(s["valid"] for s in sigs)
    dpi = 300
    red = _red(out, 1, dpi) & ~_red(person, 1, dpi)
    ys, xs = np.nonzero(red)
    mm = 25.4 / dpi
    width, height = (xs.max() - xs.min() + 1) * mm, (ys.max() - ys.min() + 1) * mm
    want = dev_settings.appearance.seal_width_mm
    print(f"\n[seal] rendered {width:.2f} x {height:.2f} mm, configured {want} mm")
    assert abs(width - want) <= 0.5 and abs(height - want) <= 0.5
    # its right edge one third into the signature widget (display x: rect is in user space, page unrotated)
    right_pt = (xs.max() + 1) * 72 / dpi
    assert abs(right_pt - (rect[0] + (rect[2] - rect[0]) / 3)) < 3


def test_seal_on_the_signature_block_when_the_signature_is_invisible(signer, dev_settings, tmp_path):
    from gateway.inspect import forms
    from gateway.inspect.pdf import analyse
    from gateway.model import Channel, Document
    import time

    src = fs.draw(tmp_path / "qd.pdf", fs.Spec())
    person = sign_as_person(src, tmp_path / "p.pdf", dev_settings, visible=False)
    with open(person, "rb") as fh:
        lines = analyse(fh, dev_settings, Document(Channel.CLI, "p.pdf", path=person), time.monotonic() + 30).lines
    form = forms.recognise(lines)
    block = form.signature_block
    assert block is not None and block.box is not None
    req = PdfSignRequest(appearance=Appearance.SEAL, kind=DocKind.ISSUED, signing_time=T,
                         signature_block=(block.page, block.box))
    out = signer.sign_pdf(person, tmp_path / "out.pdf", req).path
    red = _red(out, 1, 72)
    ys, xs = np.nonzero(red)
    assert len(xs), "no seal drawn"
    x0, top, x1, bottom = block.box
    # the seal reaches one third into the block and overlaps it vertically (like the paper seal over box 7)
    assert abs((xs.max() + 1) - (x0 + (x1 - x0) / 3)) < 4
    assert ys.min() < bottom and ys.max() > top


def test_seal_without_any_anchor_is_not_drawn_in_a_corner(signer, dev_settings, tmp_path):
    src = make_pdf(tmp_path / "x.pdf")
    person = sign_as_person(src, tmp_path / "p.pdf", dev_settings, visible=False)
    req = PdfSignRequest(appearance=Appearance.SEAL, kind=DocKind.ISSUED, signing_time=T)
    out = signer.sign_pdf(person, tmp_path / "out.pdf", req).path
    assert [r.code for r in signer.last_repairs] == ["SEAL_NO_ANCHOR"]
    assert not _red(out, 1, 72).any()


def test_placement_coordinates_round_trip():
    crop = (10.0, 20.0, 610.0, 860.0)
    for rot in (0, 90, 180, 270):
        rect = (30.0, 40.0, 130.0, 90.0)
        assert pl.to_display(pl.to_user(rect, crop, rot), crop, rot) == pytest.approx(rect)
    # /Rotate 90: the displayed top-right corner is the user-space top-left... of the rotated page
    assert pl.to_user((0, 0, 1, 1), (0, 0, 595, 842), 90) == (0, 0, 1, 1)
