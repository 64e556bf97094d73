"""Secrecy marks: the rule on strings (table-driven) and on generated Vietnamese sample PDFs through inspect()."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.inspect import marks as secrecy
from gateway.model import Channel, CirculationMark, Declared, Document, SecrecyLevel

from secrecy_samples import NEGATIVE, POSITIVE, generate, image_only_stamp

MAT, TOI, TUYET = SecrecyLevel.MAT, SecrecyLevel.TOI_MAT, SecrecyLevel.TUYET_MAT

TEXT_CASES = [
    ("MẬT", MAT),
    ("TỐI MẬT", TOI),
    ("TUYỆT MẬT", TUYET),
    (unicodedata.normalize("NFD", "TUYỆT MẬT"), TUYET),
    ("MA\u0323 \u0302T", MAT),  # an extractor split combining marks off with blanks
    ("M Ậ T", MAT),
    ("T Ố I   M Ậ T", TOI),
    ("T U Y Ệ T M Ậ T", TUYET),
    ("ＭẬＴ", MAT),  # full-width letters (NFKC)
    ("Số: 123/UBND-VP\nMẬT\nV/v báo cáo", MAT),
    ("ĐỘ MẬT: TỐI MẬT", TOI),
    ("TỐI\nMẬT", TOI),  # a narrow box, two lines
    ("MẬT\nKHẨN", MAT),
    ("HỎA TỐC TỐI MẬT", TOI),
    ("[MẬT]", MAT),
    ("tài liệu MẬT này", MAT),
    ("MẬT\nTÀI LIỆU THU HỒI", MAT),
    # negatives
    ("bí mật nhà nước", None),
    ("BÍ MẬT NHÀ NƯỚC", None),
    ("bảo mật", None),
    ("BẢO MẬT", None),
    ("GIẢI MẬT", None),
    ("G I Ả I   M Ậ T", None),
    ("mật khẩu", None),
    ("MẬT KHẨU", None),
    ("mật độ", None),
    ("MẬT ĐỘ DÂN SỐ", None),
    ("mật thiết", None),
    ("Mật ong", None),
    ("mật", MAT),  # alone, in any case: a standalone mark (LEGAL.md: fail closed)
    ("Mật", MAT),
    ("Tối mật", TOI),
    ("Văn bản này là\nmật", None),  # the end of a sentence, not a line of its own
    ("Đề nghị giữ\nTối mật\ncác nội dung", None),
    ("giữ bí\nmật", None),
    ("CÔNG TÁC BẢO\nMẬT", None),
    ("TÀI LIỆU MẬT", None),
    ("KHÔNG MẬT", None),
    ("MẬT\nĐỘ DÂN SỐ", None),
    ("độ mật của văn bản (MẬT/TỐI\nMẬT/TUYỆT MẬT) khi trình ký", None),  # a list wrapped after "TỐI"
    ("độ mật của văn bản MẬT hoặc TỐI\nMẬT khi trình ký", None),
    ("MẬT/TỐI\nngày 5 tháng 6", MAT),  # no "MẬT" after the break: no list goes on
    ("", None),
]


@pytest.mark.parametrize("text,level", TEXT_CASES)
def test_text_rule(text, level):
    assert secrecy.scan_text(text, "t").level is level


@pytest.mark.parametrize("text", [t for t, level in TEXT_CASES if level is not None]
                         + ["M Ậ T", "T-Ố-I M.Ậ.T", "\u041c\u0410\u0422", "ＭẬＴ", "M\u200bẬ\u00adT", "Tối\nmật",
                            "LƯU HÀNH", "N Ộ I  B Ộ", "THU-HỒI", "XEM XONG"])  # pieces of box-11 phrases
def test_the_cheap_test_before_costly_readings_never_misses_a_mark(text):
    """`may_hold_mark` lets the HTML reader skip readings: False must mean that no spelling holds a mark (a
    box-11 phrase is found run together across lines: any piece of it counts)."""
    assert secrecy.may_hold_mark(text)
    assert not secrecy.may_hold_mark("Công văn về việc họp giao ban") and not secrecy.may_hold_mark("KHẨN ĐỘ")


_PIECES = (["M", "Ậ", "A", "T", "m", "ậ", "t", "TỐI", "TUYỆT", "TOI", "MAT", "MẬT", "mật", "bí", "ĐỘ", "ĐỘ MẬT:",
            "KHẨN", "BÁO", "CÁO", "\u041c", "\u0410", "\u0422", "Ｍ", "Ｔ", "\u0302", "\u0323", "\u0342", "\u037a",
            "\u200b", "\u00ad", "\u00a0", " ", "  ", "\t", "-", ".", "/", ",", ":", "_", "\"", "«", "»", "(", ")",
            "và", "hoặc", "1", "ﬀ", "ǅ", "ß", "Ꮇ", "ᴍ", "Ᾰ", "\u1dc7", "Đ", "đ"])


@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
@settings(max_examples=4000, deadline=None, derandomize=True)
def test_a_line_passed_over_holds_no_candidate(raw):
    """`_may_stand` lets the line rule skip the tokens of a line (a 100,000-line text spent most of its scan
    making them): False must mean that the line has no mark candidate, in any spelling."""
    text = secrecy.normalise(raw)
    if secrecy._candidates(text, secrecy._tokens(text))[0]:
        assert secrecy._may_stand(text), repr(raw)


@given(st.lists(st.sampled_from(_PIECES + ["\n", "\n", "BÁO CÁO", "Kính gửi"]), max_size=24).map("".join))
@settings(max_examples=1500, deadline=None, derandomize=True)
def test_lines_passed_over_change_no_finding(text):
    """The lines around a candidate (a "TỐI" above, "BÁO CÁO" below) still count: skipping the others' tokens
    changes no finding."""
    findings = secrecy.scan_text(text, "t")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(secrecy, "_may_stand", lambda _text: True)
        assert secrecy.scan_text(text, "t") == findings, repr(text)


@given(st.one_of(st.text(max_size=30), st.lists(st.sampled_from(_PIECES), max_size=10).map("".join)))
@settings(max_examples=3000, deadline=None, derandomize=True)
def test_normalise_is_idempotent(value):
    """The line rule folds lines it has normalised without normalising them again (`_fold_normalised`). (Every
    code point alone, after "a", before a tilde and after a blank was checked too: 2026-12-07.)"""
    once = secrecy.normalise(value)
    assert secrecy.normalise(once) == once


def test_the_combining_characters_are_all_where_they_are_looked_for():
    assert not [c for c in range(0x20000, 0x110000) if unicodedata.combining(chr(c)) and c not in secrecy._combining()]


@given(st.text(max_size=30))
@settings(max_examples=2000, deadline=None, derandomize=True)
def test_fold_drops_every_combining_character(value):
    expected = unicodedata.normalize("NFD", secrecy.normalise(value))
    expected = "".join(c for c in expected if not unicodedata.combining(c))
    assert unicodedata.normalize("NFD", secrecy.normalise(value)).translate(secrecy._combining()) == expected


DECLARED_CASES = [
    ("mat", MAT),
    ("MẬT", MAT),
    ("Mật", MAT),
    ("toi-mat", TOI),
    ("toi mat", TOI),
    ("Tối mật", TOI),
    ("TUYET_MAT", TUYET),
    ("tuyet mat", TUYET),
    ("Tuyệt mật", TUYET),
    ("confidential", MAT),
    ("secret", TOI),
    ("Top Secret", TUYET),
    ("Độ mật: Mật", MAT),
    ("MẬT - HỎA TỐC", MAT),
    ("mat, toi mat", TOI),
    ("giải mật", None),
    ("giai-mat", None),
    ("không mật", None),
    ("bảo mật", None),
    ("bí mật", None),
    ("mật khẩu", None),
    ("thường", None),
    ("public", None),
    ("", None),
    (None, None),
]


# What OCR read of a cut-out stamp: does it show a "MẬT" without what stands with it (not read whole)?
HALF_READ_CASES = [
    ("PÕI MẮT, Ị", True),  # a serif "TỐI MẬT" askew over writing, as Tesseract read it
    ("MẶT", True), ("MẮT", True),  # "MẬT" but for its accents
    ("TÔI MẬT", True), ("Tối MẬT", True),  # neither "TỐI MẬT" nor another word: the level cannot be told
    ("xố MẬT", True), ("ZQ MẬT", True),
    ("MẬT", False), ("TỐI MẬT", False), ("TUYỆT MẬT", False), ("TOI MAT", False), ("MAT", False),
    ("HỎA TỐC MẬT", False), ("ĐỘ MẬT: MẬT", False),  # marks, read whole
    ("GIẢI MẬT", False), ("BẢO MẬT", False), ("MẬT ĐỘ", False), ("bí mật", False),  # ordinary words
    ("rồi MẶy.", False), ("THÔNG BÁO", False), ("ĐÃ DUYỆT", False),  # no "MẬT" seen
]


@pytest.mark.parametrize("text,half", HALF_READ_CASES)
def test_a_stamp_read_in_part(text, half):
    assert secrecy.half_read([text]) is half


@pytest.mark.parametrize("value,level", DECLARED_CASES)
def test_declared_values(value, level):
    assert secrecy.parse_level(value) is level
    assert secrecy.scan_declared(value).level is level


@pytest.mark.parametrize(
    "subject,level",
    [
        ("[MẬT] Báo cáo quý I", MAT),
        ("Re: (toi mat) Kế hoạch", TOI),
        ("TUYỆT MẬT: Kế hoạch", TUYET),
        ("Fwd: [mat] x", MAT),
        ("Tăng cường bảo mật thông tin", None),
        ("[GIẢI MẬT] Báo cáo", None),
        ("Đổi mật khẩu hộp thư", None),
    ],
)
def test_subject_tags(subject, level):
    assert secrecy.scan_subject(subject).level is level


def test_recall_and_internal_facts():
    m = secrecy.scan_text("TÀI LIỆU\nTHU HỒI\nL Ư U  H À N H  N Ộ I  B Ộ", "t")
    assert m.recall and m.internal and m.level is None
    assert not secrecy.scan_text("các tài liệu thu hồi; lưu hành nội bộ", "t").recall
    assert secrecy.scan_declared("luu hanh noi bo").internal


def test_metadata_rule():
    assert secrecy.scan_metadata({"/Subject": "MẬT"}, "info").secrecy[0].where == "info:Subject"
    assert secrecy.scan_metadata({"/Keywords": "báo cáo, toi mat"}, "info").level is TOI
    assert secrecy.scan_metadata({"/Keywords": "bảo mật, mật khẩu, giải mật"}, "info").level is None
    assert secrecy.scan_metadata({"/Title": "Mật ong rừng"}, "info").level is None  # titles: text rule, not keywords
    assert secrecy.scan_metadata({"vn:classification": ["tuyet-mat"]}, "xmp").level is TUYET
    # a custom property named in Vietnamese, with accents or without, is a classification key too
    for key in ("Độ mật", "ĐỘ_MẬT", "do-mat", "Phân loại"):
        assert secrecy.scan_metadata({key: "Thường; tối mật"}, "custom").level is TOI, key


def test_highest_wins():
    m = secrecy.scan_text("MẬT", "a") | secrecy.scan_declared("tuyet mat", "b")
    assert m.level is TUYET and len(m.secrecy) == 2


# --- generated PDFs through inspect ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("secrecy"))


@pytest.fixture(scope="module")
def plain_settings(tmp_path_factory):
    from gateway.settings import load_settings

    return load_settings(var_dir=tmp_path_factory.mktemp("var"))


def _inspect(path, settings, **declared):
    from gateway.inspect import inspect
    from gateway.validation import Validator

    doc = Document(Channel.CLI, path.name, path=path, declared=Declared(**declared))
    return inspect(doc, settings, Validator(settings))


@pytest.mark.parametrize("sample", POSITIVE + NEGATIVE, ids=lambda s: s.name)
def test_sample_pdf(sample, samples, plain_settings):
    facts = _inspect(samples[sample.name], plain_settings)
    assert facts.is_pdf and not facts.broken
    levels = secrecy.highest(f.level for f in facts.secrecy)
    assert levels is sample.level, facts.secrecy
    assert (CirculationMark.RECALL in facts.marks) is sample.recall
    assert (CirculationMark.INTERNAL_CIRCULATION in facts.marks) is sample.internal
    if sample.where:
        assert any(f.where.startswith(sample.where) for f in facts.secrecy), facts.secrecy


def test_declared_classification_reaches_facts(samples, plain_settings):
    clean = samples["ordinary-words"]
    facts = _inspect(clean, plain_settings, classification="Tối mật")
    assert [(f.level, f.where) for f in facts.secrecy] == [(TOI, "declared:classification")]
    facts = _inspect(clean, plain_settings, title="[MẬT] Báo cáo")
    assert facts.secrecy[0].where == "declared:title"
    assert _inspect(clean, plain_settings, classification="giải mật").secrecy == ()


def test_text_file_is_scanned(tmp_path, plain_settings):
    p = tmp_path / "note.txt"
    p.write_text("UBND TỈNH\nTUYỆT MẬT\nNội dung", encoding="utf-8")
    facts = _inspect(p, plain_settings)
    assert facts.media_type == "text/plain" and facts.secrecy[0].level is TUYET


def test_strokes_that_are_no_letters_are_no_mark(tmp_path, plain_settings):
    """Graphics without a text layer are read (OCR) — strokes that spell nothing are not a mark; a declaration
    still is. (Outlined and pictured marks are in tests/test_secrecy_variants.py.)"""
    p = tmp_path / "drawn.pdf"
    image_only_stamp(p)
    assert _inspect(p, plain_settings).secrecy == ()
    assert _inspect(p, plain_settings, classification="MẬT").secrecy[0].level is MAT


@pytest.mark.parametrize("read,meant", [
    ("TUYẾỆT MẬT", "TUYỆT MẬT"),  # what Tesseract wrote for scans of the labelled set
    ("| Tuyệt MậẬT |", "| Tuyệt MẬT |"),
    ("cứu hưu rượu xoong moóc Nguyễn", "cứu hưu rượu xoong moóc Nguyễn"),  # words with a bare letter kept
    ("tài liệu TUYỆT MẬTT của", "tài liệu TUYỆT MẬT của"),  # a lying font's line read by eye (set v11)
    ("MATT DAMON, BẢN 12", "MATT DAMON, BẢN 12"),  # unaccented: not a Vietnamese word, kept
])
def test_a_letter_ocr_doubled_is_read_once(read, meant):
    from gateway.inspect.ocr import undoubled

    assert undoubled(read) == meant
    assert (secrecy.scan_text(undoubled(read), "t").level is None) is (secrecy.scan_text(meant, "t").level is None)
