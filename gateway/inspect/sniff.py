"""The one content sniffer every door and the CLI share: a media type from the bytes, never from a name.

`sniff(head)` looks only at the first bytes (cheap, for a quick look); `sniff_file(fh)` refines what the
head cannot tell (a ZIP's members say OOXML / ODF / plain archive; an OLE2 file's streams say Word / Excel
/ PowerPoint / Outlook; text says mail message, HTML, uuencode, PGP) and is what inspection uses.

Where a PDF reader would find a PDF, so do we: the header may follow up to 1024 bytes of anything (Acrobat,
pdf.js and poppler all accept that), so a file with junk before `%PDF-` is a PDF and is read as one.
Pure module apart from reading the file object it is given.
"""

from __future__ import annotations

import re
import zipfile
from typing import BinaryIO

PDF = "application/pdf"
ZIP = "application/zip"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
OOXML = "application/vnd.openxmlformats-officedocument"  # an OOXML package of no known main part
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
ODP = "application/vnd.oasis.opendocument.presentation"
OLE2 = "application/x-ole-storage"  # legacy Office of unknown kind
DOC = "application/msword"
XLS = "application/vnd.ms-excel"
PPT = "application/vnd.ms-powerpoint"
MSG = "application/vnd.ms-outlook"
RTF = "application/rtf"
TNEF = "application/ms-tnef"
SEVENZ = "application/x-7z-compressed"
RAR = "application/vnd.rar"
TAR = "application/x-tar"
GZIP = "application/gzip"
BZIP2 = "application/x-bzip2"
XZ = "application/x-xz"
PKCS7 = "application/pkcs7-mime"  # DER CMS: S/MIME enveloped or signed-data, a .p7s / .p7m
PGP = "application/pgp-encrypted"
MESSAGE = "message/rfc822"
TEXT = "text/plain"
HTML = "text/html"
XML = "application/xml"
UUENCODE = "text/x-uuencode"
EMPTY = "application/x-empty"
UNKNOWN = "application/octet-stream"

PDF_WINDOW = 1024  # readers accept the header this far in
HEAD_BYTES = 8192

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"BM", "image/bmp"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE2),
    (b"{\\rtf", RTF),
    (b"%!PS", "application/postscript"),
    (b"\x1f\x8b", GZIP),
    (b"BZh", BZIP2),
    (b"\xfd7zXZ\x00", XZ),
    (b"7z\xbc\xaf\x27\x1c", SEVENZ),
    (b"Rar!\x1a\x07", RAR),
    (b"\x78\x9f\x3e\x22", TNEF),  # TNEF signature 0x223E9F78, little-endian
    (b"-----BEGIN PGP", PGP),
)

# Header names that open an Internet message (RFC 5322) — any of them on the first line, and a header
# block after it, make a text a mail message.
_MAIL_HEADERS = re.compile(
    rb"(?i)^(?:return-path|received|from|to|subject|date|message-id|mime-version|content-type|x-[a-z0-9-]+|"
    rb"delivered-to|reply-to|sender|cc|bcc|dkim-signature|authentication-results|arc-[a-z-]+|thread-topic|"
    rb"thread-index|in-reply-to|references|user-agent|x-mailer|importance|priority)[ \t]*:"
)
_UUENCODE_BEGIN = re.compile(rb"(?m)^begin(?:-base64)? [0-7]{3,4} \S")
# Any header field line (RFC 5322 field name) or a folded continuation: a message may start with a header
# the list above does not name ("Organization:", "Disposition-Notification-To:" ...).
_FIELD_LINE = re.compile(rb"^(?:[!-9;-~]+[ \t]*:|[ \t])")


def sniff(head: bytes) -> str:
    """A media type from the first bytes alone (see `sniff_file` for the refined answer)."""
    if not head:
        return EMPTY
    # An archive is an archive even when a PDF it stores uncompressed puts "%PDF-" within the PDF window (a
    # zip or tar whose first member is a stored PDF): read as a PDF, the other members would go unread.
    # (containers: gateway.inspect reads such a polyglot as the archive and also as a PDF, for marks.)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _zip_from_head(head)
    archive = _archive_magic(head)
    if archive is not None:
        return archive
    if b"%PDF-" in head[: PDF_WINDOW + 5]:
        return PDF
    for magic, media in _MAGIC:
        if head.startswith(magic):
            return media
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) > 262 and head[257:262] == b"ustar":
        return TAR
    if head[:2] == b"0\x82" or head[:2] == b"0\x80":  # DER / BER SEQUENCE: CMS (.p7m, .p7s) or a certificate
        return PKCS7
    return _text_type(head)


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
    if b"mimetypeapplication/vnd.oasis.opendocument." in head[:200]:
        end = head.find(b"PK", 38)
        kind = head[38 : end if end > 0 else 120].decode("ascii", "replace")
        return kind if kind.startswith("application/vnd.oasis.opendocument.") else ODT
    if b"[Content_Types].xml" in head or b"_rels/" in head:
        for prefix, media in ((b"word/", DOCX), (b"xl/", XLSX), (b"ppt/", PPTX)):
            if prefix in head:
                return media
        return OOXML
    return ZIP


def _text_type(head: bytes) -> str:
    sample = head.lstrip(b"\xef\xbb\xbf")
    if b"\x00" in sample:
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return TEXT  # UTF-16 with a byte-order mark
        return UNKNOWN
    if _MAIL_HEADERS.match(sample) and (b"\n\n" in sample or b"\r\n\r\n" in sample or len(sample) >= HEAD_BYTES):
        return MESSAGE
    if _is_header_block(sample):
        return MESSAGE
    if sample.startswith(b"From ") and b"\n" in sample:  # an mbox "From " line before the headers
        rest = sample[sample.index(b"\n") + 1 :]
        if _MAIL_HEADERS.match(rest) and (b"\n\n" in rest or b"\r\n\r\n" in rest):
            return MESSAGE
    low = sample.lstrip()[:200].lower()
    if low.startswith(b"<?xml"):
        return HTML if b"<html" in sample[:1024].lower() else XML
    if low.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<div", b"<p>", b"<table")):
        return HTML
    if b"-----BEGIN PGP" in sample[:1024]:
        return PGP
    if _UUENCODE_BEGIN.search(sample):
        return UUENCODE
    # Text in any 8-bit encoding is still text (Vietnamese in Windows-1258, TCVN3 ...): the text reader
    # decides the encoding. Mostly control characters is not text.
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return TEXT if controls * 20 < max(len(sample), 1) else UNKNOWN


def _is_header_block(sample: bytes) -> bool:
    """A block of header fields ending in a blank line, one of them a known mail header (the mail reader)."""
    lines = sample.replace(b"\r\n", b"\n").split(b"\n")
    if b"" not in lines[1:] or not _FIELD_LINE.match(lines[0]) or lines[0][:1] in (b" ", b"\t"):
        return False
    block = lines[: lines.index(b"", 1)]
    return all(_FIELD_LINE.match(line) for line in block) and any(_MAIL_HEADERS.match(line) for line in block)


def sniff_file(fh: BinaryIO, head: bytes | None = None) -> str:
    """The media type of an open binary file, by content. The file position is left undefined."""
    if head is None:
        fh.seek(0)
        head = fh.read(HEAD_BYTES)
    media = sniff(head)
    if media in (ZIP, OOXML, DOCX, XLSX, PPTX) or media.startswith("application/vnd.oasis.opendocument."):
        return _zip_kind(fh, media)
    if media == OLE2:
        return _ole_kind(fh)
    return media


def _zip_kind(fh: BinaryIO, guess: str) -> str:
    """OOXML and ODF by their package members (the head only shows the first local header)."""
    try:
        fh.seek(0)
        with zipfile.ZipFile(fh) as zf:
            names = set(zf.namelist())
            if "mimetype" in names:
                with zf.open("mimetype") as m:
                    kind = m.read(100).decode("ascii", "replace").strip()
                if kind.startswith("application/vnd.oasis.opendocument."):
                    return kind
            if "[Content_Types].xml" in names:
                if "word/document.xml" in names or any(n.startswith("word/") for n in names):
                    return DOCX
                if "xl/workbook.xml" in names or any(n.startswith("xl/") for n in names):
                    return XLSX
                if "ppt/presentation.xml" in names or any(n.startswith("ppt/") for n in names):
                    return PPTX
                return OOXML
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, NotImplementedError, KeyError, EOFError):
        return guess  # a damaged package: its reader will say it cannot be read
    return ZIP


def _ole_kind(fh: BinaryIO) -> str:
    """Word / Excel / PowerPoint / Outlook .msg from the OLE2 directory's stream names (UTF-16LE)."""
    fh.seek(0)
    data = fh.read(4 * 1024 * 1024)  # directory sectors of ordinary files lie well within this
    for name, media in (
        ("WordDocument", DOC),
        ("Workbook", XLS),
        ("Book", XLS),
        ("PowerPoint Document", PPT),
        ("__substg1.0_", MSG),
    ):
        if name.encode("utf-16-le") in data:
            return media
    return OLE2


def is_container(media: str) -> bool:
    return media in CONTAINERS


CONTAINERS = frozenset({ZIP, SEVENZ, RAR, TAR, GZIP, BZIP2, XZ, TNEF, MESSAGE, MSG, UUENCODE, PKCS7, PGP})

__all__ = [name for name in dir() if name.isupper()] + ["sniff", "sniff_file", "is_container"]
