"""The portal hook when the signing token goes away (a private dev token whose directory is moved) and comes back."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

from gateway.engine import Engine
from publish_support import RunningDoor, http_settings
from util import make_pdf, pdfsig

pytestmark = pytest.mark.hsm


def test_token_gone_is_503_with_retry_after_then_recovers(private_dev_settings, tmp_path):
    settings = http_settings(private_dev_settings, tmp_path)
    pdf = make_pdf(tmp_path / "a.pdf").read_bytes()
    tokens = settings.paths.softhsm / "tokens"
    away = settings.paths.softhsm / "tokens.away"
    with Engine(settings) as engine:
        door = RunningDoor(settings, engine)
        try:
            with httpx.Client(base_url=door.url, headers=door.headers, timeout=60) as c:
                assert c.post("/v1/documents:sign", content=pdf).status_code == 200  # sessions are open
                shutil.move(tokens, away)
                tokens.mkdir()  # SoftHSM starts, our token is not there
                try:
                    for _ in range(3):  # every worker, not just one, answers "try again"
                        r = c.post("/v1/documents:sign", content=pdf)
                        assert r.status_code == 503, r.text[:300]
                        assert int(r.headers["retry-after"]) > 0
                        assert r.headers["content-type"] == "application/problem+json"
                        assert r.json()["code"] == "TOKEN_UNAVAILABLE"
                        assert "thử lại" in r.json()["title"]
                    h = c.get("/healthz")
                    assert h.status_code == 503 and "retry-after" in h.headers
                    assert 'kyso_hsm_errors_total{code="TOKEN_UNAVAILABLE"}' in c.get("/metrics").text
                finally:
                    shutil.rmtree(tokens)
                    shutil.move(away, tokens)
                deadline = time.monotonic() + 30
                while True:  # recovery without a restart
                    r = c.post("/v1/documents:sign", content=pdf)
                    if r.status_code == 200 or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                assert r.status_code == 200, r.text[:300]
                out = tmp_path / "signed.pdf"
                out.write_bytes(r.content)
                sigs = pdfsig(out, settings.paths.nssdb)
                assert sigs and sigs[0]["valid"] and sigs[0]["trusted"]
                assert c.get("/healthz").status_code == 200
            assert not list(settings.http.spool_dir.glob("up-*"))
        finally:
            door.stop()
