"""What a document is, from its content: `inspect(doc, settings, validator) -> Facts`.

Type by magic bytes (never the name); for PDFs: version, pages, encryption (an empty-password PDF is still
encrypted), broken vs recovered (strict pypdf read fails, lenient succeeds), DocMDP, embedded files, JavaScript,
empty and filled signature fields (validated by gateway.validation), secrecy marks (gateway.secrecy) in the text
of the first pages, in the Info dictionary and XMP, and in what the sender declared, the document number.

Hostile input: the file is hashed in a streamed pass (never read whole), pypdf works on the open file, page and
object counts are capped by settings.limits, text extraction has a time budget, and the whole PDF analysis runs
under a wall-clock limit (SIGALRM when called on the main thread; budget checks between steps otherwise).
Whatever cannot be parsed becomes Facts(broken=True) with a PDF_BROKEN warning, never an exception.
"""

from __future__ import annotations

import hashlib
import logging
import re
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from gateway import secrecy
from gateway.errors import TemporaryError
from gateway.model import Document, Facts, Reason

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
HEAD = 8192
TEXT_PAGES = 3  # secrecy marks stand on the first page (box 10a); a little margin
TEXT_SECONDS = 10.0
MAX_TEXT_CHARS = 200_000
XMP_MAX_BYTES = 1024 * 1024
TEXT_PYPDF_MAX_BYTES = 32 * 1024 * 1024  # above: pdftotext in a child process (pypdf loads page images whole)

_JS_RAW = re.compile(rb"/S\s*/JavaScript\b")  # long enough not to match random image bytes
_NUMBER = re.compile(r"\bSố\s*[:：]\s*([0-9][0-9A-Za-zĐđ./\-–]*?/[0-9A-Za-zĐđ./\-–]*[0-9A-Za-zĐđ])", re.UNICODE)

PDF = "application/pdf"


class _Timeout(BaseException):
    """BaseException on purpose: libraries' `except Exception` must not swallow the deadline."""


# --- type by content ----------------------------------------------------------------------------------


def sniff(head: bytes) -> str:
    """Media type from the first bytes. PDF readers accept the header after up to 1024 bytes of junk."""
    if not head:
        return "application/x-empty"
    if b"%PDF-" in head[:1024 + 5]:
        return PDF
    if head.startswith(b"PK\x03\x04"):
        if b"[Content_Types].xml" in head or b"_rels/" in head:
            if b"word/" in head:
                return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            if b"xl/" in head:
                return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            if b"ppt/" in head:
                return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        if b"mimetypeapplication/vnd.oasis.opendocument.text" in head:
            return "application/vnd.oasis.opendocument.text"
        return "application/zip"
    for magic, media in (
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # .doc/.xls (OLE2)
        (b"{\\rtf", "application/rtf"),
        (b"%!PS", "application/postscript"),
        (b"\x1f\x8b", "application/gzip"),
        (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
        (b"Rar!", "application/vnd.rar"),
        (b"0\x82", "application/pkcs7-signature"),  # DER SEQUENCE: a .p7s or certificate
    ):
        if head.startswith(magic):
            return media
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    sample = head.lstrip(b"\xef\xbb\xbf")
    if b"\x00" not in sample:
        try:
            text = sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = sample[: exc.start].decode("utf-8") if exc.start > len(sample) - 4 else None
        if text is not None:
            low = text.lstrip()[:100].lower()
            if low.startswith("<?xml"):
                return "application/xml"
            if low.startswith(("<!doctype html", "<html")):
                return "text/html"
            return "text/plain"
    return "application/octet-stream"


@dataclass
class _Scan:
    size: int = 0
    sha256: str = ""
    head: bytes = b""
    js_hint: bool = False


def _stream_scan(fh: BinaryIO) -> _Scan:
    """One pass: SHA-256, size, the head, and a raw hint of JavaScript actions (uncompressed objects)."""
    h = hashlib.sha256()
    scan = _Scan()
    tail = b""
    while True:
        chunk = fh.read(CHUNK)
        if not chunk:
            break
        h.update(chunk)
        if len(scan.head) < HEAD:
            scan.head += chunk[: HEAD - len(scan.head)]
        # The chunk alone, and only its first bytes joined to the previous tail for a match across the
        # boundary: no copy of the whole chunk (a 200 MB file was 0.1 s of memcpy here).
        if not scan.js_hint and (_JS_RAW.search(chunk) or (tail and _JS_RAW.search(tail + chunk[:64]))):
            scan.js_hint = True
        tail = chunk[-64:]
        scan.size += len(chunk)
    scan.sha256 = h.hexdigest()
    return scan


# --- time limit -----------------------------------------------------------------------------------------


@contextmanager
def _time_limit(seconds: float):
    """Interrupt the block after `seconds` (SIGALRM, main thread only; elsewhere a no-op).

    Another alarm already armed (pytest-timeout, a caller) is preserved: ours is the earlier of the two, and
    when the earlier one is theirs their handler runs.
    """
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return
    start = time.monotonic()
    deadline = start + seconds
    old_handler = signal.getsignal(signal.SIGALRM)
    old_delay, old_interval = signal.getitimer(signal.ITIMER_REAL)
    old_deadline = start + old_delay if old_delay > 0 else None

    def handler(signum, frame):
        now = time.monotonic()
        if old_deadline is not None and now >= old_deadline - 0.001 and callable(old_handler):
            old_handler(signum, frame)
        if now < deadline - 0.001:  # it was their alarm, not ours: wait for ours
            signal.setitimer(signal.ITIMER_REAL, deadline - now)
            return
        raise _Timeout()

    signal.signal(signal.SIGALRM, handler)
    first = min(seconds, old_delay) if old_delay > 0 else seconds
    signal.setitimer(signal.ITIMER_REAL, first)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_deadline is not None:
            remaining = old_deadline - time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, max(remaining, 0.001), old_interval)


# --- PDF ------------------------------------------------------------------------------------------------


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
    marks: secrecy.Marks = field(default_factory=secrecy.Marks)
    number: str | None = None
    warnings: list[Reason] = field(default_factory=list)


def _open_reader(fh: BinaryIO, strict: bool):
    from pypdf import PdfReader

    fh.seek(0)
    return PdfReader(fh, strict=strict)


def _analyse_pdf(fh: BinaryIO, settings, doc: Document, deadline: float) -> _Pdf:
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
        except _Timeout:
            raise
        except Exception as strict_exc:  # noqa: BLE001
            try:
                reader = _open_reader(fh, strict=False)
                out.recovered = True
                out.warnings.append(Reason.of("PDF_RECOVERED", detail=_short(strict_exc)))
            except _Timeout:
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
            except _Timeout:
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
        except _Timeout:
            raise
        except Exception as exc:  # noqa: BLE001
            out.broken = True
            out.warnings.append(Reason.of("PDF_BROKEN", detail=_short(exc)))
            return out
        for step in (_catalog_facts, _form_facts, _metadata_marks):
            try:
                step(reader, root, out)
            except _Timeout:
                raise
            except Exception as exc:  # noqa: BLE001 - one odd structure does not hide the others
                log.info("inspect: %s failed: %s", step.__name__, exc)
        text_deadline = min(deadline, time.monotonic() + TEXT_SECONDS)
        path = getattr(fh, "name", None)
        big = isinstance(path, str) and doc.size > TEXT_PYPDF_MAX_BYTES and not out.encrypted
        if not (big and _pdftotext_marks(path, out, text_deadline)):
            _text_marks(reader, out, text_deadline)
    return out


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


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


def _count_name_tree(node, depth: int = 0) -> int:
    node = node.get_object()
    if depth > 32:
        return 0
    n = len(node.get("/Names", []) or []) // 2
    for kid in node.get("/Kids", []) or []:
        n += _count_name_tree(kid, depth + 1)
    return n


def _form_facts(reader, root, out: _Pdf) -> None:
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


def _metadata_marks(reader, root, out: _Pdf) -> None:
    info = {}
    try:
        meta = reader.metadata or {}
        info = {str(k): str(v) for k, v in meta.items() if isinstance(v, str)}
    except Exception:  # noqa: BLE001
        pass
    out.marks = out.marks | secrecy.scan_metadata(info, "info")
    md = root.get("/Metadata")
    if md is None:
        return
    data = md.get_object().get_data()[:XMP_MAX_BYTES]
    out.marks = out.marks | secrecy.scan_metadata(_xmp_fields(data), "xmp")


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


def _pdftotext_marks(path, out: _Pdf, deadline: float) -> bool:
    """Text of the first pages by poppler's pdftotext in a child process (large files: pypdf would load every
    image XObject of the page into memory). Killed at the deadline. False when pdftotext is not available."""
    import shutil
    import subprocess

    exe = shutil.which("pdftotext")
    if exe is None:
        return False
    try:
        proc = subprocess.run(
            [exe, "-q", "-f", "1", "-l", str(TEXT_PAGES), "-enc", "UTF-8", str(path), "-"],
            capture_output=True,
            timeout=max(0.5, deadline - time.monotonic()),
        )
    except subprocess.TimeoutExpired:
        out.warnings.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail="time budget (pdftotext)"))
        return True
    if proc.returncode != 0 and not proc.stdout.strip():
        return False  # poppler could not read it (pypdf read it leniently): let pypdf scan, never skip the scan
    for i, text in enumerate(proc.stdout.decode("utf-8", "replace")[:MAX_TEXT_CHARS].split("\f")[:TEXT_PAGES]):
        out.marks = out.marks | secrecy.scan_text(text, f"text:page{i + 1}")
        if out.number is None:
            m = _NUMBER.search(secrecy.normalise(text))
            if m:
                out.number = m.group(1)
    return True


def _text_marks(reader, out: _Pdf, deadline: float) -> None:
    total = 0
    for i, page in enumerate(reader.pages):
        if i >= TEXT_PAGES:
            break
        if time.monotonic() > deadline:
            out.warnings.append(Reason.of("SECRECY_SCAN_INCOMPLETE", detail=f"time budget, page {i + 1}"))
            break
        try:
            text = page.extract_text() or ""
        except _Timeout:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad content stream on one page
            log.info("inspect: text of page %d: %s", i + 1, exc)
            continue
        text = text[: MAX_TEXT_CHARS - total]
        total += len(text)
        out.marks = out.marks | secrecy.scan_text(text, f"text:page{i + 1}")
        if out.number is None:
            m = _NUMBER.search(secrecy.normalise(text))
            if m:
                out.number = m.group(1)


# --- the entry point --------------------------------------------------------------------------------------


def inspect(doc: Document, settings, validator=None) -> Facts:
    """Facts about `doc` from its content. Raises only TemporaryError (a hard-fail revocation source down)."""
    declared = secrecy.scan_declared(doc.declared.classification, "declared:classification") | secrecy.scan_subject(
        doc.declared.title, "declared:title"
    )
    with doc.open() as fh:
        scan = _stream_scan(fh)
        media = sniff(scan.head)
        facts = Facts(media_type=media, size=scan.size, sha256=scan.sha256)
        if media == "text/plain":
            fh.seek(0)
            text = fh.read(MAX_TEXT_CHARS).decode("utf-8", "replace")
            declared = declared | secrecy.scan_text(text, "text")
        if media != PDF:
            return _with_marks(facts, declared)
        deadline = time.monotonic() + settings.limits.document_seconds
        try:
            with _time_limit(settings.limits.document_seconds):
                pdf = _analyse_pdf(fh, settings, doc, deadline)
        except _Timeout:
            pdf = _Pdf(broken=True, warnings=[Reason.of("TIME_LIMIT", seconds=settings.limits.document_seconds)])
        except RecursionError as exc:
            pdf = _Pdf(broken=True, warnings=[Reason.of("PDF_BROKEN", detail=_short(exc))])
        pdf.javascript = pdf.javascript or scan.js_hint
        signatures = ()
        if pdf.filled_sig_fields and not pdf.broken and validator is not None:
            fh.seek(0)
            try:
                signatures = validator.validate_pdf(fh)
            except TemporaryError:
                raise
            except Exception as exc:  # noqa: BLE001 - validate_pdf promises not to, but fail closed if it does
                log.warning("inspect: validation failed: %s", exc)
                from gateway.validation import _unreadable

                signatures = (_unreadable("", exc),)
    marks = pdf.marks | declared
    warnings = list(pdf.warnings)
    for sig in signatures:
        warnings.extend(sig.warnings)
    facts = replace(
        facts,
        pdf_version=pdf.version,
        page_count=pdf.pages,
        encrypted=pdf.encrypted,
        broken=pdf.broken,
        recovered=pdf.recovered,
        docmdp_level=pdf.docmdp,
        embedded_files=pdf.embedded,
        javascript=pdf.javascript,
        signatures=tuple(signatures),
        empty_signature_fields=tuple(pdf.empty_sig_fields),
        number=pdf.number,
        warnings=tuple(dict.fromkeys(warnings)),
    )
    return _with_marks(facts, marks)


def _with_marks(facts: Facts, marks: secrecy.Marks) -> Facts:
    return replace(facts, secrecy=marks.secrecy, recall_mark=marks.recall, internal_circulation=marks.internal)
