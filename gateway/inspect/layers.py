"""Optional content (layers): a PDF is read with every layer shown.

A viewer shows or hides a layer by its default configuration, its auto-states (/AS) and its usage; viewers
disagree (PDFium applies /AS, poppler does not), and a recipient can switch any layer on in the side panel.
So what is read is the document without /OCProperties and with every layer's /Usage and /Intent dropped
(PDFium looks at a layer's usage even without a configuration), and every membership dictionary (/OCMD: it
may show content only while a layer is off) made one without layers, which shows its content: every reader
then draws everything. The copy is an incremental update that redefines those objects; it is read, never
released. A membership dictionary written inside another object cannot be redefined alone: such a document
is not read completely (`LayersUnread`).
"""

from __future__ import annotations

from typing import BinaryIO

from gateway.inspect import update


class LayersUnread(Exception):
    """The layers could not be shown (an encrypted file, a catalog that is not an indirect object)."""


def has_layers(root) -> bool:
    return "/OCProperties" in root


def shown(fh: BinaryIO, reader, dst: BinaryIO) -> None:
    """Write to `dst` the file `fh` with every layer shown (its bytes, then an update of the catalog)."""
    from pypdf.generic import DictionaryObject, IndirectObject, NameObject

    if reader.is_encrypted:
        raise LayersUnread("optional content in an encrypted PDF")
    ref = reader.trailer.raw_get("/Root")
    if not isinstance(ref, IndirectObject):
        raise LayersUnread("catalog is not an indirect object")
    root = ref.get_object()
    redefined = [(IndirectObject(n, g, reader), DictionaryObject({NameObject("/Type"): NameObject("/OCMD")}))
                 for n, g in _memberships(reader)]
    redefined += [(ref, DictionaryObject({NameObject(k): v for k, v in root.items() if k != "/OCProperties"}))]
    props = root.get("/OCProperties")
    for ocg in (props.get_object().get("/OCGs") or []) if props is not None else []:
        if isinstance(ocg, IndirectObject) and hasattr(ocg.get_object(), "items"):
            redefined.append((ocg, DictionaryObject({NameObject(k): v for k, v in ocg.get_object().items()
                                                     if k not in ("/Usage", "/Intent")})))
    size = max([int(reader.trailer.get("/Size", 0))] + [r.idnum + 1 for r, _ in redefined])
    try:
        update.appended(fh, reader, dst, [(r.idnum, r.generation, value) for r, value in redefined], size)
    except update.UpdateUnwritable as exc:
        raise LayersUnread(str(exc)) from exc


MAX_OBJECTS = 200_000  # objects looked at for a membership dictionary; more: unread


def _memberships(reader) -> list[tuple[int, int]]:
    """(number, generation) of every membership dictionary that is an object of its own. Raises LayersUnread
    for one inside another object, or a file with too many objects to look at."""
    from pypdf.generic import ArrayObject, DictionaryObject

    numbers = sorted({(n, g) for g, ns in reader.xref.items() for n in ns}
                     | {(n, 0) for n in reader.xref_objStm})
    if len(numbers) > MAX_OBJECTS:
        raise LayersUnread(f"over {MAX_OBJECTS} objects")
    found = []
    for n, g in numbers:
        try:
            obj = reader.get_object(n)
        except Exception:  # noqa: BLE001 - an object pypdf cannot read is not a membership dictionary to it
            continue
        if isinstance(obj, DictionaryObject) and obj.get("/Type") == "/OCMD":
            found.append((n, g))
            continue
        todo = [(v, 1) for v in (obj.values() if isinstance(obj, DictionaryObject) else [])]
        while todo:  # direct values only (an indirect one is an object of its own, looked at above)
            v, depth = todo.pop()
            if isinstance(v, DictionaryObject):
                if v.get("/Type") == "/OCMD":
                    raise LayersUnread("optional content membership dictionary inside another object")
                if depth < 8:
                    todo.extend((x, depth + 1) for x in v.values())
            elif isinstance(v, ArrayObject) and depth < 8:
                todo.extend((x, depth + 1) for x in v)
    return found
