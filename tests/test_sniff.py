"""The content sniffer: real files made by real tools, and hostile look-alikes. By content, never by name."""

from __future__ import annotations

import bz2
import gzip
import importlib
import io
import lzma
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

S = importlib.import_module("gateway.inspect.sniff")
FIX = Path(__file__).parent / "fixtures" / "office"


def sniff_bytes(data: bytes) -> str:
    return S.sniff_file(io.BytesIO(data))


def sniff_path(path: Path) -> str:
    with open(path, "rb") as fh:
        return S.sniff_file(fh)


@pytest.mark.parametrize(
    "ext,media",
    [
        ("docx", S.DOCX), ("xlsx", S.XLSX), ("pptx", S.PPTX), ("odt", S.ODT), ("ods", S.ODS), ("odp", S.ODP),
        ("doc", S.DOC), ("xls", S.XLS), ("rtf", S.RTF), ("fodt", S.FODF), ("fods", S.FODF), ("fodp", S.FODF),
    ],
)
def test_real_office_files(ext, media):
    files = sorted(FIX.glob(f"*.{ext}"))
    assert files
    for f in files:
        assert sniff_path(f) == media, f.name


def _repack(src: Path, *, drop=(), types: str | None = None, add: dict | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = zin.read(info.filename)
            if types is not None and info.filename == "[Content_Types].xml":
                data = data.replace(b"wordprocessingml.document.main+xml", types.encode())
            zout.writestr(info.filename, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return out.getvalue()


def test_ooxml_variants_by_main_content_type():
    src = FIX / "text-body.docx"
    data = src.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        ct = z.read("[Content_Types].xml").decode()
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    for replacement, media in (
        ("application/vnd.ms-word.document.macroEnabled.main+xml", S.DOCM),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml", S.DOTX),
        ("application/vnd.ms-word.template.macroEnabledTemplate.main+xml", S.DOTM),
    ):
        assert main in ct
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
            for info in zin.infolist():
                body = zin.read(info.filename)
                if info.filename == "[Content_Types].xml":
                    body = body.decode().replace(main, replacement).encode()
                zout.writestr(info.filename, body)
        assert sniff_bytes(out.getvalue()) == media


def test_hostile_look_alikes(tmp_path):
    # a plain zip named .docx is an archive
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.txt", "hello")
    assert sniff_bytes(z.getvalue()) == S.ZIP
    # a docx without [Content_Types].xml is still what Word repairs / LibreOffice opens: a Word document
    assert sniff_bytes(_repack(FIX / "text-body.docx", drop=("[Content_Types].xml",))) == S.DOCX
    # an ODF package without its mimetype member, by its manifest
    assert sniff_bytes(_repack(FIX / "text-body.odt", drop=("mimetype",))) == S.ODT
    # junk before the PDF header, within the 1024 bytes readers search
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    assert sniff_bytes(b"\x00" * 1000 + pdf) == S.PDF
    assert sniff_bytes(b"x" * 1000 + pdf) == S.PDF
    # further in, in a text: poppler and MuPDF still open it: two readings, refused
    assert sniff_bytes(b"Just text.\n" * 300 + pdf) == S.POLYGLOT
    # PDF objects without any header in a text
    assert sniff_bytes(b"Notes\n" * 10 + b"1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n") == S.POLYGLOT
    # a text that starts "PK" is a text
    assert sniff_bytes("PK là viết tắt của phụ kiện.\n".encode()) == S.TEXT
    # a PDF with a ZIP appended (zip readers find the archive at the end): refused
    assert sniff_bytes(pdf + z.getvalue()) == S.POLYGLOT
    # a text with a ZIP appended
    assert sniff_bytes(b"hello\n" + z.getvalue()) == S.POLYGLOT
    # an image's magic with a PDF header behind it
    assert sniff_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100 + pdf) == S.POLYGLOT
    # a ZIP whose first member is a stored PDF: the archive (every member is read)
    z2 = io.BytesIO()
    with zipfile.ZipFile(z2, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.pdf", pdf)
    assert sniff_bytes(z2.getvalue()) == S.ZIP
    # Word takes "{\rt" for RTF
    assert sniff_bytes(b"{\\rtx1 hello}") == S.RTF


def test_text_encodings():
    text = "Kính gửi: Sở Tư pháp. TỐI MẬT\n" * 20
    assert sniff_bytes(text.encode("utf-8")) == S.TEXT
    assert sniff_bytes(b"T\xe0i li\xeau \xf0i\xeau\xf2u h\xe0nh\n" * 20) == S.TEXT  # Windows-1258
    assert sniff_bytes(text.encode("utf-16")) == S.TEXT  # with a BOM
    assert sniff_bytes(text.encode("utf-16-le")) == S.TEXT  # without
    assert sniff_bytes(text.encode("utf-16-be")) == S.TEXT
    assert sniff_bytes(text.encode("utf-32")) == S.TEXT
    html = "<!DOCTYPE html><html><body><p>Xin chào</p></body></html>"
    assert sniff_bytes(html.encode("utf-16-le")) == S.HTML
    assert sniff_bytes(b"  \n<div>x</div>") == S.HTML
    assert sniff_bytes(b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'><text>x</text></svg>") == S.SVG
    assert sniff_bytes(b'<?xml version="1.0"?>\n<?mso-application progid="Word.Document"?>\n<w:wordDocument/>') == S.WORD_XML
    assert sniff_bytes(b"From: a@b\nSubject: x\n\nbody\n") == S.MESSAGE
    assert sniff_bytes(b"Hello\n\nbegin 644 a.pdf\nM)5!$1BTQ+C0*\n`\nend\n") == S.UUENCODE
    assert sniff_bytes(bytes(range(256)) * 4) == S.UNKNOWN


def test_archives_and_images(tmp_path):
    payload = b"Xin chao " * 100
    assert sniff_bytes(gzip.compress(payload)) == S.GZIP
    assert sniff_bytes(bz2.compress(payload)) == S.BZIP2
    assert sniff_bytes(lzma.compress(payload)) == S.XZ
    t = io.BytesIO()
    with tarfile.open(fileobj=t, mode="w") as tf:
        info = tarfile.TarInfo("a.txt")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    assert sniff_bytes(t.getvalue()) == S.TAR
    from PIL import Image

    for fmt, media in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("TIFF", "image/tiff"),
                       ("BMP", "image/bmp"), ("WEBP", "image/webp")):
        buf = io.BytesIO()
        Image.new("RGB", (20, 20), "white").save(buf, fmt)
        assert sniff_bytes(buf.getvalue()) == media, fmt


def test_encrypted_ooxml_is_an_ole2_encrypted_package(tmp_path):
    import msoffcrypto.format.ooxml as ooxml

    enc = io.BytesIO()
    with open(FIX / "text-clean.docx", "rb") as fh:
        ooxml.OOXMLFile(fh).encrypt("mật khẩu", enc)
    assert sniff_bytes(enc.getvalue()) == S.OOXML_ENCRYPTED


def test_smime_signed_vs_enveloped(tmp_path):
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-subj", "/CN=t", "-days", "2"], check=True, capture_output=True)
    msg = tmp_path / "m.txt"
    msg.write_text("Xin chào")
    signed, enveloped = tmp_path / "s.der", tmp_path / "e.der"
    subprocess.run(["openssl", "cms", "-sign", "-in", msg, "-signer", cert, "-inkey", key, "-outform", "DER",
                    "-nodetach", "-out", signed], check=True, capture_output=True)
    subprocess.run(["openssl", "cms", "-encrypt", "-in", msg, "-outform", "DER", "-out", enveloped, "-aes256", cert],
                   check=True, capture_output=True)
    assert sniff_path(signed) == S.SMIME_SIGNED
    assert sniff_path(enveloped) == S.SMIME_ENVELOPED
    pem = tmp_path / "s.pem"
    subprocess.run(["openssl", "cms", "-sign", "-in", msg, "-signer", cert, "-inkey", key, "-outform", "PEM",
                    "-out", pem], check=True, capture_output=True)
    assert sniff_path(pem) == S.SMIME_SIGNED
    der_cert = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True, capture_output=True).stdout
    assert sniff_bytes(der_cert) == S.X509


@pytest.fixture
def gnupg_home(tmp_path):
    """A GnuPG home of its own; the gpg-agent gpg starts there is stopped afterwards (left running, one spun at
    a tenth of a core through the rest of the suite)."""
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    yield home
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, timeout=30)


_TEST_KEY = """\
-----BEGIN PGP PRIVATE KEY BLOCK-----

lFgEaxapfBYJKwYBBAHaRw8BAQdAC4IsYCkCx0N2lbM0nQWu90zGYDpcHQCEafB8
FRQxgEgAAQCPgIJPRNhoJjtJF6MJZ5o1twvgv9VKC619o+wr7ZJa4A8wtA10QGV4
YW1wbGUub3JniJAEExYIADgWIQQdLvBDFy1IYC88++EpFvFFIYYevwUCaxapfAIb
AwULCQgHAgYVCgkICwIEFgIDAQIeAQIXgAAKCRApFvFFIYYev8lhAP4sEtXZUoTy
Annlw7FeE0UY7zL88slL0EXO0tF2tBKI+QEAjxs+/4ZqkDHGhOjnThnSJWt0VGSz
ClidDAtSP7MPhwicXQRrFql8EgorBgEEAZdVAQUBAQdAmrPcm2LhIgPYK0LVQ908
oFFZs8U0C/Y3l7eEnwc80VIDAQgHAAD/Ygj/cQ8s+AUtgJJMbB/HkKsc3alDUlxC
K7wJjuICfrAOjoh4BBgWCAAgFiEEHS7wQxctSGAvPPvhKRbxRSGGHr8FAmsWqXwC
GwwACgkQKRbxRSGGHr/dXQEA5bzFNwez6BnmgpD8505tgbRIuM/JZNNYkgiKv8ml
fBUBALEogTRbUDpPQDol/NNZmdbfkCmqPbes2sL6e2GkJFII
=b1Ml
-----END PGP PRIVATE KEY BLOCK-----
"""


def test_pgp_armoured_and_binary(tmp_path, gnupg_home):
    home = gnupg_home
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", "p",
           "--trust-model", "always", "--s2k-count", "65536"]
    # a throw-away key made once (ed25519, no passphrase), imported: generating one waited 7-10 s here
    subprocess.run(gpg + ["--import"], input=_TEST_KEY.encode(), check=True, capture_output=True)
    msg = tmp_path / "m.txt"
    msg.write_text("Xin chào")
    outs = {}
    for name, args in (
        ("enc.asc", ["--armor", "--encrypt", "-r", "t@example.org"]),
        ("enc.gpg", ["--encrypt", "-r", "t@example.org"]),
        ("sym.gpg", ["--symmetric"]),
        ("sig.asc", ["--armor", "--sign"]),
        ("sig.gpg", ["--sign"]),
        ("clear.asc", ["--clearsign"]),
        ("det.sig", ["--detach-sign"]),
    ):
        out = tmp_path / name
        subprocess.run(gpg + ["--output", str(out), *args, str(msg)], check=True, capture_output=True)
        outs[name] = sniff_path(out)
    assert outs == {
        "enc.asc": S.PGP_ENCRYPTED, "enc.gpg": S.PGP_ENCRYPTED, "sym.gpg": S.PGP_ENCRYPTED,
        "sig.asc": S.PGP_SIGNED, "sig.gpg": S.PGP_SIGNED, "clear.asc": S.PGP_SIGNED, "det.sig": S.PGP_SIGNED,
    }
    # an armoured encrypted block below some text (mail readers decrypt it in place)
    body = b"Kinh gui anh,\n\n" * 700 + (tmp_path / "enc.asc").read_bytes()
    assert sniff_bytes(body) == S.PGP_ENCRYPTED


def _compound_file(streams: dict[str, bytes]) -> bytes:
    """A compound file (CFB v3, 512-byte sectors) holding `streams` at its root, each at least 4,096 bytes
    (regular sectors: no mini stream), as Word, Excel and Outlook write their files."""
    import struct

    sector, end, free, fat_mark = 512, 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    chains, data, fat = [], b"", []
    for content in streams.values():
        content = content.ljust(max(4096, len(content)), b"\0")
        count = -(-len(content) // sector)
        first = len(fat)
        fat += list(range(first + 1, first + count)) + [end]
        chains.append((first, len(content)))
        data += content.ljust(count * sector, b"\0")
    entries = [("Root Entry", 5, end, 0, 1 if streams else free)]
    names = list(streams)
    for i, (name, (first, size)) in enumerate(zip(names, chains)):
        entries.append((name, 2, first, size, free))
    dir_first = len(fat)
    entry_bytes = b""
    for i, (name, kind, first, size, child) in enumerate(entries):
        encoded = name.encode("utf-16-le") + b"\0\0"
        right = i + 1 if 0 < i < len(entries) - 1 else free  # the streams as a chain of right siblings
        entry_bytes += (encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1)
                        + struct.pack("<III", free, right, child) + b"\0" * 36 + struct.pack("<IIH", first, size, 0)
                        + b"\0" * 2)
    entry_bytes = entry_bytes.ljust(-(-len(entry_bytes) // sector) * sector, b"\0")
    dir_count = len(entry_bytes) // sector
    fat += list(range(dir_first + 1, dir_first + dir_count)) + [end]
    fat_first = len(fat)
    fat.append(fat_mark)
    fat_bytes = struct.pack(f"<{len(fat)}I", *fat).ljust(sector, b"\xff")
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\0" * 10 + struct.pack("<IIIIIIII", 1, dir_first, 0, 4096, end, 0, end, 0)
              + struct.pack("<I", fat_first) + b"\xff" * (436 - 4))
    return header + data + entry_bytes + fat_bytes


def test_a_compound_file_two_programs_open_differently_is_a_polyglot():
    """A Word document that is also an Outlook message: Outlook shows its body (a file named .msg), the gateway
    read the Word text (it took the first kind it found) and signed it. One kind alone is that kind."""
    word, msg = {"WordDocument": b"W" * 5000}, {"__properties_version1.0": b"P" * 4096,
                                                 "__substg1.0_1000001F": "TỐI MẬT".encode("utf-16-le") * 400}
    assert sniff_bytes(_compound_file(word)) == S.DOC
    assert sniff_bytes(_compound_file(msg)) == S.MSG
    assert sniff_bytes(_compound_file({**word, **msg})) == S.POLYGLOT
    assert sniff_bytes(_compound_file({**word, "Workbook": b"B" * 4096})) == S.POLYGLOT
