"""Files embedded in a PDF — the EmbeddedFiles name tree, FileAttachment annotations, and the associated files
(/AF) of the document, its pages and annotations — as members with role "embedded": each is read for marks like
any document (a secret-marked attachment BLOCKs its carrier, one that cannot be read refuses it) and none is
signed on its own: the carrier's signature covers it. An associated file is shown by viewers that know PDF 2.0
and PDF/A-3 beside the attachments, or in place of the part it belongs to, and any tool that lists a file's
embedded streams extracts it. Every file a specification's /EF holds is read (/F and /UF, and /DOS, /Mac,
/Unix: a tool may take any of them), and the files of its related-files arrays (/RF).

Files no list reaches (an /AF of a structure element, of a form, of a dictionary of the catalog's own): every
embedded file is reached through a file specification's /EF, and its stream may say /Type /EmbeddedFile. When
the file's bytes and object streams name either more often than the lists reach (hints.py), every object of the
file is looked through: each file specification found, however deep in its object's direct dictionaries and
arrays, and each stream typed so, that no list reached is read too.

Read with pypdf from the carrier's own file; decoding goes through the member budget (bytes, ratio against
the stream's encoded length). A structure pypdf cannot walk stops the reading: the carrier is then
incomplete (refused), never passed with its attachments unread.
"""

from __future__ import annotations

import io
import logging
from typing import BinaryIO, Iterator

from gateway.inspect.members import Extraction
from gateway.inspect.reading import MemberRef
from gateway.model import Reason

MAX_TREE_DEPTH = 32


def _text(value) -> str:
    return str(value) if value is not None else ""


_EF_KEYS = ("/UF", "/F", "/DOS", "/Mac", "/Unix")


def _file_spec(fs) -> tuple[str, list] | None:
    """(name, [(the stream's object number or None, the stream)]) of a file specification with embedded files
    (every /EF entry: a tool may extract any of them; and the streams of its related-files arrays, /RF, which
    only a specification with an /EF may have), else None."""
    fs = fs.get_object()
    if not hasattr(fs, "get"):
        return None
    ef = fs.get("/EF")
    ef = ef.get_object() if ef is not None else None
    if not hasattr(ef, "get"):
        return None
    streams = []
    for key in _EF_KEYS:
        stream = ef.get(key)
        if stream is not None:
            streams.append((getattr(stream, "idnum", None), stream.get_object()))
    rf = fs.get("/RF")
    rf = rf.get_object() if rf is not None else None
    for key in _EF_KEYS if hasattr(rf, "get") else ():
        related = rf.get(key)
        related = related.get_object() if related is not None else None
        for stream in list(related)[1::2] if isinstance(related, list) else ():  # [name stream name stream ...]
            streams.append((getattr(stream, "idnum", None), stream.get_object()))
    if not streams:
        return None
    name = _text(fs.get("/UF") or fs.get("/F") or fs.get("/Desc"))
    return name, streams


def _name_tree(node, depth: int = 0):
    node = node.get_object()
    if depth > MAX_TREE_DEPTH:
        raise ValueError("EmbeddedFiles name tree too deep")
    pairs = node.get("/Names", []) or []
    for k in range(0, len(pairs) - 1, 2):
        yield _text(pairs[k]), pairs[k + 1]
    for kid in node.get("/Kids", []) or []:
        yield from _name_tree(kid, depth + 1)


def _associated(holder, location: str) -> list:
    """[(location, "", file specification)] of `holder`'s associated files (/AF: one or an array)."""
    af = holder.get("/AF") if hasattr(holder, "get") else None
    if af is None:
        return []
    af = af.get_object()
    specs = list(af) if isinstance(af, list) else [af]
    return [(f"{location}:af:{k}", "", fs) for k, fs in enumerate(specs)]


def file_specs(reader, root) -> list:
    """[(location, name-tree key, file specification)] of every file embedded in the PDF: the EmbeddedFiles
    name tree, the document's associated files, then each page's and its annotations' (FileAttachment
    annotations' files, and associated files)."""
    found = []
    names = root.get("/Names")
    if names is not None and "/EmbeddedFiles" in names.get_object():
        for i, (key, fs) in enumerate(_name_tree(names.get_object()["/EmbeddedFiles"])):
            found.append((f"pdf:embedded:{i}", key, fs))
    found += _associated(root, "pdf:document")
    for pno, page in enumerate(reader.pages):
        found += _associated(page, f"pdf:page{pno + 1}")
        annots = page.get("/Annots")
        for j, annot in enumerate(annots.get_object() if annots is not None else []):
            a = annot.get_object()
            if hasattr(a, "get") and a.get("/Subtype") == "/FileAttachment" and a.get("/FS") is not None:
                found.append((f"pdf:annot:p{pno + 1}:{j}", "", a["/FS"]))
            found += _associated(a, f"pdf:annot:p{pno + 1}:{j}")
    return found


MAX_OBJECTS = 1_000_000  # objects looked through for embedded streams no list reaches; more: not read
MAX_NESTING = 64  # direct dictionaries and arrays inside an object, looked into for file specifications


def _specs_within(obj) -> Iterator:
    """Each file specification with an /EF among `obj` and the direct dictionaries and arrays inside it (an /AF
    array written in place, a structure element's attributes); indirect ones are objects of their own."""
    from pypdf.generic import IndirectObject

    stack = [(obj, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            raise ValueError(f"direct objects nested over {MAX_NESTING} deep")
        if hasattr(node, "get"):
            if node.get("/EF") is not None:
                yield node
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        stack.extend((c, depth + 1) for c in children if not isinstance(c, IndirectObject))


def _unlisted_streams(reader, seen: set[int], unread: list[int]):
    """(object number, stream) of each embedded file stream among the file's objects that is not in `seen`: held
    by a file specification found in any object (uncompressed or in an object stream), or a stream saying /Type
    /EmbeddedFile (streams are never inside object streams: the cross-reference's own entries hold them). The
    numbers of objects pypdf cannot read go to `unread` (any of them may hold such a file)."""
    from pypdf.generic import IndirectObject, StreamObject

    entries = {(number, generation) for generation, numbers in reader.xref.items() for number in numbers}
    entries |= {(number, 0) for number in (getattr(reader, "xref_objStm", None) or {})}
    if len(entries) > MAX_OBJECTS:
        raise ValueError(f"over {MAX_OBJECTS} objects to look through for embedded files")
    for number, generation in sorted(entries):
        try:
            obj = IndirectObject(number, generation, reader).get_object()
            found = [(number, obj)] if isinstance(obj, StreamObject) and obj.get("/Type") == "/EmbeddedFile" else []
            for spec in _specs_within(obj):
                found += (_file_spec(spec) or ("", []))[1]
        except Exception:  # noqa: BLE001 - hostile input: noted, and the carrier refused for it (members())
            unread.append(number)
            continue
        for held, stream in found:
            if held is not None and held not in seen:
                seen.add(held)
                yield held, stream


def members(fh: BinaryIO, ex: Extraction, reader=None, streams: int = 0, specs: int = 0) -> Iterator[MemberRef | Reason]:
    """`reader`: the pypdf reader of `fh` that read the document already (pdf.analyse; opening it again
    and walking its page tree is half a millisecond), walked here as leniently as a new one would be.
    `streams`, `specs`: how many embedded file streams (/Type /EmbeddedFile) and file specifications with an
    embedded file (/EF) the file's bytes and object streams name; more than the lists reach, and the file's
    objects are looked through for the others. A stream listed twice (the name tree and an /AF) is read once."""
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # the PDF reader already said what it had to
    if reader is None:
        fh.seek(0)
        reader = PdfReader(fh, strict=False)
    else:
        reader.strict = False
    if reader.is_encrypted:
        return  # an encrypted PDF is refused for itself (pdf_encrypted)
    seen: set[int] = set()
    reached: set[int] = set()  # the file specifications the lists reach (by identity: a direct one has no number)
    for location, key, fs in file_specs(reader, reader.trailer["/Root"].get_object()):
        ex.budget.entry()
        spec = _file_spec(fs)
        if spec is None:
            continue
        reached.add(id(fs.get_object()))
        name, held = spec
        for k, (number, stream) in enumerate(held):
            if number is not None and number in seen:
                continue  # a stream listed twice (the name tree and an /AF) is decoded and read once
            if number is not None:
                seen.add(number)
            raw = getattr(stream, "_data", b"") or b""
            yield ex.extract(io.BytesIO(stream.get_data()), location=location + (f":{k}" if k else ""),
                             name=name or key or location, role="embedded", compressed=len(raw))
    if streams > len(seen) or specs > len(reached):
        unread: list[int] = []
        for number, stream in _unlisted_streams(reader, seen, unread):
            ex.budget.entry()
            raw = getattr(stream, "_data", b"") or b""
            yield ex.extract(io.BytesIO(stream.get_data()), location=f"pdf:object:{number}",
                             name=f"tệp nhúng {number}", role="embedded", compressed=len(raw))
        if unread:  # looking for embedded files no list reaches, and some objects could not be looked at
            yield Reason.of("DOCUMENT_UNREADABLE",
                            detail=f"embedded files: {len(unread)} objects cannot be read (first {unread[0]})")
