"""PAdES B-T and B-LT against a real RFC 3161 timestamp authority on loopback.

The TSA is an HTTP server in this process answering `application/timestamp-query` with responses made by
pyHanko's self-contained timestamper, under a TSA certificate (EKU timeStamping) from the dev CA — the same
wire protocol as the specialised CA's timestamp service, which is not reachable from here.
"""

from __future__ import annotations

import datetime as dt
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asn1crypto.tsp  # noqa: F401 - registers "tst_info" before any test builds a CMS: asn1crypto makes
# its name -> OID map once, at first use, and the stand-in TSA below names the content type (a test that
# signed before it in the same process made it fail; seen when the suite's order changed)
import pytest
from util import make_dev_settings, make_pdf, pdfsig

pytestmark = pytest.mark.hsm


def _tsa_material(settings):
    """A TSA key and certificate issued by the dev CA (critical EKU timeStamping, as RFC 3161 requires)."""
    from asn1crypto import keys as akeys
    from asn1crypto import x509 as ax509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from gateway.devinit import Pki

    pki = Pki(settings.paths.pki)
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                                 x509.NameAttribute(NameOID.COMMON_NAME, "Dịch vụ cấp dấu thời gian (DEV)")]))
        .issuer_name(pki.ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    der_key = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    ca = ax509.Certificate.load(pki.ca.public_bytes(serialization.Encoding.DER))
    return ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)), akeys.PrivateKeyInfo.load(der_key), ca


@pytest.fixture()
def tsa(tmp_path):
    """(settings for a private token, TSA URL, request counter)."""
    from asn1crypto import tsp
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    settings = make_dev_settings(tmp_path)
    cert, key, ca = _tsa_material(settings)
    stamper = DummyTimeStamper(tsa_cert=cert, tsa_key=key, certs_to_embed=[ca])
    seen: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Type") != "application/timestamp-query":
                self.send_error(415)
                return
            resp = stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
            seen.append(len(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(resp)))
            self.end_headers()
            self.wfile.write(resp)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield settings, f"http://127.0.0.1:{server.server_address[1]}/tsa", seen
    finally:
        server.shutdown()
        server.server_close()


def _sign(settings, level: str, url: str, src: Path, dst: Path):
    from gateway.settings import load_settings
    from gateway.signing import OrgSigner

    s = load_settings(var_dir=settings.var_dir, signing={"level": level, "tsa_url": url})
    signer = OrgSigner(s)
    try:
        signer.sign_pdf(src, dst)
    finally:
        signer.close()
    return s


def test_b_t_carries_a_valid_timestamp(tsa, tmp_path):
    settings, url, seen = tsa
    src = make_pdf(tmp_path / "cv.pdf")
    s = _sign(settings, "B-T", url, src, tmp_path / "cv-bt.pdf")
    assert len(seen) == 1  # the TSA was asked exactly once (no dummy estimate round trip)
    verdict = pdfsig(tmp_path / "cv-bt.pdf", s.paths.nssdb)
    assert verdict[0]["valid"] and verdict[0]["trusted"]

    from gateway.validation import Validator

    (facts,) = Validator(s).validate_pdf(tmp_path / "cv-bt.pdf")
    assert facts.intact and facts.trusted and facts.timestamp_time is not None
    assert abs((facts.timestamp_time - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 300


def test_b_lt_embeds_revocation_data(tsa, tmp_path):
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    settings, url, _ = tsa
    src = make_pdf(tmp_path / "cv.pdf")
    out = tmp_path / "cv-blt.pdf"
    s = _sign(settings, "B-LT", url, src, out)
    with open(out, "rb") as fh:
        dss = DocumentSecurityStore.read_dss(PdfFileReader(fh))
        assert len(dss.crls) >= 1 and len(dss.certs) >= 2  # the dev CA's CRL and the chain, for later checks
    verdict = pdfsig(out, s.paths.nssdb)
    assert verdict[0]["valid"] and verdict[0]["trusted"]


def test_b_t_with_the_tsa_down_is_temporary(tsa, tmp_path):
    from gateway.errors import TemporaryError

    settings, _, _ = tsa
    src = make_pdf(tmp_path / "cv.pdf")
    with pytest.raises(TemporaryError) as err:
        _sign(settings, "B-T", "http://127.0.0.1:9/tsa", src, tmp_path / "x.pdf")
    assert err.value.code == "TSA_UNAVAILABLE"
    assert not (tmp_path / "x.pdf").exists()  # never half-signed
