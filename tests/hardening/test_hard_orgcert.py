"""The organisation certificate expires while the gateway runs (a short-lived certificate on a private token),
and clock skew (a certificate that is not valid yet): signing stops at once with ORG_CERT_EXPIRED /
ORG_CERT_NOT_YET_VALID, the document is kept by the caller (temporary), the decision log says why and an
operator alert is raised."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest

from gateway.devinit import issue_org_certificate
from gateway.errors import SigningCertificateInvalid, TemporaryError
from gateway.model import Channel, Document, Outcome
from gateway.pipeline import Pipeline
from util import make_pdf

pytestmark = pytest.mark.hsm


def _doc(path) -> Document:
    return Document(channel=Channel.FOLDER, name=path.name, path=path)




def test_certificate_expiring_mid_run_stops_signing_with_alert(private_dev_settings, tmp_path, caplog):
    s = private_dev_settings
    pdf = make_pdf(tmp_path / "a.pdf")
    lifetime = 4.0
    not_after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=lifetime)
    issue_org_certificate(s, not_before=not_after - dt.timedelta(days=1), not_after=not_after)
    with Pipeline(s) as p:
        first = p.process(_doc(pdf))
        assert first.outcome is Outcome.SIGN  # valid now; the check result is cached by the signer
        first.output.path.unlink()
        time.sleep(max(0.0, (not_after - dt.datetime.now(dt.timezone.utc)).total_seconds()) + 0.5)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            t0 = time.monotonic()
            with pytest.raises(TemporaryError) as info:
                p.process(_doc(pdf))
            refused_in = time.monotonic() - t0
        assert isinstance(info.value, SigningCertificateInvalid) and info.value.code == "ORG_CERT_EXPIRED"
        rec = p.audit.query()[-1]
        assert rec.outcome == "temporary" and rec.data["error"]["code"] == "ORG_CERT_EXPIRED", rec.data
        alerts = [r for r in caplog.records if r.levelno >= logging.ERROR and "ORG_CERT_EXPIRED" in r.getMessage()]
        assert alerts or rec.alert, [r.getMessage() for r in caplog.records]
        assert not list((s.var_dir / "work").rglob("*.pdf"))  # nothing signed left behind
    print(f"\norg certificate expired mid-run: first signature OK, refused {refused_in * 1000:.0f} ms after expiry "
          f"check with ORG_CERT_EXPIRED (alert: {'log' if alerts else 'record'})")


def test_clock_skew_certificate_not_yet_valid(private_dev_settings, tmp_path):
    s = private_dev_settings
    start = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)  # our clock is 2 h behind the CA's
    issue_org_certificate(s, not_before=start, not_after=start + dt.timedelta(days=365))
    with Pipeline(s) as p:
        with pytest.raises(SigningCertificateInvalid) as info:
            p.process(_doc(make_pdf(tmp_path / "b.pdf")))
        assert info.value.code == "ORG_CERT_NOT_YET_VALID"
        assert p.audit.query()[-1].data["error"]["code"] == "ORG_CERT_NOT_YET_VALID"
