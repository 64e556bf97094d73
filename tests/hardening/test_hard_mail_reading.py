"""Mail text and archives read as a recipient's software shows them (adversarial review 1, repros 05/08-11).

Each hostile class is BLOCKed (or refused: what cannot be read completely is not released) and an honest
message or archive of the same shape still passes or signs, so each test can fail both ways:
- a text part read in its declared charset (utf-7) besides the charset guessed from its bytes;
- format=flowed; delsp=yes (RFC 3676) read unflowed ("MẬ " + "T" is "MẬT");
- HTML/SVG: CSS text-transform/small-caps, bidi overrides (<bdo>, unicode-bidi, dir=rtl), CSS content:
  strings with escapes and attr(), SVG tspans placed out of source order;
- ZIP: two archives concatenated (zipfile reads the last, 7-Zip the first), data between entries or after the
  end record; while zip / 7z / Python zipfile archives (data descriptors, ZIP64, a comment) are accepted.
"""

from __future__ import annotations

import email.policy
import io
import shutil
import subprocess
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest
from util import blocked, released
from util import check_attachment as check

from gateway.model import Outcome

pytestmark = pytest.mark.hsm

BODY = "Công văn về việc họp giao ban.\n"


def eml(tmp: Path, name: str, raw: bytes) -> Path:
    p = tmp / name
    p.write_bytes(raw)
    return p


def head(ctype: str, cte: str = "8bit") -> bytes:
    return (f"From: van-thu@example.vn\r\nTo: nhan@example.vn\r\nSubject: Thong bao\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n").encode()


# --- declared charset ---------------------------------------------------------------------------------------


def test_utf7_body_is_read_in_its_declared_charset(pipeline, tmp_path):
    body = ("MẬT\r\n" + BODY).encode("utf-7")
    assert b"M+" in body  # the letters are not in the bytes as such
    assert blocked(pipeline, eml(tmp_path, "u7.eml", head("text/plain; charset=utf-7", "7bit") + body + b"\r\n"))
    # the stdlib email package (like Outlook, Roundcube) shows it in the declared charset
    m = email.message_from_bytes(eml(tmp_path, "u7.eml", head("text/plain; charset=utf-7", "7bit") + body).read_bytes(),
                                 policy=email.policy.default)
    assert m.get_content().startswith("MẬT")
    honest = ("Kính gửi anh, mật khẩu mới đã gửi.\r\n" + BODY).encode("utf-7")
    assert released(pipeline, eml(tmp_path, "u7ok.eml", head("text/plain; charset=utf-7", "7bit") + honest + b"\r\n"))


def test_utf7_html_body_and_stdlib_built_message(pipeline, tmp_path):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@example.vn", "b@example.vn", "x"
    m.set_content("<html><body><p>TỐI MẬT</p><p>" + BODY + "</p></body></html>", subtype="html", charset="utf-7")
    raw = m.as_bytes()
    assert "TỐI".encode() not in raw
    assert blocked(pipeline, eml(tmp_path, "h7.eml", raw))


# --- format=flowed --------------------------------------------------------------------------------------------


def test_format_flowed_delsp_joins_the_mark(pipeline, tmp_path):
    ctype = "text/plain; charset=utf-8; format=flowed; delsp=yes"
    hostile = head(ctype) + "MẬ \r\nT\r\n".encode() + BODY.encode() + b"\r\n"
    assert blocked(pipeline, eml(tmp_path, "fl.eml", hostile))
    honest = head(ctype) + "Kính gửi anh, cuộc họp bàn về bảo \r\nmật thông tin sẽ diễn ra.\r\n".encode()
    assert released(pipeline, eml(tmp_path, "flok.eml", honest))


# --- meeting requests and contact cards, unfolded -------------------------------------------------------------


def _folded(value: str, at: int) -> bytes:
    """`value` folded as RFC 5545 allows: a line break and a blank after byte `at`, inside a UTF-8 character."""
    raw = value.encode()
    return raw[:at] + b"\r\n " + raw[at:]


CALENDARS = {
    # a meeting request: the description folded inside "Ậ", a comma escaped
    "ics": b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:1@example.vn\r\n"
           + _folded("DESCRIPTION:Tài liệu kèm theo: TỐI MẬT\\, không phổ biến", 42)
           + "\r\nSUMMARY:Họp giao ban\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n".encode(),
    # a contact card as Outlook writes it (vCard 2.1, quoted-printable with a soft line break)
    "vcf": b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Nguyen;Van A\r\n"
           b"NOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:T=E1=BB=90I M=\r\n=E1=BA=ACT\r\nEND:VCARD\r\n",
}


@pytest.mark.parametrize("kind", sorted(CALENDARS))
def test_a_meeting_request_or_contact_card_is_read_unfolded(kind, pipeline, tmp_path):
    """Split by folding, "TỐI MẬT" is not in the text as such; a client shows the value whole (signed before),
    as an attached file and as a text/calendar part of a mail."""
    data = CALENDARS[kind]
    assert "TỐI MẬT".encode() not in data
    ctype = "text/calendar; method=REQUEST; charset=utf-8" if kind == "ics" else "text/vcard; charset=utf-8"
    assert blocked(pipeline, eml(tmp_path, f"{kind}.eml", head(ctype) + data))
    assert blocked(pipeline, eml(tmp_path, f"hop.{kind}", data))
    honest = data.replace(b"T=E1=BB=90I M=\r\n=E1=BA=ACT", b"Ph=C3=B2ng h=E1=BB=8Dp").replace(
        _folded("DESCRIPTION:Tài liệu kèm theo: TỐI MẬT\\, không phổ biến", 42),
        "DESCRIPTION:Tài liệu kèm theo\\, bảo \r\n mật thông tin".encode())
    assert released(pipeline, eml(tmp_path, f"ok.{kind}", honest))


def _b64(data: bytes, width: int = 74, indent: bytes = b" ") -> bytes:
    """`data` in base64, in lines of `width`, each after the first begun with `indent` (folded)."""
    import base64

    raw = base64.b64encode(data)
    return (b"\r\n" + indent).join(raw[i:i + width] for i in range(0, len(raw), width))


def _stamp_png(word: str) -> bytes:
    from bench.stamp_variants import DEJAVU_BOLD, stamp_picture

    out = io.BytesIO()
    stamp_picture(word, DEJAVU_BOLD).save(out, "PNG")
    return out.getvalue()


def _carried(kind: str, secret: bool, tmp: Path) -> bytes:
    """A meeting request or contact card carrying a file inline, the way `kind` writes it: a PDF attached to the
    invitation (Outlook imports it as the appointment's attachment), a contact's photo (vCard 2.1, 3.0, 4.0), an
    HTML description Outlook shows instead of the plain one (after 5,000 bytes of plain description)."""
    from util import make_pdf

    if kind == "ics-attach":
        pdf = make_pdf(tmp / "kem.pdf", ["Kính gửi các đơn vị,", "TỐI MẬT" if secret else "Thông báo", BODY.strip()])
        return (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:2@example.vn\r\n"
                b"SUMMARY:Hop giao ban\r\nATTACH;FMTTYPE=application/pdf;ENCODING=BASE64;VALUE=BINARY;"
                b"X-FILENAME=kem.pdf:" + _b64(pdf.read_bytes()) + b"\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    if kind == "ics-html":
        word = "T&#7888;I M&#7852;T" if secret else "Th&ocirc;ng b&aacute;o"
        return (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:3@example.vn\r\n"
                b"DESCRIPTION:" + _b64(b"Noi dung cuoc hop " * 300, indent=b" ").replace(b"\r\n ", b"\r\n  ")
                + b"\r\nX-ALT-DESC;FMTTYPE=text/html:<html><body><p>K&iacute;nh g&#7917;i</p><p><b>"
                + word.encode() + b"</b></p></body></html>\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    png = _stamp_png("TỐI MẬT" if secret else "Nguyễn Văn A")
    if kind == "vcf21":  # base64 lines unindented, ended by a blank line, as older phones and Outlook write it
        return (b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Nguyen;Van A\r\nPHOTO;PNG;ENCODING=BASE64:"
                + _b64(png, indent=b"") + b"\r\n\r\nEND:VCARD\r\n")
    if kind == "vcf30":
        return b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Nguyen Van A\r\nPHOTO;ENCODING=b;TYPE=PNG:" + _b64(png) + b"\r\nEND:VCARD\r\n"
    return (b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Nguyen Van A\r\nPHOTO:data:image/png;base64,"
            + _b64(png) + b"\r\nEND:VCARD\r\n")


@pytest.mark.parametrize("kind", ["ics-attach", "ics-html", "vcf21", "vcf30", "vcf40"])
def test_files_a_meeting_request_or_contact_card_carries_are_read(kind, pipeline, tmp_path):
    """What an invitation or a card carries inline is read like any document: a PDF attached to the event, a
    stamp as a contact's photo, an HTML description (signed or passed before: only the values' text was read).
    The honest twin, same shape, still leaves."""
    ctype = "text/calendar; method=REQUEST; charset=utf-8" if kind.startswith("ics") else "text/vcard; charset=utf-8"
    suffix = "ics" if kind.startswith("ics") else "vcf"
    hostile = _carried(kind, True, tmp_path)
    assert "TỐI MẬT".encode() not in hostile
    assert blocked(pipeline, eml(tmp_path, f"{kind}.eml", head(ctype) + hostile))
    assert blocked(pipeline, eml(tmp_path, f"{kind}.{suffix}", hostile))
    assert released(pipeline, eml(tmp_path, f"ok-{kind}.{suffix}", _carried(kind, False, tmp_path)))


def test_an_inline_file_that_does_not_decode_is_not_released(pipeline, tmp_path):
    card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nPHOTO;ENCODING=b;TYPE=PNG:iVBORw0KGgo*&^%\r\nEND:VCARD\r\n"
    outcome, codes = check(pipeline, eml(tmp_path, "bad.vcf", card))
    assert outcome is Outcome.REJECT and "DOCUMENT_UNREADABLE" in codes, (outcome, codes)
    binary = card.replace(b"ENCODING=b;", b"VALUE=BINARY;")  # binary with no encoding: nobody decodes it
    outcome, codes = check(pipeline, eml(tmp_path, "bin.vcf", binary))
    assert outcome is Outcome.REJECT and "DOCUMENT_UNREADABLE" in codes, (outcome, codes)


@pytest.mark.parametrize("ctype", ["text/enriched", "text/richtext"])
def test_enriched_text_is_read_as_rendered(ctype, pipeline, tmp_path):
    """Mail clients render text/enriched and text/richtext: formatting commands between letters vanish
    ("T<bold>Ố</bold>I M<italic>Ậ</italic>T" shows "TỐI MẬT"; passed before), a lone line break is a blank."""
    hostile = head(f"{ctype}; charset=utf-8") + "<bold>T</bold>ỐI M<italic>Ậ</italic>T\r\n\r\n".encode() + BODY.encode()
    assert blocked(pipeline, eml(tmp_path, "en.eml", hostile))
    honest = head(f"{ctype}; charset=utf-8") + "Cuộc họp về <bold>bảo</bold>\r\n<italic>mật</italic> thông tin.\r\n".encode()
    assert released(pipeline, eml(tmp_path, "enok.eml", honest))


# --- HTML / SVG as drawn --------------------------------------------------------------------------------------


HOSTILE_HTML = {
    "caps": '<p style="text-transform:uppercase;text-align:center"><b>mật</b></p>',
    "smallcaps": '<style>.k{font-variant:small-caps}</style><p class="k">tối mật</p>',
    "bdo": '<p><b><bdo dir="rtl">TẬM</bdo></b></p>',
    "cssrtl": '<style>.s{direction:rtl;unicode-bidi:bidi-override}</style><p class="s">TẬM</p>',
    "cssesc": '<style>.s::before{content:"M\\1EAC T"}</style><p class="s"></p>',
    "cssattr": '<style>.s::before{content:attr(data-k)}</style><p class="s" data-k="MẬT"></p>',
    "cssaround": '<style>.s::before{content:"M"}</style><p class="s">ẬT</p>',
    # an empty <q> draws its open and close quotes, whatever letters `quotes` gives them (signed before)
    "cssquotes": '<style>q.k{quotes:"TỐI M" "ẬT"}</style><p><q class="k"></q></p>',
    "cssquotes-attr": '<p style="quotes:&quot;TỐI MẬT&quot; &quot;&quot;"><q></q></p>',
}


@pytest.mark.parametrize("case", sorted(HOSTILE_HTML))
def test_html_as_drawn_is_blocked_as_file_and_as_mail_body(pipeline, tmp_path, case):
    page = f"<html><head></head><body>{HOSTILE_HTML[case]}<p>{BODY}</p></body></html>"
    f = tmp_path / f"{case}.html"
    f.write_text(page, encoding="utf-8")
    assert blocked(pipeline, f)
    assert blocked(pipeline, eml(tmp_path, f"{case}.eml", head("text/html; charset=utf-8") + page.encode()))


def test_honest_html_with_the_same_css_still_passes(pipeline, tmp_path):
    page = ('<html><head><style>h1{text-transform:uppercase} .q{direction:rtl;unicode-bidi:bidi-override}'
            ' li::before{content:"\\2022  "} a::after{content:" (" attr(href) ")"} q{quotes:"«" "»"}</style></head><body>'
            '<h1>Thông báo</h1><p>Đề nghị đổi mật khẩu hộp thư.</p><p class="q">bí mật</p><ul><li>Bảo mật thông tin</li></ul>'
            f'<p><a href="https://example.vn/a">liên kết</a></p><p dir="rtl">{BODY}</p><p><q>mật độ</q></p></body></html>')
    assert released(pipeline, eml(tmp_path, "ok.eml", head("text/html; charset=utf-8") + page.encode()))


def test_svg_tspans_are_read_in_drawing_order(pipeline, tmp_path):
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="100"><text y="50" font-size="40">'
           '<tspan x="80">T</tspan><tspan x="10">M</tspan><tspan x="45">Ậ</tspan></text></svg>')
    f = tmp_path / "pos.svg"
    f.write_text(svg, encoding="utf-8")
    assert blocked(pipeline, f)
    per_char = '<svg xmlns="http://www.w3.org/2000/svg"><text x="60 10 35" y="50">TMẬ</text></svg>'
    f2 = tmp_path / "chars.svg"
    f2.write_text(per_char, encoding="utf-8")
    assert blocked(pipeline, f2)
    honest = ('<svg xmlns="http://www.w3.org/2000/svg" width="300" height="100"><text y="50">'
              '<tspan x="10">Biểu đồ</tspan><tspan x="120">mật độ dân số</tspan></text></svg>')
    f3 = tmp_path / "ok.svg"
    f3.write_text(honest, encoding="utf-8")
    assert released(pipeline, f3)


# --- ZIP: every byte accounted for ----------------------------------------------------------------------------


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, v in files.items():
            z.writestr(n, v)
    return path


def test_concatenated_zips_are_refused(pipeline, tmp_path):
    hidden = _zip(tmp_path / "h.zip", {"secret.txt": "MẬT\n".encode() + BODY.encode()})
    visible = _zip(tmp_path / "v.zip", {"ghi-chu.txt": BODY.encode()})
    assert released(pipeline, visible)
    both = tmp_path / "ho-so.zip"
    both.write_bytes(hidden.read_bytes() + visible.read_bytes())
    assert [i.filename for i in zipfile.ZipFile(both).infolist()] == ["ghi-chu.txt"]  # zipfile sees only the last
    outcome, codes = check(pipeline, both)
    assert outcome not in (Outcome.PASS, Outcome.SIGN) and "CONTAINER_BROKEN" in codes, (outcome, codes)
    # the same as a mail attachment
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@example.vn", "b@example.vn", "Ho so"
    m.set_content("Kính gửi.\n")
    m.add_attachment(both.read_bytes(), maintype="application", subtype="zip", filename="ho-so.zip")
    outcome, codes = check(pipeline, eml(tmp_path, "ho-so.eml", m.as_bytes(policy=email.policy.SMTP.clone(utf8=True))))
    assert outcome not in (Outcome.PASS, Outcome.SIGN) and "CONTAINER_BROKEN" in codes, (outcome, codes)


@pytest.mark.parametrize("where", ["before", "between", "after", "comment"])
def test_bytes_outside_the_entries_are_refused(pipeline, tmp_path, where):
    ok = _zip(tmp_path / "ok.zip", {"a.txt": BODY.encode(), "b.txt": BODY.encode()})
    data = ok.read_bytes()
    zf = zipfile.ZipFile(ok)
    second = zf.getinfo("b.txt").header_offset
    if where == "before":
        data = b"junk" * 8 + data
    elif where == "between":  # a gap the directory does not name: offsets moved past it
        with zipfile.ZipFile(tmp_path / "gap.zip", "w") as z:
            z.writestr("a.txt", BODY)
            z.fp.write(b"PK\x03\x04 hidden bytes")
            z.start_dir = z.fp.tell()
            z.writestr("b.txt", BODY)
        data = (tmp_path / "gap.zip").read_bytes()
    elif where == "after":
        data = data + b"trailing"
    else:
        with zipfile.ZipFile(tmp_path / "c.zip", "w") as z:
            z.writestr("a.txt", BODY)
            z.comment = _zip(tmp_path / "in.zip", {"s.txt": b"MAT"}).read_bytes()
        data = (tmp_path / "c.zip").read_bytes()
    assert second  # (ok.zip has two entries)
    f = tmp_path / f"{where}.zip"
    f.write_bytes(data)
    outcome, codes = check(pipeline, f)
    # junk before the archive is already a polyglot to the sniffer; the rest the archive reader refuses
    assert outcome not in (Outcome.PASS, Outcome.SIGN) and codes & {"CONTAINER_BROKEN", "FILE_POLYGLOT"}, (outcome, codes)


class _Unseekable(io.RawIOBase):
    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.data += b
        return len(b)


def test_ordinary_zips_from_every_tool_are_accepted(pipeline, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text(BODY, encoding="utf-8")
    (src / "b.txt").write_text("Kính gửi.\n", encoding="utf-8")
    made = []
    w = _Unseekable()  # data descriptors (and a ZIP64 entry) as Python writes to a stream
    with zipfile.ZipFile(w, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", BODY)
        with z.open("b.txt", "w", force_zip64=True) as fh:
            fh.write(BODY.encode())
    (tmp_path / "py-stream.zip").write_bytes(bytes(w.data))
    made.append(tmp_path / "py-stream.zip")
    with zipfile.ZipFile(tmp_path / "py-comment.zip", "w") as z:
        z.writestr("a.txt", BODY)
        z.comment = "Hồ sơ".encode()
    made.append(tmp_path / "py-comment.zip")
    if shutil.which("zip"):
        subprocess.run(["zip", "-q", "-r", str(tmp_path / "zip.zip"), "a.txt", "b.txt"], cwd=src, check=True)
        made.append(tmp_path / "zip.zip")
        # written to a pipe: data descriptors; -fz: ZIP64 records
        subprocess.run(f"zip -q -fz - a.txt b.txt > {tmp_path / 'zip-pipe.zip'}", shell=True, cwd=src, check=True)
        made.append(tmp_path / "zip-pipe.zip")
    if shutil.which("7z"):
        subprocess.run(["7z", "a", "-tzip", "-bd", "-y", str(tmp_path / "7z.zip"), "a.txt", "b.txt"], cwd=src,
                       check=True, capture_output=True)
        made.append(tmp_path / "7z.zip")
    for f in made:
        assert released(pipeline, f)


def test_office_files_are_not_refused_by_the_zip_layout_rule(pipeline, tmp_path):
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.add_paragraph(BODY)
    d.save(tmp_path / "a.docx")
    from gateway.inspect.container_zip import layout_problem

    with open(tmp_path / "a.docx", "rb") as fh:
        assert layout_problem(fh, zipfile.ZipFile(fh)) is None
    outcome, codes = check(pipeline, tmp_path / "a.docx")  # read by the Office reader, not the archive one
    assert "CONTAINER_BROKEN" not in codes, (outcome, codes)
