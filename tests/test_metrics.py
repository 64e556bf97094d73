"""/metrics carries what operators alert on (issue 16 §7): HSM up, the organisation certificate's seconds to
expiry, folder backlog, refusals by reason, decisions by door. End to end on `gateway run`, and the figures
on their own."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.folderwatch.layout import resolve_watches
from gateway.folderwatch.scanner import backlog
from gateway.metrics import Metrics
from gateway.model import Decision, Outcome, Reason, Result
from gateway.settings import load_settings
from util import make_pdf

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = Path(sys.executable).parent / "gateway"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_health_figures_and_expiry_seconds():
    m = Metrics()
    before = samples(m.render()[0].decode())
    assert math.isnan(before[("kyso_org_certificate_expiry_seconds", ())])  # unknown until the token is read
    not_after = datetime.now(timezone.utc) + timedelta(days=30)
    m.observe_health({"hsm_ok": True, "log_ok": True,
                      "hsm": {"ok": True, "certificate": {"not_after": not_after.isoformat()}}})
    s = samples(m.render()[0].decode())
    assert s[("kyso_hsm_up", ())] == 1 and s[("kyso_decision_log_up", ())] == 1
    assert s[("kyso_org_certificate_usable", ())] == 1
    assert abs(s[("kyso_org_certificate_expiry_seconds", ())] - 30 * 86400) < 60
    # the token answers, but the certificate on it is refused: HSM up, certificate not usable
    m.observe_health({"hsm_ok": False, "log_ok": True, "hsm": {"ok": False, "code": "ORG_CERT_REVOKED"}})
    s = samples(m.render()[0].decode())
    assert s[("kyso_hsm_up", ())] == 1 and s[("kyso_org_certificate_usable", ())] == 0
    m.observe_health({"hsm_ok": False, "log_ok": False, "hsm": {"ok": False, "code": "TOKEN_UNAVAILABLE"}})
    s = samples(m.render()[0].decode())
    assert s[("kyso_hsm_up", ())] == 0 and s[("kyso_decision_log_up", ())] == 0
    assert s[("kyso_org_certificate_expiry_seconds", ())] > 0  # the last known expiry is kept


def _result(outcome: Outcome, *reasons: Reason) -> Result:
    return Result("doc-1", Decision(outcome, reasons, (), "kyso-default", "test"))


def test_refusals_by_reason_and_decisions_by_door():
    m = Metrics()
    m.observe(_result(Outcome.REJECT, Reason.of("UNSUPPORTED_TYPE", media_type="text/plain"),
                      Reason.of("ISSUED_NEEDS_PERSONAL_SIGNATURE")), "folder", 0.1)
    m.observe(_result(Outcome.BLOCK, Reason.of("SECRET_MARKED", level="MẬT", where="x")), "smtp", 0.1)
    from gateway.errors import InputRejected

    m.observe_error(InputRejected("broken", code="PDF_BROKEN", detail="x"), "portal")
    s = samples(m.render()[0].decode())
    assert s[("kyso_refusals_total", (("channel", "folder"), ("reason", "UNSUPPORTED_TYPE")))] == 1
    assert s[("kyso_refusals_total", (("channel", "folder"), ("reason", "ISSUED_NEEDS_PERSONAL_SIGNATURE")))] == 1
    assert s[("kyso_refusals_total", (("channel", "smtp"), ("reason", "SECRET_MARKED")))] == 1
    assert s[("kyso_refusals_total", (("channel", "portal"), ("reason", "PDF_BROKEN")))] == 1
    assert s[("kyso_decisions_total", (("channel", "folder"), ("outcome", "reject")))] == 1


def test_folder_backlog_counts_inbox_claims_and_held(tmp_path):
    root = tmp_path / "f"
    s = load_settings(var_dir=tmp_path / "var", folders={"watches": [
        {"name": "vb", "inbox": root / "in", "signed": root / "out", "rejected": root / "rej"}],
        "work_dir": root / ".work"})
    (w,) = resolve_watches(s)
    m = Metrics()
    m.watch_folders(lambda: [(w.name, *backlog(w))])
    for name in ("a.pdf", "b.pdf", ".c.pdf.part", "a.pdf.meta.json"):
        (w.inbox / name).write_bytes(b"%PDF-1.7")
    (w.inbox / "d.pdf.dang-cho.txt").write_text("đang chờ")
    (w.work / "20261203T000000-abc").mkdir()
    (w.work / "20261203T000001-def.done").mkdir()
    got = samples(m.render()[0].decode())
    assert got[("kyso_folder_backlog", (("watch", "vb"),))] == 3  # a.pdf, b.pdf, one claim in progress
    assert got[("kyso_folder_held", (("watch", "vb"),))] == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.hsm
def test_metrics_of_a_running_gateway(private_dev_settings, tmp_path):
    s = private_dev_settings
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "KYSO_CONFIG"}
    env.update(GATEWAY_VAR_DIR=str(s.var_dir), GATEWAY_HTTP__PORT=str(port), GATEWAY_SIGNING__WORKERS="1",
               GATEWAY_FOLDERS__QUIET_SECONDS="0.3", GATEWAY_FOLDERS__RESCAN_SECONDS="1")
    err = open(tmp_path / "stderr", "w+")
    proc = subprocess.Popen([str(GATEWAY), "run", "--only", "folder,http"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=err)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {s.paths.http_dev_token.read_text().strip()}"}
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "stderr").read_text()
            try:
                if httpx.get(base + "/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "gateway run did not come up"
            time.sleep(0.2)
        r = httpx.post(base + "/v1/documents:sign", content=make_pdf(tmp_path / "a.pdf").read_bytes(), timeout=60,
                       headers={**auth, "Content-Type": "application/pdf"})
        assert r.status_code == 200
        r = httpx.post(base + "/v1/documents:sign", content=b"ghi chu, khong phai PDF\n", timeout=60,
                       headers={**auth, "Content-Type": "application/pdf"})
        assert r.status_code == 422
        refused = r.json()["reasons"][0]["code"]
        text = httpx.get(base + "/metrics", headers=auth, timeout=30).text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    got = samples(text)
    assert got[("kyso_hsm_up", ())] == 1
    left = got[("kyso_org_certificate_expiry_seconds", ())]
    assert 300 * 86400 < left < 3 * 366 * 86400  # the dev certificate: valid about two years
    assert got[("kyso_org_certificate_usable", ())] == 1 and got[("kyso_decision_log_up", ())] == 1
    assert got[("kyso_folder_backlog", (("watch", "default"),))] == 0
    assert got[("kyso_decisions_total", (("channel", "portal"), ("outcome", "sign")))] == 1
    assert got[("kyso_refusals_total", (("channel", "portal"), ("reason", refused)))] == 1
