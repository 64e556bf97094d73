"""Mail parts read as a recipient's client shows them, whatever their first bytes say (red team, probe A).

Each hostile class is BLOCKed (or refused where the gateway cannot read it) and an honest message of the same
shape is released, so each test can fail both ways:
- H1 a part declared text/html (or application/xhtml+xml) that does not start like HTML is rendered as HTML;
- H3 a part declared text/plain that starts like HTML is shown as it is;
- H2 HTML tokenised as browsers do: <![CDATA[ is a comment to the first ">", raw-text and RCDATA elements
  (<textarea>, <title>, <xmp>, <noembed>, <noframes>, <noscript>, <plaintext>) hold text, not markup;
  "<![foo[" is no crash;
- H4 text/enriched commands the gateway does not list are dropped, as RFC 1896 and Thunderbird do;
- H5 BinHex 4.0, attached or pasted in a body, is refused (not decoded here);
- H6 every file name a client may show (RFC 2231 forms, continuations) is read; a name parameter given twice
  is refused as ambiguous.
"""

from __future__ import annotations

import binascii
import struct
from pathlib import Path

import pytest
from util import blocked, released
from util import check_attachment as check

from gateway.model import Outcome

pytestmark = pytest.mark.hsm

MARK = "TỐI MẬT"


def refused(pipeline, path: Path, code: str) -> bool:
    outcome, codes = check(pipeline, path)
    return outcome in (Outcome.REJECT, Outcome.BLOCK) and code in codes


def eml(tmp: Path, name: str, raw: bytes) -> Path:
    p = tmp / name
    p.write_bytes(raw)
    return p


def head(ctype: str, cte: str = "8bit") -> bytes:
    return (f"From: van-thu@example.vn\r\nTo: nhan@example.vn\r\nSubject: Thong bao\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n").encode()


def body(ctype: str, text: str) -> bytes:
    return head(ctype) + text.replace("\n", "\r\n").encode() + b"\r\n"


def with_attachment(disposition: str, content: bytes = b"Noi dung", ctype: str = "text/plain; charset=utf-8") -> bytes:
    return (head('multipart/mixed; boundary="BB"', "7bit") + b"--BB\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            b"Kinh gui\r\n--BB\r\nContent-Type: " + ctype.encode() + b"\r\nContent-Disposition: " + disposition.encode()
            + b"\r\n\r\n" + content + b"\r\n--BB--\r\n")


# --- H1: declared text/html, not sniffed as HTML --------------------------------------------------------------

NOT_LIKE_HTML = {
    "entities": "Kính gửi ông<br>\n<p>T&#7888;I M&#7852;T</p>\n<p>Nội dung</p>\n",
    "center": "<center>T&#7888;I M&#7852;T</center>\n<p>Nội dung</p>\n",
    "tags": "Kính gửi<br>\nT<b></b>ỐI M<i></i>ẬT<br>\nNội dung<br>\n",
}


@pytest.mark.parametrize("ctype", ["text/html", "application/xhtml+xml"])
@pytest.mark.parametrize("case", sorted(NOT_LIKE_HTML))
def test_declared_html_is_read_as_html(pipeline, tmp_path, case, ctype):
    def mail(text: str) -> bytes:
        if ctype == "text/html":
            return body(f"{ctype}; charset=utf-8", text)
        # not a text/* body: a document of a multipart (a single-part message cannot carry its signature)
        return with_attachment("inline", text.replace("\n", "\r\n").encode(), f"{ctype}; charset=utf-8")

    hostile = NOT_LIKE_HTML[case]
    assert blocked(pipeline, eml(tmp_path, "h.eml", mail(hostile)))
    honest = hostile.replace("T&#7888;I M&#7852;T", "Kính gửi").replace("T<b></b>ỐI M<i></i>ẬT", "Kính gửi")
    assert released(pipeline, eml(tmp_path, "ok.eml", mail(honest)))


def test_an_attachment_named_html_is_read_as_html(pipeline, tmp_path):
    hostile = with_attachment('attachment; filename="cv.html"', NOT_LIKE_HTML["entities"].encode(),
                              "application/octet-stream")
    assert blocked(pipeline, eml(tmp_path, "a.eml", hostile))
    honest = with_attachment('attachment; filename="cv.html"', "Kính gửi ông<br>\n<p>Nội dung</p>\n".encode(),
                             "application/octet-stream")
    assert released(pipeline, eml(tmp_path, "ok.eml", honest))


# --- H3: declared text/plain, sniffed as HTML -----------------------------------------------------------------


def test_declared_plain_text_is_read_as_it_is(pipeline, tmp_path):
    hostile = f'<div data-a="\n{MARK}\n">Kính gửi ông</div>\nNội dung.\n'
    assert blocked(pipeline, eml(tmp_path, "p.eml", body("text/plain; charset=utf-8", hostile)))
    honest = '<div data-a="\nghi chú\n">Kính gửi ông</div>\nNội dung.\n'
    assert released(pipeline, eml(tmp_path, "ok.eml", body("text/plain; charset=utf-8", honest)))


# --- H2: HTML tokenised as browsers do ------------------------------------------------------------------------

TOKENISED = {
    "cdata": '<html><body><p>Kính gửi</p><![CDATA[ x><p>{}</p><p> ]]></body></html>',
    "textarea": '<html><body><p>Kính gửi</p><textarea><a x="</textarea><p>{}</p><i x=""></textarea></body></html>',
    "title": '<html><head><title><a x="</title></head><body><p>{}</p><i x=""></title></head><body><p>Kính gửi</p>',
    "xmp": '<html><body><p>Kính gửi</p><xmp><a x="</xmp><p>{}</p><i x=""></xmp></body></html>',
    "noembed": '<html><body><p>Kính gửi</p><noembed><a x="</noembed><p>{}</p><i x=""></noembed></body></html>',
    "noframes": '<html><body><p>Kính gửi</p><noframes><a x="</noframes><p>{}</p><i x=""></noframes></body></html>',
    "noscript": '<html><body><p>Kính gửi</p><noscript><a x="</noscript><p>{}</p><i x=""></noscript></body></html>',
    "plaintext": '<html><body><p>Kính gửi</p><plaintext><a x="\n{}\n"></body></html>',
    "marked-section": '<html><body><p>Kính gửi</p><![foo[ x ]]><p>{}</p></body></html>',
    # the CSS readings still apply to what the standard tokeniser shows
    "uppercase": '<html><body><textarea><a x="</textarea><p style=\'text-transform:uppercase\'>{}</p>"></textarea>',
}


@pytest.mark.parametrize("case", sorted(TOKENISED))
def test_html_is_tokenised_as_browsers_do(pipeline, tmp_path, case):
    mark = "tối mật" if case == "uppercase" else MARK
    assert blocked(pipeline, eml(tmp_path, "t.eml", body("text/html; charset=utf-8", TOKENISED[case].format(mark))))
    honest = TOKENISED[case].format("Nội dung công văn")
    assert released(pipeline, eml(tmp_path, "ok.eml", body("text/html; charset=utf-8", honest)))


# --- H4: text/enriched with commands not listed ---------------------------------------------------------------


@pytest.mark.parametrize("ctype", ["text/enriched", "text/richtext"])
@pytest.mark.parametrize("hostile", ["T<foo>ỐI</foo> M<foo>Ậ</foo>T", "T<:>ỐI M<x.y>ẬT"])
def test_unknown_enriched_commands_are_dropped(pipeline, tmp_path, ctype, hostile):
    text = f"Kính gửi\n\n{hostile}\n\nNội dung\n"
    assert blocked(pipeline, eml(tmp_path, "e.eml", body(f"{ctype}; charset=utf-8", text)))
    honest = "Kính <foo>gửi</foo>\n\nNội <<dung> <param>x</param>\n"
    assert released(pipeline, eml(tmp_path, "ok.eml", body(f"{ctype}; charset=utf-8", honest)))


# --- H5: BinHex 4.0 --------------------------------------------------------------------------------------------


def _binhex(name: str, data: bytes) -> bytes:
    """A BinHex 4.0 file (runs not compressed, which decoders accept), as Mac tools write it."""
    alphabet = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr"

    def crc(b: bytes) -> bytes:
        return struct.pack(">H", binascii.crc_hqx(b + b"\0\0", 0))

    hdr = bytes([len(name)]) + name.encode() + b"\0TEXTttxt\0\0" + struct.pack(">II", len(data), 0)
    raw = (hdr + crc(hdr) + data + crc(data) + crc(b"")).replace(b"\x90", b"\x90\x00")  # RLE: 0x90 escaped
    raw += b"\0" * (-len(raw) % 3)
    enc = bytearray()
    for i in range(0, len(raw), 3):
        n = int.from_bytes(raw[i:i + 3], "big")
        enc += bytes(alphabet[(n >> s) & 63] for s in (18, 12, 6, 0))
    s = b":" + bytes(enc) + b":"
    return b"(This file must be converted with BinHex 4.0)\r\n\r\n" + b"\r\n".join(s[i:i + 64] for i in range(0, len(s), 64))


def test_binhex_is_refused_attached_or_pasted(pipeline, tmp_path):
    hqx = _binhex("congvan.txt", f"Công văn\r\n\r\n{MARK}\r\n\r\nNội dung.\r\n".encode())
    attached = with_attachment('attachment; filename="congvan.hqx"', hqx, "application/mac-binhex40")
    assert refused(pipeline, eml(tmp_path, "a.eml", attached), "MIME_UNKNOWN_ENCODING")
    pasted = head("text/plain; charset=utf-8") + "Kính gửi, xem dưới đây.\r\n\r\n".encode() + hqx + b"\r\n"
    assert refused(pipeline, eml(tmp_path, "p.eml", pasted), "MIME_UNKNOWN_ENCODING")
    # the same file sent as itself, and a text that only speaks of BinHex, are read and released
    honest = with_attachment('attachment; filename="congvan.txt"', "Công văn\r\n\r\nNội dung.\r\n".encode())
    assert released(pipeline, eml(tmp_path, "ok.eml", honest))
    prose = body("text/plain; charset=utf-8", "Tệp .hqx (BinHex 4.0) của máy Mac: đề nghị gửi tệp gốc.\n")
    assert released(pipeline, eml(tmp_path, "ok2.eml", prose))


# --- H6: every name a client may show --------------------------------------------------------------------------

MARKED_NAME = "T%E1%BB%90I%20M%E1%BA%ACT.txt"


@pytest.mark.parametrize("disposition", [
    f"attachment; filename=\"a.txt\"; filename*=utf-8''{MARKED_NAME}",
    "attachment; filename=\"a.txt\"; filename*0*=utf-8''T%E1%BB%90I%20M; filename*1*=%E1%BA%ACT.txt",
    f"attachment; filename*=utf-8''{MARKED_NAME}; filename=\"a.txt\"",
    "attachment; filename=\"=?utf-8?B?VOG7kEkgTeG6rFQudHh0?=\"; filename*=utf-8''a.txt",
])
def test_every_file_name_form_is_read(pipeline, tmp_path, disposition):
    assert blocked(pipeline, eml(tmp_path, "n.eml", with_attachment(disposition)))


def test_an_ascii_fallback_name_beside_its_rfc2231_form_is_released(pipeline, tmp_path):
    honest = "attachment; filename=\"Cong van.txt\"; filename*=utf-8''C%C3%B4ng%20v%C4%83n.txt"
    assert released(pipeline, eml(tmp_path, "ok.eml", with_attachment(honest)))
    pieces = "attachment; filename*0*=utf-8''C%C3%B4ng%20; filename*1*=v%C4%83n.txt"
    assert released(pipeline, eml(tmp_path, "ok2.eml", with_attachment(pieces)))


@pytest.mark.parametrize("disposition", [
    "attachment; filename=\"a.txt\"; filename=\"b.txt\"",
    "attachment; filename*=utf-8''a.txt; filename*=utf-8''b.txt",
    "attachment; filename*=utf-8''a.txt; filename*0=b.txt",
    "attachment; filename*0=\"a\"; filename*2=\"b.txt\"",
])
def test_a_name_given_twice_or_in_broken_pieces_is_ambiguous(pipeline, tmp_path, disposition):
    assert refused(pipeline, eml(tmp_path, "d.eml", with_attachment(disposition)), "MIME_AMBIGUOUS")


# --- what hidden elements hold ------------------------------------------------------------------------------

HIDDEN = {
    "style": '<b>TỐI MẬT<span style="display:none">XYZ</span></b>',
    "visibility": '<b>TỐI M<span style="color:red; visibility: hidden">Q</span>ẬT</b>',
    "attribute": '<b>TỐI MẬT<span hidden>XYZ</span></b>',
    "class-rule": '<style>.x{display:none}</style><b>TỐI M<span class="x">Q</span>ẬT</b>',
    "tag-rule": '<style>u { display : none }</style><b><u>XYZ</u>TỐI MẬT</b>',
}


@pytest.mark.parametrize("case", sorted(HIDDEN))
def test_what_hidden_elements_hold_does_not_split_the_mark(pipeline, tmp_path, case):
    """A client draws nothing for an element hidden by display: none, visibility: hidden or the hidden attribute
    (its style, or a rule for its tag, class or id): "TỐI MẬT<span style=display:none>XYZ</span>" shows "TỐI
    MẬT" (passed before: read as "TỐI MẬTXYZ"). The same hiding inside prose still passes."""
    page = f"<p>Kính gửi các đơn vị</p><p>{HIDDEN[case]}</p><p>Nội dung.</p>"
    assert blocked(pipeline, eml(tmp_path, f"{case}.eml", body("text/html; charset=utf-8", page)))
    honest = HIDDEN[case].replace("TỐI M", "Công tác bảo m").replace("ẬT", "ật thông tin").replace("<b>", "<i>")
    assert released(pipeline, eml(tmp_path, f"ok-{case}.eml", body("text/html; charset=utf-8", f"<p>{honest}</p>")))


def _addressed(field: str, value: str) -> bytes:
    """A plain-text mail whose `field` (From or To) is `value` (the usual address kept as an X- header)."""
    raw = head("text/plain; charset=utf-8")
    return raw.replace(f"{field}: ".encode(), f"{field}: {value}\r\nX-Usual-{field}: ".encode(), 1) + "Kính gửi.\r\n".encode()


@pytest.mark.parametrize("name", ['"TỐI MẬT" <van-thu@example.vn>', '"=?utf-8?b?VOG7kEkgTeG6rFQ=?=" <van-thu@example.vn>',
                                  'a@example.vn, "TỐI MẬT" <b@example.vn>'])
def test_a_display_name_in_quotes_is_read_as_shown(pipeline, tmp_path, name):
    """Every client shows an address's display name without its quotes ('"TỐI MẬT" <a@b>' shows TỐI MẬT as the
    sender); read as one line with its quotes, the mark was a quotation in a sentence and the mail passed."""
    for field in ("From", "To"):
        assert blocked(pipeline, eml(tmp_path, f"{field}.eml", _addressed(field, name))), (field, name)
    assert released(pipeline, eml(tmp_path, "ok.eml", _addressed("From", '"Văn thư - Bảo mật" <v@example.vn>')))


def test_an_attachments_description_is_read(pipeline, tmp_path):
    """Some clients list an attachment's Content-Description beside its name (mutt's %d); it was never read."""
    def mail(description: str) -> bytes:
        return (head('multipart/mixed; boundary="B"') + b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nK\r\n"
                b"--B\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: attachment; filename=\"a.txt\"\r\n"
                + f"Content-Description: {description}\r\n\r\nNoi dung\r\n--B--\r\n".encode())
    assert blocked(pipeline, eml(tmp_path, "d.eml", mail("=?utf-8?b?VOG7kEkgTeG6rFQ=?=")))
    assert released(pipeline, eml(tmp_path, "ok.eml", mail("Báo cáo tháng")))
