"""What every reader returns, whatever the type: the same facts (issue 12, "one reader for every byte").

A reader turns the bytes of one document into a `Reading`:
- `lines`: every piece of text a person could see or open (page text, OCR of scans, headers and footers,
  comments, annotations, form values, slide notes ...), each with where it stands;
- `metadata`: document properties (PDF Info and XMP, Office core/app properties, ODF meta), as (key, value);
- `incomplete`: what could not be read completely (a limit, an OCR failure, an encrypted part, an unknown
  encoding). Fail closed: a document with anything here is never signed or passed (rule `unreadable`);
- `signable`: how the type is signed when the policy says SIGN (PAdES for PDF, a detached CAdES .p7s for
  the office types the gateway reads; None = the gateway cannot sign this type);
- `members`: for containers (zip, 7z, tar, gzip, TNEF, a mail message): what is inside, each read in turn.

The secrecy and box-11 marks (`marks`) and the Decree 30 form (`forms`) are computed from `lines` and
`metadata` by `gateway.inspect`, never inside a reader: one rule for every type.

Coordinates: `box` is (x0, top, x1, bottom) in PDF points in the page's *displayed* orientation (after
/Rotate and the CropBox), origin at the top-left corner of the visible page, y growing downwards; None
when the type has no page geometry (plain text, Office XML read without layout).
Pure module: no I/O, no third-party import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gateway.model import Reason, SignFormat


@dataclass(frozen=True)
class Line:
    """One line of text as a person reads it."""

    text: str
    where: str  # "page1", "ocr:page2", "header", "footer", "comment", "annotation:page1", "field:Name", ...
    page: int | None = None  # 0-based page / slide / sheet, when the type has them
    box: tuple[float, float, float, float] | None = None  # see module docstring
    size: float | None = None  # glyph height in points (a stamp stands out from body text)
    bold: bool | None = None
    framed: bool = False  # drawn inside a rectangle (a boxed stamp)


@dataclass(frozen=True)
class MemberRef:
    """One thing inside a container: its name as the container calls it, and a private copy of its bytes.

    `path` is a file in the pipeline's private work directory (never the sender's file); the container's
    rebuilder finds the member again by `location`. An extraction made only to compare (a rebuilt container
    read back) keeps members that were already in memory as `data` instead, with no file (`path` None).
    """

    location: str  # stable position inside the container: "zip:dir/a.pdf#3", "mime:1.2", "tnef:2"
    name: str  # the member's file name as the recipient would see it ("" when it has none)
    path: Path | None
    role: str = "document"  # "document" (needs a signature); "body", "inline", "embedded": read, never signed
    media_type: str | None = None  # as declared inside the container; the member is sniffed by content
    # What the container declares for this member on its own (a MIME part's X-Kyso-* headers, gateway.declare):
    # (key, value) pairs that override the container's declaration for this member.
    declared: tuple[tuple[str, str], ...] = ()
    data: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Reading:
    media_type: str
    lines: tuple[Line, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()
    incomplete: tuple[Reason, ...] = ()  # what could not be read: never released (fail closed)
    warnings: tuple[Reason, ...] = ()
    signable: SignFormat | None = None
    encrypted: bool = False
    broken: bool = False  # cannot be read at all (still a Reading: the policy refuses it with a reason)
    pages: int | None = None
    container: str | None = None  # "zip", "7z", "tar", "gzip", "tnef", "message", ...
    members: tuple[MemberRef, ...] = ()
    extra: dict = field(default_factory=dict, compare=False)  # type-specific facts (e.g. the PDF's)

    def text(self, where_prefix: str | None = None) -> str:
        """All line texts joined by newlines (optionally only lines whose `where` starts with a prefix)."""
        return "\n".join(l.text for l in self.lines if where_prefix is None or l.where.startswith(where_prefix))

