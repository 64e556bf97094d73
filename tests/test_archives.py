"""Every archive class through the pipeline: made by the real tool, taken apart by an independent one.

For each class: a clean document arrives signed (extracted with 7z / tar / gzip / tnef, verified with pdfsig
and the dev NSS db or `openssl cms -verify`), a MẬT-marked one is BLOCKed, an unreadable one (encrypted,
truncated) is refused with its reason. ZIP's own cases are in test_containers.py.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import subprocess
from pathlib import Path

import pytest
from container_support import (
    cms_verify,
    make_mat_pdf,
    seven_list,
    seven_unzip,
    seven_zip,
    tar_tool,
    untar_all,
)
from util import make_pdf, pdfsig

from gateway.audit import AuditLog
from gateway.model import Channel, DocKind, Document, Origin, Outcome
from gateway.pipeline import Pipeline
from gateway.signing import container_tnef as tnef_writer

pytestmark = pytest.mark.hsm


def doc(path: Path, channel=Channel.SMTP) -> Document:
    return Document(channel=channel, name=path.name, path=path, kind=DocKind.ATTACHMENT,
                    origin=Origin(sender="van.thu@so.gov.vn", recipients=("a@bo.gov.vn",)))


def codes(res) -> set[str]:
    return {r.code for r in res.decision.reasons}


@pytest.fixture()
def src(tmp_path):
    d = tmp_path / "src"
    make_pdf(d / "a.pdf")
    (d / "sub").mkdir()
    make_pdf(d / "sub" / "b.pdf", lines=["Công văn", "Số: 7/UBND-VP"])
    (d / "ghi-chu.txt").write_text("Ghi chú\n", encoding="utf-8")
    return d


def signed_ok(path: Path, settings) -> None:
    sigs = pdfsig(path, settings.paths.nssdb)
    assert len(sigs) == 1 and sigs[0]["valid"] and sigs[0]["trusted"] and sigs[0]["total_document"], sigs


# --- 7z ----------------------------------------------------------------------------------------------------


def test_7z_signed_and_checked_by_7z(pipeline, dev_settings, src, tmp_path):
    arc = seven_zip(tmp_path / "ho-so.7z", src, ["a.pdf", "sub", "ghi-chu.txt"])
    before = seven_list(arc)
    res = pipeline.process(doc(arc), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN and codes(res) == {"CONTAINER_REBUILT"}
    after = seven_list(res.output.path)
    # the same entries in the same order, the .p7s right after the text it signs
    assert [n for n in after if not n.endswith(".p7s")] == before
    assert after.index("ghi-chu.txt.p7s") == after.index("ghi-chu.txt") + 1
    x = seven_unzip(res.output.path, tmp_path / "x")
    signed_ok(x / "a.pdf", dev_settings)
    signed_ok(x / "sub" / "b.pdf", dev_settings)
    assert (x / "ghi-chu.txt").read_bytes() == (src / "ghi-chu.txt").read_bytes()
    cms_verify(x / "ghi-chu.txt.p7s", x / "ghi-chu.txt", dev_settings)


def test_7z_with_secret_blocks(pipeline, src, tmp_path):
    make_mat_pdf(src / "mat.pdf")
    arc = seven_zip(tmp_path / "m.7z", src, ["a.pdf", "mat.pdf"])
    res = pipeline.process(doc(arc), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.BLOCK and res.decision.reasons[0].args["member"] == "mat.pdf"


@pytest.mark.parametrize("flags", [["-pmatkhau"], ["-pmatkhau", "-mhe=on"]], ids=["content", "headers"])
def test_7z_encrypted_is_refused(pipeline, src, tmp_path, flags):
    arc = seven_zip(tmp_path / "e.7z", src, ["a.pdf"], *flags)
    res = pipeline.check(doc(arc))
    assert res.outcome is Outcome.REJECT and codes(res) == {"CONTAINER_ENCRYPTED"}


def test_7z_truncated_and_bomb_are_refused(dev_settings, src, tmp_path):
    arc = seven_zip(tmp_path / "t.7z", src, ["a.pdf", "sub"])
    cut = tmp_path / "cut.7z"
    cut.write_bytes(arc.read_bytes()[:-40])
    (tmp_path / "z").mkdir()
    with open(tmp_path / "z" / "zeros.bin", "wb") as fh:
        fh.truncate(30 * 1024 * 1024)
    bomb = seven_zip(tmp_path / "bomb.7z", tmp_path / "z", ["zeros.bin"], "-mx=9")
    assert bomb.stat().st_size < 200_000
    with Pipeline(dev_settings, audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        assert codes(p.check(doc(cut))) == {"CONTAINER_BROKEN"}
        assert codes(p.check(doc(bomb))) == {"CONTAINER_BOMB"}


# --- tar, and tar inside gzip / bzip2 / xz -------------------------------------------------------------------


@pytest.mark.parametrize("flag,suffix", [("", ".tar"), ("-z", ".tar.gz"), ("-j", ".tar.bz2"), ("-J", ".tar.xz")])
def test_tar_family_signed_and_checked_by_tar(pipeline, dev_settings, src, tmp_path, flag, suffix):
    arc = tar_tool(tmp_path / f"ho-so{suffix}", src, ["a.pdf", "sub", "ghi-chu.txt"], *([flag] if flag else []))
    res = pipeline.process(doc(arc), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN, res.decision.reasons
    listing = subprocess.run(["tar", "-tf", str(res.output.path)], check=True, capture_output=True, text=True)
    names = listing.stdout.split()
    assert names == ["a.pdf", "sub/", "sub/b.pdf", "ghi-chu.txt", "ghi-chu.txt.p7s"], names
    x = untar_all(res.output.path, tmp_path / "x")  # tar detects the compression itself: it is the same kind
    signed_ok(x / "a.pdf", dev_settings)
    signed_ok(x / "sub" / "b.pdf", dev_settings)
    cms_verify(x / "ghi-chu.txt.p7s", x / "ghi-chu.txt", dev_settings)
    if flag:
        kind = {"-z": b"\x1f\x8b", "-j": b"BZh", "-J": b"\xfd7zXZ"}[flag]
        assert res.output.path.read_bytes().startswith(kind)


def test_tar_gz_with_secret_blocks_and_unsafe_entries_refuse(pipeline, src, tmp_path):
    make_mat_pdf(src / "sub" / "mat.pdf")
    arc = tar_tool(tmp_path / "m.tar.gz", src, ["a.pdf", "sub"], "-z")
    res = pipeline.process(doc(arc), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.BLOCK
    assert res.decision.reasons[0].args["member"] == "m.tar/sub/mat.pdf"
    (src / "link.pdf").symlink_to("a.pdf")
    arc = tar_tool(tmp_path / "l.tar", src, ["a.pdf", "link.pdf"])
    res = pipeline.check(doc(arc))
    assert res.outcome is Outcome.REJECT and [r.args.get("detail") for r in res.decision.reasons] == ["symbolic link"]
    arc = tar_tool(tmp_path / "p.tar", src, ["../src/a.pdf"], "-P")
    res = pipeline.check(doc(arc))
    assert res.outcome is Outcome.REJECT and codes(res) == {"CONTAINER_UNSAFE_ENTRY"}


def test_truncated_tar_gz_is_refused(pipeline, src, tmp_path):
    arc = tar_tool(tmp_path / "t.tar.gz", src, ["a.pdf", "sub"], "-z")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(arc.read_bytes()[: arc.stat().st_size // 2])
    res = pipeline.check(doc(cut))
    assert res.outcome is Outcome.REJECT and codes(res) == {"CONTAINER_BROKEN"}


def test_zip_inside_zip_inside_tar_gz(pipeline, dev_settings, src, tmp_path):
    from container_support import unzip_all, zip_tool

    zip_tool(tmp_path / "inner.zip", src, ["a.pdf"])
    zip_tool(tmp_path / "middle.zip", tmp_path, ["inner.zip"])
    arc = tar_tool(tmp_path / "outer.tar.gz", tmp_path, ["middle.zip"], "-z")
    res = pipeline.process(doc(arc), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN
    assert [m.name for m in res.members] == [
        "outer.tar", "outer.tar/middle.zip", "outer.tar/middle.zip/inner.zip", "outer.tar/middle.zip/inner.zip/a.pdf"]
    x = untar_all(res.output.path, tmp_path / "x")
    y = unzip_all(x / "middle.zip", tmp_path / "y")
    z = unzip_all(y / "inner.zip", tmp_path / "z")
    signed_ok(z / "a.pdf", dev_settings)


# --- single-file streams -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool,suffix,opener", [("gzip", ".gz", gzip.open), ("bzip2", ".bz2", bz2.open),
                                                ("xz", ".xz", lzma.open)])
def test_compressed_pdf_signed_and_checked_by_the_tool(pipeline, dev_settings, src, tmp_path, tool, suffix, opener):
    subprocess.run([tool, "-k", str(src / "a.pdf")], check=True)
    arc = src / f"a.pdf{suffix}"
    res = pipeline.process(doc(arc), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN and [m.name for m in res.members] == ["a.pdf"]
    out = tmp_path / "a.pdf"
    out.write_bytes(subprocess.run([tool, "-dc", str(res.output.path)], check=True, capture_output=True).stdout)
    signed_ok(out, dev_settings)
    if tool == "gzip":  # the header's name travels: gunzip -N restores it
        n = tmp_path / "n"
        n.mkdir()
        (n / "x.gz").write_bytes(res.output.path.read_bytes())
        subprocess.run(["gzip", "-dN", str(n / "x.gz")], check=True)
        assert (n / "a.pdf").exists()


def test_gzip_keeps_a_utf8_name_and_reads_it_as_shown(pipeline, dev_settings, tmp_path):
    """gzip stores a file's name as its bytes (UTF-8 here), though RFC 1952 says ISO 8859-1; `gunzip -N` restores
    "TỐI MẬT.pdf". Read as ISO 8859-1 the name was mojibake, and the clean PDF inside was signed. An honest
    UTF-8 name is read the same way and travels unchanged through the rebuild."""
    d = tmp_path / "d"
    d.mkdir()
    make_pdf(d / "TỐI MẬT.pdf")
    make_pdf(d / "Công văn.pdf")
    subprocess.run(["gzip", "-k", str(d / "TỐI MẬT.pdf"), str(d / "Công văn.pdf")], check=True)
    (d / "TỐI MẬT.pdf.gz").rename(d / "x.gz")  # the name only inside, as a sender would rename it
    (d / "Công văn.pdf.gz").rename(d / "y.gz")
    res = pipeline.check(doc(d / "x.gz"))
    assert res.outcome is Outcome.BLOCK and "SECRET_MARKED" in codes(res), res.decision
    res = pipeline.process(doc(d / "y.gz"), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN and [m.name for m in res.members] == ["Công văn.pdf"]
    n = tmp_path / "n"
    n.mkdir()
    (n / "y.gz").write_bytes(res.output.path.read_bytes())
    subprocess.run(["gzip", "-dN", str(n / "y.gz")], check=True)
    assert (n / "Công văn.pdf").exists()


def test_gzip_cannot_carry_a_detached_signature(pipeline, src, tmp_path):
    subprocess.run(["gzip", "-k", str(src / "ghi-chu.txt")], check=True)
    res = pipeline.check(doc(src / "ghi-chu.txt.gz"))
    assert res.outcome is Outcome.REJECT and codes(res) == {"CONTAINER_CANNOT_CARRY_SIGNATURE"}


def test_gzip_bomb_and_truncation_are_refused(dev_settings, tmp_path):
    bomb = tmp_path / "zeros.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        fh.write(bytes(20 * 1024 * 1024))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(make_pdf(tmp_path / "a.pdf").read_bytes())[:-100])
    with Pipeline(dev_settings, audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        assert codes(p.check(doc(bomb))) == {"CONTAINER_BOMB"}
        assert codes(p.check(doc(cut))) == {"CONTAINER_BROKEN"}


# --- TNEF (winmail.dat) --------------------------------------------------------------------------------------


def test_tnef_signed_and_checked_by_the_tnef_decoder(pipeline, dev_settings, src, tmp_path):
    dat = tmp_path / "winmail.dat"
    dat.write_bytes(tnef_writer.message("Báo cáo tuần", "Nội dung thư", [
        ("bao-cao.pdf", (src / "a.pdf").read_bytes()), ("ghi-chu.txt", (src / "ghi-chu.txt").read_bytes())]))
    listed = subprocess.run(["tnef", "-t", str(dat)], check=True, capture_output=True, text=True).stdout
    assert "bao-cao.pdf" in listed  # the independent decoder reads what we made
    res = pipeline.process(doc(dat), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN
    assert [(m.name, m.role) for m in res.members] == [
        ("subject.txt", "body"), ("body.txt", "body"), ("bao-cao.pdf", "document"), ("ghi-chu.txt", "document")]
    x = tmp_path / "x"
    x.mkdir()
    subprocess.run(["tnef", "-C", str(x), str(res.output.path)], check=True)
    assert sorted(p.name for p in x.iterdir()) == ["bao-cao.pdf", "ghi-chu.txt", "ghi-chu.txt.p7s"]
    signed_ok(x / "bao-cao.pdf", dev_settings)
    cms_verify(x / "ghi-chu.txt.p7s", x / "ghi-chu.txt", dev_settings)


def test_tnef_with_secret_attachment_or_subject_blocks(pipeline, src, tmp_path):
    mat = make_mat_pdf(tmp_path / "mat.pdf")
    dat = tmp_path / "winmail.dat"
    dat.write_bytes(tnef_writer.message("Thư", "", [("mat.pdf", mat.read_bytes())]))
    assert pipeline.check(doc(dat)).outcome is Outcome.BLOCK
    dat.write_bytes(tnef_writer.message("TỐI MẬT", "", [("a.pdf", (src / "a.pdf").read_bytes())]))
    res = pipeline.check(doc(dat))
    assert res.outcome is Outcome.BLOCK and res.decision.reasons[0].args["member"] == "subject.txt"


def test_tnef_damaged_or_with_unread_body_is_refused(pipeline, src, tmp_path):
    good = tnef_writer.message("x", "y", [("a.pdf", (src / "a.pdf").read_bytes())])
    bad = tmp_path / "bad.dat"
    bad.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # checksum no longer adds up
    assert codes(pipeline.check(doc(bad))) == {"CONTAINER_BROKEN"}
    rtf = tmp_path / "rtf.dat"
    rtf.write_bytes(tnef_writer.message("x", "", [("a.pdf", (src / "a.pdf").read_bytes())],
                                        rtf_compressed=tnef_writer.rtf_stored(b"{\\rtf1\\ansi M\\u7853?T}")))
    res = pipeline.check(doc(rtf))
    # the rich-text body is read by the RTF reader when there is one; without it the message is not released
    assert res.outcome in (Outcome.SIGN, Outcome.REJECT, Outcome.BLOCK)
    if res.outcome is Outcome.REJECT:
        assert "MEMBER_NOT_READ" in codes(res)


def _tnef_embedded_object(name: str, data: bytes) -> bytes:
    """A TNEF message whose one attachment is an embedded object: its bytes in attAttachment's
    PR_ATTACH_DATA_OBJ (PT_OBJECT, an IID first), no attAttachData (as Outlook writes an OLE object)."""
    import struct

    from gateway.inspect import container_tnef as t

    obj = bytes(16) + data
    prop_obj = struct.pack("<HHII", 0x000D, t.PR_ATTACH_DATA, 1, len(obj)) + obj + b"\x00" * (-len(obj) & 3)
    att = b"".join((
        tnef_writer.attribute(t.LVL_ATTACHMENT, tnef_writer.ID_ATTACH_RENDDATA, tnef_writer.RENDDATA_FILE),
        tnef_writer.attribute(t.LVL_ATTACHMENT, tnef_writer.ID_ATTACHMENT, tnef_writer.prop_list(
            tnef_writer.prop_unicode(t.PR_ATTACH_LONG_FILENAME, name), tnef_writer.prop_long(t.PR_ATTACH_METHOD, 6),
            prop_obj)),
    ))
    plain = tnef_writer.message("Báo cáo", "Nội dung", [])
    return plain + att


def test_tnef_embedded_object_refused_alike_by_dry_run_and_signing(pipeline, src, tmp_path):
    """The dry run runs the rebuilder too: what signing would refuse (an embedded object cannot be rewritten),
    the dry run refuses with the same reason; never "would sign" then refused."""
    dat = tmp_path / "winmail.dat"
    dat.write_bytes(_tnef_embedded_object("bao-cao.pdf", (src / "a.pdf").read_bytes()))
    dry = pipeline.check(doc(dat))
    real = pipeline.process(doc(dat), out_dir=tmp_path / "out")
    assert [m.name for m in dry.members if m.role == "document"] == ["bao-cao.pdf"]  # the object was read
    assert dry.outcome is real.outcome is Outcome.REJECT, (dry.decision, real.decision)
    assert codes(dry) == codes(real) == {"CONTAINER_NO_REBUILDER"}


# --- RAR, PDF embedded files -------------------------------------------------------------------------------


def test_rar_is_refused_with_a_reason(pipeline, tmp_path):
    rar = tmp_path / "x.rar"
    rar.write_bytes(b"Rar!\x1a\x07\x01\x00" + bytes(64))
    res = pipeline.check(doc(rar))
    assert res.outcome is Outcome.REJECT and codes(res) == {"CONTAINER_UNSUPPORTED"}


def test_pdf_embedded_files_are_read_not_signed(pipeline, dev_settings, src, tmp_path):
    from pypdf import PdfWriter

    carrier = tmp_path / "carrier.pdf"
    w = PdfWriter(clone_from=src / "a.pdf")
    w.add_attachment("phu-luc.pdf", (src / "sub" / "b.pdf").read_bytes())
    w.write(carrier)
    res = pipeline.process(doc(carrier), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN and res.output.media_type == "application/pdf"
    assert [(m.name, m.role, m.outcome, m.signed) for m in res.members] == [
        ("phu-luc.pdf", "embedded", Outcome.PASS, False)]
    signed_ok(res.output.path, dev_settings)
    secret = tmp_path / "secret.pdf"
    w = PdfWriter(clone_from=src / "a.pdf")
    w.add_attachment("mat.pdf", make_mat_pdf(tmp_path / "mat.pdf").read_bytes())
    w.write(secret)
    res = pipeline.check(doc(secret))
    assert res.outcome is Outcome.BLOCK and res.decision.reasons[0].args["member"] == "mat.pdf"


def _with_associated_file(src: Path, dst: Path, where: str, data: bytes, typed: bool = True, key: str = "/F",
                          direct: bool = False, related: bytes | None = None) -> Path:
    """`src` with a file associated (/AF, PDF 2.0 and PDF/A-3) to the document, its page, an annotation, or
    something no list of attachments walks (a dictionary of the catalog's own), or ("both") listed in the
    EmbeddedFiles name tree too, as PDF/A-3 invoices do. `typed`: the stream says /Type /EmbeddedFile (optional);
    `key`: the file specification's /EF entry holding it; `direct`: the specification written inside the /AF
    array, not an object of its own; `related`: a second file in the specification's related-files array
    (/RF, a Mac resource fork)."""
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, FloatObject, NameObject, TextStringObject

    w = PdfWriter(clone_from=src)
    stream = DecodedStreamObject()
    stream.set_data(data)
    if typed:
        stream[NameObject("/Type")] = NameObject("/EmbeddedFile")
    spec = DictionaryObject({NameObject("/Type"): NameObject("/Filespec"), NameObject("/F"): TextStringObject("du-lieu.txt"),
                             NameObject("/UF"): TextStringObject("du-lieu.txt"),
                             NameObject("/AFRelationship"): NameObject("/Supplement"),
                             NameObject("/EF"): DictionaryObject({NameObject(key): w._add_object(stream)})})
    if related is not None:
        fork = DecodedStreamObject()
        fork.set_data(related)
        spec[NameObject("/RF")] = DictionaryObject({NameObject(key): ArrayObject(
            [TextStringObject("du-lieu.txt"), w._add_object(fork)])})
    af = ArrayObject([spec if direct else w._add_object(spec)])
    if where in ("document", "both"):
        w._root_object[NameObject("/AF")] = af
    if where == "both":
        w._root_object[NameObject("/Names")] = DictionaryObject({NameObject("/EmbeddedFiles"): DictionaryObject(
            {NameObject("/Names"): ArrayObject([TextStringObject("du-lieu.txt"), af[0]])})})
    elif where == "page":
        w.pages[0][NameObject("/AF")] = af
    elif where == "annotation":
        note = DictionaryObject({NameObject("/Type"): NameObject("/Annot"), NameObject("/Subtype"): NameObject("/Square"),
                                 NameObject("/Rect"): ArrayObject([FloatObject(x) for x in (72, 600, 90, 620)]),
                                 NameObject("/AF"): af})
        w.pages[0][NameObject("/Annots")] = ArrayObject([w._add_object(note)])
    elif where == "elsewhere":
        w._root_object[NameObject("/PieceInfo")] = DictionaryObject({NameObject("/AF"): af})
    w.write(dst)
    return dst


@pytest.mark.parametrize("where", ["document", "page", "annotation", "elsewhere", "both"])
def test_pdf_associated_files_are_read_wherever_they_hang(where, pipeline, src, tmp_path):
    """A file associated with the document, a page or an annotation (/AF) is no entry of the EmbeddedFiles name
    tree nor a paper-clip annotation: it was never read, and a "TỐI MẬT" text in it was signed and sent. Viewers
    that know PDF 2.0 and PDF/A-3 list it, and every tool that lists a file's embedded streams extracts it. Now
    read like any attachment, once (listed twice or not at all: once)."""
    secret = _with_associated_file(src / "a.pdf", tmp_path / "secret.pdf", where, "TỐI MẬT\nBáo cáo".encode())
    res = pipeline.check(doc(secret))
    assert res.outcome is Outcome.BLOCK, res.decision
    plain = _with_associated_file(src / "a.pdf", tmp_path / "plain.pdf", where, "Báo cáo tình hình".encode())
    res = pipeline.process(doc(plain), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN, res.decision
    assert [(m.role, m.signed) for m in res.members] == [("embedded", False)], res.members


def test_pdf_objects_are_looked_through_only_for_embedded_files_no_list_reaches(pipeline, src, tmp_path, monkeypatch):
    """A PDF whose every embedded file stream the lists reach is not walked object by object (a 100,000-object
    PDF with one ordinary attachment would cost seconds); one holding a stream no list reaches is."""
    from gateway.inspect import container_pdf

    walked = []
    real = container_pdf._unlisted_streams
    monkeypatch.setattr(container_pdf, "_unlisted_streams", lambda *args: walked.append(1) or real(*args))
    listed = _with_associated_file(src / "a.pdf", tmp_path / "listed.pdf", "both", "Báo cáo".encode())
    assert pipeline.check(doc(listed)).outcome is Outcome.SIGN and walked == []
    hidden = _with_associated_file(src / "a.pdf", tmp_path / "hidden.pdf", "elsewhere", "TỐI MẬT".encode())
    assert pipeline.check(doc(hidden)).outcome is Outcome.BLOCK and walked == [1]


@pytest.mark.parametrize("shape", ["untyped", "untyped-direct", "untyped-object-streams", "dos-key", "dos-key-listed",
                                   "related-file"])
def test_pdf_embedded_files_no_list_reaches_are_found_by_their_file_specification(shape, pipeline, src, tmp_path):
    """An embedded file stream need not say /Type /EmbeddedFile, and a file specification may sit in an object
    stream or inside the /AF array itself, or hold its file under /DOS (/Mac, /Unix) rather than /F: hung where
    no list of attachments walks (an /AF of a dictionary of the catalog's own, of a structure element, of a
    form), such a file was not found and a "TỐI MẬT" in it was signed. Every embedded file is reached through a
    file specification's /EF: those are counted, in the file's bytes and its object streams, and looked for."""
    where = "both" if shape in ("dos-key-listed", "related-file") else "elsewhere"
    made = {"typed": False} if shape.startswith("untyped") else {"typed": False, "key": "/DOS"}

    def made_pdf(name: str, data: bytes) -> Path:
        if shape == "related-file":  # the listed file is plain; its related file carries the text
            return _with_associated_file(src / "a.pdf", tmp_path / name, where, "Báo cáo".encode(), typed=False,
                                         related=data)
        out = _with_associated_file(src / "a.pdf", tmp_path / name, where, data, direct=shape == "untyped-direct",
                                    **made)
        if shape == "untyped-object-streams":
            packed = out.with_suffix(".objstm.pdf")
            subprocess.run(["qpdf", "--object-streams=generate", str(out), str(packed)], check=True)
            assert b"/EF" not in packed.read_bytes()  # the specification is compressed into an object stream
            return packed
        return out

    secret = made_pdf("secret.pdf", "TỐI MẬT\nBáo cáo".encode())
    res = pipeline.check(doc(secret))
    assert res.outcome is Outcome.BLOCK, res.decision
    plain = made_pdf("plain.pdf", "Báo cáo tình hình".encode())
    res = pipeline.process(doc(plain), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN, res.decision
    assert [(m.role, m.signed) for m in res.members] == [("embedded", False)] * (1 + (shape == "related-file")), \
        res.members


def test_pdf_objects_that_cannot_be_looked_at_for_embedded_files_refuse_the_pdf(pipeline, src, tmp_path, monkeypatch):
    """Looking for an embedded file no list reaches, an object pypdf cannot read may be that file: not read
    completely, refused (it was skipped). pypdf recovers what a hand-broken object header does, so the failure
    is made here, for the unlisted stream's own object."""
    from pypdf import PdfReader

    hidden = _with_associated_file(src / "a.pdf", tmp_path / "hidden.pdf", "elsewhere", "Báo cáo".encode())
    real = PdfReader.get_object

    def failing(self, indirect):
        obj = real(self, indirect)
        if hasattr(obj, "get") and obj.get("/Type") == "/EmbeddedFile":
            raise ValueError("object cannot be read")
        return obj

    monkeypatch.setattr(PdfReader, "get_object", failing)
    res = pipeline.check(doc(hidden))
    assert res.outcome is Outcome.REJECT, res.decision
    assert "objects cannot be read" in res.decision.reasons[0].args.get("detail", ""), res.decision
