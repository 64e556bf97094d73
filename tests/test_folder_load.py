"""The folder door under load and under crashes: a burst of 1,000 files; SIGKILL at random points, restart."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from folder_support import Dirs, files, folder_settings, run_door, wait_until
from util import make_pdf, pdfsig

from gateway.engine import Engine

pytestmark = [pytest.mark.hsm, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent


def test_burst_of_1000_small_files(dev_settings, tmp_path):
    """1,000 small PDFs at once into an "issued" watch (each inspected, decided, noted, moved)."""
    s = folder_settings(dev_settings, tmp_path, watch={"kind": "issued", "archive": None})
    d = Dirs(s)
    tpl = make_pdf(tmp_path / "tpl.pdf", lines=["Số: 7/UBND-VP", "Văn bản thử nghiệm"])
    n = 1000

    async def scenario(door):
        started = time.monotonic()
        for i in range(n):
            shutil.copy(tpl, d.inbox / f"vb-{i:04d}.pdf")
        await wait_until(lambda: door.processed >= n, 90, f"{n} files processed", step=0.2)
        return time.monotonic() - started

    with Engine(s) as eng:
        eng.health()
        elapsed = run_door(s, eng, scenario)
    print(f"\nburst: {n} files in {elapsed:.1f} s ({n / elapsed:.0f} files/s)")
    out = files(d.rejected)
    assert len([f for f in out if f.endswith(".pdf")]) == n
    assert len([f for f in out if f.endswith(".ly-do.txt")]) == n
    assert files(d.inbox) == [] and files(d.signed) == [] and files(d.work) == []


# --- crash safety --------------------------------------------------------------------------------------


def _config(env_settings, root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    cfg = root / "gateway.toml"
    cfg.write_text(
        f"""
var_dir = "{env_settings.var_dir}"
log_level = "INFO"

[signing]
workers = 2

[smtp]
enabled = false

[http]
enabled = false

[folders]
work_dir = "{root / 'folders' / '.work'}"
quiet_seconds = 0.2
rescan_seconds = 1.0
retry_initial_seconds = 0.3
retry_max_seconds = 2.0

[[folders.watches]]
name = "crash"
inbox = "{root / 'folders' / 'inbox'}"
signed = "{root / 'folders' / 'signed'}"
rejected = "{root / 'folders' / 'rejected'}"
archive = "{root / 'folders' / 'archive'}"
""",
        encoding="utf-8",
    )
    return cfg


def _start(cfg: Path, log: Path) -> subprocess.Popen:
    fh = open(log, "ab")
    # A session of its own: SIGKILL goes to the whole group (signing workers too), like a service manager.
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.folderwatch", "--config", str(cfg)],
        cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
    )


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path):
    from util import make_dev_settings

    env = make_dev_settings(tmp_path / "env")  # a private token: nothing shared with other tests
    root = tmp_path / "run"
    cfg = _config(env, root)
    inbox, signed, rejected, work = (root / "folders" / n for n in ("inbox", "signed", "rejected", ".work"))
    inbox.mkdir(parents=True)
    log = root / "door.log"
    seed = int(os.environ.get("KYSO_CRASH_SEED", time.time()))
    print(f"crash test seed: KYSO_CRASH_SEED={seed}")  # shown by pytest when the test fails
    rng = random.Random(seed)
    tpl = make_pdf(tmp_path / "tpl.pdf")
    pdfs, texts = [f"doc-{i:03d}.pdf" for i in range(100)], [f"note-{i:03d}.txt" for i in range(160)]
    names = pdfs + texts
    rng.shuffle(names)
    waves = [names[i::4] for i in range(4)]

    def drop(wave):
        for name in wave:
            tmp = inbox / (name + ".part")  # written then renamed, as a careful exporter does
            if name.endswith(".pdf"):
                shutil.copy(tpl, tmp)
            else:
                tmp.write_text(f"văn bản {name}\n" * 50, encoding="utf-8")
            os.rename(tmp, inbox / name)

    deadline = time.monotonic() + 150
    kills = 0
    for wave in waves:
        drop(wave)
        proc = _start(cfg, log)
        time.sleep(rng.uniform(1.5, 6.0))
        _kill(proc)
        kills += 1
    banners = log.read_text(encoding="utf-8").count("Gateway 0.")
    proc = _start(cfg, log)
    try:
        while log.read_text(encoding="utf-8").count("Gateway 0.") <= banners:  # started: SIGTERM is handled
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.1)

        def drained() -> bool:
            claims = [p for p in work.glob("crash/*") if p.is_dir() and not p.name.startswith(".")]
            return not files(inbox) and not claims

        while not drained():
            assert time.monotonic() < deadline, f"not drained; log tail:\n{log.read_text()[-3000:]}"
            assert proc.poll() is None, f"door exited; log tail:\n{log.read_text()[-3000:]}"
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            _kill(proc)
    assert proc.returncode == 0

    out_signed, out_rejected = files(signed), files(rejected)
    # Exactly once: no " (1)" duplicates, nothing missing, nothing else.
    assert sorted(out_signed) == sorted(pdfs), (set(out_signed) ^ set(pdfs))
    expected_rejected = {t + tail for t in texts for tail in ("", ".decision.json", ".ly-do.txt")}
    assert set(out_rejected) == expected_rejected, set(out_rejected) ^ expected_rejected
    # No partial or temporary files anywhere people look.
    for d in (signed, rejected):
        leftovers = [p for p in d.rglob("*") if p.is_file() and p.name.startswith(".")]
        assert leftovers == []
        assert all(p.stat().st_size > 0 for p in d.rglob("*") if p.is_file())
    archived = sorted(Path(p).name for p in files(root / "folders" / "archive"))
    assert archived == sorted(pdfs)  # each original kept exactly once
    for t in texts:
        assert (rejected / t).read_text(encoding="utf-8").startswith(f"văn bản {t}")
    for p in pdfs:
        sigs = pdfsig(signed / p, env.paths.nssdb)
        assert len(sigs) == 1 and sigs[0]["valid"] and sigs[0]["trusted"], (p, sigs)
    print(f"\ncrash test: {kills} SIGKILLs, {len(names)} files, log lines: {len(log.read_text().splitlines())}")
