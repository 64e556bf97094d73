"""iCalendar (meeting requests, .ics: RFC 5545) and vCard (contact cards, .vcf: vCard 2.1, RFC 2426, RFC 6350)
as a client shows them.

- Text: each property's value, unfolded and unescaped, one per line (an escaped line break a line break).
  Folding (a line break and one blank) may fall anywhere, inside a word or a UTF-8 character ("TỐI M" /
  " ẬT"); vCard 2.1 writes quoted-printable values with soft line breaks.
- Files the text carries inline: Outlook imports an event's `ATTACH;VALUE=BINARY;ENCODING=BASE64` as an
  attachment of the appointment, and every contacts program shows a card's `PHOTO` / `LOGO` (`ENCODING=b`,
  `ENCODING=BASE64`, or a `data:` URI in vCard 4). Each is decoded and handed to the caller as a member, read
  like any document (a PDF attached to an invitation, a picture of a stamp as a contact's photo). An HTML
  description (`X-ALT-DESC;FMTTYPE=text/html`, RFC 9073's `STYLED-DESCRIPTION`), which Outlook shows instead
  of the plain one, is a member too, read as HTML (entities, styles, its own pictures).
- Fail closed: an inline value that does not decode, or more than MAX_FILES of them, makes the text
  unreadable (`Calendar.unreadable`), never skipped.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass

_CONTACT_OR_EVENT = re.compile(rb"^\s*BEGIN:(?:VCALENDAR|VCARD|VEVENT|VTODO|VJOURNAL)\b", re.IGNORECASE)
_FOLD = re.compile(rb"\r?\n[ \t]")
_QP_SOFT = re.compile(rb"=\r?\n")
_ESCAPED = re.compile(r"\\([nN,;:\\])")
_BASE64_LINE = re.compile(rb"^[A-Za-z0-9+/=\s]+$")  # vCard 2.1 writers continue a base64 value unindented
_DATA_URI = re.compile(rb"^\s*data:", re.IGNORECASE)
_PICTURES = {b"PHOTO", b"LOGO"}  # shown in place: "inline"; anything else carried is a file: "embedded"
MAX_FILES = 200


@dataclass(frozen=True)
class File:
    """A file carried inline: its bytes, the media type it declares, the property and its file name."""

    data: bytes
    media_type: str
    prop: str
    name: str = ""

    @property
    def role(self) -> str:
        return "inline" if self.prop.upper().encode() in _PICTURES else "embedded"


@dataclass(frozen=True)
class Calendar:
    text: str  # the values as shown, one per line
    files: tuple[File, ...] = ()
    unreadable: str | None = None  # why an inline value could not be read


def read(data: bytes) -> Calendar | None:
    """The iCalendar or vCard in `data` as a client shows it, or None when `data` is neither."""
    if not _CONTACT_OR_EVENT.match(data[:4096]):
        return None
    out: list[str] = []
    files: list[File] = []
    problem: str | None = None
    lines = _FOLD.sub(b"", data).splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        head, value = _property(line)
        name, params = _params(head)
        encoding = params.get(b"ENCODING", b"").upper()
        if encoding in (b"B", b"BASE64"):
            while i < len(lines) and lines[i].strip() and b":" not in lines[i] and _BASE64_LINE.match(lines[i]):
                value += lines[i]
                i += 1
            try:
                raw = base64.b64decode(re.sub(rb"\s+", b"", value), validate=True)
            except (binascii.Error, ValueError):
                problem = problem or f"{name.decode('ascii', 'replace')}: an inline value that does not decode"
                continue
            files.append(_file(raw, name, params))
            continue
        if encoding == b"QUOTED-PRINTABLE":
            while value.endswith(b"=") and i < len(lines):  # a soft line break: the value goes on
                value = value[:-1] + lines[i]
                i += 1
            value = quopri.decodestring(_QP_SOFT.sub(b"", value))
        elif params.get(b"VALUE", b"").upper() == b"BINARY":  # binary without a base64 encoding: nobody decodes it
            problem = problem or f"{name.decode('ascii', 'replace')}: a binary value without an encoding"
            continue
        if _DATA_URI.match(value):
            from gateway.inspect.text import data_uris

            found = data_uris(value.decode("ascii", "replace").strip())
            if not found:
                problem = problem or f"{name.decode('ascii', 'replace')}: a data: URI that cannot be decoded"
                continue
            files += [File(raw, media, name.decode("ascii", "replace")) for media, raw in found]
            continue
        text = _decode(value) if value else ""
        if not text:
            continue
        shown = _ESCAPED.sub(lambda m: "\n" if m.group(1) in "nN" else m.group(1), text)
        out.append(shown)
        fmt = params.get(b"FMTTYPE", b"").lower()
        if fmt in (b"text/html", b"application/xhtml+xml") or name.upper() == b"X-ALT-DESC":
            files.append(File(shown.encode("utf-8"), "text/html", name.decode("ascii", "replace")))
    if len(files) > MAX_FILES:
        problem = problem or f"over {MAX_FILES} files carried inline"
    return Calendar("\n".join(out), tuple(files), problem)


def _file(raw: bytes, name: bytes, params: dict[bytes, bytes]) -> File:
    media = params.get(b"FMTTYPE", b"").decode("ascii", "replace").lower()
    kind = params.get(b"TYPE", b"").decode("ascii", "replace").lower()
    if not media and kind and "/" not in kind:  # vCard: TYPE=JPEG, PNG, ... for a picture
        media = f"image/{kind}"
    filename = params.get(b"X-FILENAME") or params.get(b"FILENAME") or params.get(b"X-ORACLE-FILENAME") or b""
    return File(raw, media or "application/octet-stream", name.decode("ascii", "replace"),
                _decode(filename.strip(b'"')) or "")


def _property(line: bytes) -> tuple[bytes, bytes]:
    """(name and parameters, value) of a content line: split at the first colon outside a quoted parameter."""
    quoted = False
    for k, c in enumerate(line):
        if c == 0x22:
            quoted = not quoted
        elif c == 0x3A and not quoted:
            return line[:k], line[k + 1:]
    return line, b""


def _params(head: bytes) -> tuple[bytes, dict[bytes, bytes]]:
    """(the property's name without a group, {PARAMETER: value}); vCard 2.1's bare parameters ("PHOTO;JPEG;
    BASE64") are read as the TYPE or ENCODING they stand for."""
    parts = [p.strip() for p in _split_params(head)]
    name = parts[0].rsplit(b".", 1)[-1] if parts else b""
    params: dict[bytes, bytes] = {}
    for p in parts[1:]:
        key, eq, val = p.partition(b"=")
        if eq:
            params.setdefault(key.upper(), val.strip(b'"'))
        elif p.upper() in (b"BASE64", b"B", b"QUOTED-PRINTABLE"):
            params.setdefault(b"ENCODING", p)
        elif p:
            params.setdefault(b"TYPE", p)
    return name, params


def _split_params(head: bytes) -> list[bytes]:
    out, cur, quoted = [], bytearray(), False
    for c in head:
        if c == 0x22:
            quoted = not quoted
        if c == 0x3B and not quoted:
            out.append(bytes(cur))
            cur.clear()
        else:
            cur.append(c)
    out.append(bytes(cur))
    return out


def _decode(value: bytes) -> str:
    from gateway.inspect.text import decode

    return decode(value) or ""
