"""Attacks on the folder door (issue 15 §1), each reproduced against the real door, Engine and token.

- A dropper keeps a second write handle and rewrites the file after it was claimed (the attack got a MẬT
  document signed and published in 4 of 5 tries): whatever reaches signed/ begins with exactly the bytes the
  decision log says were inspected, and never with the secret's.
- RENAME_EXCHANGE race (renameat2 through ctypes) between a regular file and a symlink to a private file
  (2 of 16 tries got the private file signed): the private file's bytes never reach signed/.
- Names of 240–255 bytes (ASCII and Vietnamese): each file ends somewhere — signed/, rejected/, quarantine
  for a secret one — under a safely shortened name, with a note holding the original name.
- A 100 GB sparse file and a mostly-holes one: refused at once, unread, moved to rejected/ with a note.
- Everything the door creates in its work area is 0700/0600; delivered files take their folder's mode.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import stat
import threading
import time
from pathlib import Path

import pytest

from folder_support import Dirs, files, folder_settings, run_door, wait_until
from util import make_pdf

from gateway.engine import Engine

pytestmark = pytest.mark.hsm

RENAME_EXCHANGE = 2
AT_FDCWD = -100


@pytest.fixture(scope="module")
def engine(dev_settings, tmp_path_factory):
    s = dev_settings.model_copy(deep=True)
    s.audit.path = tmp_path_factory.mktemp("attacks-log") / "audit.sqlite3"
    with Engine(s, workers=1) as eng:
        eng.health()
        yield eng


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    d = tmp_path_factory.mktemp("attack-pdfs")
    benign = make_pdf(d / "benign.pdf", lines=["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Công văn thường"]).read_bytes()
    secret = make_pdf(d / "secret.pdf", lines=["MẬT", "Kế hoạch bảo vệ"]).read_bytes()
    private = make_pdf(d / "private.pdf", lines=["Hồ sơ riêng trong thư mục riêng"]).read_bytes()
    return {"benign": benign, "secret": secret, "private": private}


def _decisions(engine) -> dict[str, dict]:
    """sha256_before -> record data, for every folder decision."""
    return {r.data.get("sha256_before"): r.data for r in engine.audit.query(channel="folder", kind="decision",
                                                                              limit=100000)}


def _inspected_prefix_ok(path: Path, engine) -> tuple[bool, bytes]:
    """The signed output begins with bytes whose SHA-256 a decision record names (what was inspected)."""
    data = path.read_bytes()
    for sha, rec in _decisions(engine).items():
        size = rec.get("size")
        if sha and size and hashlib.sha256(data[:size]).hexdigest() == sha:
            return True, data[:size]
    return False, b""


def _outputs(d: Dirs) -> list[Path]:
    return [p for p in d.signed.rglob("*.pdf") if p.is_file()]


# --- the second write handle -------------------------------------------------------------------------------


def test_rewrite_through_a_second_handle_after_the_claim_never_gets_signed(dev_settings, engine, pdfs, tmp_path):
    s = folder_settings(dev_settings, tmp_path, quiet_seconds=0.2)
    d = Dirs(s)
    tries = 5
    seen: list[str] = []

    async def scenario(door):
        import asyncio

        for i in range(tries):
            name = f"cv-{i}.pdf"
            fd = os.open(d.inbox / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, pdfs["benign"])  # the dropper keeps this handle
            stop = threading.Event()

            delay = [0.0, 0.02, 0.05, 0.1, 0.3][i % 5]

            def rewrite() -> None:
                # Once the file has left the inbox (claimed), wait a little (inspection under way or done),
                # then rewrite it with the secret through the handle kept open.
                while (d.inbox / name).exists() and not stop.is_set():
                    time.sleep(0.001)
                time.sleep(delay)
                os.pwrite(fd, pdfs["secret"], 0)

            t = threading.Thread(target=rewrite)
            t.start()
            try:
                await wait_until(lambda: any(p.name.startswith(f"cv-{i}") for p in d.signed.iterdir())
                                 or any(p.name.startswith(f"cv-{i}") for p in d.quarantine.iterdir()), 180,
                                 f"a decision for {name}")
            finally:
                stop.set()
                await asyncio.to_thread(t.join)
                os.close(fd)
        await wait_until(lambda: door._busy == 0, 30, "the door idle")

    run_door(s, engine, scenario)
    for out in _outputs(d):
        ok, prefix = _inspected_prefix_ok(out, engine)
        seen.append(f"{out.name}: inspected-prefix={ok}, benign={prefix == pdfs['benign']}")
        assert ok, f"{out.name} was signed over bytes no decision inspected"
        assert pdfs["secret"] not in out.read_bytes() and prefix == pdfs["benign"], out.name
    quarantined = [p for p in d.quarantine.iterdir() if p.suffix == ".pdf"]
    print(f"\nsecond write handle, {tries} tries: signed {len(_outputs(d))} (all the inspected benign bytes), "
          f"quarantined {len(quarantined)} (the copy caught the secret: blocked); {seen}")
    assert len(_outputs(d)) + len(quarantined) == tries


# --- RENAME_EXCHANGE with a symlink ------------------------------------------------------------------------


def _exchange(a: Path, b: Path) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)


def test_rename_exchange_with_a_symlink_never_publishes_the_private_file(dev_settings, engine, pdfs, tmp_path):
    libc = ctypes.CDLL(None, use_errno=True)
    if not hasattr(libc, "renameat2"):
        pytest.skip("renameat2 not in this libc")
    private_dir = tmp_path / "private"
    private_dir.mkdir(mode=0o700)
    private = private_dir / "ho-so.pdf"
    private.write_bytes(pdfs["private"])
    s = folder_settings(dev_settings, tmp_path, quiet_seconds=0.0, rescan_seconds=0.2)
    d = Dirs(s)
    tries = 16

    async def scenario(door):
        import asyncio

        for i in range(tries):
            name = d.inbox / f"x-{i}.pdf"
            link = d.inbox / f".x-{i}.link"  # a dot name: never taken itself
            name.write_bytes(pdfs["benign"])
            os.symlink(private, link)
            stop = threading.Event()

            def race() -> None:
                while not stop.is_set():
                    _exchange(name, link)  # fails once one of them was claimed: keep trying what is left
                    time.sleep(0.0001)  # let the door's loop have the interpreter too (a loaded machine)

            t = threading.Thread(target=race)
            t.start()
            try:
                await wait_until(lambda: any(p.name.startswith(f"x-{i}") and not p.name.endswith(".txt")
                                             for root in (d.signed, d.rejected) for p in root.iterdir()), 180,
                                 f"x-{i} decided", explain=lambda: f"inbox {sorted(os.listdir(d.inbox))}, "
                                 f"signed {files(d.signed)}, rejected {files(d.rejected)}")
            finally:
                stop.set()
                await asyncio.to_thread(t.join)
            for p in (name, link):
                if os.path.lexists(p):
                    os.unlink(p)
        await wait_until(lambda: door._busy == 0, 30, "the door idle")

    run_door(s, engine, scenario)
    signed = _outputs(d)
    leaked = [p.name for p in signed if p.read_bytes().startswith(pdfs["private"][:1000])]
    notes = [json.loads(p.read_text()) for p in d.rejected.glob("*.decision.json")]
    codes = sorted({r["code"] for n in notes for r in n["reasons"]})
    links_anywhere = [p for root in (d.signed, d.rejected) for p in root.rglob("*") if p.is_symlink()]
    print(f"\nRENAME_EXCHANGE race, {tries} tries: signed {len(signed)}, private file signed {len(leaked)}, "
          f"claimed symlinks refused (removed, with a note) {len(notes)} ({codes})")
    assert not leaked and not links_anywhere
    for out in signed:
        assert _inspected_prefix_ok(out, engine)[1] == pdfs["benign"]
    assert private.read_bytes() == pdfs["private"]  # the target untouched
    assert all(c == "NOT_A_REGULAR_FILE" for c in codes)
    assert len(signed) + len(notes) >= tries


# --- long names ----------------------------------------------------------------------------------------------


def _vn(n_bytes: int, ext: str = ".pdf") -> str:
    base = "Công văn số 12 về việc "
    out = ""
    while len((out + "ữ" + ext).encode()) <= n_bytes:
        out += (base + "ữ")[len(out) % len(base + "ữ")]
    return out + ext


def test_long_names_all_end_somewhere_with_a_note(dev_settings, engine, pdfs, tmp_path):
    s = folder_settings(dev_settings, tmp_path)
    d = Dirs(s)
    broken = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    cases = {
        "a" * 251 + ".pdf": pdfs["benign"],  # 255 bytes
        "b" * 236 + ".pdf": pdfs["benign"],  # 240 bytes
        _vn(255): pdfs["benign"],
        "r" * 246 + ".pdf": broken,  # 250 bytes, rejected
        "m" * 251 + ".pdf": pdfs["secret"],  # 255 bytes, secret: must reach quarantine
        _vn(254, ".docx"): b"PK\x03\x04 not really a docx",
    }
    assert all(240 <= len(n.encode()) <= 255 for n in cases)

    async def scenario(door):
        for name, data in cases.items():
            (d.inbox / name).write_bytes(data)
        await wait_until(lambda: files(d.inbox) == [] and not [p for p in d.work.iterdir() if p.is_dir()
                                                                 and not p.name.startswith(".")], 120,
                         "every long name taken and finished",
                         explain=lambda: f"inbox {files(d.inbox)}")

    run_door(s, engine, scenario)
    everything = {p.name: p for root in (d.signed, d.rejected, d.quarantine) for p in root.iterdir() if p.is_file()}
    notes = {}
    for p in everything.values():
        if p.name.endswith(".decision.json"):
            n = json.loads(p.read_text())
            notes[n["original"]] = (n, p.parent.name)
    print("\nlong names:", {k[:20] + f"…({len(k.encode())} B)": (v[1], v[0]["outcome"], v[0]["file"][-24:])
                            for k, v in notes.items()})
    for name in cases:
        assert name in notes, f"no note for {name[:30]}… ({len(name.encode())} bytes)"
        note, where = notes[name]
        assert note["name_shortened"] and len(note["file"].encode()) < 255 - 20
        assert (Path(d.signed.parent) / where / note["file"]).exists()
        text = (Path(d.signed.parent) / where / (note["file"] + ".ly-do.txt")).read_text()
        assert name in text and "NAME_SHORTENED" in text
    assert notes["m" * 251 + ".pdf"][1] == "quarantine"
    assert notes["r" * 246 + ".pdf"][1] == "rejected" and notes["a" * 251 + ".pdf"][1] == "signed"


# --- sparse and enormous ---------------------------------------------------------------------------------------


def test_sparse_and_enormous_files_are_refused_unread(dev_settings, engine, tmp_path):
    s = folder_settings(dev_settings, tmp_path)
    d = Dirs(s)

    async def scenario(door):
        with open(d.inbox / ".huge.part", "wb") as fh:
            fh.write(b"%PDF-1.7\n")
            fh.truncate(100 * 1024 ** 3)  # 100 GB, nearly all of it a hole
        os.rename(d.inbox / ".huge.part", d.inbox / "huge.pdf")
        with open(d.inbox / ".holes.part", "wb") as fh:
            fh.write(b"%PDF-1.7\n")
            fh.truncate(16 * 1024 * 1024)
            fh.seek(16 * 1024 * 1024 - 6)
            fh.write(b"%%EOF\n")
        os.rename(d.inbox / ".holes.part", d.inbox / "holes.pdf")
        t0 = time.monotonic()
        await wait_until(lambda: {"huge.pdf.decision.json", "holes.pdf.decision.json"} <= {p.name for p in d.rejected.iterdir()},
                         60, "both refused")
        return time.monotonic() - t0

    took = run_door(s, engine, scenario)
    codes = {n: json.loads((d.rejected / f"{n}.decision.json").read_text())["reasons"][0]["code"]
             for n in ("huge.pdf", "holes.pdf")}
    print(f"\n100 GB sparse and 16 MB mostly-holes files: {codes} in {took:.1f} s")
    assert codes == {"huge.pdf": "TOO_LARGE", "holes.pdf": "FILE_SPARSE"}
    assert (d.rejected / "huge.pdf").stat().st_size == 100 * 1024 ** 3  # moved, not copied
    assert files(d.inbox) == []


# --- modes ------------------------------------------------------------------------------------------------------


def test_work_area_is_private_and_deliveries_take_their_folders_mode(dev_settings, engine, pdfs, tmp_path):
    import asyncio

    s = folder_settings(dev_settings, tmp_path)
    d = Dirs(s)
    d.signed.mkdir(parents=True, exist_ok=True)
    os.chmod(d.signed, 0o2770)  # a clerks' group share
    modes: set[str] = set()

    def walk() -> None:
        try:
            entries = [d.work, *d.work.rglob("*")]
        except FileNotFoundError:  # a claim finished while it was being listed
            return
        for p in entries:
            try:
                st = p.lstat()  # once: the file may be gone the next moment (a claim finished)
            except FileNotFoundError:
                continue
            m = stat.S_IMODE(st.st_mode)
            rel = p.relative_to(d.work)
            # Every directory is 0700: nobody else reaches anything inside. The door's own journal files are
            # 0600 too; documents inside keep (or get, just before delivery) the mode of where they are going.
            journal = p.suffix == ".json"
            if m & 0o077 and (stat.S_ISDIR(st.st_mode) or journal):
                modes.add(f"{rel} {oct(m)}")

    async def scenario(door):
        for i in range(3):
            (d.inbox / f"m{i}.pdf").write_bytes(pdfs["benign"])
        deadline = time.monotonic() + 60
        while len(files(d.signed)) < 3 and time.monotonic() < deadline:
            walk()
            await asyncio.sleep(0.01)
        await wait_until(lambda: len(files(d.signed)) == 3, 60, "three signed")

    old = os.umask(0o022)  # a permissive umask: the door must not depend on the service's UMask
    try:
        run_door(s, engine, scenario)
    finally:
        os.umask(old)
    print(f"\nwork area entries open to group/others while processing: {sorted(modes) or 'none'}")
    assert not modes
    for p in d.signed.glob("m*.pdf"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o660, (p.name, oct(p.stat().st_mode))
    q = Path(s.folders.watches[0].quarantine)
    assert stat.S_IMODE(q.stat().st_mode) == 0o700
