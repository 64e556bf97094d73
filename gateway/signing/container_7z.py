"""The 7z rebuilder (py7zr): the same files and folders in the same order, each file's modification time and
attributes copied; changed members get their new bytes, a `.p7s` follows the member it signs. The archive is
compressed afresh (LZMA2, py7zr's default); every unchanged member's content is the same byte for byte."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Mapping

from gateway.inspect.container_7z import index_from
from gateway.signing.containers import Change, rebuilder


def _copy_times(out, f) -> None:
    info = out.header.files_info.files[-1]
    for key in ("lastwritetime", "creationtime", "lastaccesstime", "attributes"):
        value = f._get_property(key)
        if value is not None:
            info[key] = value


@rebuilder("7z")
def rebuild_7z(source: Path, destination: Path, changes: Mapping[str, Change]) -> None:
    import py7zr

    by_index = {index_from(loc): ch for loc, ch in changes.items()}
    # Unchanged members are decoded next to the destination (the pipeline's private work directory).
    with open(source, "rb") as fh, py7zr.SevenZipFile(fh, "r") as arc, \
            tempfile.TemporaryDirectory(prefix=".7z-", dir=destination.parent) as tmp:
        files = list(arc.files)
        replaced = {i for i, ch in by_index.items() if ch.replacement is not None}
        payload = {f.filename for i, f in enumerate(files) if not f.is_directory and i not in replaced}
        if payload:
            arc.extract(path=tmp, targets=sorted(payload))
        with py7zr.SevenZipFile(destination, "w") as out:
            for i, f in enumerate(files):
                change = by_index.get(i)
                if f.is_directory:
                    d = Path(tmp) / ".dirs" / str(i)
                    d.mkdir(parents=True)
                    out.write(d, arcname=f.filename)
                else:
                    src = change.replacement if change is not None and change.replacement else Path(tmp) / f.filename
                    with open(src, "rb") as data:
                        out.writef(data, f.filename)
                _copy_times(out, f)
                for name, path in change.beside if change is not None else ():
                    with open(path, "rb") as data:
                        out.writef(data, name)
