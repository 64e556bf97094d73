"""Least privilege at the portal hook (issue 15 §5), through a real uvicorn server, Engine and token.

The attacks: any portal client could read every decision record — other clients' and the SMTP door's
(blocked secret mails' senders and file names) — by walking GET /v1/decisions/1, 2, 3...; and /healthz
showed the organisation certificate to anyone. Now a client sees only the decisions it caused, an operator
token sees all, and /healthz without a token says up or down, nothing else.
"""

from __future__ import annotations

import secrets

import httpx
import pytest

from gateway.engine import Engine
from gateway.model import Channel, Declared, Document, Origin
from gateway.publish.auth import hash_token
from publish_support import RunningDoor, http_settings
from util import make_pdf

pytestmark = pytest.mark.hsm

TOKENS = {name: secrets.token_urlsafe(24) for name in ("cms-a", "cms-b", "soc")}


@pytest.fixture(scope="module")
def portal(dev_settings, tmp_path_factory):
    clients = [{"name": "cms-a", "token_sha256": hash_token(TOKENS["cms-a"])},
               {"name": "cms-b", "token_sha256": hash_token(TOKENS["cms-b"])},
               {"name": "soc", "token_sha256": hash_token(TOKENS["soc"]), "role": "operator"}]
    tmp = tmp_path_factory.mktemp("access")
    settings = http_settings(dev_settings, tmp, clients=clients)
    settings.audit.path = tmp / "log" / "audit.sqlite3"  # this module's own log: ids start at 1
    with Engine(settings, workers=1) as engine:
        door = RunningDoor(settings, engine)
        door.engine = engine
        try:
            yield door
        finally:
            door.stop()


def _as(portal, who: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {TOKENS[who]}"} if who else {}
    return httpx.Client(base_url=portal.url, headers=headers, timeout=60)


def test_a_client_sees_only_its_own_decisions(portal, tmp_path):
    pdf = make_pdf(tmp_path / "a.pdf").read_bytes()
    secret = make_pdf(tmp_path / "s.pdf", lines=["MẬT", "Kế hoạch"]).read_bytes()
    with _as(portal, "cms-a") as a, _as(portal, "cms-b") as b, _as(portal, "soc") as soc:
        mine = a.post("/v1/documents:sign", content=pdf, headers={"Content-Type": "application/pdf"})
        assert mine.status_code == 200
        a_id = int(mine.headers["x-kyso-decision-id"])
        theirs = b.post("/v1/documents:sign", content=secret, headers={"Content-Type": "application/pdf",
                                                                          "X-Kyso-Filename": "ke-hoach-mat.pdf"})
        assert theirs.status_code == 422
        b_id = int(theirs.headers["x-kyso-decision-id"])
        # The SMTP door's record of a blocked secret mail (sender, file name): the attack's prize.
        smtp = portal.engine.process(Document(channel=Channel.SMTP, name="ke-hoach-mat-2026.pdf", content=secret,
                                              origin=Origin(sender="truong-phong@so.gov.vn",
                                                            recipients=("ngoai@example.com",)),
                                              declared=Declared()))
        event = portal.engine.record_event("smtp", "smtp.blocked", sender="truong-phong@so.gov.vn")
        last = max(a_id, b_id, smtp.record_id, event)

        walked = {who: {i for i in range(1, last + 1) if c.get(f"/v1/decisions/{i}").status_code == 200}
                  for who, c in (("cms-a", a), ("cms-b", b), ("soc", soc))}
        leaked = [c.get(f"/v1/decisions/{i}").text for c in (a, b) for i in range(1, last + 1)
                  if c.get(f"/v1/decisions/{i}").status_code == 200]
        refused = a.get(f"/v1/decisions/{b_id}")
    print(f"\nwalking /v1/decisions/1..{last}: cms-a sees {sorted(walked['cms-a'])}, cms-b {sorted(walked['cms-b'])}, "
          f"operator {len(walked['soc'])}")
    assert walked["cms-a"] == {a_id} and walked["cms-b"] == {b_id}
    assert walked["soc"] == set(range(1, last + 1))
    assert not any("truong-phong" in t or "ke-hoach-mat-2026" in t for t in leaked)
    # Someone else's record looks exactly like one that does not exist.
    with _as(portal, "cms-a") as a:
        missing = a.get("/v1/decisions/999999")
        odd = [a.get(f"/v1/decisions/{i}") for i in ("%C2%B9", "%D9%A3", "1x")]  # "¹", "٣": digits to isdigit
    assert refused.status_code == missing.status_code == 404
    assert [r.status_code for r in odd] == [404, 404, 404], [r.text for r in odd]
    assert refused.json()["code"] == missing.json()["code"] == "NOT_FOUND"


def test_healthz_says_only_up_or_down_without_a_token(portal):
    with _as(portal, None) as anon, _as(portal, "cms-a") as a, _as(portal, "soc") as soc:
        public = anon.get("/healthz")
        client = a.get("/healthz")
        detail = soc.get("/healthz")
        bad = anon.get("/healthz", headers={"Authorization": "Bearer not-a-token"})
    print(f"\n/healthz anonymous: {public.text}; client: {client.text}; operator: {len(detail.text)} bytes")
    assert public.status_code == 200 and public.json() == {"status": "up"}
    assert client.json() == {"status": "up"}
    for text in (public.text, client.text):
        assert "certificate" not in text and "serial" not in text and "KYSO" not in text
    assert detail.status_code == 200 and detail.json()["checks"]["hsm"]["certificate"]["subject"]
    assert bad.status_code == 401


def test_healthz_down_says_down_and_nothing_else(portal, monkeypatch):
    def broken(*a, **k):
        return {"ok": False, "hsm_ok": False, "hsm": {"ok": False, "code": "TOKEN_UNAVAILABLE", "token": "KYSO-DEV"}}

    monkeypatch.setattr(portal.engine, "health", broken)  # the health answer's shape, not the thing under test
    portal.door.app.state.hook._health = None  # an "up" from the test before is reused for 2 s
    with _as(portal, None) as anon:
        r = anon.get("/healthz")
    assert r.status_code == 503 and r.json() == {"status": "down"} and "retry-after" in r.headers


def test_healthz_says_down_at_once_when_the_log_goes(portal):
    """The token's "up" may be reused for a moment; the decision log's never is: right after the log is moved
    away, /healthz is down (it said "up" for 2 s), and up again once it is back."""
    import os

    log = portal.engine.audit.path
    aside = log.with_name("aside.sqlite3")
    with _as(portal, None) as anon:
        assert anon.get("/healthz").status_code == 200  # an "up" in the cache
        os.rename(log, aside)
        try:
            gone = anon.get("/healthz")
        finally:
            os.rename(aside, log)
        back = anon.get("/healthz")
    assert gone.status_code == 503 and gone.json() == {"status": "down"}
    assert back.status_code == 200
