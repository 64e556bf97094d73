"""Folder-door mechanics without the token: names, crash points of each journalled step, claims, stability,
sidecars, archive pruning. Each crash point is reproduced by doing the first half of a step by hand."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from folder_support import Dirs, files, folder_settings
from util import make_pdf

from gateway.folderwatch import claim as claims
from gateway.folderwatch import fsops
from gateway.folderwatch.layout import resolve_watches
from gateway.folderwatch.mapping import Verdict, bad_metadata
from gateway.folderwatch.scanner import candidate, prune_archive, scan
from gateway.folderwatch.sidecar import BadSidecar, read_sidecar
from gateway.folderwatch.stability import Stability, wanted
from gateway.model import DocKind, Outcome, Reason


def test_suffixed_names():
    assert fsops.suffixed("a.pdf", 0) == "a.pdf"
    assert fsops.suffixed("a.pdf", 2) == "a (2).pdf"
    assert fsops.suffixed("no-ext", 1) == "no-ext (1)"
    assert fsops.suffixed("công văn.PDF", 1) == "công văn (1).PDF"


def test_place_suffixes_and_respects_companions(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "a.pdf").write_text("old")
    (dest / "a (1).pdf.ly-do.txt").write_text("someone's note")
    src = tmp_path / "src.pdf"
    src.write_text("new")
    final = fsops.place(tmp_path / "m.json", src, dest, "a.pdf", (".ly-do.txt",))
    assert final.name == "a (2).pdf" and final.read_text() == "new" and not src.exists()
    assert (dest / "a.pdf").read_text() == "old"


def _half_placed(tmp_path):
    """A step journalled (marker written) for src -> out/a.pdf, as a crash leaves it."""
    dest = tmp_path / "out"
    dest.mkdir()
    src = tmp_path / "src.pdf"
    src.write_text("x")
    marker = tmp_path / "m.json"
    fsops.write_json(marker, {"tmp": str(src), "final": str(dest / "a.pdf")})
    return dest, src, marker


def test_place_crash_after_link_before_unlink(tmp_path):
    dest, src, marker = _half_placed(tmp_path)
    os.link(src, dest / "a.pdf")  # crash here: both names exist
    final = fsops.place(marker, src, dest, "a.pdf")
    assert final == dest / "a.pdf" and not src.exists() and files(dest) == ["a.pdf"]


def test_place_crash_after_marker_before_link(tmp_path):
    dest, src, marker = _half_placed(tmp_path)
    (dest / "a.pdf").write_text("someone else's, arrived meanwhile")
    final = fsops.place(marker, src, dest, "a.pdf")
    assert final.name == "a (1).pdf" and (dest / "a.pdf").read_text().startswith("someone")


def test_place_done_is_not_repeated(tmp_path):
    dest = tmp_path / "out"
    src = tmp_path / "src.pdf"
    src.write_text("x")
    marker = tmp_path / "m.json"
    first = fsops.place(marker, src, dest, "a.pdf")
    src.write_text("a new file by the same name in the work area must not be placed again")
    os.unlink(src)
    assert fsops.place(marker, src, dest, "a.pdf") == first and files(dest) == ["a.pdf"]


def test_copy_place_redoes_a_partial_copy(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(300_000))
    (dest / ".kyso-c1-out.part").write_bytes(b"partial")  # crash mid-copy, no marker yet
    final = fsops.copy_place(tmp_path / "m.json", src, dest, "a.bin", "c1-out")
    assert final.read_bytes() == src.read_bytes() and src.exists()
    assert [p.name for p in dest.iterdir()] == ["a.bin"]


# --- claims --------------------------------------------------------------------------------------------


@pytest.fixture()
def watch(tmp_path):
    from gateway.settings import load_settings

    s = load_settings(var_dir=tmp_path / "var")
    s = folder_settings(s, tmp_path)
    return resolve_watches(s)[0]


def test_take_moves_document_and_sidecar(watch):
    (watch.inbox / "a.pdf").write_bytes(b"%PDF-1.7 x")
    (watch.inbox / "a.pdf.meta.json").write_text("{}")
    c = claims.take(watch, "a.pdf")
    assert c is not None and c.taken.read_bytes() == b"%PDF-1.7 x" and c.meta.exists()
    assert claims.secure(c, 1 << 20) is None  # the private copy, the taken entry gone
    assert c.doc.read_bytes() == b"%PDF-1.7 x" and not c.taken.exists()
    assert files(watch.inbox) == []
    assert claims.take(watch, "a.pdf") is None  # gone: nothing claimed, nothing left behind
    assert [p.name for p in watch.work.iterdir() if not p.name.startswith(".")] == [c.dir.name]


def test_recovery_gives_back_a_half_claim(watch):
    """Crash after the sidecar moved, before the document did: both end up in the inbox again."""
    (watch.inbox / "b.pdf").write_bytes(b"%PDF-1.7 b")
    (watch.inbox / "b.meta.json").write_text("{}")
    c = claims.take(watch, "b.pdf")
    os.rename(c.taken, watch.inbox / "b.pdf")  # as if the document's rename never happened
    assert claims.pending_claims(watch) == []
    assert files(watch.inbox) == ["b.meta.json", "b.pdf"]
    assert [p for p in watch.work.iterdir() if not p.name.startswith(".") and p.name != "blocked.json"] == []


def test_recovery_finds_claims_and_cleans_leftovers(watch):
    (watch.inbox / "c.pdf").write_bytes(b"%PDF-1.7 c")
    c = claims.take(watch, "c.pdf")
    (watch.work / "20250101T000000-aaaaaaaaaaaa").mkdir()  # crashed before claim.json: nothing moved
    (watch.work / "20250101T000000-bbbbbbbbbbbb.done").mkdir()  # crashed while removing a finished claim
    found = claims.pending_claims(watch)
    assert [x.id for x in found] == [c.id] and found[0].rel == "c.pdf"
    assert sorted(p.name for p in watch.work.iterdir() if not p.name.startswith(".")) == [c.dir.name]


def test_recovered_claim_is_delivered_once(dev_settings, tmp_path):
    """Crash after the output was placed and the original archived: the restart finishes without a copy."""
    from gateway.engine import Engine
    from gateway.folderwatch.state import BlockedFiles
    from gateway.folderwatch.worker import ClaimWorker

    s = folder_settings(dev_settings, tmp_path)
    w = resolve_watches(s)[0]
    make_pdf(w.inbox / "d.pdf")
    make_pdf(w.inbox / "e.pdf")
    c, e = claims.take(w, "d.pdf"), claims.take(w, "e.pdf")
    with Engine(s, workers=1) as eng:
        worker = ClaimWorker(eng, w, BlockedFiles(w.blocked_state))

        async def go():
            v = await worker.decide(c)
            fsops.write_json(c.result_file, v.to_json())
            await asyncio.to_thread(worker.deliver, c, v)  # ...and the process dies here
            ve = await worker.decide(e)
            fsops.write_json(e.result_file, ve.to_json())
            os.unlink(ve.output)  # decided, then the unplaced output vanished: signed again, not lost
            return [await worker.run(x) for x in claims.pending_claims(w)]  # restart

        verdicts = asyncio.run(go())
    d = Dirs(s)
    assert [v.outcome for v in verdicts] == [Outcome.SIGN, Outcome.SIGN]
    assert files(d.signed) == ["d.pdf", "e.pdf"] and len(files(d.archive)) == 2 and files(d.work) == []


def test_place_group_crash_between_signature_and_document(tmp_path):
    """Crash after the signature was placed, before the document: never the document alone; the restart
    places the document under the same name, once."""
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "a.docx").write_text("someone's")  # the pair takes the next free name together
    sig, doc = tmp_path / "s.part", tmp_path / "d.part"
    sig.write_text("sig")
    doc.write_text("doc")
    marker = tmp_path / "m.json"
    fsops.write_json(marker, {"group": True, "name": "a (1).docx", "final": str(dest / "a (1).docx")})
    os.link(sig, dest / "a (1).docx.p7s")  # crash here, before the unlink and before the document
    assert files(dest) == ["a (1).docx.p7s", "a.docx"]
    final = fsops.place_group(marker, [(sig, ".p7s"), (doc, "")], dest, "a.docx")
    assert final == dest / "a (1).docx" and final.read_text() == "doc"
    assert files(dest) == ["a (1).docx", "a (1).docx.p7s", "a.docx"] and not sig.exists() and not doc.exists()
    assert fsops.place_group(marker, [(sig, ".p7s"), (doc, "")], dest, "a.docx") == final  # done: not again
    assert files(dest) == ["a (1).docx", "a (1).docx.p7s", "a.docx"]


def test_place_group_name_taken_meanwhile_moves_the_pair(tmp_path):
    """Someone takes the document's name after the signature is in place: the pair moves on together."""
    dest = tmp_path / "out"
    dest.mkdir()
    sig, doc = tmp_path / "s.part", tmp_path / "d.part"
    sig.write_text("sig")
    doc.write_text("doc")
    marker = tmp_path / "m.json"
    fsops.write_json(marker, {"group": True, "name": "a.docx", "final": str(dest / "a.docx")})
    os.link(sig, dest / "a.docx.p7s")
    os.unlink(sig)  # crash after the signature was placed...
    (dest / "a.docx").write_text("someone's")  # ...and a stranger's file took the document's name
    final = fsops.place_group(marker, [(sig, ".p7s"), (doc, "")], dest, "a.docx")
    assert final.name == "a (1).docx" and final.read_text() == "doc"
    assert (dest / "a (1).docx.p7s").read_text() == "sig" and (dest / "a.docx").read_text() == "someone's"
    assert files(dest) == ["a (1).docx", "a (1).docx.p7s", "a.docx"]


def _detached_claim(watch, name="bien-ban.docx"):
    """A claimed non-PDF with a SIGN verdict whose output is a detached .p7s (what the engine leaves)."""
    from gateway.folderwatch.worker import ClaimWorker
    from gateway.folderwatch.state import BlockedFiles

    (watch.inbox / name).write_bytes(b"word document")
    c = claims.take(watch, name)
    claims.secure(c, 1 << 20)
    out = watch.out_dir(c.id)
    out.mkdir(parents=True)
    (out / (name + ".p7s")).write_bytes(b"cades signature")
    v = Verdict(outcome=Outcome.SIGN, reasons=(), output=str(out / (name + ".p7s")), detached=True)
    fsops.write_json(c.result_file, v.to_json())
    return ClaimWorker(None, watch, BlockedFiles(watch.blocked_state)), c, v


class _Crash(BaseException):
    """The process dies here (nothing after this point runs in that life)."""


@pytest.mark.parametrize("crash_at", [0, 1, 2])  # no crash; before the first placing; between the two
def test_detached_signature_is_in_place_before_the_document(watch, monkeypatch, crash_at):
    """Whoever watches signed/ never sees the document without its .p7s, even when the door dies between
    the two; the restart finishes both, once, under one name."""
    (watch.signed).mkdir(parents=True, exist_ok=True)
    (watch.signed / "bien-ban.docx").write_bytes(b"an earlier one")  # the pair is suffixed together
    worker, c, v = _detached_claim(watch)
    seen, calls = [], [0]  # signed/ as seen after every link/rename into it, in the first run and the restart
    real_link, real_rename = os.link, os.rename

    def watched(real):
        def op(src, dst, *a, **kw):
            if str(watch.signed) in str(dst):
                calls[0] += 1
                if calls[0] == crash_at:
                    raise _Crash()
            real(src, dst, *a, **kw)
            seen.append(files(watch.signed))
        return op

    monkeypatch.setattr(fsops.os, "link", watched(real_link))
    monkeypatch.setattr(fsops.os, "rename", watched(real_rename))
    try:
        worker.deliver(c, v)
    except _Crash:
        pass
    seen.append(files(watch.signed))
    crash_at = 0
    [again] = claims.pending_claims(watch)
    placed = worker.deliver(again, Verdict.from_json(fsops.read_json(again.result_file)))
    seen.append(files(watch.signed))
    for names in seen:
        for n in names:
            if not n.endswith(".p7s") and n != "bien-ban.docx":
                assert n + ".p7s" in names, f"{n} visible without its signature: {names}"
    assert files(watch.signed) == ["bien-ban (1).docx", "bien-ban (1).docx.p7s", "bien-ban.docx"]
    assert (watch.signed / "bien-ban (1).docx").read_bytes() == b"word document"
    assert (watch.signed / "bien-ban (1).docx.p7s").read_bytes() == b"cades signature"
    assert placed["signature"] == str(watch.signed / "bien-ban (1).docx.p7s")
    assert len(files(watch.archive)) == 1
    assert not [p.name for p in watch.signed.iterdir() if p.name.startswith(".")]  # no temp copy left over


def test_detached_journalled_by_the_earlier_order_is_finished_that_way(watch):
    """A claim left half-done by the earlier version (document placed first, then the crash) is finished,
    not placed a second time under a new name."""
    worker, c, v = _detached_claim(watch)
    fsops.copy_place(c.step("out"), c.doc, watch.signed, c.name, f"{c.id}-out", (".p7s",))  # old first step
    worker.deliver(c, v)
    assert files(watch.signed) == ["bien-ban.docx", "bien-ban.docx.p7s"] and len(files(watch.archive)) == 1


# --- stability, names, sidecars, archive -----------------------------------------------------------------


def test_stability(tmp_path):
    now = [100.0]
    st = Stability(1.0, clock=lambda: now[0])
    growing, closed, empty = tmp_path / "g.pdf", tmp_path / "c.pdf", tmp_path / "e.pdf"
    growing.write_bytes(b"1")
    closed.write_bytes(b"1")
    empty.write_bytes(b"")
    st.seen(growing)
    st.seen(closed, closed=True)
    st.seen(empty, closed=True)
    assert st.due() == [closed]  # closed after writing: at once
    now[0] += 0.6
    with open(growing, "ab") as fh:
        fh.write(b"more")
    os.utime(growing, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    assert st.due() == []
    now[0] += 0.9
    assert st.due() == [empty]  # an empty file waits the quiet period even when closed
    now[0] += 0.2
    assert st.due() == [growing]
    assert len(st) == 0


def test_names_taken_and_ignored():
    pats = ["*.pdf", "*.DOCX"]
    assert wanted("A.PDF", pats) and wanted("b.docx", pats)
    for name in ("a.pdf.part", "a.tmp", "~$a.pdf", ".a.pdf", "a.pdf.meta.json", "a.txt"):
        assert not wanted(name, pats), name


def test_scan_skips_dot_dirs_and_respects_recursion(watch, tmp_path):
    (watch.inbox / "sub").mkdir()
    (watch.inbox / ".hidden").mkdir()
    for p in ("a.pdf", "sub/b.pdf", ".hidden/c.pdf"):
        (watch.inbox / p).write_bytes(b"x")
    assert [p.name for p in scan(watch)] == ["a.pdf"]  # not recursive
    assert candidate(watch, watch.inbox / "sub" / "b.pdf") is None


def test_sidecar_strict(tmp_path):
    p = tmp_path / "a.meta.json"
    p.write_bytes("\ufeff".encode() + json.dumps({"kind": "Copy", "copy_form": "SAO Y", "number": "5/SY"}).encode())
    d = read_sidecar(p)
    assert d.kind is DocKind.COPY and d.copy_form == "SAO Y" and d.number == "5/SY"
    for bad in ({"kind": "report"}, {"kind": "memo"}, {"number": 5}, {"clasification": "MẬT"}, []):
        p.write_text(json.dumps(bad))
        with pytest.raises(BadSidecar):
            read_sidecar(p)
    p.write_text("{not json")
    with pytest.raises(BadSidecar):
        read_sidecar(p)


def test_prune_archive(watch):
    old, new = watch.archive / "2000-01-01", watch.archive / time.strftime("%Y-%m-%d")
    for d in (old, new):
        d.mkdir(parents=True)
        (d / "x.pdf").write_bytes(b"x")
    assert prune_archive(watch, 90) == 1
    assert not old.exists() and new.exists()
    assert prune_archive(watch, 0) == 0  # 0 keeps everything


def test_verdict_round_trip():
    v = Verdict(Outcome.REJECT, (Reason.of("PDF_BROKEN", detail="xref"),), record_id=7, decided_at="t")
    assert Verdict.from_json(json.loads(json.dumps(v.to_json()))) == v
    assert bad_metadata("x").reasons[0].code == "BAD_METADATA"


def test_non_utf8_file_name_survives_the_journal(watch):
    name = os.fsdecode(b"v\xe0n-b\xe1n.pdf")  # Latin-1 bytes from an old exporter: not UTF-8
    (watch.inbox / name).write_bytes(b"%PDF-1.7 x")
    c = claims.take(watch, name)
    found = claims.pending_claims(watch)
    assert [x.rel for x in found] == [name] and found[0].taken.exists()
    claims.undo(watch, c)
    assert (watch.inbox / name).exists()


def test_disabled_and_one_door_per_work_area(tmp_path):
    from gateway.errors import ConfigError
    from gateway.folderwatch import build
    from gateway.settings import load_settings

    base = load_settings(var_dir=tmp_path / "var")
    assert build(folder_settings(base, tmp_path, enabled=False), None) is None
    s = folder_settings(base, tmp_path)

    async def go():
        first, second = build(s, None), build(s, None)
        lines = await first.start()
        try:
            assert "«t»" in lines[0] and "inotify" in lines[0]
            with pytest.raises(ConfigError):
                await second.start()
        finally:
            await first.stop(1)

    asyncio.run(go())


def test_symlinks_are_never_taken(watch, tmp_path):
    """A link in the inbox could point at any readable file on the machine: never claimed or signed."""
    outside = tmp_path / "outside.pdf"
    outside.write_bytes(b"%PDF-1.7 private")
    os.symlink(outside, watch.inbox / "link.pdf")
    os.symlink(outside, watch.inbox / "real.pdf.meta.json")  # nor read as somebody's sidecar
    (watch.inbox / "real.pdf").write_bytes(b"%PDF-1.7 x")
    assert [p.name for p in scan(watch)] == ["real.pdf"]
    assert candidate(watch, watch.inbox / "link.pdf") is None
    st = Stability(0.0)
    st.seen(watch.inbox / "link.pdf", closed=True)
    assert st.due() == []
    assert claims.take(watch, "link.pdf") is None
    c = claims.take(watch, "real.pdf")
    assert c is not None and c.meta is None
    assert outside.read_bytes() == b"%PDF-1.7 private" and (watch.inbox / "link.pdf").is_symlink()
