"""Files embedded in a PDF — the EmbeddedFiles name tree and FileAttachment annotations — as members with
role "embedded": each is read for marks like any document (a secret-marked attachment BLOCKs its carrier, one
that cannot be read refuses it) and none is signed on its own: the carrier's signature covers it.

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


def _file_spec(fs):
    """(name, encoded length, decoded bytes) of a file specification with an embedded file, else None."""
    fs = fs.get_object()
    if not hasattr(fs, "get"):
        return None
    ef = fs.get("/EF")
    if ef is None:
        return None
    ef = ef.get_object()
    stream = ef.get("/UF") or ef.get("/F")
    if stream is None:
        return None
    stream = stream.get_object()
    name = _text(fs.get("/UF") or fs.get("/F") or fs.get("/Desc"))
    raw = getattr(stream, "_data", b"") or b""
    return name, len(raw), stream.get_data()


def _name_tree(node, depth: int = 0):
    node = node.get_object()
    if depth > MAX_TREE_DEPTH:
        raise ValueError("EmbeddedFiles name tree too deep")
    pairs = node.get("/Names", []) or []
    for k in range(0, len(pairs) - 1, 2):
        yield _text(pairs[k]), pairs[k + 1]
    for kid in node.get("/Kids", []) or []:
        yield from _name_tree(kid, depth + 1)


def file_specs(reader, root) -> list:
    """[(location, name-tree key, file specification)] of every file embedded in the PDF: the EmbeddedFiles
    name tree, then each page's FileAttachment annotations."""
    found = []
    names = root.get("/Names")
    if names is not None and "/EmbeddedFiles" in names.get_object():
        for i, (key, fs) in enumerate(_name_tree(names.get_object()["/EmbeddedFiles"])):
            found.append((f"pdf:embedded:{i}", key, fs))
    for pno, page in enumerate(reader.pages):
        annots = page.get("/Annots")
        for j, annot in enumerate(annots.get_object() if annots is not None else []):
            a = annot.get_object()
            if hasattr(a, "get") and a.get("/Subtype") == "/FileAttachment" and a.get("/FS") is not None:
                found.append((f"pdf:annot:p{pno + 1}:{j}", "", a["/FS"]))
    return found


def members(fh: BinaryIO, ex: Extraction, reader=None) -> Iterator[MemberRef | Reason]:
    """`reader`: the pypdf reader of `fh` that read the document already (pdf.analyse; opening it again
    and walking its page tree is half a millisecond), walked here as leniently as a new one would be."""
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # the PDF reader already said what it had to
    if reader is None:
        fh.seek(0)
        reader = PdfReader(fh, strict=False)
    else:
        reader.strict = False
    if reader.is_encrypted:
        return  # an encrypted PDF is refused for itself (pdf_encrypted)
    for location, key, fs in file_specs(reader, reader.trailer["/Root"].get_object()):
        ex.budget.entry()
        spec = _file_spec(fs)
        if spec is None:
            continue
        name, encoded, data = spec
        yield ex.extract(io.BytesIO(data), location=location, name=name or key or location, role="embedded",
                         compressed=encoded)
