"""The folders of one watch, resolved from settings: where files come in, go out, and wait meanwhile."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import ConfigError
from gateway.model import DocKind
from gateway.folderwatch.fsops import same_fs

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Watch:
    name: str
    inbox: Path
    signed: Path
    rejected: Path
    archive: Path | None
    quarantine: Path | None  # None: blocked files are left in place, untouched
    kind: DocKind | None  # None: from the sidecar (default correspondence)
    recursive: bool
    patterns: tuple[str, ...]
    work: Path  # claims live here, on the inbox's filesystem
    out_tmp: Path  # engine output goes here first, on the signed folder's filesystem

    @property
    def blocked_state(self) -> Path:
        return self.work / "blocked.json"

    def out_dir(self, claim_id: str) -> Path:
        return self.out_tmp / claim_id


def resolve_watches(settings) -> list[Watch]:
    """Build the watches, creating their folders. Raises ConfigError on unusable layouts."""
    fs = settings.folders
    work_root = Path(fs.work_dir).absolute()
    seen: set[str] = set()
    out: list[Watch] = []
    for w in fs.watches:
        if not _SAFE_NAME.match(w.name) or w.name in seen:
            raise ConfigError(f"folder watch name must be unique and [A-Za-z0-9_.-]: {w.name!r}", detail="folders.watches.name")
        seen.add(w.name)
        inbox, signed, rejected = (Path(p).absolute() for p in (w.inbox, w.signed, w.rejected))
        archive = Path(w.archive).absolute() if w.archive else None
        quarantine = Path(w.quarantine).absolute() if w.quarantine else None
        for p in (inbox, signed, rejected, archive):
            if p is not None:
                p.mkdir(parents=True, exist_ok=True)
        if quarantine is not None:
            # Owned by the security officer: nobody else reads secret-marked files here.
            quarantine.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(quarantine, 0o700)
        for p in (signed, rejected, archive, quarantine):
            if p is not None and (p == inbox or (w.recursive and inbox in p.parents)):
                raise ConfigError(f"folder {p} must not be inside the inbox {inbox}", detail="folders.watches")
        work_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Claims are atomic renames: the work area must be on the inbox's filesystem.
        work = work_root / w.name if same_fs(work_root, inbox) else inbox.parent / f".kyso-work-{w.name}"
        work.mkdir(parents=True, exist_ok=True, mode=0o700)
        out_tmp = work / ".out" if same_fs(work, signed) else signed / ".kyso-tmp"
        out_tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
        kind = None if w.kind == "sidecar" else DocKind(w.kind)
        out.append(
            Watch(w.name, inbox, signed, rejected, archive, quarantine, kind, w.recursive, tuple(w.patterns), work, out_tmp)
        )
    return out
