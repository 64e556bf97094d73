"""Messages a clerk can act on (issue 16 §5): a temporary decision never says "signed"; times in +07:00."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gateway.errors import TemporaryError
from gateway.model import Channel, Document
from gateway.pipeline import Pipeline
from gateway.settings import load_settings
from util import make_pdf

pytestmark = pytest.mark.hsm


def test_temporary_decision_lists_no_signed_reason(dev_settings, tmp_path):
    log = tmp_path / "audit.sqlite3"
    s = load_settings(var_dir=dev_settings.var_dir, audit={"path": str(log)},
                      token={"token_label": "KHONG-CO", "discovery_attempts": 1})
    src = make_pdf(tmp_path / "cong-van.pdf")
    with Pipeline(s) as p:
        with pytest.raises(TemporaryError):
            p.process(Document(channel=Channel.CLI, name=src.name, path=src))
        rec = p.audit.query(kind="decision")[-1]
    assert rec.outcome == "temporary"
    assert rec.data["reasons"] == []  # nothing was signed: no "signed with the organisation's certificate"
    assert rec.data["error"]["code"] == "TOKEN_UNAVAILABLE"
    assert rec.data["intended"]["outcome"] == "sign"  # what the policy meant to do, kept apart
    assert rec.data["intended"]["reasons"][0]["code"] == "SIGN_ORGANISATION"

    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "KYSO_CONFIG"}
    env.update(GATEWAY_VAR_DIR=str(dev_settings.var_dir), GATEWAY_AUDIT__PATH=str(log))
    shown = subprocess.run([sys.executable, "-m", "gateway", "log", "show"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    line = next(x for x in shown.stdout.splitlines() if "cong-van.pdf" in x)
    assert " temporary " in line and "+07:00" in line
    assert "SIGN_ORGANISATION" not in shown.stdout and "Signed with" not in shown.stdout
    assert "TOKEN_UNAVAILABLE" in shown.stdout
