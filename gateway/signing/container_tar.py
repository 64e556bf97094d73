"""The tar rebuilder: every entry again in order with its own header (name, mode, owner, times, PAX fields);
changed members get their new bytes, a `.p7s` follows the member it signs with the member's owner and time.
Written in GNU format, or PAX when the source used PAX headers (so nothing they carried is lost)."""

from __future__ import annotations

import copy
import tarfile
from pathlib import Path
from typing import Mapping

from gateway.inspect.container_tar import index_from
from gateway.signing.containers import Change, rebuilder


@rebuilder("tar")
def rebuild_tar(source: Path, destination: Path, changes: Mapping[str, Change]) -> None:
    by_index = {index_from(loc): ch for loc, ch in changes.items()}
    with tarfile.open(source, "r:") as tin:
        entries = tin.getmembers()
        fmt = tarfile.PAX_FORMAT if any(e.pax_headers for e in entries) else tarfile.GNU_FORMAT
        with tarfile.open(destination, "w:", format=fmt) as tout:
            for i, info in enumerate(entries):
                change = by_index.get(i)
                if change is not None and change.replacement is not None:
                    new = copy.copy(info)
                    new.size = change.replacement.stat().st_size
                    new.pax_headers = {k: v for k, v in info.pax_headers.items() if k != "size"}
                    with open(change.replacement, "rb") as fh:
                        tout.addfile(new, fh)
                elif info.isreg():
                    with tin.extractfile(info) as fh:
                        tout.addfile(info, fh)
                else:
                    tout.addfile(info)
                for name, path in change.beside if change is not None else ():
                    sig = tarfile.TarInfo(name)
                    sig.size = path.stat().st_size
                    sig.mtime, sig.mode = info.mtime, 0o644
                    sig.uid, sig.gid, sig.uname, sig.gname = info.uid, info.gid, info.uname, info.gname
                    with open(path, "rb") as fh:
                        tout.addfile(sig, fh)
