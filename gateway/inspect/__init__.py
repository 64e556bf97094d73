"""What a document is, from its content: `inspect(doc, settings, validator) -> Facts`.

One sniffer (`sniff`) says what the bytes are, by content, never by name or declared type; one reader per
type (`pdf`, `text`, ... each in its own module) turns the bytes into a `Reading` (reading.py): the text a
person could see, metadata, what could not be read, how the type can be signed. On top of every reading,
the same rules: secrecy and box-11 marks (`marks`), and the number of the document.

Fail closed: a type without a reader is unsupported (`signable` None: the policy refuses it), and
whatever a reader could not read completely is in `Facts.incomplete` (the policy refuses it, or BLOCKs when
a mark was seen anyway). The file is hashed in one streamed pass, never read whole.
"""

from __future__ import annotations

import importlib
import hashlib
import itertools
import logging
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from gateway.errors import TemporaryError
from gateway.inspect import hints
from gateway.inspect import marks as marks_mod
from gateway.inspect.limits import Timeout, time_limit
from gateway.inspect.reading import Reading
from gateway.inspect.sniff import HEAD_BYTES, PDF, PDF_WINDOW, sniff, sniff_file
from gateway.model import Document, Facts, Member, Reason, SignFormat

if TYPE_CHECKING:
    from gateway.inspect.members import Extraction
S = importlib.import_module("gateway.inspect.sniff")  # the module (the package re-exports a function `sniff`)

__all__ = ["inspect", "sniff", "sniff_file", "PDF", "read"]

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_NUMBER = re.compile(r"\bSố\s*[:：]\s*([0-9][0-9A-Za-zĐđ./\-–]*?/[0-9A-Za-zĐđ./\-–]*[0-9A-Za-zĐđ])", re.UNICODE)


@dataclass
class _Scan:
    size: int = 0
    sha256: str = ""
    head: bytes = b""
    js_hint: bool = False
    sig_hint: bool = False  # a /ByteRange in the raw bytes: something signed, whatever the structure says
    alt_hint: bool = False  # an image's /Alternates: what is printed may not be what the page shows
    embedded_streams: int = 0  # the name /EmbeddedFile in the raw bytes: embedded file streams (and their copies
    # in earlier revisions); more than the attachment lists reach: every stream object is looked at
    file_specs: int = 0  # the name /EF in the raw bytes: file specifications with an embedded file (likewise)


_HINT_FLAGS = {hints.SCRIPT: "js_hint", hints.SIGNATURE: "sig_hint", hints.ALTERNATE: "alt_hint"}


def _stream_scan(fh: BinaryIO) -> _Scan:
    """One pass: SHA-256, size, the head, and raw hints of JavaScript actions and signatures (uncompressed
    objects). The hints serve only the PDF reader, so they are looked for only in a file whose head a PDF
    reader would open (a mail message of 1.4 MB: ~0.8 ms less)."""
    h = hashlib.sha256()
    scan = _Scan()
    tail = b""
    pdfish: bool | None = None  # unknown until the head holds the PDF window
    while True:
        chunk = fh.read(CHUNK)
        if not chunk:
            break
        h.update(chunk)
        if len(scan.head) < HEAD_BYTES:
            scan.head += chunk[: HEAD_BYTES - len(scan.head)]
        if pdfish is None and len(scan.head) >= PDF_WINDOW + 5:
            pdfish = b"%PDF-" in scan.head[: PDF_WINDOW + 5]
        if pdfish is False:
            scan.size += len(chunk)
            continue
        # The chunk alone, and only its first bytes joined to the previous tail for a match across the
        # boundary: no copy of the whole chunk (a 200 MB file was 0.1 s of memcpy here). One pass for both.
        # (An embedded file's name near the boundary may be counted twice: more looking, never less.)
        for hint in itertools.chain(hints.found(tail + chunk[:64]) if tail else (), hints.found(chunk)):
            if hint == hints.EMBEDDED:
                scan.embedded_streams += 1
            elif hint == hints.FILE_SPEC:
                scan.file_specs += 1
            else:
                setattr(scan, _HINT_FLAGS[hint], True)
        tail = chunk[-64:]
        scan.size += len(chunk)
    scan.sha256 = h.hexdigest()
    return scan


# --- readers ------------------------------------------------------------------------------------------------


def _read_text(fh: BinaryIO, media: str, doc: Document, settings, work=None) -> Reading:
    from dataclasses import replace as dc_replace

    from gateway.inspect import text

    reading = text.read(fh, media, settings)
    uris, drawings = reading.extra.get("data_uris") or (), reading.extra.get("svg") or ()
    carried = reading.extra.get("calendar_files") or ()
    if not uris and not drawings and not carried:
        return reading
    # Markup shows what its data: URIs hold (a mail's HTML body with an inline picture of a stamp), and an SVG
    # what it draws (svgdraw.py): each is a member ("inline": read, never signed). A meeting request or a
    # contact card carries files inline (calendar.py): an attachment ("embedded") or a photo ("inline"), read,
    # never signed (the carrier's signature covers them). With no place to put them, they are not read.
    if work is None:
        return dc_replace(reading, incomplete=(Reason.of("DOCUMENT_UNREADABLE", detail="pictures and drawings not read"),))
    ex = work.child()
    refs = [ex.store(data, location=f"data:{i + 1}", name="", role="inline", media_type=m)
            for i, (m, data) in enumerate(uris)]
    refs += [ex.store(f.data, location=f"calendar:{i + 1}:{f.prop}", name=f.name, role=f.role, media_type=f.media_type)
             for i, f in enumerate(carried)]
    incomplete = list(reading.incomplete)
    for i, svg in enumerate(drawings):
        refs.append(_drawn_svg(svg, i + 1, ex, incomplete))
    refs = [r for r in refs if r is not None]
    return dc_replace(reading, members=tuple(refs), incomplete=tuple(incomplete),
                      signable=None if incomplete else reading.signable)


def _drawn_svg(svg: bytes, number: int, ex, incomplete: list):
    """The member holding `svg` drawn as a PDF, or None with the reason it was not drawn in `incomplete`."""
    import tempfile

    from gateway.inspect import svgdraw

    with tempfile.TemporaryDirectory(prefix="kyso-svg-", dir=ex.dir) as tmp:
        pdf, problem = svgdraw.draw(svg, Path(tmp))
        if pdf is None:
            incomplete.append(Reason.of("DOCUMENT_UNREADABLE", detail=f"SVG drawing {number} not drawn: {problem}"))
            return None
        with open(pdf, "rb") as f:
            return ex.extract(f, location=f"svg:{number}", name=f"hình vẽ SVG {number}.pdf", role="inline",
                              media_type=PDF)


def _read_image(fh: BinaryIO, media: str, doc: Document, settings, work=None) -> Reading:
    from gateway.inspect import ocr

    return ocr.read_image(fh, media, time.monotonic() + settings.limits.document_seconds)


_METAFILES = {"image/emf": ".emf", "image/wmf": ".wmf"}


def _read_metafile(fh: BinaryIO, media: str, doc: Document, settings, work=None) -> Reading:
    """An EMF or WMF picture: no reader here decodes it; LibreOffice draws it, and the drawing (a PDF) is read
    like any, as a member ("inline": read, never signed). Not drawn: not read completely."""
    import tempfile

    from gateway.inspect import office_legacy

    problem = "no work directory"
    if work is not None:
        ex = work.child()
        with tempfile.TemporaryDirectory(prefix="kyso-metafile-", dir=ex.dir) as tmp:
            pdf, problem = office_legacy.converted(fh, _METAFILES[media], "pdf", settings, Path(tmp))
            if pdf is not None:
                with open(pdf, "rb") as f:
                    ref = ex.extract(f, location="drawn", name=doc.name or "EMF/WMF", role="inline", media_type=PDF)
                return Reading(media, members=(ref,), signable=SignFormat.CADES)
    return Reading(media, incomplete=(Reason.of("DOCUMENT_UNREADABLE", detail=f"EMF/WMF picture not drawn: {problem}"),))


def _read_office(fh: BinaryIO, media: str, doc: Document, settings, work=None) -> Reading:
    from gateway.inspect import office

    return office.read(fh, media, settings, ex=work)


def _read_rtf(fh: BinaryIO, media: str, doc: Document, settings, work=None) -> Reading:
    from gateway.inspect import rtf

    return rtf.read(fh, settings, ex=work)


def _read_polyglot(fh: BinaryIO, media: str, doc: Document, settings, work=None) -> Reading:
    return Reading(media, incomplete=(Reason.of("FILE_POLYGLOT"),))


_TEXT_TYPES = frozenset({S.TEXT, S.HTML, S.XML, S.SVG})
_OFFICE_TYPES = (
    S.OOXML_TYPES | S.LEGACY_OFFICE | {S.OOXML_ENCRYPTED, S.FODF, S.WORD_XML, S.EXCEL_XML, S.ODF}
)


def _reader_for(media: str):
    """The reader of a media type, or None: a type the gateway cannot read is refused, never passed."""
    from gateway.inspect.ocr import IMAGE_TYPES

    if media in _TEXT_TYPES:
        return _read_text
    if media in IMAGE_TYPES:
        return _read_image
    if media in _METAFILES:
        return _read_metafile
    if media in _OFFICE_TYPES or S.is_odf(media):
        return _read_office
    if media == S.RTF:
        return _read_rtf
    if media == S.POLYGLOT:
        return _read_polyglot
    return None


def read(fh: BinaryIO, media: str, doc: Document, settings, work=None) -> Reading:
    """The Reading of a non-PDF document (PDFs go through `_inspect_pdf`, which also validates signatures).

    Bounded by `limits.document_seconds` like a PDF: a reader that runs out of time reports it (incomplete).
    """
    reader = _reader_for(media)
    if reader is None:
        return Reading(media_type=media)
    seconds = settings.limits.document_seconds
    try:
        with time_limit(seconds):
            return reader(fh, media, doc, settings, work)
    except Timeout:
        return Reading(media_type=media, incomplete=(Reason.of("TIME_LIMIT", seconds=seconds),))


# --- the entry point --------------------------------------------------------------------------------------


def inspect(doc: Document, settings, validator=None, work: "Extraction | None" = None, *,
            role: str = "document") -> Facts:
    """Facts about `doc` from its content. Raises only TemporaryError (a hard-fail revocation source down).

    A container's members are extracted into `work` (the pipeline's private work directory and the budget
    its whole recursion shares, gateway.inspect.members) and inspected in turn, each as a document of its
    own: `Facts.members`. Without `work`, a temporary one is used and removed on return (the members' facts
    stay; their bytes do not). `role` is the document's role inside its container ("document" at the top).
    """
    from gateway.inspect.members import Extraction

    own = work is None
    if own:
        import tempfile

        work = Extraction.under(Path(tempfile.gettempdir()), settings)
    try:
        return _inspect(doc, settings, validator, work, role)
    finally:
        if own:
            work.close()


def _inspect(doc: Document, settings, validator, work, role: str) -> Facts:
    from gateway.inspect import containers

    declared = marks_mod.scan_declared(doc.declared.classification, "declared:classification") | marks_mod.scan_subject(
        doc.declared.title, "declared:title"
    )
    with doc.open() as fh:
        scan = _stream_scan(fh)
        media = sniff_file(fh, scan.head)
        facts = Facts(media_type=media, size=scan.size, sha256=scan.sha256)
        if media == PDF:
            facts, reading = _inspect_pdf(fh, facts, doc, settings, validator, scan, work)
        elif containers.kind_of(media) is not None:
            reading = containers.read(_path_of(doc, fh, work), media, work.child(), doc.name)
            facts = replace(facts, container=reading.container, encrypted=reading.encrypted,
                            sender_signed=tuple(reading.extra.get("sender_signed", ())))
            if b"%PDF-" in scan.head[: PDF_WINDOW + 5]:
                # A polyglot: a PDF reader would open this archive too. What it would show is read for marks.
                _, as_pdf = _inspect_pdf(fh, facts, doc, settings, None, scan, work)
                reading = replace(reading, lines=reading.lines + as_pdf.lines,
                                  metadata=reading.metadata + as_pdf.metadata)
        else:
            fh.seek(0)
            reading = read(fh, media, doc, settings, work.child())
            incomplete = reading.incomplete
            if role != "document" and _reader_for(media) is None:
                # Read for marks, never signed: a type no reader reads cannot be checked (fail closed).
                incomplete += (Reason.of("MEMBER_NOT_READ", media_type=media),)
            reading = replace(reading, incomplete=incomplete)
            facts = replace(
                facts,
                signable=reading.signable,
                encrypted=reading.encrypted,
                broken=reading.broken,
                page_count=reading.pages,
                warnings=tuple(dict.fromkeys(reading.warnings)),
            )
    # its file name, as a mail attachment's is read: the four doors agree on "TỐI MẬT - công văn.pdf"
    named = marks_mod.scan_metadata({"document": doc.name}, "name") if doc.name else marks_mod.Marks()
    found = marks_mod.scan_reading(reading) | declared | named
    form = _form(reading)
    members = _inspect_members(doc, reading, settings, validator, work, role) if reading.members else ()
    return replace(
        facts,
        form=form,
        incomplete=tuple(dict.fromkeys(reading.incomplete)),
        number=facts.number or (form.number if form else None) or _number(reading),
        secrecy=found.secrecy,
        marks=found.circulation,
        members=members,
    )


def _form(reading: Reading):
    """The Decree 30 form of the text (gateway.inspect.forms), None when the reading has no text at all."""
    if not reading.lines:
        return None
    from gateway.inspect import forms

    return forms.recognise(reading.lines)


def _path_of(doc: Document, fh, work) -> Path:
    """A file to open the container from: the document's own, or its bytes in the work directory."""
    if doc.path is not None:
        return Path(doc.path)
    fh.seek(0)
    return work.extract(fh, location="", name=doc.name).path


def _inspect_members(doc: Document, reading: Reading, settings, validator, work, role: str) -> tuple[Member, ...]:
    """Each member as a document of its own: channel, kind, origin and what was declared are the container's;
    its type is sniffed from its content. Members of a member that is only read (body, inline, embedded)
    are only read too."""
    child = work.child()
    out = []
    for ref in reading.members:
        member_role = ref.role if role == "document" else role
        declared = doc.declared
        if ref.declared:  # the member's own declaration (a MIME part's X-Kyso-* headers) over the container's
            from gateway import declare

            declared = declare.overlay(doc.declared, dict(ref.declared))
        mdoc = Document(
            channel=doc.channel,
            name=ref.name,
            path=ref.path,
            kind=declared.kind or doc.kind,
            media_type=ref.media_type,
            origin=doc.origin,
            declared=declared,
        )
        out.append(Member(ref.location, member_role, mdoc, _inspect(mdoc, settings, validator, child, member_role)))
    return tuple(out)


def _embedded_files(fh, pdf, work, streams: int = 0, specs: int = 0) -> Reading:
    """The files embedded in a PDF, as members with role "embedded" (container_pdf; `streams` and `specs`: how
    many embedded file streams and file specifications with an embedded file the raw bytes and the object
    streams name, and more than the lists reach: the file's objects are looked through); nothing when the PDF
    itself could not be read (it is refused for that) or when there is no work directory to put them in."""
    if work is None or pdf.broken or pdf.encrypted:
        return Reading(PDF)
    from functools import partial

    from gateway.inspect import container_pdf
    from gateway.inspect.members import read_container

    ex = work.child()
    if ex.budget.remaining() <= 0 and pdf.incomplete:
        return Reading(PDF)  # the document's time ran out in its own reading: refused for that already
    # pypdf walks the carrier's trees here: within what is left of the document's time (on the main thread;
    # elsewhere the budget's deadline is checked between members).
    try:
        with time_limit(max(ex.budget.remaining(), 0.001)):
            reading = read_container("pdf", PDF, partial(container_pdf.members, reader=pdf.reader,
                                                         streams=streams, specs=specs), fh, ex)
    except Timeout:
        return Reading(PDF, incomplete=(Reason.of("TIME_LIMIT", seconds=ex.budget.seconds),))
    # A carrier is not an archive: what stopped the reading of its attachments is "cannot be read completely".
    incomplete = tuple(
        r if r.code != "CONTAINER_BROKEN" else Reason.of("DOCUMENT_UNREADABLE", detail="embedded files: " + r.args.get("detail", ""))
        for r in reading.incomplete
    )
    return Reading(PDF, members=reading.members, incomplete=incomplete)


def _number(reading: Reading) -> str | None:
    for line in reading.lines:
        m = _NUMBER.search(marks_mod.normalise(line.text))
        if m:
            return m.group(1)
    return None


def _analysed(fh, settings, doc: Document, deadline: float, seconds: float, scan: _Scan):
    """`pdf.analyse` of the file, or the reading of the same bytes kept from before (memo.py: complete, or
    incomplete only for reasons the bytes settle)."""
    from gateway.inspect import memo
    from gateway.inspect import pdf as pdf_reader

    limits = settings.limits
    key = ("pdf", scan.sha256, scan.size, limits.max_pdf_objects, limits.max_pages) if scan.sha256 else None
    kept = memo.PDF_READINGS.get(key) if key else None
    if kept is not None:
        return _copy(kept)
    started = time.monotonic()
    with time_limit(seconds):
        pdf = pdf_reader.analyse(fh, settings, doc, deadline)
    if key and memo.settled(pdf.incomplete) and time.monotonic() - started >= memo.MIN_SECONDS:
        cost = sum(len(line.text) for line in pdf.lines) + sum(len(k) + len(v) for k, v in pdf.metadata) + 1
        memo.PDF_READINGS.put(key, _copy(pdf), cost)
    return pdf


def _copy(pdf):
    """A reading that shares no mutable list with the kept one (without its page objects: not needed after)."""
    return replace(pdf, lines=list(pdf.lines), metadata=list(pdf.metadata), incomplete=list(pdf.incomplete),
                   warnings=list(pdf.warnings), empty_sig_fields=list(pdf.empty_sig_fields), text=None, reader=None)


def _inspect_pdf(fh, facts: Facts, doc: Document, settings, validator, scan: _Scan, work=None) -> tuple[Facts, Reading]:
    from gateway.inspect import pdf as pdf_reader

    # A PDF inside a container has what is left of the document's time, not a fresh allowance.
    seconds = settings.limits.document_seconds
    if work is not None and work.depth > 0:
        seconds = max(min(seconds, work.budget.remaining()), 0.001)
    deadline = time.monotonic() + seconds
    try:
        pdf = _analysed(fh, settings, doc, deadline, seconds, scan)
    except Timeout:
        pdf = pdf_reader._Pdf(broken=True, warnings=[Reason.of("TIME_LIMIT", seconds=settings.limits.document_seconds)])
        pdf.incomplete.append(Reason.of("TIME_LIMIT", seconds=settings.limits.document_seconds))
    except RecursionError as exc:
        pdf = pdf_reader._Pdf(broken=True, warnings=[Reason.of("PDF_BROKEN", detail=pdf_reader._short(exc))])
    pdf.javascript = pdf.javascript or scan.js_hint
    if scan.alt_hint:  # Acrobat prints an image's alternate, which no page read here shows
        pdf.incomplete.append(Reason.of("DOCUMENT_UNREADABLE", detail="an image's alternates for printing"))
    signatures = ()
    byte_range = scan.sig_hint or pdf.compressed_byte_range
    # One discovery for policy and `gateway verify` (issue 17 §3): the validator's own, on every readable PDF,
    # not only when this reader counted signature fields (it missed widgets outside the form and files whose
    # revisions reuse object numbers).
    if not pdf.broken and not pdf.encrypted and validator is not None:
        fh.seek(0)
        try:
            signatures = validator.validate_pdf(fh, byte_range_seen=byte_range)
        except TemporaryError:
            raise
        except Exception as exc:  # noqa: BLE001 - validate_pdf promises not to, but fail closed if it does
            log.warning("inspect: validation failed: %s", exc)
            from gateway.validation import _unreadable

            signatures = (_unreadable("", exc),)
        if (len(signatures) == 1 and not signatures[0].field_name and not signatures[0].intact
                and not byte_range and not pdf.filled_sig_fields):
            # the validator's reader could not open the file, and nothing in it looks signed: no signature to
            # judge; whether it can be signed is the signer's question (PDF_BROKEN, or a repair), asked in
            # the dry run too
            signatures = ()
    warnings = list(pdf.warnings)
    for sig in signatures:
        warnings.extend(sig.warnings)
    embedded = _embedded_files(fh, pdf, work, scan.embedded_streams, scan.file_specs + pdf.compressed_file_specs)
    reading = Reading(
        media_type=PDF,
        lines=tuple(pdf.lines),
        metadata=tuple(pdf.metadata),
        incomplete=tuple(pdf.incomplete) + embedded.incomplete,
        members=embedded.members,
        signable=SignFormat.PADES,
        encrypted=pdf.encrypted,
        broken=pdf.broken,
        pages=pdf.pages,
    )
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
        signable=SignFormat.PADES,
        warnings=tuple(dict.fromkeys(warnings)),
    )
    return facts, reading
