"""The data that flows through the gateway: frozen dataclasses and enums, no I/O.

Doors turn what arrives into a `Document`; `inspect` turns it into `Facts`; `policy` turns facts into a
`Decision`; the pipeline acts on it and returns a `Result`. Everything here pickles, so it can cross
into signing worker processes.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

# Vietnam time (UTC+07:00, no daylight saving): every time a person reads is shown in it.
VN_TZ = timezone(timedelta(hours=7), "+07:00")


class Channel(enum.StrEnum):
    SMTP = "smtp"
    FOLDER = "folder"
    PORTAL = "portal"
    CLI = "cli"


class DocKind(enum.StrEnum):
    """What the document is to the agency (Decree 30/2020)."""

    ISSUED = "issued"  # văn bản phát hành: needs the competent person's signature first (Điều 32.2.d)
    ATTACHMENT = "attachment"  # phụ lục sent as its own file (Phụ lục I, II.8.b)
    COPY = "copy"  # bản sao điện tử: sao y, sao lục, trích sao (Phần II)
    CORRESPONDENCE = "correspondence"  # ordinary exchanged documents
    REPORT = "report"  # reports the gateway itself produces


class Outcome(enum.StrEnum):
    SIGN = "sign"
    PASS = "pass"
    REJECT = "reject"
    BLOCK = "block"


class SecrecyLevel(enum.StrEnum):
    """State-secret classification marks (TT 24/2020/TT-BCA). GIẢI MẬT is not one."""

    MAT = "MẬT"
    TOI_MAT = "TỐI MẬT"
    TUYET_MAT = "TUYỆT MẬT"


class CirculationMark(enum.StrEnum):
    """Box-11 marks on the scope of circulation (Nghị định 30/2020, Phụ lục I, ô 11; recall: TT 24/2020)."""

    RECALL = "recall"  # TÀI LIỆU THU HỒI
    RETURN_AFTER_READING = "return_after_reading"  # XEM XONG TRẢ LẠI
    RETURN_AFTER_MEETING = "return_after_meeting"  # TRẢ LẠI SAU KHI HỌP (HỘI NGHỊ)
    INTERNAL_CIRCULATION = "internal_circulation"  # LƯU HÀNH NỘI BỘ


class SignerType(enum.StrEnum):
    ORGANISATION = "organisation"
    PERSON = "person"
    UNKNOWN = "unknown"


class Revocation(enum.StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"  # a source was asked but could not answer
    NOT_CHECKED = "not-checked"  # offline mode, or no source configured


def frozen_map(items: Mapping[str, object] | None = None) -> Mapping[str, str]:
    """A read-only str->str mapping, for reason parameters and the like."""
    return MappingProxyType({str(k): str(v) for k, v in (items or {}).items()})


@dataclass(frozen=True)
class Reason:
    """A stable code plus parameters; the text for people is rendered late (gateway.reasons)."""

    code: str
    params: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, code: str, **params: object) -> "Reason":
        return cls(code, tuple(sorted((k, str(v)) for k, v in params.items())))

    @property
    def args(self) -> dict[str, str]:
        return dict(self.params)


@dataclass(frozen=True)
class Origin:
    """Where a document came from; what the decision log keeps about the sender."""

    sender: str | None = None
    recipients: tuple[str, ...] = ()
    path: str | None = None
    client: str | None = None
    message_id: str | None = None


@dataclass(frozen=True)
class Declared:
    """What the sender says about the document (mail header, HTTP field, sidecar, CLI flag)."""

    number: str | None = None  # số và ký hiệu, e.g. "123/UBND-VP"
    kind: DocKind | None = None
    classification: str | None = None  # raw text as declared; inspect decides if it is a secrecy mark
    title: str | None = None
    copy_form: str | None = None  # "SAO Y", "SAO LỤC", "TRÍCH SAO"
    copying_agency: str | None = None
    client_reference: str | None = None


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Document:
    """One document on its way out. Large files travel as paths, small ones may carry bytes."""

    channel: Channel
    name: str
    path: Path | None = None
    content: bytes | None = None
    kind: DocKind = DocKind.CORRESPONDENCE
    media_type: str | None = None  # as declared by the sender; inspect trusts content, not this
    origin: Origin = field(default_factory=Origin)
    declared: Declared = field(default_factory=Declared)
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        if (self.path is None) == (self.content is None):
            raise ValueError("a Document has exactly one of path or content")

    @property
    def size(self) -> int:
        return len(self.content) if self.content is not None else self.path.stat().st_size  # type: ignore[union-attr]

    def open(self):
        """A binary file object over the document (caller closes it)."""
        import io

        if self.content is not None:
            return io.BytesIO(self.content)
        return open(self.path, "rb")  # type: ignore[arg-type]


@dataclass(frozen=True)
class SignatureFacts:
    """One signature already present in a document, as validated."""

    field_name: str
    signer_subject: str
    signer_common_name: str
    signer_serial: str  # hex
    signer_sha256: str  # certificate fingerprint, hex
    issuer_subject: str
    signer_type: SignerType
    signing_time: datetime | None
    timestamp_time: datetime | None
    intact: bool  # the signed bytes were not changed
    trusted: bool  # the chain ends in a configured trust root
    revocation: Revocation
    cert_valid_at_signing: bool
    covers_whole_document: bool  # False when there were changes after this signature
    modification_level: str | None = None  # pyHanko's ModificationLevel name, if any
    docmdp_level: int | None = None  # set when this is a certification signature
    page: int | None = None  # 0-based page of the widget, for the seal's placement
    rect: tuple[float, float, float, float] | None = None  # widget rectangle in PDF points
    not_valid_before: datetime | None = None
    not_valid_after: datetime | None = None
    warnings: tuple[Reason, ...] = ()

    @property
    def valid(self) -> bool:
        return (
            self.intact
            and self.trusted
            and self.cert_valid_at_signing
            and self.revocation is not Revocation.REVOKED
        )


@dataclass(frozen=True)
class SecrecyFinding:
    """A secrecy mark found, and where (page text, metadata, declared header)."""

    level: SecrecyLevel
    where: str  # "text:page1", "xmp", "info:Subject", "declared:X-Classification", ...


@dataclass(frozen=True)
class Facts:
    """What a document is, found from its content."""

    media_type: str  # detected from magic bytes
    size: int
    sha256: str
    pdf_version: str | None = None
    page_count: int | None = None
    encrypted: bool = False
    broken: bool = False  # unreadable
    recovered: bool = False  # readable only leniently (xref rebuilt etc.)
    docmdp_level: int | None = None  # 1, 2, 3 when certified
    embedded_files: int = 0
    javascript: bool = False
    signatures: tuple[SignatureFacts, ...] = ()
    empty_signature_fields: tuple[str, ...] = ()
    secrecy: tuple[SecrecyFinding, ...] = ()
    marks: frozenset[CirculationMark] = frozenset()  # box-11 marks seen (the policy acts on each per channel)
    number: str | None = None  # document number found in the text, if any
    warnings: tuple[Reason, ...] = ()
    # What could not be read completely (a limit, an OCR failure, an encrypted part, an unknown encoding).
    # Fail closed: never signed or passed (rule `unreadable`); a secrecy mark seen anyway still BLOCKs.
    incomplete: tuple[Reason, ...] = ()
    signable: "SignFormat | None" = None  # how this type is signed; None: the gateway cannot sign it
    container: str | None = None  # "zip", "7z", "tar", "gzip", "tnef", "message", ... when it holds members
    members: tuple["Member", ...] = ()  # what a container holds, each inspected in turn
    form: "FormFacts | None" = None  # the Decree 30 form found in the text (gateway.inspect.forms), if read
    # Mail (issue 12 §2): the members under the sender's own signature (S/MIME, PGP), by location: signing
    # one of them inside would break that signature (rule sender_signed).
    sender_signed: tuple[str, ...] = ()

    @property
    def is_pdf(self) -> bool:
        return self.media_type == "application/pdf"


# --- the Decree 30 form of a document (gateway.inspect.forms; issue 14) --------------------------------


@dataclass(frozen=True)
class FormField:
    """One part of the Decree 30 form found in the text, and where (evidence for the kind)."""

    name: str  # "issuer", "number", "type", "motto", "place_date", "title", "recipients", "signature", ...
    value: str  # what was read (metadata-like parts only are logged: see gateway.audit)
    where: str  # the Line's `where` ("page1", "ocr:page2")
    page: int | None = None
    box: tuple[float, float, float, float] | None = None  # displayed orientation, top-left origin (reading.py)


@dataclass(frozen=True)
class FormFacts:
    """What the text says the document is (Nghị định 30/2020 Điều 7, 8, Phụ lục I; Phần II for copies)."""

    kind: DocKind  # inferred: ISSUED, ATTACHMENT, COPY or CORRESPONDENCE (no recognisable form)
    basis: str  # short rule name that chose the kind ("issued-form", "appendix-heading", "copy-form", "no-form")
    doc_type: str | None = None  # "QUYẾT ĐỊNH", "CÔNG VĂN", ... (Điều 7)
    number: str | None = None  # số và ký hiệu of the document itself
    parent_number: str | None = None  # appendix: số và ký hiệu of the document it belongs to
    parent_type: str | None = None
    copy_form: str | None = None  # "SAO Y", "SAO LỤC", "TRÍCH SAO"
    copy_number: str | None = None  # the copy's own số và ký hiệu
    signer_authority: str | None = None  # "TM.", "KT.", "Q.", "TL.", "TUQ." or None
    signer_title: str | None = None
    signer_name: str | None = None
    signature_block: FormField | None = None  # where the signature block stands (the seal's anchor)
    scanned: bool = False  # the evidence came from OCR (a digitised paper document)
    fields: tuple[FormField, ...] = ()

    def found(self, name: str) -> FormField | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class Member:
    """One thing inside a container, as a document of its own: it gets its own facts and decision."""

    location: str  # stable position inside the container ("zip:dir/a.pdf#3", "mime:1.2")
    role: str  # "document" (needs a signature), "body" (mail text), "inline", "embedded": read, never signed
    document: Document  # a private copy of its bytes (path in the pipeline's work directory)
    facts: Facts


@dataclass(frozen=True)
class RuleHit:
    """One rule that fired: its name, the outcome it asks for, and why."""

    rule: str
    outcome: Outcome | None  # None: a warning that does not decide
    reason: Reason


class SignFormat(enum.StrEnum):
    PADES = "pades"
    CADES = "cades"  # detached .p7s beside a non-PDF document
    SMIME = "smime"  # a whole mail message as S/MIME multipart/signed (after its documents are signed)


class Appearance(enum.StrEnum):
    SEAL = "seal"  # seal image over the competent person's signature (Phụ lục I, II.8.a)
    TEXT = "text"  # text block top-right of page 1 (Phụ lục I, II.8.b / Phần II)
    INVISIBLE = "invisible"


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reasons: tuple[Reason, ...]
    hits: tuple[RuleHit, ...]
    policy_id: str
    policy_version: str
    sign_format: SignFormat | None = None
    appearance: Appearance | None = None
    warnings: tuple[Reason, ...] = ()
    anchor_field: str | None = None  # SEAL: the competent person's signature field the seal overlaps
    # The kind the decision was made for (declared vs inferred, gateway.kinds) and why that one.
    kind: DocKind | None = None
    kind_basis: str | None = None
    # A container's (or a carrier's) members, each decided by the same policy; the outcome above is aggregated
    # from them by the rule `members` (policies/README.md).
    members: tuple["MemberDecision", ...] = ()


# --- containers: members' decisions (issue 12) ---------------------------------------------------------------

ROLES = ("document", "body", "inline", "embedded")  # see Member.role


@dataclass(frozen=True)
class MemberDecision:
    """The decision about one member of a container, in the container's order."""

    location: str  # as in Member.location
    name: str
    role: str
    document_id: str  # the member's own Document.id (its decision-log record carries it)
    decision: Decision


@dataclass(frozen=True)
class MemberResult:
    """What a door needs to say about one member: its name, what happened to it, and why.

    Nested members are flattened depth first; `name` is the path through the containers ("a.zip/b.pdf")."""

    location: str
    name: str
    role: str
    outcome: Outcome
    reasons: tuple[Reason, ...]
    signed: bool = False  # signed in the rebuilt container (PAdES in place, a .p7s beside it; an inner container: rebuilt)
    record_id: int | None = None


@dataclass(frozen=True)
class SignedOutput:
    path: Path
    sha256: str
    size: int
    media_type: str
    signer_sha256: str
    signer_serial: str
    detached: bool = False  # True for a .p7s that travels beside the unchanged original


@dataclass(frozen=True)
class Result:
    document_id: str
    decision: Decision
    output: SignedOutput | None = None
    record_id: int | None = None
    warnings: tuple[Reason, ...] = ()
    duration_ms: float = 0.0
    dry_run: bool = False
    members: tuple[MemberResult, ...] = ()  # a container's members, flattened depth first (see MemberResult)

    @property
    def outcome(self) -> Outcome:
        return self.decision.outcome
