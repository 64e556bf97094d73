"""The office reader: OOXML (docx/xlsx/pptx and their macro/template variants), ODF (odt/ods/odp/odg, flat
ODF XML), Word/Excel 2003 XML, and legacy .doc/.xls/.ppt (through LibreOffice, see `office_legacy.py`).

What is read — every XML part of the package, not a chosen few, so nothing a person could open is skipped:
- Word: body, headers, footers, text boxes and shapes (DrawingML and VML), comments, footnotes, endnotes,
  tracked changes (deleted and moved text a reviewer still sees), hidden text, field codes, content
  controls, glossary, form-field help and defaults, document variables, alternative text;
- Excel: every sheet (hidden and very hidden too) cell by cell — shared and inline strings, values,
  formulas —, sheet names, defined names, cell comments (legacy and threaded), shapes, charts, pivot and
  external-link caches, data-validation prompts and drop-down list items;
- PowerPoint: slides, notes, masters and layouts, comments, charts, SmartArt;
- ODF: content.xml, styles.xml (page headers and footers live there), annotations, notes, tracked
  deletions, frames, sheet and slide names, content-validation list items, sub-documents (charts, formulas);
- document properties: core (title, subject, keywords, description, category, status, authors), app
  (company, manager, titles of parts), custom (every name = value), ODF meta (and user-defined).

Fail closed: whatever is not read completely makes the Reading `incomplete`, with its own reason code —
an encrypted package (OFFICE_ENCRYPTED), macros or ActiveX (OFFICE_MACROS: code that can change what a
recipient sees), a package that is malformed or ambiguous (duplicate or case-folded part names, a DTD,
an encrypted ZIP entry: OFFICE_MALFORMED), a bomb (OFFICE_LIMIT), a part the reader cannot read itself and
has nowhere to hand on (OFFICE_EMBEDDED_UNREAD), a Word document that asks for its fields to be updated on
opening and holds a kind not worked out here (IF, INCLUDETEXT, MERGEFIELD ...: DOCUMENT_UNREADABLE; references
to bookmarks, SET/ASK/FILLIN, document properties and variables, and ODF user fields, variables, bookmark
references and hidden text are worked out, see `_Formats`). Embedded objects, packages and images are "parts a
recipient could open": when the caller gives a work directory they are returned as `members` (role
"embedded") for the member recursion to sniff and read like any document; images are read by the image
reader (OCR) when one is registered, and until then make the document refused, never passed.
`signable` is CAdES only when the whole document was read.

XML is parsed by lxml with entities unresolved, no DTD loaded, no network, no huge trees; a part that
declares a DTD at all is refused (OOXML forbids one; Word refuses such files too).
"""

from __future__ import annotations

import importlib
import io
import posixpath
import re
import time
import zipfile
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

S = importlib.import_module("gateway.inspect.sniff")  # the module (the package re-exports a function `sniff`)
from gateway.inspect import formulas
from gateway.inspect.reading import Line, MemberRef, Reading
from gateway.model import Reason, SignFormat


@dataclass(frozen=True)
class PackageLimits:
    """Bounds on one OOXML/ODF package (zip-bomb and billion-laughs defence)."""

    max_parts: int = 10_000
    max_expanded_bytes: int = 512 * 1024 * 1024  # all parts decompressed, counted as they are read
    max_part_bytes: int = 256 * 1024 * 1024
    max_ratio: int = 200  # decompressed / compressed, for parts over ratio_floor
    ratio_floor: int = 1024 * 1024
    max_lines: int = 2_000_000
    seconds: float = 120.0

    @classmethod
    def from_settings(cls, settings) -> "PackageLimits":
        limits = getattr(settings, "limits", None)
        seconds = float(getattr(limits, "document_seconds", cls.seconds) or cls.seconds)
        return cls(seconds=seconds)


class _Refused(Exception):
    """The package cannot be read completely: stop reading, report this reason."""

    def __init__(self, reason: Reason):
        super().__init__(reason.code)
        self.reason = reason


# --- namespaces and element roles -------------------------------------------------------------------------

# Elements whose end closes a line (a paragraph, a heading, a shared string, a list item ...).
_BLOCKS = {
    "p",  # w:p, a:p, text:p
    "h",  # text:h
    "si",  # sml shared string item
    "text",  # sml comment text, pml comment text (runs without a paragraph)
    "definedName",
    "title",  # dc:title / svg:title
    "desc",
    "cellvalue",
}
# Empty elements that stand for white space.
_SPACES = {"tab": "\t", "br": "\n", "cr": "\n", "line-break": "\n", "noBreakHyphen": "-", "softHyphen": ""}
# Attributes that a person sees (alternative text, tooltips, drop-down items, form-field help, prompts,
# sheet and slide names, cell values kept as attributes in ODF).
_VISIBLE_ATTRS = {
    "descr", "title", "tooltip", "displayText", "prompt", "promptTitle", "error", "errorTitle", "string-value",
    # displayed text kept in attributes: VML WordArt (v:textpath/@string), ODF list labels, form controls
    "string", "num-prefix", "num-suffix", "bullet-char", "label", "caption", "prefix", "suffix", "text",
    "value", "current-value", "placeholder",
    # ODF conditional text: either string, whichever the condition gives when the fields are updated
    "string-value-if-true", "string-value-if-false",
    # a comment's or a tracked change's author and initials, shown beside it
    "author", "initials",
}
_VAL_ELEMENTS = {"docVar", "statusText", "helpText", "default", "result", "listItem", "alias", "lvlText"}
_NAME_ELEMENTS = {"sheet", "table", "page", "definedName", "docVar", "property"}
# Where a line stands, from an ancestor element's local name (innermost wins).
_WHERE_BY_TAG = {
    "txbxContent": "textbox",
    "textbox": "textbox",
    "text-box": "textbox",
    "annotation": "comment",
    "del": "deleted",
    "moveFrom": "deleted",
    "deletion": "deleted",
    "header": "header",
    "header-left": "header",
    "header-first": "header",
    "footer": "footer",
    "footer-left": "footer",
    "footer-first": "footer",
}

# Parts whose text all stands in paragraphs (WordprocessingML, PresentationML, DrawingML, ODF text): read
# block by block in C (lxml) — the fast path for large documents. Other XML parts are walked element by
# element (`_walk_text`), where text outside any paragraph is read too.
_FAST_PARTS = re.compile(
    r"(?i)^(?:word/(?:document|header\d*|footer\d*|footnotes|endnotes|comments|glossary/document)\.xml|"
    r"ppt/(?:slides|notesslides|slidemasters|slidelayouts|notesmasters|handoutmasters)/[^/]+\.xml|"
    r"xl/drawings/drawing\d*\.xml|content\.xml|styles\.xml)$"
)
# Names of non-XML, non-image parts that hold nothing shown (printer settings). A name only decides for such
# parts: whatever sniffs as XML is read for text, as an image is OCR'd, as a document is a member. Fonts are
# not skipped: they draw the text (see read()).
_OOXML_SKIP = re.compile(r"(?i)^(?:\[content_types\]\.xml|.*\.rels|.*/printersettings\d*\.bin|customui/.*\.png)$")
# Parts that may hold drawings, and what a freeform shape is in them: DrawingML custom geometry, VML polylines and
# curves, ODF paths, polygons, polylines and custom shapes of a path of their own (non-primitive, as LibreOffice
# keeps a PowerPoint freeform). Such a shape draws letters from outlines with no text at all.
_DRAWING_PARTS = re.compile(r"(?i)^(?:word/|ppt/|xl/drawings/|content\.xml$|styles\.xml$)")
_FREEFORM = re.compile(rb"<(?:[\w.-]+:)?(?:custGeom|polyline|curve)\b|<draw:(?:path|polygon|polyline)\b"
                       rb"|draw:type=\"(?:ooxml-)?non-primitive\"")
_FONT_TYPES = ("application/x-fontdata", "application/vnd.openxmlformats-officedocument.obfuscatedfont",
               "application/x-font", "font/")
_MACRO_PARTS = re.compile(r"(?i)(?:^|/)(?:vbaproject\.bin|vbadata\.xml|activex/.*\.bin|.*\.vba)$|^(?:basic|scripts)/")
_APP_TEXT = {"Company", "Manager", "Template", "TitlesOfParts", "HyperlinkBase"}
_CORE_SKIP = {"created", "modified", "revision", "lastPrinted", "creation-date", "date", "print-date",
              "editing-cycles", "editing-duration", "document-statistic", "generator"}
_ODF_META = re.compile(r"(?i)^(?:mimetype|meta-inf/manifest\.xml)$")


_LOCAL: dict[str, str] = {}


def _local(tag) -> str:
    if not isinstance(tag, str):
        return ""
    local = _LOCAL.get(tag)
    if local is None:
        local = tag.rsplit("}", 1)[-1]
        if len(_LOCAL) < 4096:
            _LOCAL[tag] = local
    return local


# --- the entry point ------------------------------------------------------------------------------------------


def read(fh: BinaryIO, media: str, settings=None, *, ex=None) -> Reading:
    """The Reading of an office document of sniffed type `media` (see module docstring)."""
    limits = PackageLimits.from_settings(settings)
    deadline = time.monotonic() + limits.seconds
    if media == S.OOXML_ENCRYPTED:
        return _encrypted(media)
    if media in S.LEGACY_OFFICE or media == S.XLSB:
        from gateway.inspect import office_legacy as legacy

        return legacy.read(fh, media, settings, ex=ex, read_package=_read_converted)
    if media in (S.FODF, S.WORD_XML, S.EXCEL_XML):
        reading = _read_flat(fh, media, limits, deadline)
        # formulas are recalculated in a workbook only (a text document's table formulas give numbers)
        packaged = reading.extra.get("binary") or reading.extra.get("recalc") and _flat_workbook(fh, media)
        return _packaged(reading, fh, media, settings, ex) if packaged else reading
    if S.is_ooxml(media) or S.is_odf(media):
        return _drawn(_read_package(fh, media, limits, deadline, ex), fh, media, settings, ex)
    return Reading(media)


def _drawn(reading: Reading, fh: BinaryIO, media: str, settings, ex) -> Reading:
    """A package's reading with what only a drawing shows: its EMF/WMF pictures, and its pages when it embeds
    fonts or holds freeform shapes (LibreOffice draws them). A package already refused (macros, encryption, a
    malformed part ...) is not handed to LibreOffice: it is not released either way."""
    if reading.incomplete:
        return reading
    if reading.extra.get("metafiles"):
        reading = _with_drawn_metafiles(reading, fh, settings, ex, reading.extra["metafiles"])
    if reading.extra.get("recalc") and (media in S.SHEET_TYPES or media == S.ODS):
        reading = _with_recalculated(reading, fh, media, settings, ex)
    fonts, shapes = reading.extra.get("embedded_fonts"), reading.extra.get("freeform_shapes")
    if fonts or shapes:
        why = "; ".join(([f"embedded fonts ({', '.join(fonts[:3])})"] if fonts else [])
                        + ([f"freeform shapes ({', '.join(shapes[:3])})"] if shapes else []))
        reading = _with_drawn_pages(reading, fh, media, settings, ex, why, fonts or [])
    return reading


MAX_METAFILE_BYTES = 64 * 1024 * 1024


def _with_drawn_metafiles(reading: Reading, fh: BinaryIO, settings, ex, names: list[str]) -> Reading:
    """EMF and WMF pictures (an embedded workbook's or equation's preview, a chart pasted as a picture, Visio):
    no reader here decodes them, LibreOffice draws them. All of a package's in one run, each drawing (a PDF)
    a member read like any PDF; not drawn: not read completely."""
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    from gateway.inspect import office_legacy

    with tempfile.TemporaryDirectory(prefix="kyso-metafiles-", dir=ex.dir) as tmp:
        sources = []
        fh.seek(0)
        problem = None
        try:
            with zipfile.ZipFile(fh) as zf:
                for i, name in enumerate(names):
                    info = zf.getinfo(name)
                    if info.file_size > MAX_METAFILE_BYTES:
                        problem = f"{posixpath.basename(name)} over {MAX_METAFILE_BYTES // (1024 * 1024)} MB"
                        break
                    data = zf.read(info)
                    src = Path(tmp) / f"m{i}{'.emf' if data[40:44] == b' EMF' else '.wmf'}"
                    src.write_bytes(data)
                    sources.append(src)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:  # a part that cannot be read
            problem = f"a picture's part cannot be read ({type(exc).__name__})"
        made = None
        if problem is None:
            made, problem = office_legacy.converted_files(sources, "pdf", settings, Path(tmp) / "out")
        if made is not None:
            refs = []
            for name, pdf in zip(names, made):
                with open(pdf, "rb") as f:
                    try:
                        refs.append(_store(ex, f, location=f"part:{name}", name=posixpath.basename(name),
                                           media_type=S.PDF))
                    except _Refused as refused:
                        return replace(reading, incomplete=reading.incomplete + (refused.reason,), signable=None)
            return replace(reading, members=reading.members + tuple(refs))
    unread = Reason.of("OFFICE_EMBEDDED_UNREAD", count=len(names), parts=f"EMF/WMF pictures, not drawn: {problem}")
    return replace(reading, incomplete=reading.incomplete + (unread,), signable=None)


def _with_drawn_pages(reading: Reading, fh: BinaryIO, media: str, settings, ex, why: str,
                      fonts: list[str]) -> Reading:
    """A package whose text is not all a person sees: `why`. An embedded font draws what it likes for each
    letter (one whose "a" draws "T" shows "TỐI MẬT" for "abc dea"), and Word and LibreOffice draw with it; a
    freeform shape draws letters from their outlines (PowerPoint's "Merge Shapes > Fragment" makes them of any
    text) with no text at all. So the document is also drawn, by LibreOffice, and the PDF it makes is read like
    any PDF (lying glyphs and outlines by eye): a member of the document, read, never signed alone. Not drawn
    (no work directory, LibreOffice absent or failing, or fonts it cannot load): not read completely."""
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    from gateway.inspect import office_legacy

    unread = None
    # PowerPoint embeds fonts as Embedded OpenType, which this LibreOffice (built without libeot) does not load:
    # it would draw another font where PowerPoint draws the embedded one
    undrawable = reading.extra.get("undrawable_fonts") or (fonts if media in S.SLIDE_TYPES else [])  # fonts only
    if undrawable:
        unread = f"LibreOffice cannot draw with {', '.join(undrawable[:3])} as PowerPoint does"
    elif ex is None:
        unread = "no work directory"
    else:
        suffix = (".docx" if media in S.WORD_TYPES else ".xlsx" if media in S.SHEET_TYPES
                  else {S.ODS: ".ods", S.ODP: ".odp", S.ODG: ".odg"}.get(media, ".odt"))
        with tempfile.TemporaryDirectory(prefix="kyso-drawn-", dir=ex.dir) as tmp:
            pdf, unread = office_legacy.converted(fh, suffix, "pdf", settings, Path(tmp))
            if pdf is not None:
                with open(pdf, "rb") as f:
                    try:
                        ref = _store(ex, f, location="drawn", name="trang hiển thị.pdf", media_type=S.PDF)
                    except _Refused as refused:
                        return replace(reading, incomplete=reading.incomplete + (refused.reason,), signable=None)
                return replace(reading, members=reading.members + (ref,))
    detail = f"{why}, pages not drawn: {unread}"
    return replace(reading, incomplete=reading.incomplete + (Reason.of("DOCUMENT_UNREADABLE", detail=detail),),
                   signable=None)


def _with_recalculated(reading: Reading, fh: BinaryIO, media: str, settings, ex) -> Reading:
    """A workbook with formulas that may show text not worked out here (formulas.needs_recalculation): what a
    spreadsheet program shows for them is not the value stored beside them when it recalculates on opening
    (Excel does for a file that asks, or one from an older or other program). LibreOffice recalculates the
    workbook (a profile of its own that always does) and saves it in its own format; every cell of that is read
    besides the cells as stored: both are what someone may see. Not recalculated, or a formula LibreOffice does
    not know (#NAME? where the file has a formula that may show text): not read completely."""
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    from gateway.inspect import office_legacy

    count = reading.extra["recalc"]
    suffix, filt, target = (".ods", "ods", S.ODS) if media == S.ODS else (".xlsx", "xlsx:Calc MS Excel 2007 XML", S.XLSX)
    problem = "no work directory" if ex is None else None
    if problem is None:
        with tempfile.TemporaryDirectory(prefix="kyso-recalc-", dir=ex.dir) as tmp:
            made, problem = office_legacy.converted(fh, suffix, filt, settings, Path(tmp), recalculate=True)
            if made is not None:
                limits = PackageLimits.from_settings(settings)
                with open(made, "rb") as f:  # its pictures and objects are the original's, read as its members
                    again = _read_package(f, target, limits, time.monotonic() + limits.seconds, None)
                refused = [r for r in again.incomplete if r.code != "OFFICE_EMBEDDED_UNREAD"]
                if refused:
                    return replace(reading, incomplete=reading.incomplete + tuple(refused), signable=None)
                unknown = again.extra.get("unknown_formulas", 0)
                if not unknown:  # what the recalculation changed: the lines it reads as the file already did are read
                    known = {(line.text, line.where) for line in reading.lines}
                    return replace(reading, lines=reading.lines + tuple(
                        line for line in again.lines if (line.text, line.where) not in known))
                problem = f"LibreOffice does not know the functions of {unknown} of them"
    detail = f"{_recalc_what(count)}, not recalculated: {problem}"
    return replace(reading, incomplete=reading.incomplete + (Reason.of("DOCUMENT_UNREADABLE", detail=detail),),
                   signable=None)


def _recalc_what(count: int) -> str:
    return f"{count} formula{'s' if count != 1 else ''} whose text only a spreadsheet program works out"


# The package LibreOffice makes of a one-file XML document: (suffix it knows the file by, export filter, type)
_FLAT_KINDS = {
    b"text": (".fodt", "odt", S.ODT), b"spreadsheet": (".fods", "ods", S.ODS),
    b"presentation": (".fodp", "odp", S.ODP), b"graphics": (".fodg", "odg", S.ODG),
}
_FLAT_MIMETYPE = re.compile(rb'office:mimetype\s*=\s*["\']application/vnd\.oasis\.opendocument\.(\w+)')
_BINARY_ELEMENT = re.compile(rb"<(?:[\w.-]+:)?(?:binary-data|binData|binaryData)[\s>/]")


def _flat_workbook(fh: BinaryIO, media: str) -> bool:
    """Is the one-file XML document a workbook (Excel 2003 XML, a flat ODF spreadsheet)?"""
    if media == S.EXCEL_XML:
        return True
    fh.seek(0)
    m = _FLAT_MIMETYPE.search(fh.read(64 * 1024))
    return bool(m) and m.group(1) == b"spreadsheet"


def _packaged(flat: Reading, fh: BinaryIO, media: str, settings, ex) -> Reading:
    """A one-file XML document holding binary data (pictures, embedded objects, fonts: base64 in
    office:binary-data, w:binData): what they show is not its text. LibreOffice packages the document
    (.fodt -> .odt, Word 2003 XML -> .docx), and the package is read like any (pictures by OCR, objects as
    members, a document with embedded fonts drawn); its text is read besides the flat text read here. So is
    one with formulas that may show text not worked out here: its package is recalculated (`_drawn`). Not
    packaged: not read completely."""
    import tempfile
    from dataclasses import replace
    from pathlib import Path

    from gateway.inspect import office_legacy

    if media == S.WORD_XML:
        kind = (".xml", "docx:MS Word 2007 XML", S.DOCX)
    elif media == S.EXCEL_XML:
        kind = (".xml", "xlsx:Calc MS Excel 2007 XML", S.XLSX)
    else:
        fh.seek(0)
        m = _FLAT_MIMETYPE.search(fh.read(64 * 1024))
        kind = _FLAT_KINDS.get(m.group(1)) if m else None
    problem = "no work directory" if ex is None else "kind unknown" if kind is None else None
    if problem is None:
        suffix, filt, target = kind
        with tempfile.TemporaryDirectory(prefix="kyso-packaged-", dir=ex.dir) as tmp:
            made, problem = office_legacy.converted(fh, suffix, filt, settings, Path(tmp))
            if made is not None:
                with open(made, "rb") as package:
                    pkg = _read_converted(package, target, media, settings, ex)
                incomplete = tuple(dict.fromkeys(flat.incomplete + pkg.incomplete))
                return replace(pkg, lines=flat.lines + pkg.lines, metadata=flat.metadata + pkg.metadata,
                               incomplete=incomplete, signable=None if incomplete else SignFormat.CADES)
    if flat.extra.get("binary"):
        unread = Reason.of("OFFICE_EMBEDDED_UNREAD", count=1, parts=f"binary data ({problem})")
    else:
        unread = Reason.of("DOCUMENT_UNREADABLE", detail=f"{_recalc_what(flat.extra.get('recalc', 0))}, not "
                                                         f"recalculated: {problem}")
    return replace(flat, incomplete=flat.incomplete + (unread,), signable=None)


def _encrypted(media: str) -> Reading:
    return Reading(media, incomplete=(Reason.of("OFFICE_ENCRYPTED"),), encrypted=True)


def _read_converted(fh: BinaryIO, media: str, original: str, settings, ex) -> Reading:
    """office_legacy.read calls back: read the OOXML LibreOffice made, reported as the original type."""
    limits = PackageLimits.from_settings(settings)
    reading = _drawn(_read_package(fh, media, limits, time.monotonic() + limits.seconds, ex), fh, media, settings, ex)
    return Reading(
        original,
        lines=reading.lines,
        metadata=reading.metadata,
        incomplete=reading.incomplete,
        warnings=reading.warnings,
        signable=reading.signable,
        encrypted=reading.encrypted,
        broken=reading.broken,
        members=reading.members,
    )


# --- packages -------------------------------------------------------------------------------------------------


@dataclass
class _Result:
    lines: list[Line] = field(default_factory=list)
    metadata: list[tuple[str, str]] = field(default_factory=list)
    incomplete: list[Reason] = field(default_factory=list)
    members: list[MemberRef] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)  # embedded parts with nowhere to go
    fonts: list[str] = field(default_factory=list)  # embedded fonts: the text is drawn with them
    undrawable: list[str] = field(default_factory=list)  # of those, fonts LibreOffice cannot draw with
    metafiles: list[str] = field(default_factory=list)  # EMF/WMF pictures: drawn by LibreOffice
    shapes: list[str] = field(default_factory=list)  # parts with freeform shapes: the document is drawn
    recalc: int = 0  # formulas that may show text not worked out here: the workbook is recalculated
    unknown: int = 0  # formulas that may show text, which the program that worked them out did not know (#NAME?)


class _Budget:
    def __init__(self, limits: PackageLimits, deadline: float):
        self.limits = limits
        self.deadline = deadline
        self.expanded = 0
        self.lines = 0

    def spend(self, n: int) -> None:
        self.expanded += n
        if self.expanded > self.limits.max_expanded_bytes:
            raise _Refused(Reason.of("OFFICE_LIMIT", detail=f"expanded size over {self.limits.max_expanded_bytes} bytes"))
        if time.monotonic() > self.deadline:
            raise _Refused(Reason.of("TIME_LIMIT", seconds=self.limits.seconds))

    def line(self) -> None:
        self.lines += 1
        if self.lines > self.limits.max_lines:
            raise _Refused(Reason.of("OFFICE_LIMIT", detail=f"over {self.limits.max_lines} lines of text"))


class _BoundedStream(io.RawIOBase):
    """A zip member's decompressed bytes, counted as they are read: over the part's declared size, over
    the ratio or over the package budget, reading stops (declared sizes are not trusted)."""

    def __init__(self, raw, info: zipfile.ZipInfo, budget: _Budget):
        self.raw = raw
        self.info = info
        self.budget = budget
        self.count = 0
        limits = budget.limits
        self.cap = min(limits.max_part_bytes, max(info.file_size, 0))
        self.ratio_cap = max(limits.ratio_floor, info.compress_size * limits.max_ratio)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.raw.read(len(b))
        n = len(data)
        self.count += n
        if self.count > self.cap:
            raise _Refused(Reason.of("OFFICE_LIMIT", detail=f"part {self.info.filename} larger than declared or allowed"))
        if self.count > self.ratio_cap:
            raise _Refused(Reason.of("OFFICE_LIMIT", detail=f"part {self.info.filename} expands over {self.budget.limits.max_ratio}x"))
        self.budget.spend(n)
        b[:n] = data
        return n


def _store(ex, src: BinaryIO, *, location: str, name: str, media_type: str | None = None,
           compressed: int | None = None) -> MemberRef:
    """Extract an embedded part through the member framework (its budget bounds it too)."""
    from gateway.inspect.members import LimitBreach, Unreadable

    try:
        return ex.extract(src, location=location, name=name, role="embedded", media_type=media_type,
                          compressed=compressed)
    except (LimitBreach, Unreadable) as exc:
        raise _Refused(exc.reason) from exc


def _open_zip(fh: BinaryIO, limits: PackageLimits) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    fh.seek(0)
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise _Refused(Reason.of("OFFICE_MALFORMED", detail=f"not a readable ZIP package ({type(exc).__name__})")) from exc
    from gateway.inspect.container_zip import layout_problem

    # another archive joined before or after the package (7-Zip shows it; zipfile reads one): two documents
    problem = layout_problem(fh, zf)
    if problem:
        raise _Refused(Reason.of("OFFICE_MALFORMED", detail=f"not one ZIP package: {problem}"))
    infos = zf.infolist()
    if len(infos) > limits.max_parts:
        raise _Refused(Reason.of("OFFICE_LIMIT", detail=f"{len(infos)} parts, over {limits.max_parts}"))
    parts: dict[str, zipfile.ZipInfo] = {}
    folded: set[str] = set()
    declared = 0
    for info in infos:
        name = info.filename
        if info.flag_bits & 0x1:
            raise _Refused(Reason.of("OFFICE_ENCRYPTED"))
        # Two entries that readers could take for one part (OPC part names compare case-insensitively; a
        # backslash is a separator to some) make the package mean different things to different readers.
        key = name.replace("\\", "/").lower()
        if key in folded:
            raise _Refused(Reason.of("OFFICE_MALFORMED", detail=f"duplicate part {name!r}"))
        folded.add(key)
        declared += max(info.file_size, 0)
        if declared > limits.max_expanded_bytes:
            raise _Refused(Reason.of("OFFICE_LIMIT", detail=f"declared expanded size over {limits.max_expanded_bytes} bytes"))
        if not name.endswith("/"):
            parts[name] = info
    return zf, parts


def _open_part(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget) -> BinaryIO:
    try:
        raw = zf.open(info)
    except (NotImplementedError, RuntimeError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise _Refused(Reason.of("OFFICE_MALFORMED", detail=f"part {info.filename}: {type(exc).__name__}")) from exc
    return io.BufferedReader(_BoundedStream(raw, info, budget), 64 * 1024)


def _read_part_bytes(zf, info, budget) -> bytes:
    with _open_part(zf, info, budget) as f:
        try:
            return f.read()
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise _Refused(Reason.of("OFFICE_MALFORMED", detail=f"part {info.filename}: {type(exc).__name__}")) from exc


def _read_package(fh: BinaryIO, media: str, limits: PackageLimits, deadline: float, ex) -> Reading:
    budget = _Budget(limits, deadline)
    result = _Result()
    encrypted = False
    try:
        zf, parts = _open_zip(fh, limits)
        with zf:
            if S.is_odf(media):
                encrypted = _odf_encrypted(zf, parts, budget)
                if encrypted:
                    raise _Refused(Reason.of("OFFICE_ENCRYPTED"))
                _PackageReader(zf, parts, budget, result, ex, odf=True, media=media).run()
            else:
                if "[Content_Types].xml" not in parts:
                    result.incomplete.append(Reason.of("OFFICE_MALFORMED", detail="no [Content_Types].xml"))
                _PackageReader(zf, parts, budget, result, ex, odf=False).run()
    except _Refused as refused:
        result.incomplete.append(refused.reason)
        encrypted = encrypted or refused.reason.code == "OFFICE_ENCRYPTED"
    if result.unread:
        shown = ", ".join(result.unread[:5]) + (" ..." if len(result.unread) > 5 else "")
        result.incomplete.append(Reason.of("OFFICE_EMBEDDED_UNREAD", count=len(result.unread), parts=shown))
    if media in (S.VSDX, S.OOXML):
        result.incomplete.append(Reason.of("UNSUPPORTED_TYPE", media_type=media))
    incomplete = tuple(dict.fromkeys(result.incomplete))
    return Reading(
        media,
        lines=tuple(result.lines),
        metadata=tuple(result.metadata),
        incomplete=incomplete,
        signable=None if incomplete else SignFormat.CADES,
        encrypted=encrypted,
        members=tuple(result.members),
        extra={"embedded_fonts": result.fonts, "undrawable_fonts": result.undrawable, "metafiles": result.metafiles,
               "freeform_shapes": result.shapes, "recalc": result.recalc, "unknown_formulas": result.unknown},
    )


def _odf_encrypted(zf, parts, budget) -> bool:
    info = parts.get("META-INF/manifest.xml")
    if info is None:
        return False
    return b"encryption-data" in _read_part_bytes(zf, info, budget)


class _PackageReader:
    """Walks every part of one package once: XML parts are read for text, the rest classified."""

    def __init__(self, zf, parts, budget: _Budget, result: _Result, ex, *, odf: bool,
                 media: str = ""):
        self.zf = zf
        self.kind = "spreadsheet" if "spreadsheet" in media else "presentation" if "presentation" in media else ""
        self.parts = parts
        self.budget = budget
        self.result = result
        self.ex = ex
        self.odf = odf
        self.types = {} if odf else _content_types(zf, parts, budget)
        self.shared: list[str] = []
        self.shared_used: set[int] = set()
        self.sheet_names: dict[str, str] = {}  # part name -> "sheet:Name"
        self.caps = _Formats()

    def run(self) -> None:
        names = sorted(self.parts, key=self._order)
        for name in names:
            self._part(name, self.parts[name])
        unused = [s for i, s in enumerate(self.shared) if i not in self.shared_used]
        for text in unused:  # strings kept in the package but shown by no cell: still readable to anyone
            self._emit(text, "sharedStrings")
        self._text_formats(names)
        unknown = self.caps.finish()  # paragraphs that refer to text met later; fields not worked out
        if unknown is not None:
            self.result.incomplete.append(unknown)

    def _text_formats(self, names: list[str]) -> None:
        """A number format that writes letters around a cell's text (xlsx `"TỐI M"@`, an ODF text style's
        number:text beside number:text-content) shows a cell "ẬT" as "TỐI MẬT": each such format is put around
        every text read (which cells use it is not worked out: each text once per format)."""
        templates: list[list[str | None]] = []
        for name in names:
            low = name.lower()
            if low == "xl/styles.xml" or (self.odf and low in ("content.xml", "styles.xml")):
                with _open_part(self.zf, self.parts[name], self.budget) as f:
                    templates += _text_templates(f, name)
        if not templates:
            return
        texts = list(dict.fromkeys(line.text for line in self.result.lines))
        if len(templates) * len(texts) > MAX_FORMATTED:
            raise _Refused(Reason.of("OFFICE_LIMIT", detail=f"over {MAX_FORMATTED} cells shown through text formats"))
        for template in dict.fromkeys(map(tuple, templates)):
            for text in texts:
                self._emit("".join(text if piece is None else piece for piece in template), "numberformat")

    def _order(self, name: str) -> tuple[int, str]:
        # Workbook first (sheet names), then shared strings (cells refer to them), then everything else.
        low = name.lower()
        if low == "xl/workbook.xml":
            return (0, name)
        if low == "xl/_rels/workbook.xml.rels":
            return (1, name)
        if low == "xl/sharedstrings.xml":
            return (2, name)
        if "styles" in posixpath.basename(low) or low == "meta.xml":  # known before the text that uses them
            return (3, name)
        if self._ctype(name).endswith("numbering+xml") or low == "word/numbering.xml":  # list labels, likewise
            return (3, name)
        if low == "word/settings.xml":  # document variables and whether fields are updated on opening, likewise
            return (3, name)
        return (4, name)

    # --- one part ---------------------------------------------------------------------------------------

    def _part(self, name: str, info: zipfile.ZipInfo) -> None:
        low = name.lower()
        ctype = self._ctype(name)
        if _MACRO_PARTS.search(low) or "vbaproject" in ctype or "activex" in ctype and low.endswith(".bin"):
            raise _Refused(Reason.of("OFFICE_MACROS", part=name))
        # What a part is comes from its bytes, not its name or declared type: a main part renamed to
        # styles.xml or a font, a picture named thumbnail or printerSettings, is still read.
        head = self._head(info)
        if _is_metafile(head) and self.ex is not None:
            self.result.metafiles.append(name)  # drawn by LibreOffice, all in one run (see read())
            return
        if _is_image(head):
            self._binary(name, info, ctype)  # every picture, thumbnails included, goes to OCR
            return
        if ctype.startswith("image/svg") or low.endswith(".svg") or (_looks_xml(head) and S.sniff(head) == S.SVG):
            self._binary(name, info, ctype)  # a picture that draws (Word's svgBlip): read as text and as drawn
            return
        if "inkml" in ctype or re.search(r"(?:^|/)ink/[^/]+\.xml$", low):
            # handwriting: Office draws the ink's traces (its picture fallback may show anything else)
            self.result.incomplete.append(Reason.of("DOCUMENT_UNREADABLE", detail=f"handwriting (ink, {name})"))
            return
        if _looks_xml(head) and S.sniff(head) == S.HTML:
            # HTML (a Word altChunk, shown in place): a member read by the HTML reader, as a browser shows it
            self._binary(name, info, S.HTML)
            return
        if _looks_xml(head) or self._is_xml(name, ctype):
            if low.endswith(".rels"):
                self._rels(name, info)
            self._xml(name, info)
            return
        if _is_document(head):
            self._binary(name, info, ctype)
            return
        if self.odf and (_ODF_META.match(low) or low.startswith("layout-cache")):
            return  # package bookkeeping; layout-cache: page positions of old OpenOffice files, no text
        if not self.odf and _OOXML_SKIP.match(low):
            return
        if ctype.startswith(_FONT_TYPES) or low.endswith((".odttf", ".ttf", ".otf", ".fntdata")):
            self.result.fonts.append(name)  # glyph shapes, no text: but they draw the text (see read())
            if low.endswith(".fntdata") or ctype.startswith("application/x-fontdata") or head[34:36] == b"LP":
                self.result.undrawable.append(name)  # Embedded OpenType (PowerPoint's): LibreOffice here cannot
            return
        self._binary(name, info, ctype)

    def _head(self, info) -> bytes:
        if info.file_size <= 0:
            return b""
        with _open_part(self.zf, info, self.budget) as f:
            try:
                return f.read(512)
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
                raise _Refused(Reason.of("OFFICE_MALFORMED", detail=f"part {info.filename}: {type(exc).__name__}")) from exc

    def _ctype(self, name: str) -> str:
        if self.odf:
            return ""
        ct = self.types.get("/" + name.lower())
        if ct is None:
            ct = self.types.get("ext:" + posixpath.splitext(name)[1].lower().lstrip("."), "")
        return ct.lower()

    def _is_xml(self, name: str, ctype: str) -> bool:
        if ctype.endswith("+xml") or ctype.endswith("/xml"):
            return True
        return name.lower().endswith((".xml", ".vml", ".rdf"))

    def _rels(self, name: str, info) -> None:
        """Workbook relationships name the sheet parts; external targets are recorded nowhere (no text)."""
        if not name.lower().endswith("xl/_rels/workbook.xml.rels"):
            return
        data = _read_part_bytes(self.zf, info, self.budget)
        root = _parse_bytes(data, name)
        for rel in root.iter():
            if _local(rel.tag) == "Relationship" and "worksheet" in (rel.get("Type") or ""):
                target = rel.get("Target") or ""
                path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
                rid = rel.get("Id")
                if rid in self._sheet_rids:
                    self.sheet_names[path] = self._sheet_rids[rid]

    _sheet_rids: dict[str, str] = {}

    def _binary(self, name: str, info, ctype: str) -> None:
        if self.ex is None:
            low = name.lower()
            if low.startswith("docprops/thumbnail.") or low == "thumbnails/thumbnail.png":
                # Without a work directory (direct calls only: inspect() always gives one) there is no OCR;
                # the application's own preview alone does not make such a reading incomplete.
                return
            self.result.unread.append(name)
            return
        # A part a recipient could open (a picture, an embedded workbook, an OLE object): a member of its own,
        # read like any document by its sniffed type (role "embedded": never signed alone).
        with _open_part(self.zf, info, self.budget) as f:
            ref = _store(self.ex, f, location=f"part:{name}", name=posixpath.basename(name),
                         media_type=ctype or None, compressed=info.compress_size)
        self.result.members.append(ref)

    # --- XML text -------------------------------------------------------------------------------------------

    def _xml(self, name: str, info) -> None:
        low = name.lower()
        if low in ("docprops/core.xml", "meta.xml") or low.endswith("/meta.xml"):
            self._properties(name, info, core=True)
            return
        if low == "docprops/app.xml":
            self._properties(name, info, app=True)
            return
        if low == "docprops/custom.xml":
            self._custom(name, info)
            return
        if low == "xl/workbook.xml":
            self._workbook(name, info)
            return
        if low == "xl/sharedstrings.xml":
            with _open_part(self.zf, info, self.budget) as f:
                for elem in _iter_blocks(f, name, self.budget):
                    self.shared.append(self._phonetic(elem))
                    elem.clear(keep_tail=True)
            return
        if low.startswith("xl/macrosheets/"):  # Excel 4.0 macros
            raise _Refused(Reason.of("OFFICE_MACROS", part=name))
        if re.match(r"xl/worksheets/[^/]+\.xml$", low):
            self._sheet(name, info)
            return
        if self._ctype(name).endswith("numbering+xml") or low == "word/numbering.xml":
            with _open_part(self.zf, info, self.budget) as f:
                self.caps.word_numbering(_parse_stream(f, name))  # the labels of numbered paragraphs
        where = _where_for_part(low, self.odf)
        if where == "customxml" and not posixpath.basename(low).startswith("itemprops"):
            self._custom_xml(name, info)
        walk = _walk_blocks if _FAST_PARTS.match(low) else _walk_text
        with _open_part(self.zf, info, self.budget) as f:
            # a part that may hold drawings is looked at for freeform shapes as it is read, not read twice
            watched = _Watched(f, _FREEFORM) if _DRAWING_PARTS.match(low) else None
            source = io.BufferedReader(watched, 64 * 1024) if watched is not None else f
            walk(source, name, where, self._emit, self.budget, self.kind if low == "content.xml" else "", self.caps)
        if watched is not None and watched.found:
            self.result.shapes.append(name)

    def _phonetic(self, elem) -> str:
        """A string item's text as its cell shows it: without its phonetic guide (rPh, shown above the text only
        when asked, never beside it). The guide and the whole text are read too, each as a line of its own."""
        if not any(_local(c.tag) == "rPh" for c in elem):
            return _text_of(elem)
        self._emit(_text_of(elem), "phonetic")
        return _text_without(elem, frozenset({"rPh", "phoneticPr"}))

    def _custom_xml(self, name: str, info) -> None:
        """A custom XML data part: a content control bound to one of its nodes (w:dataBinding) shows that node's
        value, an element's text or an attribute's. Element text is read by the walk; each attribute value is
        read here as a line of its own (which node a control binds is not worked out)."""
        with _open_part(self.zf, info, self.budget) as f:
            for _, elem in _iterparse(f, name, ("end",)):
                for value in elem.attrib.values():
                    self._emit(value, "customxml")
                elem.clear(keep_tail=True)

    def _emit(self, text: str, where: str, page: int | None = None) -> None:
        if where in _FORMULA_NOTES:  # a note from _attr_lines, not a line
            _note_formula(self.result, where)
            return
        text = text.strip()
        if not text:
            return
        self.budget.line()
        for piece in text.split("\n"):
            if piece.strip():
                self.result.lines.append(Line(shown_case(piece.strip()), where, page))

    def _properties(self, name, info, core=False, app=False) -> None:
        """Core (and ODF meta) properties: every text value but dates and counters; app properties: the
        ones a person reads (company, manager, template, titles of parts, hyperlink base)."""
        with _open_part(self.zf, info, self.budget) as f:
            root = _parse_stream(f, name)
        for elem in root.iter():
            tag = _local(elem.tag)
            if tag == "user-defined":  # ODF meta:user-defined
                key = elem.get("{urn:oasis:names:tc:opendocument:xmlns:meta:1.0}name") or "?"
                self._meta(f"docprops:custom:{key}", "".join(elem.itertext()))
                continue
            if app:
                if tag in _APP_TEXT:
                    for piece in elem.itertext():
                        self._meta(f"docprops:{tag[0].lower()}{tag[1:]}", piece)
                continue
            if len(elem) or elem.text is None or tag in _CORE_SKIP:
                continue
            key = {"keyword": "keywords", "creator": "creator", "initial-creator": "creator"}.get(tag, tag)
            self._meta(f"docprops:{key}", elem.text)

    def _custom(self, name, info) -> None:
        with _open_part(self.zf, info, self.budget) as f:
            root = _parse_stream(f, name)
        for prop in root:
            key = prop.get("name") or "?"
            self._meta(f"docprops:custom:{key}", "".join(prop.itertext()))

    def _meta(self, key: str, value: str | None) -> None:
        if value and value.strip():
            self.caps.properties.setdefault(key if key.startswith("docprops:custom:") else key.lower(), value.strip())
            self.budget.line()
            self.result.metadata.append((key, value.strip()))

    def _workbook(self, name, info) -> None:
        with _open_part(self.zf, info, self.budget) as f:
            root = _parse_stream(f, name)
        rids: dict[str, str] = {}
        for elem in root.iter():
            tag = _local(elem.tag)
            if tag == "sheet":
                sheet = elem.get("name") or "?"
                state = elem.get("state") or "visible"
                self._emit(sheet, "sheetname" if state == "visible" else f"sheetname:{state}")
                rid = next((v for k, v in elem.attrib.items() if _local(k) == "id"), None)
                if rid:
                    rids[rid] = f"sheet:{sheet}"
            elif tag == "definedName":
                formula = "".join(elem.itertext())
                self._emit(formula, "definedName")
                shown = _shown_by(formula)  # a cell that uses the name shows what its formula gives
                if shown:
                    self._emit(shown, "definedName")
                if elem.get("name"):
                    self._emit(elem.get("name"), "definedName")
        self._sheet_rids = rids
        for elem in root.iter():
            _attr_lines(elem, self._emit)

    _SHEET_TAGS = ("{*}row", "{*}dataValidation", "{*}hyperlink", "{*}oddHeader", "{*}oddFooter",
                   "{*}evenHeader", "{*}evenFooter", "{*}firstHeader", "{*}firstFooter")

    def _sheet(self, name, info) -> None:
        """A worksheet row by row (cells joined by " | "): values, shared and inline strings, formulas;
        headers and footers as printed; data-validation prompts and list items, hyperlink tooltips."""
        from lxml import etree

        where = self.sheet_names.get(name) or f"sheet:{posixpath.splitext(posixpath.basename(name))[0]}"
        string = etree.XPath("string()")
        pending: list[str] = []  # formulas over other cells of the sheet, worked out once their values are known
        with _open_part(self.zf, info, self.budget) as f:
            for _, elem in _iterparse(f, name, ("end",), tag=self._SHEET_TAGS):
                tag = elem.tag
                ns = tag[: tag.index("}") + 1] if tag.startswith("{") else ""
                local = tag[len(ns):]
                if local == "row":
                    # formulas and what they show, each a line of its own: not one of the row's list, and not
                    # joined to the value shown in their cell (which stands alone there: "TỐI MẬT" is a stamp)
                    shown: list[str] = []
                    cells = [self._cell(c, ns, string, shown, pending) for c in elem.iterchildren(ns + "c")]
                    self._emit(" | ".join(c for c in cells if c), where)
                    for text in shown:
                        self._emit(text, where)
                    elem.clear(keep_tail=True)
                    while elem.getprevious() is not None:  # rows already read: keep memory flat
                        del elem.getparent()[0]
                elif local.endswith(("Header", "Footer")):
                    self._emit(_excel_header_text(elem.text or "", where.removeprefix("sheet:")),
                               "header" if "Header" in local else "footer")
                else:
                    for node in elem.iter():
                        _attr_lines(node, self._emit)
                    if local == "dataValidation":
                        _validation_lines(elem, lambda text: self._emit(text, where))
        if pending:
            self._worked_out(name, info, pending, where)

    def _worked_out(self, name, info, pending: list[str], where: str) -> None:
        """What `pending` formulas show, from the values of the cells they refer to (a second pass over the
        sheet, for those cells only); a formula spelling letters from codes that stay unknown is refused."""
        from lxml import etree

        wanted = set().union(*(formulas.references(f) for f in pending))
        values: dict[str, str] = {}
        string = etree.XPath("string()")
        with _open_part(self.zf, info, self.budget) as f:
            for _, elem in _iterparse(f, name, ("end",), tag=("{*}row",)):
                ns = elem.tag[: elem.tag.index("}") + 1] if elem.tag.startswith("{") else ""
                for c in elem.iterchildren(ns + "c"):
                    ref = formulas.address(c.get("r") or "")
                    if ref in wanted:
                        value, formula = self._cell_value(c, ns, string)
                        values[ref] = (formulas.constant_text(formula) if formula else None) or value
                elem.clear(keep_tail=True)
                while elem.getprevious() is not None:  # keep memory flat, as the first pass does
                    del elem.getparent()[0]
        for formula in pending:
            shown = _unless_spelt(formula, formulas.constant_text(formula, values))
            if shown:
                self._emit(shown, where)

    def _cell(self, c, ns: str, string, shown: list[str], pending: list[str]) -> str:
        value, formula = self._cell_value(c, ns, string)
        if formula:
            worked_out = _shown_by(formula, pending)
            if worked_out and worked_out != value:
                shown.append(worked_out)
            if formulas.needs_recalculation(formula):
                self.result.recalc += 1
                if c.get("t") == "e" and value == "#NAME?":
                    self.result.unknown += 1
            shown.append(formula)
        return value

    def _cell_value(self, c, ns: str, string) -> tuple[str, str]:
        """(the value stored in cell `c`, its formula or "")."""
        value = formula = ""
        inline = None
        for child in c:  # one pass over the (at most three) children: cheaper than three finds
            tag = child.tag
            if tag == ns + "v":
                value = child.text or ""
            elif tag == ns + "f":
                formula = child.text or ""
            elif tag == ns + "is":
                inline = child
        kind = c.get("t")
        if kind == "inlineStr" and inline is not None:
            value = self._phonetic(inline)
        elif kind == "s" and value:
            try:
                index = int(value)
                text = self.shared[index]
            except (ValueError, IndexError):
                raise _Refused(Reason.of("OFFICE_MALFORMED", detail=f"shared string {value!r} missing")) from None
            self.shared_used.add(index)
            value = text
        return value, formula


MAX_PENDING_FORMULAS = 200_000  # text formulas over other cells worked out per sheet; more: not read completely
# text functions a formula over other cells may spell with (formulas.py works them out)
_TEXT_FUNCTIONS = re.compile(r"(?i)\b(?:_xlfn\.)?(?:UNI)?CHAR|CONCAT|TEXTJOIN|UPPER|LOWER|PROPER|TRIM|REPT|SUBSTITUTE|"
                             r"REPLACE|MID|LEFT|RIGHT|&")


def _shown_by(formula: str, pending: list[str] | None = None) -> str | None:
    """What a spreadsheet program shows for `formula` if it works it out on opening, when that is text made of
    constants (formulas.py). A formula over other cells of its sheet that uses text functions goes to `pending`
    (worked out once their values are known); without `pending`, or when it refers to a range or another sheet,
    one that spells text from character codes it cannot work out is refused."""
    if '"' not in formula and not _TEXT_FUNCTIONS.search(formula):
        return None  # numbers and references only: no text of its own (the cells it uses are read)
    shown = formulas.constant_text(formula)
    if shown is None and pending is not None and formulas.references(formula):
        if len(pending) >= MAX_PENDING_FORMULAS:
            raise _Refused(Reason.of("OFFICE_LIMIT", detail=f"over {MAX_PENDING_FORMULAS} text formulas in a sheet"))
        pending.append(formula)
        return None
    return _unless_spelt(formula, shown)


def _unless_spelt(formula: str, shown: str | None) -> str | None:
    """`shown`, what `formula` gives (formulas.constant_text); a formula it could not work out that spells
    letters from character codes is refused (not read completely)."""
    if shown is None and formulas.spells_codes(formula):
        raise _Refused(Reason.of("DOCUMENT_UNREADABLE", detail="a formula builds text from character codes"))
    return shown


def _formula_lines(formula: str, emit, unknown: bool = False) -> None:
    """An ODF cell's formula (`of:=...`): what it shows, as a line of its own; one that needs the whole
    spreadsheet program is noted (`_FORMULA_NOTES`), and `unknown` when the cell shows "#NAME?"."""
    shown = _shown_by(formula)
    if shown:
        emit(shown, "attr:formula")
    if formulas.needs_recalculation(formula):
        emit(formula, _RECALC)
        if unknown:
            emit(formula, _UNKNOWN)


# Notes an attribute reader (which has only `emit`) gives the package reader, under these places: not lines.
_RECALC, _UNKNOWN = "note:formula-recalc", "note:formula-unknown"
_FORMULA_NOTES = frozenset({_RECALC, _UNKNOWN})


def _note_formula(result: "_Result", note: str) -> None:
    if note == _RECALC:
        result.recalc += 1
    else:
        result.unknown += 1


# Excel header/footer codes: a font ("&\"Times New Roman,Bold\""), a size (&12), a colour (&K + RRGGBB, or a
# theme colour and tint: &K04+000, &K04-050), formatting switches (&B &I &U &E &X &Y &S &O &H), the sections
# (&L &C &R), fields (&P page, &N pages, &D date, &T time, &Z path, &F file, &A sheet, &G picture), "&&".
_HEADER_CODE = re.compile(r'&(?:"[^"]*"?|\d+|K(?:[0-9A-Fa-f]{6}|\d\d[+-]\d{3})?|[LCR]|[PN](?:[+-]\d+)?|[DTZFAG]|'
                          r'[BIUSEXYOH]|&|.?)', re.S)
_HEADER_FIELDS = {"P": "1", "N": "1", "D": "01/01/2026", "T": "00:00", "Z": "", "F": "", "G": ""}


def _validation_lines(dv, emit) -> None:
    """An Excel data validation's formulas (x14 ones too), each a line; a list's items (`"Thường,TỐI MẬT"`, shown
    one by one in the cell's drop-down) each a line of its own. Items given by a range or a name are cells, read."""
    for node in dv.iter():
        if _local(node.tag) not in ("formula1", "formula2"):
            continue
        formula = _text_of(node).strip()
        if not formula:
            continue
        emit(formula)
        if (dv.get("type") or "").lower() != "list":
            continue  # a rule, not shown: read as it stands, not worked out (nothing refused for it)
        shown = _shown_by(formula)
        if shown is not None:
            emit(shown)
            for item in shown.split(","):
                emit(item)


_IN_LIST = re.compile(r"(?i)cell-content-is-in-list\s*\((.*)\)")
_ODF_STRING = re.compile(r'"((?:[^"]|"")*)"')


def _odf_list_items(condition: str) -> list[str]:
    """The items of an ODF content validation's list (`of:cell-content-is-in-list("Thường";"TỐI MẬT")`), shown
    one by one in the cell's drop-down. Items given by a range are cells, read."""
    m = _IN_LIST.search(condition)
    return [s.replace('""', '"') for s in _ODF_STRING.findall(m.group(1))] if m else []


def _excel_header_text(code: str, sheet: str = "") -> str:
    """Excel header/footer codes stripped to the text printed: formatting codes give nothing (their letters and
    digits are not printed, so "TỐI M&KFF0000ẬT" prints "TỐI MẬT"), the sheet name (&A) and page fields stand
    in their place; each section (left, centre, right) a line of its own, then all of them on one line."""
    sections: list[list[str]] = [[]]
    pos = 0
    for m in _HEADER_CODE.finditer(code):
        sections[-1].append(code[pos:m.start()])
        pos = m.end()
        key = m.group()[1:2]
        if key in ("L", "C", "R"):
            sections.append([])
        elif key == "&":
            sections[-1].append("&")
        elif key == "A":
            sections[-1].append(sheet)
        elif key in _HEADER_FIELDS and len(m.group()) == 2 or key in ("P", "N"):
            sections[-1].append(_HEADER_FIELDS[key])
    sections[-1].append(code[pos:])
    texts = ["".join(piece) for piece in sections]
    return "\n".join(texts + [" ".join(t for t in texts if t.strip())])


_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*", b"BM",
                b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51", b"\xd7\xcd\xc6\x9a",
                b"\x01\x00\x09\x00", b"\x02\x00\x09\x00")
# Things a recipient could open: handed on even under a name that would otherwise be skipped.
_DOC_MAGIC = (b"%PDF", b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"{\\rtf")


def _is_image(head: bytes) -> bool:
    if head.startswith(_IMAGE_MAGIC):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return head[:4] == b"\x01\x00\x00\x00" and head[40:44] == b" EMF"


def _is_metafile(head: bytes) -> bool:
    """An EMF or WMF picture (placeable or not)."""
    return (head[:4] == b"\x01\x00\x00\x00" and head[40:44] == b" EMF") or head.startswith(
        (b"\xd7\xcd\xc6\x9a", b"\x01\x00\x09\x00", b"\x02\x00\x09\x00"))


def _is_document(head: bytes) -> bool:
    return head.startswith(_DOC_MAGIC)


def _looks_xml(head: bytes) -> bool:
    """XML by content: '<' first (after a BOM and blanks) and printable text all through the head, so a
    binary part that happens to start with '<' (an obfuscated font) is not taken for XML."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = head[: len(head) & ~1].decode("utf-16")
        except UnicodeDecodeError:
            return False
    else:
        text = head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "ignore")
        if len(text.encode("utf-8")) < len(head.removeprefix(b"\xef\xbb\xbf")) - 4:
            return False  # not UTF-8 text (a few bytes of a cut character at the end are allowed)
    sample = text.lstrip()[:64]
    return (sample.startswith("<") and len(sample) > 1 and (sample[1].isalpha() or sample[1] in "?!_")
            and all(c.isprintable() or c in "\t\r\n" for c in sample))


def _content_types(zf, parts, budget) -> dict[str, str]:
    info = parts.get("[Content_Types].xml")
    if info is None:
        return {}
    root = _parse_bytes(_read_part_bytes(zf, info, budget), "[Content_Types].xml")
    types: dict[str, str] = {}
    for elem in root:
        tag = _local(elem.tag)
        if tag == "Default" and elem.get("Extension"):
            types["ext:" + elem.get("Extension").lower()] = elem.get("ContentType") or ""
        elif tag == "Override" and elem.get("PartName"):
            types[elem.get("PartName").lower()] = elem.get("ContentType") or ""
    return types


def _where_for_part(low: str, odf: bool) -> str:
    base = posixpath.basename(low)
    if odf:
        if base == "styles.xml":
            return "styles"
        if base == "settings.xml":
            return "settings"
        return "body" if low == "content.xml" else f"object:{posixpath.dirname(low)}"
    m = re.match(r"(?:ppt/slides/slide|ppt/notesslides/notesslide)(\d+)\.xml$", low)
    if m:
        return ("notes" if "notes" in low else "slide") + m.group(1)
    for key, where in (
        ("word/header", "header"),
        ("word/footer", "footer"),
        ("word/footnotes", "footnote"),
        ("word/endnotes", "endnote"),
        ("word/comments", "comment"),
        ("word/glossary/", "glossary"),
        ("word/document", "body"),
        ("word/settings", "settings"),
        ("xl/comments", "comment"),
        ("xl/threadedcomments", "comment"),
        ("ppt/comments", "comment"),
        ("ppt/slidemasters", "master"),
        ("ppt/slidelayouts", "layout"),
        ("ppt/notesmasters", "notesmaster"),
        ("ppt/handoutmasters", "handoutmaster"),
        ("/charts/", "chart"),
        ("/diagrams/", "diagram"),
        ("/drawings/", "drawing"),
        ("xl/pivotcache", "pivotcache"),
        ("xl/externallinks", "externallink"),
        ("customxml/", "customxml"),
    ):
        if key in low:
            return where
    return "part:" + low


# --- XML machinery ---------------------------------------------------------------------------------------------


def _parser_args() -> dict:
    return dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_pis=True)


def _check_prolog(head: bytes, name: str) -> None:
    # A DTD is refused outright: OOXML forbids one, and entities are how billion-laughs bombs and external
    # references come in. Only the prolog can hold it: look before the first element.
    text = head.lstrip(b"\xef\xbb\xbf")
    for codec in ("utf-16-le", "utf-16-be"):
        if text[:2] in (b"<\x00", b"\x00<") or head[:2] in (b"\xff\xfe", b"\xfe\xff"):
            try:
                text = head.decode("utf-16").encode("utf-8", "replace")
            except UnicodeDecodeError:
                pass
            break
    if b"<!DOCTYPE" in text[:4096].upper() or b"<!ENTITY" in text[:4096].upper():
        raise _Refused(Reason.of("OFFICE_MALFORMED", detail=f"part {name} declares a DTD"))


class _PeekStream(io.RawIOBase):
    def __init__(self, head: bytes, rest: BinaryIO):
        self.head = head
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(b))
        b[: len(data)] = data
        return len(data)


def _iterparse(f: BinaryIO, name: str, events=("start", "end"), tag=None) -> Iterator[tuple[str, object]]:
    from lxml import etree

    head = f.read(4096)
    _check_prolog(head, name)
    stream = io.BufferedReader(_PeekStream(head, f), 64 * 1024)
    try:
        for event, elem in etree.iterparse(stream, events=events, tag=tag, **_parser_args()):
            yield event, elem
    except etree.XMLSyntaxError as exc:
        raise _Refused(Reason.of("OFFICE_MALFORMED", detail=f"part {name}: XML error")) from exc
    except (zipfile.BadZipFile, EOFError) as exc:
        raise _Refused(Reason.of("OFFICE_MALFORMED", detail=f"part {name}: {type(exc).__name__}")) from exc


def _parse_stream(f: BinaryIO, name: str):
    root = None
    for event, elem in _iterparse(f, name, ("end",)):
        root = elem
    if root is None:
        raise _Refused(Reason.of("OFFICE_MALFORMED", detail=f"part {name}: empty"))
    return root


def _parse_bytes(data: bytes, name: str):
    return _parse_stream(io.BytesIO(data), name)


def _text_of(elem) -> str:
    return "".join(elem.itertext())


def _iter_blocks(f: BinaryIO, name: str, budget: _Budget):
    for event, elem in _iterparse(f, name, ("end",)):
        if _local(elem.tag) == "si":
            yield elem


def _attr_lines(node, emit) -> None:
    """The attributes of one element that a person sees (see _VISIBLE_ATTRS), each as a line."""
    if not node.attrib:
        return
    tag = _local(node.tag)
    for key, value in node.attrib.items():
        local = _local(key)
        if not value or not value.strip():
            continue
        if local == "formatCode":  # xlsx number format: its literals are shown in the cell
            for literal in _numfmt_literals(value):
                emit(literal, "numberformat")
            continue
        if local == "value" and tag in ("table-cell", "covered-table-cell"):
            continue  # a cell's number (its shown text is a text:p or string-value)
        if local == "formula" and tag in ("table-cell", "covered-table-cell"):
            # LibreOffice's own errors for a function or syntax it does not know (#NAME?, Err:5xx)
            unknown = node.get(_CALCEXT_VALUE_TYPE) == "error" and _text_of(node).strip().startswith(("#NAME?", "Err:5"))
            _formula_lines(re.sub(r"^[A-Za-z]+:(?==)", "", value), emit, unknown)  # "of:=...": the namespace off
            continue
        if local == "Formula" and tag == "Cell":  # Excel 2003 XML (R1C1 references)
            _formula_lines(value, emit)
            continue
        if local == "condition" and tag == "content-validation":  # ODF: a drop-down list's items
            for item in _odf_list_items(value):
                emit(item, "attr:validation")
            continue
        if (local in _VISIBLE_ATTRS or (local == "name" and tag in _NAME_ELEMENTS)
                or (local == "val" and tag in _VAL_ELEMENTS)):
            emit(value, f"attr:{local}")


_ODF_TABLE_NAME = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}name"
_CALCEXT_VALUE_TYPE = "{urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0}value-type"
_ODF_NOTE_CLASS = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}note-class"


class _Places:
    """Where each element stands: the part's place, refined by ancestors (a text box, a comment, a deleted
    run, an ODF page header, a note, a sheet or slide of a one-part ODF document)."""

    def __init__(self, where: str, kind: str = ""):
        self.stack = [where]
        self.kind = kind  # "spreadsheet" / "presentation" for ODF content.xml, else ""
        self.slide = 0

    def enter(self, elem) -> str:
        tag = _local(elem.tag)
        here = _WHERE_BY_TAG.get(tag)
        if tag == "note":
            here = "endnote" if elem.get(_ODF_NOTE_CLASS) == "endnote" else "footnote"
        elif tag == "table" and self.kind == "spreadsheet" and elem.get(_ODF_TABLE_NAME):
            here = f"sheet:{elem.get(_ODF_TABLE_NAME)}"
        elif tag == "page" and self.kind == "presentation":
            self.slide += 1
            here = f"slide{self.slide}"
        elif tag == "notes" and self.kind == "presentation":
            here = f"notes{self.slide}"
        if here == "textbox" and self.kind == "presentation":
            here = None  # on a slide every text stands in a text box: the slide says more
        self.stack.append(here or self.stack[-1])
        return self.stack[-1]

    def leave(self) -> str:
        return self.stack.pop()


def _walk_text(f: BinaryIO, name: str, where: str, emit, budget: _Budget, kind: str = "",
               caps: "_Formats | None" = None) -> None:
    """Every line of text in one XML part: each block element's text (nested blocks first: a text box in a
    paragraph is its own line), white-space elements as white space, visible attributes, and each piece of
    character data that stands outside any block as a line of its own (chart values, comment texts ...).
    A paragraph with tracked deletions is read as the reviewer sees it (deleted text in place) and as it
    reads once the changes are accepted; the deleted text is also a line of its own ("deleted")."""
    places = _Places(where, kind)
    caps = caps if caps is not None else _Formats()
    paragraphs = _Paragraphs(caps, emit)
    depth = 0  # open block elements
    for event, elem in _iterparse(f, name):
        tag = _local(elem.tag)
        if elem.tag == _ODF_TITLE:
            tag = "title-field"  # a field in a paragraph (the document's title), not a block of its own
        if event == "start":
            places.enter(elem)
            if tag in _BLOCKS:
                depth += 1
            continue
        here = places.leave()
        if not len(elem):
            if tag in _SPACES:
                elem.text = _SPACES[tag]
            elif tag == "s":  # ODF text:s: c="n" spaces
                elem.text = " "
            elif tag == "sym":
                elem.text = _sym_char(elem)
        if tag in _FORMAT_TAGS:
            caps.note(elem, tag)
        _attr_lines(elem, emit)
        if tag in _BLOCKS:
            depth -= 1
            caps.apply(elem)
            full = _text_of(elem)
            emit(full, here)
            special = any(paragraphs.special(d, _local(d.tag)) for d in elem.iter() if d is not elem
                          and (_local(d.tag) in _SHOWN_CHECKED or d.tag in _ODF_FIELD_TAGS))
            shown, quoted = paragraphs.readings(elem, full, special, here)
            for text in shown:
                emit(text, here)
            for text in quoted:
                emit(text, "field")
            deleted = [d for d in elem.iter() if _local(d.tag) in _DELETED and d is not elem]
            if deleted:
                for d in deleted:
                    emit(_text_of(d), "deleted")
                emit(_text_without(elem, _DELETED), here)
            elem.clear(keep_tail=True)
        elif depth == 0:
            if tag in _MARK_EDGES or elem.tag in _ODF_FIELD_TAGS and tag.startswith(("bookmark", "reference-mark")):
                caps.mark_edge(elem, tag)  # between paragraphs: a bookmark over several of them
            for piece in [elem.text, *(child.tail for child in elem)]:
                if piece and piece.strip():
                    emit(piece, here)
            elem.clear(keep_tail=True)


_BLOCK_TAGS = tuple("{*}" + t for t in ("p", "h", "title", "desc"))
_SPACE_TAGS = tuple("{*}" + t for t in _SPACES) + ("{*}s",)
_ATTR_TAGS = tuple("{*}" + t for t in (
    "docPr", "cNvPr", "listItem", "docVar", "alias", "statusText", "helpText", "default", "result", "hyperlink",
    "hlinkClick", "lvlText", "table", "page", "frame", "image",
    # displayed text in attributes: VML WordArt, ODF cells kept as values, list labels
    "textpath", "table-cell", "covered-table-cell", "list-level-style-number", "list-level-style-bullet",
    "outline-level-style", "control", "content-validation",
    # ODF fields whose text is in attributes: conditional and hidden text
    "conditional-text", "hidden-text",
    # a comment, whose author's name and initials stand beside it
    "comment",
))
_FIELD_TAGS = ("{*}instrText", "{*}fldSimple")
# Word fields (w:fldSimple, or w:fldChar begin / instrText / separate / result / end): a document stores each
# field's last result, and Word works the fields out again when it is asked to (a document's updateFields
# setting, printing with "update fields"). QUOTE and SYMBOL give their own text: { QUOTE "TỐI MẬT" } shows
# it whatever result is stored, and the instruction read as a line is a quotation (marks.py rule 5).
_FIELD_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_FIELD_SYMBOL = re.compile(r"(?i)^\s*SYMBOL\s+(0x[0-9a-f]+|\d+)")
_FIELD_QUOTE = re.compile(r"(?is)^\s*QUOTE\b(.*)$")


def _field_value(instr: str) -> str | None:
    """What a field shows once updated, for the fields whose value is their own text (QUOTE, SYMBOL); None for
    another field (its stored result stands)."""
    m = _FIELD_SYMBOL.match(instr)
    if m:
        code = m.group(1)
        n = int(code, 16) if code.lower().startswith("0x") else int(code)
        return chr(n) if n <= 0x10FFFF else None
    m = _FIELD_QUOTE.match(instr)
    if m:
        quoted = _FIELD_QUOTED.findall(m.group(1))
        return "".join(q.replace('\\"', '"') for q in quoted) if quoted else m.group(1).strip()
    return None


def field_texts(instructions: list[str]) -> list[str]:
    """What fields show once updated, from their instructions alone (RTF's \\fldinst, in order): each QUOTE's
    text, each quoted text of an instruction, and the characters of SYMBOL fields in a row, joined."""
    out: list[str] = []
    symbols: list[str] = []
    for instr in instructions + [""]:
        value = _field_value(instr)
        if value is not None and _FIELD_SYMBOL.match(instr):
            symbols.append(value)
            continue
        if symbols:
            out.append("".join(symbols))
            symbols = []
        out.extend(q for q in _FIELD_QUOTED.findall(instr) if q.strip())
        if value:
            out.append(value)
    return out


# What a paragraph holds that is read but not shown (hidden runs, ruby and phonetic guides, field codes), and
# what a paragraph shows that is not its own text (list labels, a drop cap beside it): `_Paragraphs`.
_UNSHOWN = frozenset({"pPr", "rPr", "rt", "ruby-text", "delText", "delInstrText", "del", "moveFrom", "rPh"})
# Bookmark edges (Word's by id, ODF's by name): a reference field shows the text between them.
_MARK_EDGES = frozenset({"bookmarkStart", "bookmarkEnd"})
_SHOWN_TRIGGERS = frozenset({"vanish", "specVanish", "rt", "ruby-text", "framePr", "numPr", "buChar", "ins",
                             "moveTo", "rPh", "instrText", "fldSimple", "fldChar"}) | _MARK_EDGES
_ODF_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_ODF_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
# ODF fields whose shown text LibreOffice works out on loading, whatever the stored text says: user fields and
# variables, references to bookmarks and reference marks, document properties (text:title is a field, not a
# heading: classed by its namespace), hidden and conditional text; and the bookmark edges they refer to.
_ODF_DOC_PROPERTIES = {"title": "docprops:title", "subject": "docprops:subject", "description": "docprops:description",
                       "keywords": "docprops:keywords", "initial-creator": "docprops:creator"}
_ODF_FIELDS = frozenset({"user-field-get", "variable-get", "variable-set", "bookmark-ref", "reference-ref",
                         "user-defined", "hidden-text", "conditional-text", "bookmark-start", "bookmark-end",
                         "bookmark", "reference-mark-start", "reference-mark-end", "reference-mark"}
                        | set(_ODF_DOC_PROPERTIES))
_ODF_FIELD_TAGS = frozenset(_ODF_TEXT + t for t in _ODF_FIELDS)
_ODF_TITLE = _ODF_TEXT + "title"
_ODF_BRANCHES = frozenset({_ODF_TEXT + "hidden-text", _ODF_TEXT + "conditional-text"})
_SHOWN_TAGS = (tuple("{*}" + t for t in _SHOWN_TRIGGERS) + ("{*}span", "{*}rStyle", "{*}pStyle")
               + tuple(_ODF_FIELD_TAGS))


def _as_shown(p, formats: "_Formats | None" = None, original: bool = False, *, branch: bool | None = None,
              record: bool = False, missing: list[str] | None = None) -> tuple[str, list[str]]:
    """(the paragraph `p` as Word or LibreOffice shows it: without hidden runs, ruby and phonetic guides, field
    codes, deleted text; each field the reader can work out (QUOTE, SYMBOL, properties, references to bookmarks,
    ODF user fields and variables: `_Formats.word_field`, `_Formats.odf_field`) replaced by what it gives — or,
    when `original`, as it read before its tracked changes: inserted text out, deleted text in —, the quoted
    texts of every field's instruction: an IF's either branch, each a line of its own).

    `branch`: ODF conditional and hidden text as their condition gives it (None: hidden text out, conditional
    text as stored). `record`: the text shown is what the bookmarks open around it hold (once per paragraph).
    `missing`: where the names of bookmarks and variables referred to and not yet known go."""
    out: list[str] = []
    stack: list[dict] = []
    quoted: list[str] = []
    hidden = formats.is_hidden if formats is not None and formats.hidden else None
    marks = formats if formats is not None and record else None

    def put(text: str | None) -> None:
        if not text:
            return
        if not stack:
            out.append(text)
            if marks is not None and marks.open_marks:
                marks.mark_text(text)
        elif stack[-1]["result"] is not None:
            stack[-1]["result"].append(text)
        else:
            stack[-1]["instr"] += text  # a nested field's text inside an instruction

    def done(instr: str, stored: str) -> None:
        quoted.extend(q for q in _FIELD_QUOTED.findall(instr) if q.strip())
        value = _field_value(instr)
        if value is None and formats is not None:
            value = formats.word_field(instr, missing, record)
        put(stored if value is None else value)

    def walk(node) -> None:
        for child in node:
            tag = _local(child.tag)
            if tag == "instrText":
                if stack and stack[-1]["result"] is None:
                    stack[-1]["instr"] += child.text or ""
            elif tag == "fldChar":
                kind = _attr(child, "fldCharType") or ""
                if kind == "begin":
                    stack.append({"instr": "", "result": None})
                elif kind == "separate" and stack:
                    stack[-1]["result"] = []
                elif kind == "end" and stack:
                    field = stack.pop()
                    done(field["instr"], "".join(field["result"] or ()))
            elif tag == "fldSimple":
                stack.append({"instr": "", "result": []})
                walk(child)
                field = stack.pop()
                done(_attr(child, "instr") or "", "".join(field["result"]))
            elif tag in _MARK_EDGES:
                if marks is not None:
                    marks.mark_edge(child, tag)
            elif formats is not None and child.tag in _ODF_FIELD_TAGS:
                value = formats.odf_field(child, tag, branch, record, missing)
                if value is None:
                    put(child.text)
                    walk(child)
                else:
                    put(value)
            elif original and tag in ("del", "moveFrom", "delText"):
                put(child.text)
                walk(child)
            elif tag in _UNSHOWN or (original and tag in ("ins", "moveTo")):
                pass
            elif hidden is not None and tag == "span" and hidden(_attr(child, "style-name")):
                pass
            elif tag == "r" and _hidden_run(child, hidden):
                pass
            else:
                put(child.text)
                walk(child)
            put(child.tail)

    put(p.text)
    walk(p)
    while stack:  # a field left open: its result as stored
        field = stack.pop()
        put("".join(field["result"] or ()))
    return "".join(out), quoted


_PROPERTY_FIELDS = {"TITLE": "title", "SUBJECT": "subject", "AUTHOR": "creator", "KEYWORDS": "keywords",
                    "COMMENTS": "description", "LASTSAVEDBY": "lastModifiedBy"}
_FIELD_NAME = re.compile(r'(?i)^\s*(\w+|=)(?:\s+(?:"([^"]*)"|(\S+)))?')
# Word fields whose shown text is a number, a date, a picture, or the result stored beside them (Word keeps it
# when it updates them): no text of their own to work out. Any other kind that Word works out (IF, INCLUDETEXT,
# MERGEFIELD, STYLEREF, AUTOTEXT ...) is not known here: a document that asks for its fields to be updated on
# opening and holds one is not read completely (`_Formats.finish`).
_FIELDS_STORED = frozenset({
    "PAGE", "NUMPAGES", "SECTIONPAGES", "SECTION", "PAGEREF", "NOTEREF", "SEQ", "DATE", "TIME", "CREATEDATE",
    "SAVEDATE", "PRINTDATE", "EDITTIME", "NUMWORDS", "NUMCHARS", "REVNUM", "FILESIZE", "LISTNUM", "AUTONUM",
    "AUTONUMLGL", "AUTONUMOUT", "BARCODE", "DISPLAYBARCODE", "=", "TOC", "TOA", "TA", "TC", "XE", "RD", "INDEX",
    "HYPERLINK", "FORMTEXT", "FORMCHECKBOX", "FORMDROPDOWN", "PRIVATE", "ADDIN", "INCLUDEPICTURE", "FILENAME",
    "TEMPLATE", "SHAPE", "EMBED", "CITATION", "BIBLIOGRAPHY", "BIDIOUTLINE", "USERNAME", "USERINITIALS",
    "USERADDRESS", "QUOTE", "SYMBOL", "REF", "SET", "ASK", "FILLIN", "DOCVARIABLE", "DOCPROPERTY", "INFO",
    "MACROBUTTON", "GOTOBUTTON",
} | set(_PROPERTY_FIELDS))
_SWITCH_TEXT = re.compile(r'(?i)\\d\s+(?:"([^"]*)"|(\S+))')  # ASK / FILLIN default answer
_SWITCH_CASE = re.compile(r"(?i)\\\*\s*(upper|lower|caps|firstcap)\b")
_SWITCH_NUMBER = re.compile(r"(?i)\\[nrw]\b")  # REF \n \r \w: the paragraph's number, not its text
MAX_HELD = 10_000  # paragraphs held until the bookmarks they refer to are known; more: not read completely
MAX_MARK_CHARS = 1_000_000  # text kept for bookmarks, all together


def _field_args(instr: str) -> list[str]:
    """A field instruction's arguments after its kind, quotes taken off; switches (\\x and what follows) out."""
    args = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"|(\\\S+(?:\s+(?:"[^"]*"|[^\\\s"]\S*))?)|(\S+)', instr):
        if m.group(1) is not None:
            args.append(m.group(1).replace('\\"', '"'))
        elif m.group(3) is not None:
            args.append(m.group(3))
    return args[1:]


def _cased(value: str, instr: str) -> str:
    """A field's value after its case switch (\\* Upper, \\* Lower, \\* Caps, \\* FirstCap)."""
    m = _SWITCH_CASE.search(instr)
    if not m:
        return value
    how = m.group(1).lower()
    if how == "upper":
        return value.upper()
    if how == "lower":
        return value.lower()
    if how == "caps":
        return " ".join(w[:1].upper() + w[1:] for w in value.split(" "))
    return value[:1].upper() + value[1:]


def _hidden_run(r, hidden) -> bool:
    """A Word run hidden by w:vanish (or w:specVanish), directly or by its character style."""
    rpr = r[0] if len(r) and _local(r[0].tag) == "rPr" else None
    if rpr is None:
        return False
    for x in rpr:
        tag = _local(x.tag)
        if tag in ("vanish", "specVanish"):
            return _on(x)
        if tag == "rStyle" and hidden is not None and hidden(_attr(x, "val")):
            return True
    return False


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _word_level(lvl) -> tuple[str, str, int, str]:
    """A w:lvl: (label text with %n places, number format, start, what follows the label)."""
    text = fmt = after = None
    start = 1
    for c in lvl:
        tag = _local(c.tag)
        if tag == "lvlText":
            text = _attr(c, "val")
        elif tag == "numFmt":
            fmt = _attr(c, "val")
        elif tag == "start":
            start = _int(_attr(c, "val"), 1)
        elif tag == "suff":
            after = {"space": " ", "nothing": ""}.get(_attr(c, "val") or "", "\t")
    return text or "", fmt or "decimal", start, "\t" if after is None else after


_ROMAN = ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"), (40, "XL"),
          (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))


def list_number(n: int, fmt: str) -> str:
    """A list number as a label shows it (Word numFmt or ODF num-format)."""
    if fmt in ("none", "bullet", ""):
        return ""
    if fmt in ("upperLetter", "lowerLetter", "A", "a"):
        letter = chr(ord("A") + (max(n, 1) - 1) % 26) * ((max(n, 1) - 1) // 26 + 1)
        return letter if fmt in ("upperLetter", "A") else letter.lower()
    if fmt in ("upperRoman", "lowerRoman", "I", "i") and 0 < n < 4000:
        roman = ""
        for value, digits in _ROMAN:
            while n >= value:
                roman, n = roman + digits, n - value
        return roman if fmt in ("upperRoman", "I") else roman.lower()
    if fmt == "decimalZero":
        return f"{n:02d}"
    return str(n)


_PLACE = re.compile(r"%([1-9])")


class _Paragraphs:
    """Each paragraph also as it is shown, beside its text as read: without what is read but not shown
    (`_as_shown`), after its list label (a numbering level's text, "TỐI M" with no number and nothing after it,
    shows the paragraph "ẬT" as "TỐI MẬT"), and after a drop-cap paragraph before it (Word shows the frame's
    letters as the first of the next paragraph). More readings, never fewer: hidden text is read either way."""

    def __init__(self, formats: "_Formats", emit=None) -> None:
        self.formats = formats
        self.emit = emit  # where a paragraph held for later references is read at the end of the package
        self.drop: list[str] = []  # the drop cap waiting for its paragraph, as read and as shown
        self.counts: dict[object, list[int | None]] = {}  # list counters: Word list / ODF list -> by level
        self.odf_list = None  # the ODF list being counted
        self.restarted: set[str] = set()  # Word numIds whose start overrides have restarted their list
        self.word: dict[str, tuple] = {}  # Word numId -> `_Formats.word_levels`, worked out once per part

    def special(self, elem, tag: str) -> bool:
        """Does element `elem` (local name `tag`, met inside a paragraph) make the paragraph worth reading again?"""
        if elem.tag in _ODF_FIELD_TAGS:
            return True
        if tag in ("span", "rStyle"):
            return bool(self.formats.hidden) and self.formats.is_hidden(_attr(elem, "style-name" if tag == "span" else "val"))
        if tag == "pStyle":
            return _attr(elem, "val") in self.formats.style_numbering
        if tag == "framePr":
            return (_attr(elem, "dropCap") or "none") != "none"
        if tag in ("vanish", "specVanish"):
            parent = elem.getparent()
            return _on(elem) and parent is not None and _local(parent.tag) == "rPr"
        return tag in _SHOWN_TRIGGERS

    def readings(self, p, full: str, special: bool, here: str = "") -> tuple[list[str], list[str]]:
        """(other readings of paragraph `p`, whose text as read is `full` and which stands `here`; quoted texts of
        its fields). One that refers to a bookmark or variable not yet known is read again at the end."""
        out: list[str] = []
        quoted: list[str] = []
        shown = full
        formats = self.formats
        special = special or bool(formats.open_marks)  # the text shown is a bookmark's
        if special:
            missing: list[str] = []
            shown, quoted = _as_shown(p, formats, record=True, missing=missing)
            if formats.open_marks:
                formats.mark_text("\n")  # a bookmark over paragraphs: each its own line
            if missing and self.emit is not None:
                formats.hold(p, here, self.emit)
            if any(_local(x.tag) in ("ins", "moveTo") for x in p.iter()):
                out.append(_as_shown(p, formats, original=True)[0])
            if any(x.tag in _ODF_BRANCHES for x in p.iter()):  # hidden and conditional text either way
                out += [_as_shown(p, formats, branch=b)[0] for b in (True, False)]
        texts = [full] + ([shown] if shown != full else [])
        out += texts[1:]
        for label in self._labels(p, special):
            out += [label + t for t in texts]
        if self.drop:
            out += [d + t for d in self.drop for t in texts]
            self.drop = []
        if special and self._drop_cap(p):
            self.drop = list(dict.fromkeys(texts))
        return out, quoted

    @staticmethod
    def _drop_cap(p) -> bool:
        ppr = p[0] if len(p) and _local(p[0].tag) == "pPr" else None
        return ppr is not None and any(
            _local(x.tag) == "framePr" and (_attr(x, "dropCap") or "none") != "none" for x in ppr)

    def _labels(self, p, special: bool) -> list[str]:
        """The list labels paragraph `p` may show (none, one, or two where Word and LibreOffice may count apart)."""
        parent = p.getparent()
        if parent is not None and _local(parent.tag) in ("list-item", "list-header", "numbered-paragraph"):
            label = self._odf_label(p, parent)
            return [label] if label else []
        if not special or not len(p):
            return []
        ppr = p[0] if _local(p[0].tag) == "pPr" else None
        if ppr is None:
            return []
        numpr = bullet = style = None
        for x in ppr:
            tag = _local(x.tag)
            if tag == "numPr":
                numpr = x
            elif tag == "buChar":
                bullet = _attr(x, "char")
            elif tag == "pStyle":
                style = _attr(x, "val")
        if bullet:
            return [bullet]
        if numpr is not None:
            num = next((_attr(x, "val") for x in numpr if _local(x.tag) == "numId"), None)
            ilvl = _int(next((_attr(x, "val") for x in numpr if _local(x.tag) == "ilvl"), None), 0)
        elif style in self.formats.style_numbering:
            num, ilvl = self.formats.style_numbering[style]
        else:
            return []
        if num not in self.formats.num_abstract:
            return []
        if num not in self.word:
            self.word[num] = self.formats.word_levels(num)
        aid, levels, restarts = self.word[num]
        if ilvl not in levels:
            return []
        # Counted by abstractNum, as Word and LibreOffice do (numIds over one list continue each other; one that
        # overrides a level's start restarts it where it is first used); and by numId alone, as a reader might.
        if restarts and num not in self.restarted:
            self.restarted.add(num)
            counts = self.counts.setdefault(("w", aid), [None] * 10)
            for level in restarts:
                counts[min(max(level, 0), 9)] = None
        labels = [self._count(("w", aid), levels, ilvl), self._count(("wn", num), levels, ilvl)]
        return list(dict.fromkeys(labels))

    def _odf_label(self, p, item) -> str | None:
        if next((c for c in item if _local(c.tag) in _BLOCK_NAMES), None) is not p:
            return None  # only an item's first paragraph has the label
        restart = _attr(item, "start-value")  # an item (or numbered paragraph) that restarts its level's count
        restart = _int(restart, 1) if restart is not None else None
        if _local(item.tag) == "numbered-paragraph":  # a list of its own (by list id), no text:list around it
            style = _attr(item, "style-name")
            levels = self.formats.lists.get(style or "")
            level = _int(_attr(item, "level"), 1) - 1
            if not levels or level not in levels:
                return None
            return self._count(("odf-id", _attr(item, "list-id") or style), levels, level, restart=restart)
        level, style, top, node = -1, None, None, item
        while node is not None and _local(node.tag) in ("list", "list-item", "list-header"):
            if _local(node.tag) == "list":
                level += 1
                style = style or _attr(node, "style-name")
                top = node
            node = node.getparent()
        levels = self.formats.lists.get(style or "")
        if not levels or level not in levels:
            return None
        if top is not self.odf_list:  # a new list restarts its numbers unless it says it continues
            self.odf_list = top
            if (_attr(top, "continue-numbering") or "").lower() != "true" and not _attr(top, "continue-list"):
                self.counts.pop(("odf", style), None)
        return self._count(("odf", style), levels, level, header=_local(item.tag) == "list-header", restart=restart)

    def _count(self, key, levels: dict, ilvl: int, header: bool = False, restart: int | None = None) -> str:
        counts = self.counts.setdefault(key, [None] * 10)
        if not header:
            ilvl = min(max(ilvl, 0), 9)
            if restart is not None:
                counts[ilvl] = restart
            else:
                counts[ilvl] = levels[ilvl][2] if counts[ilvl] is None else counts[ilvl] + 1
            for deeper in range(ilvl + 1, 10):
                counts[deeper] = None
        text, fmt, start, after = levels[ilvl]

        def number(m) -> str:
            k = int(m.group(1)) - 1
            lvl = levels.get(k, levels[ilvl])
            return list_number(counts[k] if counts[k] is not None else lvl[2], lvl[1])

        if header:
            return ""
        if "%" not in text:  # ODF: the number's place is "%1" of this level
            return text + after
        word = key[0] in ("w", "wn")
        return (_PLACE.sub(number, text) if word else text.replace("%1", list_number(counts[ilvl], fmt))) + after


_NUMBER_NS = "{urn:oasis:names:tc:opendocument:xmlns:datastyle:1.0}"
# ODF number styles: literal text shown around (or instead of) a cell's number
_NUMBER_TEXT_TAGS = tuple(_NUMBER_NS + t for t in ("text", "currency-symbol", "embedded-text", "text-content"))
_FORMAT_TAGS = frozenset({"caps", "smallCaps", "basedOn", "text-properties", "style", "vanish", "specVanish", "numId",
                          "list-level-style-number", "list-level-style-bullet", "outline-level-style", "docVar",
                          "updateFields", "user-field-decl"})
_SHOWN_CHECKED = _SHOWN_TRIGGERS | {"span", "rStyle", "pStyle"}
_FORMAT_TAG_FILTER = ("{*}style", "{*}text-properties", "{*}sym", "{*}list-level-style-number",
                      "{*}list-level-style-bullet", "{*}outline-level-style", "{*}user-field-decl")
_DELETED_TAGS = ("{*}del", "{*}moveFrom")


def _walk_blocks(f: BinaryIO, name: str, where: str, emit, budget: _Budget, kind: str = "",
                 caps: "_Formats | None" = None) -> None:
    """The fast path for parts whose text all stands in paragraphs: lxml yields each paragraph when it
    ends (nested paragraphs — a text box's — first), its text is joined in C with tabs and breaks as white
    space, its place comes from its ancestors. Visible attributes of the elements inside are read too.
    Tabs, breaks and tracked deletions end before their paragraph does: they are handled as they come."""
    from lxml import etree

    string = etree.XPath("string()")
    pages: dict[int, int] = {}
    places: dict = {}  # parent element -> place (paragraphs of one body, cell, text box share it)
    deleted = False
    caps = caps if caps is not None else _Formats()
    tags = (_BLOCK_TAGS + _ATTR_TAGS + _SPACE_TAGS + _DELETED_TAGS + _FORMAT_TAG_FILTER + _NUMBER_TEXT_TAGS
            + _SHOWN_TAGS)
    paragraphs = _Paragraphs(caps, emit)
    special: set = set()  # paragraphs (a text box's, and the one around it) that show other than they read
    for _, elem in _iterparse(f, name, ("end",), tag=tags):
        tag = _local(elem.tag)
        if tag in _SHOWN_TRIGGERS or tag in ("span", "rStyle", "pStyle") or elem.tag in _ODF_FIELD_TAGS:
            if paragraphs.special(elem, tag):
                blocks = [a for a in elem.iterancestors() if _local(a.tag) in _BLOCK_NAMES and a.tag != _ODF_TITLE]
                special.update(blocks)
                if not blocks and (tag in _MARK_EDGES or tag.startswith(("bookmark", "reference-mark"))):
                    caps.mark_edge(elem, tag)  # between paragraphs: a bookmark over several of them
            if tag not in ("ins", "moveTo", "span", "hidden-text", "conditional-text"):  # attributes read
                continue
        if tag in _SPACES or tag == "s":
            if not len(elem):
                elem.text = " " if tag == "s" else _SPACES[tag]
            continue
        if tag == "sym":
            if not len(elem):
                elem.text = _sym_char(elem)
            continue
        if tag in _FORMAT_TAGS:
            caps.note(elem, tag)
            if tag.endswith("level-style") or tag == "user-field-decl":
                _attr_lines(elem, emit)  # its label's text, as a line of its own too
            continue
        if elem.tag.startswith(_NUMBER_NS):
            emit(string(elem), "numberformat")
            continue
        if tag in _DELETED:
            emit(string(elem), "deleted")
            deleted = True
            continue
        if tag not in _BLOCK_NAMES:
            _attr_lines(elem, emit)
            continue
        parent = elem.getparent()
        here = places.get(parent)
        if here is None:
            here = _block_place(elem, where, kind, pages)
            if parent is not None:
                places[parent] = here
        caps.apply(elem)
        full = string(elem)
        emit(full, here)
        # as shown (fields updated, hidden text out, its list label ...), and what field instructions quote
        shown, quoted = paragraphs.readings(elem, full, elem in special, here)
        special.discard(elem)
        for text in shown:
            emit(text, here)
        for text in quoted:
            emit(text, "field")
        if deleted:  # the paragraph as it reads once the changes are accepted
            emit(_text_without(elem, _DELETED), here)
            deleted = False
        elem.clear(keep_tail=True)


_BLOCK_NAMES = frozenset({"p", "h", "title", "desc"})


def _block_place(elem, where: str, kind: str, pages: dict[int, int]) -> str:
    """_Places for one paragraph, from its ancestors (innermost first)."""
    for anc in elem.iterancestors():
        tag = _local(anc.tag)
        if tag == "note":
            return "endnote" if anc.get(_ODF_NOTE_CLASS) == "endnote" else "footnote"
        if kind == "presentation":
            if tag == "notes":
                page = anc.getparent()
                return f"notes{pages.setdefault(id(page), len(pages) + 1)}"
            if tag == "page":
                return f"slide{pages.setdefault(id(anc), len(pages) + 1)}"
            continue
        if kind == "spreadsheet" and tag == "table" and anc.get(_ODF_TABLE_NAME):
            return f"sheet:{anc.get(_ODF_TABLE_NAME)}"
        here = _WHERE_BY_TAG.get(tag)
        if here:
            return here
    return where


_DELETED = frozenset({"del", "moveFrom"})


def _text_without(elem, skip: frozenset) -> str:
    """The text of `elem` leaving out the subtrees whose local name is in `skip` (their tails kept)."""
    out: list[str] = []

    def walk(node):
        if node.text:
            out.append(node.text)
        for child in node:
            if _local(child.tag) not in skip:
                walk(child)
            if child.tail:
                out.append(child.tail)

    walk(elem)
    return "".join(out)


def _sym_char(elem) -> str:
    """w:sym: the character it shows (symbol-font code points F0xx stand for xx of that font)."""
    code = next((v for k, v in elem.attrib.items() if _local(k) == "char"), "")
    try:
        n = int(code, 16)
    except ValueError:
        return ""
    if 0xF020 <= n <= 0xF0FF:
        n -= 0xF000
    return chr(n) if 0 < n < 0x110000 and not 0xD800 <= n < 0xE000 else ""


MAX_FORMATTED = 2_000_000  # texts x text formats put together per package; more: not read completely


def _text_templates(f: BinaryIO, name: str) -> list[list[str | None]]:
    """The text formats of a styles part that write letters around a cell's text: each as literal pieces and
    None where the text goes. Styles come before an ODF document's body: the body (the bulk of a spreadsheet's
    content.xml, read once already) is not parsed again."""
    out: list[list[str | None]] = []
    for event, elem in _iterparse(f, name):
        local = _local(elem.tag)
        if event == "start":
            if local == "body":
                break
            continue
        if local == "numFmt":  # xlsx: the text section (the 4th, or the one with @)
            sections = _numfmt_sections(_attr(elem, "formatCode") or "")
            text = sections[3] if len(sections) >= 4 else next((t for t in sections if None in t), None)
            if text and None in text and any(c.isalpha() for piece in text if piece for c in piece):
                out.append(text)
        elif local == "text-style":  # ODF: number:text literals and number:text-content, in order
            template = [None if _local(c.tag) == "text-content" else (c.text or "") for c in elem
                        if _local(c.tag) in ("text", "text-content")]
            if None in template and any(c.isalpha() for piece in template if piece for c in piece):
                out.append(template)
        if local in ("numFmt", "text-style"):
            elem.clear(keep_tail=True)
    return out


def _numfmt_sections(code: str) -> list[list[str | None]]:
    """An Excel number format's sections as literal pieces, None where @ puts the cell's text."""
    sections: list[list[str | None]] = [[]]
    i = 0
    while i < len(code):
        c = code[i]
        if c == '"':
            j = code.find('"', i + 1)
            j = len(code) if j < 0 else j
            sections[-1].append(code[i + 1 : j])
            i = j + 1
            continue
        if c == "\\" and i + 1 < len(code):
            sections[-1].append(code[i + 1])
            i += 2
            continue
        if c == "[":
            j = code.find("]", i + 1)
            j = len(code) if j < 0 else j
            inner = code[i + 1 : j]
            if inner.startswith("$"):
                sections[-1].append(inner[1:].split("-", 1)[0])
            i = j + 1
            continue
        if c == "@":
            sections[-1].append(None)
        elif c == ";":
            sections.append([])
        elif c in "_*" and i + 1 < len(code):
            sections[-1].append(" " if c == "_" else code[i + 1])  # _x: a space as wide as x; *x: x repeated
            i += 2
            continue
        elif c in " -+/():!^&'~{}<>=$":
            sections[-1].append(c)  # shown as it is without quotes
        i += 1
    return sections


def _numfmt_literals(code: str) -> list[str]:
    """The literal text of an Excel number format, one string per section (see _numfmt_sections): shown in
    the cell whatever its value."""
    out = ["".join(piece for piece in section if piece is not None) for section in _numfmt_sections(code)]
    return [t for t in out if t.strip()]


def _attr(elem, local: str) -> str | None:
    for k, v in elem.attrib.items():
        if _local(k) == local:
            return v
    return None


def _on(elem) -> bool:
    val = _attr(elem, "val")
    return val is None or val.lower() not in ("0", "false", "off", "none")


def _upper_tree(node) -> None:
    if node.text:
        node.text = node.text.upper()
    for child in node.iter():
        if child is not node:
            if child.text:
                child.text = child.text.upper()
            if child.tail:
                child.tail = child.tail.upper()


class _Formats:
    """What a package's styles and definitions do to its paragraphs as shown.

    Capitals (Word w:caps / w:smallCaps on a run, its style, the default paragraph style or the document
    defaults; DrawingML cap="all"; ODF fo:text-transform="uppercase" / fo:font-variant="small-caps" on a span,
    a paragraph style or a default style): upper-cased in place before the paragraph is read, as a person sees
    it (marks want capitals). Hidden character styles (Word w:vanish, ODF text:display="none") and list labels
    (Word numbering, ODF list styles) are kept for `_Paragraphs`, which reads each paragraph as shown."""

    def __init__(self) -> None:
        self.hidden: set[str] = set()  # character styles whose text is not shown
        self.properties: dict[str, str] = {}  # document properties ("docprops:title" ...): property fields show them
        # Word lists as counted: numId -> its abstractNum; abstractNum -> levels; numbering-style links
        # (abstractNum -> w:numStyleLink style, w:styleLink style -> abstractNum); numId -> ilvl -> restart
        self.num_abstract: dict[str, str] = {}
        self.abstract_levels: dict[str, dict[int, tuple[str, str, int, str]]] = {}
        self.num_style_links: dict[str, str] = {}
        self.style_links: dict[str, str] = {}
        self.num_overrides: dict[str, dict[int, tuple[tuple[str, str, int, str] | None, int | None]]] = {}
        self.style_numbering: dict[str, tuple[str, int]] = {}  # Word paragraph (or numbering) style -> (numId, ilvl)
        self.lists: dict[str, dict[int, tuple[str, str, int, str]]] = {}  # ODF list style -> level -> level
        self.styles: set[str] = set()
        self.parents: dict[str, str] = {}
        self.everything = False  # the document's defaults set capitals: every paragraph is shown in them
        self.default_paragraph: str | None = None  # Word: the style of a paragraph that names none
        # what reference fields and variables show (`word_field`, `odf_field`): bookmark name -> its text as shown
        # (Word bookmarks, SET and ASK, ODF bookmarks and reference marks), open bookmarks (id -> name, text so
        # far), ODF user fields and variables, Word document variables
        self.marks: dict[str, str] = {}
        self.open_marks: dict[str, tuple[str, list[str]]] = {}
        self.mark_chars = 0
        self.variables: dict[str, str] = {}
        self.doc_vars: dict[str, str] = {}
        # paragraphs that refer to a bookmark or variable met only later: (a copy, where it stands, emit)
        self.held: list[tuple[object, str, object]] = []
        self.update_fields = False  # Word: the document asks for its fields to be updated on opening
        self.unknown_fields: set[str] = set()  # Word field kinds that may show text not worked out here
        from lxml import etree

        self._has_caps = etree.XPath(
            "boolean(.//*[local-name()='caps' or local-name()='smallCaps' or @cap='all' or @cap='small'])")

    def note(self, elem, tag: str) -> None:
        """A style definition's pieces, as the parser meets them."""
        parent = elem.getparent()
        if tag == "docVar" and _attr(elem, "name") is not None:
            self.doc_vars.setdefault(_attr(elem, "name"), _attr(elem, "val") or "")
        elif tag == "updateFields":
            self.update_fields = _on(elem)
        elif tag == "user-field-decl" and _attr(elem, "name"):
            value = _attr(elem, "string-value")
            if value is None and (_attr(elem, "value-type") or "string") == "string":
                value = _attr(elem, "value") or ""
            if value is not None:
                self.variables.setdefault(_attr(elem, "name"), value)
        elif tag in ("vanish", "specVanish"):
            style = parent.getparent() if parent is not None else None
            if style is not None and _local(style.tag) == "style" and _on(elem) and _attr(style, "styleId"):
                self.hidden.add(_attr(style, "styleId"))
        elif tag == "numId":  # a paragraph style that numbers its paragraphs
            style = parent.getparent().getparent() if parent is not None and parent.getparent() is not None else None
            if style is not None and _local(style.tag) == "style" and _attr(style, "styleId") and _attr(elem, "val"):
                ilvl = next((_attr(c, "val") for c in parent if _local(c.tag) == "ilvl"), None)
                self.style_numbering[_attr(style, "styleId")] = (_attr(elem, "val"), _int(ilvl, 0))
        elif tag in ("list-level-style-number", "list-level-style-bullet", "outline-level-style"):
            self._odf_level(elem, parent)
        elif tag in ("caps", "smallCaps"):
            style = parent.getparent() if parent is not None else None
            if style is not None and _local(style.tag) == "style" and _on(elem) and _attr(style, "styleId"):
                self.styles.add(_attr(style, "styleId"))
            elif style is not None and _local(style.tag) == "rPrDefault" and _on(elem):
                self.everything = True
        elif tag == "basedOn":
            if parent is not None and _attr(parent, "styleId") and _attr(elem, "val"):
                self.parents[_attr(parent, "styleId")] = _attr(elem, "val")
        elif tag == "text-properties":
            if (parent is not None and _local(parent.tag) == "style" and _attr(parent, "name")
                    and (_attr(elem, "display") or "").lower() == "none"):
                self.hidden.add(_attr(parent, "name"))
            if parent is not None and _local(parent.tag) == "style" and _attr(parent, "name") and (
                    (_attr(elem, "text-transform") or "").lower() == "uppercase"
                    or (_attr(elem, "font-variant") or "").lower() == "small-caps"):
                self.styles.add(_attr(parent, "name"))
            elif parent is not None and _local(parent.tag) == "default-style" and (
                    (_attr(elem, "text-transform") or "").lower() == "uppercase"
                    or (_attr(elem, "font-variant") or "").lower() == "small-caps"):
                self.everything = True
        elif tag == "style":
            name, base = _attr(elem, "name"), _attr(elem, "parent-style-name")
            if name and base:
                self.parents[name] = base
            if (_attr(elem, "default") or "").lower() in ("1", "true", "on") and _attr(elem, "type") == "paragraph":
                self.default_paragraph = _attr(elem, "styleId")

    # --- fields: what they show, worked out from the document ---------------------------------------------------

    def mark_edge(self, elem, tag: str) -> None:
        """A bookmark's start or end met in document order (Word w:bookmarkStart/End by id, ODF by name)."""
        if tag == "bookmarkStart":
            name = _attr(elem, "name")
            if name and _attr(elem, "id") is not None:
                self.open_marks[_attr(elem, "id")] = (name.lower(), [])
        elif tag == "bookmarkEnd":
            self._close_mark(_attr(elem, "id"))
        elif tag in ("bookmark-start", "reference-mark-start"):
            name = _attr(elem, "name")
            if name:
                self.open_marks["odf:" + name] = (name.lower(), [])
        elif tag in ("bookmark-end", "reference-mark-end"):
            self._close_mark("odf:" + (_attr(elem, "name") or ""))
        elif tag in ("bookmark", "reference-mark") and _attr(elem, "name"):
            self.marks.setdefault(_attr(elem, "name").lower(), "")

    def _close_mark(self, key: str | None) -> None:
        opened = self.open_marks.pop(key or "", None)
        if opened is not None:
            self.marks.setdefault(opened[0], "".join(opened[1]).strip("\n"))

    def mark_text(self, text: str) -> None:
        """Text shown while bookmarks are open: theirs."""
        self.mark_chars += len(text) * len(self.open_marks)
        if self.mark_chars > MAX_MARK_CHARS:
            raise _Refused(Reason.of("OFFICE_LIMIT", detail=f"bookmarks holding over {MAX_MARK_CHARS} characters"))
        for _, pieces in self.open_marks.values():
            pieces.append(text)

    def _mark(self, name: str, missing: list[str] | None) -> str | None:
        """A bookmark's text; None while it is not known (its name noted in `missing`: read again at the end)."""
        value = self.marks.get(name.lower())
        if value is None and missing is not None and not any(n == name.lower() for n, _ in self.open_marks.values()):
            missing.append(name)
        return value

    def word_field(self, instr: str, missing: list[str] | None, record: bool) -> str | None:
        """What a Word field shows once updated, when the document itself says (document properties, references
        to bookmarks, SET / ASK / FILLIN with their default answers, document variables, the display text of
        MACROBUTTON and GOTOBUTTON); None when its stored result stands. Another kind that may show text is
        noted in `unknown_fields`."""
        m = _FIELD_NAME.match(instr)
        if not m:
            return None
        kind = m.group(1).upper()
        args = _field_args(instr)
        value = None
        if kind == "DOCPROPERTY":
            name = (m.group(2) or m.group(3) or "").strip()
            value = self.properties.get(f"docprops:{name.lower()}") or self.properties.get(f"docprops:custom:{name}")
        elif kind in _PROPERTY_FIELDS or kind == "INFO" and args and args[0].upper() in _PROPERTY_FIELDS:
            key = _PROPERTY_FIELDS[kind if kind != "INFO" else args[0].upper()]
            value = self.properties.get(f"docprops:{key.lower()}")
        elif kind == "DOCVARIABLE" and args:
            value = self.doc_vars.get(args[0])
        elif kind in ("SET", "ASK") and args:
            if record:  # SET gives the bookmark its text; ASK the answer (its default, \d, when one is given)
                answer = _SWITCH_TEXT.search(instr) if kind == "ASK" else None
                text = (answer.group(1) or answer.group(2) or "") if answer else (args[1] if len(args) > 1 and kind == "SET" else "")
                self.marks[args[0].lower()] = text
            return ""
        elif kind == "FILLIN":
            answer = _SWITCH_TEXT.search(instr)
            value = (answer.group(1) or answer.group(2) or "") if answer else None
        elif kind in ("MACROBUTTON", "GOTOBUTTON"):
            value = " ".join(args[1:]) if len(args) > 1 else None
        elif kind == "REF" or kind not in _FIELDS_STORED and m.group(1)[:1].isalpha() and self.marks.get(kind.lower()) is not None:
            # { REF name } or a bookmark's bare name; \n \r \w give its paragraph's number instead
            name = args[0] if kind == "REF" and args else m.group(1)
            if kind == "REF" and not args or _SWITCH_NUMBER.search(instr):
                return None
            value = self._mark(name, missing)
        elif kind not in _FIELDS_STORED:
            self.unknown_fields.add(kind)
        return None if value is None else _cased(value, instr)

    def odf_field(self, elem, tag: str, branch: bool | None, record: bool, missing: list[str] | None) -> str | None:
        """What an ODF field (`_ODF_FIELDS`) shows as LibreOffice works it out on loading; None when its stored
        text stands."""
        name = _attr(elem, "name")
        if tag in ("bookmark-start", "bookmark-end", "bookmark", "reference-mark-start", "reference-mark-end",
                   "reference-mark"):
            if record:
                self.mark_edge(elem, tag)
            return None
        if tag == "hidden-text":  # shown when its condition is false: its string value
            return (_attr(elem, "string-value") or _text_of(elem)) if branch else ""
        if tag == "conditional-text":
            if branch is None:
                return None
            return _attr(elem, "string-value-if-true" if branch else "string-value-if-false") or ""
        value = None
        if tag == "variable-set":
            if record and name:
                self.variables[name] = _attr(elem, "string-value") or _text_of(elem)
        elif tag in ("variable-get", "user-field-get") and name:
            value = self.variables.get(name)
            if value is None and missing is not None:
                missing.append(name)
        elif tag in ("bookmark-ref", "reference-ref"):
            if (_attr(elem, "reference-format") or "text") == "text" and _attr(elem, "ref-name"):
                value = self._mark(_attr(elem, "ref-name"), missing)
        elif tag == "user-defined" and name:
            value = self.properties.get(f"docprops:custom:{name}")
        elif tag in _ODF_DOC_PROPERTIES:
            value = self.properties.get(_ODF_DOC_PROPERTIES[tag])
        if (_attr(elem, "display") or "").lower() == "none":
            return ""
        return value

    def hold(self, p, here: str, emit) -> None:
        if len(self.held) >= MAX_HELD:
            raise _Refused(Reason.of("OFFICE_LIMIT", detail=f"over {MAX_HELD} paragraphs referring to later text"))
        import copy

        self.held.append((copy.deepcopy(p), here, emit))

    def finish(self) -> Reason | None:
        """At the end of a package: the held paragraphs read with every bookmark and variable known; why the
        document is not read completely when it asks for its fields to be updated and holds some not known."""
        held, self.held = self.held, []
        for p, here, emit in held:
            shown, _ = _as_shown(p, self)
            emit(shown, here)
        for key in list(self.open_marks):  # a bookmark never closed: up to the end
            self._close_mark(key)
        if self.update_fields and self.unknown_fields:
            kinds = ", ".join(sorted(self.unknown_fields)[:5])
            return Reason.of("DOCUMENT_UNREADABLE", detail=f"fields Word works out on opening (the document asks it "
                                                           f"to), not worked out here: {kinds}")
        return None

    def _odf_level(self, elem, parent) -> None:
        """An ODF list style's level: (prefix with the number's place, format, start, what follows the label)."""
        name = _attr(parent, "name") if parent is not None else None
        if name is None and parent is not None and _local(parent.tag) == "outline-style":
            name = "\x00outline"
        if not name:
            return
        after = "\t"
        for node in elem.iter():
            if _local(node.tag) == "list-level-label-alignment":
                after = {"space": " ", "nothing": ""}.get(_attr(node, "label-followed-by") or "", "\t")
        if _local(elem.tag) == "list-level-style-bullet":
            body, fmt = (_attr(elem, "bullet-char") or ""), ""
        else:
            body, fmt = "%1", _attr(elem, "num-format") or ""
        text = (_attr(elem, "num-prefix") or "") + body + (_attr(elem, "num-suffix") or "")
        level = _int(_attr(elem, "level"), 1) - 1
        self.lists.setdefault(name, {})[level] = (text, fmt, _int(_attr(elem, "start-value"), 1), after)

    def word_numbering(self, root) -> None:
        """word/numbering.xml: each numId's abstract list, overrides and levels (label text with %n places, number
        format, start, suffix). Lists are counted by abstractNum: two numIds over one continue each other."""
        for node in root:
            aid = _attr(node, "abstractNumId")
            if _local(node.tag) != "abstractNum" or aid is None:
                continue
            self.abstract_levels[aid] = {
                _int(_attr(lvl, "ilvl"), 0): _word_level(lvl) for lvl in node if _local(lvl.tag) == "lvl"}
            for c in node:
                if _local(c.tag) == "numStyleLink" and _attr(c, "val"):
                    self.num_style_links[aid] = _attr(c, "val")
                elif _local(c.tag) == "styleLink" and _attr(c, "val"):
                    self.style_links.setdefault(_attr(c, "val"), aid)
        for node in root:
            if _local(node.tag) != "num" or _attr(node, "numId") is None:
                continue
            num = _attr(node, "numId")
            ref = next((c for c in node if _local(c.tag) == "abstractNumId"), None)
            self.num_abstract[num] = (_attr(ref, "val") if ref is not None else None) or ""
            overrides = self.num_overrides[num] = {}
            for override in node:
                if _local(override.tag) != "lvlOverride":
                    continue
                lvl = start = None
                for c in override:
                    if _local(c.tag) == "lvl":
                        lvl = _word_level(c)
                    elif _local(c.tag) == "startOverride":
                        start = _int(_attr(c, "val"), 1)
                overrides[_int(_attr(override, "ilvl"), 0)] = (lvl, start)

    def word_list(self, num: str) -> str:
        """The abstractNum whose levels and counter numId `num` uses: an abstractNum that only names a numbering
        style (w:numStyleLink) is that style's list (its numId, or the abstractNum that defines it, w:styleLink)."""
        aid = self.num_abstract.get(num, "")
        for _ in range(8):  # a link to a link, bounded (a loop is not followed forever)
            style = self.num_style_links.get(aid)
            if style is None:
                break
            linked = self.num_abstract.get(self.style_numbering.get(style, ("", 0))[0])
            if linked is None or linked in self.num_style_links:  # the style's numId is itself a link
                linked = self.style_links.get(style, linked)
            if linked is None or linked == aid:
                break
            aid = linked
        return aid

    def word_levels(self, num: str) -> tuple[str, dict[int, tuple[str, str, int, str]], dict[int, int]]:
        """(the abstractNum counting numId `num`, its levels with the num's overrides, the levels it restarts)."""
        aid = self.word_list(num)
        levels = dict(self.abstract_levels.get(aid, {}))
        restarts: dict[int, int] = {}
        for ilvl, (lvl, start) in self.num_overrides.get(num, {}).items():
            if lvl is not None:
                levels[ilvl] = lvl
            if start is not None and ilvl in levels:
                text, fmt, _, after = levels[ilvl]
                levels[ilvl] = (text, fmt, start, after)
                restarts[ilvl] = start
        return aid, levels, restarts

    def is_hidden(self, name: str | None) -> bool:
        return self._inherits(name, self.hidden)

    def is_caps(self, name: str | None) -> bool:
        return self._inherits(name, self.styles)

    def _inherits(self, name: str | None, marked: set[str]) -> bool:
        """Is style `name`, or a style it is based on, in `marked`? (A loop is not followed forever.)"""
        for _ in range(32):
            if not name:
                return False
            if name in marked:
                return True
            name = self.parents.get(name)
        return False

    def apply(self, p) -> None:
        if self.everything:
            _upper_tree(p)
            return
        if not self.styles and not self._has_caps(p):
            return
        style = _attr(p, "style-name")
        if style is None:
            ppr = next((c for c in p if _local(c.tag) == "pPr"), None)
            pstyle = next((c for c in ppr if _local(c.tag) == "pStyle"), None) if ppr is not None else None
            style = _attr(pstyle, "val") if pstyle is not None else self.default_paragraph
        if self.is_caps(style):
            _upper_tree(p)
            return
        for node in p.iter():
            tag = _local(node.tag)
            if tag == "r":
                rpr = next((c for c in node if _local(c.tag) == "rPr"), None)
                if rpr is None:
                    continue
                if (rpr.get("cap") in ("all", "small") or any(
                        (_local(x.tag) in ("caps", "smallCaps") and _on(x))
                        or (_local(x.tag) == "rStyle" and self.is_caps(_attr(x, "val"))) for x in rpr)):
                    for child in node.iter():
                        if child.text:
                            child.text = child.text.upper()
            elif tag in ("span", "a") and self.is_caps(_attr(node, "style-name")):
                for child in node.iter():
                    if child.text:
                        child.text = child.text.upper()
                    if child.tail and child is not node:
                        child.tail = child.tail.upper()


_MARK_WORD = re.compile(r"^\W*(?:tối|tuyệt|toi|tuyet)?(?:mật|mat)\W*$")
_SQUEEZE = re.compile(r"[\s\-_.·]+")


def shown_case(text: str) -> str:
    """A line that is only a secrecy-mark word in any case ("mật", "Tối mật", "m ậ t") is returned in capitals.
    These formats are not rendered here, so how it is shown (caps by a style, a font of capitals, WordArt)
    is not known: a paragraph of that one word is read as the stamp it most likely is. Prose is untouched."""
    if len(text) > 40 or text.isupper() or sum(c.isalpha() for c in text) > 10:
        return text
    from gateway.inspect.marks import normalise

    folded = _SQUEEZE.sub("", normalise(text).casefold())
    return text.upper() if _MARK_WORD.match(folded) else text


# --- flat XML (one-file ODF, Word/Excel 2003 XML) --------------------------------------------------------------


def _read_flat(fh: BinaryIO, media: str, limits: PackageLimits, deadline: float) -> Reading:
    budget = _Budget(limits, deadline)
    result = _Result()
    fh.seek(0)

    def emit(text, where, page=None):
        if where in _FORMULA_NOTES:  # a note from _attr_lines, not a line
            _note_formula(result, where)
            return
        text = text.strip()
        if text:
            budget.line()
            for piece in text.split("\n"):
                if piece.strip():
                    result.lines.append(Line(shown_case(piece.strip()), where, page))

    class _Counted(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            data = fh.read(len(b))
            budget.spend(len(data))
            b[: len(data)] = data
            return len(data)

    watched = _Watched(_Counted(), _BINARY_ELEMENT)  # binary data found as the text is read, not in a second pass
    formats = _Formats()
    try:
        _walk_text(io.BufferedReader(watched, 64 * 1024), "document", "body", emit, budget, "", formats)
        unknown = formats.finish()  # paragraphs that refer to text met later; fields not worked out
        if unknown is not None:
            result.incomplete.append(unknown)
    except _Refused as refused:
        result.incomplete.append(refused.reason)
    # Binary data inside flat XML (office:binary-data, w:binData, pictures, fonts) is base64 text: it was read
    # as text, not as what it shows (see _packaged). Found by its element (LibreOffice wraps the base64 in
    # short lines), or as a long base64 line under any element.
    binary = [l for l in result.lines if len(l.text) > 2000 and re.fullmatch(r"[A-Za-z0-9+/=\s]+", l.text[:2000])]
    result.lines = [l for l in result.lines if l not in binary]
    incomplete = tuple(dict.fromkeys(result.incomplete))
    extra = ({"binary": True} if binary or watched.found else {}) | ({"recalc": result.recalc} if result.recalc else {})
    return Reading(media, lines=tuple(result.lines), incomplete=incomplete,
                   signable=None if incomplete else SignFormat.CADES, extra=extra)


class _Watched(io.RawIOBase):
    """A stream that notes, as its reader reads it, whether `pattern` (matching at most 64 bytes) occurs in it:
    one pass over the bytes for the reading and the looking."""

    def __init__(self, f, pattern: re.Pattern) -> None:
        self.f, self.pattern, self.found, self._tail = f, pattern, False, b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self.f.read(len(b))
        if data and not self.found:
            self.found = self.pattern.search(self._tail + data) is not None
            self._tail = data[-64:]
        b[: len(data)] = data
        return len(data)


__all__ = ["read", "PackageLimits"]
