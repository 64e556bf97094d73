"""Containers through the pipeline: every member read and decided, the container rebuilt signed or refused.

Archives are made by the real tools (zip, python's zipfile only for what `zip` refuses to write); what the
pipeline releases is checked by independent tools: `unzip` extracts, `pdfsig` (dev NSS db) and
`openssl cms -verify` verify what was extracted.
"""

from __future__ import annotations

import os
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest
from container_support import cms_verify, make_mat_pdf, policy_with, unzip_all, zip_tool
from util import make_pdf, pdfsig

from gateway.audit import AuditLog
from gateway.errors import ConfigError
from gateway.model import Channel, Declared, DocKind, Document, Origin, Outcome
from gateway.pipeline import Pipeline
from gateway.policy import Policy, PolicySet
from gateway.reasons import render

pytestmark = pytest.mark.hsm


def limited(settings, **limits):
    return settings.model_copy(update={"limits": settings.limits.model_copy(update=limits)})


def doc(path: Path, channel=Channel.FOLDER, **kw) -> Document:
    kw.setdefault("kind", DocKind.ATTACHMENT)
    return Document(channel=channel, name=path.name, path=path, origin=Origin(path=str(path)), **kw)


def codes(result) -> list[str]:
    return [r.code for r in result.decision.reasons]


@pytest.fixture()
def pdfs(tmp_path):
    d = tmp_path / "src"
    make_pdf(d / "a.pdf")
    make_pdf(d / "b.pdf", lines=["Báo cáo tình hình", "Số: 12/BC-UBND"])
    (d / "ghi-chu.txt").write_text("Ghi chú gửi kèm\n", encoding="utf-8")
    return d


# --- signing: the archive comes back rebuilt, each document inside signed ------------------------------------


def test_zip_of_pdfs_is_rebuilt_with_every_pdf_signed(pipeline, dev_settings, pdfs, tmp_path):
    (pdfs / "sub").mkdir()
    make_pdf(pdfs / "sub" / "c.pdf")
    arc = zip_tool(tmp_path / "ho-so.zip", pdfs, ["a.pdf", "sub/", "sub/c.pdf", "b.pdf"])
    res = pipeline.process(doc(arc), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN, [render(r).line() for r in res.decision.reasons]
    assert codes(res) == ["CONTAINER_REBUILT"]
    assert [(m.name, m.outcome, m.signed) for m in res.members] == [
        ("a.pdf", Outcome.SIGN, True), ("sub/c.pdf", Outcome.SIGN, True), ("b.pdf", Outcome.SIGN, True)]
    # what a recipient gets: same names in the same order (the directory too), each PDF signed and trusted
    with zipfile.ZipFile(res.output.path) as zf, zipfile.ZipFile(arc) as orig:
        assert zf.namelist() == orig.namelist()
        assert [i.date_time for i in zf.infolist()] == [i.date_time for i in orig.infolist()]
    out = unzip_all(res.output.path, tmp_path / "x")
    for name in ("a.pdf", "sub/c.pdf", "b.pdf"):
        assert (out / name).read_bytes().startswith((pdfs / name).read_bytes())  # incremental: original kept
        sigs = pdfsig(out / name, dev_settings.paths.nssdb)
        assert len(sigs) == 1 and sigs[0]["valid"] and sigs[0]["trusted"] and sigs[0]["total_document"]
    # one record per member, with the container's document id and the member's location; then the container's
    recs = {r.id: r for r in pipeline.audit.query(limit=10)}
    container = recs[res.record_id]
    assert container.outcome == "sign" and container.data["container"] == "zip" and container.data["members"] == 3
    for m in res.members:
        r = recs[m.record_id]
        assert r.data["member"]["container_id"] == res.document_id and r.data["member"]["location"] == m.location
        assert r.outcome == "sign" and r.data["sha256_after"]
        assert m.record_id < res.record_id


def test_non_pdf_member_gets_a_p7s_beside_it_where_the_channel_signs_them(pipeline, dev_settings, pdfs, tmp_path):
    arc = zip_tool(tmp_path / "thu.zip", pdfs, ["ghi-chu.txt", "a.pdf"])
    res = pipeline.process(doc(arc, Channel.SMTP), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN
    with zipfile.ZipFile(res.output.path) as zf:
        assert zf.namelist() == ["ghi-chu.txt", "ghi-chu.txt.p7s", "a.pdf"]
    out = unzip_all(res.output.path, tmp_path / "x")
    assert (out / "ghi-chu.txt").read_bytes() == (pdfs / "ghi-chu.txt").read_bytes()
    cms_verify(out / "ghi-chu.txt.p7s", out / "ghi-chu.txt", dev_settings)
    assert pdfsig(out / "a.pdf", dev_settings.paths.nssdb)[0]["valid"]


def test_archive_of_documents_already_signed_passes_unchanged(pipeline, pdfs, tmp_path):
    first = pipeline.process(doc(pdfs / "a.pdf"), out_dir=tmp_path / "o1")
    d = tmp_path / "signed"
    d.mkdir()
    os.replace(first.output.path, d / "a.pdf")
    arc = zip_tool(tmp_path / "da-ky.zip", d, ["a.pdf"])
    res = pipeline.process(doc(arc), out_dir=tmp_path / "o2")
    assert res.outcome is Outcome.PASS and res.output is None and codes(res) == ["CONTAINER_PASSED"]
    assert res.members[0].outcome is Outcome.PASS


def test_dry_run_decides_every_member_and_signs_nothing(pipeline, pdfs, tmp_path):
    arc = zip_tool(tmp_path / "kt.zip", pdfs, ["a.pdf", "b.pdf"])
    res = pipeline.check(doc(arc))
    assert res.outcome is Outcome.SIGN and res.output is None and res.dry_run
    assert [m.outcome for m in res.members] == [Outcome.SIGN, Outcome.SIGN] and not any(m.signed for m in res.members)


# --- refusing: what is inside decides, and the reason names the member ---------------------------------------


def test_secret_marked_member_blocks_the_archive_and_names_it(pipeline, pdfs, tmp_path, caplog):
    make_mat_pdf(pdfs / "mat.pdf")
    arc = zip_tool(tmp_path / "ho-so.zip", pdfs, ["a.pdf", "mat.pdf"])
    res = pipeline.process(doc(arc), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.BLOCK and res.output is None
    assert codes(res) == ["SECRET_MARKED"] and res.decision.reasons[0].args["member"] == "mat.pdf"
    assert "mat.pdf" in render(res.decision.reasons[0]).vi
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    recs = {r.id: r for r in pipeline.audit.query(limit=5)}
    assert recs[res.record_id].alert and recs[res.members[1].record_id].alert
    assert recs[res.members[0].record_id].outcome == "sign"  # its own decision, kept in the log


def test_member_refused_refuses_the_archive_with_its_reasons(pipeline, pdfs, tmp_path):
    arc = zip_tool(tmp_path / "x.zip", pdfs, ["a.pdf", "ghi-chu.txt"])
    res = pipeline.process(doc(arc, Channel.FOLDER), out_dir=tmp_path / "out")  # folder: only PDF
    assert res.outcome is Outcome.REJECT and codes(res) == ["UNSUPPORTED_TYPE"]
    assert res.decision.reasons[0].args["member"] == "ghi-chu.txt"


def test_policy_that_does_not_rebuild_refuses_with_advice(dev_settings, pdfs, tmp_path):
    policies = policy_with(options={"containers": "reject"})
    arc = zip_tool(tmp_path / "x.zip", pdfs, ["a.pdf"])
    with Pipeline(dev_settings, policies=policies, audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        res = p.process(doc(arc), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.REJECT and codes(res) == ["CONTAINER_NOT_REBUILT"]
    assert "gửi trực tiếp tệp PDF, không nén" in render(res.decision.reasons[0]).vi


def test_issued_kind_applies_to_each_document_inside(pipeline, pdfs, tmp_path):
    arc = zip_tool(tmp_path / "qd.zip", pdfs, ["a.pdf"])
    res = pipeline.process(doc(arc, kind=DocKind.ISSUED), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.REJECT and codes(res) == ["ISSUED_NEEDS_PERSONAL_SIGNATURE"]


def test_declared_classification_covers_every_member(pipeline, pdfs, tmp_path):
    arc = zip_tool(tmp_path / "x.zip", pdfs, ["a.pdf"])
    res = pipeline.process(doc(arc, declared=Declared(classification="Mật")), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.BLOCK


def test_a_files_name_is_read_at_every_door(pipeline, pdfs, tmp_path):
    """A file named "TỐI MẬT - công văn.pdf" is blocked however it comes (as a mail attachment's name always
    was), also inside an archive made by Info-ZIP's zip, which writes UTF-8 names without saying so (zipfile
    reads them as CP437; unzip and 7-Zip show them as written). Signed before, from a folder or the CLI."""
    named = pdfs / "TỐI MẬT - công văn.pdf"
    named.write_bytes((pdfs / "a.pdf").read_bytes())
    for channel in (Channel.FOLDER, Channel.CLI, Channel.PORTAL):
        assert pipeline.check(doc(named, channel)).outcome is Outcome.BLOCK, channel
    arc = zip_tool(tmp_path / "named.zip", pdfs, ["a.pdf", named.name])
    res = pipeline.check(doc(arc))
    assert res.outcome is Outcome.BLOCK and "TỐI MẬT - công văn.pdf" in render(res.decision.reasons[0]).vi, res
    assert pipeline.check(doc(zip_tool(tmp_path / "plain.zip", pdfs, ["a.pdf"]))).outcome is Outcome.SIGN


def test_a_zip_name_in_the_vietnamese_windows_code_page_is_read(pipeline, tmp_path):
    """Zipped on a Vietnamese Windows, a name is in CP1258 (tone marks as combining characters), which the
    recipient's Windows shows; zipfile reads it as CP437 ("T╘∞I M┬≥T")."""
    src = tmp_path / "src"
    src.mkdir()
    raw = ("T" + "Ô" + "\u0301" + "I M" + "Â" + "\u0323" + "T - báo cáo.txt").encode("cp1258")
    with open(os.path.join(bytes(src), raw), "wb") as fh:
        fh.write("Nội dung bình thường.\n".encode())
    arc = tmp_path / "vn.zip"
    subprocess.run(["zip", "-q", str(arc).encode(), raw], cwd=src, check=True, env={**os.environ, "LANG": "C"})
    res = pipeline.check(doc(arc))
    assert res.outcome is Outcome.BLOCK and "TỐI MẬT - báo cáo.txt" in render(res.decision.reasons[0]).vi, res


@pytest.mark.parametrize("where", ["archive", "entry"])
def test_a_zip_comment_is_read(pipeline, pdfs, tmp_path, where):
    """Archive programs show the archive's comment and an entry's comment (zip -z, zip -c)."""
    arc = tmp_path / "c.zip"
    with zipfile.ZipFile(arc, "w") as z:
        info = zipfile.ZipInfo("a.pdf")
        if where == "entry":
            info.comment = "TỐI MẬT".encode()
        z.writestr(info, (pdfs / "a.pdf").read_bytes())
        if where == "archive":
            z.comment = "Tài liệu TỐI MẬT, không phổ biến".encode()
    assert pipeline.check(doc(arc)).outcome is Outcome.BLOCK


# --- what cannot be read is refused with its own reason --------------------------------------------------------


def test_encrypted_zip_is_refused_unless_the_policy_allows_the_sender(dev_settings, pdfs, tmp_path):
    arc = tmp_path / "mk.zip"
    subprocess.run(["zip", "-q", "-P", "matkhau", str(arc), "a.pdf"], cwd=pdfs, check=True)
    smtp_doc = Document(Channel.SMTP, "mk.zip", path=arc, origin=Origin(sender="van.thu@so.gov.vn",
                                                                       recipients=("a@bo.gov.vn",)))
    with Pipeline(dev_settings, audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        res = p.process(smtp_doc)
        assert res.outcome is Outcome.REJECT and codes(res) == ["CONTAINER_ENCRYPTED"]
    for opts in ({"allow_unreadable_from": ["@so.gov.vn"]}, {"allow_unreadable_to": ["a@bo.gov.vn"]}):
        with Pipeline(dev_settings, policies=policy_with(options=opts), audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
            res = p.process(smtp_doc)
            assert res.outcome is Outcome.PASS and codes(res) == ["UNREADABLE_ALLOWED"], opts
    with Pipeline(dev_settings, policies=policy_with(options={"allow_unreadable_to": ["x@bo.gov.vn"]}),
                  audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        assert p.process(smtp_doc).outcome is Outcome.REJECT


def test_encrypted_entry_beside_a_document_to_sign_is_refused_even_when_allowed(dev_settings, pdfs, tmp_path):
    arc = tmp_path / "mix.zip"
    subprocess.run(["zip", "-q", "-P", "mk", str(arc), "ghi-chu.txt"], cwd=pdfs, check=True)
    subprocess.run(["zip", "-q", str(arc), "a.pdf"], cwd=pdfs, check=True)
    d = Document(Channel.SMTP, "mix.zip", path=arc, origin=Origin(sender="a@so.gov.vn"))
    with Pipeline(dev_settings, policies=policy_with(options={"allow_unreadable_from": ["a@so.gov.vn"]}),
                  audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        res = p.check(d)
    assert res.outcome is Outcome.REJECT and "CONTAINER_ENCRYPTED" in codes(res)


def test_zip_bomb_is_refused(dev_settings, tmp_path):
    big = tmp_path / "zeros.bin"
    with open(big, "wb") as fh:
        fh.truncate(20 * 1024 * 1024)
    arc = zip_tool(tmp_path / "bomb.zip", tmp_path, ["zeros.bin"], "-9")
    assert arc.stat().st_size < 100_000
    with Pipeline(dev_settings, audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        res = p.check(doc(arc))
    assert res.outcome is Outcome.REJECT and codes(res) == ["CONTAINER_BOMB"]
    assert not list((Path(dev_settings.var_dir) / "work").glob("members-*"))  # the work directory is gone


@pytest.mark.parametrize("limit,value,code", [
    ("max_expanded_bytes", 100_000, "CONTAINER_TOO_LARGE"),
    ("max_container_entries", 2, "CONTAINER_TOO_MANY_ENTRIES"),
    ("max_container_depth", 1, "CONTAINER_TOO_DEEP"),
])
def test_limits_refuse_with_their_own_reason(dev_settings, pdfs, tmp_path, limit, value, code):
    inner = zip_tool(tmp_path / "inner.zip", pdfs, ["a.pdf", "b.pdf"])
    outer = zip_tool(tmp_path / "outer.zip", tmp_path, ["inner.zip"])
    with Pipeline(limited(dev_settings, **{limit: value}), audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        res = p.check(doc(outer))
    assert res.outcome is Outcome.REJECT and code in codes(res), codes(res)


def test_zip_in_zip_is_rebuilt_at_both_levels(pipeline, dev_settings, pdfs, tmp_path):
    inner = zip_tool(tmp_path / "inner.zip", pdfs, ["a.pdf"])
    outer = zip_tool(tmp_path / "outer.zip", tmp_path, ["inner.zip"])
    res = pipeline.process(doc(outer), out_dir=tmp_path / "out")
    assert res.outcome is Outcome.SIGN
    assert [(m.name, m.outcome, m.signed) for m in res.members] == [
        ("inner.zip", Outcome.SIGN, True), ("inner.zip/a.pdf", Outcome.SIGN, True)]
    x = unzip_all(res.output.path, tmp_path / "x")
    y = unzip_all(x / "inner.zip", tmp_path / "y")
    assert pdfsig(y / "a.pdf", dev_settings.paths.nssdb)[0]["valid"]


@pytest.mark.parametrize("entry,detail", [
    ("../evil.pdf", "'..' in path"),
    ("/etc/evil.pdf", "absolute path"),
    ("dup", "duplicate name"),
    ("Dup-case", "duplicate name"),
])
def test_unsafe_entry_names_are_refused(dev_settings, pdfs, tmp_path, entry, detail):
    arc = tmp_path / "u.zip"
    data = (pdfs / "a.pdf").read_bytes()
    with zipfile.ZipFile(arc, "w") as zf:  # `zip` refuses to write these: a hostile sender's tool does not
        zf.writestr("a.pdf", data)
        if entry == "dup":
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                zf.writestr("a.pdf", data)
        elif entry == "Dup-case":
            zf.writestr("A.PDF", data)
        else:
            zf.writestr(zipfile.ZipInfo(entry), data)
    with Pipeline(dev_settings, audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        res = p.check(doc(arc))
    assert res.outcome is Outcome.REJECT and "CONTAINER_UNSAFE_ENTRY" in codes(res)
    assert any(r.args.get("detail") == detail for r in res.decision.reasons)


def test_symlink_entry_is_refused(dev_settings, pdfs, tmp_path):
    (pdfs / "link.pdf").symlink_to("/etc/passwd")
    arc = zip_tool(tmp_path / "l.zip", pdfs, ["a.pdf", "link.pdf"], "-y")  # -y: store the link itself
    with Pipeline(dev_settings, audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        res = p.check(doc(arc))
    assert res.outcome is Outcome.REJECT and [r.args.get("detail") for r in res.decision.reasons] == ["symbolic link"]


def test_truncated_zip_and_lying_sizes_are_refused(dev_settings, pdfs, tmp_path):
    arc = zip_tool(tmp_path / "t.zip", pdfs, ["a.pdf", "b.pdf"])
    data = arc.read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: len(data) // 2])
    # the central directory says a.pdf is 100 bytes; the data is longer
    # the central directory says a.pdf expands to 100 bytes; its data expands to more
    liar = tmp_path / "liar.zip"
    blob = bytearray(data)
    struct.pack_into("<I", blob, data.find(b"PK\x01\x02") + 24, 100)  # uncompressed size, first entry
    liar.write_bytes(bytes(blob))
    with Pipeline(dev_settings, audit=AuditLog.at(tmp_path / "l.sqlite3")) as p:
        for bad in (cut, liar):
            res = p.check(doc(bad))
            assert res.outcome is Outcome.REJECT and "CONTAINER_BROKEN" in codes(res), (bad.name, codes(res))


def test_zip64_and_data_descriptors_are_read(pipeline, pdfs, tmp_path):
    arc = tmp_path / "z64.zip"
    with zipfile.ZipFile(arc, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("a.pdf", "w", force_zip64=True) as w:  # zip64 extra + written as a stream
            w.write((pdfs / "a.pdf").read_bytes())
    streamed = tmp_path / "dd.zip"  # `zip -fd` writes data descriptors; from a pipe `zip -` always does
    with open(pdfs / "a.pdf", "rb") as src:
        subprocess.run(["zip", "-q", "-fd", str(streamed), "-"], stdin=src, check=True)
    subprocess.run(["zip", "-q", "-j", "-fz", str(streamed), str(pdfs / "b.pdf")], check=True)
    for a in (arc, streamed):
        res = pipeline.check(doc(a))
        assert res.outcome is Outcome.SIGN and all(m.outcome is Outcome.SIGN for m in res.members), a.name


# --- the policy file --------------------------------------------------------------------------------------------


def test_policy_roles_and_list_options_are_checked():
    base = 'id = "t"\nversion = "1"\nchain = ["secret_marked", "members", "sign_organisation"]\n'
    p = Policy.from_text(base + '[options]\nallow_unreadable_from = ["a@b.vn", "@c.vn"]\n[roles.embedded]\n'
                         'chain = ["secret_marked", "read_not_signed"]\n')
    assert p.options["allow_unreadable_from"] == ("a@b.vn", "@c.vn") and p.roles["embedded"].chain
    assert p.resolved(Channel.CLI, DocKind.ATTACHMENT, "embedded")[0] == ("secret_marked", "read_not_signed")
    for bad in ('[options]\nallow_unreadable_from = "a@b.vn"\n', '[options]\nallow_unreadable_to = [""]\n',
                '[roles.attachment]\nchain = ["exempt"]\n', '[options]\ncontainers = "maybe"\n'):
        with pytest.raises(ConfigError):
            Policy.from_text(base + bad)
    shipped = PolicySet(Policy.from_file(Path(__file__).resolve().parents[1] / "policies" / "default.toml"))
    assert shipped.default.options["containers"] == "rebuild"
    assert set(shipped.default.roles) == {"body", "inline", "embedded"}


def test_a_p7s_name_already_taken_is_refused_at_decision_time(pipeline, pdfs, tmp_path):
    (pdfs / "ghi-chu.txt.p7s").write_bytes(b"not a signature")
    arc = zip_tool(tmp_path / "x.zip", pdfs, ["ghi-chu.txt", "ghi-chu.txt.p7s"])
    checked = pipeline.check(doc(arc, Channel.SMTP))  # the dry run and the real run say the same
    signed = pipeline.process(doc(arc, Channel.SMTP), out_dir=tmp_path / "out")
    for res in (checked, signed):
        assert res.outcome is Outcome.REJECT and "CONTAINER_UNSAFE_ENTRY" in codes(res)
