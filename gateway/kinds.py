"""Which kind a document is decided as: what the sender declared, what its form shows, and the rule between.

The rule (Nghị định 30/2020/NĐ-CP Điều 32.2.d; issue 14): **a declared kind wins over the inferred one only
when it is not less strict.** Strictness, most strict first:

    ISSUED (needs the competent person's valid signature before the organisation's)
  > ATTACHMENT = COPY (organisation signature with a text block naming the document / the copy)
  > CORRESPONDENCE = REPORT (organisation signature)

- Nothing declared: the inferred kind decides (no recognisable form: the door's kind, correspondence).
- Declared as strict or stricter than inferred: the declaration decides ("issued" on a letter is honoured;
  "copy" on an appendix too — between equals the sender knows better).
- Declared less strict: the inferred kind decides, and a warning (KIND_DECLARATION_OVERRIDDEN) says so.
  Declaring "correspondence" or "attachment" on a recognisable unsigned Quyết định does not dodge 32.2.d.
- One exception, because the law makes it: an electronic copy of a PAPER original (Điều 25, sao y / sao lục
  / trích sao from paper to electronic: the agency digitises the signed paper and signs with its own key,
  Phần II) is declared "copy" on a document whose form is an issued one. The declaration "copy" wins over
  an inferred "issued" only when the text was read by OCR (a scan: the digitised paper) or the document
  already carries a valid signature of the competent person (a copy of a signed electronic original). A
  born-digital, unsigned Quyết định declared "copy" is decided as issued.

What was declared, what was inferred, and which rule chose are kept in the decision (`Decision.kind`,
`Decision.kind_basis`) and, with the form's evidence, in the decision log.
Pure module: no I/O, no third-party import.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model import DocKind, Document, Facts, Reason, SignerType

STRICTNESS = {
    DocKind.ISSUED: 2,
    DocKind.ATTACHMENT: 1,
    DocKind.COPY: 1,
    DocKind.CORRESPONDENCE: 0,
    DocKind.REPORT: 0,
}


@dataclass(frozen=True)
class KindChoice:
    kind: DocKind
    declared: DocKind | None  # what the sender (or the channel's configuration) declared
    inferred: DocKind | None  # what the form shows; None when the document has no text to read
    basis: str  # "declared", "inferred", "declared-not-less-strict", "inferred-stricter", "copy-of-paper", ...
    warning: Reason | None = None


def declared_kind(doc: Document) -> DocKind | None:
    """The declared kind: the sender's declaration, else a kind the door set other than the default."""
    if doc.declared.kind is not None:
        return doc.declared.kind
    return doc.kind if doc.kind is not DocKind.CORRESPONDENCE else None


def _valid_person(facts: Facts) -> bool:
    return any(s.signer_type is SignerType.PERSON and s.valid for s in facts.signatures)


def resolve(doc: Document, facts: Facts | None) -> KindChoice:
    declared = declared_kind(doc)
    form = facts.form if facts is not None else None
    inferred = form.kind if form is not None else None
    if inferred is None:
        return KindChoice(declared or doc.kind, declared, None, "declared" if declared else "default")
    if declared is None:
        return KindChoice(inferred, None, inferred, f"inferred:{form.basis}")
    if STRICTNESS[declared] >= STRICTNESS[inferred]:
        return KindChoice(declared, declared, inferred, "declared" if declared is inferred else "declared-not-less-strict")
    if declared is DocKind.COPY and inferred is DocKind.ISSUED:
        if form.scanned:
            return KindChoice(DocKind.COPY, declared, inferred, "copy-of-paper-original")
        if _valid_person(facts):  # type: ignore[arg-type]
            return KindChoice(DocKind.COPY, declared, inferred, "copy-of-signed-original")
    label = " ".join(p for p in ((form.doc_type or "").capitalize(), form.number or "") if p)
    warning = Reason.of(
        "KIND_DECLARATION_OVERRIDDEN", declared=declared.value, inferred=inferred.value,
        type_number=f": {label}" if label else "",
    )
    return KindChoice(inferred, declared, inferred, "inferred-stricter", warning)
