"""Test helpers shared by every helper's tests: make PDFs, sign as a competent person, run pdfsig.

No mocks here: real PDFs (reportlab), real PKCS#12 keys from dev-init, the real `pdfsig` binary.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

# Liberation 2.x has the precomposed Vietnamese letters; 1.x (fonts-liberation) does not.
FONT_DIR = Path("/usr/share/fonts/truetype/liberation2")
if not (FONT_DIR / "LiberationSerif-Regular.ttf").exists():
    FONT_DIR = Path("/usr/share/fonts/truetype/liberation")
SERIF = FONT_DIR / "LiberationSerif-Regular.ttf"
SERIF_BOLD = FONT_DIR / "LiberationSerif-Bold.ttf"

def shared_corpus() -> Path:
    """The shared corpus of real-world PDFs and mail: $KYSO_CORPUS, else ../shared/corpus beside the checkout
    (CI), else /work/shared/corpus (a clone elsewhere on a development machine)."""
    import os

    for c in (os.environ.get("KYSO_CORPUS"), Path(__file__).resolve().parents[2] / "shared" / "corpus",
              Path("/work/shared/corpus")):
        if c and Path(c).is_dir():
            return Path(c)
    return Path(__file__).resolve().parents[2] / "shared" / "corpus"


DEFAULT_LINES = (
    "ỦY BAN NHÂN DÂN TỈNH THỬ NGHIỆM (DEV)",
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "Số: 123/UBND-VP",
    "V/v thử nghiệm cổng ký số",
)


def _register_fonts() -> tuple[str, str]:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    names = ("KysoSerif", "KysoSerifBold")
    for name, path in zip(names, (SERIF, SERIF_BOLD)):
        try:
            pdfmetrics.getFont(name)
        except KeyError:
            pdfmetrics.registerFont(TTFont(name, str(path)))
    return names


def make_pdf(
    path: Path,
    lines: list[str] | tuple[str, ...] = DEFAULT_LINES,
    pages: int = 1,
    title: str | None = None,
    *,
    subject: str | None = None,
    keywords: str | None = None,
    filler_bytes: int = 0,
) -> Path:
    """A real A4 PDF with Vietnamese text (Liberation Serif embedded, so text extracts).

    `filler_bytes` adds an uncompressed random image stream of about that size (for big-file tests).
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    serif, bold = _register_fonts()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    c = canvas.Canvas(str(path), pagesize=A4, pageCompression=0)
    if title:
        c.setTitle(title)
    if subject:
        c.setSubject(subject)
    if keywords:
        c.setKeywords(keywords)
    w, h = A4
    for p in range(pages):
        y = h - 60
        if title and p == 0:
            c.setFont(bold, 14)
            c.drawCentredString(w / 2, y, title)
            y -= 30
        c.setFont(serif, 12)
        for line in lines:
            c.drawString(60, y, line)
            y -= 18
        c.setFont(serif, 9)
        c.drawCentredString(w / 2, 30, f"Trang {p + 1}/{pages}")
        if filler_bytes and p == 0:
            _draw_filler(c, filler_bytes)
        c.showPage()
    c.save()
    return path


def _draw_filler(c, nbytes: int) -> None:
    """An incompressible RGB image of ~nbytes, drawn tiny (keeps the page readable)."""
    import os

    from PIL import Image
    from reportlab.lib.utils import ImageReader

    side = max(16, int((nbytes / 3) ** 0.5))
    img = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    c.drawImage(ImageReader(img), 500, 40, width=40, height=40)


def make_big_pdf(path: Path, size_bytes: int) -> Path:
    """A PDF of about `size_bytes`, built by streaming random data into raw image XObjects (no RAM peak)."""
    import os

    path = Path(path)
    chunk = 8 * 1024 * 1024
    n_images = max(1, round(size_bytes / chunk))
    width = max(1, (size_bytes - 2000) // n_images // 3)  # one image = 1 x width RGB pixels, stored raw
    offsets: list[int] = []
    with open(path, "wb") as fh:

        def obj_start() -> None:
            offsets.append(fh.tell())

        fh.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        # 1 catalog, 2 pages, 3 page, 4 content, 5 font, 6.. images
        obj_start()
        fh.write(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
        obj_start()
        fh.write(b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n")
        xobjs = b" ".join(b"/Im%d %d 0 R" % (i, 6 + i) for i in range(n_images))
        obj_start()
        fh.write(
            b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> /XObject << " + xobjs + b" >> >> >>\nendobj\n"
        )
        content = b"BT /F1 14 Tf 60 780 Td (Big test document - DEV) Tj ET\n"
        content += b"".join(b"q 10 0 0 10 %d 40 cm /Im%d Do Q\n" % (20 + (i % 50) * 11, i) for i in range(n_images))
        obj_start()
        fh.write(b"4 0 obj\n<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream\nendobj\n")
        obj_start()
        fh.write(b"5 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman >>\nendobj\n")
        for i in range(n_images):
            obj_start()
            fh.write(
                b"%d 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height 1 /ColorSpace /DeviceRGB "
                b"/BitsPerComponent 8 /Length %d >>\nstream\n" % (6 + i, width, width * 3)
            )
            left = width * 3
            while left:
                n = min(left, 1 << 20)
                fh.write(os.urandom(n))
                left -= n
            fh.write(b"\nendstream\nendobj\n")
        xref = fh.tell()
        fh.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
        for off in offsets:
            fh.write(b"%010d 00000 n \n" % off)
        fh.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref))
    return path


def person_signer(settings, person: int = 1):
    """pyHanko SimpleSigner for dev person N (PKCS#12 from dev-init), with the CA chain."""
    from pyhanko.sign import signers

    pki = settings.paths.pki
    pw = (pki / f"person{person}.pass").read_text().strip().encode()
    return signers.SimpleSigner.load_pkcs12(pki / f"person{person}.p12", passphrase=pw)


def sign_as_person(
    src: Path,
    dst: Path,
    settings,
    person: int = 1,
    visible: bool = True,
    field_name: str | None = None,
    *,
    page: int = -1,
    rect: tuple[float, float, float, float] | None = None,
) -> Path:
    """Sign `src` as dev person N (the competent person): a visible blue-ish box at bottom right of the
    last page (or `rect` on `page`), PAdES, incremental."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign import fields, signers
    from pyhanko.stamp import TextStampStyle

    from gateway.devinit import PERSONS
    from gateway.signing.appearance import font_1000upem

    name, title = PERSONS[person - 1]
    field_name = field_name or f"NguoiKy{person}"
    signer = person_signer(settings, person)
    with open(src, "rb") as inf:
        w = IncrementalPdfFileWriter(inf, strict=False)
        n_pages = int(w.root["/Pages"]["/Count"])
        on_page = page if page >= 0 else n_pages - 1
        box = rect or (330, 80, 540, 170)
        spec = fields.SigFieldSpec(field_name, on_page=on_page, box=tuple(int(v) for v in box)) if visible else (
            fields.SigFieldSpec(field_name)
        )
        style = TextStampStyle(
            stamp_text=f"{title.upper()}\n\n%(signer)s\n%(ts)s",
            text_box_style=TextBoxStyle(
                font=GlyphAccumulatorFactory(str(font_1000upem(SERIF, settings.var_dir / "fonts"))),
                font_size=10,
                text_color=(0.05, 0.15, 0.65),
            ),
            border_width=1,
            border_color=(0.05, 0.15, 0.65),
            background=None,
            timestamp_format="%Y-%m-%dT%H:%M:%S%z",
        )
        meta = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            name=name,
        )
        pdf_signer = signers.PdfSigner(meta, signer, stamp_style=style, new_field_spec=spec)
        with open(dst, "w+b") as out:
            pdf_signer.sign_pdf(w, output=out, appearance_text_params={"signer": name})
    return Path(dst)


_SIG_RE = re.compile(r"^Signature #(\d+):")
_PDFSIG_FIELDS = {
    "signer certificate common name": "signer",
    "signer full distinguished name": "signer_dn",
    "signing time": "time",
    "signing hash algorithm": "hash",
    "signature type": "type",
    "signature field name": "field",
    "signature validation": "validation",
    "certificate validation": "cert_validation",
}


def pdfsig(path: Path, nssdb: Path, *extra: str) -> list[dict]:
    """Run `pdfsig -nssdir sql:<nssdb>` and parse it: one dict per signature.

    Keys: index, field, signer (common name), signer_dn, time, hash, type, valid (bool: "Signature is Valid"),
    trusted (bool: "Certificate is Trusted"), validation, cert_validation, total_document (bool|None),
    raw (the lines). pdfsig exits 0 even when a signature fails, so read these, not the exit code.
    """
    res = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nssdb}", *extra, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out: list[dict] = []
    cur: dict | None = None
    for line in res.stdout.splitlines():
        m = _SIG_RE.match(line)
        if m:
            cur = {"index": int(m.group(1)), "raw": []}
            out.append(cur)
            continue
        if cur is None:
            continue
        cur["raw"].append(line)
        key, _, val = line.strip().lstrip("-").strip().partition(":")
        val = val.strip()
        k = key.strip().lower()
        if k in _PDFSIG_FIELDS:
            cur[_PDFSIG_FIELDS[k]] = val
        if k == "signature validation":
            cur["valid"] = val == "Signature is Valid."
        elif k == "certificate validation":
            cur["trusted"] = val == "Certificate is Trusted."
        elif k.startswith("total document signed"):
            cur["total_document"] = True
        elif "not total document signed" in line.lower():
            cur["total_document"] = False
    for sig in out:
        sig.setdefault("valid", False)
        sig.setdefault("trusted", False)
        sig.setdefault("total_document", None)
    if res.returncode != 0 and not out and "does not contain any signatures" not in (res.stdout + res.stderr):
        raise RuntimeError(f"pdfsig failed ({res.returncode}): {res.stderr.strip()[:300]}")
    return out


def rss_peak_kib() -> int:
    """Peak RSS of this process, KiB: VmHWM of its own memory map.

    Not getrusage: Linux carries ru_maxrss across exec, so a child forked from a big pytest process would
    report the parent's size at fork time.
    """
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


_TEMPLATE: list[Path] = []  # a finished var dir whose CA, persons and NSS db private var dirs may copy


def make_dev_settings(tmp_path: Path, *, fresh_pki: bool = False, **overrides):
    """Settings on a fresh var dir under tmp_path, with dev-init run on it: a private token and org key.

    The dev CA, person certificates, seal and NSS db are copied from an earlier dev var dir of this session
    (only to save key generation time) unless fresh_pki; the token, its key and certificate are always new.
    """
    import shutil

    from gateway.devinit import dev_init
    from gateway.settings import load_settings

    var_dir = Path(tmp_path) / "var"
    if _TEMPLATE and not fresh_pki and not var_dir.exists():
        src = _TEMPLATE[0]
        shutil.copytree(src / "pki", var_dir / "pki", ignore=shutil.ignore_patterns("org.pem"))
        shutil.copy2(src / "seal.png", var_dir / "seal.png")
    settings = load_settings(var_dir=var_dir, **overrides)
    dev_init(settings)
    if not _TEMPLATE:
        _TEMPLATE.append(var_dir)
    return settings


def check_attachment(pipeline, path: Path):
    """`path` checked (dry run) by `pipeline` as a mail attachment: (outcome, reason codes)."""
    from gateway.model import Channel, DocKind, Document, Origin

    doc = Document(channel=Channel.SMTP, name=path.name, path=path, kind=DocKind.ATTACHMENT,
                   origin=Origin(sender="van.thu@so.gov.vn", recipients=("a@bo.gov.vn",)))
    res = pipeline.check(doc)
    return res.outcome, {r.code for r in res.decision.reasons}


def blocked(pipeline, path: Path) -> bool:
    """`path`, checked as a mail attachment, is BLOCKed for a secrecy mark."""
    from gateway.model import Outcome

    outcome, codes = check_attachment(pipeline, path)
    return outcome is Outcome.BLOCK and "SECRET_MARKED" in codes


def released(pipeline, path: Path) -> bool:
    """`path`, checked as a mail attachment, is signed or passed (asserted, with what was answered)."""
    from gateway.model import Outcome

    outcome, codes = check_attachment(pipeline, path)
    assert outcome in (Outcome.PASS, Outcome.SIGN) and "SECRET_MARKED" not in codes, (path.name, outcome, codes)
    return True
