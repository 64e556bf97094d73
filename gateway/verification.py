"""Every signature a file carries, validated: what `gateway verify` shows (Thông tư 15/2025/TT-BKHCN).

What the gateway produces, and so what it must be able to check again:
- a PDF with PAdES signatures;
- a document with its detached CAdES signature `NAME.p7s` beside it (give either file; `document=` when the
  names differ);
- a mail (.eml): the sender-visible S/MIME signature of the whole message (multipart/signed, or opaque
  signed-data), every signed attachment (PDFs with their signatures, documents with their `NAME.p7s`
  attachment); an attachment with no signature of its own counts as signed only inside a message-wide S/MIME
  signature (listed under it), otherwise it is a finding, not a pass.

The mail is read by the gateway's one MIME reader (gateway.inspect.mime: the same strict reading the SMTP door
uses); a structure it refuses is reported, not guessed. Validation (trust roots, CRLs, revocation) is
gateway.validation's, for every kind alike.
"""

from __future__ import annotations

import email.utils
import io
from dataclasses import dataclass
from pathlib import Path

from gateway.model import VN_TZ, Reason, SignatureFacts

P7S = ".p7s"
HEAD = 8192


def signature_ok(sig: SignatureFacts) -> bool:
    """Valid (intact, trusted, valid at signing time, not revoked) and covering the whole document."""
    return sig.valid and sig.covers_whole_document


@dataclass(frozen=True)
class Checked:
    """One thing that should carry signatures (a PDF, a document with its .p7s, the message) and what was found."""

    kind: str  # "pdf" | "cades" | "smime" | "none"
    label: str  # what people recognise: a file or attachment name, "thư / message"
    signatures: tuple[SignatureFacts, ...] = ()
    problem: Reason | None = None  # no signature, the signed document missing, unreadable
    covers: tuple[str, ...] = ()  # S/MIME: the attachments signed only by it (no signature of their own)

    @property
    def valid(self) -> bool:
        return self.problem is None and bool(self.signatures) and all(signature_ok(s) for s in self.signatures)


@dataclass(frozen=True)
class Verification:
    file: str
    kind: str  # "pdf" | "detached" | "mail" | "other"
    items: tuple[Checked, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # a mail's From, To, Subject, Date (+07:00)
    problem: Reason | None = None  # about the file as a whole

    @property
    def valid(self) -> bool:
        return self.problem is None and bool(self.items) and all(i.valid for i in self.items)

    @property
    def signatures(self) -> tuple[SignatureFacts, ...]:
        return tuple(s for i in self.items for s in i.signatures)


class DocumentMissing(Exception):
    """`document=` names a file that is not there (a usage error for the command line)."""


def verify_file(path: Path, validator, settings, *, document: Path | None = None) -> Verification:
    """Everything `path` carries. Raises DocumentMissing for a `document` that is not there and the
    validator's RevocationSourceUnavailable (temporary); a bad signature is a finding, never an exception."""
    from gateway.inspect.sniff import MESSAGE, PDF, sniff

    path = Path(path)
    if document is not None and not Path(document).is_file():
        raise DocumentMissing(str(document))
    with open(path, "rb") as fh:
        head = fh.read(HEAD)
    media = sniff(head)
    if media == PDF and document is None:
        return Verification(str(path), "pdf", (_pdf(path.name, path, validator),))
    if media == MESSAGE and document is None:
        return verify_mail(path.read_bytes(), validator, settings, file=str(path))
    if _is_cms(path, head):
        doc = document or (path.with_name(path.name[: -len(P7S)]) if path.name.lower().endswith(P7S) else None)
        if doc is None or not doc.is_file():
            return Verification(str(path), "detached", (Checked("cades", path.name, problem=Reason.of(
                "VERIFY_DOCUMENT_MISSING", name=path.name, document=doc.name if doc else "?")),))
        return Verification(str(path), "detached", (_cades(doc.name, path.read_bytes(), doc, validator),))
    sig = path.with_name(path.name + P7S)
    if document is not None or sig.is_file():  # the document given, its signature beside it
        sig_path = path if document is not None else sig
        doc = Path(document) if document is not None else path
        return Verification(str(path), "detached", (_cades(doc.name, sig_path.read_bytes(), doc, validator),))
    return Verification(str(path), "other", problem=Reason.of("VERIFY_NO_SIGNATURE_FOUND", name=path.name,
                                                               p7s=sig.name))


def _is_cms(path: Path, head: bytes) -> bool:
    """A CMS SignedData, DER (starts with a SEQUENCE) or PEM, by content; the .p7s name alone is not enough."""
    if head.startswith(b"-----BEGIN PKCS7-----") or head.startswith(b"-----BEGIN CMS-----"):
        return True
    if head[:1] != b"\x30":
        return False
    try:
        from asn1crypto import cms

        return cms.ContentInfo.load(path.read_bytes())["content_type"].native == "signed_data"
    except Exception:  # noqa: BLE001 - not CMS
        return False


def _pdf(label: str, source, validator) -> Checked:
    sigs = tuple(validator.validate_pdf(source))
    return Checked("pdf", label, sigs, None if sigs else Reason.of("VERIFY_NO_SIGNATURE", name=label))


def _cades(label: str, signature: bytes, content, validator) -> Checked:
    return Checked("cades", f"{label} + {label}{P7S}", (validator.validate_cms(signature, content, name=label + P7S),))


# --- mail ------------------------------------------------------------------------------------------------


def verify_mail(raw: bytes, validator, settings, *, file: str = "") -> Verification:
    from gateway.errors import GatewayError
    from gateway.inspect import mime

    raw = mime.normalise(raw)
    lim = settings.limits
    try:
        msg = mime.parse(raw, max_parts=lim.max_mime_parts, max_depth=lim.max_mime_depth,
                         max_header_bytes=lim.max_header_bytes)
        walk = mime.walk(msg)
    except GatewayError as exc:
        return Verification(file, "mail", problem=exc.reason)
    headers = _headers(msg)
    if walk.problems:  # the gateway's reader refuses the structure: what a recipient sees is not certain
        return Verification(file, "mail", headers=headers, problem=walk.problems[0])
    items: list[Checked] = []
    for owner in _messages(msg):
        items += _smime(owner, validator)
    attachments = _attachments(walk.leaves, validator, covered=bool(items))
    covered = tuple(a.label for a in attachments if a.kind == "covered")
    if covered:  # signed by the message's S/MIME signature alone: said under it
        items = [Checked(i.kind, i.label, i.signatures, i.problem, covered) if i.kind == "smime" else i for i in items]
    items += [a for a in attachments if a.kind != "covered"]
    if not items:
        return Verification(file, "mail", headers=headers, problem=Reason.of("VERIFY_NO_SIGNATURE", name=file or "mail"))
    return Verification(file, "mail", tuple(items), headers)


def _headers(msg) -> tuple[tuple[str, str], ...]:
    out = []
    for name in ("From", "To", "Subject", "Date"):
        value = msg.header(name)
        if value is None:
            continue
        if name == "Date":
            try:
                value = email.utils.parsedate_to_datetime(value).astimezone(VN_TZ).isoformat()
            except (TypeError, ValueError):
                pass
        out.append((name, " ".join(value.split())))
    return tuple(out)


def _messages(msg):
    """The message and every message encoded inside it (base64 message/rfc822, opaque S/MIME)."""
    yield msg
    for p in msg.parts:
        if p.inner is not None:
            yield from _messages(p.inner)


def _smime(msg, validator) -> list[Checked]:
    """multipart/signed (the signature over its first part's bytes) and opaque signed-data (over what it wraps)."""
    from gateway.inspect import mime

    out = []
    for part in msg.parts:
        label = "thư / message" + (f" ({part.location})" if part.path else "")
        if part.content_type == "multipart/signed" and len(part.children) == 2:
            content, sig = part.children
            der = mime.decode_body(msg.raw[sig.body_start : sig.end], sig.cte)
            signed = msg.raw[content.start : content.end]
            out.append(Checked("smime", label, (validator.validate_cms(der, signed, name="S/MIME"),)))
        elif part.content_type in mime.PKCS7_TYPES and part.inner is not None and part.signed:
            der = mime.decode_body(msg.raw[part.body_start : part.end], part.cte)
            out.append(Checked("smime", label, (_opaque(der, validator),)))
    return out


def _opaque(der: bytes, validator) -> SignatureFacts:
    from asn1crypto import cms

    try:
        content = bytes(cms.ContentInfo.load(der)["content"]["encap_content_info"]["content"].native or b"")
    except Exception:  # noqa: BLE001 - validate_cms reports the unreadable signature
        content = b""
    return validator.validate_cms(der, content, name="S/MIME")


def _attachments(leaves, validator, *, covered: bool) -> list[Checked]:
    """Each document attachment with what signs it; a .p7s without its document is a finding too. `covered`:
    the message carries an S/MIME signature, which signs the attachments inside it (kind "covered")."""
    from gateway.inspect.sniff import PDF, sniff

    docs = [leaf for leaf in leaves if leaf.role == "document"]
    by_name: dict[tuple[int, str], object] = {}
    for leaf in docs:
        by_name[(id(leaf.owners[-1]), leaf.name)] = leaf
    out = []
    for leaf in docs:
        if leaf.name.lower().endswith(P7S) and (id(leaf.owners[-1]), leaf.name[: -len(P7S)]) in by_name:
            continue  # a signature: taken with its document below
        label = leaf.name or leaf.location
        p7s = by_name.get((id(leaf.owners[-1]), leaf.name + P7S)) if leaf.name else None
        if p7s is not None:
            out.append(Checked("cades", f"{label} + {label}{P7S}",
                               (validator.validate_cms(p7s.content, leaf.content, name=label + P7S),)))
            continue
        if leaf.name.lower().endswith(P7S):
            out.append(Checked("cades", label, problem=Reason.of("VERIFY_DOCUMENT_MISSING", name=label,
                                                                 document=label[: -len(P7S)])))
        elif sniff(leaf.content[:HEAD]) == PDF:
            out.append(_pdf(label, io.BytesIO(leaf.content), validator))
        elif covered and leaf.signed:
            out.append(Checked("covered", label))
        else:
            out.append(Checked("none", label, problem=Reason.of("VERIFY_ATTACHMENT_UNSIGNED", name=label)))
    return out
