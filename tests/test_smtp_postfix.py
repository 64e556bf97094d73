"""The door behind a REAL Postfix, both ways it is deployed (docs/postfix.md):

  client -> Postfix :before_queue (smtpd_proxy_filter) -> gateway -> Postfix :reinject -> sink
  client -> Postfix :after_queue  (content_filter, queued) -> gateway -> Postfix :reinject -> sink

Real Engine with worker processes on a PRIVATE dev token (the outage test moves its token directory away).
Postfix also sends bounces and postmaster notices through the same path: only messages with our
Message-IDs are counted.
"""

from __future__ import annotations

import shutil
import smtplib
import time
from pathlib import Path

import pytest
import postfix as pfx
from smtp_support import LoopThread, parse_eml, smtp_settings, wait_for
from test_smtp_door import mail_with, verify_smime
from util import make_pdf, pdfsig

from gateway.engine import Engine
from gateway.smtp import MailSink, SmtpDoor
from mail_support import gateway_documents

pytestmark = [
    pytest.mark.postfix,
    pytest.mark.hsm,
    pytest.mark.slow,
    pytest.mark.skipif(not pfx.available(), reason="postfix is not installed (make test installs it)"),
]


class Rig:
    def __init__(self, base: Path) -> None:
        from util import make_dev_settings

        self.settings = make_dev_settings(base / "dev")
        self.loop = LoopThread()
        self.sink = MailSink("127.0.0.1", 0, base / "sink")
        self.loop.run(self.sink.start())
        self.postfix = pfx.Postfix(sink_port=self.sink.port, gateway_port=0)
        self.engine = Engine(self.settings, workers=2)
        self.door_settings = smtp_settings(self.settings, upstream_port=self.postfix.reinject_port)
        self.door = SmtpDoor(self.door_settings, self.engine)
        self.loop.run(self.door.start())
        self.postfix.gateway_port = self.door.port
        self.postfix.start()

    def close(self) -> None:
        self.postfix.stop()
        self.loop.run(self.door.stop(5))
        self.loop.run(self.sink.stop())
        self.engine.close()
        self.loop.close()

    def arrived(self, message_id: str) -> list[Path]:
        out = []
        for path in self.sink.messages():
            if parse_eml(path)["Message-ID"] == message_id:
                out.append(path)
        return out

    def wait_arrived(self, message_id: str, timeout: float = 60.0) -> Path:
        try:
            found = wait_for(lambda: self.arrived(message_id), timeout)
        except TimeoutError:
            raise AssertionError(f"{message_id} never reached the sink\n{self.postfix.maillog()[-3000:]}") from None
        assert len(found) == 1, found
        return found[0]


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    r = Rig(tmp_path_factory.mktemp("pfrig"))
    yield r
    r.close()


@pytest.fixture(scope="module")
def pdf(tmp_path_factory) -> bytes:
    return make_pdf(tmp_path_factory.mktemp("pdf") / "cv.pdf").read_bytes()


def message(pdf: bytes | None, **kw) -> tuple[bytes, str]:
    raw = mail_with(pdf, **kw)
    msg_id = parse_bytes_id(raw)
    return raw, msg_id


def parse_bytes_id(raw: bytes) -> str:
    import email as _email

    return _email.message_from_bytes(raw)["Message-ID"]


def send(port: int, raw: bytes):
    with smtplib.SMTP("127.0.0.1", port, timeout=120) as c:
        return c.sendmail("van.thu@so-a.gov.vn", ["nhan@so-b.gov.vn"], raw)


def assert_signed(path: Path, original: bytes, nssdb: Path, tmp: Path) -> None:
    docs = gateway_documents(path.read_bytes())
    assert len(docs) == 1 and docs[0].content.startswith(original)
    out = tmp / "signed.pdf"
    out.write_bytes(docs[0].content)
    sigs = pdfsig(out, nssdb)
    assert sigs and sigs[-1]["valid"] and sigs[-1]["trusted"], sigs


@pytest.mark.parametrize("mode", ["before_queue", "after_queue"])
def test_pdf_arrives_signed(rig, pdf, mode, tmp_path):
    raw, msg_id = message(pdf)
    assert send(getattr(rig.postfix, f"{mode}_port"), raw) == {}
    assert_signed(rig.wait_arrived(msg_id), pdf, rig.settings.paths.nssdb, tmp_path)


def test_smime_through_postfix_verifies(rig, pdf, tmp_path):
    # S/MIME is a policy decision made in the pipeline (smtp.smime_sign = true maps to the option smime = "sign"
    # for the smtp channel): the door talks to an engine whose policy says so, for this one message.
    smime = Engine(smtp_settings(rig.settings, smime_sign=True), workers=1)
    usual, rig.door.engine = rig.door.engine, smime
    try:
        raw, msg_id = message(pdf, subject="S/MIME qua Postfix")
        assert send(rig.postfix.after_queue_port, raw) == {}
        path = rig.wait_arrived(msg_id)
    finally:
        rig.door.engine = usual
        smime.close()
    verify_smime(path, rig.settings.paths.pki, tmp_path / "content")


@pytest.fixture(scope="module")
def secret_pdf(tmp_path_factory) -> bytes:
    lines = ["ỦY BAN NHÂN DÂN TỈNH THỬ NGHIỆM", "Số: 9/UBND-VP", "TỐI MẬT", "V/v kế hoạch"]
    return make_pdf(tmp_path_factory.mktemp("pdf") / "secret.pdf", lines=lines).read_bytes()


def test_secret_refused_before_queue_client_sees_550(rig, secret_pdf):
    raw, msg_id = message(secret_pdf)
    with pytest.raises(smtplib.SMTPDataError) as ei:
        send(rig.postfix.before_queue_port, raw)
    assert ei.value.smtp_code == 550 and b"SECRET_MARKED" in ei.value.smtp_error
    time.sleep(1)
    assert rig.arrived(msg_id) == []


def test_secret_refused_after_queue_bounces_and_never_arrives(rig, secret_pdf):
    raw, msg_id = message(secret_pdf, subject="Bao cao sau hang doi")
    assert send(rig.postfix.after_queue_port, raw) == {}  # Postfix queued it; our 550 comes later
    wait_for(lambda: "status=bounced" in rig.postfix.maillog() and "SECRET_MARKED" in rig.postfix.maillog(), 60)
    time.sleep(2)  # the bounce itself travels through the gateway too
    assert rig.arrived(msg_id) == []
    for path in rig.sink.messages():  # bounces / postmaster notices: never carrying the secret document
        docs = gateway_documents(path.read_bytes())
        assert not any(d.content.startswith(secret_pdf[:4096]) for d in docs), path


def test_hsm_outage_defers_then_delivers(rig, pdf, tmp_path):
    conf = rig.settings.token.softhsm2_conf.read_text()
    tokendir = Path(next(l.split("=", 1)[1].strip() for l in conf.splitlines() if l.startswith("directories.tokendir")))
    away = tokendir.with_name(tokendir.name + ".away")
    raw_b, id_b = message(pdf, subject="Trong luc HSM ngung (truoc hang doi)")
    raw_a, id_a = message(pdf, subject="Trong luc HSM ngung (sau hang doi)")
    shutil.move(tokendir, away)
    try:
        with pytest.raises(smtplib.SMTPDataError) as ei:
            send(rig.postfix.before_queue_port, raw_b)
        assert ei.value.smtp_code == 451 and b"TOKEN_UNAVAILABLE" in ei.value.smtp_error
        assert send(rig.postfix.after_queue_port, raw_a) == {}
        wait_for(lambda: "status=deferred" in rig.postfix.maillog() and "TOKEN_UNAVAILABLE" in rig.postfix.maillog(), 60)
        assert rig.arrived(id_a) == [] and rig.arrived(id_b) == []
    finally:
        shutil.move(away, tokendir)
    rig.postfix.flush()
    assert_signed(rig.wait_arrived(id_a, timeout=90), pdf, rig.settings.paths.nssdb, tmp_path)
