"""`gateway run` as a real process with all three doors on the dev default, and the banner on its own."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway.runtime import banner
from util import make_pdf, pdfsig

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = Path(sys.executable).parent / "gateway"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gateway run exited early with {proc.returncode}")
        try:
            r = httpx.get(url, timeout=5)
            if r.status_code == 200:
                return r
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("gateway run did not answer /healthz in time")


def test_banner_names_everything_but_the_token(dev_settings):
    token = dev_settings.paths.http_dev_token.read_text().strip()
    lines = banner(dev_settings, ["SMTP: 127.0.0.1:1 -> 127.0.0.1:2", "HTTP: http://127.0.0.1:3/v1/documents:sign"])
    text = "\n".join(lines)
    assert "KYSO-DEV" in text and "kyso-default" in text and str(dev_settings.audit.path) in text
    assert str(dev_settings.paths.http_dev_token) in text and token not in text
    assert text.startswith("Cổng ký số Kyso") and "SMTP: 127.0.0.1:1" in text


@pytest.mark.slow
@pytest.mark.hsm
def test_gateway_run_all_doors_then_sigterm(private_dev_settings, tmp_path):
    s = private_dev_settings
    ports = {"GATEWAY_HTTP__PORT": _free_port(), "GATEWAY_SMTP__PORT": _free_port(), "GATEWAY_SMTP__UPSTREAM_PORT": _free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "KYSO_CONFIG"}
    env.update({k: str(v) for k, v in ports.items()}, GATEWAY_VAR_DIR=str(s.var_dir), GATEWAY_LOG_FORMAT="json")
    out, err = open(tmp_path / "stdout", "w+"), open(tmp_path / "stderr", "w+")
    proc = subprocess.Popen([str(GATEWAY), "run"], cwd=ROOT, env=env, stdout=out, stderr=err)
    try:
        base = f"http://127.0.0.1:{ports['GATEWAY_HTTP__PORT']}"
        health = _wait_http(base + "/healthz", proc)
        assert health.json() == {"status": "up"}  # anonymous: up or down, nothing more (issue 15)
        with smtplib.SMTP("127.0.0.1", ports["GATEWAY_SMTP__PORT"], timeout=10) as smtp:
            code, _ = smtp.ehlo("test.example")
            assert code == 250
        token = s.paths.http_dev_token.read_text().strip()
        auth = f"Bearer {token}"
        assert (s.var_dir / "folders" / "inbox").is_dir()  # the folder door made its watch

        # A document in flight when SIGTERM arrives is finished and answered before the process exits.
        pdf = make_pdf(tmp_path / "inflight.pdf").read_bytes()
        half = len(pdf) // 2
        with socket.create_connection(("127.0.0.1", ports["GATEWAY_HTTP__PORT"]), timeout=60) as conn:
            conn.sendall(
                (f"POST /v1/documents:sign HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
                 f"Content-Type: application/pdf\r\nContent-Length: {len(pdf)}\r\n\r\n").encode() + pdf[:half]
            )
            time.sleep(0.3)  # the server is now reading the body
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            conn.sendall(pdf[half:])
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        assert b"x-kyso-outcome: sign" in head.lower()
        (tmp_path / "inflight-signed.pdf").write_bytes(body)
        sigs = pdfsig(tmp_path / "inflight-signed.pdf", s.paths.nssdb)
        assert sigs and sigs[0]["valid"] and sigs[0]["trusted"]

        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err.seek(0)
    lines = [line for line in err.read().splitlines() if line.strip()]
    # The gateway's own process logs JSON only. Signing worker processes (spawn) do not inherit the logging
    # set-up, so a library warning from there (fontTools' "FFTM NOT subset") may still come out as plain text.
    logs = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(logs) >= len(lines) - 5, [line for line in lines if not line.startswith("{")]
    text = json.dumps(logs, ensure_ascii=False)
    banner_lines = [rec["message"] for rec in logs if rec.get("banner")]
    assert any("HTTP" in m and str(ports["GATEWAY_HTTP__PORT"]) in m for m in banner_lines), banner_lines
    assert any(m.startswith("SMTP") and str(ports["GATEWAY_SMTP__PORT"]) in m for m in banner_lines), banner_lines
    assert any("KYSO-DEV" in m for m in banner_lines)
    assert token not in text and s.token.read_pin() not in text
    assert "stopped" in text
    # aiosmtpd's per-command INFO lines and "connection lost" are not news at INFO (issue 16)
    smtp_noise = [rec for rec in logs if rec["logger"] == "mail.log" and rec["level"] == "INFO"]
    assert not smtp_noise and "connection lost" not in text.lower(), smtp_noise[:3]
    assert all(rec["time"].endswith("+07:00") for rec in logs)  # every time a person reads: Vietnam time


def test_serve_on_a_thread_takes_no_signals_and_stops_when_told(private_dev_settings, gateway_process, tmp_path):
    """`serve` embedded on a thread (the corpus test shares its readings this way): it comes up (taking signal
    handlers off the main thread raises), every door answers, its event stops it with exit 0, ports closed."""
    before = signal.getsignal(signal.SIGTERM)
    g = gateway_process(private_dev_settings, in_process=True)
    assert g._thread.is_alive() and signal.getsignal(signal.SIGTERM) is before  # the host's, untouched
    assert g.http_outcome(make_pdf(tmp_path / "a.pdf").read_bytes()) == "sign"
    assert g.smtp_outcome(b"From: a@dev.test\r\nTo: b@dev.test\r\nSubject: x\r\n\r\nKinh gui\r\n") == "relayed"
    assert g.stop(60) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", g.ports["smtp"]), timeout=2).close()
