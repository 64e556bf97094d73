"""Writing TNEF: the rebuilder of winmail.dat, and the small encoder it needs (tests build TNEF with it too,
checked by Debian's independent `tnef` decoder).

Rebuilding copies every attribute byte for byte, except the attAttachData of a signed attachment (new bytes,
new length and checksum); a `.p7s` is a new attachment (attAttachRenddata, attAttachTitle, attAttachData,
attAttachment with PR_ATTACH_LONG_FILENAME) inserted right after the attachment it signs. An attachment whose
bytes live in a MAPI property (an embedded object) is not rewritten: refused (CONTAINER_NO_REBUILDER).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Mapping

from gateway.errors import InputRejected
from gateway.inspect import container_tnef as t
from gateway.signing.containers import Change, rebuilder

# AttributeID = type << 16 | id
ID_SUBJECT = 0x00018004
ID_BODY = 0x0002800C
ID_MESSAGE_CLASS = 0x00078008
ID_ATTACH_DATA = 0x0006800F
ID_ATTACH_TITLE = 0x00018010
ID_ATTACH_RENDDATA = 0x00069002
ID_MSG_PROPS = 0x00069003
ID_ATTACHMENT = 0x00069005
ID_TNEF_VERSION = 0x00089006
ID_OEM_CODEPAGE = 0x00069007
PT_LONG, PT_UNICODE, PT_BINARY = 0x0003, 0x001F, 0x0102


def attribute(level: int, ident: int, data: bytes) -> bytes:
    return struct.pack("<BII", level, ident, len(data)) + data + struct.pack("<H", sum(data) & 0xFFFF)


def stream(*attributes: bytes, key: int = 0x0001) -> bytes:
    return struct.pack("<IH", t.SIGNATURE, key) + b"".join(attributes)


def _padded(b: bytes) -> bytes:
    return b + b"\x00" * (-len(b) & 3)


def prop_unicode(pid: int, text: str) -> bytes:
    raw = text.encode("utf-16-le") + b"\x00\x00"
    return struct.pack("<HHII", PT_UNICODE, pid, 1, len(raw)) + _padded(raw)


def prop_binary(pid: int, data: bytes) -> bytes:
    return struct.pack("<HHII", PT_BINARY, pid, 1, len(data)) + _padded(data)


def prop_long(pid: int, value: int) -> bytes:
    return struct.pack("<HHI", PT_LONG, pid, value)


def prop_list(*props: bytes) -> bytes:
    return struct.pack("<I", len(props)) + b"".join(props)


RENDDATA_FILE = struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 0)  # atyp file, position -1, no size, no flags


def attachment(name: str, data: bytes, renddata: bytes = RENDDATA_FILE) -> bytes:
    """One attachment's attributes, as Outlook writes a plain file attachment."""
    title = name.encode("cp1252", "replace") + b"\x00"
    return b"".join((
        attribute(t.LVL_ATTACHMENT, ID_ATTACH_RENDDATA, renddata),
        attribute(t.LVL_ATTACHMENT, ID_ATTACH_TITLE, title),
        attribute(t.LVL_ATTACHMENT, ID_ATTACH_DATA, data),
        attribute(t.LVL_ATTACHMENT, ID_ATTACHMENT,
                  prop_list(prop_unicode(t.PR_ATTACH_LONG_FILENAME, name), prop_long(t.PR_ATTACH_METHOD, 1))),
    ))


def message(subject: str = "", body: str = "", attachments: list[tuple[str, bytes]] = (),
            rtf_compressed: bytes | None = None) -> bytes:
    """A whole TNEF stream (for tests and tools): message class, then subject, body and compressed RTF as
    Unicode MAPI properties (attMsgProps), then the attachments."""
    attrs = [
        attribute(t.LVL_MESSAGE, ID_TNEF_VERSION, struct.pack("<I", 0x00010000)),
        attribute(t.LVL_MESSAGE, ID_OEM_CODEPAGE, struct.pack("<II", 1252, 0)),
        attribute(t.LVL_MESSAGE, ID_MESSAGE_CLASS, b"IPM.Microsoft Mail.Note\x00"),
    ]
    props = []
    if subject:
        props.append(prop_unicode(t.PR_SUBJECT, subject))
    if body:
        props.append(prop_unicode(t.PR_BODY, body))
    if rtf_compressed is not None:
        props.append(prop_binary(t.PR_RTF_COMPRESSED, rtf_compressed))
    if props:
        attrs.append(attribute(t.LVL_MESSAGE, ID_MSG_PROPS, prop_list(*props)))
    attrs.extend(attachment(n, d) for n, d in attachments)
    return stream(*attrs)


def rtf_stored(rtf: bytes) -> bytes:
    """A 'compressed' RTF in its uncompressed form (MELA), as MS-OXRTFCP allows."""
    return struct.pack("<IIII", len(rtf) + 12, len(rtf), 0x414C454D, 0) + rtf


@rebuilder("tnef")
def rebuild_tnef(source: Path, destination: Path, changes: Mapping[str, Change]) -> None:
    data = source.read_bytes()
    attrs, atts = t.parse(data)
    by_index: dict[int, Change] = {}
    for loc, change in changes.items():
        tail = loc.split(":", 1)[1]
        if not loc.startswith("tnef:") or not tail.isdigit():
            raise InputRejected(f"TNEF member {loc} cannot change", code="CONTAINER_NO_REBUILDER", container="tnef")
        by_index[int(tail)] = change
    owner = {id(a): att for att in atts for a in att.attributes}
    for index, change in by_index.items():
        if change.replacement is not None and atts[index].attr(t.ATT_ATTACH_DATA) is None:
            raise InputRejected("TNEF embedded object", code="CONTAINER_NO_REBUILDER", container="tnef")
    out = bytearray(data[:6])
    for a in attrs:
        att = owner.get(id(a))
        change = by_index.get(att.index) if att is not None else None
        if change is not None and change.replacement is not None and a.code == t.ATT_ATTACH_DATA:
            out += attribute(a.level, a.id, change.replacement.read_bytes())
        else:
            out += data[a.start : a.end]
        if change is not None and a is att.attributes[-1]:
            for name, path in change.beside:
                out += attachment(name, path.read_bytes())
    destination.write_bytes(bytes(out))
