"""The documented exit codes hold for every command, as real processes (issue 16 §5):

0 success · 2 usage, configuration, cannot start · 3 refused / invalid · 4 temporary, try again.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from util import make_pdf

pytestmark = pytest.mark.hsm
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def world(dev_settings, tmp_path_factory):
    d = tmp_path_factory.mktemp("exit-codes")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "KYSO_CONFIG"}
    env.update(GATEWAY_VAR_DIR=str(dev_settings.var_dir), GATEWAY_AUDIT__PATH=str(d / "audit.sqlite3"),
               GATEWAY_SIGNING__WORKERS="1")
    make_pdf(d / "ok.pdf")
    (d / "bad.toml").write_text("[smtp]\nport = 'many'\n", encoding="utf-8")
    return d, env


def gateway(world, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    d, base = world
    return subprocess.run([sys.executable, "-m", "gateway", *args], cwd=d, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=180)


CASES = [
    # (why, arguments, expected exit code)
    ("no command", [], 2),
    ("unknown command", ["frobnicate"], 2),
    ("missing argument", ["sign"], 2),
    ("input file missing", ["sign", "nothing.pdf", "-o", "out.pdf"], 2),
    ("config file missing", ["--config", "missing.toml", "verify", "ok.pdf"], 2),
    ("bad config value", ["--config", "bad.toml", "verify", "ok.pdf"], 2),
    ("bad --period", ["report", "--period", "2026-H3", "--format", "json", "-o", "r.json"], 2),
    ("bad --since", ["log", "show", "--since", "yesterday"], 2),
    ("bad serial", ["certs", "revoke", "xyz!", "--reason", "expired"], 2),
    ("unknown serial", ["certs", "revoke", "0abc", "--reason", "expired"], 2),
    ("nothing to import", ["certs", "import"], 2),
    ("verify a file that is not there", ["verify", "nothing.pdf"], 2),
    ("signed", ["sign", "ok.pdf", "-o", "signed.pdf"], 0),
    ("verify our own signature", ["verify", "signed.pdf"], 0),
    ("check", ["check", "ok.pdf"], 0),
    ("log intact", ["log", "verify"], 0),
    ("log show", ["log", "show"], 0),
    ("verify an unsigned file", ["verify", "ok.pdf"], 3),
    ("issued document without the competent person", ["sign", "ok.pdf", "-o", "issued.pdf", "--kind", "issued"], 3),
    ("check refused", ["check", "ok.pdf", "--kind", "issued"], 3),
]


@pytest.mark.parametrize("why, args, code", CASES, ids=[c[0] for c in CASES])
def test_exit_code(world, why, args, code):
    p = gateway(world, *args)
    assert p.returncode == code, f"{why}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "Traceback" not in p.stderr
    if code == 2 and args:
        assert p.stderr.strip(), "a usage error says what is wrong"


def test_tampered_log_is_invalid_3(world):
    d, _ = world
    assert gateway(world, "check", "ok.pdf").returncode == 0
    c = sqlite3.connect(d / "audit.sqlite3", isolation_level=None)
    for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        c.execute(f"DROP TRIGGER {name}")  # an attacker with the file can do this; the chain still tells
    c.execute("UPDATE audit_log SET data = replace(data, 'ok.pdf', 'xx.pdf')")
    c.close()
    p = gateway(world, "log", "verify")
    assert p.returncode == 3, p.stdout + p.stderr
    assert "LOG TAMPERED" in p.stdout or "TAMPERED" in p.stdout.upper()


def test_hsm_unavailable_is_temporary_4(world):
    p = gateway(world, "sign", "ok.pdf", "-o", "later.pdf", env={"GATEWAY_TOKEN__TOKEN_LABEL": "KHONG-CO"})
    assert p.returncode == 4, p.stdout + p.stderr
    assert "TOKEN_UNAVAILABLE" in p.stdout and not (world[0] / "later.pdf").exists()


def test_start_problem_is_2(world):
    p = gateway(world, "run", env={"GATEWAY_TOKEN__TOKEN_LABEL": "KHONG-CO", "GATEWAY_HTTP__PORT": "0",
                                   "GATEWAY_SMTP__PORT": "0", "GATEWAY_SMTP__SINK_ENABLED": "false"})
    assert p.returncode == 2 and "STARTUP_TOKEN_NOT_FOUND" in p.stderr
