"""TNEF (winmail.dat, application/ms-tnef): Outlook's wrapper for attachments and the rich-text body.

The format (MS-OXTNEF): a signature, a key, then attributes — level (message 1 / attachment 2), id, length,
data, a 16-bit checksum. An attachment starts at attAttachRenddata; its bytes are in attAttachData (or, for
an embedded object, in the PR_ATTACH_DATA_OBJ property of attAttachment), its name in attAttachment's
PR_ATTACH_LONG_FILENAME or attAttachTitle. Every attachment is a member ("document"); the message's text —
attBody, PR_BODY, PR_BODY_HTML and the compressed RTF body (PR_RTF_COMPRESSED, LZFu, decompressed here) — are
members with role "body" (read for marks, never signed); the subject is read as metadata.

Parsed here (no maintained library writes TNEF, and the rebuilder needs the attribute layout anyway);
every length is checked against what is left, a bad checksum or an unknown property type stops the reading
(CONTAINER_BROKEN): what is not understood is not released.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from gateway.inspect.members import Extraction, Unreadable, safe_member_name
from gateway.inspect.reading import MemberRef
from gateway.model import Reason

SIGNATURE = 0x223E9F78
LVL_MESSAGE, LVL_ATTACHMENT = 1, 2

# attribute ids (low 16 bits of AttributeID)
ATT_SUBJECT = 0x8004
ATT_BODY = 0x800C
ATT_ATTACH_DATA = 0x800F
ATT_ATTACH_TITLE = 0x8010
ATT_ATTACH_RENDDATA = 0x9002
ATT_MSG_PROPS = 0x9003
ATT_ATTACHMENT = 0x9005

# MAPI property ids
PR_SUBJECT = 0x0037
PR_BODY = 0x1000
PR_RTF_COMPRESSED = 0x1009
PR_BODY_HTML = 0x1013
PR_ATTACH_DATA = 0x3701  # PR_ATTACH_DATA_BIN / _OBJ
PR_ATTACH_LONG_FILENAME = 0x3707
PR_ATTACH_FILENAME = 0x3704
PR_ATTACH_METHOD = 0x3705

# MAPI property types: fixed sizes (value padded to 4), or variable (None)
PT_FIXED = {0x0002: 2, 0x0003: 4, 0x0004: 4, 0x0005: 8, 0x0006: 8, 0x0007: 8, 0x000A: 4, 0x000B: 2, 0x0014: 8,
            0x0040: 8, 0x0048: 16, 0x0001: 0}
PT_VARIABLE = {0x001E, 0x001F, 0x0102, 0x000D}
MV_FLAG = 0x1000
MAX_PROPS = 100_000


@dataclass
class Attribute:
    level: int
    id: int  # full AttributeID (type << 16 | id)
    start: int  # offset of the level byte
    data_start: int
    length: int

    @property
    def code(self) -> int:
        return self.id & 0xFFFF

    @property
    def end(self) -> int:
        return self.data_start + self.length + 2


@dataclass
class Prop:
    type: int
    id: int
    values: list  # bytes for variable types, int/bytes for fixed
    start: int = 0  # offsets inside the attribute data (for the rebuilder)
    end: int = 0


@dataclass
class Attachment:
    index: int
    attributes: list[Attribute] = field(default_factory=list)
    props: list[Prop] = field(default_factory=list)

    def attr(self, code: int) -> Attribute | None:
        return next((a for a in self.attributes if a.code == code), None)

    def prop(self, pid: int) -> Prop | None:
        return next((p for p in self.props if p.id == pid), None)


def _broken(detail: str) -> Unreadable:
    return Unreadable(Reason.of("CONTAINER_BROKEN", detail=f"TNEF: {detail}"))


def attributes(data: bytes | memoryview) -> list[Attribute]:
    """Every attribute of a TNEF stream, checksums verified."""
    if len(data) < 6 or struct.unpack_from("<I", data, 0)[0] != SIGNATURE:
        raise _broken("no TNEF signature")
    out, pos = [], 6
    while pos < len(data):
        if pos + 9 > len(data):
            raise _broken("truncated attribute header")
        level = data[pos]
        ident, length = struct.unpack_from("<II", data, pos + 1)
        start = pos + 9
        if level not in (LVL_MESSAGE, LVL_ATTACHMENT) or length > len(data) - start - 2:
            raise _broken("bad attribute level or length")
        (checksum,) = struct.unpack_from("<H", data, start + length)
        if sum(bytes(data[start : start + length])) & 0xFFFF != checksum:
            raise _broken("bad attribute checksum")
        out.append(Attribute(level, ident, pos, start, length))
        pos = start + length + 2
    return out


def props(data: bytes) -> list[Prop]:
    """A MAPI property list (attMsgProps, attAttachment)."""
    if len(data) < 4:
        raise _broken("short property list")
    (count,) = struct.unpack_from("<I", data, 0)
    if count > MAX_PROPS:
        raise _broken("too many properties")
    pos, out = 4, []

    def take(n: int) -> bytes:
        nonlocal pos
        if n < 0 or pos + n > len(data):
            raise _broken("property runs past its attribute")
        chunk = data[pos : pos + n]
        pos += n
        return chunk

    for _ in range(count):
        start = pos
        ptype, pid = struct.unpack("<HH", take(4))
        if pid >= 0x8000:  # a named property: GUID, kind, id or name
            take(16)
            (kind,) = struct.unpack("<I", take(4))
            if kind == 0:
                take(4)
            elif kind == 1:
                (n,) = struct.unpack("<I", take(4))
                take((n + 3) & ~3)
            else:
                raise _broken("bad named property kind")
        base, multi = ptype & ~MV_FLAG, bool(ptype & MV_FLAG)
        values: list = []
        if base in PT_VARIABLE or multi:
            (nvals,) = struct.unpack("<I", take(4))
            if nvals > MAX_PROPS:
                raise _broken("too many values")
        else:
            nvals = 1
        for _ in range(nvals):
            if base in PT_VARIABLE:
                (n,) = struct.unpack("<I", take(4))
                values.append(take(n))
                take(-n & 3)
            elif base in PT_FIXED:
                size = PT_FIXED[base]
                raw = take(size)
                take(-size & 3)
                values.append(raw)
            else:
                raise _broken(f"unknown property type 0x{ptype:04x}")
        out.append(Prop(ptype, pid, values, start, pos))
    return out


def parse(data: bytes) -> tuple[list[Attribute], list[Attachment]]:
    attrs = attributes(data)
    attachments: list[Attachment] = []
    for a in attrs:
        if a.level != LVL_ATTACHMENT:
            continue
        if a.code == ATT_ATTACH_RENDDATA or not attachments:
            attachments.append(Attachment(len(attachments)))
        attachments[-1].attributes.append(a)
        if a.code == ATT_ATTACHMENT:
            attachments[-1].props = props(bytes(data[a.data_start : a.data_start + a.length]))
    return attrs, attachments


def _text(p: Prop) -> str:
    raw = p.values[0] if p.values else b""
    if p.type & ~MV_FLAG == 0x001F:
        return raw.decode("utf-16-le", "replace").rstrip("\x00")
    return raw.rstrip(b"\x00").decode("cp1252", "replace")


def attachment_name(att: Attachment, data: bytes) -> str:
    for pid in (PR_ATTACH_LONG_FILENAME, PR_ATTACH_FILENAME):
        p = att.prop(pid)
        if p is not None and p.values:
            name = _text(p)
            if name:
                return name
    title = att.attr(ATT_ATTACH_TITLE)
    if title is not None:
        return bytes(data[title.data_start : title.data_start + title.length]).rstrip(b"\x00").decode("cp1252", "replace")
    return f"attachment-{att.index + 1}"


def attachment_data(att: Attachment, data: bytes) -> bytes | None:
    a = att.attr(ATT_ATTACH_DATA)
    if a is not None:
        return bytes(data[a.data_start : a.data_start + a.length])
    p = att.prop(PR_ATTACH_DATA)
    if p is not None and p.values:
        value = p.values[0]
        return value[16:] if p.type & ~MV_FLAG == 0x000D else value  # an object starts with its IID
    return None


# --- compressed RTF (MS-OXRTFCP) ------------------------------------------------------------------------------

_RTF_PREBUF = (
    b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript "
    b"\\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par "
    b"\\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx"
)


def decompress_rtf(blob: bytes, limit: int) -> bytes:
    if len(blob) < 16:
        raise _broken("short compressed RTF")
    size, raw_size, magic, crc = struct.unpack_from("<IIII", blob, 0)
    body = blob[16 : 4 + size]
    if magic == 0x414C454D:  # "MELA": stored
        return body[:raw_size]
    if magic != 0x75465A4C:  # "LZFu"
        raise _broken("unknown compressed RTF")
    if raw_size > limit:
        raise _broken("compressed RTF larger than allowed")
    window = bytearray(4096)
    window[: len(_RTF_PREBUF)] = _RTF_PREBUF
    wpos, out, i = len(_RTF_PREBUF), bytearray(), 0
    while i < len(body) and len(out) < raw_size:
        flags = body[i]
        i += 1
        for bit in range(8):
            if i >= len(body) or len(out) >= raw_size:
                break
            if flags & (1 << bit):
                if i + 1 >= len(body):
                    raise _broken("truncated compressed RTF")
                ref = (body[i] << 8) | body[i + 1]
                i += 2
                offset, length = ref >> 4, (ref & 0xF) + 2
                if offset == wpos:
                    return bytes(out)
                for k in range(length):
                    c = window[(offset + k) & 0xFFF]
                    out.append(c)
                    window[wpos] = c
                    wpos = (wpos + 1) & 0xFFF
            else:
                c = body[i]
                i += 1
                out.append(c)
                window[wpos] = c
                wpos = (wpos + 1) & 0xFFF
    return bytes(out)


# --- the reader -----------------------------------------------------------------------------------------------


def members(path: Path, ex: Extraction) -> Iterator[MemberRef | Reason]:
    size = path.stat().st_size
    ex.budget.take(size)  # the stream is read whole: count it
    data = path.read_bytes()
    attrs, attachments = parse(data)
    for a in attrs:
        if a.level != LVL_MESSAGE:
            continue
        value = bytes(data[a.data_start : a.data_start + a.length])
        if a.code == ATT_SUBJECT:
            ex.budget.entry()
            yield ex.store(value.rstrip(b"\x00"), location="tnef:subject", name="subject.txt", role="body")
        elif a.code == ATT_BODY:
            ex.budget.entry()
            yield ex.store(value.rstrip(b"\x00"), location="tnef:body", name="body.txt", role="body")
        elif a.code == ATT_MSG_PROPS:
            for p in props(value):
                if not p.values:
                    continue
                if p.id == PR_SUBJECT and p.type & ~MV_FLAG in (0x001E, 0x001F):
                    ex.budget.entry()
                    yield ex.store(_text(p).encode("utf-8"), location="tnef:PR_SUBJECT", name="subject.txt",
                                   role="body")
                elif p.id == PR_BODY and p.type & ~MV_FLAG in (0x001E, 0x001F):
                    ex.budget.entry()
                    yield ex.store(_text(p).encode("utf-8"), location="tnef:PR_BODY", name="body.txt", role="body")
                elif p.id == PR_BODY_HTML and p.type & ~MV_FLAG in (0x001E, 0x001F, 0x0102):
                    ex.budget.entry()
                    html = _text(p).encode("utf-8") if p.type & ~MV_FLAG != 0x0102 else p.values[0]
                    yield ex.store(html, location="tnef:PR_BODY_HTML", name="body.html", role="body")
                elif p.id == PR_RTF_COMPRESSED and p.type & ~MV_FLAG == 0x0102:
                    ex.budget.entry()
                    rtf = decompress_rtf(p.values[0], ex.budget.max_bytes - ex.budget.bytes)
                    yield ex.store(rtf, location="tnef:PR_RTF_COMPRESSED", name="body.rtf", role="body")
    seen: set[str] = set()
    for att in attachments:
        ex.budget.entry()
        name = attachment_name(att, data)
        why = safe_member_name(name)
        if why is None and name.casefold() in seen:
            why = "duplicate name"
        seen.add(name.casefold())
        if why:
            yield Reason.of("CONTAINER_UNSAFE_ENTRY", name=name, detail=why)
            continue
        content = attachment_data(att, data)
        if content is None:
            yield Reason.of("CONTAINER_BROKEN", detail=f"TNEF: {name}: no data")
            continue
        yield ex.store(content, location=f"tnef:{att.index}", name=name)
