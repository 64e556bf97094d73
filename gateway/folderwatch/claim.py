"""Taking a file out of the inbox: one atomic rename into a private claim directory, then a private copy.

A claim directory `<work>/<claim id>/` (0700, like everything in the work area) holds `claim.json` (written
before anything moves), `meta/` (the sidecar, moved first), `doc/<name>` (the inbox entry as taken: renamed,
never followed, never read by path), `copy/document` (the private copy every later step uses — see
gateway.folderwatch.secure), `refused.json` (when the entry could not be taken: a link, a FIFO, too large,
sparse), later `result.json` (the decision, once known) and `steps/` (one marker per delivery step). A
restart finds every claim still there and finishes it.

Names: the inbox name is kept as the document's name and in every note; outputs use `out_name`, the same name
shortened when it leaves no room for the gateway's suffixes within 255 bytes (fsops.fit_name).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gateway.errors import InputRejected
from gateway.folderwatch import fsops
from gateway.folderwatch.layout import Watch
from gateway.folderwatch.secure import private_copy
from gateway.folderwatch.stability import SIDECAR
from gateway.model import Reason

log = logging.getLogger("gateway.folderwatch")

DONE_SUFFIX = ".done"


def new_claim_id() -> str:
    # Sortable by time, unique without coordination.
    return time.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(6)


@dataclass(frozen=True)
class Claim:
    watch: str
    id: str
    dir: Path
    rel: str  # path relative to the inbox, '/'-separated
    sidecar: str | None  # sidecar name as found in the inbox, if any

    @property
    def name(self) -> str:
        return PurePosixPath(self.rel).name

    @property
    def rel_dir(self) -> str:
        parent = str(PurePosixPath(self.rel).parent)
        return "" if parent == "." else parent

    @property
    def out_name(self) -> str:
        """The name outputs and notes get: the inbox name, shortened if it leaves no room for suffixes."""
        return fsops.fit_name(self.name)

    @property
    def shortened(self) -> bool:
        return self.out_name != self.name

    @property
    def taken(self) -> Path:
        """The inbox entry as renamed into the claim (possibly still written to by whoever holds it open)."""
        return self.dir / "doc" / self.name

    @property
    def doc(self) -> Path:
        """The private copy: the only bytes inspected, signed and delivered."""
        return self.dir / "copy" / "document"

    @property
    def refused_file(self) -> Path:
        return self.dir / "refused.json"

    def refusal(self) -> Reason | None:
        info = fsops.read_json(self.refused_file)
        return Reason.of(info["code"], **info.get("params", {})) if info else None

    @property
    def meta(self) -> Path | None:
        return self.dir / "meta" / self.sidecar if self.sidecar else None

    @property
    def result_file(self) -> Path:
        return self.dir / "result.json"

    def step(self, name: str) -> Path:
        return self.dir / "steps" / f"{name}.json"

    def sidecar_name_for(self, final_name: str) -> str:
        """The sidecar's name beside the document once placed (always the full-name style)."""
        return final_name + SIDECAR


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:  # gone, or a name too long to carry a suffix (ENAMETOOLONG): not there
        return False


def find_sidecar(doc: Path) -> Path | None:
    """`a.pdf.meta.json`, else `a.meta.json`, beside the document."""
    for cand in (doc.name + SIDECAR, (doc.stem or doc.name) + SIDECAR):
        if len(cand.encode("utf-8", "surrogateescape")) <= 255 and _regular(doc.with_name(cand)):
            return doc.with_name(cand)
    return None


def take(watch: Watch, rel: str) -> Claim | None:
    """Claim inbox/rel (and its sidecar). None when the file is gone (someone else took it) or is not a
    regular file now (a hint only: the claimed entry is checked again on its own descriptor)."""
    src = watch.inbox / rel
    if not _regular(src):
        return None
    sidecar = find_sidecar(src)
    cid = new_claim_id()
    cdir = watch.work / cid
    watch.work.mkdir(parents=True, exist_ok=True, mode=0o700)
    cdir.mkdir(mode=0o700)
    (cdir / "doc").mkdir(mode=0o700)
    claim = Claim(watch.name, cid, cdir, rel, sidecar.name if sidecar else None)
    fsops.write_json(cdir / "claim.json", {"watch": watch.name, "id": cid, "rel": rel, "sidecar": claim.sidecar,
                                           "claimed_at": time.time()})
    if sidecar is not None:
        # The sidecar first: a crash between the two renames leaves a claim with no document, undone below.
        (cdir / "meta").mkdir(mode=0o700)
        try:
            os.rename(sidecar, claim.meta)
        except FileNotFoundError:
            claim = Claim(watch.name, cid, cdir, rel, None)
    try:
        os.rename(src, claim.taken)  # moves the entry itself: a link stays a link, never its target
    except FileNotFoundError:
        undo(watch, claim)
        return None
    fsops.fsync_dir(claim.taken.parent)
    fsops.fsync_dir(src.parent)
    return claim


def secure(claim: Claim, max_bytes: int) -> Reason | None:
    """Make the private copy (claim.doc) from the taken entry, once. Returns why the entry cannot be taken
    (kept in refused.json, so a restart says the same), or None. Raises StillChanging / OSError (retry)."""
    refused = claim.refusal()
    if refused is not None:
        return refused
    if not os.path.lexists(claim.doc):
        claim.doc.parent.mkdir(mode=0o700, exist_ok=True)
        try:
            private_copy(claim.taken, claim.doc, max_bytes=max_bytes)
        except InputRejected as exc:
            fsops.write_json(claim.refused_file, {"code": exc.code, "params": dict(exc.params)}, 0o600)
            return exc.reason
        fsops.fsync_dir(claim.doc.parent)
    # The copy is complete once it has its name (renamed after fsync): the taken entry is no longer needed.
    if os.path.lexists(claim.taken):
        os.unlink(claim.taken)
        fsops.fsync_dir(claim.taken.parent)
    return None


def undo(watch: Watch, claim: Claim) -> None:
    """Give an untouched claim back: the taken entry and sidecar back to the inbox, claim directory removed."""
    dest = watch.inbox / claim.rel_dir
    for path, name in ((claim.taken, claim.name), (claim.meta, claim.sidecar)):
        if path is not None and os.path.lexists(path):
            dest.mkdir(parents=True, exist_ok=True)
            fsops.place(claim.dir / f"undo-{path.parent.name}.json", path, dest, name)
    finish(claim)


def finish(claim: Claim) -> None:
    """Forget a claim: rename its directory aside first, so a crash mid-removal is not mistaken for work."""
    gone = claim.dir.with_name(claim.dir.name + DONE_SUFFIX)
    try:
        os.rename(claim.dir, gone)
    except FileNotFoundError:
        return
    fsops.remove_tree(gone)


def load(watch: Watch, cdir: Path) -> Claim | None:
    """A claim found in the work area after a restart; None (and cleaned up) when nothing was taken."""
    info = None
    try:
        info = fsops.read_json(cdir / "claim.json")
    except ValueError:
        pass
    if not info:
        # Crashed while writing claim.json: nothing had moved yet.
        if any(any((cdir / sub).iterdir()) for sub in ("doc", "meta") if (cdir / sub).is_dir()):
            log.error("folder claim %s has files but no claim.json; left for an operator", cdir)
            return None
        fsops.remove_tree(cdir)
        return None
    claim = Claim(watch.name, info["id"], cdir, info["rel"], info.get("sidecar"))
    if claim.meta is not None and not claim.meta.exists():
        claim = Claim(watch.name, claim.id, cdir, claim.rel, None)
    if not claim.result_file.exists() and not os.path.lexists(claim.doc) and not os.path.lexists(claim.taken):
        undo(watch, claim)  # the document never left the inbox
        return None
    return claim


def pending_claims(watch: Watch) -> list[Claim]:
    """Every claim left in the work area (after a crash), oldest first; leftovers of finished ones removed."""
    found: list[Claim] = []
    for entry in sorted(watch.work.iterdir()):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        if entry.name.endswith(DONE_SUFFIX):
            fsops.remove_tree(entry)
            continue
        claim = load(watch, entry)
        if claim is not None:
            found.append(claim)
    live = {c.id for c in found}
    if watch.out_tmp.is_dir():
        for out in watch.out_tmp.iterdir():
            if out.name not in live:  # an output whose claim is gone (finished or given back)
                fsops.remove_tree(out)
    return found
