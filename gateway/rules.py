"""Small rule objects: a name, a description, one `check(doc, facts, ctx)`.

A rule looks at the facts about one document and either stays silent (None) or answers with a
`RuleResult`: the outcome it asks for (BLOCK, REJECT, PASS, SIGN, or None for a warning that does not
decide) and the reasons why. Rules never do I/O and never decide alone: gateway.policy walks the chain
declared in policies/*.toml, keeps every hit, and derives the outcome.

Pure module: no third-party import (asserted by tests/test_architecture.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

from gateway.model import (
    Appearance,
    CirculationMark,
    DocKind,
    Document,
    Facts,
    MemberDecision,
    Outcome,
    Reason,
    Revocation,
    SignatureFacts,
    SignerType,
    SignFormat,
)

# pyHanko's ModificationLevel names that mean "changes the signer did not allow".
DISALLOWED_MODIFICATIONS = frozenset({"OTHER"})


@dataclass(frozen=True)
class RuleContext:
    """What a rule may know beyond the document: the policy's options for this channel."""

    policy_id: str
    options: Mapping[str, "str | tuple[str, ...]"] = field(default_factory=dict)
    max_document_bytes: int | None = None
    # Containers (issue 12): the members' own decisions (decided first, by the same policy), and the role of
    # the document being decided inside its container ("document" at the top).
    members: tuple[MemberDecision, ...] = ()
    role: str = "document"

    def option(self, name: str) -> str:
        return self.options[name]  # type: ignore[return-value]

    def values(self, name: str) -> tuple[str, ...]:
        """A list-valued option (LIST_OPTIONS)."""
        return tuple(self.options.get(name, ()))  # type: ignore[arg-type]


@dataclass(frozen=True)
class RuleResult:
    """A rule fired: the outcome it asks for (None = warning only) and why."""

    outcome: Outcome | None
    reasons: tuple[Reason, ...]
    appearance: Appearance | None = None
    sign_format: SignFormat | None = None
    anchor_field: str | None = None  # the person's signature field the seal overlaps


Check = Callable[[Document, Facts, RuleContext], "RuleResult | None"]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Check


RULES: dict[str, Rule] = {}


def rule(name: str, description: str):
    """Register a check function under a stable name (the name policy files use)."""

    def deco(fn: Check) -> Check:
        if name in RULES:
            raise ValueError(f"rule {name!r} registered twice")
        RULES[name] = Rule(name, description, fn)
        return fn

    return deco


def _hit(outcome: Outcome | None, *reasons: Reason, **kw) -> RuleResult:
    return RuleResult(outcome, tuple(reasons), **kw)


def _by_option(ctx: RuleContext, option: str, reason: Reason) -> RuleResult | None:
    """Rules whose effect is a per-channel choice: "reject", "warn" or "ignore"."""
    action = ctx.option(option)
    if action == "reject":
        return _hit(Outcome.REJECT, reason)
    if action == "warn":
        return _hit(None, reason)
    return None


def _who(sig: SignatureFacts) -> str:
    return sig.signer_common_name or sig.signer_subject or sig.field_name


def _sig_reasons(facts: Facts, bad: Callable[[SignatureFacts], bool], code: str) -> RuleResult | None:
    reasons = tuple(Reason.of(code, field=s.field_name, signer=_who(s)) for s in facts.signatures if bad(s))
    return _hit(Outcome.REJECT, *reasons) if reasons else None


# --- block ------------------------------------------------------------------------------------------


@rule("secret_marked", "State-secret mark (MẬT / TỐI MẬT / TUYỆT MẬT) anywhere: never signed, never sent")
def _secret(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    reasons = tuple(Reason.of("SECRET_MARKED", level=f.level.value, where=f.where) for f in facts.secrecy)
    return _hit(Outcome.BLOCK, *reasons) if reasons else None


# --- reject: the document itself --------------------------------------------------------------------


@rule("empty_document", "A file with no bytes")
def _empty(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    return _hit(Outcome.REJECT, Reason.of("EMPTY_DOCUMENT")) if facts.size == 0 else None


@rule("too_large", "Larger than limits.max_document_bytes")
def _too_large(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    limit = ctx.max_document_bytes
    if limit is not None and facts.size > limit:
        return _hit(Outcome.REJECT, Reason.of("TOO_LARGE", size=facts.size, max=limit))
    return None


@rule("unreadable", "Part of the document could not be read completely: never released (fail closed); only what is "
      "unreadable because encrypted may pass, from/to addresses in allow_unreadable_from/_to")
def _unreadable(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    if not facts.incomplete:
        return None
    if all(r.code in ENCRYPTED_CODES for r in facts.incomplete):
        who = _allowed_unreadable(doc, ctx)
        # Passed as it is, unread and unsigned: so never when something readable inside it must be signed.
        if who and not any(m.decision.outcome is Outcome.SIGN for m in ctx.members):
            return _hit(Outcome.PASS, Reason.of("UNREADABLE_ALLOWED", who=who))
    return _hit(Outcome.REJECT, *facts.incomplete)


# Reason codes meaning "cannot be read because it is encrypted / password-protected" (not: broken, too big).
# Other readers add theirs (S/MIME-encrypted, PGP ...). Only these can be let through by allow_unreadable_*.
ENCRYPTED_CODES: set[str] = {"CONTAINER_ENCRYPTED", "MAIL_ENCRYPTED", "OFFICE_ENCRYPTED"}


def _address_in(address: str, entries: tuple[str, ...]) -> bool:
    a = address.strip().strip("<>").lower()
    for e in entries:
        e = e.strip().lower()
        if e and (a == e or (e.startswith("@") and a.endswith(e))):
            return True
    return False


def _allowed_unreadable(doc: Document, ctx: RuleContext) -> str | None:
    """The address that allows an unreadable (encrypted) document through, or None."""
    sender, recipients = doc.origin.sender, doc.origin.recipients
    if sender and _address_in(sender, ctx.values("allow_unreadable_from")):
        return sender
    allowed_to = ctx.values("allow_unreadable_to")
    if recipients and allowed_to and all(_address_in(r, allowed_to) for r in recipients):
        return ", ".join(recipients)
    return None


@rule("non_pdf", "Not a PDF: per channel, a detached CAdES .p7s (non_pdf = \"cades\") or a refusal")
def _non_pdf(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    # A container is decided by `members`; a carrier (an Office file with pictures inside) is signed as itself.
    if facts.is_pdf or facts.size == 0 or facts.container:
        return None
    if facts.incomplete:  # not read completely: the rule `unreadable` decides (refused, or let through unread)
        return None
    # Only a type the gateway reads (its reader says it can be signed detached) may get a .p7s: what the
    # gateway cannot read it does not sign.
    if ctx.option("non_pdf") == "cades" and facts.signable is SignFormat.CADES:
        return _hit(Outcome.SIGN, Reason.of("SIGN_DETACHED_CADES"), sign_format=SignFormat.CADES)
    return _hit(Outcome.REJECT, Reason.of("UNSUPPORTED_TYPE", media_type=facts.media_type))


@rule("pdf_broken", "A PDF that cannot be read")
def _broken(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    if facts.is_pdf and facts.broken:
        detail = next((r.args.get("detail", "") for r in facts.warnings if r.code == "PDF_BROKEN"), "")
        return _hit(Outcome.REJECT, Reason.of("PDF_BROKEN", detail=detail or "unreadable"))
    return None


@rule("pdf_encrypted", "An encrypted PDF (any handler): cannot be signed as sent")
def _encrypted(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    return _hit(Outcome.REJECT, Reason.of("PDF_ENCRYPTED")) if facts.is_pdf and facts.encrypted else None


@rule("pdf_certified_no_changes", "Certified with DocMDP P=1: no further signature allowed")
def _docmdp1(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    return _hit(Outcome.REJECT, Reason.of("PDF_CERTIFIED_NO_CHANGES")) if facts.docmdp_level == 1 else None


@rule("pdf_javascript", "JavaScript in the PDF: option javascript = reject | warn | ignore")
def _javascript(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    return _by_option(ctx, "javascript", Reason.of("PDF_JAVASCRIPT")) if facts.javascript else None


@rule("pdf_embedded_files", "Files embedded in the PDF: option embedded_files = reject | warn | ignore")
def _embedded(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    # The organisation's signature vouches for the attachments too; an operator should know they are there.
    if not facts.embedded_files:
        return None
    return _by_option(ctx, "embedded_files", Reason.of("PDF_EMBEDDED_FILES", count=facts.embedded_files))


# --- reject: signatures already present (Luật GDĐT 2023 Điều 23; NĐ 68 Điều 29) ------------------------


@rule("signature_broken", "An existing signature whose signed bytes changed")
def _sig_broken(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    return _sig_reasons(facts, lambda s: not s.intact, "SIGNATURE_BROKEN")


@rule("signature_untrusted", "An existing signature that does not chain to a configured trust root")
def _sig_untrusted(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    return _sig_reasons(facts, lambda s: s.intact and not s.trusted, "SIGNATURE_UNTRUSTED")


@rule("signature_revoked", "An existing signature whose certificate is revoked")
def _sig_revoked(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    return _sig_reasons(facts, lambda s: s.revocation is Revocation.REVOKED, "SIGNATURE_REVOKED")


@rule("signature_cert_invalid", "An existing signature made outside its certificate's validity")
def _sig_cert(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    expired = _sig_reasons(facts, lambda s: not s.cert_valid_at_signing and not _not_yet_valid(s), "SIGNATURE_CERT_EXPIRED")
    early = _sig_reasons(facts, lambda s: not s.cert_valid_at_signing and _not_yet_valid(s), "SIGNATURE_CERT_NOT_YET_VALID")
    if expired and early:
        return _hit(Outcome.REJECT, *expired.reasons, *early.reasons)
    return expired or early


def _not_yet_valid(sig: SignatureFacts) -> bool:
    """Signed before the certificate's validity began ("chưa có hiệu lực"), not after it ended."""
    when = sig.timestamp_time or sig.signing_time
    return bool(when and sig.not_valid_before and when < sig.not_valid_before)


@rule("signature_modified_after", "Disallowed changes after an existing signature")
def _sig_modified(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    return _sig_reasons(
        facts, lambda s: s.intact and s.modification_level in DISALLOWED_MODIFICATIONS, "SIGNATURE_MODIFIED_AFTER"
    )


@rule("revocation_unchecked", "Revocation of an existing signature could not be checked: option revocation_unchecked")
def _revocation_unchecked(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    unchecked = [s for s in facts.signatures if s.revocation in (Revocation.UNKNOWN, Revocation.NOT_CHECKED)]
    if not unchecked:
        return None
    reasons = tuple(Reason.of("REVOCATION_UNCHECKED", subject=_who(s)) for s in unchecked)
    action = ctx.option("revocation_unchecked")
    if action == "reject":
        return _hit(Outcome.REJECT, *reasons)
    return _hit(None, *reasons) if action == "warn" else None


# --- marks in box 11 (Nghị định 30, Phụ lục I, III.2) --------------------------------------------------


# Each box-11 mark: its option (reject | warn | ignore, per channel) and its reason code.
CIRCULATION_OPTIONS: dict[CirculationMark, tuple[str, str, str]] = {
    CirculationMark.RECALL: ("recall_mark", "RECALL_MARK", "TÀI LIỆU THU HỒI"),
    CirculationMark.RETURN_AFTER_READING: ("return_after_reading", "RETURN_AFTER_READING_MARK", "XEM XONG TRẢ LẠI"),
    CirculationMark.RETURN_AFTER_MEETING: ("return_after_meeting", "RETURN_AFTER_MEETING_MARK", "TRẢ LẠI SAU KHI HỌP"),
    CirculationMark.INTERNAL_CIRCULATION: ("internal_circulation", "INTERNAL_CIRCULATION", "LƯU HÀNH NỘI BỘ"),
}


def _circulation_rule(mark: CirculationMark, option: str, code: str) -> Check:
    def check(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
        return _by_option(ctx, option, Reason.of(code)) if mark in facts.marks else None

    return check


# One rule per box-11 mark, named after its option (reject | warn | ignore, chosen per channel).
for _mark, (_option, _code, _words) in CIRCULATION_OPTIONS.items():
    rule(_option, f"Marked {_words}: option {_option} = reject | warn | ignore")(_circulation_rule(_mark, _option, _code))


# --- the competent person first (Nghị định 30, Điều 32.2.d) --------------------------------------------


def _valid_person(facts: Facts) -> SignatureFacts | None:
    """The latest valid signature of a competent person, if any."""
    people = [s for s in facts.signatures if s.signer_type is SignerType.PERSON and s.valid]
    return people[-1] if people else None


@rule("issued_needs_person", "An issued document needs a valid signature of the competent person first")
def _issued_needs_person(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    # A container is not itself signed by anyone: each document inside answers for itself (rule `members`).
    if doc.kind is DocKind.ISSUED and facts.container is None and _valid_person(facts) is None:
        return _hit(Outcome.REJECT, Reason.of("ISSUED_NEEDS_PERSONAL_SIGNATURE", document=_document_label(facts)))
    return None


def _document_label(facts: Facts) -> str:
    """'Quyết định 12/QĐ-UBND' from the form found in the text; '-' when the text names neither."""
    form = facts.form
    kind = (form.doc_type or "").capitalize() if form else ""
    number = (form.number if form else None) or facts.number or ""
    return " ".join(p for p in (kind, number) if p) or "-"


# --- pass / sign (positive: the first one that fires decides among them) ------------------------------


@rule("already_org_signed", "A valid organisation signature already covers the whole document: pass unchanged")
def _already(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    if not facts.is_pdf:
        return None
    if any(s.signer_type is SignerType.ORGANISATION and s.valid and s.covers_whole_document for s in facts.signatures):
        return _hit(Outcome.PASS, Reason.of("ALREADY_SIGNED_BY_ORGANISATION"))
    return None


@rule("sign_after_person", "Issued and signed by the competent person: organisation seal over their signature")
def _after_person(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    person = _valid_person(facts) if doc.kind is DocKind.ISSUED and facts.is_pdf else None
    if person is None:
        return None
    return _hit(
        Outcome.SIGN,
        Reason.of("SIGN_AFTER_COMPETENT_PERSON", signer=_who(person)),
        appearance=Appearance.SEAL,
        sign_format=SignFormat.PADES,
        anchor_field=person.field_name,
    )


@rule("sign_organisation", "Attachments, copies, correspondence, reports: organisation signature, text block")
def _sign_org(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    if not facts.is_pdf or doc.kind is DocKind.ISSUED:
        return None
    return _hit(
        Outcome.SIGN, Reason.of("SIGN_ORGANISATION"), appearance=Appearance.TEXT, sign_format=SignFormat.PADES
    )


@rule("exempt", "Pass unchanged without signing (for channels a policy exempts)")
def _exempt(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    return _hit(Outcome.PASS, Reason.of("EXEMPT_BY_POLICY", policy=ctx.policy_id))


# --- containers and their members (issue 12) ----------------------------------------------------------

# Containers that hold exactly one file: a member signed with a detached .p7s has nowhere to go beside it.
SINGLE_FILE_CONTAINERS = frozenset({"gzip", "bzip2", "xz"})
_NAMES_SHOWN = 5


def in_member(reason: Reason, name: str) -> Reason:
    """A member's reason as the container's: same code, with the member's path added (`member`)."""
    args = reason.args
    inner = args.get("member")
    args["member"] = f"{name}/{inner}" if inner else (name or "?")
    return Reason.of(reason.code, **args)


def _names(ms) -> str:
    names = [m.name or m.location for m in ms]
    return ", ".join(names[:_NAMES_SHOWN]) + (f" (+{len(names) - _NAMES_SHOWN})" if len(names) > _NAMES_SHOWN else "")


@rule("members", "A container's (or a carrier's) members, each decided by the same policy: any BLOCK blocks it, "
      "any REJECT rejects it, members to sign rebuild it (option containers) or refuse it")
def _members(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    ms = ctx.members
    if not ms and facts.container is None:
        return None
    for outcome in (Outcome.BLOCK, Outcome.REJECT):
        hit = [m for m in ms if m.decision.outcome is outcome]
        if hit:
            return _hit(outcome, *dict.fromkeys(in_member(r, m.name or m.location) for m in hit
                                                for r in m.decision.reasons))
    if facts.container is None:
        return None  # a carrier (a PDF with embedded files): its own chain decides how it is signed
    kind = facts.container
    to_sign = [m for m in ms if m.decision.outcome is Outcome.SIGN]
    if not to_sign:
        return _hit(Outcome.PASS, Reason.of("CONTAINER_PASSED", container=kind, count=len(ms)))
    if ctx.option("containers") != "rebuild":
        return _hit(Outcome.REJECT, Reason.of("CONTAINER_NOT_REBUILT", container=kind, names=_names(to_sign)))
    if kind in SINGLE_FILE_CONTAINERS and any(m.decision.sign_format is SignFormat.CADES for m in to_sign):
        return _hit(Outcome.REJECT, Reason.of("CONTAINER_CANNOT_CARRY_SIGNATURE", container=kind,
                                              names=_names(to_sign)))
    # A .p7s goes right after its document as NAME.p7s: a file of that name already there would make two.
    taken = {m.name.casefold() for m in ms}
    clash = [m for m in to_sign if m.decision.sign_format is SignFormat.CADES and f"{m.name}.p7s".casefold() in taken]
    if clash:
        return _hit(Outcome.REJECT, *(Reason.of("CONTAINER_UNSAFE_ENTRY", name=f"{m.name}.p7s",
                                                detail="a file of that name is already there") for m in clash))
    return _hit(Outcome.SIGN, Reason.of("CONTAINER_REBUILT", container=kind, count=len(to_sign),
                                        names=_names(to_sign)))


@rule("read_not_signed", "A member only read, never signed (mail body, inline image, file embedded in a PDF or an "
      "Office file): passes once nothing refused it; its carrier's signature covers it")
def _read_not_signed(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    return None if ctx.role == "document" else _hit(Outcome.PASS, Reason.of("MEMBER_READ"))


# --- mail messages (issue 12 §2) ----------------------------------------------------------------------


@rule("sender_signed", "A mail signed by its sender (S/MIME, PGP): a document under that signature that needs "
      "signing refuses the mail (signing it inside would break the sender's signature); else it passes unchanged")
def _sender_signed(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    if not facts.sender_signed:
        return None
    covered = set(facts.sender_signed)
    to_sign = [m for m in ctx.members if m.location in covered and m.decision.outcome is Outcome.SIGN]
    if to_sign:
        return _hit(Outcome.REJECT, *(Reason.of("MAIL_SENDER_SIGNED", name=m.name or m.location) for m in to_sign))
    return _hit(None, Reason.of("MAIL_SENDER_SIGNED_PASSED"))


@rule("mail_smime", "Whole-message S/MIME with the organisation's key, per channel (option smime = sign | off): "
      "the message is signed once its documents are")
def _mail_smime(doc: Document, facts: Facts, ctx: RuleContext) -> RuleResult | None:
    if facts.container != "message" or ctx.option("smime") != "sign" or ctx.role != "document":
        return None
    return _hit(Outcome.SIGN, Reason.of("MAIL_SMIME_SIGNED"), sign_format=SignFormat.SMIME)


# Options every rule above may read, with the values allowed and the default.
OPTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "non_pdf": (("reject", "cades"), "reject"),
    "internal_circulation": (("reject", "warn", "ignore"), "warn"),
    "recall_mark": (("reject", "warn", "ignore"), "warn"),
    "return_after_reading": (("reject", "warn", "ignore"), "warn"),
    "return_after_meeting": (("reject", "warn", "ignore"), "warn"),
    "revocation_unchecked": (("reject", "warn", "ignore"), "warn"),
    # a script may show what the pages the gateway read do not say: not read, so not released by default
    "javascript": (("reject", "warn", "ignore"), "reject"),
    "embedded_files": (("reject", "warn", "ignore"), "warn"),
    # A container whose members need signing: rebuilt with them signed, or refused (rule `members`).
    "containers": (("rebuild", "reject"), "rebuild"),
    # Whole-message S/MIME of mail (rule mail_smime); settings.smtp.smime_sign = true sets it for smtp.
    "smime": (("off", "sign"), "off"),
}

# List-valued options: name -> what the entries are. Default: empty.
LIST_OPTIONS: dict[str, str] = {
    # Encrypted (unreadable) documents may pass unread from these senders / when every recipient is listed:
    # an address, or "@domain" for a whole domain (rule `unreadable`).
    "allow_unreadable_from": "addresses or @domains",
    "allow_unreadable_to": "addresses or @domains",
}
