"""One claimed file, start to finish: secure it, decide once (persisted), deliver step by step, record, forget.

Every step can be repeated after a crash without producing anything twice: the verdict is stored in the
claim before anything is delivered, and each delivery step is journalled (gateway.folderwatch.fsops).
The original leaves the work area only after the output is safely in place.

What is inspected, signed and delivered is the claim's private copy (gateway.folderwatch.secure), never the
inbox entry itself. Files delivered into folders shared with clerks (signed/, rejected/, archive/, the
inbox) take the folder's own access (fsops.shared_mode); quarantine and the work area stay 0700/0600.
Every file ends somewhere with a note when it is not signed, and a shortened name always has one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from datetime import datetime, timezone
import stat
from pathlib import Path

from gateway.errors import PermanentError
from gateway.folderwatch import claim as claims
from gateway.folderwatch import fsops, mapping, notes
from gateway.folderwatch.claim import Claim
from gateway.folderwatch.layout import Watch
from gateway.folderwatch.mapping import Verdict
from gateway.folderwatch.sidecar import BadSidecar, document_kind, read_sidecar
from gateway.folderwatch.state import BlockedFiles
from gateway.model import Channel, Declared, Document, Origin, Outcome
from gateway.reasons import render

log = logging.getLogger("gateway.folderwatch")

P7S = ".p7s"
META = ".meta.json"


async def record(engine, event: str, *, alert: bool = False, **fields) -> int | None:
    """A door-level record in the decision log; a blocking record_event runs off the event loop."""
    fn = engine.record_event
    if inspect.iscoroutinefunction(fn):
        rec = await fn(Channel.FOLDER.value, event, alert=alert, **fields)
    else:
        rec = await asyncio.to_thread(fn, Channel.FOLDER.value, event, alert=alert, **fields)
    return rec if isinstance(rec, int) or rec is None else getattr(rec, "id", None)


class ClaimWorker:
    def __init__(self, engine, watch: Watch, blocked: BlockedFiles, *, max_bytes: int = 512 * 1024 * 1024) -> None:
        self.engine = engine
        self.watch = watch
        self.blocked = blocked
        self._held: dict[str, tuple[datetime, int]] = {}  # claim id -> (held since, attempts)
        self.max_bytes = max_bytes  # settings.limits.max_document_bytes: larger files are refused unread

    async def run(self, claim: Claim) -> Verdict:
        """Decide (unless already decided), deliver, record, forget. Raises when the file must wait; then a
        note where the file was (NAME.dang-cho.txt in the inbox) tells the clerk why, until it is done."""
        try:
            verdict = await self._run(claim)
        except Exception as exc:
            await asyncio.to_thread(self._note_held, claim, exc)
            raise
        self._held.pop(claim.id, None)
        await asyncio.to_thread(notes.remove_held_note, self.watch.inbox / claim.rel_dir, claim.out_name)
        return verdict

    def _note_held(self, claim: Claim, exc: BaseException) -> None:
        since, attempts = self._held.get(claim.id, (datetime.now(timezone.utc), 0))
        self._held[claim.id] = (since, attempts + 1)
        try:
            # out_name: a 255-byte name leaves no room for the note's suffix; the note names the original
            notes.write_held_note(self.watch.inbox / claim.rel_dir, claim.out_name, claim.rel,
                                  mapping.retry_reason(exc), attempts + 1, since, mode=fsops.shared_mode(self.watch.inbox))
        except OSError as err:  # the note is a courtesy: the file itself stays safe in its claim
            log.warning("folder %s: cannot write the waiting note for %s: %s", self.watch.name, claim.rel, err.strerror)

    async def _run(self, claim: Claim) -> Verdict:
        try:
            verdict = await asyncio.to_thread(_load_verdict, claim)
        except ValueError:
            verdict = None  # a torn result.json cannot exist (atomic write); be safe and decide again
        if verdict is not None and verdict.output and not claim.step("out").exists() \
                and not claim.step("sig").exists() and not os.path.exists(verdict.output):
            verdict = None  # the signed output vanished before it was placed (someone cleaned up): sign again
        if verdict is None:
            verdict = await self.decide(claim)
            await asyncio.to_thread(fsops.write_json, claim.result_file, verdict.to_json())
        placed = await asyncio.to_thread(self.deliver, claim, verdict)
        if not claim.step("recorded").exists():
            await self._record_delivery(claim, verdict, placed)
            await asyncio.to_thread(fsops.write_json, claim.step("recorded"), {"done": True})
        await asyncio.to_thread(claims.finish, claim)
        return verdict

    # --- deciding --------------------------------------------------------------------------------

    async def decide(self, claim: Claim) -> Verdict:
        refused = await asyncio.to_thread(claims.secure, claim, self.max_bytes)
        if refused is not None:
            rid = await record(self.engine, "folder.refused", watch=self.watch.name, path=claim.rel, claim=claim.id,
                               reason=refused.code, **dict(refused.params))
            return mapping.refused_for(refused, rid)
        declared = Declared()
        if claim.meta is not None:
            try:
                declared = await asyncio.to_thread(read_sidecar, claim.meta)
            except BadSidecar as exc:
                rid = await record(self.engine, "folder.bad-metadata", watch=self.watch.name, path=claim.rel,
                                   claim=claim.id, reason="BAD_METADATA", detail=str(exc))
                return mapping.bad_metadata(str(exc), rid)
        out_dir = self.watch.out_dir(claim.id)
        await asyncio.to_thread(_fresh_dir, out_dir)
        doc = Document(
            channel=Channel.FOLDER,
            name=claim.name,
            path=claim.doc,
            kind=document_kind(self.watch.kind, declared),
            origin=Origin(path=claim.rel),
            declared=declared,
        )
        try:
            result = await self.engine.submit(doc, out_dir=out_dir)
        except PermanentError as exc:
            rid = await record(self.engine, "folder.refused", watch=self.watch.name, path=claim.rel, claim=claim.id,
                               reason=exc.code)
            return mapping.refused(exc, rid)
        verdict = mapping.from_result(result)
        if verdict.output is not None:
            await asyncio.to_thread(_private_output, Path(verdict.output))
        return verdict

    # --- delivering (blocking; runs in a thread) ----------------------------------------------------

    def deliver(self, claim: Claim, v: Verdict) -> dict[str, str]:
        w = self.watch
        sub = claim.rel_dir
        meta_tail = (META,) if claim.meta is not None else ()
        tails = notes.TAILS if claim.shortened else ()
        placed: dict[str, str] = {}
        if v.outcome is Outcome.SIGN:
            dest = _shared_dir(w.signed, sub)
            mode = fsops.shared_mode(w.signed)
            out = Path(v.output or "")
            if v.detached:
                final = self._place_detached(claim, out, dest, meta_tail + tails, mode)
                placed["signature"] = str(final.with_name(final.name + P7S))
            else:
                final = self._put(claim, "out", out, dest, claim.out_name, (P7S,) + meta_tail + tails, mode)
            placed["output"] = str(final)
            self._renamed_note(claim, v, final, mode)
            self._move_meta(claim, final, mode)
            self._dispose_original(claim, placed)
        elif v.outcome is Outcome.PASS:
            dest = _shared_dir(w.signed, sub)
            mode = fsops.shared_mode(w.signed)
            if w.archive is not None:
                final = fsops.copy_place(claim.step("out"), claim.doc, dest, claim.out_name, f"{claim.id}-out",
                                         (P7S,) + meta_tail + tails, mode=mode)
            else:
                final = fsops.move(claim.step("out"), claim.doc, dest, claim.out_name, f"{claim.id}-out",
                                   (P7S,) + meta_tail + tails, mode=mode)
            placed["output"] = str(final)
            self._renamed_note(claim, v, final, mode)
            self._move_meta(claim, final, mode)
            self._dispose_original(claim, placed)
        elif v.outcome is Outcome.REJECT:
            dest = _shared_dir(w.rejected, sub)
            mode = fsops.shared_mode(w.rejected)
            if os.path.lexists(claim.doc) or claim.step("out").exists():
                final = fsops.move(claim.step("out"), claim.doc, dest, claim.out_name, f"{claim.id}-out",
                                   notes.TAILS + meta_tail, mode=mode)
            else:
                final = self._reject_taken(claim, dest, meta_tail, mode)
            notes.write_notes(dest, final.name, v, original=claim.rel, watch=w.name, claim_id=claim.id, mode=mode,
                              shortened=claim.shortened)
            placed["rejected"] = str(final)
            self._move_meta(claim, final, mode)
        else:
            placed.update(self._block(claim, v))
        fsops.remove_tree(w.out_dir(claim.id))
        return placed

    def _reject_taken(self, claim: Claim, dest: Path, meta_tail: tuple[str, ...], mode: int) -> Path:
        """The inbox entry could not be taken (a link, a FIFO, too large, sparse). A link or any other
        non-file is removed — it is not a document, and placing it in a shared folder would hand its target
        to whoever opens it there; the notes say so. A regular file goes to rejected/ as it is — renamed,
        never opened or copied (a 100 GB sparse file is not copied to another disk); on another filesystem it
        is removed instead. Returns the name the notes belong to."""
        marker = claim.step("out")
        taken = claim.taken
        try:
            regular = stat.S_ISREG(os.lstat(taken).st_mode)
        except FileNotFoundError:
            regular = False
        if marker.exists() or (regular and fsops.same_fs(taken.parent, dest)):
            if regular:
                os.chmod(taken, mode)
            return fsops.place(marker, taken, dest, claim.out_name, notes.TAILS + meta_tail)
        if os.path.lexists(taken):
            os.unlink(taken)
            fsops.fsync_dir(taken.parent)
        return dest / fsops.free_name(dest, claim.out_name, notes.TAILS + meta_tail)

    def _renamed_note(self, claim: Claim, v: Verdict, final: Path, mode: int) -> None:
        """A shortened name always gets notes beside the output: the original name is in them."""
        if claim.shortened:
            notes.write_notes(final.parent, final.name, v, original=claim.rel, watch=self.watch.name,
                              claim_id=claim.id, mode=mode, shortened=True)

    def _place_detached(self, claim: Claim, sig: Path, dest: Path, meta_tail: tuple[str, ...], mode: int) -> Path:
        """A copy of the original and its .p7s under one name, the signature first: whoever watches
        signed/ never sees the document without its signature. One journalled step (marker "out")."""
        marker = claim.step("out")
        journal = fsops.read_json(marker)
        if journal is not None and not journal.get("group"):
            # Journalled by an earlier version (document first, then "sig"): finish it the way it began.
            final = fsops.copy_place(marker, claim.doc, dest, claim.out_name, f"{claim.id}-out", (P7S,) + meta_tail,
                                     mode=mode)
            self._put(claim, "sig", sig, dest, final.name + P7S, (), mode)
            return final
        doc_tmp = dest / f".kyso-{claim.id}-out.part"
        # The engine's output is ours to move; a copy only when signed/ is on another filesystem (the engine's
        # output is removed once the group is placed, so a finished step never copies again).
        cross = os.path.lexists(sig) and not fsops.same_fs(sig.parent, dest)
        sig_tmp = dest / f".kyso-{claim.id}-sig.part" if cross else sig
        if journal is None:  # not started, or copies cut short by a crash: (re)make them
            dest.mkdir(parents=True, exist_ok=True)
            doc_tmp.unlink(missing_ok=True)
            fsops.copy_streamed(claim.doc, doc_tmp)
            if cross:
                sig_tmp.unlink(missing_ok=True)
                fsops.copy_streamed(sig, sig_tmp)
        final = fsops.place_group(marker, [(sig_tmp, P7S), (doc_tmp, "")], dest, claim.out_name, meta_tail, mode=mode)
        if cross:
            sig.unlink(missing_ok=True)
        return final

    def _put(self, claim: Claim, step: str, src: Path, dest: Path, name: str, tails=(), mode: int | None = None) -> Path:
        """Place an engine output (ours to move) into dest, copying when it is on another filesystem."""
        marker = claim.step(step)
        if os.path.lexists(src) and not fsops.same_fs(src.parent, dest):
            return fsops.move(marker, src, dest, name, f"{claim.id}-{step}", tails, mode=mode)
        return fsops.place(marker, src, dest, name, tails, mode=mode)

    def _move_meta(self, claim: Claim, final: Path, mode: int | None = None) -> None:
        if claim.meta is not None and (claim.meta.exists() or claim.step("meta").exists()):
            fsops.move(claim.step("meta"), claim.meta, final.parent, claim.sidecar_name_for(final.name),
                       f"{claim.id}-meta", mode=mode)

    def _dispose_original(self, claim: Claim, placed: dict[str, str]) -> None:
        """The original goes to the archive (dated by its claim) or away — only after the output is safe."""
        w = self.watch
        if w.archive is not None and (claim.doc.exists() or claim.step("orig").exists()):
            day = f"{claim.id[0:4]}-{claim.id[4:6]}-{claim.id[6:8]}"
            final = fsops.move(claim.step("orig"), claim.doc, _shared_dir(w.archive, f"{day}/{claim.rel_dir}".rstrip("/")),
                               claim.out_name, f"{claim.id}-orig", mode=fsops.shared_mode(w.archive))
            placed["archived"] = str(final)
        elif claim.doc.exists():
            claim.doc.unlink()

    def _block(self, claim: Claim, v: Verdict) -> dict[str, str]:
        """Secret-marked: content kept in no gateway folder. Quarantine (0700/0600), or back where it was."""
        w = self.watch
        meta_tail = (META,) if claim.meta is not None else ()
        self._clerk_notes(claim, v)
        if w.quarantine is not None:
            dest = w.quarantine / claim.rel_dir
            _private_dirs(w.quarantine, dest)
            final = fsops.move(claim.step("out"), claim.doc, dest, claim.out_name, f"{claim.id}-out",
                               notes.TAILS + meta_tail, mode=0o600)
            notes.write_notes(dest, final.name, v, original=claim.rel, watch=w.name, claim_id=claim.id, mode=0o600,
                              shortened=claim.shortened)
            self._move_meta(claim, final, 0o600)
            return {"quarantined": str(final)}
        dest = w.inbox / claim.rel_dir
        digest = None
        if claim.doc.exists():
            # Remember it before it reappears, so the watcher does not take it again (a rename keeps
            # size and mtime; the name is confirmed below if a newcomer took it meanwhile).
            st = claim.doc.stat()
            digest = fsops.sha256_file(claim.doc)
            name = fsops.free_name(dest, claim.out_name)
            self.blocked.remember(_rel(claim.rel_dir, name), st.st_size, st.st_mtime_ns, digest)
        final = fsops.place(claim.step("out"), claim.doc, dest, claim.out_name, mode=fsops.shared_mode(w.inbox))
        if final.exists():  # (after a restart, someone may have taken it away meanwhile)
            st = final.stat()
            self.blocked.remember(_rel(claim.rel_dir, final.name), st.st_size, st.st_mtime_ns,
                                  digest or fsops.sha256_file(final))
        if claim.meta is not None and (claim.meta.exists() or claim.step("meta").exists()):
            fsops.place(claim.step("meta"), claim.meta, dest, claim.sidecar)
        return {"left_in_place": str(final)}

    def _clerk_notes(self, claim: Claim, v: Verdict) -> None:
        """The clerk looks in rejected/: the reason goes there, the content never does (it is secret)."""
        dest = _shared_dir(self.watch.rejected, claim.rel_dir)
        stem, ext = os.path.splitext(claim.out_name)
        name, n = claim.out_name, 0
        while True:  # our own note from before a restart is rewritten; anybody else's name is kept
            note = dest / (name + notes.DECISION)
            mine = note.exists() and (fsops.read_json(note) or {}).get("claim") == claim.id
            if mine or not (note.exists() or (dest / name).exists()):
                break
            n += 1
            name = f"{stem} ({n}){ext}"
        notes.write_notes(dest, name, v, original=claim.rel, watch=self.watch.name, claim_id=claim.id,
                          mode=fsops.shared_mode(self.watch.rejected), shortened=claim.shortened)

    async def _record_delivery(self, claim: Claim, v: Verdict, placed: dict[str, str]) -> None:
        w = self.watch
        reasons = [r.code for r in v.reasons]
        if v.outcome is Outcome.BLOCK:
            where = placed.get("quarantined") or placed.get("left_in_place")
            log.warning(
                "CẢNH BÁO: tài liệu mang dấu mật bị chặn / ALERT: secret-marked document blocked: watch=%s file=%s "
                "-> %s (%s) record=%s", w.name, claim.rel, where, ", ".join(reasons), v.record_id)
            await record(self.engine, "folder.blocked", alert=True, watch=w.name, path=claim.rel, claim=claim.id,
                         document_id=v.document_id, decision_record=v.record_id, reasons=reasons, **placed)
            return
        await record(self.engine, "folder.delivered", watch=w.name, path=claim.rel, claim=claim.id,
                     outcome=v.outcome.value, document_id=v.document_id, decision_record=v.record_id,
                     reasons=reasons, **placed)
        log.info("folder %s: %s -> %s (%s)", w.name, claim.rel, v.outcome.value,
                 "; ".join(render(r).code for r in v.reasons))


def _load_verdict(claim: Claim) -> Verdict | None:
    data = fsops.read_json(claim.result_file)
    return Verdict.from_json(data) if data else None


def _private_output(path: Path) -> None:
    """The engine's output waits in the private out area as 0600 (whatever the worker's umask) until it is
    placed with its folder's mode; fsynced before the verdict naming it is written."""
    os.chmod(path, fsops.PRIVATE_FILE)
    fsops.fsync_file(path)


def _shared_dir(root: Path, sub: str) -> Path:
    """root/sub, any missing level created with root's own mode (a clerks' folder stays shared below)."""
    dest = root / sub if sub else root
    if sub:
        fsops.make_dirs(dest, like=root)
    else:
        dest.mkdir(parents=True, exist_ok=True)
    return dest


def _fresh_dir(path: Path) -> None:
    fsops.remove_tree(path)  # a half-written output from before a crash
    path.mkdir(parents=True, mode=0o700)


def _private_dirs(root: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    p = dest
    while p != root and root in p.parents:
        os.chmod(p, 0o700)
        p = p.parent


def _rel(rel_dir: str, name: str) -> str:
    return f"{rel_dir}/{name}" if rel_dir else name
