"""Office and text readers: each place a stamp can stand, in files made by LibreOffice and by the maintained
Python libraries; the words that look like marks and are not; what cannot be read (encrypted, macros,
bombs, DTDs, embedded parts, legacy without LibreOffice) is incomplete with its own reason — never passed."""

from __future__ import annotations

import importlib
import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from gateway.inspect import inspect, marks, office, rtf, text
from gateway.model import Channel, Document, SecrecyLevel, SignFormat
from gateway.settings import load_settings

import office_samples

S = importlib.import_module("gateway.inspect.sniff")
FIX = Path(__file__).parent / "fixtures" / "office"
HAS_LO = office_samples.soffice() is not None


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return load_settings(var_dir=tmp_path_factory.mktemp("var"))


def facts_of(path: Path, settings):
    return inspect(Document(Channel.CLI, path.name, path=path), settings, None)


def read_path(path: Path, settings=None, ex=None):
    with open(path, "rb") as fh:
        media = S.sniff_file(fh)
        fh.seek(0)
        if media == S.RTF:
            return rtf.read(fh, settings, ex=ex)
        return office.read(fh, media, settings, ex=ex)


def levels(reading) -> set[tuple[str, str]]:
    return {(f.level.value, f.where) for f in marks.scan_reading(reading).secrecy}


# variant -> (level, where the mark is found) for every format the variant was made in
TEXT_EXPECT = {
    "body": ("TỐI MẬT", "text:body"),
    "header": ("MẬT", "text:header"),
    "footer": ("TỐI MẬT", "text:footer"),
    "textbox": ("TỐI MẬT", "text:textbox"),
    "comment": ("TỐI MẬT", "text:comment"),
    "footnote": ("MẬT", "text:footnote"),
    "endnote": ("TỐI MẬT", "text:endnote"),
    "hidden": ("TỐI MẬT", "text:body"),
    "title": ("TỐI MẬT", "docprops:title"),
    "custom": ("TỐI MẬT", "docprops:custom:Độ mật"),
}
SHEET_EXPECT = {
    "cell": ("TỐI MẬT", "text:sheet:Dữ liệu"),
    "hiddensheet": ("MẬT", "text:sheet:Ẩn"),
    "cellcomment": ("TỐI MẬT", "text:comment"),
}
SLIDE_EXPECT = {"slide": ("TỐI MẬT", "text:slide1"), "notes": ("TỐI MẬT", "text:notes1")}


def _cases(kind, expect, exts):
    return [(f"{kind}-{v}", ext, e) for v, e in expect.items() for ext in exts]


@pytest.mark.parametrize(
    "stem,ext,expect",
    _cases("text", TEXT_EXPECT, ("docx", "odt", "rtf", "fodt"))
    + _cases("sheet", SHEET_EXPECT, ("xlsx", "ods"))
    + _cases("slides", SLIDE_EXPECT, ("pptx", "odp")),
)
def test_stamp_in_each_place_is_found(stem, ext, expect):
    reading = read_path(FIX / f"{stem}.{ext}")
    assert not reading.incomplete, reading.incomplete
    assert reading.signable is SignFormat.CADES
    level, where = expect
    if ext.startswith("fod"):  # one-file ODF: every line is read, places are not told apart
        assert any(l == level for l, _ in levels(reading)), levels(reading)
    else:
        assert (level, where) in levels(reading), levels(reading)


@pytest.mark.parametrize("ext", ["docx", "odt", "rtf"])
def test_tracked_deletion_a_reviewer_still_sees(ext):
    found = levels(read_path(FIX / f"text-deleted.{ext}"))
    assert any(level in ("TỐI MẬT", "MẬT") for level, _ in found)
    if ext != "rtf":
        assert ("TỐI MẬT", "text:deleted") in found


@pytest.mark.parametrize("ext", ["xlsx", "ods"])
def test_sheet_named_secret(ext):
    assert any(level == "TỐI MẬT" for level, _ in levels(read_path(FIX / f"sheet-sheetname.{ext}")))


@pytest.mark.parametrize("path", sorted(FIX.glob("*-clean.*")), ids=lambda p: p.name)
def test_look_alike_words_are_not_marks(path):
    if path.suffix in (".doc", ".xls"):
        pytest.skip("legacy: see test_legacy_*")
    reading = read_path(path)
    assert not reading.incomplete and reading.signable is SignFormat.CADES
    assert levels(reading) == set()
    assert "bí mật" in reading.text() or "Bảo mật" in reading.text() or "bảo mật" in reading.text()


@pytest.fixture(scope="module")
def lib_samples(tmp_path_factory):
    return office_samples.library_samples(tmp_path_factory.mktemp("lib"))


@pytest.mark.parametrize(
    "name,expect",
    [
        ("docx-comment", ("TỐI MẬT", "text:comment")),
        ("docx-header", ("MẬT", "text:header")),
        ("docx-footer", ("TỐI MẬT", "text:footer")),
        ("docx-keywords", ("TỐI MẬT", "docprops:keywords")),
        ("xlsx-veryhidden", ("TỐI MẬT", "text:sheet:Ẩn")),
        ("xlsx-comment", ("TỐI MẬT", "text:comment")),
        ("pptx-notes", ("TỐI MẬT", "text:notes1")),
        ("docx-clean", None),
        ("xlsx-clean", None),
        ("pptx-clean", None),
    ],
)
def test_library_made_files(lib_samples, name, expect):
    reading = read_path(lib_samples[name])
    assert not reading.incomplete and reading.signable is SignFormat.CADES
    assert (expect in levels(reading)) if expect else levels(reading) == set()


def test_formula_text_is_read(lib_samples):
    # openpyxl writes the formula without a cached value: the string literals in it are what is read
    assert any(level in ("MẬT", "TỐI MẬT") for level, _ in levels(read_path(lib_samples["xlsx-formula"])))


# --- what cannot be read -----------------------------------------------------------------------------------


def _codes(reading) -> set[str]:
    return {r.code for r in reading.incomplete}


def _rezip(src: Path, dest: Path, *, replace: dict | None = None, add: dict | None = None, drop=()) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = (replace or {}).get(info.filename, zin.read(info.filename))
            zout.writestr(info.filename, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dest


def test_encrypted_docx_is_refused_with_its_own_reason(tmp_path, settings):
    import msoffcrypto.format.ooxml as ooxml

    enc = tmp_path / "enc.docx"
    with open(FIX / "text-clean.docx", "rb") as fh, open(enc, "wb") as out:
        ooxml.OOXMLFile(fh).encrypt("mật khẩu", out)
    facts = facts_of(enc, settings)
    assert facts.media_type == S.OOXML_ENCRYPTED and facts.encrypted
    assert {r.code for r in facts.incomplete} == {"OFFICE_ENCRYPTED"} and facts.signable is None


def test_macros_are_refused(tmp_path):
    src = FIX / "text-clean.docx"
    with zipfile.ZipFile(src) as z:
        ct = z.read("[Content_Types].xml").replace(
            b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
            b"application/vnd.ms-word.document.macroEnabled.main+xml")
    docm = _rezip(src, tmp_path / "m.docm", replace={"[Content_Types].xml": ct},
                  add={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\x00" * 100})
    reading = read_path(docm)
    assert reading.media_type == S.DOCM and "OFFICE_MACROS" in _codes(reading) and reading.signable is None
    # a macro part without the macro content type is refused all the same
    sneaky = _rezip(src, tmp_path / "s.docx", add={"word/vbaProject.bin": b"x"})
    assert "OFFICE_MACROS" in _codes(read_path(sneaky))
    odt = _rezip(FIX / "text-clean.odt", tmp_path / "m.odt", add={"Basic/Standard/Module1.xml": b"<a/>"})
    assert "OFFICE_MACROS" in _codes(read_path(odt))


def test_zip_bomb_dtd_and_ambiguity(tmp_path):
    src = FIX / "text-clean.docx"
    with zipfile.ZipFile(src) as z:
        doc = z.read("word/document.xml")
    # a part that inflates far over its compressed size
    bomb_xml = doc.replace(b"<w:body>", b"<w:body>" + b"<!---->" * (10 * 1024 * 1024), 1)
    bomb = _rezip(src, tmp_path / "bomb.docx", replace={"word/document.xml": bomb_xml})
    assert bomb.stat().st_size < 1024 * 1024
    assert "OFFICE_LIMIT" in _codes(read_path(bomb))
    # billion laughs: any DTD is refused, entities are never expanded
    laughs = ('<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "TỐI MẬT"><!ENTITY b "&a;&a;&a;&a;">]>'.encode()
              + doc[doc.index(b"<w:document"):].replace(b"<w:body>", b"<w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p>", 1))
    dtd = _rezip(src, tmp_path / "dtd.docx", replace={"word/document.xml": laughs})
    reading = read_path(dtd)
    assert "OFFICE_MALFORMED" in _codes(reading) and reading.signable is None
    # the same part twice (case-folded): readers would disagree on which one counts
    dup = _rezip(src, tmp_path / "dup.docx", add={"Word/Document.xml": doc.replace("quý III".encode(), "TỐI MẬT".encode())})
    assert "OFFICE_MALFORMED" in _codes(read_path(dup))
    # no [Content_Types].xml: read anyway (a mark still blocks) but refused
    nct = _rezip(FIX / "text-body.docx", tmp_path / "nct.docx", drop=("[Content_Types].xml",))
    reading = read_path(nct)
    assert "OFFICE_MALFORMED" in _codes(reading) and ("TỐI MẬT", "text:body") in levels(reading)
    # too many parts
    many = _rezip(src, tmp_path / "many.docx", add={f"customXml/item{i}.xml": b"<a/>" for i in range(10_050)})
    assert "OFFICE_LIMIT" in _codes(read_path(many))
    # not XML at all
    broken = _rezip(src, tmp_path / "broken.docx", replace={"word/document.xml": b"<w:document><w:body>"})
    assert "OFFICE_MALFORMED" in _codes(read_path(broken))


def _extraction(tmp_path):
    from gateway.inspect.members import Extraction

    return Extraction.under(tmp_path / "work", load_settings(var_dir=tmp_path / "var"))


def test_embedded_picture_is_a_member_or_unread(tmp_path):
    import docx
    from PIL import Image

    img = tmp_path / "seal.png"
    Image.new("RGB", (600, 600), "red").save(img)
    d = docx.Document()
    d.add_paragraph(office_samples.BODY)
    d.add_picture(str(img))
    raw = tmp_path / "raw.docx"
    d.save(raw)
    path = office_samples.strip_parts(raw, tmp_path / "pic.docx", lambda n: n.startswith("docProps/thumbnail"))
    reading = read_path(path)
    assert _codes(reading) == {"OFFICE_EMBEDDED_UNREAD"} and reading.signable is None
    reading = read_path(path, ex=_extraction(tmp_path))
    assert not reading.incomplete and len(reading.members) == 1
    member = reading.members[0]
    assert member.role == "embedded" and member.location == "part:word/media/image1.png"
    with open(member.path, "rb") as fh:
        assert S.sniff_file(fh) == "image/png"


def test_rtf_picture_and_object(tmp_path):
    pic = b"{\\rtf1\\ansi{\\fonttbl{\\f0 Times;}}\\f0 Xin ch\\u224?o{\\pict\\pngblip 89504e470d0a1a0a}\\par}"
    path = tmp_path / "p.rtf"
    path.write_bytes(pic)
    assert _codes(read_path(path)) == {"OFFICE_EMBEDDED_UNREAD"}
    reading = read_path(path, ex=_extraction(tmp_path))
    assert not reading.incomplete and reading.members[0].path.read_bytes() == bytes.fromhex("89504e470d0a1a0a")
    assert "Xin chào" in reading.text()


def test_rtf_vietnamese_code_page_and_unicode(tmp_path):
    raw = ("{\\rtf1\\ansi\\ansicpg1258{\\fonttbl{\\f0\\fcharset163 Times;}}\\f0 "
           "T\\'c0I LI\\'caU\\par T\\u7888?I M\\u7852?T\\par}").encode()
    path = tmp_path / "v.rtf"
    path.write_bytes(raw)
    reading = read_path(path)
    assert ("TỐI MẬT", "text:body") in levels(reading) and "TÀI LIÊU" in reading.text()
    deep = tmp_path / "deep.rtf"
    deep.write_bytes(b"{\\rtf1" + b"{" * 2000 + b"x" + b"}" * 2000 + b"}")
    assert "OFFICE_MALFORMED" in _codes(read_path(deep))


@pytest.mark.skipif(not HAS_LO, reason="LibreOffice not installed (make test installs it)")
@pytest.mark.parametrize(
    "name,expect",
    [("text-comment.doc", ("TỐI MẬT", "text:comment")), ("text-header.doc", ("MẬT", "text:header")),
     ("sheet-hiddensheet.xls", ("MẬT", "text:sheet:Ẩn")), ("text-clean.doc", None), ("sheet-clean.xls", None)],
)
def test_legacy_through_libreoffice(name, expect, settings):
    reading = read_path(FIX / name, settings)
    assert reading.media_type in (S.DOC, S.XLS) and not reading.incomplete
    assert reading.signable is SignFormat.CADES
    assert (expect in levels(reading)) if expect else levels(reading) == set()


@pytest.mark.skipif(not HAS_LO, reason="LibreOffice not installed (make test installs it)")
def test_legacy_ppt_notes(tmp_path, settings):
    office_samples.convert([FIX / "slides-notes.pptx"], "ppt", tmp_path, (tmp_path / "profile").resolve())
    reading = read_path(tmp_path / "slides-notes.ppt", settings)
    assert reading.media_type == S.PPT and ("TỐI MẬT", "text:notes1") in levels(reading)


def test_legacy_without_libreoffice_is_refused(tmp_path):
    settings = load_settings(var_dir=tmp_path, office={"soffice": ""})
    reading = read_path(FIX / "text-clean.doc", settings)
    assert _codes(reading) == {"OFFICE_LEGACY_UNREADABLE"} and reading.signable is None


# --- text and HTML -----------------------------------------------------------------------------------------


def _text(data: bytes, media=None):
    media = media or S.sniff_file(io.BytesIO(data))
    return text.read(io.BytesIO(data), media)


def test_text_in_any_encoding():
    body = "Kính gửi: Sở Tư pháp\nTỐI MẬT\n"
    for codec in ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"):
        reading = _text(body.encode(codec))
        assert ("TỐI MẬT", "text:text") in levels(reading), codec
    assert _codes(_text(b"abc\x00\x01\x02def" * 10, S.TEXT)) == {"DOCUMENT_UNREADABLE"}


def test_html_as_shown_and_as_source():
    shown = _text("<html><body><p>M&#7852;T</p></body></html>".encode())
    assert ("MẬT", "text:html") in levels(shown) and not shown.incomplete
    attr = _text('<html><body><img alt="TỐI MẬT" src="x.png"><!-- --></body></html>'.encode())
    assert ("TỐI MẬT", "text:html:attr") in levels(attr)
    svg = _text('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><text x="1">TỐI MẬT</text></svg>'.encode())
    assert ("TỐI MẬT", "text:xml") in levels(svg) and svg.media_type == S.SVG
    script = _text(b"<html><body><script>document.write('T\\u1ed0I M\\u1eacT')</script></body></html>")
    assert _codes(script) == {"HTML_ACTIVE_CONTENT"} and script.signable is None
    clean = _text("<html><body><p>Bảo mật thông tin, mật khẩu, GIẢI MẬT</p></body></html>".encode())
    assert levels(clean) == set() and clean.signable is SignFormat.CADES


def test_polyglot_is_refused(tmp_path, settings):
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("secret.txt", "TỐI MẬT")
    path = tmp_path / "note.txt"
    path.write_bytes("Báo cáo tuần\n".encode() + z.getvalue())
    facts = facts_of(path, settings)
    assert facts.media_type == S.POLYGLOT and {r.code for r in facts.incomplete} == {"FILE_POLYGLOT"}
