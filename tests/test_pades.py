"""PAdES signing, verified independently (pdfsig with the dev NSS db) and by pyHanko's validator."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from util import make_big_pdf, make_pdf, pdfsig, shared_corpus, sign_as_person

from gateway.errors import InputRejected
from gateway.model import Appearance, DocKind
from gateway.signing import OrgSigner, PdfSignRequest
from gateway.signing.appearance import VN_TZ

CORPUS = shared_corpus()


@pytest.fixture(scope="module")
def signer(dev_settings):
    with OrgSigner(dev_settings) as s:
        yield s


def _pyhanko_validate(path: Path, settings) -> list:
    """Every embedded signature validated by pyHanko against the dev root (intact, valid, trusted)."""
    from asn1crypto import x509 as ax509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    root = ax509.Certificate.load(_der(settings.paths.pki / "root.pem"))
    vc = ValidationContext(trust_roots=[root], allow_fetching=False, revocation_mode="soft-fail")
    with open(path, "rb") as fh:
        r = PdfFileReader(fh, strict=False)
        return [validate_pdf_signature(sig, vc) for sig in r.embedded_signatures]


def _der(pem: Path) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(serialization.Encoding.DER)


def test_small_text_signature_valid_trusted(signer, dev_settings, tmp_path):
    src = make_pdf(tmp_path / "in.pdf", title="PHỤ LỤC")
    t = datetime(2025, 3, 1, 9, 30, tzinfo=VN_TZ)
    req = PdfSignRequest(appearance=Appearance.TEXT, kind=DocKind.ATTACHMENT, number="12/QĐ-UBND", signing_time=t)
    out = signer.sign_pdf(src, tmp_path / "out.pdf", req)
    assert out.path.read_bytes().startswith(src.read_bytes())  # incremental: the original bytes stay
    sigs = pdfsig(out.path, dev_settings.paths.nssdb)
    assert len(sigs) == 1 and sigs[0]["valid"] and sigs[0]["trusted"] and sigs[0]["total_document"]
    assert sigs[0]["signer"] == dev_settings.organisation and sigs[0]["type"] == "ETSI.CAdES.detached"
    (st,) = _pyhanko_validate(out.path, dev_settings)
    assert st.intact and st.valid and st.trusted and st.md_algorithm == "sha256"
    text = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(out.path), "-"], capture_output=True, text=True).stdout
    assert "12/QĐ-UBND" in text and "2025-03-01T09:30:00+07:00" in text  # extractable, diacritics intact


def test_seal_over_competent_person_signature(signer, dev_settings, tmp_path):
    from pyhanko.pdf_utils.reader import PdfFileReader

    src = make_pdf(tmp_path / "in.pdf", pages=2, title="QUYẾT ĐỊNH")
    person = sign_as_person(src, tmp_path / "person.pdf", dev_settings, rect=(330, 80, 540, 170))
    req = PdfSignRequest(appearance=Appearance.SEAL, kind=DocKind.ISSUED, number="5/QĐ-UBND")
    out = signer.sign_pdf(person, tmp_path / "out.pdf", req)
    sigs = pdfsig(out.path, dev_settings.paths.nssdb)
    assert [s["valid"] and s["trusted"] for s in sigs] == [True, True]
    assert sigs[1]["total_document"] and sigs[0]["total_document"] is False
    with open(out.path, "rb") as fh:
        r = PdfFileReader(fh)
        org = [s for s in r.embedded_signatures if s.field_name != "NguoiKy1"][0]
        widget = org.sig_field.get("/Kids", [org.sig_field])[0].get_object() if "/Rect" not in org.sig_field else org.sig_field
        x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
        page1 = r.root["/Pages"]["/Kids"][1].get_object()
        assert widget["/P"].get_object() is page1 or widget["/P"].get_object() == page1  # same page as the person
    side_mm = (x2 - x1) * 25.4 / 72
    assert abs(side_mm - dev_settings.appearance.seal_width_mm) < 0.5  # real size
    person_w = 540 - 330
    overlap = x2 - 330
    assert 0.2 * person_w < overlap < 0.45 * person_w  # covers about the left third
    assert y1 < 125 < y2  # vertically over the signature


def test_invisible_and_pss(dev_settings, tmp_path):
    from gateway.settings import load_settings

    s = load_settings(var_dir=dev_settings.var_dir, signing={"rsa_pss": True})
    src = make_pdf(tmp_path / "in.pdf")
    with OrgSigner(s) as signer:
        out = signer.sign_pdf(src, tmp_path / "out.pdf", PdfSignRequest(appearance=Appearance.INVISIBLE))
    (st,) = _pyhanko_validate(out.path, dev_settings)
    assert st.intact and st.valid and st.trusted
    assert st.pkcs7_signature_mechanism == "rsassa_pss"
    sigs = pdfsig(out.path, dev_settings.paths.nssdb)
    assert sigs[0]["valid"], sigs


def _corpus(cls: str) -> list[Path]:
    manifest = CORPUS / "pdf-manifest.tsv"
    if not manifest.exists():
        return []
    with open(manifest, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [CORPUS / r["file"] for r in rows if cls in r["classes"].split(",")]


@pytest.mark.parametrize("path", _corpus("signed"), ids=lambda p: p.name[-50:])
def test_signed_before_keep_their_signatures(signer, dev_settings, tmp_path, path):
    before = pdfsig(path, dev_settings.paths.nssdb)
    try:
        out = signer.sign_pdf(path, tmp_path / "out.pdf", PdfSignRequest(appearance=Appearance.TEXT))
    except InputRejected as exc:
        # refused, with a reason, and nothing half-written
        assert exc.code in {"PDF_CERTIFIED_NO_CHANGES", "PDF_BROKEN", "PDF_ENCRYPTED"}
        assert not (tmp_path / "out.pdf").exists()
        if exc.code == "PDF_CERTIFIED_NO_CHANGES":
            assert "certified-P1" in _classes(path)
        return
    after = pdfsig(out.path, dev_settings.paths.nssdb)
    assert len(after) == len(before) + 1
    for b, a in zip(before, after):
        assert a["valid"] == b["valid"], (b, a)  # earlier signatures' integrity unchanged by our update
    assert after[-1]["valid"] and after[-1]["trusted"]


def _classes(path: Path) -> set[str]:
    with open(CORPUS / "pdf-manifest.tsv", newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            if CORPUS / r["file"] == path:
                return set(r["classes"].split(","))
    return set()


@pytest.mark.parametrize(
    "cls,code",
    [("certified-P1", "PDF_CERTIFIED_NO_CHANGES"), ("encrypted-password", "PDF_ENCRYPTED"), ("broken", None)],
)
def test_refused_inputs(signer, tmp_path, cls, code):
    files = _corpus(cls)
    assert files, cls
    refused = 0
    for f in files:
        dst = tmp_path / (f.stem[-40:] + ".out.pdf")
        try:
            signer.sign_pdf(f, dst)
        except InputRejected as exc:
            refused += 1
            assert exc.code == code if code else exc.code in {"PDF_BROKEN", "PDF_ENCRYPTED"}
            assert not dst.exists()
    if code:
        assert refused == len(files)
    else:
        assert refused >= len(files) // 2  # "broken" per the manifest; a lenient reader may still cope


def test_garbage_is_broken_not_signed(signer, tmp_path):
    src = tmp_path / "x.pdf"
    src.write_bytes(b"%PDF-1.7\n" + os.urandom(4000))
    with pytest.raises(InputRejected) as ei:
        signer.sign_pdf(src, tmp_path / "out.pdf")
    assert ei.value.code == "PDF_BROKEN" and not (tmp_path / "out.pdf").exists()


def _latency(signer, src: Path, dst: Path, n: int = 3) -> float:
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        signer.sign_pdf(src, dst)
        best = min(best, time.perf_counter() - t)
    return best


def test_latency_small_medium(signer, dev_settings, tmp_path):
    """Sign latency at 50 KB, 1 MB, 20 MB (printed; -s to see)."""
    sizes = {"50KB": 50_000, "1MB": 1_000_000, "20MB": 20_000_000}
    for label, size in sizes.items():
        src = make_big_pdf(tmp_path / f"{label}.pdf", size) if size >= 1_000_000 else make_pdf(
            tmp_path / f"{label}.pdf", lines=["Văn bản nhỏ"]
        )
        dt = _latency(signer, src, tmp_path / f"{label}.out.pdf")
        print(f"sign latency {label} ({src.stat().st_size} B): {dt * 1000:.0f} ms")
        assert dt < 10
    sigs = pdfsig(tmp_path / "20MB.out.pdf", dev_settings.paths.nssdb)
    assert sigs[0]["valid"] and sigs[0]["trusted"]


BIG_SCRIPT = r"""
import sys, time
from pathlib import Path
from gateway.settings import load_settings
from gateway.signing import OrgSigner
def vmhwm():  # own peak RSS, KiB (ru_maxrss would carry pytest's size across exec)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])
s = load_settings(var_dir=sys.argv[1])
signer = OrgSigner(s)
signer.check_certificate()
base = vmhwm()
t = time.perf_counter()
signer.sign_pdf(Path(sys.argv[2]), Path(sys.argv[3]))
dt = time.perf_counter() - t
print(f"{dt:.3f} {vmhwm()} {base}")
"""


@pytest.mark.slow
def test_200mb_streamed(dev_settings, tmp_path):
    src = make_big_pdf(tmp_path / "big.pdf", 200 * 1024 * 1024)
    dst = tmp_path / "big.out.pdf"
    res = subprocess.run(
        [sys.executable, "-c", BIG_SCRIPT, str(dev_settings.var_dir), str(src), str(dst)],
        capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    secs, peak_kib, base_kib = res.stdout.split()[-3:]
    print(f"200 MB: {float(secs):.2f} s, peak RSS {int(peak_kib) // 1024} MiB (before signing {int(base_kib) // 1024} MiB)")
    assert int(peak_kib) < 150 * 1024  # streamed: far below the 200 MiB file (measured ~97 MiB)
    assert dst.stat().st_size > src.stat().st_size
    sigs = pdfsig(dst, dev_settings.paths.nssdb)
    assert sigs[0]["valid"] and sigs[0]["trusted"] and sigs[0]["total_document"]
    (st,) = _pyhanko_validate(dst, dev_settings)
    assert st.intact and st.valid
