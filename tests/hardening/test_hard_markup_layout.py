"""HTML generated content and SVG text placed as a browser draws them (gateway/inspect/text.py).

Each hostile page spells a mark only where the renderer puts the pieces: CSS ::before/::after strings at the
start/end of the elements their selectors match (classes, ids, tags, attributes, attr(), rules after the body
or inside it, complex selectors), SVG letters moved by transforms (translate, matrix, scale, rotate, nested
groups) and dx/dy lists. Each is BLOCKed as a file and as a mail body (one text reader serves both); the same
construction spelling "KHẨN", or prose ("bảo mật thông tin"), still signs, so every test can fail both ways.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from util import check_attachment as check

from gateway.inspect import text as text_reader
from gateway.inspect.sniff import HTML
from gateway.inspect.sniff import SVG as SVG_TYPE
from gateway.model import Outcome

pytestmark = pytest.mark.hsm

BODY = "Công văn về việc họp giao ban."
SPANS = '<p><span class="a"></span><span class="b"></span><span class="c"></span></p>'
ABC = '.a::before{content:"%s"} .b::before{content:"%s"} .c::after{content:"%s"}'


def blocked(pipeline, path: Path) -> bool:
    outcome, codes = check(pipeline, path)
    assert outcome is Outcome.BLOCK and "SECRET_MARKED" in codes, (path.name, outcome, codes)
    return True


def released(pipeline, path: Path) -> bool:
    outcome, codes = check(pipeline, path)
    assert outcome in (Outcome.PASS, Outcome.SIGN) and "SECRET_MARKED" not in codes, (path.name, outcome, codes)
    return True


def mail(tmp: Path, name: str, html: str) -> Path:
    p = tmp / name
    p.write_bytes((f"From: van-thu@example.vn\r\nTo: nhan@example.vn\r\nSubject: Thong bao\r\nMIME-Version: 1.0\r\n"
                   f"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html}").encode())
    return p


def page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body>{body}<p>{BODY}</p></body></html>"


# (head, body) spelling the mark with letters M, Ậ, T put in by CSS; {0}{1}{2} are the three letters
GENERATED = {
    "classes": (f"<style>{ABC}</style>", SPANS),
    "ids": ('<style>#a::before{{content:"{0}"}} #b::before{{content:"{1}"}} #c::after{{content:"{2}"}}</style>',
            '<p><span id="a"></span><span id="b"></span><span id="c"></span></p>'),
    "tags": ('<style>b::before{{content:"{0}"}} i::before{{content:"{1}"}} u:after{{content:"{2}"}}</style>',
             "<p><b></b><i></i><u></u></p>"),
    "attributes": ('<style>[data-k]::before{{content:"{0}"}} [data-z="2"]::before{{content:"{1}"}}'
                   ' span[data-z^=t i]::after{{content:"{2}"}}</style>',
                   '<p><span data-k></span><span data-z="2"></span><span data-z="T3"></span></p>'),
    "compound": ('<style>span.a.x::before{{content:"{0}"}} .b[title]::before{{content:"{1}"}}'
                 ' #c.c::after{{content:"{2}"}} .a::before{{content:"Q"}}</style>',
                 '<p><span class="x a"></span><span class="b" title="t"></span><span class="c" id="c"></span></p>'),
    "p_before_with_text": ('<style>p.k::before{{content:"{0}{1}"}}</style>', '<p class="k">{2}</p>'),
    "attr_function": ('<style>.a::before{{content:attr(data-x)}} .c::after{{content:attr(data-y)}}</style>',
                      '<p><span class="a" data-x="{0}{1}"></span><span class="c" data-y="{2}"></span></p>'),
    "rules_after_body": ("", SPANS + f"<style>{ABC}</style>"),
    "style_in_body": ("", f"<div><style>{ABC}</style>{SPANS}</div>"),
    "media_and_escapes": ('<style>@media screen {{ .a::before{{content:"{0}"}} }} .b::before{{content:"{1}"}}'
                          ' .c::after{{content:"{2}"}}</style>', SPANS),
    "complex_selectors": ('<style>div p > span.a::before{{content:"{0}"}} p span:first-child + .b::before'
                          '{{content:"{1}"}} .zz::after, p .c:last-child::after{{content:"{2}"}}</style>',
                          "<div>" + SPANS + "</div>"),
    "counters_and_quotes": ('<style>ol li::before{{content:counter(item) ". "}} .q::before{{content:open-quote}}'
                            ' .q::after{{content:close-quote}}' + ABC.replace("{", "{{").replace("}", "}}")
                            .replace("%s", "{}") + "</style>",
                            '<ol><li>Mục một</li></ol><p class="q">trích dẫn</p>' + SPANS),
    "implied_end": ('<style>.a::after{{content:"{2}"}}</style>', '<p class="a">{0}{1}<div>Nội dung</div>'),
}


def _fill(text: str, letters: tuple[str, str, str]) -> str:
    return text % letters if "%s" in text else text.format(*letters)


def _spell(case: str, letters: tuple[str, str, str]) -> str:
    head, body = GENERATED[case]
    return page(_fill(body, letters), _fill(head, letters))


@pytest.mark.parametrize("case", sorted(GENERATED))
def test_generated_content_is_read_where_drawn(pipeline, tmp_path, case):
    hostile = _spell(case, ("M", "Ậ", "T"))
    f = tmp_path / f"{case}.html"
    f.write_text(hostile, encoding="utf-8")
    assert blocked(pipeline, f)
    assert blocked(pipeline, mail(tmp_path, f"{case}.eml", hostile))
    honest = _spell(case, ("K", "H", "ẨN"))
    assert released(pipeline, mail(tmp_path, f"{case}-ok.eml", honest))


def test_generated_content_beside_prose_still_signs(pipeline, tmp_path):
    honest = page('<p class="n">Đề nghị các đơn vị tăng cường</p><p><span class="b"></span> thông tin.</p>',
                  '<style>.n::after{content:" công tác"} .b::before{content:"bảo mật"}'
                  ' a::after{content:" (" attr(href) ")"} li::before{content:"\\2022  "}</style>')
    f = tmp_path / "prose.html"
    f.write_text(honest, encoding="utf-8")
    assert released(pipeline, f)
    assert released(pipeline, mail(tmp_path, "prose.eml", honest))


def test_too_many_generated_content_rules_are_refused():
    rules = "".join(f'.r{i}::before{{content:"x"}}' for i in range(getattr(text_reader, "MAX_CSS_RULES", 5000) + 5))
    _, incomplete = text_reader.text_lines(page("<p>a</p>", f"<style>{rules}</style>"), HTML)
    assert [r.code for r in incomplete] == ["DOCUMENT_UNREADABLE"]
    _, fine = text_reader.text_lines(page("<p>a</p>", f"<style>{rules[:2000]}</style>"), HTML)
    assert fine == []



def test_a_mark_pushed_past_the_readings_cap_is_refused_not_cut_off():
    """A string of a rule no element matches, beside a line ("M" + "ẬT"), is seen only in the around-the-lines
    reading; padding the page pushed that reading past the cap on extra readings, and it was cut off and the
    page released. Now the page is refused as not read completely; shorter, it is read and the mark found."""
    from gateway.inspect import marks

    n = text_reader.MAX_SHOWN_LINES // 4 + 50  # upper-cased and around-the-lines readings: > cap lines
    pad = "".join(f"<p>Dòng {i} của báo cáo.</p>" for i in range(n))
    css = '<style>h1{text-transform:uppercase} .none::after{content:"ẬT"} .b::before{content:"Mục"}</style>'
    _, incomplete = text_reader.text_lines(page(pad + "<p>M</p>", css), HTML)
    assert [r.code for r in incomplete] == ["DOCUMENT_UNREADABLE"], incomplete
    lines, fine = text_reader.text_lines(page(pad[: len(pad) // 8] + "<p>M</p>", css), HTML)
    assert fine == [] and marks.scan_lines(lines, "t").secrecy


def test_svg_text_past_the_characters_cap_is_refused():
    many = "x" * 50 + "MẬT"
    svg = SVG.format(f'<text x="0" y="50">{many}</text>')
    _, fine = text_reader.text_lines(svg, "image/svg+xml")
    assert fine == []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(text_reader, "MAX_GLYPHS", 20)
        _, cut = text_reader.text_lines(svg, "image/svg+xml")
    assert [r.code for r in cut] == ["DOCUMENT_UNREADABLE"], cut

# --- SVG text moved by transforms and dx/dy -------------------------------------------------------------------

SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="100">{}</svg>'
# {0}{1}{2}: the three letters, given out of order in the source, drawn in order
PLACED = {
    "translate_text": ('<text transform="translate(80,50)">{2}</text><text transform="translate(10,50)">{0}</text>'
                       '<text transform="translate(45 50)">{1}</text>'),
    "group_translate_matrix": ('<g transform="translate(80,0)"><text y="50">{2}</text></g><g transform="translate(10)">'
                               '<text y="50">{0}</text></g><g transform="matrix(1 0 0 1 45 0)"><text y="50">{1}</text></g>'),
    "nested_groups": ('<g transform="translate(100 0)"><g transform="translate(-90,0)"><text y="50">{0}</text></g></g>'
                      '<text y="50" transform="translate(80)">{2}</text><g transform="translate(20)"><text x="25" y="50">'
                      '{1}</text></g>'),
    "scale_mirror": ('<g transform="scale(-1 1)"><text x="-80" y="50">{2}</text><text x="-10" y="50">{0}</text>'
                     '<text x="-45" y="50">{1}</text></g>'),
    "rotate_about_point": ('<g transform="rotate(180 100 50)"><text x="120" y="50">{2}</text><text x="190" y="50">{0}'
                           '</text><text x="155" y="50">{1}</text></g>'),
    "css_transform": ('<text style="transform: translate(80px, 50px)">{2}</text><text style="transform:translate(10px,'
                      '50px)">{0}</text><text style="transform:translate(45px,50px)">{1}</text>'),
    "dx_list": '<text x="0" y="50" dx="60 -50 25">{2}{0}{1}</text>',
    "dx_with_advances": '<text x="0" y="50" font-size="40" dx="80 -104">{2}{0}{1}</text>',
    "tspan_dx": ('<text x="10" y="50">TỐI <tspan dx="60">{2}</tspan><tspan dx="-50">{0}</tspan>'
                 '<tspan dx="5">{1}</tspan></text>'),
    "dy_rows": '<text x="10 80 45" y="50" dy="0 -60 60">{0}X{1}</text><text x="80" y="50">{2}</text>',
}


def _svg(case: str, letters: tuple[str, str, str]) -> str:
    return SVG.format(PLACED[case].format(*letters))


@pytest.mark.parametrize("case", sorted(PLACED))
def test_svg_text_is_read_where_transforms_put_it(pipeline, tmp_path, case):
    f = tmp_path / f"{case}.svg"
    f.write_text(_svg(case, ("M", "Ậ", "T")), encoding="utf-8")
    assert blocked(pipeline, f)
    ok = tmp_path / f"{case}-ok.svg"
    ok.write_text(_svg(case, ("K", "H", "Ẩ")), encoding="utf-8")
    assert released(pipeline, ok)


def test_svg_in_html_mail_and_prose_controls(pipeline, tmp_path):
    hostile = page(_svg("group_translate_matrix", ("M", "Ậ", "T")))
    assert blocked(pipeline, mail(tmp_path, "svg.eml", hostile))
    prose = SVG.format('<g transform="translate(10 0)"><text y="50" dx="0 1 1">Biểu đồ</text></g>'
                       '<text y="50" transform="translate(120)">mật độ dân số</text>'
                       '<text y="80" transform="rotate(0)">bảo <tspan dx="3">mật</tspan> thông tin</text>')
    f = tmp_path / "prose.svg"
    f.write_text(prose, encoding="utf-8")
    assert released(pipeline, f)
    assert released(pipeline, mail(tmp_path, "prose-svg.eml", page(prose)))


# --- issue 13: decoy rules, counters, SVG <use>/textPath/stylesheet transforms -----------------------------------

def refused(pipeline, path: Path) -> bool:
    """Not released: BLOCKed for the mark it shows, or refused as not read completely (rule one)."""
    outcome, codes = check(pipeline, path)
    assert outcome not in (Outcome.PASS, Outcome.SIGN) and codes & {"SECRET_MARKED", "DOCUMENT_UNREADABLE"}, \
        (path.name, outcome, codes)
    return True


# a rule whose selector never applies (a combinator or pseudo-class the gateway does not evaluate) outranks the
# rule that does, itself a complex selector: the mark is drawn by the lower-ranked rule
DECOYS = {
    "decoy_per_letter": ('<style>body > nonexistent span.a::before{{content:"Q"}} div ~ p .b:hover::before'
                         '{{content:"W"}} html p .c:not(.c)::after{{content:"Z"}} p > .a::before{{content:"{0}"}}'
                         ' p .b::before{{content:"{1}"}} span + .c::after{{content:"{2}"}}</style>', SPANS),
    "decoy_and_nothing": ('<style>p .a::before{{content:"{0}"}} p .c::after{{content:"{2}"}}'
                          ' table > span.b::before{{content:"-X-"}} p > .b::before{{content:"{1}"}}'
                          ' section p .b::before{{content:" và "}}</style>', SPANS),
}


@pytest.mark.parametrize("case", sorted(DECOYS))
def test_generated_content_under_a_decoy_rule_is_read(pipeline, tmp_path, case):
    head, body = DECOYS[case]
    hostile = page(body.format("M", "Ậ", "T"), head.format("M", "Ậ", "T"))
    f = tmp_path / f"{case}.html"
    f.write_text(hostile, encoding="utf-8")
    assert blocked(pipeline, f)
    assert blocked(pipeline, mail(tmp_path, f"{case}.eml", hostile))
    honest = page(body.format("K", "H", "ẨN"), head.format("K", "H", "ẨN"))
    assert released(pipeline, mail(tmp_path, f"{case}-ok.eml", honest))


# two blocks, each drawn by a rule that may not apply (a combinator the gateway does not evaluate): a browser
# draws "MẬT" (p.x follows the div) and nothing under it (p.y does not); drawn both, or neither, no mark shows
# ("MẬT" over "ĐỘ" is "mật độ"). Each way of a block is read beside each way of its neighbours.
NEIGHBOURS = ('<html><head><style>div + p.x::before{{content:"{0}"}} div + p.y::before{{content:"{1}"}}</style>'
              '</head><body><p>THÔNG BÁO</p><div></div><p class="x"></p><p class="y"></p></body></html>')


def test_a_block_drawn_otherwise_is_read_beside_each_way_its_neighbour_is_drawn(pipeline, tmp_path):
    hostile = NEIGHBOURS.format("MẬT", "ĐỘ")
    f = tmp_path / "neighbours.html"
    f.write_text(hostile, encoding="utf-8")
    assert blocked(pipeline, f)
    assert blocked(pipeline, mail(tmp_path, "neighbours.eml", hostile))
    honest = NEIGHBOURS.format("KHẨN", "ĐỘ")
    assert released(pipeline, mail(tmp_path, "neighbours-ok.eml", honest))


@pytest.mark.parametrize("between", [10, text_reader.MAX_CSS_WAYS + 1])
def test_a_neighbour_past_too_many_blocks_that_may_be_empty_is_refused(between):
    """The nearest line beside a block is looked for past blocks that may be drawn empty, up to MAX_CSS_WAYS of
    them in a row; past that the page is not read completely (refused), never read without its neighbours."""
    head = '<style>div p.e::before{content:"x"} div p.m::before{content:"MẬT"}</style>'
    body = '<div><p class="m"></p>' + '<p class="e"></p>' * between + "</div>"
    lines, incomplete = text_reader.text_lines(f"<html><head>{head}</head><body>{body}</body></html>", HTML)
    if between > text_reader.MAX_CSS_WAYS:
        assert [r.code for r in incomplete] == ["DOCUMENT_UNREADABLE"]
    else:
        assert incomplete == [] and any(line.text == "MẬT" for line in lines)


# letters that no text says: counters drawn in a letter style, or a custom counter style's symbols
COUNTERS = {
    "upper_alpha": ('.a{counter-reset:a 13} .b{counter-reset:b 1} .c{counter-reset:c 20}'
                    ' .a::before{content:counter(a, upper-alpha)} .b::before{content:counter(b,upper-alpha)}'
                    ' .c::after{content:counter(c, upper-latin)}'),
    "counters_roman": 'p{counter-reset:m 1000} .a::before{content:counters(m, ".", upper-roman) "ẬT"}',
    "counter_style": ('@counter-style mk {system: cyclic; symbols: "M" "Ậ" "T"; suffix: "";}'
                      ' .a::before{content:counter(a, mk)}'),
    "list_symbols": 'ol.k li{list-style-type:symbols(cyclic "MẬT")}',
}


@pytest.mark.parametrize("case", sorted(COUNTERS))
def test_counter_letters_are_refused(pipeline, tmp_path, case):
    hostile = page(SPANS + '<ol class="k"><li>Mục</li></ol>', f"<style>{COUNTERS[case]}</style>")
    f = tmp_path / f"{case}.html"
    f.write_text(hostile, encoding="utf-8")
    assert refused(pipeline, f)
    assert refused(pipeline, mail(tmp_path, f"{case}.eml", hostile))
    # numbers and bullets drawn by counters are still read and signed
    honest = page('<ol><li>Mục một</li><li>Mục hai</li></ol><h2>Phần</h2>',
                  '<style>ol{counter-reset:item} li{counter-increment:item; list-style:none}'
                  ' li::before{content:counter(item) ". "} h2::before{content:counters(item, ".", decimal) " "}'
                  ' ul li::before{content:counter(x, disc)}</style>')
    ok = tmp_path / "numbered.html"
    ok.write_text(honest, encoding="utf-8")
    assert released(pipeline, ok)
    assert released(pipeline, mail(tmp_path, "numbered.eml", honest))


XLINK = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="300"'
         ' height="100">{}</svg>')
# {0}{1}{2}: the three letters, defined out of order, drawn in order where they are used or along a path
SVG_REFS = {
    "use_defs": ('<defs><text id="c">{2}</text><text id="a">{0}</text><text id="b">{1}</text></defs>'
                 '<use href="#a" x="10" y="50"/><use xlink:href="#b" x="45" y="50"/>'
                 '<use href="#c" transform="translate(80 50)"/>'),
    "use_nested_groups": ('<defs><g id="g1"><text x="35" id="b">{1}</text><use href="#c" x="70"/></g>'
                          '<symbol id="c"><text>{2}</text></symbol><text id="a">{0}</text></defs>'
                          '<g transform="translate(0 50)"><use href="#g1" x="10"/><use href="#a" x="10"/></g>'),
    # each symbol's viewBox moves its letter (defined at x=10) to where the use draws it: 80, 10, 45
    "symbol_viewboxes": ('<defs><symbol id="c" viewBox="-70 0 100 100"><text x="10" y="50">{2}</text></symbol>'
                         '<symbol id="a" viewBox="0 0 100 100"><text x="10" y="50">{0}</text></symbol>'
                         '<symbol id="b" viewBox="-35 0 100 100"><text x="10" y="50">{1}</text></symbol></defs>'
                         '<use href="#c" width="100" height="100"/><use href="#a" width="100" height="100"/>'
                         '<use href="#b" width="100" height="100"/>'),
    # ... scaled: viewBoxes 2x, 1/2x and 1x the use's size, the letters drawn at 80, 20, 45
    "symbol_viewboxes_scaled": ('<defs><symbol id="c" viewBox="0 0 50 50"><text x="40" y="25">{2}</text></symbol>'
                                '<symbol id="a" viewBox="0 0 200 200"><text x="40" y="100">{0}</text></symbol>'
                                '<symbol id="b" viewBox="0 0 100 100"><text x="45" y="50">{1}</text></symbol>'
                                '</defs><use href="#c" width="100" height="100"/><use href="#a" width="100"'
                                ' height="100"/><use href="#b" width="100" height="100"/>'),
    "nested_svg_viewboxes": ('<svg width="100" height="100" viewBox="-70 0 100 100"><text x="10" y="50">{2}</text>'
                             '</svg><svg width="100" height="100" viewBox="0 0 100 100"><text x="10" y="50">{0}'
                             '</text></svg><svg width="100" height="100" viewBox="-35 0 100 100"><text x="10"'
                             ' y="50">{1}</text></svg>'),
    # a letter defined in <defs> and never used is not drawn: it does not join the drawn letters of its row
    "defs_decoy": ('<defs><text x="5" y="50">X</text></defs><text x="10" y="50">{0}</text>'
                   '<text x="30" y="50">{1}</text><text x="50" y="50">{2}</text>'),
    # along a semicircle (length 314): 100, 40 % (126), 150; its chord (200) would put the 40 % first (80)
    "textpath_arc_offsets": ('<defs><path id="p" d="M0,90 A100,100 0 0 1 200,90"/></defs>'
                             '<text><textPath href="#p" startOffset="150">{2}</textPath></text>'
                             '<text><textPath href="#p" startOffset="100">{0}</textPath></text>'
                             '<text><textPath href="#p" startOffset="40%">{1}</textPath></text>'),
    "textpath_offsets": ('<defs><path id="p" d="M10,50 L290,50"/></defs>'
                         '<text><textPath href="#p" startOffset="70">{2}</textPath></text>'
                         '<text><textPath xlink:href="#p">{0}</textPath></text>'
                         '<text><textPath href="#p" startOffset="12%">{1}</textPath></text>'),
}


@pytest.mark.parametrize("case", sorted(SVG_REFS))
def test_svg_text_used_by_reference_or_along_a_path_is_read(pipeline, tmp_path, case):
    f = tmp_path / f"{case}.svg"
    f.write_text(XLINK.format(SVG_REFS[case].format("M", "Ậ", "T")), encoding="utf-8")
    assert blocked(pipeline, f)
    assert blocked(pipeline, mail(tmp_path, f"{case}.eml", page(XLINK.format(SVG_REFS[case].format("M", "Ậ", "T")))))
    ok = tmp_path / f"{case}-ok.svg"
    ok.write_text(XLINK.format(SVG_REFS[case].format("K", "H", "Ẩ")), encoding="utf-8")
    assert released(pipeline, ok)


@pytest.mark.parametrize("d,length", [
    ("M0,0 A100,100 0 0 1 200,0", 314.159), ("m0 0 a100 100 0 1 0 200 0", 314.159),  # semicircles
    ("M0,0 A50,50 0 0 1 200,0", 314.159),  # radii too small: scaled up to reach the end (SVG F.6.6)
    ("M0,0 A100,50 0 0 1 200,0", 242.211),  # half an ellipse (Ramanujan)
    ("M100,0 C100,55.228 55.228,100 0,100", 157.080),  # a quarter circle as a cubic
    ("M0,0 Q50,100 100,0 T200,0", 2 * 147.894),  # a quadratic and its smooth reflection
    ("M0 0 h100 v100 z", 341.421), ("M10,50 L290,50", 280.0)])
def test_a_paths_length_follows_its_curves(d, length):
    """startOffset in % is of the path's length: measured along the curves, not their control points."""
    assert abs(text_reader._path_length(d) - length) <= 0.001 * length


def test_svg_text_in_a_viewbox_of_unknown_size_is_refused():
    """A <symbol> used without a width and height, or a nested <svg> without them, is drawn into 100 % of a
    viewport the gateway does not lay out: where its viewBox puts its text is not known (refused); holding no
    text (an icon), it is read as before."""
    for body in ('<defs><symbol id="a" viewBox="0 0 10 10"><text y="5">MẬT</text></symbol></defs><use href="#a"/>',
                 '<svg viewBox="0 0 10 10"><text y="5">KHẨN</text></svg>'):
        _, incomplete = text_reader.text_lines(XLINK.format(body), SVG_TYPE)
        assert [r.code for r in incomplete] == ["DOCUMENT_UNREADABLE"], body
    icon = '<defs><symbol id="i" viewBox="0 0 10 10"><path d="M0 0h10v10z"/></symbol></defs><use href="#i"/>'
    _, incomplete = text_reader.text_lines(XLINK.format(icon + '<text y="50">Biểu đồ</text>'), SVG_TYPE)
    assert incomplete == []


def test_svg_text_moved_by_style_rules_is_refused(pipeline, tmp_path):
    moved = ('<style>#t{{transform:translate(80px,50px)}} .m{{transform: translate(10px, 50px)}}'
             ' text.a{{translate:45px 50px}}</style><text id="t">{2}</text><text class="m">{0}</text>'
             '<text class="a">{1}</text>').format("M", "Ậ", "T")
    f = tmp_path / "moved.svg"
    f.write_text(SVG.format(moved), encoding="utf-8")
    assert refused(pipeline, f)
    assert refused(pipeline, mail(tmp_path, "moved.eml", page(SVG.format(moved))))
    plain = SVG.format('<style>text{fill:#333; text-transform:none}</style><text x="10" y="50">Biểu đồ</text>')
    ok = tmp_path / "plain.svg"
    ok.write_text(plain, encoding="utf-8")
    assert released(pipeline, ok)
    html_only = page('<p class="r">Ghi chú</p>', '<style>.r{transform:rotate(2deg)}</style>')
    assert released(pipeline, mail(tmp_path, "transform-html.eml", html_only))


# --- list markers: <ol type="A" start="8834"> draws "MAT." ----------------------------------------------------

MAT_ITEM = 13 * 26 * 26 + 1 * 26 + 20  # "MAT" in upper-alpha numbering
LISTS = {
    "type_attribute": f'<ol type="A" start="{MAT_ITEM}"><li></li></ol>',
    "inline_style": f'<ol style="list-style-type: upper-latin" start="{MAT_ITEM}"><li>&nbsp;</li></ol>',
    "item_value": f'<ol type="A"><li>Mục một</li><li value="{MAT_ITEM}"></li></ol>',
    "reversed": f'<ol type="A" reversed start="{MAT_ITEM + 1}"><li>Một</li><li></li></ol>',
    "style_rule": f'<ol class="k" start="{MAT_ITEM}"><li></li></ol>',
}


@pytest.mark.parametrize("case", sorted(LISTS))
def test_list_markers_drawn_as_letters_are_read(pipeline, tmp_path, case):
    head = "<style>ol.k { list-style: upper-alpha inside }</style>" if case == "style_rule" else ""
    hostile = page(LISTS[case], head)
    f = tmp_path / f"{case}.html"
    f.write_text(hostile, encoding="utf-8")
    assert blocked(pipeline, f)
    assert blocked(pipeline, mail(tmp_path, f"{case}.eml", hostile))


def test_list_markers_of_honest_lists_sign_and_a_style_not_drawn_is_refused(pipeline, tmp_path):
    honest = page('<ol type="A"><li>Mục tiêu</li><li>Nhiệm vụ</li></ol><ol type="I"><li>Căn cứ</li></ol>'
                  '<ol type="a" start="13"><li>mật độ dân cư</li></ol><ul><li>bảo mật thông tin</li></ul>',
                  "<style>ol.x { list-style-type: lower-roman }</style>")
    f = tmp_path / "honest.html"
    f.write_text(honest, encoding="utf-8")
    assert released(pipeline, f)
    assert released(pipeline, mail(tmp_path, "honest.eml", honest))
    greek = page('<ol class="g"><li>một</li></ol>', "<style>ol.g { list-style-type: lower-greek }</style>")
    g = tmp_path / "greek.html"
    g.write_text(greek, encoding="utf-8")
    assert refused(pipeline, g)


def _data_css(css: str, b64: bool) -> str:
    import base64
    from urllib.parse import quote

    return ("data:text/css;base64," + base64.b64encode(css.encode()).decode()) if b64 else "data:text/css," + quote(css)


@pytest.mark.parametrize("how", ["link", "link-plain", "import-url", "import-string", "import-in-a-linked-sheet"])
def test_a_style_sheet_given_as_a_data_uri_is_read_with_the_page(how, pipeline, tmp_path):
    """A sheet in a data: URI (a <link rel=stylesheet>, an @import) draws its ::before strings on this page; read
    as a text of its own the pieces were out of place, and the page was signed."""
    def spelled(letters):
        sheet = _data_css(ABC % letters, how != "link-plain")
        head = {"link": f'<link rel="stylesheet" href="{sheet}">', "link-plain": f'<link rel="stylesheet" href="{sheet}">',
                "import-url": f"<style>@import url({sheet});</style>", "import-string": f'<style>@import "{sheet}";</style>',
                "import-in-a-linked-sheet": f'<link rel="stylesheet" href="{_data_css(f"@import url({sheet});", True)}">'}
        return page(SPANS, head[how])

    f = tmp_path / f"{how}.html"
    f.write_text(spelled(("M", "Ậ", "T")), encoding="utf-8")
    assert blocked(pipeline, f)
    assert blocked(pipeline, mail(tmp_path, f"{how}.eml", spelled(("M", "Ậ", "T"))))
    assert released(pipeline, mail(tmp_path, f"{how}-ok.eml", spelled(("K", "H", "ẨN"))))


def test_a_style_sheet_in_another_part_of_the_message_is_refused(pipeline, tmp_path):
    """<link rel=stylesheet href="cid:..."> names a part of the message a client applies to this page: not
    read with the page, so not read completely."""
    f = mail(tmp_path, "cid.eml", page(SPANS, '<link rel="stylesheet" href="cid:style1@so-a.gov.vn">'))
    outcome, codes = check(pipeline, f)
    assert outcome is Outcome.REJECT and "DOCUMENT_UNREADABLE" in codes, (outcome, codes)


OUTLOOK = ('<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office"><body>'
           '<p>' + BODY + '</p><!--[if gte vml 1]>{vml}<![endif]--><!--[if mso]><p>{mso}</p><![endif]--></body></html>')


@pytest.mark.parametrize("vml,mso", [
    ('<v:shape style="width:300pt;height:60pt" type="#_x0000_t136"><v:textpath string="TỐI MẬT"/></v:shape>', "Kính gửi"),
    ("", "TỐI MẬT"),
])
def test_what_outlook_shows_in_conditional_comments_is_read(vml, mso, pipeline, tmp_path):
    """Outlook draws the VML and [if mso] blocks of its conditional comments (WordArt's text is the textpath's
    `string`): they were one comment line to the reader, and the mark in them was signed."""
    assert blocked(pipeline, mail(tmp_path, "outlook.eml", OUTLOOK.format(vml=vml, mso=mso)))


def test_outlook_pictures_sign_and_vml_paths_are_refused(pipeline, tmp_path):
    """Outlook's own picture shapes (a shapetype's path, an image shape) sign; a shape drawn from its own
    path (letters as outlines, which Outlook draws and nothing here can) is refused as not read."""
    picture = ('<v:shapetype id="_x0000_t75" path="m@4@5l@4@11@9@11@9@5xe" o:spt="75"/><v:shape id="i1" '
               'type="#_x0000_t75" style="width:50pt;height:20pt"><v:imagedata src="cid:logo" o:title=""/></v:shape>')
    assert released(pipeline, mail(tmp_path, "picture.eml", OUTLOOK.format(vml=picture, mso="Kính gửi")))
    drawn = '<v:shape style="width:10pt;height:10pt" path="m0,0l100,0,100,100,0,100xe" fillcolor="red"/>'
    outcome, codes = check(pipeline, mail(tmp_path, "drawn.eml", OUTLOOK.format(vml=drawn, mso="Kính gửi")))
    assert outcome is Outcome.REJECT and "DOCUMENT_UNREADABLE" in codes, (outcome, codes)
