"""The portal hook through a real uvicorn server on loopback, the real Engine and the dev SoftHSM token."""

from __future__ import annotations

import asyncio
import hashlib
import json
import statistics
import time

import httpx
import pytest

from gateway.engine import Engine
from gateway.publish.uploads import SPOOL_PREFIX
from publish_support import MiB, RunningDoor, http_settings, raw_request
from util import make_pdf, pdfsig, sign_as_person

pytestmark = pytest.mark.hsm
LIMIT = 2 * MiB


@pytest.fixture(scope="module")
def portal(dev_settings, tmp_path_factory):
    settings = http_settings(dev_settings, tmp_path_factory.mktemp("portal"), max_upload_bytes=LIMIT, request_seconds=20)
    with Engine(settings) as engine:
        door = RunningDoor(settings, engine)
        door.settings = settings
        door.engine = engine
        try:
            yield door
        finally:
            door.stop()


@pytest.fixture(scope="module")
def client(portal):
    with httpx.Client(base_url=portal.url, headers=portal.headers, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def plain_pdf(tmp_path_factory):
    return make_pdf(tmp_path_factory.mktemp("pdf") / "cong-van.pdf", title="Công văn thử nghiệm")


def _spool_empty(portal, timeout=10.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        left = [p.name for p in portal.settings.http.spool_dir.glob(SPOOL_PREFIX + "*")]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def test_sign_raw_pdf_then_record_then_pass(portal, client, plain_pdf, dev_nssdb, tmp_path):
    r = client.post(
        "/v1/documents:sign",
        content=plain_pdf.read_bytes(),
        headers={"Content-Type": "application/pdf", "X-Kyso-Title": "C%C3%B4ng v%C4%83n", "X-Kyso-Client-Reference": "cms-42"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-kyso-outcome"] == "sign"
    assert r.headers["content-type"] == "application/pdf"
    signed = tmp_path / "signed.pdf"
    signed.write_bytes(r.content)
    assert hashlib.sha256(r.content).hexdigest() == r.headers["x-kyso-sha256"]
    sigs = pdfsig(signed, dev_nssdb)
    assert len(sigs) == 1 and sigs[0]["valid"] and sigs[0]["trusted"], sigs

    rec = client.get(f"/v1/decisions/{r.headers['x-kyso-decision-id']}")
    assert rec.status_code == 200, rec.text
    body = rec.json()
    assert body["channel"] == "portal" and body["outcome"] == "sign"
    text = json.dumps(body, ensure_ascii=False)
    assert body["data"]["origin"]["client"] == "dev-portal"  # the client's name is in the log, content is not
    assert "%PDF" not in text

    again = client.post("/v1/documents:sign", content=r.content, headers={"Content-Type": "application/pdf"})
    assert again.status_code == 200, again.text
    assert again.headers["x-kyso-outcome"] == "pass"
    assert again.content == r.content  # PASS returns the document unchanged
    assert _spool_empty(portal) == []


def test_sign_multipart_issued_after_person(portal, client, plain_pdf, dev_settings, dev_nssdb, tmp_path):
    person = sign_as_person(plain_pdf, tmp_path / "person.pdf", dev_settings)
    r = client.post(
        "/v1/documents:sign",
        files={"file": ("Quyết định 12.pdf", person.read_bytes(), "application/pdf")},
        data={"kind": "issued", "number": "12/QĐ-UBND", "title": "Quyết định thử nghiệm"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["x-kyso-outcome"] == "sign"
    assert "filename*=utf-8''Quy" in r.headers["content-disposition"]
    out = tmp_path / "signed.pdf"
    out.write_bytes(r.content)
    sigs = pdfsig(out, dev_nssdb)
    assert len(sigs) == 2 and all(s["valid"] and s["trusted"] for s in sigs), sigs


def test_reject_issued_without_person_signature(portal, client, plain_pdf):
    r = client.post(
        "/v1/documents:sign", content=plain_pdf.read_bytes(), headers={"Content-Type": "application/pdf", "X-Kyso-Kind": "issued"}
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    p = r.json()
    assert p["outcome"] == "reject" and p["type"] == "urn:kyso:problem:issued-needs-personal-signature"
    codes = [x["code"] for x in p["reasons"]]
    assert "ISSUED_NEEDS_PERSONAL_SIGNATURE" in codes
    reason = p["reasons"][codes.index("ISSUED_NEEDS_PERSONAL_SIGNATURE")]
    assert "người có thẩm quyền" in reason["vi"] and "competent person" in reason["en"]
    assert "Điều 32.2.d" in reason["basis"]
    assert r.headers["x-kyso-decision-id"] == p["decision_id"]
    assert _spool_empty(portal) == []


@pytest.mark.parametrize("how", ["text", "declared"])
def test_block_secret_marked(portal, client, tmp_path, how):
    if how == "text":
        pdf = make_pdf(tmp_path / "mat.pdf", lines=["MẬT", "ỦY BAN NHÂN DÂN TỈNH THỬ NGHIỆM", "Số: 7/UBND-VP", "Kế hoạch"])
        headers = {"Content-Type": "application/pdf"}
    else:
        pdf = make_pdf(tmp_path / "plain.pdf")
        headers = {"Content-Type": "application/pdf", "X-Kyso-Classification": "T%E1%BB%90I M%E1%BA%ACT"}  # TỐI MẬT
    r = client.post("/v1/documents:sign", content=pdf.read_bytes(), headers=headers)
    assert r.status_code == 422, r.text
    p = r.json()
    assert p["outcome"] == "block"
    assert "SECRET_MARKED" in [x["code"] for x in p["reasons"]]
    assert "Bảo vệ bí mật nhà nước" in p["reasons"][0]["basis"]
    assert _spool_empty(portal) == []  # content not kept


def test_check_is_a_dry_run(portal, client, plain_pdf):
    r = client.post("/v1/documents:check", files={"file": ("a.pdf", plain_pdf.read_bytes(), "application/pdf")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "sign" and body["would_release"] and body["dry_run"]
    assert body["policy"]["id"]
    r = client.post("/v1/documents:check", content=plain_pdf.read_bytes(), headers={"X-Kyso-Kind": "issued"})
    assert r.status_code == 200 and r.json()["outcome"] == "reject"


def test_malformed_requests_are_400_or_404(portal, client, plain_pdf):
    r = client.post("/v1/documents:sign", content=b"--x\r\nbroken", headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    r = client.post("/v1/documents:sign", files={"other": ("a.pdf", b"%PDF-1.4")})
    assert r.status_code == 400
    r = client.post("/v1/documents:sign", content=plain_pdf.read_bytes(), headers={"X-Kyso-Kind": "bogus"})
    assert r.status_code == 400 and r.json()["code"] == "BAD_METADATA"
    r = client.get("/v1/decisions/999999999")
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    assert client.get("/v1/decisions/not-a-number").status_code == 404
    assert client.get("/nowhere").status_code == 404
    r = client.get("/v1/documents:sign")
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"
    assert _spool_empty(portal) == []


def test_authentication(portal, plain_pdf):
    with httpx.Client(base_url=portal.url, timeout=30) as anon:
        r = anon.post("/v1/documents:sign", content=plain_pdf.read_bytes())
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer realm="kyso-gateway"'
        assert r.json()["code"] == "AUTH_REQUIRED"
        r = anon.post("/v1/documents:sign", content=plain_pdf.read_bytes(), headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
        for path in ("/metrics", "/openapi.json", "/v1/decisions/1"):
            assert anon.get(path).status_code == 401, path
        r = anon.get("/healthz")  # the one open endpoint: up or down, nothing more (issue 15)
        assert r.status_code == 200 and r.json() == {"status": "up"}
    assert _spool_empty(portal) == []


def test_auth_timing_over_http_is_reported(portal, capsys):
    """Mean time of a wrong vs an almost-right token through the server. Reported, not asserted."""
    token = portal.headers["Authorization"].split()[1]
    almost = token[:-1] + ("A" if token[-1] != "A" else "B")
    wrong = "x" * len(token)

    samples: dict[str, list[float]] = {wrong: [], almost: []}
    with httpx.Client(base_url=portal.url, timeout=10) as c:
        for i in range(320):  # interleaved; the first 20 rounds warm up
            for presented, bucket in samples.items():
                t0 = time.perf_counter()
                assert c.get("/metrics", headers={"Authorization": f"Bearer {presented}"}).status_code == 401
                if i >= 20:
                    bucket.append(time.perf_counter() - t0)
    w, a = (statistics.mean(sorted(v)[:270]) * 1000 for v in samples.values())  # drop the slowest 10 %
    with capsys.disabled():
        print(f"\n[auth timing, over HTTP] wrong {w:.3f} ms, almost-right {a:.3f} ms, difference {abs(w - a) * 1000:.1f} µs")


def test_oversize_by_content_length_answers_before_any_body(portal):
    head = (
        "POST /v1/documents:sign HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {portal.headers['Authorization']}\r\n"
        f"Content-Type: application/pdf\r\nContent-Length: {LIMIT + 1}\r\n\r\n"
    )
    status, data, sent = raw_request(portal.port, head)
    assert status == 413 and sent == 0
    assert b"TOO_LARGE" in data


def test_oversize_chunked_stops_reading_early(portal):
    head = (
        "POST /v1/documents:sign HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {portal.headers['Authorization']}\r\n"
        "Content-Type: application/pdf\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = 64 * 1024
    chunk = f"{piece:x}\r\n".encode() + b"%" * piece + b"\r\n"
    total = 4 * LIMIT
    status, data, sent = raw_request(portal.port, head, [chunk] * (total // piece))
    assert status == 413, data[:300]
    assert sent < total  # answered while the body was still coming
    assert _spool_empty(portal) == []


def test_oversize_multipart_with_httpx(portal, client):
    r = client.post("/v1/documents:sign", files={"file": ("big.pdf", b"%PDF-1.4\n" + b"0" * (LIMIT + 10))})
    assert r.status_code == 413


def test_twenty_concurrent_uploads(portal, plain_pdf, dev_nssdb, tmp_path):
    data = plain_pdf.read_bytes()

    async def go():
        async with httpx.AsyncClient(base_url=portal.url, headers=portal.headers, timeout=120) as c:
            return await asyncio.gather(
                *(c.post("/v1/documents:sign", content=data, headers={"X-Kyso-Client-Reference": f"n{i}"}) for i in range(20))
            )

    t0 = time.perf_counter()
    responses = asyncio.run(go())
    elapsed = time.perf_counter() - t0
    assert [r.status_code for r in responses] == [200] * 20, [r.text[:200] for r in responses if r.status_code != 200]
    assert len({r.headers["x-kyso-decision-id"] for r in responses}) == 20
    for i in (0, 19):
        out = tmp_path / f"s{i}.pdf"
        out.write_bytes(responses[i].content)
        sigs = pdfsig(out, dev_nssdb)
        assert len(sigs) == 1 and sigs[0]["valid"] and sigs[0]["trusted"]
    print(f"\n[concurrency] 20 uploads signed in {elapsed:.2f} s")
    assert _spool_empty(portal) == []


def test_metrics_and_openapi(portal, client):
    m = client.get("/metrics")
    assert m.status_code == 200 and m.headers["content-type"].startswith("text/plain")
    assert 'kyso_decisions_total{channel="portal",outcome="sign"}' in m.text
    assert "kyso_signing_seconds_bucket" in m.text and "kyso_hsm_errors" in m.text
    served = client.get("/openapi.json")
    assert served.status_code == 200
    from pathlib import Path

    on_disk = json.loads((Path(__file__).resolve().parent.parent / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert served.json() == on_disk


def test_example_client_publishes_and_reports_refusals(portal, plain_pdf, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "examples" / "portal_publish.py"
    token_file = portal.settings.paths.http_dev_token
    common = [sys.executable, str(example), "--url", portal.url, "--token-file", str(token_file)]
    ok = subprocess.run([*common, str(plain_pdf), "--out", str(tmp_path / "o.pdf")], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (tmp_path / "o.pdf").read_bytes().startswith(b"%PDF")
    refused = subprocess.run([*common, str(plain_pdf), "--kind", "issued"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 3 and "ISSUED_NEEDS_PERSONAL_SIGNATURE" in refused.stdout


def test_slow_upload_is_408(portal, dev_settings, tmp_path):
    """A body that trickles in slower than http.request_seconds is cut off (second door, same Engine)."""
    settings = http_settings(dev_settings, tmp_path, request_seconds=0.5)
    slow = RunningDoor(settings, portal.engine)
    try:
        head = (
            "POST /v1/documents:sign HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {slow.headers['Authorization']}\r\nContent-Length: 1000\r\n\r\n%PDF-1.4\n"
        )
        t0 = time.monotonic()
        status, data, _ = raw_request(slow.port, head)
        assert status == 408 and b"TIME_LIMIT" in data
        assert time.monotonic() - t0 < 5
        assert not list(settings.http.spool_dir.glob(SPOOL_PREFIX + "*"))
    finally:
        slow.stop()


def _multipart(disposition: str, data: bytes) -> tuple[bytes, dict]:
    body = (b"--B\r\nContent-Disposition: form-data; name=\"file\"; " + disposition.encode("utf-8")
            + b"\r\nContent-Type: application/pdf\r\n\r\n" + data + b"\r\n--B--\r\n")
    return body, {"Content-Type": "multipart/form-data; boundary=B"}


def test_a_file_name_given_as_filename_star_is_read(portal, client, plain_pdf, caplog):
    """RFC 6266: a portal reading the upload prefers filename* (RFC 5987), which python-multipart's parser
    drops: "TỐI MẬT.pdf" given so was never read and the clean PDF signed. An ASCII fallback beside it is
    normal; two different names, or a name in RFC 2231 pieces, are refused."""
    caplog.set_level("INFO", logger="gateway.publish")
    data = plain_pdf.read_bytes()
    marked = "filename*=UTF-8''T%E1%BB%90I%20M%E1%BA%ACT.pdf"
    for disposition in (marked, 'filename="cong-van.pdf"; ' + marked):
        r = client.post("/v1/documents:check", content=_multipart(disposition, data)[0],
                        headers=_multipart(disposition, data)[1])
        body = r.json()  # a dry run answers 200 with its outcome
        assert body["outcome"] == "block" and "SECRET_MARKED" in [x["code"] for x in body["reasons"]], (disposition, r.text)
    honest = "filename=\"cong-van.pdf\"; filename*=UTF-8''C%C3%B4ng%20v%C4%83n.pdf"
    r = client.post("/v1/documents:check", content=_multipart(honest, data)[0], headers=_multipart(honest, data)[1])
    assert r.status_code == 200 and r.json()["outcome"] == "sign", r.text
    for odd in ('filename="Công văn.pdf"; ' + marked, "filename*0*=UTF-8''T%E1%BB%90I; filename*1*=%20M%E1%BA%ACT.pdf"):
        r = client.post("/v1/documents:check", content=_multipart(odd, data)[0], headers=_multipart(odd, data)[1])
        assert r.status_code == 400 and r.json()["code"] == "BAD_REQUEST", (odd, r.text)
    # the refusal, made before any decision, is recorded in the service's log (no content, no name)
    assert "portal request refused (400): BAD_REQUEST multipart: filename*" in caplog.text
    assert _spool_empty(portal) == []
