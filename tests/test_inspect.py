"""inspect(): type by content, PDF structure facts, hostile input, a 200 MB file (every corpus PDF: test_corpus.py)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gateway.inspect import inspect, sniff
from gateway.model import Channel, CirculationMark, Document, SecrecyLevel
from gateway.settings import load_settings
from gateway.validation import Validator

from util import make_big_pdf, make_pdf, sign_as_person


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    return load_settings(var_dir=tmp_path_factory.mktemp("var"))


def _facts(path, settings, validator=None):
    return inspect(Document(Channel.CLI, Path(path).name, path=Path(path)), settings, validator or Validator(settings))


@pytest.mark.parametrize(
    "head,media",
    [
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\x00" * 1000 + b"%PDF-1.4\n", "application/pdf"),  # junk before the header, as readers accept
        (b"x" * 2000 + b"%PDF-1.4\n", "text/plain"),  # too far: not a PDF
        (b"PK\x03\x04....[Content_Types].xml....word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (b"PK\x03\x04 anything", "application/zip"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0....", "image/jpeg"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
        ("Kính gửi: Sở Tư pháp\n".encode(), "text/plain"),
        (b"<?xml version='1.0'?><a/>", "application/xml"),
        (b"", "application/x-empty"),
        (bytes(range(256)), "application/octet-stream"),
    ],
)
def test_type_by_content(head, media):
    assert sniff(head) == media


def test_plain_pdf_facts(tmp_path, settings):
    p = make_pdf(tmp_path / "a.pdf", pages=3)
    f = _facts(p, settings)
    assert f.media_type == "application/pdf" and f.page_count == 3
    assert f.size == p.stat().st_size and f.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()
    assert not (f.encrypted or f.broken or f.recovered or f.javascript)
    assert f.number == "123/UBND-VP"
    assert f.pdf_version and f.signatures == () and f.secrecy == () and f.warnings == ()


def test_bytes_document_and_name_ignored(tmp_path, settings):
    p = make_pdf(tmp_path / "a.pdf")
    doc = Document(Channel.SMTP, "looks-like.docx", content=p.read_bytes(), media_type="application/msword")
    assert inspect(doc, settings, Validator(settings)).media_type == "application/pdf"


@pytest.mark.parametrize("how", ["name", "description", "annotation", "portfolio-column"])
def test_an_embedded_files_name_is_read_like_an_attachments(how, tmp_path, settings):
    """The attachments panel lists an embedded file's name and description: "TỐI MẬT - báo cáo.txt" is a mark,
    as in a mail attachment's name, whatever the file holds (signed before)."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, FloatObject, NameObject, TextStringObject

    src = make_pdf(tmp_path / "a.pdf", lines=["UBND TỈNH", "Công văn số 7/UBND"])
    w = PdfWriter(clone_from=PdfReader(src))
    name = "TỐI MẬT - báo cáo.txt" if how == "name" else "phu-luc.txt"
    w.add_attachment(name, b"noi dung binh thuong")
    spec = w._root_object["/Names"]["/EmbeddedFiles"]["/Names"][1].get_object()
    if how == "description":
        spec[NameObject("/Desc")] = TextStringObject("Tối mật")
    if how == "portfolio-column":  # Acrobat lists a portfolio's files with their columns
        spec[NameObject("/CI")] = DictionaryObject({NameObject("/domat"): DictionaryObject(
            {NameObject("/D"): TextStringObject("TỐI MẬT"), NameObject("/P"): TextStringObject("Độ mật: ")})})
        w._root_object[NameObject("/Collection")] = DictionaryObject({NameObject("/Schema"): DictionaryObject()})
    if how == "annotation":  # the same file behind a paper-clip icon on the page, named there
        del w._root_object["/Names"]
        clip = DictionaryObject({NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/FileAttachment"),
                                 NameObject("/Rect"): ArrayObject([FloatObject(x) for x in (72, 600, 90, 620)]),
                                 NameObject("/FS"): spec.indirect_reference})
        spec[NameObject("/UF")] = TextStringObject("TỐI MẬT.txt")
        w.pages[0][NameObject("/Annots")] = ArrayObject([w._add_object(clip)])
    out = tmp_path / "att.pdf"
    with open(out, "wb") as fh:
        w.write(fh)
    f = _facts(out, settings)
    assert SecrecyLevel.TOI_MAT in {s.level for s in f.secrecy}, f.secrecy


def test_javascript_embedded_files_and_encryption(tmp_path, settings):
    from pypdf import PdfReader, PdfWriter

    src = make_pdf(tmp_path / "a.pdf", lines=["UBND TỈNH", "TỐI MẬT", "Số: 7/QĐ-UBND"])
    w = PdfWriter(clone_from=PdfReader(src))
    from pypdf.generic import DictionaryObject, NameObject, TextStringObject

    action = DictionaryObject({NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")})
    w._root_object[NameObject("/OpenAction")] = w._add_object(action)
    w.add_attachment("phu-luc.txt", b"data")
    js = tmp_path / "js.pdf"
    with open(js, "wb") as fh:
        w.write(fh)
    f = _facts(js, settings)
    assert f.javascript and f.embedded_files == 1 and f.number == "7/QĐ-UBND"

    w = PdfWriter(clone_from=PdfReader(src))
    w.encrypt(user_password="", owner_password="chủ", algorithm="AES-128")
    enc = tmp_path / "enc.pdf"
    with open(enc, "wb") as fh:
        w.write(fh)
    f = _facts(enc, settings)
    assert f.encrypted and not f.broken and f.page_count == 1
    assert f.secrecy[0].level is SecrecyLevel.TOI_MAT  # an open-password file is still read for marks

    w = PdfWriter(clone_from=PdfReader(src))
    w.encrypt(user_password="bí mật", algorithm="AES-256")
    locked = tmp_path / "locked.pdf"
    with open(locked, "wb") as fh:
        w.write(fh)
    f = _facts(locked, settings)
    assert f.encrypted and f.page_count is None and f.secrecy == ()


def test_limits(tmp_path, settings):
    p = make_pdf(tmp_path / "a.pdf", pages=5)
    few_pages = load_settings(var_dir=settings.var_dir, limits={"max_pages": 2})
    f = _facts(p, few_pages)
    assert f.broken and f.warnings[0].code == "PDF_TOO_COMPLEX"
    few_objects = load_settings(var_dir=settings.var_dir, limits={"max_pdf_objects": 3})
    assert _facts(p, few_objects).warnings[0].code == "PDF_TOO_COMPLEX"


def test_time_limit_interrupts(tmp_path, settings):
    p = make_pdf(tmp_path / "a.pdf", pages=200)
    tiny = load_settings(var_dir=settings.var_dir, limits={"document_seconds": 0.002})
    f = _facts(p, tiny)
    assert f.broken and f.warnings[0].code == "TIME_LIMIT"
    assert not _facts(p, settings).broken  # the same file with the normal budget


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_timeout_lost_on_the_way_still_ends_the_reading(monkeypatch):
    """Python ignores an exception raised in a gc callback, and a library's bare `except:` swallows one: the
    reading must still end as out of time, never as complete (fail closed)."""
    import gc
    import sys

    from gateway.inspect.limits import Timeout, time_limit

    # Python hands the ignored Timeout to sys.unraisablehook. pytest's hook formats a traceback (reading source
    # files): on a slow machine our repeated alarm (every RETRY s) interrupted it, and pytest failed the test
    # with "Failed to process unraisable exception". What is tested here is the reading, not that hook.
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: None)

    def slow_callback(phase, info):
        if phase == "start":
            time.sleep(0.2)  # our alarm fires here; its Timeout is "ignored in gc callback"

    gc.callbacks.append(slow_callback)
    try:
        with pytest.raises(Timeout):
            with time_limit(0.02):
                gc.collect()
    finally:
        gc.callbacks.remove(slow_callback)
    with pytest.raises(Timeout):
        with time_limit(0.02):
            try:
                time.sleep(0.2)
            except BaseException:  # noqa: BLE001 - what a careless library does
                pass


def test_a_timeout_our_reader_acknowledged_keeps_what_was_read():
    """Our own reader catches the alarm on purpose (it records the unread rest): the block ends with what
    was read; a reader that then hangs is interrupted again after the grace period."""
    from gateway.inspect import limits
    from gateway.inspect.limits import Timeout, acknowledge, time_limit

    read = []
    with time_limit(0.02):
        try:
            time.sleep(0.5)
        except Timeout as exc:
            read.append("page 1")
            acknowledge(exc)
    assert read == ["page 1"]
    t0 = time.monotonic()
    with pytest.raises(Timeout):
        with time_limit(0.02):
            try:
                time.sleep(0.5)
            except Timeout as exc:
                acknowledge(exc)
            time.sleep(limits.GRACE + 5)  # hangs after acknowledging
    assert time.monotonic() - t0 < limits.GRACE + 4


def test_garbage_and_truncated(tmp_path, settings):
    junk = tmp_path / "junk.pdf"
    junk.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    f = _facts(junk, settings)
    assert f.is_pdf and f.broken and f.warnings[0].code == "PDF_BROKEN"
    whole = make_pdf(tmp_path / "w.pdf").read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(whole[: len(whole) // 2])
    f = _facts(cut, settings)
    assert f.broken or f.recovered
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    assert _facts(empty, settings).media_type == "application/x-empty"


def test_signed_document(dev_settings, tmp_path):
    p = sign_as_person(make_pdf(tmp_path / "a.pdf"), tmp_path / "s.pdf", dev_settings)
    f = _facts(p, dev_settings, Validator(dev_settings))
    (sig,) = f.signatures
    assert sig.valid and sig.covers_whole_document and f.empty_signature_fields == () and f.warnings == ()


# --- large files --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_200_mb_without_reading_it_whole(tmp_path, capsys):
    """Hash streamed, pypdf on the file object: peak RSS of a fresh process stays far below the file size."""
    big = make_big_pdf(tmp_path / "big.pdf", 200 * 1024 * 1024)
    script = textwrap.dedent(
        f"""
        import time, json
        from pathlib import Path
        from gateway.inspect import inspect
        from gateway.model import Channel, Document
        from gateway.settings import load_settings
        from gateway.validation import Validator
        s = load_settings(var_dir=Path({str(tmp_path / 'var')!r}))
        t = time.perf_counter()
        f = inspect(Document(Channel.CLI, "big.pdf", path=Path({str(big)!r})), s, Validator(s))
        print(json.dumps({{"ms": (time.perf_counter() - t) * 1000, "rss_kib": int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]),
                          "pages": f.page_count, "broken": f.broken, "size": f.size, "recovered": f.recovered,
                          "warnings": [w.code for w in f.warnings]}}))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json

    r = json.loads(proc.stdout.strip().splitlines()[-1])
    with capsys.disabled():
        print(f"\n[inspect 200 MB] {r['ms']:.0f} ms, peak RSS {r['rss_kib'] / 1024:.0f} MiB, {r['warnings']}")
    assert r["pages"] == 1 and not r["broken"] and r["size"] == big.stat().st_size
    assert r["rss_kib"] < 120 * 1024  # reading it whole would be > 250 MiB (file + interpreter + libraries)


def test_large_file_text_path_finds_marks(tmp_path, settings, monkeypatch):
    """Above the size threshold the page text is read in a child process: same rule, same findings."""
    import gateway.inspect.pdf as gi

    p = make_pdf(tmp_path / "a.pdf", lines=["UBND TỈNH", "Số: 9/UBND-VP", "TUYỆT MẬT", "LƯU HÀNH NỘI BỘ"])
    monkeypatch.setattr(gi, "TEXT_CHILD_MIN_BYTES", 1)
    f = _facts(p, settings)
    assert [(x.level, x.where) for x in f.secrecy] == [(SecrecyLevel.TUYET_MAT, "text:page1")]
    assert CirculationMark.INTERNAL_CIRCULATION in f.marks and f.number == "9/UBND-VP"


def test_large_file_child_failure_is_not_a_pass(tmp_path, settings, monkeypatch):
    """The child process failing must not leave the secrecy scan silently skipped: the text is unread."""
    import gateway.inspect.pdf as gi

    p = make_pdf(tmp_path / "a.pdf", lines=["UBND TỈNH", "Nội dung"])
    monkeypatch.setattr(gi, "TEXT_CHILD_MIN_BYTES", 1)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, b"", b"Segmentation fault"))
    f = _facts(p, settings)
    assert [r.code for r in f.incomplete] == ["SECRECY_SCAN_INCOMPLETE"]


def test_a_slow_settled_reading_is_kept_and_one_cut_short_is_not(tmp_path, monkeypatch):
    """The same bytes again are answered from the kept reading (gateway.inspect.memo), marks included; a
    reading that did not finish is read again next time (it may complete then), never kept; one whose only gap
    the bytes settle (too grainy) is kept with that gap."""
    from gateway.inspect import memo
    from gateway.inspect import pdf as pdf_reader
    from gateway.model import Reason

    settings = load_settings(var_dir=tmp_path / "var")
    src = make_pdf(tmp_path / "a.pdf", lines=["UBND TỈNH", "TỐI MẬT", "Số: 7/QĐ-UBND"])
    copy = tmp_path / "b.pdf"
    copy.write_bytes(src.read_bytes())
    monkeypatch.setattr(memo, "MIN_SECONDS", 0.0)  # this small file reads in milliseconds
    memo.forget()
    calls = []
    real = pdf_reader.analyse

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(pdf_reader, "analyse", counted)
    first = inspect(Document(channel=Channel.CLI, name="a.pdf", path=src), settings)
    again = inspect(Document(channel=Channel.CLI, name="b.pdf", path=copy), settings)
    assert len(calls) == 1
    assert [s.level for s in first.secrecy] == [SecrecyLevel.TOI_MAT] and first.secrecy == again.secrecy

    memo.forget()

    def read_with_gap(code: str, detail: str):
        def analyse(*args, **kwargs):
            out = real(*args, **kwargs)
            out.incomplete.append(Reason.of(code, detail=detail))
            calls.append(1)
            return out

        monkeypatch.setattr(pdf_reader, "analyse", analyse)
        calls.clear()
        return [inspect(Document(channel=Channel.CLI, name="a.pdf", path=src), settings) for _ in range(2)]

    for facts in read_with_gap("SECRECY_SCAN_INCOMPLETE", "test"):
        assert facts.incomplete
    assert len(calls) == 2
    memo.forget()
    # writing seen only through grain: the same bytes read the same next time
    for facts in read_with_gap("SCAN_TOO_GRAINY", "page 1"):
        assert [r.code for r in facts.incomplete] == ["SCAN_TOO_GRAINY"]  # kept with its gap: refused again
    assert len(calls) == 1
    memo.forget()
