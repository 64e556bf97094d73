"""The folder door end to end: real folders, real watchdog observers, the real Engine and SoftHSM token, pdfsig."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from folder_support import Dirs, files, folder_settings, run_door, wait_until
from util import make_pdf, pdfsig, sign_as_person

from gateway.engine import Engine

pytestmark = pytest.mark.hsm


@pytest.fixture(scope="module")
def engine(dev_settings):
    with Engine(dev_settings) as eng:
        eng.health()  # workers up and the token session open before the first test's clock starts
        yield eng


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_pdf(tmp_path_factory.mktemp("tpl") / "template.pdf")


def records(engine, event: str, path: str | None = None):
    rows = engine.audit.query(channel="folder", limit=100000)
    return [r for r in rows if r.event == event and (path is None or r.data.get("path") == path)]


def assert_org_signed(path: Path, nssdb: Path, n: int = 1) -> None:
    sigs = pdfsig(path, nssdb)
    assert len(sigs) == n, sigs
    assert all(s["valid"] and s["trusted"] for s in sigs), sigs


# --- outcomes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_sign_reject_and_archive(dev_settings, engine, template, tmp_path, polling):
    # No periodic rescan during the test: only the observer can find the files.
    s = folder_settings(dev_settings, tmp_path, polling=polling, poll_seconds=0.3, rescan_seconds=3600)
    d = Dirs(s)

    async def scenario(door):
        await wait_until(lambda: door.scans >= 1, 10, "the initial scan")
        shutil.copy(template, d.inbox / "công văn 1.pdf")
        (d.inbox / "ghi chu.txt").write_text("không phải PDF", encoding="utf-8")
        await wait_until(lambda: files(d.signed) == ["công văn 1.pdf"] and "ghi chu.txt" in files(d.rejected),
                         60, "signed and rejected outputs")

    run_door(s, engine, scenario)
    assert files(d.inbox) == []
    assert_org_signed(d.signed / "công văn 1.pdf", dev_settings.paths.nssdb)
    # The original is archived unchanged, under the day it was claimed.
    archived = files(d.archive)
    assert len(archived) == 1 and archived[0].endswith("/công văn 1.pdf")
    assert (d.archive / archived[0]).read_bytes() == template.read_bytes()
    assert sorted(files(d.rejected)) == ["ghi chu.txt", "ghi chu.txt.decision.json", "ghi chu.txt.ly-do.txt"]
    decision = json.loads((d.rejected / "ghi chu.txt.decision.json").read_text(encoding="utf-8"))
    assert decision["outcome"] == "reject" and decision["reasons"][0]["code"] == "UNSUPPORTED_TYPE"
    assert decision["reasons"][0]["basis"] and decision["record_id"]
    note = (d.rejected / "ghi chu.txt.ly-do.txt").read_text(encoding="utf-8")
    assert note.index("Chỉ chấp nhận tệp PDF") < note.index("Only PDF files are accepted")
    assert "lưu thành PDF" in note and "save it as PDF" in note  # what to do (issue 16)
    times = [line for line in note.splitlines() if line.startswith(("Thời điểm:", "Time:"))]
    assert len(times) == 2 and all(t.endswith("+07:00") for t in times), times  # Vietnam time
    assert files(d.work) == []  # nothing left behind but the lock and state
    assert records(engine, "folder.delivered", "công văn 1.pdf")


def test_rescan_finds_what_events_missed(dev_settings, engine, template, tmp_path):
    """inotify overflows drop events silently: the periodic rescan still finds the file."""
    s = folder_settings(dev_settings, tmp_path, rescan_seconds=0.5)
    d = Dirs(s)

    async def scenario(door):
        await wait_until(lambda: door.scans >= 1, 10, "the initial scan")
        door._observer.unschedule_all()  # from now on no event arrives
        shutil.copy(template, d.inbox / "missed.pdf")
        await wait_until(lambda: files(d.signed) == ["missed.pdf"], 60, "the rescan to find it")

    run_door(s, engine, scenario)


def test_pass_keeps_bytes_and_names_never_overwrite(dev_settings, engine, template, tmp_path):
    s = folder_settings(dev_settings, tmp_path, watch={"archive": None})
    d = Dirs(s)
    d.signed.mkdir(parents=True)
    (d.signed / "a.pdf").write_bytes(b"an older output someone keeps")

    async def scenario(door):
        shutil.copy(template, d.inbox / "a.pdf")
        await wait_until(lambda: "a (1).pdf" in files(d.signed), 60, "signed a (1).pdf")
        signed = (d.signed / "a (1).pdf").read_bytes()
        # An already organisation-signed document passes unchanged (and collides again: a (2).pdf).
        (d.inbox / "a.pdf").write_bytes(signed)
        await wait_until(lambda: "a (2).pdf" in files(d.signed), 60, "passed a (2).pdf")
        return signed

    signed = run_door(s, engine, scenario)
    assert (d.signed / "a.pdf").read_bytes() == b"an older output someone keeps"
    assert (d.signed / "a (2).pdf").read_bytes() == signed
    assert_org_signed(d.signed / "a (1).pdf", dev_settings.paths.nssdb)
    assert files(d.inbox) == [] and files(d.rejected) == []


def test_recursive_watch_keeps_subfolders_and_patterns(dev_settings, engine, template, tmp_path):
    s = folder_settings(dev_settings, tmp_path, watch={"recursive": True, "patterns": ["*.pdf"]})
    d = Dirs(s)

    async def scenario(door):
        (d.inbox / "phong-A" / "2025").mkdir(parents=True)
        shutil.copy(template, d.inbox / "phong-A" / "2025" / "x.pdf")
        (d.inbox / "readme.txt").write_text("not matched")
        await wait_until(lambda: files(d.signed) == ["phong-A/2025/x.pdf"], 60, "nested output")

    run_door(s, engine, scenario)
    assert files(d.inbox) == ["readme.txt"]  # not matching the patterns: left alone
    assert_org_signed(d.signed / "phong-A/2025/x.pdf", dev_settings.paths.nssdb)


# --- completeness ------------------------------------------------------------------------------------


def test_slow_writer_not_taken_early(dev_settings, engine, template, tmp_path):
    s = folder_settings(dev_settings, tmp_path, quiet_seconds=1.0)
    d = Dirs(s)
    data = template.read_bytes()
    target = d.inbox / "slow.pdf"
    opened, closed = threading.Event(), threading.Event()

    def writer():
        with open(target, "wb") as fh:
            opened.set()
            chunks = [data[i: i + len(data) // 12 + 1] for i in range(0, len(data), len(data) // 12 + 1)]
            for c in chunks:  # ~3 s of growing, pauses shorter than the quiet period
                fh.write(c)
                fh.flush()
                time.sleep(0.25)
        closed.set()

    async def scenario(door):
        t = threading.Thread(target=writer)
        t.start()
        opened.wait(5)
        while not closed.is_set():
            assert target.exists(), "taken while still being written"
            assert files(d.work) == []
            await asyncio.sleep(0.05)
        t.join()
        await wait_until(lambda: files(d.signed) == ["slow.pdf"], 60, "the slow file signed")

    run_door(s, engine, scenario)
    assert_org_signed(d.signed / "slow.pdf", dev_settings.paths.nssdb)


def test_part_and_temp_names_wait_until_renamed(dev_settings, engine, template, tmp_path):
    s = folder_settings(dev_settings, tmp_path, quiet_seconds=0.2, rescan_seconds=0.5)
    d = Dirs(s)

    async def scenario(door):
        for name in ("x.part", "y.tmp", "~$z.pdf", ".hidden.pdf"):
            shutil.copy(template, d.inbox / name)
        # Several quiet periods and rescans pass: none is taken.
        await asyncio.sleep(2.0)
        assert sorted(files(d.inbox) + [".hidden.pdf"]) == sorted([".hidden.pdf", "x.part", "y.tmp", "~$z.pdf"])
        assert door.processed == 0
        os.rename(d.inbox / "x.part", d.inbox / "x.pdf")
        await wait_until(lambda: files(d.signed) == ["x.pdf"], 60, "renamed file signed")

    run_door(s, engine, scenario)
    assert (d.inbox / "y.tmp").exists() and (d.inbox / "~$z.pdf").exists() and (d.inbox / ".hidden.pdf").exists()


# --- sidecars ----------------------------------------------------------------------------------------


def test_sidecar_kinds_and_bad_metadata(dev_settings, engine, template, tmp_path):
    s = folder_settings(dev_settings, tmp_path)
    d = Dirs(s)
    person = sign_as_person(template, tmp_path / "person.pdf", dev_settings, person=1)

    async def scenario(door):
        # issued without the competent person's signature: refused (Điều 32.2.d)
        (d.inbox / "qd-1.pdf.meta.json").write_text(json.dumps({"kind": "issued", "number": "1/QĐ-UBND"}))
        shutil.copy(template, d.inbox / "qd-1.pdf")
        # issued, signed by the person: the organisation signs after (stem-style sidecar name)
        (d.inbox / "qd-2.meta.json").write_text(json.dumps({"kind": "issued", "title": "Quyết định"}))
        shutil.copy(person, d.inbox / "qd-2.pdf")
        # misspelt key: refused as bad metadata, nothing guessed
        (d.inbox / "qd-3.pdf.meta.json").write_text(json.dumps({"clasification": "MẬT"}))
        shutil.copy(template, d.inbox / "qd-3.pdf")
        await wait_until(lambda: door.processed >= 3, 60, "three documents")

    run_door(s, engine, scenario)
    assert files(d.inbox) == []
    assert files(d.signed) == ["qd-2.pdf", "qd-2.pdf.meta.json"]
    assert_org_signed(d.signed / "qd-2.pdf", dev_settings.paths.nssdb, n=2)
    codes = {}
    for n in ("qd-1.pdf", "qd-3.pdf"):
        assert (d.rejected / (n + ".meta.json")).exists()  # the sidecar travels with its document
        codes[n] = [r["code"] for r in json.loads((d.rejected / (n + ".decision.json")).read_text())["reasons"]]
    assert codes["qd-1.pdf"] == ["ISSUED_NEEDS_PERSONAL_SIGNATURE"]
    assert codes["qd-3.pdf"] == ["BAD_METADATA"]
    assert "clasification" in (d.rejected / "qd-3.pdf.ly-do.txt").read_text(encoding="utf-8")
    assert records(engine, "folder.bad-metadata", "qd-3.pdf")


# --- state secrets -----------------------------------------------------------------------------------


def secret_pdf(tmp_path: Path) -> Path:
    from secrecy_samples import POSITIVE, generate

    return generate(tmp_path / "secret", POSITIVE[:1])[POSITIVE[0].name]


def test_secret_marked_goes_to_quarantine_only(dev_settings, engine, template, tmp_path, caplog):
    s = folder_settings(dev_settings, tmp_path)
    d = Dirs(s)
    secret = secret_pdf(tmp_path)
    caplog.set_level(logging.WARNING, logger="gateway.folderwatch")

    async def scenario(door):
        shutil.copy(secret, d.inbox / "bao-cao.pdf")
        # declared secret in the sidecar, content otherwise ordinary
        (d.inbox / "ke-hoach.pdf.meta.json").write_text(json.dumps({"classification": "TỐI MẬT"}))
        shutil.copy(template, d.inbox / "ke-hoach.pdf")
        await wait_until(lambda: door.processed >= 2, 60, "two blocked documents")

    run_door(s, engine, scenario)
    assert files(d.signed) == [] and files(d.inbox) == []
    assert files(d.archive) == [] and files(d.work) == []
    # the clerk finds the reason in rejected/, never the content
    assert sorted(files(d.rejected)) == sorted(
        f"{n}{tail}" for n in ("bao-cao.pdf", "ke-hoach.pdf") for tail in (".decision.json", ".ly-do.txt"))
    assert "SECRET_MARKED" in (d.rejected / "bao-cao.pdf.ly-do.txt").read_text(encoding="utf-8")
    q = files(d.quarantine)
    assert {"bao-cao.pdf", "bao-cao.pdf.decision.json", "ke-hoach.pdf", "ke-hoach.pdf.meta.json"} <= set(q)
    assert stat.S_IMODE(d.quarantine.stat().st_mode) == 0o700
    assert stat.S_IMODE((d.quarantine / "bao-cao.pdf").stat().st_mode) == 0o600
    assert (d.quarantine / "bao-cao.pdf").read_bytes() == secret.read_bytes()
    blocked = records(engine, "folder.blocked", "bao-cao.pdf")
    assert blocked and blocked[-1].alert
    assert any("ALERT" in r.getMessage() and "bao-cao.pdf" in r.getMessage() for r in caplog.records)


def test_secret_left_in_place_is_not_taken_again(dev_settings, engine, tmp_path):
    s = folder_settings(dev_settings, tmp_path, watch={"quarantine": None}, rescan_seconds=0.3)
    d = Dirs(s)
    secret = secret_pdf(tmp_path)

    async def scenario(door):
        shutil.copy(secret, d.inbox / "mat.pdf")
        await wait_until(lambda: len(records(engine, "folder.blocked", "mat.pdf")) >= 1, 60, "blocked record")
        before = len(records(engine, "folder.blocked", "mat.pdf"))
        await asyncio.sleep(2.5)  # many rescans and quiet periods: never taken again
        assert len(records(engine, "folder.blocked", "mat.pdf")) == before == 1
        return door.processed

    processed = run_door(s, engine, scenario)
    assert processed == 1
    assert files(d.inbox) == ["mat.pdf"] and (d.inbox / "mat.pdf").read_bytes() == secret.read_bytes()
    assert files(d.signed) == [] and files(d.rejected) == ["mat.pdf.decision.json", "mat.pdf.ly-do.txt"]
    state = json.loads((d.work / "blocked.json").read_text())
    assert state["mat.pdf"]["size"] == secret.stat().st_size and len(state["mat.pdf"]["sha256"]) == 64


# --- temporary failures ------------------------------------------------------------------------------


def _chattr(flag: str, path: Path) -> bool:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


def test_unwritable_signed_folder_keeps_file_queued(dev_settings, engine, template, tmp_path, caplog):
    s = folder_settings(dev_settings, tmp_path)
    d = Dirs(s)
    d.signed.mkdir(parents=True)
    # Root ignores permission bits; the immutable attribute stops even root (what a read-only share does).
    if not _chattr("+i", d.signed):
        pytest.skip("chattr +i not available here")
    caplog.set_level(logging.ERROR, logger="gateway.folderwatch")
    try:

        async def scenario(door):
            shutil.copy(template, d.inbox / "ro.pdf")
            await wait_until(lambda: any("ro.pdf stays queued" in r.getMessage() for r in caplog.records), 60,
                             "an error log for the queued file")
            await wait_until(lambda: sum("ro.pdf stays queued" in r.getMessage() for r in caplog.records) >= 2, 30,
                             "a retry")
            assert files(d.signed) == [] and door.processed == 0
            assert [p for p in files(d.work) if p.endswith("/copy/document")]  # kept (the private copy), not lost
            assert _chattr("-i", d.signed)
            await wait_until(lambda: files(d.signed) == ["ro.pdf"], 60, "delivery after the folder is writable")

        run_door(s, engine, scenario)
    finally:
        _chattr("-i", d.signed)
    assert_org_signed(d.signed / "ro.pdf", dev_settings.paths.nssdb)
    assert files(d.work) == [] and files(d.inbox) == []
    msg = next(r.getMessage() for r in caplog.records if "ro.pdf stays queued" in r.getMessage())
    assert "STORAGE_UNAVAILABLE" in msg and "Không ghi được" in msg


def test_hsm_down_then_back(tmp_path, template, caplog):
    """The token's directory disappears (HSM down): the file waits in the work area; back: it is signed."""
    from util import make_dev_settings

    base = make_dev_settings(tmp_path / "env")
    s = folder_settings(base, tmp_path)
    d = Dirs(s)
    tokens = base.paths.softhsm / "tokens"
    hidden = base.paths.softhsm / "tokens-away"
    os.rename(tokens, hidden)
    tokens.mkdir()
    caplog.set_level(logging.INFO)

    def explain() -> str:
        return "\n".join(f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records[-30:])

    try:
        with Engine(s) as eng:

            async def scenario(door):
                shutil.copy(template, d.inbox / "hsm.pdf")
                await wait_until(lambda: len(door._attempts) > 0, 60, "a failed attempt", explain=explain)
                assert files(d.signed) == [] and files(d.rejected) == []
                assert [p for p in files(d.work) if p.endswith("/copy/document")]
                # where the file was, the clerk sees why it waits (issue 16), and it is not taken as a document
                assert files(d.inbox) == ["hsm.pdf.dang-cho.txt"]
                held = (d.inbox / "hsm.pdf.dang-cho.txt").read_text(encoding="utf-8")
                assert "TOKEN_UNAVAILABLE" in held and "không cần gửi lại" in held and "no need to send" in held
                assert "+07:00" in held and held.index("ĐANG CHỜ") < held.index("WAITING")
                tokens.rmdir()
                os.rename(hidden, tokens)
                await wait_until(lambda: files(d.signed) == ["hsm.pdf"], 60, "signed after the token is back",
                                 explain=explain)

            run_door(s, eng, scenario)
    finally:
        if hidden.exists():
            shutil.rmtree(tokens, ignore_errors=True)
            os.rename(hidden, tokens)
    assert_org_signed(d.signed / "hsm.pdf", base.paths.nssdb)
    assert files(d.work) == [] and files(d.inbox) == []  # the waiting note went with the file


def test_non_pdf_gets_detached_p7s_beside_a_copy(dev_settings, tmp_path):
    """A policy signing non-PDF files for folders: the original (unchanged) and NAME.p7s land in signed/."""
    pol = tmp_path / "policies"
    pol.mkdir()
    text = (Path(dev_settings.policy.dir) / "default.toml").read_text(encoding="utf-8")
    (pol / "default.toml").write_text(text + '\n[channels.folder]\nnon_pdf = "cades"\n', encoding="utf-8")
    s = folder_settings(dev_settings, tmp_path, top={"policy": {"dir": pol}})
    d = Dirs(s)
    content = "Biên bản họp (bản Word giả lập)\n".encode() * 100
    with Engine(s, workers=1) as eng:

        async def scenario(door):
            (d.inbox / "bien-ban.docx").write_bytes(content)
            await wait_until(lambda: files(d.signed) == ["bien-ban.docx", "bien-ban.docx.p7s"], 60, "copy + .p7s")

        run_door(s, eng, scenario)
    assert (d.signed / "bien-ban.docx").read_bytes() == content
    pki = dev_settings.paths.pki
    res = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(d.signed / "bien-ban.docx.p7s"),
         "-content", str(d.signed / "bien-ban.docx"), "-CAfile", str(pki / "root.pem"),
         "-certfile", str(pki / "ca.pem"), "-purpose", "any", "-out", os.devnull],
        capture_output=True, text=True,
    )
    assert res.returncode == 0, res.stderr
    assert len(files(d.archive)) == 1 and files(d.work) == []


@pytest.mark.slow
def test_large_file_by_path(dev_settings, engine, tmp_path):
    """≥ 200 MB: claimed by rename, signed by path; the door's memory does not grow with the file."""
    import resource

    from util import make_big_pdf

    def rss_self_kib() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    s = folder_settings(dev_settings, tmp_path, watch={"archive": None})
    d = Dirs(s)
    d.inbox.parent.mkdir(parents=True, exist_ok=True)
    big = make_big_pdf(d.inbox.parent / "big.pdf.part", 210 * 1024 * 1024)
    size = big.stat().st_size
    rss_before = rss_self_kib()

    async def scenario(door):
        d.inbox.mkdir(parents=True, exist_ok=True)
        os.rename(big, d.inbox / "big.pdf")
        await wait_until(lambda: files(d.signed) == ["big.pdf"], 180, "the big file signed")

    run_door(s, engine, scenario)
    # The peak of this process (the door's side) must not have grown by anything like the file's size.
    assert rss_self_kib() - rss_before < 64 * 1024
    out = d.signed / "big.pdf"
    assert out.stat().st_size > size
    assert_org_signed(out, dev_settings.paths.nssdb)
