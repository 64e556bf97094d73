"""Pictures read as viewers show them, not as their samples are stored (adversarial review C, H1-H4).

Each hostile class is BLOCKed and an honest twin of the same construction (a harmless word) is released, so
each test can fail both ways:
- an image document whose colour is uniform and whose transparency draws the mark (RGBA PNG, palette GIF
  with a transparent index; white writing on a transparent ground, seen on a dark theme);
- an EXIF orientation (mirrored, turned) that every viewer applies;
- a JPEG whose EXIF thumbnail (what file managers and mail clients show) carries the mark;
- a PDF image whose samples are uniform but whose /SMask, stencil /Mask, colour-key /Mask or soft-mask
  graphics state draws the mark; and a blank image of the same pixel size drawn before the marked one.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from util import blocked, released

pytestmark = pytest.mark.hsm

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
MARK, HONEST = "TỐI MẬT", "ĐÃ DUYỆT"
SIZE = (560, 130)  # a small picture: the file's checks stay cheap


def _writing(word: str, ink: int = 255, ground: int = 0):
    """A grey picture of `word` (`ink` on `ground`)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", SIZE, ground)
    ImageDraw.Draw(img).text((20, 25), word, font=ImageFont.truetype(FONT, 64), fill=ink)
    return img


# --- image documents ------------------------------------------------------------------------------------------


def _alpha_png(word: str, path: Path) -> Path:
    from PIL import Image

    img = Image.new("RGB", SIZE, (0, 0, 0))
    img.putalpha(_writing(word))  # black everywhere; only the alpha draws the word
    img.save(path)
    return path


def _palette_gif(word: str, path: Path) -> Path:
    from PIL import Image

    img = Image.new("P", SIZE, 0)
    img.putpalette([0, 0, 0] * 2 + [0] * 762)  # index 0 transparent black, 1 opaque black
    img.paste(1, mask=_writing(word).point(lambda v: 255 if v > 127 else 0))
    img.save(path, transparency=0)
    return path


def _white_on_clear(word: str, path: Path) -> Path:
    from PIL import Image

    img = Image.new("RGB", SIZE, (255, 255, 255))
    img.putalpha(_writing(word))  # white letters on a transparent ground: shown on a dark theme
    img.save(path)
    return path


def _oriented(word: str, path: Path, orientation: int, method) -> Path:
    from PIL import Image

    upright = _writing(word, ink=0, ground=255)
    exif = Image.Exif()
    exif[0x0112] = orientation
    upright.transpose(method).save(path, exif=exif.tobytes())  # `method` is its own inverse
    return path


def _thumbnailed(word: str, path: Path) -> Path:
    """A blank JPEG whose EXIF IFD1 thumbnail (160 x 40, as cameras write them small) shows `word`."""
    from PIL import Image

    buf = io.BytesIO()
    _writing(word, ink=0, ground=255).resize((280, 65)).convert("RGB").save(buf, "JPEG", quality=95)
    thumb = buf.getvalue()

    def ifd(entries, next_offset):
        out = struct.pack(">H", len(entries))
        for tag, kind, value in entries:
            out += struct.pack(">HHI", tag, kind, 1)
            out += struct.pack(">HH", value, 0) if kind == 3 else struct.pack(">I", value)
        return out + struct.pack(">I", next_offset)

    ifd1_at = 8 + 2 + 12 + 4
    thumb_at = ifd1_at + 2 + 12 * 3 + 4
    tiff = b"MM\x00*" + struct.pack(">I", 8) + ifd([(0x0112, 3, 1)], ifd1_at)
    tiff += ifd([(0x0103, 3, 6), (0x0201, 4, thumb_at), (0x0202, 4, len(thumb))], 0) + thumb
    app1 = b"Exif\x00\x00" + tiff
    buf = io.BytesIO()
    Image.new("RGB", (400, 300), "white").save(buf, "JPEG", quality=90)
    main = buf.getvalue()
    path.write_bytes(main[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + main[2:])
    return path


def _transposed(orientation: int, suffix: str):
    from PIL import Image

    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 5: Image.Transpose.TRANSPOSE}[orientation]
    return lambda word, path: _oriented(word, path.with_suffix(suffix), orientation, method)


IMAGES = {
    "rgba_alpha_only.png": _alpha_png,
    "palette_transparent.gif": _palette_gif,
    "white_on_transparent.png": _white_on_clear,
    "exif_orientation_5.jpg": _transposed(5, ".jpg"),
    "exif_orientation_2.png": _transposed(2, ".png"),
    "exif_thumbnail.jpg": _thumbnailed,
}


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_image_read_as_shown(pipeline, tmp_path, name):
    make = IMAGES[name]
    assert blocked(pipeline, make(MARK, tmp_path / name)), name
    assert released(pipeline, make(HONEST, tmp_path / f"honest_{name}"))


# --- PDF images drawn through a mask --------------------------------------------------------------------------

TEXT = b"BT /F1 14 Tf 72 760 Td (Cong van so 12/UBND - V/v bao cao dinh ky) Tj ET"
PLACED = b" q 300 0 0 70 100 500 cm /Im1 Do Q"


def _stream(entries: bytes, data: bytes) -> bytes:
    data = zlib.compress(data)
    return b"<< " + entries + b" /Filter /FlateDecode /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def _image(img, entries: bytes = b"", colours: bytes = b"/DeviceGray") -> bytes:
    head = b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace " % img.size + colours
    return _stream(head + b" /BitsPerComponent 8 " + entries, img.tobytes())


def _pdf(objects: dict[int, bytes], content: bytes, resources: bytes = b"/XObject << /Im1 10 0 R >>") -> bytes:
    """One A4 page with a line of text (Helvetica) and `content`; objects from 10 up."""
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> "
               + resources + b" >> /Contents 4 0 R >>",
            4: _stream(b"", TEXT + content), 5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"}
    objs.update(objects)
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objs[num] + b"\nendobj\n"
    xref = len(out)
    size = max(objs) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for num in range(1, size):
        out += b"%010d 00000 n \n" % offsets[num] if num in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return bytes(out)


def _black():
    from PIL import Image

    return Image.new("L", SIZE, 0)


def _smask(word: str) -> bytes:
    return _pdf({10: _image(_black(), b"/SMask 11 0 R "), 11: _image(_writing(word))}, PLACED)


def _stencil_mask(word: str) -> bytes:
    stencil = _writing(word, ink=0, ground=255).convert("1")  # 1 masks out: the ground
    mask = _stream(b"/Type /XObject /Subtype /Image /Width %d /Height %d /ImageMask true /BitsPerComponent 1"
                   % SIZE, stencil.tobytes())
    return _pdf({10: _image(_black(), b"/Mask 11 0 R "), 11: mask}, PLACED)


def _colour_key(word: str) -> bytes:
    near = _writing(word).point(lambda v: 0 if v > 127 else 1)  # 0 and 1 of 255: uniform to the eye
    return _pdf({10: _image(near, b"/Mask [1 1] ")}, PLACED)


def _soft_mask_state(word: str) -> bytes:
    """A uniform black image painted through an ExtGState luminosity soft mask whose group draws `word`."""
    group = _stream(b"/Type /XObject /Subtype /Form /BBox [0 0 595 842] /Group << /S /Transparency /CS "
                    b"/DeviceGray >> /Resources << /XObject << /M 12 0 R >> >>", b"q 300 0 0 70 100 500 cm /M Do Q")
    return _pdf({10: _image(_black().resize((50, 12))), 11: group, 12: _image(_writing(word)),
                 13: b"<< /Type /ExtGState /SMask << /Type /Mask /S /Luminosity /G 11 0 R /BC [0] >> >>"},
                b" q /G1 gs 300 0 0 70 100 500 cm /Im1 Do Q",
                b"/XObject << /Im1 10 0 R >> /ExtGState << /G1 13 0 R >>")


def _blank_twin_first(word: str) -> bytes:
    """A blank image drawn before one of the same pixel size showing `word`."""
    from PIL import Image

    blank = Image.new("L", SIZE, 255)
    return _pdf({10: _image(blank), 11: _image(_writing(word, ink=0, ground=255))},
                b" q 300 0 0 70 100 600 cm /Im1 Do Q q 300 0 0 70 100 300 cm /Im2 Do Q",
                b"/XObject << /Im1 10 0 R /Im2 11 0 R >>")


PDFS = {
    "smask.pdf": _smask,
    "stencil_mask.pdf": _stencil_mask,
    "colour_key_mask.pdf": _colour_key,
    "soft_mask_state.pdf": _soft_mask_state,
    "blank_twin_first.pdf": _blank_twin_first,
}


@pytest.mark.parametrize("name", sorted(PDFS))
def test_pdf_image_read_as_shown(pipeline, tmp_path, name):
    hostile, honest = tmp_path / name, tmp_path / f"honest_{name}"
    hostile.write_bytes(PDFS[name](MARK))
    honest.write_bytes(PDFS[name](HONEST))
    assert blocked(pipeline, hostile), name
    assert released(pipeline, honest)


# --- writing turned: a page fed into the scanner the wrong way round, a stamp pressed upside down -------------


def _sheet(word: str, stamp_turn: int = 0):
    """A grey A6 sheet at 200 dpi: a heading, five lines of prose and a framed stamp `word`, the stamp turned
    `stamp_turn` degrees."""
    from PIL import Image, ImageDraw, ImageFont

    body = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 22)
    page = Image.new("L", (827, 1165), 255)
    draw = ImageDraw.Draw(page)
    draw.text((60, 60), "ỦY BAN NHÂN DÂN TỈNH", font=body, fill=0)
    for k in range(6):
        draw.text((60, 420 + 48 * k), "Nội dung báo cáo tình hình thực hiện nhiệm vụ.", font=body, fill=0)
    stamp = _writing(word, ink=0, ground=255)
    framed = Image.new("L", (stamp.width + 16, stamp.height + 16), 0)
    framed.paste(stamp, (8, 8))
    page.paste(framed.rotate(stamp_turn, expand=True), (200, 200))
    return page


TURNED = {
    "page-upside-down.pdf": lambda w: _sheet(w).rotate(180),
    "page-on-its-side.pdf": lambda w: _sheet(w).rotate(90, expand=True),
    "stamp-upside-down.pdf": lambda w: _sheet(w, 180),
    "page-upside-down.png": lambda w: _sheet(w).rotate(180),
}


@pytest.mark.parametrize("name", sorted(TURNED))
def test_writing_turned_is_read_turned_upright(pipeline, tmp_path, name):
    """Tesseract reads only upright writing: a scanned page upside down or on its side, or a stamp pressed upside
    down on an upright page, was signed with "TỐI MẬT" on it (a person turns the paper and reads it)."""
    for word, hostile in ((MARK, True), (HONEST, False)):
        path = tmp_path / f"{'h' if hostile else 'c'}-{name}"
        image = TURNED[name](word)
        if name.endswith(".pdf"):
            image.save(path, "PDF", resolution=200)
        else:
            image.save(path, "PNG", dpi=(200, 200))
        assert blocked(pipeline, path) if hostile else released(pipeline, path), (name, word)
