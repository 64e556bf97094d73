"""The one content sniffer every door and the CLI share: a media type from the bytes, never from a name.

`sniff(head)` looks only at the first bytes (cheap, for a quick look); `sniff_file(fh)` refines what the
head cannot tell and is what inspection uses:
- a ZIP's members say OOXML (which of docx/docm/dotx/xlsx/xlsm/xlsb/pptx/ppsx/... from the package's main
  content type) / ODF (its `mimetype`, or its manifest) / plain archive;
- an OLE2 file's directory says Word / Excel / PowerPoint / Outlook .msg / encrypted OOXML (an
  `EncryptionInfo` + `EncryptedPackage` pair: what Office writes for a password-protected .docx/.xlsx);
- a CMS blob says signed-data vs enveloped-data (S/MIME); an OpenPGP packet or armour says encrypted vs
  signed; a text says mail message, HTML, XML (and which: flat ODF, Word/Excel 2003 XML, SVG), uuencode.

Where a reader would find something, so do we:
- a PDF header may follow up to 1024 bytes of anything (Acrobat, pdf.js and poppler accept that), so a file
  with junk before `%PDF-` is a PDF and is read as one;
- Word opens as RTF anything that starts `{\\rt` (not only `{\\rtf1`): so do we;
- poppler and MuPDF open a file as PDF even without a header in its first 1024 bytes when it holds PDF
  objects, and ZIP readers find an archive by the end-of-central-directory record at the end of a file,
  whatever precedes it. A file that two kinds of readers would open as two different things (a PDF with a
  ZIP appended, a text carrying a PDF further down, a PDF header behind an image's magic) is `POLYGLOT`:
  no reader reads it, so it is refused, never read as the harmless half.
Pure module apart from reading the file object it is given (never more than the bounds below).
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
import zipfile
from typing import BinaryIO

PDF = "application/pdf"
ZIP = "application/zip"

# OOXML: one media type per main part content type ([Content_Types].xml), macro and template variants too.
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOCM = "application/vnd.ms-word.document.macroEnabled.12"
DOTX = "application/vnd.openxmlformats-officedocument.wordprocessingml.template"
DOTM = "application/vnd.ms-word.template.macroEnabled.12"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSM = "application/vnd.ms-excel.sheet.macroEnabled.12"
XLTX = "application/vnd.openxmlformats-officedocument.spreadsheetml.template"
XLTM = "application/vnd.ms-excel.template.macroEnabled.12"
XLSB = "application/vnd.ms-excel.sheet.binary.macroEnabled.12"
XLAM = "application/vnd.ms-excel.addin.macroEnabled.12"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
PPTM = "application/vnd.ms-powerpoint.presentation.macroEnabled.12"
POTX = "application/vnd.openxmlformats-officedocument.presentationml.template"
POTM = "application/vnd.ms-powerpoint.template.macroEnabled.12"
PPSX = "application/vnd.openxmlformats-officedocument.presentationml.slideshow"
PPSM = "application/vnd.ms-powerpoint.slideshow.macroEnabled.12"
PPAM = "application/vnd.ms-powerpoint.addin.macroEnabled.12"
VSDX = "application/vnd.ms-visio.drawing"
OOXML = "application/vnd.openxmlformats-officedocument"  # an OOXML package of no known main part
XPS = "application/oxps"
EPUB = "application/epub+zip"

ODF_PREFIX = "application/vnd.oasis.opendocument."
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
ODG = "application/vnd.oasis.opendocument.graphics"
ODF = "application/vnd.oasis.opendocument"  # a package laid out as ODF whose kind it does not say
FODF = "application/vnd.oasis.opendocument.flat-xml"  # one-file ODF XML (.fodt/.fods/.fodp)
WORD_XML = "application/vnd.ms-word.xml-2003"  # Word 2003 XML (<?mso-application progid="Word.Document"?>)
EXCEL_XML = "application/vnd.ms-excel.xml-2003"  # Excel 2003 XML Spreadsheet

OLE2 = "application/x-ole-storage"  # legacy Office (or other compound file) of unknown kind
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
MSG = "application/vnd.ms-outlook"
OOXML_ENCRYPTED = "application/x-ooxml-encrypted"  # OLE2 with EncryptionInfo + EncryptedPackage
RTF = "application/rtf"
TNEF = "application/ms-tnef"
SEVENZ = "application/x-7z-compressed"
RAR = "application/vnd.rar"
TAR = "application/x-tar"
GZIP = "application/gzip"
BZIP2 = "application/x-bzip2"
XZ = "application/x-xz"
ZSTD = "application/zstd"
LZIP = "application/x-lzip"
LZ4 = "application/x-lz4"
COMPRESS = "application/x-compress"
CAB = "application/vnd.ms-cab-compressed"
AR = "application/x-archive"
CPIO = "application/x-cpio"

# CMS (RFC 5652) by content type: S/MIME signed vs enveloped (what the mail door must tell apart).
SMIME_SIGNED = "application/pkcs7-mime; smime-type=signed-data"
SMIME_ENVELOPED = "application/pkcs7-mime; smime-type=enveloped-data"
SMIME_AUTH_ENVELOPED = "application/pkcs7-mime; smime-type=authEnveloped-data"
SMIME_COMPRESSED = "application/pkcs7-mime; smime-type=compressed-data"
PKCS7 = "application/pkcs7-mime"  # DER/BER CMS of another content type
X509 = "application/pkix-cert"
# OpenPGP (RFC 4880/9580), armoured or binary.
PGP_ENCRYPTED = "application/pgp-encrypted"
PGP = PGP_ENCRYPTED  # (name kept for callers of the first version)
PGP_SIGNED = "application/pgp-signature"  # signed / compressed / literal message, clear-signed text, signature
PGP_KEYS = "application/pgp-keys"

MESSAGE = "message/rfc822"
TEXT = "text/plain"
HTML = "text/html"
XML = "application/xml"
SVG = "image/svg+xml"
UUENCODE = "text/x-uuencode"
BINHEX = "application/mac-binhex40"  # BinHex 4.0 (.hqx): no reader here (Python has none since 3.11): refused
EXECUTABLE = "application/x-msdownload"
ELF = "application/x-executable"
POLYGLOT = "application/x-polyglot"  # two kinds of readers would open two different things: refused
EMPTY = "application/x-empty"
UNKNOWN = "application/octet-stream"

PDF_WINDOW = 1024  # readers accept the header this far in
HEAD_BYTES = 8192
SCAN_BYTES = 64 * 1024 * 1024  # a text/image/unknown file is scanned this far for what hides further in
_ZIP_META_BYTES = 1024 * 1024  # [Content_Types].xml, manifest.xml, mimetype: read this far only
_OLE_DIR_BYTES = 4 * 1024 * 1024  # raw fallback when the compound file's directory cannot be parsed

# Magic at offset 0 that no text starts with. Order matters only among prefixes of each other.
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "image/jp2"),
    (b"\xd7\xcd\xc6\x9a", "image/wmf"),  # placeable WMF
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE2),
    (b"%!PS", "application/postscript"),
    (b"\x1f\x8b", GZIP),
    (b"\x1f\x9d", COMPRESS),
    (b"\xfd7zXZ\x00", XZ),
    (b"7z\xbc\xaf\x27\x1c", SEVENZ),
    (b"Rar!\x1a\x07", RAR),
    (b"\x28\xb5\x2f\xfd", ZSTD),
    (b"LZIP", LZIP),
    (b"\x04\x22\x4d\x18", LZ4),
    (b"MSCF\x00\x00\x00\x00", CAB),
    (b"!<arch>\n", AR),
    (b"070707", CPIO),
    (b"070701", CPIO),
    (b"070702", CPIO),
    (b"\xc7\x71", CPIO),
    (b"\x78\x9f\x3e\x22", TNEF),  # TNEF signature 0x223E9F78, little-endian
    (b"\x7fELF", ELF),
)
_STRONG = frozenset(m for _, m in _MAGIC) | {ZIP, RTF}

# Header names that open an Internet message (RFC 5322) — any of them on the first line, and a header
# block after it, make a text a mail message.
_MAIL_HEADERS = re.compile(
    r"(?i)^(?:return-path|received|from|to|subject|date|message-id|mime-version|content-type|x-[a-z0-9-]+|"
    r"delivered-to|reply-to|sender|cc|bcc|dkim-signature|authentication-results|arc-[a-z-]+|thread-topic|"
    r"thread-index|in-reply-to|references|user-agent|x-mailer|importance|priority)[ \t]*:"
)
_UUENCODE_BEGIN = re.compile(rb"(?m)^begin(?:-base64)? [0-7]{3,4} \S")
# Any header field line (RFC 5322 field name) or a folded continuation: a message may start with a header
# the list above does not name ("Organization:", "Disposition-Notification-To:" ...).
_FIELD_LINE = re.compile(r"^(?:[!-9;-~]+[ \t]*:|[ \t])")
_UUENCODE_BEGIN_S = re.compile(r"(?m)^begin(?:-base64)? [0-7]{3,4} \S")
# BinHex 4.0: its comment line, or a full 64-character line of its alphabet after ":" (decoders such as
# uudeview find it without the comment).
_BINHEX_S = re.compile(r"(?mi)^\(This file must be converted with BinHex|"
                       r"^:[!-,\-0-689@A-NP-VX-Z\[`a-fh-mp-r]{63}\r?$")
_BINHEX = re.compile(_BINHEX_S.pattern.encode())


def binhex_in(data: bytes) -> bool:
    """Whether a BinHex 4.0 file is anywhere in `data` (a text in an ASCII-compatible encoding)."""
    return _BINHEX.search(data) is not None
# What browsers take for HTML (WHATWG MIME sniffing, "text/html" patterns), after leading blanks.
_HTML_START = re.compile(
    r"(?i)^<(?:!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|!--)[\s>]"
)
_PGP_ARMOUR = re.compile(r"(?m)^-----BEGIN PGP ([A-Z ,0-9/]+)-----[ \t]*\r?$")
_PGP_ARMOUR_B = re.compile(rb"(?m)^-----BEGIN PGP ([A-Z ,0-9/]+)-----[ \t]*\r?$")
_CMS_ARMOUR = re.compile(r"(?m)^-----BEGIN (PKCS7|CMS)-----[ \t]*\r?$")

# CMS content types (DER of the OID, after the 06 tag and length).
_CMS_OIDS = {
    bytes.fromhex("2a864886f70d010702"): SMIME_SIGNED,
    bytes.fromhex("2a864886f70d010703"): SMIME_ENVELOPED,
    bytes.fromhex("2a864886f70d0109100117"): SMIME_AUTH_ENVELOPED,
    bytes.fromhex("2a864886f70d0109100109"): SMIME_COMPRESSED,
}

# OOXML main part content type -> media type.
_OOXML_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.ms-word.document.macroenabled.main+xml": DOCM,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml": DOTX,
    "application/vnd.ms-word.template.macroenabledtemplate.main+xml": DOTM,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
    "application/vnd.ms-excel.sheet.macroenabled.main+xml": XLSM,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": XLTX,
    "application/vnd.ms-excel.template.macroenabled.main+xml": XLTM,
    "application/vnd.ms-excel.sheet.binary.macroenabled.main": XLSB,
    "application/vnd.ms-excel.addin.macroenabled.main+xml": XLAM,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": PPTX,
    "application/vnd.ms-powerpoint.presentation.macroenabled.main+xml": PPTM,
    "application/vnd.openxmlformats-officedocument.presentationml.template.main+xml": POTX,
    "application/vnd.ms-powerpoint.template.macroenabled.main+xml": POTM,
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml": PPSX,
    "application/vnd.ms-powerpoint.slideshow.macroenabled.main+xml": PPSM,
    "application/vnd.ms-powerpoint.addin.macroenabled.main+xml": PPAM,
    "application/vnd.ms-visio.drawing.main+xml": VSDX,
}
_CONTENT_TYPE_ATTR = re.compile(r"""(?i)ContentType\s*=\s*["']([^"']+)["']""")

WORD_TYPES = frozenset({DOCX, DOCM, DOTX, DOTM})
SHEET_TYPES = frozenset({XLSX, XLSM, XLTX, XLTM, XLAM})
SLIDE_TYPES = frozenset({PPTX, PPTM, POTX, POTM, PPSX, PPSM, PPAM})
OOXML_TYPES = WORD_TYPES | SHEET_TYPES | SLIDE_TYPES | {XLSB, VSDX, OOXML}
MACRO_TYPES = frozenset({DOCM, DOTM, XLSM, XLTM, XLSB, XLAM, PPTM, POTM, PPSM, PPAM})
LEGACY_OFFICE = frozenset({DOC, XLS, PPT})


def is_ooxml(media: str) -> bool:
    return media in OOXML_TYPES


def is_odf(media: str) -> bool:
    return media == ODF or media.startswith(ODF_PREFIX)


# --- the head ----------------------------------------------------------------------------------------------


def sniff(head: bytes) -> str:
    """A media type from the first bytes alone (see `sniff_file` for the refined answer)."""
    if not head:
        return EMPTY
    # An archive is an archive even when a PDF it stores uncompressed puts "%PDF-" within the PDF window (a
    # zip or tar whose first member is a stored PDF): read as a PDF, the other members would go unread; read
    # as the archive, that PDF is read as a member. Any other magic with a PDF header behind it: POLYGLOT.
    strong = _magic(head)
    pdf_at = head.find(b"%PDF-", 0, PDF_WINDOW + 5)
    if pdf_at == 0:
        return PDF
    if pdf_at > 0:
        if strong is None:
            return PDF
        return strong if strong in _ARCHIVE_TYPES or strong.startswith(("application/vnd.openxml", ODF_PREFIX)) else POLYGLOT
    if strong is not None:
        return strong
    return _text_type(head)


def _magic(head: bytes) -> str | None:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _zip_from_head(head)
    archive = _archive_magic(head)
    if archive is not None:
        return archive
    for magic, media in _MAGIC:
        if head.startswith(magic):
            return media
    if head.startswith(b"{\\rt"):  # Word takes any "{\rt..." for RTF
        return RTF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1"):
            return "image/heic"
        if brand in (b"avif", b"avis"):
            return "image/avif"
    if head[:2] == b"BM" and len(head) >= 18 and struct.unpack("<I", head[14:18])[0] in (12, 40, 52, 56, 64, 108, 124):
        return "image/bmp"
    if head[:4] == b"\x01\x00\x00\x00" and head[40:44] == b" EMF":
        return "image/emf"
    if head[:6] in (b"\x01\x00\x09\x00\x00\x03", b"\x02\x00\x09\x00\x00\x03"):
        return "image/wmf"
    if head[:2] == b"MZ":
        return EXECUTABLE
    cms = _cms_type(head)
    if cms is not None:
        return cms
    pgp = _pgp_binary(head)
    if pgp is not None:
        return pgp
    return None


_ARCHIVE_TYPES = frozenset({ZIP, SEVENZ, RAR, GZIP, XZ, TNEF, BZIP2, TAR})
_ARCHIVE_MAGIC = (
    (b"7z\xbc\xaf\x27\x1c", SEVENZ),
    (b"Rar!\x1a\x07", RAR),
    (b"\x1f\x8b", GZIP),
    (b"\xfd7zXZ\x00", XZ),
    (b"\x78\x9f\x3e\x22", TNEF),
)


def _archive_magic(head: bytes) -> str | None:
    for magic, media in _ARCHIVE_MAGIC:
        if head.startswith(magic):
            return media
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[4:10] == b"1AY&SY":
        return BZIP2
    if _tar_header(head):
        return TAR
    return None


def _tar_header(head: bytes) -> bool:
    """A tar header block at offset 0: "ustar" magic, or (old V7 archives) a checksum that adds up."""
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar":
        return True
    field = head[148:156].replace(b"\x00", b" ").strip()
    if not field or not all(48 <= c <= 55 for c in field) or not head[0:1].strip(b"\x00"):
        return False
    # The checksum counts its own 8 bytes as spaces.
    total = sum(head[:148]) + 8 * 32 + sum(head[156:512])
    return int(field, 8) == total


def _zip_from_head(head: bytes) -> str:
    if head.startswith(b"PK\x03\x04") and head[30:38] == b"mimetype":
        kind = head[38:120].split(b"PK", 1)[0].decode("ascii", "replace").strip()
        if kind.startswith(ODF_PREFIX):
            return kind
        if kind == EPUB:
            return EPUB
    if b"[Content_Types].xml" in head or b"_rels/" in head:
        for prefix, media in ((b"word/", DOCX), (b"xl/", XLSX), (b"ppt/", PPTX)):
            if prefix in head:
                return media
        return OOXML
    return ZIP


def _der_length(data: bytes, i: int) -> tuple[int | None, int]:
    """(length, index after the length octets); length None for BER indefinite."""
    if i >= len(data):
        return -1, i
    first = data[i]
    if first < 0x80:
        return first, i + 1
    if first == 0x80:
        return None, i + 1
    n = first & 0x7F
    if n > 4 or i + 1 + n > len(data):
        return -1, i
    return int.from_bytes(data[i + 1 : i + 1 + n], "big"), i + 1 + n


def _cms_type(head: bytes) -> str | None:
    """ContentInfo ::= SEQUENCE { contentType OID, [0] content } — or an X.509 certificate."""
    if len(head) < 12 or head[0] != 0x30:
        return None
    length, i = _der_length(head, 1)
    if length == -1:
        return None
    if head[i : i + 1] == b"\x06":
        oid_len = head[i + 1] if i + 1 < len(head) else 0
        oid = head[i + 2 : i + 2 + oid_len]
        if oid.startswith(bytes.fromhex("2a864886f70d0107")) or oid.startswith(bytes.fromhex("2a864886f70d01091001")):
            return _CMS_OIDS.get(oid, PKCS7)
        return None
    if head[i : i + 1] == b"\x30" and head[i + 2 : i + 7] in (b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x01"):
        return X509
    _, j = _der_length(head, i + 1)
    if head[i : i + 1] == b"\x30" and head[j : j + 5] == b"\xa0\x03\x02\x01\x02":
        return X509
    return None


def _pgp_binary(head: bytes) -> str | None:
    """The first OpenPGP packet: its tag and its version byte must both be plausible."""
    b = head[0]
    if not b & 0x80:
        return None
    if b & 0x40:  # new format
        tag = b & 0x3F
        first = head[1] if len(head) > 1 else 0
        body = 2 if first < 192 else 3 if first < 224 else 6 if first == 255 else 2
    else:
        tag = (b >> 2) & 0x0F
        body = {0: 2, 1: 3, 2: 5, 3: 1}[b & 0x03]
    version = head[body] if len(head) > body else -1
    if tag == 1 and version in (3, 6):  # public-key encrypted session key
        return PGP_ENCRYPTED
    if tag == 3 and version in (4, 5, 6):  # symmetric-key encrypted session key
        return PGP_ENCRYPTED
    if tag == 4 and version in (3, 6):  # one-pass signature
        return PGP_SIGNED
    if tag == 2 and version in (3, 4, 5, 6):
        return PGP_SIGNED
    if tag == 8 and version in (0, 1, 2, 3):  # compressed data: its algorithm byte
        return PGP_SIGNED
    if tag in (6, 5) and version in (3, 4, 5, 6):
        return PGP_KEYS
    return None


# --- text ----------------------------------------------------------------------------------------------------


def text_encoding(head: bytes) -> str | None:
    """The encoding a text's head shows by a byte-order mark or by its zero bytes (UTF-16/32 without a
    mark), else None (8-bit or UTF-8: the text reader decides)."""
    for bom, codec in (
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if head.startswith(bom):
            return codec
    sample = head[: len(head) & ~3]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    zeros_even, zeros_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if sample[1::4].count(0) == len(sample) // 4 and sample[2::4].count(0) == len(sample) // 4 and zeros_odd > 0.9:
        return "utf-32-le"
    if zeros_odd > 0.3 and zeros_even < 0.02:
        return "utf-16-le"
    if zeros_even > 0.3 and zeros_odd < 0.02:
        return "utf-16-be"
    return None


def _decode_head(head: bytes, codec: str | None) -> str | None:
    if codec is None:
        return None
    size = len(head) - len(head) % (4 if "32" in codec else 2)
    return head[:size].decode(codec, "replace")


def _text_type(head: bytes) -> str:
    codec = text_encoding(head)
    if codec not in (None, "utf-8-sig"):
        sample = _decode_head(head, codec) or ""
        if "\x00" in sample:
            return UNKNOWN
    else:
        raw = head[3:] if codec == "utf-8-sig" else head
        if b"\x00" in raw:
            return UNKNOWN
        sample = raw.decode("latin-1")  # only ASCII structure is looked at below
    kind = _text_kind(sample, truncated=len(head) >= HEAD_BYTES)
    if kind is not None:
        return kind
    # Text in any 8-bit encoding is still text (Vietnamese in Windows-1258, TCVN3 ...): the text reader
    # decides the encoding. Mostly control characters is not text.
    controls = sum(1 for c in sample if ord(c) < 32 and c not in "\t\n\x0c\r\x1b")
    return TEXT if controls * 20 < max(len(sample), 1) else UNKNOWN


def _text_kind(sample: str, truncated: bool) -> str | None:
    if _MAIL_HEADERS.match(sample) and ("\n\n" in sample or "\r\n\r\n" in sample or truncated):
        return MESSAGE
    if _is_header_block(sample):
        return MESSAGE
    if sample.startswith("From ") and "\n" in sample:  # an mbox "From " line before the headers
        rest = sample[sample.index("\n") + 1 :]
        if _MAIL_HEADERS.match(rest) and ("\n\n" in rest or "\r\n\r\n" in rest):
            return MESSAGE
    pgp = _pgp_armour(sample)
    if pgp is not None:
        return pgp
    cms = _CMS_ARMOUR.search(sample)
    if cms is not None:
        return _pem_cms(sample[cms.end() :]) or PKCS7
    stripped = sample.lstrip()
    low = stripped[:2048].lower()
    if low.startswith("<?xml") or low.startswith("<?mso-application"):
        return _xml_kind(sample[:HEAD_BYTES].lower())
    if low.startswith("<svg"):
        return SVG
    if _HTML_START.match(low) or "<html" in low[:1024]:
        return HTML
    if low.startswith("<office:document"):
        return FODF
    if _UUENCODE_BEGIN_S.search(sample):
        return UUENCODE
    if _BINHEX_S.search(sample):
        return BINHEX
    return None


def _is_header_block(sample: str) -> bool:
    """A block of header fields ending in a blank line, one of them a known mail header (the mail reader)."""
    lines = sample.replace("\r\n", "\n").split("\n")
    if "" not in lines[1:] or not _FIELD_LINE.match(lines[0]) or lines[0][:1] in (" ", "\t"):
        return False
    block = lines[: lines.index("", 1)]
    return all(_FIELD_LINE.match(line) for line in block) and any(_MAIL_HEADERS.match(line) for line in block)


def _xml_kind(low: str) -> str:
    if "<html" in low[:1024]:
        return HTML
    if "<office:document" in low:
        return FODF
    if 'progid="word.document"' in low or "<w:worddocument" in low:
        return WORD_XML
    if 'progid="excel.sheet"' in low or "urn:schemas-microsoft-com:office:spreadsheet" in low:
        return EXCEL_XML
    if "<svg" in low[:2048]:
        return SVG
    return XML


def _pgp_armour(sample: str) -> str | None:
    """Armoured OpenPGP: a MESSAGE is told apart by its first packet (encrypted session key or not)."""
    found = None
    for m in _PGP_ARMOUR.finditer(sample):
        label = m.group(1)
        if label.startswith("MESSAGE"):
            kind = _armoured_packet(sample[m.end() :]) or PGP_ENCRYPTED  # undecidable: the stricter
        elif label.startswith(("SIGNED MESSAGE", "SIGNATURE")):
            kind = PGP_SIGNED
        elif label.startswith(("PUBLIC KEY", "PRIVATE KEY", "SECRET KEY")):
            kind = PGP_KEYS
        else:
            kind = PGP_ENCRYPTED
        if kind == PGP_ENCRYPTED:
            return kind
        found = found or kind
    return found


def _armour_body(rest: str) -> bytes | None:
    lines = rest.replace("\r", "").split("\n")[1:]
    # Armour headers ("Version: ...", "Comment: ...") end at the first blank line.
    if any(":" in l for l in lines[:1]) or (lines and lines[0].strip() == ""):
        while lines and lines[0].strip():
            lines.pop(0)
    # Body lines only: not the "=CRC" line (base64 text never starts with "=") nor the END line. The first
    # 64 characters decode to 48 bytes: enough for the first packet header and never padded.
    body = "".join(l.strip() for l in lines[:12] if l.strip() and not l.startswith(("-----", "=")))
    body = body[:64] if len(body) >= 64 else body[: len(body) - len(body) % 4]
    try:
        return base64.b64decode(body, validate=False)
    except (binascii.Error, ValueError):
        return None


def _armoured_packet(rest: str) -> str | None:
    data = _armour_body(rest)
    return _pgp_binary(data) if data else None


def _pem_cms(rest: str) -> str | None:
    data = _armour_body(rest)
    return _cms_type(data) if data else None


# --- the whole file -------------------------------------------------------------------------------------------


def sniff_file(fh: BinaryIO, head: bytes | None = None) -> str:
    """The media type of an open binary file, by content. The file position is left undefined."""
    if head is None:
        fh.seek(0)
        head = fh.read(HEAD_BYTES)
    media = sniff(head)
    if media == ZIP or is_ooxml(media) or is_odf(media) or media == EPUB:
        return _zip_kind(fh, media)
    if media == OLE2:
        return _ole_kind(fh)
    if media == PDF:
        return POLYGLOT if _zip_at_end(fh) else PDF
    if media in (TEXT, HTML, XML, SVG, UNKNOWN, UUENCODE, BINHEX) or media.startswith("image/"):
        return _scan_further(fh, media, head)
    return media


def _zip_at_end(fh: BinaryIO) -> bool:
    """A ZIP end-of-central-directory record at the end: ZIP readers would open the file as an archive."""
    try:
        fh.seek(0)
        return zipfile.is_zipfile(fh)
    except (OSError, ValueError):
        return False


def _scan_further(fh: BinaryIO, media: str, head: bytes) -> str:
    """What the head did not show: a PDF or a ZIP further in (a polyglot), and in a text an armoured PGP
    message or a uuencoded file further down (mail readers show both as what they decode to)."""
    if _zip_at_end(fh):
        return POLYGLOT
    textual = media in (TEXT, HTML, XML, SVG, UUENCODE, BINHEX)
    codec = text_encoding(head) if textual else None
    wide = codec is not None and codec.startswith("utf-16") or (codec or "").startswith("utf-32")
    fh.seek(0)
    seen = 0
    tail = b""
    pgp = None
    uu = media == UUENCODE
    binhex = media == BINHEX
    pdf_objects = {b"endobj": False, b"startxref": False, b"trailer": False}
    while seen < SCAN_BYTES:
        chunk = fh.read(1024 * 1024)
        if not chunk:
            break
        seen += len(chunk)
        window = tail + chunk
        if wide:  # the markers below are ASCII: look at the text decoded (UTF-16/32)
            window = _decode_head(window, codec).encode("latin-1", "ignore")
        if b"%PDF-" in window:
            return POLYGLOT
        if textual:
            for marker in pdf_objects:
                pdf_objects[marker] = pdf_objects[marker] or marker in window
            if pdf_objects[b"endobj"] and (pdf_objects[b"startxref"] or pdf_objects[b"trailer"]):
                return POLYGLOT  # PDF objects without a header: poppler and MuPDF rebuild and show them
            for m in _PGP_ARMOUR_B.finditer(window):
                kind = _pgp_armour(window[m.start() :].decode("latin-1"))
                if kind == PGP_ENCRYPTED:
                    return PGP_ENCRYPTED
                pgp = pgp or kind
            uu = uu or bool(_UUENCODE_BEGIN.search(window))
            binhex = binhex or bool(_BINHEX.search(window))
        tail = chunk[-4096:]
    if pgp is not None:
        return pgp
    if binhex:  # before uuencode: a uuencoded file is read, a BinHex one is not
        return BINHEX
    if uu:
        return UUENCODE
    return media


def _read_member(zf: zipfile.ZipFile, name: str, limit: int = _ZIP_META_BYTES) -> bytes:
    with zf.open(name) as m:
        return m.read(limit)


def _zip_kind(fh: BinaryIO, guess: str) -> str:
    """OOXML and ODF by their package members (the head only shows the first local header)."""
    try:
        fh.seek(0)
        with zipfile.ZipFile(fh) as zf:
            names = set(zf.namelist())
            if "mimetype" in names:
                kind = _read_member(zf, "mimetype", 200).decode("ascii", "replace").strip()
                if kind.startswith(ODF_PREFIX):
                    return kind
                if kind == EPUB:
                    return EPUB
            if "[Content_Types].xml" in names:
                types = _read_member(zf, "[Content_Types].xml").decode("utf-8", "replace")
                for ct in _CONTENT_TYPE_ATTR.findall(types):
                    media = _OOXML_MAIN.get(ct.strip().lower())
                    if media is not None:
                        return media
                if "application/vnd.ms-package.xps-fixeddocumentsequence+xml" in types.lower():
                    return XPS
            # By layout: a package whose [Content_Types].xml is missing or names no known main part is still
            # what Office (which repairs) or LibreOffice (which detects by content) would open it as.
            if "word/document.xml" in names:
                return DOCX
            if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
                return XLSX
            if "ppt/presentation.xml" in names:
                return PPTX
            if "content.xml" in names and any(n in names for n in ("META-INF/manifest.xml", "styles.xml", "meta.xml")):
                return _odf_from_manifest(zf, names)
            if "[Content_Types].xml" in names:
                return OOXML
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError, KeyError, EOFError):
        return guess  # a damaged package: its reader will say it cannot be read
    return ZIP


def _odf_from_manifest(zf: zipfile.ZipFile, names: set[str]) -> str:
    if "META-INF/manifest.xml" in names:
        manifest = _read_member(zf, "META-INF/manifest.xml").decode("utf-8", "replace")
        m = re.search(r'full-path="/"[^>]*?media-type="([^"]+)"|media-type="([^"]+)"[^>]*?full-path="/"', manifest)
        if m:
            kind = (m.group(1) or m.group(2)).strip()
            if kind.startswith(ODF_PREFIX):
                return kind
    return ODF


# Compound-file stream names -> legacy types (first match wins; encrypted OOXML before everything).
_OLE_KINDS = (
    ("WordDocument", DOC),
    ("Workbook", XLS),
    ("Book", XLS),
    ("PowerPoint Document", PPT),
    ("__properties_version1.0", MSG),
)


def _ole_kind(fh: BinaryIO) -> str:
    """Word / Excel / PowerPoint / Outlook .msg / encrypted OOXML from the compound file's directory."""
    names = _ole_names(fh)
    if names is None:  # directory unreadable by olefile: look for the names in the raw bytes (UTF-16LE)
        fh.seek(0)
        data = fh.read(_OLE_DIR_BYTES)
        names = {n for n in ("EncryptionInfo", "EncryptedPackage", *(k for k, _ in _OLE_KINDS), "__substg1.0_")
                 if n.encode("utf-16-le") in data}
    if "EncryptionInfo" in names and "EncryptedPackage" in names:
        return OOXML_ENCRYPTED
    kinds = {media for name, media in _OLE_KINDS if name in names}
    if any(n.startswith("__substg1.0_") for n in names):
        kinds.add(MSG)
    if len(kinds) > 1:
        # a Word document that is also an Outlook message (or a workbook): each program opens what it looks
        # for, and a file named .msg shows Outlook's body while the gateway would read the Word text
        return POLYGLOT
    return kinds.pop() if kinds else OLE2


def _ole_names(fh: BinaryIO) -> set[str] | None:
    """Top-level stream and storage names of a compound file (olefile), or None when it cannot say."""
    try:
        import olefile
    except ImportError:  # pragma: no cover - a dependency
        return None
    try:
        fh.seek(0)
        ole = olefile.OleFileIO(fh)
        try:
            return {entry[0] for entry in ole.listdir(streams=True, storages=True) if entry}
        finally:
            ole.close()
    except Exception:  # noqa: BLE001 - olefile raises many kinds on hostile input; fall back to raw bytes
        return None


def is_container(media: str) -> bool:
    return media in CONTAINERS


CONTAINERS = frozenset(
    {ZIP, SEVENZ, RAR, TAR, GZIP, BZIP2, XZ, TNEF, MESSAGE, MSG, UUENCODE, PKCS7, SMIME_SIGNED, SMIME_ENVELOPED,
     SMIME_AUTH_ENVELOPED, SMIME_COMPRESSED, PGP_ENCRYPTED, PGP_SIGNED, ZSTD, LZIP, LZ4, COMPRESS, CAB, AR, CPIO}
)

__all__ = [name for name in dir() if name.isupper()] + [
    "sniff", "sniff_file", "is_container", "is_ooxml", "is_odf", "text_encoding",
]
