"""Mail messages through every door of one `gateway run`: each .eml of ../shared/corpus/eml plus the mail
cases of issue 12 (a signed-PDF mail, a MẬT one, a [MẬT] subject, a meeting request carrying a MẬT PDF, an
ambiguous split, an encrypted one) as SMTP DATA, dropped in the watched folder, posted to the portal, and through
`gateway check` (the pipeline).

The four doors read a message with the same reader (gateway.inspect.message) and the same policy, so they
agree on what matters: a message BLOCKed (secret) by one is BLOCKed by all, a message refused as unreadable
(MIME_*, MAIL_ENCRYPTED) is refused by all; where they differ it is a channel option (smtp signs Word files
and pictures with a .p7s, the folder and the portal refuse them: `non_pdf`) — printed, and checked to be
only that.
"""

from __future__ import annotations

import base64
import collections
import csv
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from gw_harness import wait_until
from gateway.model import Channel, Document
from gateway.pipeline import Pipeline
from util import shared_corpus

CORPUS = shared_corpus()
pytestmark = [pytest.mark.hsm, pytest.mark.slow,
              pytest.mark.skipif(not (CORPUS / "eml").is_dir(), reason="corpus not present")]

UNREADABLE = ("MIME_AMBIGUOUS", "MIME_UNKNOWN_ENCODING", "MIME_INCOMPLETE_MESSAGE", "MAIL_ENCRYPTED")


def _cases(tmp: Path) -> dict[str, bytes]:
    from container_support import make_mat_pdf
    from util import make_pdf

    with open(CORPUS / "eml-manifest.tsv", newline="") as fh:
        out = {Path(r["file"]).name[:50] + ".eml": (CORPUS / r["file"]).read_bytes()
               for r in csv.DictReader(fh, delimiter="\t")}
    pdf = make_pdf(tmp / "a.pdf").read_bytes()
    mat = make_mat_pdf(tmp / "m.pdf").read_bytes()

    def mail(subject: str, data: bytes | None) -> bytes:
        m = EmailMessage()
        m["From"], m["To"], m["Subject"] = "vanthu@dev.test", "nhan@dev.test", subject
        m.set_content("Kính gửi\n")
        if data is not None:
            m.add_attachment(data, maintype="application", subtype="pdf", filename="cong-van.pdf")
        return m.as_bytes(policy=email.policy.SMTP.clone(utf8=True))

    out["x-pdf.eml"] = mail("Công văn", pdf)
    out["x-mat-pdf.eml"] = mail("Công văn", mat)
    out["x-mat-subject.eml"] = mail("[MẬT] Kế hoạch", None)
    b64 = base64.encodebytes(pdf).replace(b"\n", b"\r\n")
    out["x-two-ctype.eml"] = (b"From: a@dev.test\r\nSubject: x\r\nContent-Type: text/plain\r\n"
                              b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: application/pdf\r\n"
                              b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"--B--\r\n")
    # a meeting request carrying the MẬT PDF inline (Outlook imports it as the appointment's attachment)
    invite = (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:1@dev.test\r\nSUMMARY:Hop\r\n"
              b"ATTACH;FMTTYPE=application/pdf;ENCODING=BASE64;VALUE=BINARY:"
              + base64.b64encode(mat) + b"\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    out["x-mat-invite.eml"] = (b"From: a@dev.test\r\nTo: b@dev.test\r\nSubject: Moi hop\r\nMIME-Version: 1.0\r\n"
                               b"Content-Type: text/calendar; method=REQUEST; charset=utf-8\r\n"
                               b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(invite).replace(b"\n", b"\r\n"))
    out["x-pgp.eml"] = (b"From: a@dev.test\r\nSubject: p\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA0\r\n"
                        b"-----END PGP MESSAGE-----\r\n")
    return out


def _kind(outcome: str, codes: set[str]) -> str:
    if outcome == "block":
        return "block"
    if outcome == "reject" and codes & set(UNREADABLE):
        return "unreadable"
    return {"sign": "released", "pass": "released"}.get(outcome, outcome)


def test_mail_through_every_door(private_dev_settings, gateway_process, tmp_path):
    s = private_dev_settings
    cases = _cases(tmp_path)
    with Pipeline(s) as p:
        cli = {}
        for n, data in cases.items():
            r = p.check(Document(channel=Channel.CLI, name=n, content=data))
            cli[n] = _kind(str(r.outcome), {x.code for x in r.decision.reasons})
    g = gateway_process(s, workers=2)
    for n, data in cases.items():
        g.drop_file(n, data)
    http, smtp = {}, {}
    for n, data in cases.items():
        r = g.post(data, timeout=120)
        if r.status_code == 200:
            http[n] = "released"
        elif r.status_code == 422:
            body = r.json()
            codes = {body.get("code", "")} | {x.get("code", "") for x in body.get("reasons", [])}
            http[n] = _kind("block" if "SECRET_MARKED" in codes else "reject", codes)
        else:
            http[n] = f"http{r.status_code}"
        code, text = g.send_mail(data, timeout=120)
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        codes = {c for c in UNREADABLE + ("SECRET_MARKED",) if c in text}
        smtp[n] = "released" if code == 250 else _kind("block" if "SECRET_MARKED" in codes else "reject", codes)

    def folder(n: str) -> str:
        f = g.folders
        for where, label in (("signed", "released"), ("quarantine", "block"), ("rejected", "reject")):
            hits = [p for p in (f / where).iterdir() if p.name.startswith(n)]
            if hits:
                if label == "reject":
                    note = next((p for p in hits if p.name.endswith(".ly-do.txt")), None)
                    text = note.read_text(encoding="utf-8") if note else ""
                    return _kind("reject", {c for c in UNREADABLE if c in text})
                return label
        return "queued"

    wait_until(lambda: all(folder(n) != "queued" for n in cases), timeout=240, interval=0.5,
               what="every mail out of the folder queue")
    fold = {n: folder(n) for n in cases}
    assert g.stop() == 0

    print("\nmail | cli | folder | http | smtp")
    table = collections.Counter()
    for n in cases:
        print(f"{n} | {cli[n]} | {fold[n]} | {http[n]} | {smtp[n]}")
        table[(cli[n], fold[n], http[n], smtp[n])] += 1
    for n in cases:
        seen = {cli[n], fold[n], http[n], smtp[n]}
        assert not any(v.startswith("http") for v in seen), (n, seen)
        # secret and unreadable: every door says the same
        for verdict in ("block", "unreadable"):
            assert (verdict in seen) == (seen == {verdict}), (n, cli[n], fold[n], http[n], smtp[n])
        # the folder, the portal and the CLI share the default channel options; smtp signs more (non_pdf = cades)
        assert cli[n] == fold[n] == http[n], (n, cli[n], fold[n], http[n])
        assert smtp[n] == cli[n] or (smtp[n], cli[n]) == ("released", "reject"), (n, smtp[n], cli[n])
    assert (cli["x-pdf.eml"], fold["x-pdf.eml"], http["x-pdf.eml"], smtp["x-pdf.eml"]) == ("released",) * 4
    for n in ("x-mat-pdf.eml", "x-mat-subject.eml", "x-mat-invite.eml"):
        assert {cli[n], fold[n], http[n], smtp[n]} == {"block"}, n
    for n in ("x-two-ctype.eml", "x-pgp.eml"):
        assert {cli[n], fold[n], http[n], smtp[n]} == {"unreadable"}, n
