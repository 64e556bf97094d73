"""The one path every document takes: inspect -> decide -> sign (when told to) -> verify -> record.

`Pipeline(settings).process(doc)` returns a `Result` for SIGN / PASS / REJECT / BLOCK and raises a
`TemporaryError` when it cannot decide or act now. Fail closed:
- an unexpected exception anywhere becomes a TemporaryError (the caller keeps the document, retries);
- a PermanentError from the input (InputRejected: broken, hostile, over a limit) becomes a REJECT Result;
- a record is written for every outcome, failures included; if the record cannot be written the signed
  output is deleted and AuditUnavailable is raised: nothing is released without a record;
- BLOCK (state secret): nothing of the content is kept, a WARNING is logged and the record is flagged alert.

Signed output goes to `out_dir` (or a fresh directory under <var>/work) as `<doc id>-<name>`; the
caller owns that file.

Containers (zip, 7z, tar, gzip, TNEF, a mail message; issue 12): each document gets a private work directory
(<var>/work/members-*, created only when something is extracted, removed when the document is done) where
inspection extracts the members; each member is inspected and decided like a document. To SIGN a container,
every member that needs it is signed (PAdES in place, or a CAdES .p7s beside it; an inner container is
rebuilt first), the container is rebuilt by its kind's rebuilder (gateway.signing.containers) and read back
to check every member before it is released. One decision-log record per member (with the container's
document id and the member's location), then one for the container. The HSM session (OrgSigner) and the validator are opened on first use, once per
Pipeline: a check or dry run never touches the token.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from gateway.audit import OUTCOME_TEMPORARY, AuditLog
from gateway.audit.log import Entry, decision_entry
from gateway.errors import (
    AuditUnavailable,
    GatewayError,
    InputRejected,
    PermanentError,
    PinRejected,
    SigningCertificateInvalid,
    StorageUnavailable,
    TemporaryError,
)
from gateway.model import (
    Appearance,
    Decision,
    DocKind,
    Document,
    Facts,
    MemberResult,
    Outcome,
    Reason,
    Result,
    RuleHit,
    SignedOutput,
    SignerType,
    SignFormat,
)
from gateway.policy import PolicySet, load_policies

log = logging.getLogger("gateway.pipeline")

_SAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


def safe_name(name: str, default: str = "document") -> str:
    """A file name from what the sender called it: base name only, no separators or control chars, at most
    150 bytes of UTF-8 (a 150-character Vietnamese name is up to 450 bytes: too long for a file name)."""
    base = _SAFE.sub("_", Path(name.replace("\\", "/")).name).strip(" .")
    cut = base.encode("utf-8", "surrogateescape")[:150].decode("utf-8", "ignore").strip(" .")
    return cut or default


class Pipeline:
    """One per process (each signing worker owns one, with its own HSM session)."""

    def __init__(self, settings, *, signer=None, validator=None, audit: AuditLog | None = None,
                 policies: PolicySet | None = None) -> None:
        self.settings = settings
        self.policies = policies or load_policies(Path(settings.policy.dir))  # ConfigError at start
        if getattr(settings.smtp, "smime_sign", False):  # the older setting, now the policy option smime
            from gateway.model import Channel
            from gateway.policy import with_channel_option

            self.policies = with_channel_option(self.policies, Channel.SMTP, "smime", "sign")
        self._signer = signer
        self._own_signer = signer is None  # close only what we opened
        self._validator = validator
        # document id -> (its repaired copy, that copy's SHA-256 as inspected), while it is processed
        self._repaired: dict[str, tuple[Path, str]] = {}
        self._own_audit = audit is None
        self.audit = audit or AuditLog.open(settings)

    # --- lazily opened components --------------------------------------------------------------------

    @property
    def signer(self):
        if self._signer is None:
            from gateway.signing import OrgSigner

            self._signer = OrgSigner(self.settings)
            self._signer.hash_output = False  # _check_output hashes the output in its one read
        return self._signer

    @property
    def validator(self):
        if self._validator is None:
            from gateway.validation import Validator

            self._validator = Validator(self.settings)
        return self._validator

    def close(self) -> None:
        if self._own_signer and self._signer is not None:
            self._signer.close()
            self._signer = None
        if self._own_audit:
            self.audit.close()

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the path --------------------------------------------------------------------------------------

    def process(self, doc: Document, *, dry_run: bool = False, out_dir: Path | None = None) -> Result:
        started = time.monotonic()
        facts: Facts | None = None
        decision: Decision | None = None
        output: SignedOutput | None = None
        signed: dict[str, SignedOutput] = {}  # a container's members signed inside it, by member document id
        work = self._extraction()
        try:
            for attempt in (1, 2):
                try:
                    # A decision that cannot be recorded must not be made: a deleted or replaced log stops here (ALERT).
                    self.audit.ensure_writable()
                    facts, decision = self._decide(doc, started, work)
                    if decision.outcome is Outcome.SIGN:
                        if dry_run:  # the dry run reads the document the way the signer will (issue 17 §4)
                            decision = self._rehearse(doc, facts, decision)
                        else:
                            output, decision = self._sign(doc, facts, decision, out_dir, signed)
                except PermanentError as exc:  # the input itself is refused (inspection or the signer said so)
                    refusal = self._refusal(exc.reason, "input")
                    decision = replace(refusal, members=decision.members) if decision is not None else refusal
                    signed.clear()
                except Exception as exc:
                    if document_fault(exc):
                        # Nothing here knows this exception: the document took a path the code cannot handle.
                        # Once more (a passing fault would not recur); then it is the document's, refused for
                        # good, never an endless "try again" (issue 17 §4).
                        signed.clear()
                        if attempt == 1:
                            log.warning("unexpected %s processing document %s (%s); trying once more",
                                        type(exc).__name__, doc.id, safe_name(doc.name), exc_info=exc)
                            self._forget_repaired(doc, facts)
                            facts = decision = output = None
                            work.close()
                            work = self._extraction()
                            continue
                        log.error("document %s (%s) refused: %s again on the second attempt",
                                  doc.id, safe_name(doc.name), type(exc).__name__)
                        code = "PDF_UNSUPPORTED" if facts is None or facts.is_pdf else "DOCUMENT_UNPROCESSABLE"
                        if isinstance(exc, RecursionError) and code == "PDF_UNSUPPORTED":
                            code = "PDF_BROKEN"  # nesting no reader follows: what the readers call it elsewhere
                        decision = self._refusal(Reason.of(code, detail=f"internal: {type(exc).__name__}"),
                                                 "unprocessable")
                        break
                    if isinstance(exc, TemporaryError):
                        err = exc
                    elif isinstance(exc, OSError):  # disk full, read-only or vanished folder: not a bug, try again
                        err = StorageUnavailable(f"{type(exc).__name__}: {exc.strerror or exc}")
                    else:  # the system's own failure (memory, the token's library): try again later
                        err = TemporaryError(f"unexpected {type(exc).__name__} while processing", code="INTERNAL_ERROR")
                        log.exception("system error processing document %s (%s)", doc.id, safe_name(doc.name))
                    self._record_failure(doc, facts, decision, err, started, dry_run)
                    raise err from (None if err is exc else exc)
                break
            return self._finish(doc, facts, decision, output, started, dry_run, signed)
        finally:
            self._forget_repaired(doc, facts)
            work.close()

    def _extraction(self):
        """The private work directory (made on first use) and budget for one document's members."""
        from gateway.inspect.members import Extraction

        return Extraction.under(Path(self.settings.var_dir) / "work", self.settings)

    def check(self, doc: Document) -> Result:
        """Decide without signing (gateway check): a dry run, logged as one."""
        return self.process(doc, dry_run=True)

    # --- steps -----------------------------------------------------------------------------------------

    def _decide(self, doc: Document, started: float, work=None) -> tuple[Facts | None, Decision]:
        limits = self.settings.limits
        size = doc.size
        if size > limits.max_document_bytes:
            # Not even read: no hashing of an oversize upload. What the sender declared still counts: a
            # declared state secret is BLOCKed (alert, nothing kept), not merely refused as too large.
            from gateway.inspect import marks as secrecy

            marks = secrecy.scan_declared(doc.declared.classification, "declared:classification")
            if marks.secrecy:
                facts = Facts(media_type="application/octet-stream", size=size, sha256="", secrecy=marks.secrecy)
                return facts, self.policies.decide(doc, facts, max_document_bytes=limits.max_document_bytes)
            return None, self._refusal(Reason.of("TOO_LARGE", size=size, max=limits.max_document_bytes), "too_large")
        from gateway.inspect import inspect

        facts = inspect(doc, self.settings, self.validator, work)
        repaired = None
        if _repairable(facts) and work is not None:
            facts, repaired = self._inspect_repaired(doc, facts, work)
        if facts.members and work is not None:
            # a member gets what a document gets: the same repair, so the four doors agree (a PDF the folder
            # door signs is not refused as PDF_BROKEN inside a mail or an archive)
            facts = self._repair_members(facts, work.child())
        if time.monotonic() - started > limits.document_seconds and not _any_secrecy(facts):
            # Inspection is where hostile input costs time (huge object graphs, text extraction). A secrecy mark
            # already found still decides: BLOCK (alert, content not kept), never a plain REJECT.
            return facts, self._refusal(Reason.of("TIME_LIMIT", seconds=limits.document_seconds), "time_limit")
        decision = self.policies.decide(doc, facts, max_document_bytes=limits.max_document_bytes)
        if repaired is not None:
            decision = replace(decision, warnings=tuple(dict.fromkeys(decision.warnings + (repaired,))))
        return facts, decision

    def _repair_members(self, facts: Facts, work) -> Facts:
        """`facts` with every repairable member (at any depth) repaired and inspected again as
        `_inspect_repaired` does for a document; `work` is the members' level of the extraction."""
        members, changed = [], False
        for m in facts.members:
            mf = m.facts
            if _repairable(mf):
                mf, _reason = self._inspect_repaired(m.document, mf, work, role=m.role)
            elif mf.members:
                mf = self._repair_members(mf, work.child())
            changed = changed or mf is not m.facts
            members.append(replace(m, facts=mf) if mf is not m.facts else m)
        return replace(facts, members=tuple(members)) if changed else facts

    def _inspect_repaired(self, doc: Document, facts: Facts, work, *, role: str = "document",
                          ) -> tuple[Facts, Reason | None]:
        """An unsigned PDF no reader here opens, which poppler reads: repaired (gateway.signing.repair) into the
        work directory, inspected and signed as that copy (issue 17 §2). The facts keep the original's hash
        and size (the record is about what was sent); the repair is a warning. Anything else: as it was."""
        from gateway.signing import repair

        try:
            src = Path(doc.path) if doc.path is not None else work.new_path(".pdf")
            if doc.path is None:
                src.write_bytes(doc.content or b"")
            if repair.looks_signed(src, self.settings.signing.chunk_size):
                return facts, None  # a signed file is never rewritten
            fixed = work.new_path(".pdf")
            reason = repair.repair(src, fixed, timeout=float(self.settings.limits.document_seconds))
        except (PermanentError, OSError) as exc:
            log.info("repair of %s not possible: %s", doc.id, exc)
            return facts, None
        from gateway.inspect import inspect

        fixed_doc = replace(doc, path=fixed, content=None)
        again = inspect(fixed_doc, self.settings, self.validator, work, role=role)
        if again.broken or again.encrypted or again.signatures:
            return facts, None
        self._repaired[doc.id] = (fixed, again.sha256)
        return replace(again, sha256=facts.sha256, size=facts.size,
                       warnings=tuple(dict.fromkeys(again.warnings + (reason,)))), reason

    def refuse(self, doc: Document, reason: Reason, *, dry_run: bool = False) -> Result:
        """Refuse `doc` without reading it (the engine, when reading it killed a worker twice), recorded."""
        return self._finish(doc, None, self._refusal(reason, "unprocessable"), None, time.monotonic(), dry_run)

    def _refusal(self, reason: Reason, rule: str) -> Decision:
        policy = self.policies.default
        return Decision(
            Outcome.REJECT, (reason,), (RuleHit(rule, Outcome.REJECT, reason),), policy.id, policy.version
        )

    def _sign(self, doc: Document, facts: Facts, decision: Decision, out_dir: Path | None,
              signed: dict[str, SignedOutput] | None = None):
        if facts.container is not None:
            return self._sign_container(doc, facts, decision, out_dir, {} if signed is None else signed)
        work = self._work_dir(out_dir)
        name = safe_name(doc.name)
        src, temp_src = self._source(doc, work)
        try:
            if decision.sign_format is SignFormat.CADES:
                dst = work / f"{doc.id}-{name}.p7s"
                output = self.signer.sign_detached(src, dst)
            else:
                dst = work / f"{doc.id}-{name}"
                output = self.signer.sign_pdf(src, dst, self._request(doc, facts, decision))
            try:
                # the document's own bytes: inspection hashed them already (saves one read of the source); the
                # check refuses an output that does not begin with exactly those bytes (signed = inspected)
                same = doc.path is None or Path(doc.path) == src
                inspected = facts.sha256 if same and facts is not None else None
                if doc.id in self._repaired:  # the repaired copy, as inspected
                    inspected = self._repaired[doc.id][1]
                output = self._check_output(output, src, inspected)
                self._check_inspected(output, src, facts)
            except BaseException:
                output.path.unlink(missing_ok=True)
                raise
            finally:
                self._drop_repaired()
        except BaseException:
            for p in work.glob(f"{doc.id}-*"):
                p.unlink(missing_ok=True)
            if out_dir is None:
                shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            if temp_src is not None:
                temp_src.unlink(missing_ok=True)
        # The signer's own pre-sign check (Decree 68 Điều 29, 31) may warn: revocation unchecked, expiring.
        status = getattr(self._signer, "last_status", None)
        extra = tuple(getattr(status, "warnings", ()) or ())
        if decision.sign_format is not SignFormat.CADES:
            extra += tuple(getattr(self._signer, "last_repairs", ()) or ())  # e.g. PDF_REPAIRED
        if extra:
            decision = replace(decision, warnings=tuple(dict.fromkeys(decision.warnings + extra)))
        return output, decision

    def _sign_container(self, doc: Document, facts: Facts, decision: Decision, out_dir: Path | None,
                        signed: dict[str, SignedOutput]):
        """Sign what needs it inside, rebuild, read back and check; the rebuilt container is the output."""
        work = self._work_dir(out_dir)
        dst = work / f"{doc.id}-{safe_name(doc.name)}"
        src, temp_src = self._source(doc, work)
        scratch = Path(tempfile.mkdtemp(prefix=f".{doc.id}-members-", dir=work))
        try:
            output = self._rebuild(doc, facts, decision, src, dst, scratch, signed)
            if decision.sign_format is SignFormat.SMIME:  # a mail message as a whole (policy option smime)
                output = self._smime(output)
        except BaseException:
            dst.unlink(missing_ok=True)
            signed.clear()
            if out_dir is None:
                shutil.rmtree(work, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            if temp_src is not None:
                temp_src.unlink(missing_ok=True)
        status = getattr(self._signer, "last_status", None)
        extra = tuple(getattr(status, "warnings", ()) or ())
        if extra:
            decision = replace(decision, warnings=tuple(dict.fromkeys(decision.warnings + extra)))
        return output, decision

    def _rebuild(self, doc: Document, facts: Facts, decision: Decision, src: Path, dst: Path, scratch: Path,
                 signed: dict[str, SignedOutput]) -> SignedOutput:
        from gateway.signing import containers as rebuilders

        chunk = self.settings.signing.chunk_size
        changes: dict[str, rebuilders.Change] = {}
        expected: list[rebuilders.Expected] = []
        names = {_name_key(m.document.name) for m in facts.members}
        for member, md in zip(facts.members, decision.members):
            mdoc, mfacts, mdec = member.document, member.facts, md.decision
            want = [rebuilders.Expected(mdoc.name, mfacts.sha256)]
            if member.role == "document" and mdec.outcome is Outcome.SIGN:
                msrc = Path(mdoc.path)  # the member's private copy in the work directory
                if mfacts.container is not None:
                    out = self._rebuild(mdoc, mfacts, mdec, msrc, scratch / f"{mdoc.id}.c", scratch, signed)
                    changes[member.location] = rebuilders.Change(replacement=out.path)
                    want = [rebuilders.Expected(mdoc.name, out.sha256)]
                elif mdec.sign_format is SignFormat.CADES:
                    p7s_name = _p7s_name(mdoc, names)
                    out = self._check_output(self.signer.sign_detached(msrc, scratch / f"{mdoc.id}.p7s"), msrc)
                    changes[member.location] = rebuilders.Change(beside=((p7s_name, out.path),))
                    want.append(rebuilders.Expected(p7s_name, out.sha256, "cades"))
                else:
                    inspected = mfacts.sha256
                    if mdoc.id in self._repaired:  # repaired before inspection: that copy is what is signed
                        msrc, inspected = self._repaired[mdoc.id]
                    out = self.signer.sign_pdf(msrc, scratch / f"{mdoc.id}.pdf", self._request(mdoc, mfacts, mdec))
                    try:
                        out = self._check_output(out, msrc, inspected)
                    finally:
                        self._drop_repaired()
                    changes[member.location] = rebuilders.Change(replacement=out.path)
                    want = [rebuilders.Expected(mdoc.name, out.sha256, "pades")]
                signed[mdoc.id] = out
            expected.extend(want)
        rebuilders.rebuild(facts.container or "", src, dst, changes)
        try:
            rebuilders.check_rebuilt(dst, facts.media_type, expected, self.settings, chunk, doc.name)
            sha, size = _sha256_size(dst, chunk)
        except BaseException:
            dst.unlink(missing_ok=True)
            raise
        any_signed = next((signed[m.document.id] for m in facts.members if m.document.id in signed), None)
        return SignedOutput(
            path=dst, sha256=sha, size=size, media_type=facts.media_type,
            signer_sha256=any_signed.signer_sha256 if any_signed else "",
            signer_serial=any_signed.signer_serial if any_signed else "",
        )

    def _rehearse(self, doc: Document, facts: Facts, decision: Decision) -> Decision:
        """The dry run's signing: the signer's own reading, writing and output check, with a throw-away key
        instead of the token (which a dry run never touches). What would refuse the document at signing refuses
        it here (PermanentError), so `check` and `sign` agree; when the rehearsal cannot run for a reason of its
        own, the decision says so (DRY_RUN_INCOMPLETE)."""
        if facts.container is not None:
            self._rehearse_container(doc, facts, decision)
            return decision
        if decision.sign_format is SignFormat.CADES:
            return decision  # a detached signature over bytes a reader understood: nothing to rehearse
        from gateway.signing import check, pades

        try:
            base = Path(self.settings.var_dir) / "work"
            base.mkdir(parents=True, exist_ok=True, mode=0o700)
            work = Path(tempfile.mkdtemp(prefix="rehearse-", dir=base))
        except OSError as exc:
            reason = Reason.of("DRY_RUN_INCOMPLETE", detail=f"{type(exc).__name__}: {exc.strerror}")
            return replace(decision, warnings=tuple(dict.fromkeys(decision.warnings + (reason,))))
        try:
            src, _temp = self._source(doc, work)
            dst = work / "rehearsal.pdf"
            request = replace(self._request(doc, facts, decision), level="B-B")  # no timestamp server asked
            done = pades.sign_pdf(src, dst, request, pdf_signer=pades.rehearsal_signer(), settings=self.settings)
            same = (doc.path is None or Path(doc.path) == src) and not done.repaired
            inspected = facts.sha256 if same else None
            if doc.id in self._repaired and not done.repaired:
                inspected = self._repaired[doc.id][1]
            check.check_pdf(dst, done.source, chunk=self.settings.signing.chunk_size, source_sha256=inspected,
                            seconds=float(self.settings.limits.document_seconds))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if done.repairs:
            decision = replace(decision, warnings=tuple(dict.fromkeys(decision.warnings + tuple(done.repairs))))
        return decision

    def _rehearse_container(self, doc: Document, facts: Facts, decision: Decision) -> None:
        """The dry run of a container: its rebuilder run on the members' own bytes and empty .p7s files (no
        signature is made), so what cannot be rebuilt (an embedded object in TNEF, a .p7s name already taken)
        is refused here as at signing (InputRejected). The members' PDF signatures are not rehearsed."""
        work = self._work_dir(None)
        try:
            src, _temp = self._source(doc, work)
            self._rebuild_plan(facts, decision, src, work / "rehearsal", work)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _rebuild_plan(self, facts: Facts, decision: Decision, src: Path, dst: Path, scratch: Path) -> None:
        from gateway.signing import containers as rebuilders

        changes: dict[str, rebuilders.Change] = {}
        names = {_name_key(m.document.name) for m in facts.members}
        for member, md in zip(facts.members, decision.members):
            mdoc, mfacts, mdec = member.document, member.facts, md.decision
            if member.role != "document" or mdec.outcome is not Outcome.SIGN:
                continue
            if mfacts.container is not None:
                self._rebuild_plan(mfacts, mdec, Path(mdoc.path), scratch / f"{mdoc.id}.c", scratch)
                changes[member.location] = rebuilders.Change(replacement=Path(mdoc.path))
            elif mdec.sign_format is SignFormat.CADES:
                empty = scratch / f"{mdoc.id}.p7s"
                empty.write_bytes(b"")
                changes[member.location] = rebuilders.Change(beside=((_p7s_name(mdoc, names), empty),))
            else:
                changes[member.location] = rebuilders.Change(replacement=Path(mdoc.path))
        rebuilders.rebuild(facts.container or "", src, dst, changes)

    def _smime(self, output: SignedOutput) -> SignedOutput:
        """The rebuilt mail message S/MIME-signed as a whole, checked (gateway.signing.message)."""
        from gateway.signing.message import sign_smime

        sign_smime(output.path, self.signer)
        sha, size = _sha256_size(output.path, self.settings.signing.chunk_size)
        mine = self.signer._output(output.path, output.media_type, hashed=False)  # the organisation's certificate
        return replace(output, sha256=sha, size=size, signer_sha256=mine.signer_sha256,
                       signer_serial=mine.signer_serial)

    def _work_dir(self, out_dir: Path | None) -> Path:
        try:
            if out_dir is not None:
                Path(out_dir).mkdir(parents=True, exist_ok=True)
                return Path(out_dir)
            base = Path(self.settings.var_dir) / "work"
            base.mkdir(parents=True, exist_ok=True, mode=0o700)
            if base.stat().st_mode & 0o077:
                os.chmod(base, 0o700)
            return Path(tempfile.mkdtemp(prefix="out-", dir=base))
        except OSError as exc:
            raise StorageUnavailable(f"cannot create output directory: {exc.strerror}") from None

    def _source(self, doc: Document, work: Path) -> tuple[Path, Path | None]:
        """A path to sign from: the document's own, or its bytes written to a private temp file (or the copy
        repaired before inspection)."""
        if doc.id in self._repaired:
            return self._repaired[doc.id][0], None
        if doc.path is not None:
            return Path(doc.path), None
        try:
            fd, name = tempfile.mkstemp(prefix=f".{doc.id}-src-", dir=work)
            with os.fdopen(fd, "wb") as fh:
                fh.write(doc.content or b"")
            return Path(name), Path(name)
        except OSError as exc:
            raise StorageUnavailable(f"cannot write work file: {exc.strerror}") from None

    def _request(self, doc: Document, facts: Facts, decision: Decision):
        from gateway.signing import PdfSignRequest

        d = doc.declared
        form = facts.form
        kind = decision.kind or doc.kind
        anchor = next((s for s in facts.signatures if s.field_name == decision.anchor_field), None)
        # The text block's number (Phụ lục I II.8.b; Phần II): an attachment names the document it belongs to,
        # a copy its own number; what the sender declared first, then what the form shows.
        if kind is DocKind.ATTACHMENT:
            number = d.number or (form.parent_number if form else None)
        elif kind is DocKind.COPY:
            number = d.number or (form.copy_number if form else None)
        else:
            number = d.number or facts.number
        return PdfSignRequest(
            appearance=decision.appearance or Appearance.TEXT,
            kind=kind,
            number=number,
            copy_form=d.copy_form or (form.copy_form if form else None),
            copying_agency=d.copying_agency,
            anchor_field=decision.anchor_field,
            anchor_page=anchor.page if anchor else None,
            anchor_rect=anchor.rect if anchor else None,
            signature_block=_signature_block(form),
        )

    def _forget_repaired(self, doc: Document, facts: Facts | None) -> None:
        """The repaired copies of a document and its members are gone with its work directory."""
        self._repaired.pop(doc.id, None)
        stack = list(facts.members) if facts is not None else []
        while stack:
            m = stack.pop()
            self._repaired.pop(m.document.id, None)
            stack.extend(m.facts.members)

    def _drop_repaired(self) -> None:
        repaired = getattr(self._signer, "last_source", None)
        if repaired is not None:
            Path(repaired).unlink(missing_ok=True)
            self._signer.last_source = None

    def _check_output(self, output: SignedOutput, src: Path, source_sha256: str | None = None) -> SignedOutput:
        """The output check (gateway.signing.check) of what the signer wrote, before anything is released.

        For a PDF the same read yields the output's SHA-256: filled in when the signer left it empty, compared
        when it did not. A failure is permanent (OutputRejected: the document is refused, the output deleted),
        except a signature value the certificate's key does not verify (temporary: the token's fault)."""
        from gateway.signing import check

        chunk = self.settings.signing.chunk_size
        if output.detached:
            check.check_detached(output.path, src, chunk)
            return output
        repaired = getattr(self._signer, "last_source", None)
        if repaired is not None:  # the signer repaired the file first: the update extends the repaired copy
            src, source_sha256 = Path(repaired), None
        sha = check.check_pdf(output.path, src, chunk=chunk, source_sha256=source_sha256,
                              seconds=float(self.settings.limits.document_seconds))
        if not output.sha256:
            return replace(output, sha256=sha)
        if output.sha256 != sha:
            raise check.OutputRejected("signed output changed after signing (SHA-256 differs)",
                                       detail="SHA-256 changed after signing")
        return output

    def _check_inspected(self, output: SignedOutput, src: Path, facts: Facts) -> None:
        """What was signed is exactly what was inspected (issue 15). A PDF: the output check refuses an update
        that does not begin with the inspected bytes (source_sha256 = facts.sha256). A detached signature was
        checked over `src` as it is now: `src` must still hash as inspected. A writer changing the file between
        inspection and signing (a second handle, a swapped link) is caught; nothing is released."""
        if not output.detached or not facts.sha256:
            return
        import hashlib

        h, size = hashlib.sha256(), 0
        with open(src, "rb") as fh:
            while block := fh.read(self.settings.signing.chunk_size):
                h.update(block)
                size += len(block)
        if size != facts.size or h.hexdigest() != facts.sha256:
            log.error("ALERT document changed between inspection and signing (%s); not released", output.path.name)
            raise DocumentChanged("the signed bytes are not the inspected bytes")

    # --- recording -------------------------------------------------------------------------------------

    def _finish(self, doc, facts, decision: Decision, output, started, dry_run, signed=None) -> Result:
        warnings = decision.warnings
        blocked = decision.outcome is Outcome.BLOCK
        if blocked:
            # Alert: operators watch WARNING lines; never the content, only who and where.
            log.warning(
                "BLOCKED state-secret document %s (%s) on %s from %s: %s",
                doc.id, safe_name(doc.name), doc.channel, doc.origin.sender or doc.origin.path or doc.origin.client,
                ", ".join(r.args.get("level", "") + "@" + r.args.get("where", "") for r in decision.reasons),
            )
        duration_ms = (time.monotonic() - started) * 1000
        members: list[MemberResult] = []
        try:
            # the members' records, depth first, then the document's own: one transaction (one commit)
            entries: list[Entry] = []
            if facts is not None and facts.members and decision.members:
                self._member_entries(doc, doc.id, facts, decision, signed or {}, dry_run, "", members, entries)
            extra = {"container": facts.container, "members": len(facts.members)} if facts is not None and (
                facts.container or facts.members) else None
            entries.append(decision_entry(
                doc, outcome=str(decision.outcome), decision=decision, facts=facts, output=output,
                warnings=warnings, duration_ms=duration_ms, dry_run=dry_run, alert=blocked, extra=extra,
            ))
            records = self.audit.append_all(entries)
            rec = records[-1]
            members = [dataclasses.replace(m, record_id=r.id) for m, r in zip(members, records)]
        except Exception as exc:
            if output is not None:
                _remove_output(output)
            if isinstance(exc, AuditUnavailable):
                raise
            raise AuditUnavailable(f"decision log: {type(exc).__name__}") from exc
        if not dry_run and facts is not None:
            self._learn_certificates(facts)
        return Result(
            document_id=doc.id, decision=decision, output=output, record_id=rec.id, warnings=warnings,
            duration_ms=duration_ms, dry_run=dry_run, members=tuple(members),
        )

    def _member_entries(self, container: Document, root_id: str, facts: Facts, decision: Decision,
                        signed: dict[str, SignedOutput], dry_run: bool, prefix: str, out: list[MemberResult],
                        entries: list[Entry]) -> None:
        """One record per member, depth first (metadata only: names, hashes, reasons, never content), each
        with its MemberResult at the same index (its record id given once written)."""
        for member, md in zip(facts.members, decision.members):
            mdoc, d = member.document, md.decision
            path = prefix + (md.name or member.location)
            output = signed.get(mdoc.id)
            entries.append(decision_entry(
                mdoc, outcome=str(d.outcome), decision=d, facts=member.facts, output=output, warnings=d.warnings,
                dry_run=dry_run, alert=d.outcome is Outcome.BLOCK,
                extra={"member": {"container_id": container.id, "root_id": root_id, "location": member.location,
                                  "role": member.role, "path": path}},
            ))
            out.append(MemberResult(member.location, path, member.role, d.outcome, d.reasons,
                                    signed=output is not None, record_id=None))
            if member.facts.members and d.members:
                self._member_entries(mdoc, root_id, member.facts, d, signed, dry_run, path + "/", out, entries)

    def _learn_certificates(self, facts: Facts) -> None:
        """Valid personal signatures passing through feed the certificate inventory (issue: report)."""
        if not any(s.signer_type is SignerType.PERSON and s.valid for s in facts.signatures):
            return
        from gateway.certs import Inventory

        try:  # a by-product: the document's fate never depends on it
            with Inventory(self.audit.path) as inv:
                inv.learn_from_signatures(facts.signatures)
        except Exception as exc:
            log.warning("certificate inventory not updated: %s", type(exc).__name__)

    def _record_failure(self, doc, facts, decision, err: GatewayError, started, dry_run) -> None:
        # Retrying does not cure these (certificate expired/revoked, PIN refused): an operator must act.
        alert = isinstance(err, (SigningCertificateInvalid, PinRejected))
        if alert:
            log.error("ALERT signing stopped: %s: %s (document %s kept by the caller)", err.code, err.message, doc.id)
        else:  # the operator's clue (disk full, token away); the sender is told to try again
            log.warning("document %s not processed now: %s: %s", doc.id, err.code, err.message)
        try:
            self.audit.record_decision(
                doc, outcome=OUTCOME_TEMPORARY, decision=decision, facts=facts, error=err.reason,
                duration_ms=(time.monotonic() - started) * 1000, dry_run=dry_run, alert=alert,
            )
        except Exception:
            log.error("decision log unavailable while recording a failure for %s", doc.id)


def _p7s_name(mdoc: Document, names: set) -> str:
    """The name of a member's .p7s beside it; refused when a file of that name is already there."""
    p7s_name = f"{mdoc.name}.p7s"
    if _name_key(p7s_name) in names:
        raise InputRejected("signature name taken", code="CONTAINER_UNSAFE_ENTRY", name=p7s_name,
                            detail="a file of that name is already there")
    return p7s_name


def _signature_block(form):
    """(page, box) of the signature block the form found (the seal's anchor when no widget is visible)."""
    block = form.signature_block if form is not None else None
    if block is None or block.page is None or block.box is None:
        return None
    return block.page, block.box


def _any_secrecy(facts: Facts) -> bool:
    return bool(facts.secrecy) or any(_any_secrecy(m.facts) for m in facts.members)


def _name_key(name: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFC", name).casefold()


def _sha256_size(path: Path, chunk: int) -> tuple[str, int]:
    import hashlib

    h, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def document_fault(exc: BaseException) -> bool:
    """An exception nothing classified, raised while reading or signing one document: the document's fault
    (after one retry). The system's faults are classified where they happen (TemporaryError: token, log,
    timestamp server; OSError: disk) or are the interpreter's own (memory)."""
    if isinstance(exc, (GatewayError, OSError, MemoryError, KeyboardInterrupt, SystemExit)):
        return False
    # the token's library, should an error of it escape gateway.signing.keys
    return not type(exc).__module__.startswith(("pkcs11", "sqlite3"))


def _repairable(facts: Facts | None) -> bool:
    """A PDF the inspection could not open at all, with nothing in it that looks signed or encrypted."""
    return (facts is not None and facts.is_pdf and facts.broken and not facts.encrypted and not facts.signatures
            and facts.container is None and not facts.members)


def _remove_output(output: SignedOutput) -> None:
    output.path.unlink(missing_ok=True)
    parent = output.path.parent
    if parent.name.startswith("out-"):
        shutil.rmtree(parent, ignore_errors=True)


class DocumentChanged(TemporaryError):
    """The document's bytes changed between inspection and signing: not released, alert raised."""

    code = "DOCUMENT_CHANGED"
