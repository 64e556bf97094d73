"""gateway/inspect/twins.py: which fonts' maps give one character two codes (a lying glyph hides behind the
second), read from the PDF's own font dictionaries."""

from __future__ import annotations

import io

from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, NumberObject

from gateway.inspect import twins


def _cmap(body: str) -> bytes:
    return ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap 1 begincodespacerange <00> <FF> "
            f"endcodespacerange {body} endcmap end end").encode()


def test_bfchar_and_both_bfrange_forms_are_read():
    pairs = dict(twins._cmap(_cmap(
        "2 beginbfchar <01> <0054> <02> <005A> endbfchar "
        "1 beginbfrange <10> <12> <0041> endbfrange "
        "1 beginbfrange <20> <21> [<004D> <0054>] endbfrange")))
    assert pairs == {1: "T", 2: "Z", 0x10: "A", 0x11: "B", 0x12: "C", 0x20: "M", 0x21: "T"}
    assert twins._repeated(pairs.items()) == {"T"}


def test_a_space_or_a_control_code_mapped_twice_is_no_twin():
    pairs = {1: " ", 2: " ", 3: "\x00", 4: "\x00", 5: "-", 6: "-"}
    assert twins._repeated(pairs.items()) == {"-"}


def test_glyph_names_are_read_as_the_adobe_glyph_list_reads_them():
    pairs = dict(twins._differences(ArrayObject([NumberObject(65), NameObject("/Z"), NameObject("/Z.alt"),
                                                 NameObject("/uni0041"), NumberObject(100), NameObject("/A")])))
    assert pairs == {65: "Z", 66: "Z", 67: "A", 100: "A"}


def _pdf(fonts: dict) -> PdfReader:
    w = PdfWriter()
    page = w.add_blank_page(200, 200)
    resources = DictionaryObject({NameObject("/Font"): DictionaryObject()})
    for name, font in fonts.items():
        resources["/Font"][NameObject(name)] = w._add_object(font)
    page[NameObject("/Resources")] = resources
    buf = io.BytesIO()
    w.write(buf)
    return PdfReader(io.BytesIO(buf.getvalue()))


def _font(base: str, cmap: bytes | None, subtype: str = "/TrueType", **extra) -> DictionaryObject:
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject(subtype),
                             NameObject("/BaseFont"): NameObject(base)})
    if cmap is not None:
        stream = DecodedStreamObject()
        stream.set_data(cmap)
        font[NameObject("/ToUnicode")] = stream
    for k, v in extra.items():
        font[NameObject("/" + k)] = v
    return font


def test_by_page_names_fonts_as_pdfium_does_and_fails_closed():
    reader = _pdf({
        "/F1": _font("/ABCDEF+Honest", _cmap("2 beginbfchar <01> <0054> <02> <005A> endbfchar")),
        "/F2": _font("/GHIJKL+Twin", _cmap("2 beginbfchar <01> <005A> <02> <005A> endbfchar")),
        "/F3": _font("/Broken", _cmap("1 beginbfrange <0000> <FFFFFF> <0041> endbfrange")),  # too large: unread
        "/F4": _font("/Kanji", None, "/Type0", Encoding=NameObject("/90ms-RKSJ-H")),
        "/F5": _font("/Ident", None, "/Type0", Encoding=NameObject("/Identity-H")),
    })
    assert twins.by_page(reader) == {0: {"Twin": frozenset("Z"), "Broken": frozenset(twins.ANY),
                                         "Kanji": frozenset(twins.ANY)}}
    assert twins.letters_for({"Twin": frozenset("Z")}, "Other") == frozenset()
    assert twins.letters_for({twins.EVERY_FONT: frozenset(twins.ANY)}, "Other") == frozenset(twins.ANY)


def _with_form(font: DictionaryObject, body: bytes, subtype: str = "/Form") -> PdfReader:
    """A page drawing an XObject (`subtype`) whose resources hold `font`."""
    w = PdfWriter()
    page = w.add_blank_page(200, 200)
    form = DecodedStreamObject()
    form.set_data(body)
    form.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject(subtype),
                 NameObject("/BBox"): ArrayObject([NumberObject(v) for v in (0, 0, 100, 100)]),
                 NameObject("/Resources"): DictionaryObject(
                     {NameObject("/Font"): DictionaryObject({NameObject("/F1"): w._add_object(font)})})})
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/XObject"): DictionaryObject({NameObject("/X1"): w._add_object(form)})})
    buf = io.BytesIO()
    w.write(buf)
    return PdfReader(io.BytesIO(buf.getvalue()))


def test_a_font_inside_a_form_is_read_and_a_stream_too_long_to_open_fails_closed():
    twin = _font("/Twin", _cmap("2 beginbfchar <01> <005A> <02> <005A> endbfchar"))
    assert twins.by_page(_with_form(twin, b"BT /F1 12 Tf (ab) Tj ET")) == {0: {"Twin": frozenset("Z")}}
    # pypdf reads a stream whole to show its dictionary: a form longer than MAX_STREAM is not opened, and the
    # fonts it may hold count as mapping everything twice; an image of any size is not opened at all
    big = b"%" + b" " * (twins.MAX_STREAM + 10)
    assert twins.by_page(_with_form(twin, big)) == {0: {twins.EVERY_FONT: frozenset(twins.ANY)}}
    assert twins.by_page(_with_form(twin, big, "/Image")) == {}
