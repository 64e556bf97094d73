"""The README's commands work as written, from the repository root, with the project's venv (issue 16 §8).

The "Try it" block runs line by line in a copy of the checkout (package, policies, examples, a development var/,
`.venv` being this test's virtualenv) against a real `gateway run`; only the two port numbers are replaced by
free ones (the block names the development defaults). The quick start stays exactly two commands, and the
sample document is the one examples/make_sample_pdf.py makes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SAMPLE = ROOT / "examples" / "tai-lieu-mau.pdf"


def block_after(heading: str) -> list[str]:
    """The commands of the first ```sh block after `heading`: continuation lines joined, blank lines dropped."""
    text = README.read_text(encoding="utf-8")
    start = text.index(heading)
    m = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert m, f"no ```sh block after {heading!r}"
    joined = m.group(1).replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip()]


def test_quick_start_is_exactly_two_commands():
    lines = block_after("## Quick start")
    commands = [line.split("#", 1)[0].strip() for line in lines]
    assert commands == ["make run", "make test"]


def test_sample_pdf_is_ours_and_reproducible(tmp_path):
    made = tmp_path / "mau.pdf"
    subprocess.run([sys.executable, str(ROOT / "examples" / "make_sample_pdf.py"), str(made)], check=True,
                   capture_output=True, timeout=60)
    assert made.read_bytes() == SAMPLE.read_bytes(), "examples/tai-lieu-mau.pdf is not what make_sample_pdf.py makes"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def checkout(private_dev_settings, tmp_path) -> Path:
    root = tmp_path / "kyso-gateway"
    ignore = shutil.ignore_patterns("__pycache__")
    for d in ("gateway", "policies", "examples"):
        shutil.copytree(ROOT / d, root / d, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(private_dev_settings.var_dir, root / "var", symlinks=True)
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)  # "the project's venv"
    return root


@pytest.mark.slow
@pytest.mark.hsm
def test_try_it_block_runs_as_written(checkout):
    for tool in ("swaks", "curl", "pdfsig"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make test installs it)")
    smtp, sink, http = _free_port(), _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "KYSO_CONFIG"}
    env.update(PYTHONPATH=str(checkout), KYSO_URL=f"http://127.0.0.1:{http}", GATEWAY_SMTP__PORT=str(smtp),
               GATEWAY_SMTP__UPSTREAM_PORT=str(sink), GATEWAY_HTTP__PORT=str(http), GATEWAY_SIGNING__WORKERS="1",
               GATEWAY_FOLDERS__QUIET_SECONDS="0.5", GATEWAY_FOLDERS__RESCAN_SECONDS="1")
    commands = [line.replace("127.0.0.1:10025", f"127.0.0.1:{smtp}").replace("127.0.0.1:8080", f"127.0.0.1:{http}")
                for line in block_after("Try it")]
    log = open(checkout / "run.log", "w+")
    run = subprocess.Popen([str(checkout / ".venv" / "bin" / "gateway"), "run"], cwd=checkout, env=env,
                           stdout=log, stderr=subprocess.STDOUT)
    results: list[tuple[str, subprocess.CompletedProcess]] = []
    try:
        deadline = time.monotonic() + 90
        while True:
            assert run.poll() is None, (checkout / "run.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{http}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "gateway run did not come up"
            time.sleep(0.3)
        for command in commands:
            # A dropped file is signed a moment later: each command may be retried for a while, never changed.
            deadline = time.monotonic() + 60
            while True:
                p = subprocess.run(["bash", "-c", command], cwd=checkout, env=env, capture_output=True, text=True,
                                   timeout=120)
                if p.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(1)
            results.append((command, p))
            assert p.returncode == 0, f"{command}\nexit {p.returncode}\n{p.stdout}\n{p.stderr}"
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(60)
    out = {c.split()[0] + " " + (c.split()[1] if len(c.split()) > 1 else ""): p.stdout for c, p in results}
    pdfsig = next(p.stdout for c, p in results if c.startswith("pdfsig"))
    assert "Signature is Valid" in pdfsig and "Certificate is Trusted" in pdfsig
    verifies = [p.stdout for c, p in results if " verify " in f" {c} "]
    assert len(verifies) == 3 and all("tất cả chữ ký số hợp lệ / all signatures valid" in v for v in verifies)
    assert "== tai-lieu-mau.pdf — " in verifies[2]  # the mail: its attachment, named by --attach-name, signed
    assert (checkout / "published.pdf").read_bytes().startswith(b"%PDF") and (checkout / "signed.pdf").exists()
    assert "tai-lieu-mau.pdf" in out[".venv/bin/gateway log"]
