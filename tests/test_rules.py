"""Every shipped rule, table-driven, against the shipped default policy. Facts are built directly."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.model import (
    Appearance,
    CirculationMark,
    Channel,
    DocKind,
    Document,
    Facts,
    Member,
    Origin,
    Outcome,
    Reason,
    Revocation,
    SecrecyFinding,
    SecrecyLevel,
    SignatureFacts,
    SignerType,
    SignFormat,
)
from gateway.policy import load_policies
from gateway.rules import RULES
from gateway.settings import shipped_policies_dir

PDF = "application/pdf"


def sig(**kw) -> SignatureFacts:
    base = dict(
        field_name="Sig1",
        signer_subject="CN=Nguyễn Văn A",
        signer_common_name="Nguyễn Văn A",
        signer_serial="01",
        signer_sha256="ab" * 32,
        issuer_subject="CN=CA",
        signer_type=SignerType.PERSON,
        signing_time=None,
        timestamp_time=None,
        intact=True,
        trusted=True,
        revocation=Revocation.GOOD,
        cert_valid_at_signing=True,
        covers_whole_document=True,
        page=0,
        rect=(300.0, 100.0, 450.0, 160.0),
    )
    base.update(kw)
    return SignatureFacts(**base)


def org(**kw) -> SignatureFacts:
    return sig(field_name="Org", signer_type=SignerType.ORGANISATION, signer_common_name="Cơ quan", **kw)


def facts(**kw) -> Facts:
    base = dict(media_type=PDF, size=1000, sha256="00" * 32, pdf_version="1.7", page_count=1)
    base.update(kw)
    return Facts(**base)


def doc(kind=DocKind.ATTACHMENT, channel=Channel.CLI) -> Document:
    return Document(channel=channel, name="x.pdf", content=b"%PDF-", kind=kind)


@pytest.fixture(scope="module")
def policies():
    return load_policies(shipped_policies_dir())


SECRET = (SecrecyFinding(SecrecyLevel.TOI_MAT, "text:page1"),)

# (id, kind, channel, facts, expected outcome, codes expected among decision.reasons, rule expected to hit)
CASES = [
    ("attachment-signs", DocKind.ATTACHMENT, Channel.CLI, facts(), Outcome.SIGN, {"SIGN_ORGANISATION"}, "sign_organisation"),
    ("copy-signs", DocKind.COPY, Channel.FOLDER, facts(), Outcome.SIGN, {"SIGN_ORGANISATION"}, "sign_organisation"),
    ("correspondence-signs", DocKind.CORRESPONDENCE, Channel.SMTP, facts(), Outcome.SIGN, {"SIGN_ORGANISATION"}, "sign_organisation"),
    ("report-signs", DocKind.REPORT, Channel.CLI, facts(), Outcome.SIGN, {"SIGN_ORGANISATION"}, "sign_organisation"),
    ("secret-blocks", DocKind.ATTACHMENT, Channel.SMTP, facts(secrecy=SECRET), Outcome.BLOCK, {"SECRET_MARKED"}, "secret_marked"),
    ("secret-beats-reject", DocKind.ISSUED, Channel.SMTP, facts(secrecy=SECRET, encrypted=True), Outcome.BLOCK, {"SECRET_MARKED"}, "pdf_encrypted"),
    ("empty", DocKind.ATTACHMENT, Channel.CLI, facts(size=0, media_type="application/octet-stream"), Outcome.REJECT, {"EMPTY_DOCUMENT"}, "empty_document"),
    ("non-pdf-cli-rejects", DocKind.ATTACHMENT, Channel.CLI, facts(media_type="image/png"), Outcome.REJECT, {"UNSUPPORTED_TYPE"}, "non_pdf"),
    ("non-pdf-portal-rejects", DocKind.ATTACHMENT, Channel.PORTAL, facts(media_type="application/zip"), Outcome.REJECT, {"UNSUPPORTED_TYPE"}, "non_pdf"),
    ("non-pdf-smtp-cades", DocKind.ATTACHMENT, Channel.SMTP, facts(media_type="application/msword", signable=SignFormat.CADES), Outcome.SIGN, {"SIGN_DETACHED_CADES"}, "non_pdf"),
    # A type the gateway does not read is never signed, even where the channel signs office files.
    ("non-pdf-smtp-unread", DocKind.ATTACHMENT, Channel.SMTP, facts(media_type="application/x-unknown"), Outcome.REJECT, {"UNSUPPORTED_TYPE"}, "non_pdf"),
    ("incomplete-reading", DocKind.ATTACHMENT, Channel.SMTP, facts(incomplete=(Reason.of("DOCUMENT_UNREADABLE", detail="x"),)), Outcome.REJECT, {"DOCUMENT_UNREADABLE"}, "unreadable"),
    ("broken", DocKind.ATTACHMENT, Channel.CLI, facts(broken=True), Outcome.REJECT, {"PDF_BROKEN"}, "pdf_broken"),
    ("encrypted", DocKind.ATTACHMENT, Channel.CLI, facts(encrypted=True), Outcome.REJECT, {"PDF_ENCRYPTED"}, "pdf_encrypted"),
    ("docmdp-1", DocKind.ATTACHMENT, Channel.CLI, facts(docmdp_level=1), Outcome.REJECT, {"PDF_CERTIFIED_NO_CHANGES"}, "pdf_certified_no_changes"),
    ("docmdp-2-signs", DocKind.ATTACHMENT, Channel.CLI, facts(docmdp_level=2), Outcome.SIGN, {"SIGN_ORGANISATION"}, "sign_organisation"),
    # a script may show what the pages do not say: refused on every channel by default
    ("javascript-rejects", DocKind.ATTACHMENT, Channel.CLI, facts(javascript=True), Outcome.REJECT, {"PDF_JAVASCRIPT"}, "pdf_javascript"),
    ("javascript-smtp-rejects", DocKind.ATTACHMENT, Channel.SMTP, facts(javascript=True), Outcome.REJECT, {"PDF_JAVASCRIPT"}, "pdf_javascript"),
    ("javascript-portal-rejects", DocKind.ATTACHMENT, Channel.PORTAL, facts(javascript=True), Outcome.REJECT, {"PDF_JAVASCRIPT"}, "pdf_javascript"),
    ("embedded-files-warn", DocKind.ATTACHMENT, Channel.SMTP, facts(embedded_files=2), Outcome.SIGN, {"SIGN_ORGANISATION"}, "pdf_embedded_files"),
    ("embedded-files-portal-rejects", DocKind.ATTACHMENT, Channel.PORTAL, facts(embedded_files=1), Outcome.REJECT, {"PDF_EMBEDDED_FILES"}, "pdf_embedded_files"),
    ("sig-broken", DocKind.ATTACHMENT, Channel.CLI, facts(signatures=(sig(intact=False),)), Outcome.REJECT, {"SIGNATURE_BROKEN"}, "signature_broken"),
    ("sig-untrusted", DocKind.ATTACHMENT, Channel.CLI, facts(signatures=(sig(trusted=False),)), Outcome.REJECT, {"SIGNATURE_UNTRUSTED"}, "signature_untrusted"),
    ("sig-revoked", DocKind.ATTACHMENT, Channel.CLI, facts(signatures=(sig(revocation=Revocation.REVOKED),)), Outcome.REJECT, {"SIGNATURE_REVOKED"}, "signature_revoked"),
    ("sig-cert-expired", DocKind.ATTACHMENT, Channel.CLI, facts(signatures=(sig(cert_valid_at_signing=False),)), Outcome.REJECT, {"SIGNATURE_CERT_EXPIRED"}, "signature_cert_invalid"),
    ("sig-modified-after", DocKind.ATTACHMENT, Channel.CLI, facts(signatures=(sig(modification_level="OTHER", covers_whole_document=False),)), Outcome.REJECT, {"SIGNATURE_MODIFIED_AFTER"}, "signature_modified_after"),
    ("sig-form-filling-ok", DocKind.ATTACHMENT, Channel.CLI, facts(signatures=(sig(modification_level="FORM_FILLING", covers_whole_document=False),)), Outcome.SIGN, {"SIGN_ORGANISATION"}, "sign_organisation"),
    ("revocation-unchecked-warns", DocKind.ATTACHMENT, Channel.CLI, facts(signatures=(sig(revocation=Revocation.NOT_CHECKED),)), Outcome.SIGN, {"SIGN_ORGANISATION"}, "revocation_unchecked"),
    ("internal-cli-warns", DocKind.ATTACHMENT, Channel.CLI, facts(marks=frozenset({CirculationMark.INTERNAL_CIRCULATION})), Outcome.SIGN, {"SIGN_ORGANISATION"}, "internal_circulation"),
    ("internal-portal-rejects", DocKind.ATTACHMENT, Channel.PORTAL, facts(marks=frozenset({CirculationMark.INTERNAL_CIRCULATION})), Outcome.REJECT, {"INTERNAL_CIRCULATION"}, "internal_circulation"),
    ("recall-portal-rejects", DocKind.COPY, Channel.PORTAL, facts(marks=frozenset({CirculationMark.RECALL})), Outcome.REJECT, {"RECALL_MARK"}, "recall_mark"),
    ("return-reading-portal-rejects", DocKind.COPY, Channel.PORTAL, facts(marks=frozenset({CirculationMark.RETURN_AFTER_READING})), Outcome.REJECT, {"RETURN_AFTER_READING_MARK"}, "return_after_reading"),
    ("return-meeting-folder-warns", DocKind.COPY, Channel.FOLDER, facts(marks=frozenset({CirculationMark.RETURN_AFTER_MEETING})), Outcome.SIGN, {"SIGN_ORGANISATION"}, "return_after_meeting"),
    ("recall-smtp-warns", DocKind.COPY, Channel.SMTP, facts(marks=frozenset({CirculationMark.RECALL})), Outcome.SIGN, {"SIGN_ORGANISATION"}, "recall_mark"),
    ("issued-unsigned", DocKind.ISSUED, Channel.CLI, facts(), Outcome.REJECT, {"ISSUED_NEEDS_PERSONAL_SIGNATURE"}, "issued_needs_person"),
    ("issued-org-only", DocKind.ISSUED, Channel.CLI, facts(signatures=(org(),)), Outcome.REJECT, {"ISSUED_NEEDS_PERSONAL_SIGNATURE"}, "issued_needs_person"),
    ("issued-person-untrusted", DocKind.ISSUED, Channel.CLI, facts(signatures=(sig(trusted=False),)), Outcome.REJECT, {"ISSUED_NEEDS_PERSONAL_SIGNATURE", "SIGNATURE_UNTRUSTED"}, "issued_needs_person"),
    ("issued-non-pdf-smtp", DocKind.ISSUED, Channel.SMTP, facts(media_type="application/msword"), Outcome.REJECT, {"ISSUED_NEEDS_PERSONAL_SIGNATURE"}, "issued_needs_person"),
    ("issued-person-seal", DocKind.ISSUED, Channel.FOLDER, facts(signatures=(sig(),)), Outcome.SIGN, {"SIGN_AFTER_COMPETENT_PERSON"}, "sign_after_person"),
    ("already-org-pass", DocKind.ATTACHMENT, Channel.SMTP, facts(signatures=(org(),)), Outcome.PASS, {"ALREADY_SIGNED_BY_ORGANISATION"}, "already_org_signed"),
    ("issued-person-and-org-pass", DocKind.ISSUED, Channel.SMTP, facts(signatures=(sig(), org())), Outcome.PASS, {"ALREADY_SIGNED_BY_ORGANISATION"}, "already_org_signed"),
    ("org-not-covering-signs", DocKind.ATTACHMENT, Channel.CLI, facts(signatures=(org(covers_whole_document=False, modification_level="ANNOTATIONS"),)), Outcome.SIGN, {"SIGN_ORGANISATION"}, "sign_organisation"),
    ("org-untrusted-rejects", DocKind.ATTACHMENT, Channel.CLI, facts(signatures=(org(trusted=False),)), Outcome.REJECT, {"SIGNATURE_UNTRUSTED"}, "signature_untrusted"),
]


# --- containers (issue 12): members decided by the same policy, aggregated by the rule `members` -------------

ZIP = "application/zip"


def member(f: Facts, role: str = "document", name: str = "a.pdf", channel: Channel = Channel.CLI) -> Member:
    return Member(f"zip:{name}#0", role, Document(channel=channel, name=name, content=b"x"), f)


def container(*ms: Member, **kw) -> Facts:
    return facts(media_type=ZIP, pdf_version=None, page_count=None, container="zip", members=ms, **kw)


CASES += [
    ("zip-of-pdf-rebuilt", DocKind.ATTACHMENT, Channel.FOLDER, container(member(facts())), Outcome.SIGN, {"CONTAINER_REBUILT"}, "members"),
    ("zip-secret-member-blocks", DocKind.ATTACHMENT, Channel.FOLDER, container(member(facts()), member(facts(secrecy=SECRET), name="m.pdf")), Outcome.BLOCK, {"SECRET_MARKED"}, "members"),
    ("zip-unsupported-member-rejects", DocKind.ATTACHMENT, Channel.FOLDER, container(member(facts(media_type="image/png"), name="x.png")), Outcome.REJECT, {"UNSUPPORTED_TYPE"}, "members"),
    ("zip-signed-member-passes", DocKind.ATTACHMENT, Channel.SMTP, container(member(facts(signatures=(org(),)))), Outcome.PASS, {"CONTAINER_PASSED"}, "members"),
    ("zip-issued-each-member", DocKind.ISSUED, Channel.CLI, container(member(facts(signatures=(sig(),)))), Outcome.SIGN, {"CONTAINER_REBUILT"}, "members"),
    ("gzip-cannot-carry-p7s", DocKind.ATTACHMENT, Channel.SMTP, dataclasses.replace(container(member(facts(media_type="application/msword", signable=SignFormat.CADES), name="a.doc", channel=Channel.SMTP)), container="gzip"), Outcome.REJECT, {"CONTAINER_CANNOT_CARRY_SIGNATURE"}, "members"),
    ("encrypted-zip-rejects", DocKind.ATTACHMENT, Channel.SMTP, container(encrypted=True, incomplete=(Reason.of("CONTAINER_ENCRYPTED", name="a.pdf"),)), Outcome.REJECT, {"CONTAINER_ENCRYPTED"}, "unreadable"),
    ("pdf-embedded-read-not-signed", DocKind.ATTACHMENT, Channel.SMTP, facts(embedded_files=1, members=(member(facts(), role="embedded"),)), Outcome.SIGN, {"SIGN_ORGANISATION"}, "sign_organisation"),
    ("pdf-embedded-secret-blocks", DocKind.ATTACHMENT, Channel.SMTP, facts(embedded_files=1, members=(member(facts(secrecy=SECRET), role="embedded"),)), Outcome.BLOCK, {"SECRET_MARKED"}, "members"),
    ("pdf-embedded-unread-rejects", DocKind.ATTACHMENT, Channel.SMTP, facts(embedded_files=1, members=(member(facts(media_type="image/png", incomplete=(Reason.of("MEMBER_NOT_READ", media_type="image/png"),)), role="embedded", name="x.png"),)), Outcome.REJECT, {"MEMBER_NOT_READ"}, "members"),
]


# --- mail messages (issue 12 §2): the message is a container; its sender's signature and encryption -------

MESSAGE = "message/rfc822"


def mail(*ms: Member, **kw) -> Facts:
    return facts(media_type=MESSAGE, pdf_version=None, page_count=None, container="message", members=ms, **kw)


def part(f: Facts, location: str, role: str = "document", name: str = "a.pdf") -> Member:
    return Member(location, role, Document(channel=Channel.SMTP, name=name, content=b"x"), f)


TEXT_FACTS = dict(media_type="text/plain", pdf_version=None, page_count=None, signable=SignFormat.CADES)

CASES += [
    ("mail-pdf-rebuilt", DocKind.CORRESPONDENCE, Channel.SMTP, mail(part(facts(**TEXT_FACTS), "mime:1", "body", ""), part(facts(), "mime:2")), Outcome.SIGN, {"CONTAINER_REBUILT"}, "members"),
    ("mail-sender-signed-doc-rejects", DocKind.CORRESPONDENCE, Channel.SMTP, mail(part(facts(), "mime:1.2"), sender_signed=("mime:1.2",)), Outcome.REJECT, {"MAIL_SENDER_SIGNED"}, "sender_signed"),
    ("mail-sender-signed-text-passes", DocKind.CORRESPONDENCE, Channel.SMTP, mail(part(facts(**TEXT_FACTS), "mime:1", "body", ""), sender_signed=("mime:1",)), Outcome.PASS, {"MAIL_SENDER_SIGNED_PASSED", "CONTAINER_PASSED"}, "sender_signed"),
    ("mail-encrypted-rejects", DocKind.CORRESPONDENCE, Channel.SMTP, mail(encrypted=True, incomplete=(Reason.of("MAIL_ENCRYPTED"),)), Outcome.REJECT, {"MAIL_ENCRYPTED"}, "unreadable"),
    ("mail-ambiguous-rejects", DocKind.CORRESPONDENCE, Channel.SMTP, mail(part(facts(), "mime:2"), incomplete=(Reason.of("MIME_AMBIGUOUS", detail="two content-type"),)), Outcome.REJECT, {"MIME_AMBIGUOUS"}, "unreadable"),
]


def test_mail_smime_when_the_channel_says_so(policies):
    from gateway.policy import with_channel_option

    signing = with_channel_option(policies, Channel.SMTP, "smime", "sign")
    f = mail(part(facts(**TEXT_FACTS), "mime:1", "body", ""))
    d = signing.decide(doc(DocKind.CORRESPONDENCE, Channel.SMTP), f)
    assert d.outcome is Outcome.SIGN and d.sign_format is SignFormat.SMIME
    assert [r.code for r in d.reasons] == ["MAIL_SMIME_SIGNED"] and "mail_smime" in {h.rule for h in d.hits}
    # other channels, and the default: not S/MIME
    assert signing.decide(doc(DocKind.CORRESPONDENCE, Channel.FOLDER), f).sign_format is not SignFormat.SMIME
    assert policies.decide(doc(DocKind.CORRESPONDENCE, Channel.SMTP), f).outcome is Outcome.PASS
    # a refusal inside still refuses
    secret = mail(part(facts(secrecy=SECRET), "mime:2"))
    assert signing.decide(doc(DocKind.CORRESPONDENCE, Channel.SMTP), secret).outcome is Outcome.BLOCK
    # encrypted mail let through by allow_unreadable_from is passed unread, never wrapped
    from gateway.policy import with_channel_option as w

    allowing = w(signing, Channel.SMTP, "allow_unreadable_from", ("@so-b.gov.vn",))
    enc = mail(encrypted=True, incomplete=(Reason.of("MAIL_ENCRYPTED"),))
    d = allowing.decide(dataclasses.replace(doc(DocKind.CORRESPONDENCE, Channel.SMTP),
                                            origin=Origin(sender="a@so-b.gov.vn")), enc)
    assert d.outcome is Outcome.PASS and [r.code for r in d.reasons] == ["UNREADABLE_ALLOWED"]

def test_non_document_roles_are_read_never_signed(policies):
    """An embedded PDF is not signed on its own, whatever its kind asks (its carrier's signature covers it)."""
    f = facts(members=(member(facts(), role="embedded"),))
    d = policies.decide(doc(DocKind.ISSUED, Channel.CLI), dataclasses.replace(f, signatures=(sig(),)))
    assert d.outcome is Outcome.SIGN and d.members[0].decision.outcome is Outcome.PASS
    assert [r.code for r in d.members[0].decision.reasons] == ["MEMBER_READ"]
    assert "read_not_signed" in {h.rule for h in d.members[0].decision.hits}


def test_member_reasons_name_the_member_through_nesting(policies):
    inner = container(member(facts(secrecy=SECRET), name="m.pdf"))
    outer = container(member(inner, name="inner.zip"))
    d = policies.decide(doc(), outer)
    assert d.outcome is Outcome.BLOCK and d.reasons[0].args["member"] == "inner.zip/m.pdf"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_default_policy(policies, case):
    _, kind, channel, f, outcome, codes, rule = case
    d = policies.decide(doc(kind, channel), f, max_document_bytes=10_000)
    assert d.outcome is outcome, d
    assert codes <= {r.code for r in d.reasons} | {w.code for w in d.warnings}
    assert rule in {h.rule for h in d.hits}
    assert d.policy_id == "kyso-default" and d.policy_version
    # reasons always share the outcome; a positive decision has no refusing hit
    assert all(h.outcome is outcome for h in d.hits if h.reason in d.reasons)
    if outcome in (Outcome.SIGN, Outcome.PASS):
        assert not any(h.outcome in (Outcome.REJECT, Outcome.BLOCK) for h in d.hits)


def test_every_rule_is_exercised_and_shipped():
    policy = load_policies(shipped_policies_dir()).default
    shipped = set(policy.chain).union(*(ov.chain or () for ov in policy.roles.values()))
    exercised = {c[6] for c in CASES} | {"read_not_signed"}  # test_non_document_roles_are_read_never_signed
    exercised |= {"mail_smime"}  # test_mail_smime_when_the_channel_says_so
    assert set(RULES) - {"exempt"} <= shipped
    assert shipped <= exercised | {"too_large"}


def test_too_large(policies):
    d = policies.decide(doc(), facts(size=20_000), max_document_bytes=10_000)
    assert d.outcome is Outcome.REJECT and d.reasons[0] == Reason.of("TOO_LARGE", size=20_000, max=10_000)


def test_every_refusal_is_recorded_not_just_the_first(policies):
    f = facts(encrypted=True, docmdp_level=1, signatures=(sig(intact=False, field_name="A"), sig(trusted=False, field_name="B")))
    d = policies.decide(doc(DocKind.ISSUED), f)
    assert d.outcome is Outcome.REJECT
    codes = [r.code for r in d.reasons]
    assert codes == [
        "PDF_ENCRYPTED", "PDF_CERTIFIED_NO_CHANGES", "SIGNATURE_BROKEN", "SIGNATURE_UNTRUSTED",
        "ISSUED_NEEDS_PERSONAL_SIGNATURE",
    ]
    assert d.sign_format is None and d.appearance is None


def test_seal_anchors_on_the_latest_valid_person(policies):
    f = facts(signatures=(sig(field_name="P1"), sig(field_name="P2", signer_common_name="Trần B")))
    d = policies.decide(doc(DocKind.ISSUED), f)
    assert (d.outcome, d.appearance, d.sign_format, d.anchor_field) == (Outcome.SIGN, Appearance.SEAL, SignFormat.PADES, "P2")
    assert d.reasons == (Reason.of("SIGN_AFTER_COMPETENT_PERSON", signer="Trần B"),)


def test_text_appearance_for_attachments(policies):
    d = policies.decide(doc(DocKind.ATTACHMENT), facts())
    assert (d.appearance, d.sign_format, d.anchor_field) == (Appearance.TEXT, SignFormat.PADES, None)


def test_cades_for_non_pdf_on_smtp(policies):
    d = policies.decide(doc(DocKind.ATTACHMENT, Channel.SMTP), facts(media_type="application/msword", signable=SignFormat.CADES))
    assert d.sign_format is SignFormat.CADES and d.appearance is None


def test_warnings_kept_and_deduplicated(policies):
    w = Reason.of("REVOCATION_UNCHECKED", subject="Nguyễn Văn A")
    f = facts(signatures=(sig(revocation=Revocation.UNKNOWN),), warnings=(w,))
    d = policies.decide(doc(), f)
    assert d.outcome is Outcome.SIGN
    assert d.warnings == (w,)
    assert any(h.outcome is None and h.rule == "revocation_unchecked" for h in d.hits)


def test_secret_reason_names_level_and_place(policies):
    f = facts(secrecy=(SecrecyFinding(SecrecyLevel.MAT, "declared:X-Classification"), SecrecyFinding(SecrecyLevel.MAT, "xmp")))
    d = policies.decide(doc(), f)
    assert d.outcome is Outcome.BLOCK
    assert [r.args["where"] for r in d.reasons] == ["declared:X-Classification", "xmp"]


def test_rules_are_pure_and_named():
    for name, r in RULES.items():
        assert r.name == name and r.description
    assert dataclasses.is_dataclass(RULES["secret_marked"])
