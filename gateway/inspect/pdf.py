"""The PDF reader: version, pages, encryption, broken vs recovered, DocMDP, embedded files, JavaScript, signature
fields, the text of the pages and the document's metadata (Info and XMP).

An empty-password PDF is still encrypted. Broken vs recovered: a strict pypdf read fails, a lenient one
succeeds. Hostile input: pypdf works on the open file, page and object counts are capped by settings.limits,
and the whole analysis runs under `limits.time_limit`. The text of every page (by geometry, with annotations,
and OCR of what no text layer says) comes from pdftext.py, in a child process for large files; form-field
values and every Info/XMP field are read here. Whatever cannot be
parsed becomes broken=True with a PDF_BROKEN warning, never an exception; text that could not be read in
time is reported in `incomplete` (fail closed: the document is not released on a partial reading).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import BinaryIO

from gateway.inspect.limits import Timeout
from gateway.inspect.reading import Line
from gateway.model import Document, Reason

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 50_000_000  # text read from one document (every page); more: not read completely
XMP_MAX_BYTES = 1024 * 1024
MAX_FIELD_VALUES = 100_000
TEXT_CHILD_MIN_BYTES = 32 * 1024 * 1024  # above: page text in a child process (PDFium holds streams in memory)

# --- reading ------------------------------------------------------------------------------------------------


@dataclass
class _Pdf:
    version: str | None = None
    pages: int | None = None
    encrypted: bool = False
    broken: bool = False
    recovered: bool = False
    docmdp: int | None = None
    embedded: int = 0
    javascript: bool = False
    filled_sig_fields: int = 0
    empty_sig_fields: list[str] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    metadata: list[tuple[str, str]] = field(default_factory=list)
    incomplete: list[Reason] = field(default_factory=list)
    warnings: list[Reason] = field(default_factory=list)
    text: object = None  # pdftext.DocText: pages with their ink, for OCR
    bomb: bool = False  # a stream inflates past MAX_CONTENT_BYTES: PDFium reads it only in a bounded child
    reader: object = None  # the pypdf reader that read it whole: the embedded files' walk goes on with it
    compressed_file_specs: int = 0  # the name /EF in its object streams (hints.py): see container_pdf.py
    compressed_byte_range: bool = False  # a /ByteRange in its object streams: something signed (validation.py)


def _open_reader(fh: BinaryIO, strict: bool):
    from pypdf import PdfReader

    fh.seek(0)
    return PdfReader(fh, strict=strict)


def analyse(fh: BinaryIO, settings, doc: Document, deadline: float) -> _Pdf:
    import warnings as pywarnings

    out = _Pdf()
    limits = settings.limits
    reader = None
    with pywarnings.catch_warnings():
        pywarnings.simplefilter("ignore")
        try:
            reader = _open_reader(fh, strict=True)
            _ = reader.trailer["/Root"]
            if not reader.is_encrypted:
                _ = len(reader.pages)
        except Timeout:
            raise
        except Exception as strict_exc:  # noqa: BLE001
            try:
                reader = _open_reader(fh, strict=False)
                out.recovered = True
                out.warnings.append(Reason.of("PDF_RECOVERED", detail=_short(strict_exc)))
            except Timeout:
                raise
            except Exception as exc:  # noqa: BLE001
                out.recovered = False
                out.warnings = []
                if isinstance(exc, NotImplementedError) and "encrypt" in str(exc).lower():
                    out.encrypted = True  # public-key (certificate) or unknown security handler
                    return out
                out.broken = True
                out.warnings.append(Reason.of("PDF_BROKEN", detail=_short(exc)))
                return out
        out.version = _version(reader)
        if reader.is_encrypted:
            out.encrypted = True
            try:
                if not reader.decrypt(""):
                    return out  # a real password or a certificate: nothing more can be read
            except Timeout:
                raise
            except Exception as exc:  # noqa: BLE001 - unknown handler / malformed /Encrypt
                out.warnings.append(Reason.of("PDF_BROKEN", detail=_short(exc)))
                return out
        try:
            size = int(reader.trailer.get("/Size", 0))
            if size > limits.max_pdf_objects:
                out.broken = True
                out.warnings.append(Reason.of("PDF_TOO_COMPLEX", limit=f"objects {size} > {limits.max_pdf_objects}"))
                return out
            out.pages = len(reader.pages)
            if out.pages > limits.max_pages:
                out.broken = True
                out.warnings.append(Reason.of("PDF_TOO_COMPLEX", limit=f"pages {out.pages} > {limits.max_pages}"))
                return out
            root = reader.trailer["/Root"].get_object()
        except Timeout:
            raise
        except Exception as exc:  # noqa: BLE001
            out.broken = True
            out.warnings.append(Reason.of("PDF_BROKEN", detail=_short(exc)))
            return out
        for step in (_catalog_facts, _form_facts, _active, _played, _metadata, _navigation, _side_panels,
                     _attachment_names):
            try:
                step(reader, root, out)
            except Timeout:
                raise
            except Exception as exc:  # noqa: BLE001 - one odd structure does not hide the others, but
                # what it would have shown (a signature field, embedded files, metadata) is unread: fail closed
                log.info("inspect: %s failed: %s", step.__name__, exc)
                out.incomplete.append(Reason.of("DOCUMENT_UNREADABLE", detail=f"{step.__name__.strip('_')}: {_short(exc)}"))
        from gateway.inspect import layers

        if layers.has_layers(root):
            _page_text_layered(fh, reader, out, deadline, _bomb_pages(reader, out), _twins(reader))
        else:
            _page_text(fh, out, deadline, _bomb_pages(reader, out), _twins(reader))
        _alternate_text(fh, reader, out, deadline)
        _geometry_text(reader, out, deadline)
        out.reader = reader
    return out


def _twins(reader) -> dict:
    """twins.by_page of the document; a document whose pages cannot be walked: every font of every page (the
    text reading then reads their letters by eye)."""
    from gateway.inspect import twins

    try:
        return twins.by_page(reader)
    except Timeout:
        raise
    except Exception as exc:  # noqa: BLE001 - fail closed: what is not known to be one code a letter is read
        log.info("inspect: fonts' maps: %s", exc)
        return {i: {twins.EVERY_FONT: frozenset(twins.ANY)} for i in range(len(reader.pages))}


def _short(exc: BaseException) -> str:
    from gateway.errors import exc_detail

    return exc_detail(exc, 200)


def _version(reader) -> str | None:
    header = getattr(reader, "pdf_header", "") or ""
    version = header[5:] if header.startswith("%PDF-") else None
    try:
        cat = reader.trailer["/Root"].get_object().get("/Version")
        if cat:
            cat = str(cat).lstrip("/")
            if version is None or cat > version:
                version = cat
    except Exception:  # noqa: BLE001
        pass
    return version


def _catalog_facts(reader, root, out: _Pdf) -> None:
    perms = root.get("/Perms")
    if perms is not None:
        docmdp = perms.get_object().get("/DocMDP")
        if docmdp is not None:
            out.docmdp = 2
            for ref in docmdp.get_object().get("/Reference", []) or []:
                ref = ref.get_object()
                if ref.get("/TransformMethod") == "/DocMDP":
                    out.docmdp = int(ref.get("/TransformParams", {}).get_object().get("/P", 2))
    names = root.get("/Names")
    names = names.get_object() if names is not None else {}
    if "/EmbeddedFiles" in names:
        out.embedded = _count_name_tree(names["/EmbeddedFiles"])
    if "/JavaScript" in names:
        out.javascript = True
    for holder in (root, root.get("/OpenAction")):
        if holder is None:
            continue
        holder = holder.get_object()
        if not hasattr(holder, "get"):
            continue
        if holder.get("/S") == "/JavaScript" or "/JS" in holder:
            out.javascript = True
        aa = holder.get("/AA")
        if aa is not None and any(
            a.get_object().get("/S") == "/JavaScript" for a in aa.get_object().values() if hasattr(a, "get_object")
        ):
            out.javascript = True


def _active(reader, root, out: _Pdf) -> None:
    """What a viewer may draw or run that is not the pages read here, and what the object streams name.
    - An XFA form: Adobe Reader draws it from the form's own XML (a dynamic form's pages say only "requires
      Adobe Reader"), its field values from the XFA data: not read, so not released (DOCUMENT_UNREADABLE).
    - JavaScript in an object stream: the file's own bytes are searched by `inspect._stream_scan`; an action
      compressed into an object stream (a page's open action, a field's calculation, another action's /Next)
      was not found there, and a script may show what the pages do not say (a field set to "TỐI MẬT").
    - File specifications with an embedded file (/EF) in an object stream, counted for the embedded files'
      walk (container_pdf.py), and a signature's /ByteRange there (a signature dictionary without its optional
      /Type, which qpdf compresses too), for the signature walk (validation.find_signatures), as the file's own
      bytes are searched by `inspect._stream_scan`."""
    from gateway.inspect import hints

    form = root.get("/AcroForm")
    form = form.get_object() if form is not None else None
    if hasattr(form, "get") and form.get("/XFA") is not None:
        out.incomplete.append(Reason.of("DOCUMENT_UNREADABLE", detail="XFA form, drawn by Adobe Reader from its XML"))
    for number in sorted({stream for stream, _ in (getattr(reader, "xref_objStm", None) or {}).values()}):
        for hint in hints.found(reader.get_object(number).get_data()):
            if hint == hints.SCRIPT:
                out.javascript = True
            elif hint == hints.FILE_SPEC:
                out.compressed_file_specs += 1
            elif hint == hints.SIGNATURE:
                out.compressed_byte_range = True


def _played(reader, root, out: _Pdf) -> None:
    """Media a viewer plays (a video, a sound, a 3D model: actions.py) is not read here, so the document is
    not read completely; a rendition action's script is JavaScript like any other."""
    from gateway.inspect import actions

    try:
        found = actions.played(reader, root)
    except actions.ActionsUnread as exc:
        out.incomplete.append(Reason.of("DOCUMENT_UNREADABLE", detail=str(exc)))
        return
    out.javascript = out.javascript or found.script
    if found.media:
        out.incomplete.append(Reason.of("DOCUMENT_UNREADABLE", detail="media a viewer plays: " + ", ".join(found.media)))


def _count_name_tree(node, depth: int = 0) -> int:
    node = node.get_object()
    if depth > 32:
        return 0
    n = len(node.get("/Names", []) or []) // 2
    for kid in node.get("/Kids", []) or []:
        n += _count_name_tree(kid, depth + 1)
    return n


def _form_facts(reader, root, out: _Pdf) -> None:
    from gateway.inspect.text import rich_text

    form = root.get("/AcroForm")
    if form is None:
        return
    stack = [(f, None, "", 0) for f in (form.get_object().get("/Fields", []) or [])]
    seen: set = set()
    while stack:
        ref, inherited_ft, parent, depth = stack.pop()
        key = getattr(ref, "idnum", None)
        if key is not None:
            if key in seen:
                continue
            seen.add(key)
        if depth > 32 or len(seen) > 100_000:
            break
        f = ref.get_object()
        name = str(f.get("/T", ""))
        full = f"{parent}.{name}" if parent and name else (name or parent)
        ft = f.get("/FT", inherited_ft)
        kids = f.get("/Kids")
        if kids and any("/T" in k.get_object() for k in kids):
            stack.extend((k, ft, full, depth + 1) for k in kids)
            continue
        if ft == "/Sig":
            if f.get("/V") is None:
                out.empty_sig_fields.append(full)
            else:
                out.filled_sig_fields += 1
        elif len(out.lines) < MAX_FIELD_VALUES:
            # a field's value is what a viewer shows in it (even without an appearance stream)
            for key in ("/V", "/DV", "/TU", "/RV"):  # /RV: the rich-text value a viewer shows (XHTML)
                value = _text_value(f.get(key)) if f.get(key) is not None else ""
                if key == "/RV" and f.get(key) is not None and hasattr(f.get(key).get_object(), "get_data"):
                    value = f.get(key).get_object().get_data().decode("utf-8", "replace")
                if key == "/RV":
                    value = rich_text(value)
                if not value and key == "/V" and isinstance(f.get(key), list):
                    value = " ".join(_text_value(x) for x in f.get(key))
                value = value.lstrip("/") if value.startswith("/") and key != "/TU" else value
                out.lines.extend(Line(t, f"field:{full}") for t in value.splitlines() if t.strip())
            # a list or combo box's items (/Opt: a string, or [export value, shown text]): a list box shows them
            # on the page, a combo box when opened
            opts = f.get("/Opt")
            for item in opts.get_object() if opts is not None and isinstance(opts.get_object(), list) else ():
                item = item.get_object()
                for v in item if isinstance(item, list) else [item]:
                    out.lines.extend(Line(t, f"field:{full}") for t in _text_value(v).splitlines() if t.strip())
            # a button's captions, normal, rollover and down (/MK): a viewer draws them when the widget has no
            # appearance, or is told to make its own (poppler drew "TOI MAT" from /CA on an otherwise empty page)
            for widget in [f] + [k.get_object() for k in kids or []]:
                mk = widget.get("/MK") if hasattr(widget, "get") else None
                mk = mk.get_object() if mk is not None else None
                for key in ("/CA", "/RC", "/AC") if hasattr(mk, "get") else ():
                    value = _text_value(mk.get(key)) if mk.get(key) is not None else ""
                    out.lines.extend(Line(t, f"field:{full}") for t in value.splitlines() if t.strip())


def _metadata(reader, root, out: _Pdf) -> None:
    meta = reader.metadata or {}
    for k, v in meta.items():  # every Info field, whatever its name; byte strings decoded too
        value = _text_value(v)
        if value:
            out.metadata.append((f"info:{str(k).lstrip('/')}", value))
    md = root.get("/Metadata")
    if md is None:
        return
    data = md.get_object().get_data()[:XMP_MAX_BYTES]
    out.metadata.extend((f"xmp:{k}", v) for k, values in _xmp_fields(data).items() for v in values)


def _attachment_names(reader, root, out: _Pdf) -> None:
    """The names and descriptions of the files embedded in the PDF, as its attachments panel or a portfolio
    lists them (the name-tree key, /UF, /F, /Desc, a portfolio's columns /CI), read like a mail attachment's
    file name: "TỐI MẬT - báo cáo.docx" is a
    mark whatever the file holds (the files themselves are members, read by container_pdf.py)."""
    from gateway.inspect.container_pdf import file_specs

    for location, key, fs in file_specs(reader, root):
        fs = fs.get_object()
        values = [key] + ([_text_value(fs.get(k)) for k in ("/UF", "/F", "/Desc") if fs.get(k) is not None]
                          if hasattr(fs, "get") else [_text_value(fs)])
        items = fs.get("/CI") if hasattr(fs, "get") else None  # a portfolio's columns for this file
        items = items.get_object() if items is not None else None
        for item in items.values() if hasattr(items, "values") else ():
            item = item.get_object()
            values += [_text_value(item.get(k)) for k in ("/P", "/D")] if hasattr(item, "get") else [_text_value(item)]
        out.metadata.extend((f"name:{location}", v) for v in dict.fromkeys(values) if v)


MAX_OUTLINE_ITEMS = 20_000  # bookmarks read at most; more: the rest is unread (fail closed)


def _navigation(reader, root, out: _Pdf) -> None:
    """What a viewer shows beside the pages: bookmark titles (the side panel, open at start in some files)
    and page-label prefixes (the page-number box) are read like metadata. Too many bookmarks: unread, so the
    document is not released (a loop in the tree is walked once)."""
    from gateway.inspect import actions

    try:
        for item in actions.outline_items(root, MAX_OUTLINE_ITEMS):
            title = _text_value(item.get("/Title"))
            if title:
                out.metadata.append(("outline", title))
    except actions.ActionsUnread:
        out.incomplete.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"over {MAX_OUTLINE_ITEMS} bookmarks"))
    labels = root.get("/PageLabels")
    if labels is not None:
        nodes, count = [labels], 0
        while nodes:
            node = nodes.pop().get_object()
            count += 1
            if count > MAX_OUTLINE_ITEMS:
                out.incomplete.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail="page labels too deep"))
                break
            nums = node.get("/Nums") or []
            for label in list(nums)[1::2]:
                prefix = _text_value(label.get_object().get("/P")) if hasattr(label.get_object(), "get") else ""
                if prefix:
                    out.metadata.append(("page-label", prefix))
            nodes.extend(node.get("/Kids") or [])


MAX_PANEL_ITEMS = 20_000  # layer, portfolio, destination and article names read at most; more: unread


def _side_panels(reader, root, out: _Pdf) -> None:
    """The names a viewer lists in its side panels, read like bookmark titles: the layers panel (each layer's
    /Name, the labels of its /Order, each configuration's /Name; a file may open with the panel shown), a
    portfolio's column headers and folder names, the named destinations (Acrobat's Destinations panel,
    `pdfinfo -dests`) and the article threads' titles. Too many: unread (fail closed)."""
    from gateway.inspect.container_pdf import _name_tree

    found: list[tuple[str, str]] = []

    def add(where: str, value) -> None:
        text = _text_value(value)
        if text:
            found.append((where, text))
        if len(found) > MAX_PANEL_ITEMS:
            raise _TooMany()

    def labels(order, depth: int = 0) -> None:  # an /Order array: references, strings (labels), nested arrays
        if depth > 32:
            raise _TooMany()
        for item in order.get_object() if isinstance(order.get_object(), list) else ():
            value = item.get_object()
            if isinstance(value, list):
                labels(value, depth + 1)
            elif isinstance(value, (str, bytes)):
                add("layer", value)

    try:
        oc = root.get("/OCProperties")
        oc = oc.get_object() if oc is not None else None
        if hasattr(oc, "get"):
            for group in oc.get("/OCGs") or []:
                group = group.get_object()
                if hasattr(group, "get"):
                    add("layer", group.get("/Name"))
            for config in [oc.get("/D")] + list(oc.get("/Configs") or []):
                config = config.get_object() if config is not None else None
                if hasattr(config, "get"):
                    add("layer", config.get("/Name"))
                    if config.get("/Order") is not None:
                        labels(config["/Order"])
        collection = root.get("/Collection")
        collection = collection.get_object() if collection is not None else None
        if hasattr(collection, "get"):
            schema = collection.get("/Schema")
            schema = schema.get_object() if schema is not None else None
            for field in schema.values() if hasattr(schema, "values") else ():
                field = field.get_object()
                if hasattr(field, "get"):
                    add("portfolio", field.get("/N"))
            folders = [collection.get("/Folders")] if collection.get("/Folders") is not None else []
            seen: set[int] = set()
            while folders:
                folder = folders.pop()
                if getattr(folder, "idnum", None) in seen:
                    continue
                seen.add(getattr(folder, "idnum", None))
                folder = folder.get_object()
                if hasattr(folder, "get"):
                    add("portfolio", folder.get("/Name"))
                    folders += [folder[k] for k in ("/Child", "/Next") if folder.get(k) is not None]
        names = root.get("/Names")
        names = names.get_object() if names is not None else None
        if hasattr(names, "get") and names.get("/Dests") is not None:
            for key, _ in _name_tree(names["/Dests"]):
                add("destination", key)
        dests = root.get("/Dests")
        dests = dests.get_object() if dests is not None else None
        for key in dests.keys() if hasattr(dests, "keys") else ():
            add("destination", str(key).lstrip("/"))
        for thread in (root.get("/Threads") or []):
            info = thread.get_object().get("/I") if hasattr(thread.get_object(), "get") else None
            info = info.get_object() if info is not None else None
            if hasattr(info, "get"):
                for key in ("/Title", "/Subject", "/Author"):
                    add("article", info.get(key))
    except _TooMany:
        out.incomplete.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"over {MAX_PANEL_ITEMS} panel names"))
    out.metadata.extend(found[:MAX_PANEL_ITEMS])


class _TooMany(Exception):
    """More names than are read, or a structure too deep."""


def _text_value(v) -> str:
    try:
        v = v.get_object()
    except Exception:  # noqa: BLE001
        pass
    if isinstance(v, str):
        return str(v)
    if isinstance(v, bytes):
        from pypdf.generic import create_string_object

        try:
            return str(create_string_object(bytes(v)))
        except Exception:  # noqa: BLE001
            return bytes(v).decode("latin-1", "replace")
    return ""


def _xmp_fields(data: bytes) -> dict[str, list[str]]:
    """XMP property -> text values (elements and rdf:Description attributes). No DTDs/entities accepted."""
    import xml.etree.ElementTree as ET

    if b"<!ENTITY" in data or b"<!DOCTYPE" in data:
        return {}
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        start = data.find(b"<rdf:RDF")
    end_tag = b"</x:xmpmeta>" if data[start : start + 10] == b"<x:xmpmeta" else b"</rdf:RDF>"
    end = data.find(end_tag, start)
    if start < 0 or end < 0:
        return {}
    root = ET.fromstring(data[start : end + len(end_tag)])
    rdf = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
    fields: dict[str, list[str]] = {}

    def local(tag: str) -> str:
        ns, _, name = tag.rpartition("}")
        prefix = {"{http://purl.org/dc/elements/1.1/": "dc", "{http://ns.adobe.com/pdf/1.3/": "pdf"}.get(ns, "")
        return f"{prefix}:{name}" if prefix else name

    def walk(el, prop: str | None) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        here = prop if tag.startswith(rdf) or not tag else local(tag)
        if tag == rdf + "Description":
            for k, v in el.attrib.items():
                if not k.startswith(rdf):
                    fields.setdefault(local(k), []).append(v)
        if el.text and el.text.strip() and here:
            fields.setdefault(here, []).append(el.text.strip())
        for child in el:
            walk(child, here)

    walk(root, None)
    return fields


MAX_CONTENT_BYTES = 64 * 1024 * 1024  # a page's content streams, inflated; more: the page is not read
_BOMB_MIN_RAW = MAX_CONTENT_BYTES // 1032  # deflate inflates at most ~1032:1: smaller streams need no check


def _too_big(obj) -> bool:
    """Does a stream (or an array of streams) inflate beyond MAX_CONTENT_BYTES? Forms it draws are not opened
    here: pypdf would read an image XObject's data whole (a 200 MB scan) just to learn it is not a form."""
    import zlib

    obj = obj.get_object()
    for item in obj if isinstance(obj, list) else [obj]:
        item = item.get_object()
        raw = getattr(item, "_data", None)
        if isinstance(raw, bytes) and len(raw) >= _BOMB_MIN_RAW:
            filters = item.get("/Filter")
            filters = [filters] if not isinstance(filters, list) else filters
            if "/FlateDecode" in [str(f) for f in filters][:1]:
                d = zlib.decompressobj()
                try:
                    d.decompress(raw, MAX_CONTENT_BYTES)
                except zlib.error:
                    continue  # PDFium's own error handling: a broken stream is an unread page there
                if d.unconsumed_tail:
                    return True
    return False


def _normal_appearances(page) -> list:
    """The normal appearance streams of a page's annotations (every state): flattening draws them."""
    out = []
    annots = page.get("/Annots")
    annots = annots.get_object() if annots is not None else None
    for annot in annots if isinstance(annots, list) else ():
        ap = annot.get_object().get("/AP") if hasattr(annot.get_object(), "get") else None
        normal = ap.get_object().get("/N") if hasattr(ap, "get_object") and hasattr(ap.get_object(), "get") else None
        normal = normal.get_object() if normal is not None else None
        if hasattr(normal, "get_data"):
            out.append(normal)
        elif hasattr(normal, "values"):
            out.extend(v.get_object() for v in normal.values() if hasattr(v.get_object(), "get_data"))
    return out


def _bomb_pages(reader, out: _Pdf) -> set[int]:
    """Pages whose content streams, or the normal appearances of whose annotations (flattening draws them),
    inflate beyond MAX_CONTENT_BYTES: not given to PDFium, which would inflate them whole (a 2 GiB flate bomb
    took 8 GB), and reported unread (fail closed). A file with such a page or such an XMP packet is read by
    PDFium only in a child process with bounded memory."""
    bombs: set[int] = set()
    for i, page in enumerate(reader.pages):
        try:
            contents = page.get("/Contents")
            if contents is not None and _too_big(contents) or any(_too_big(s) for s in _normal_appearances(page)):
                bombs.add(i)
        except Timeout:
            raise
        except Exception:  # noqa: BLE001 - PDFium reads it (or reports it unread) on its own
            continue
    try:
        metadata = reader.trailer["/Root"].get_object().get("/Metadata")
        out.bomb = bool(bombs) or (metadata is not None and _too_big(metadata))
    except Timeout:
        raise
    except Exception:  # noqa: BLE001
        out.bomb = bool(bombs)
    for i in sorted(bombs):
        out.incomplete.append(Reason.of("SECRECY_SCAN_INCOMPLETE",
                                        detail=f"page {i + 1}: content over {MAX_CONTENT_BYTES // (1024 * 1024)} MB"))
    return bombs


def _page_text_layered(fh: BinaryIO, reader, out: _Pdf, deadline: float, skip, twins) -> None:
    """`_page_text` of the document with every layer shown (layers.py); one whose layers cannot all be shown
    is not read completely."""
    import tempfile

    from gateway.inspect import layers

    try:
        with tempfile.NamedTemporaryFile(prefix="kyso-layers-", suffix=".pdf") as tmp:
            layers.shown(fh, reader, tmp)
            tmp.flush()
            _page_text(tmp, out, deadline, skip, twins)
    except Timeout:
        raise
    except Exception as exc:  # noqa: BLE001 - LayersUnread, or a copy that could not be written: unread
        out.incomplete.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"optional content (layers): {_short(exc)}"))


def _alternate_text(fh: BinaryIO, reader, out: _Pdf, deadline: float) -> None:
    """The text of the annotation appearances a viewer shows at a reader's gesture (appearances.py: a check
    box's other state, rollover, down), read like the pages they are on; what cannot be laid out or read is
    not read completely."""
    import tempfile
    from dataclasses import replace

    from pypdf import PdfReader

    from gateway.inspect import appearances

    try:
        found = appearances.alternates(reader)
        if not found:
            return
        # PDFium would inflate an appearance whole, in this process: one that inflates too far is not read
        if any(_too_big(ref) for annots in found.values() for _, refs in annots for ref in refs):
            raise appearances.AppearancesUnread(f"an appearance over {MAX_CONTENT_BYTES // (1024 * 1024)} MB")
        with tempfile.NamedTemporaryFile(prefix="kyso-appearances-", suffix=".pdf") as tmp:
            shows = appearances.laid_out(fh, reader, found, tmp)
            tmp.flush()
            tmp.seek(0)
            laid = _Pdf(encrypted=out.encrypted)
            _page_text(tmp, laid, deadline, set(range(len(reader.pages))), _twins(PdfReader(tmp, strict=False)))
    except Timeout:
        raise
    except Exception as exc:  # noqa: BLE001 - AppearancesUnread, or a copy that could not be read: unread
        out.incomplete.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"annotation appearances: {_short(exc)}"))
        return
    for page in laid.text.pages if laid.text is not None else ():
        index = shows.get(page.index)
        out.lines.extend(replace(line, where=f"appearance:page{index + 1}", page=index) for line in page.lines)
    out.incomplete.extend(laid.incomplete)


def _geometry_text(reader, out: _Pdf, deadline: float) -> None:
    """What annotations without an appearance show when a viewer draws them from their geometry (an ink's
    strokes, a polygon's vertices: appearances.geometry_shapes), read by OCR from a drawing of them; what
    cannot be drawn or read is not read completely."""
    import io

    from gateway.inspect import appearances, ocr

    try:
        shapes = appearances.geometry_shapes(reader)
    except Timeout:
        raise
    except Exception as exc:  # noqa: BLE001 - AppearancesUnread, or geometry that is not numbers: unread
        out.incomplete.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"annotation geometry: {_short(exc)}"))
        return
    for index, page_shapes in sorted(shapes.items()):
        try:
            png = io.BytesIO()
            appearances.drawn(page_shapes).save(png, "PNG")
        except Exception as exc:  # noqa: BLE001 - geometry that cannot be drawn (absurd coordinates): unread
            out.incomplete.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"annotation geometry: {_short(exc)}"))
            continue
        png.seek(0)
        reading = ocr.read_image(png, "image/png", deadline)
        out.lines.extend(Line(line.text, f"appearance:page{index + 1}", index) for line in reading.lines)
        out.incomplete.extend(reading.incomplete)


def _page_text(fh: BinaryIO, out: _Pdf, deadline: float, skip: set[int] = frozenset(), twins: dict | None = None) -> None:
    """Every page's text by geometry (pdftext.py), annotations and their contents included. What could not
    be read in time, or at all, is in `incomplete`: the document is not released on a partial reading."""
    from gateway.inspect import pdftext

    path = getattr(fh, "name", None)
    password = "" if out.encrypted else None
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(0)
    try:
        if isinstance(path, str) and (size > TEXT_CHILD_MIN_BYTES or out.bomb):
            text = pdftext.read_in_child(path, deadline=deadline, max_chars=MAX_TEXT_CHARS, password=password,
                                         skip=skip, twins=twins)
        else:
            source = path if isinstance(path, str) else fh.read()
            text = pdftext.read(source, deadline=deadline, max_chars=MAX_TEXT_CHARS, password=password, skip=skip,
                                twins=twins)
    except Timeout:
        raise
    except Exception as exc:  # noqa: BLE001 - PDFium cannot open what pypdf opened: the text is unread
        log.info("inspect: page text: %s", exc)
        out.incomplete.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"page text: {_short(exc)}"))
        return
    for page in text.pages:
        out.lines.extend(page.lines)
    out.lines.extend(text.extra)
    out.text = text
    out.incomplete.extend(text.incomplete)
