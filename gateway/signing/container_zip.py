"""The ZIP rebuilder: the same entries in the same order, with the same names, times, attributes and comments;
changed members get their new bytes, and a `.p7s` is inserted right after the member it signs.

Every member is written again through zipfile with its own compression method (the archive's bytes are new;
every member's content is the same byte for byte unless it was signed). The ZIP64 extra field is left to
zipfile to write afresh; other extra fields (time stamps, Unicode paths) are kept.
"""

from __future__ import annotations

import shutil
import struct
import zipfile
from pathlib import Path
from typing import Mapping

from gateway.inspect.container_zip import METHODS, index_of
from gateway.signing.containers import Change, rebuilder

CHUNK = 1024 * 1024
_ZIP64_EXTRA = 0x0001


def _extra_without_zip64(extra: bytes) -> bytes:
    out, i = bytearray(), 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        if tag != _ZIP64_EXTRA:
            out += extra[i : i + 4 + size]
        i += 4 + size
    return bytes(out)


def _info_like(info: zipfile.ZipInfo, name: str | None = None) -> zipfile.ZipInfo:
    new = zipfile.ZipInfo(name or info.filename, date_time=info.date_time)
    new.compress_type = info.compress_type if info.compress_type in METHODS else zipfile.ZIP_DEFLATED
    new.comment = info.comment if name is None else b""
    new.extra = _extra_without_zip64(info.extra) if name is None else b""
    new.create_system = info.create_system
    new.create_version = info.create_version
    new.external_attr = info.external_attr
    new.internal_attr = info.internal_attr if name is None else 0
    new.flag_bits = info.flag_bits & 0x800  # keep "name is UTF-8"; zipfile sets the rest itself
    return new


def _write(zout: zipfile.ZipFile, info: zipfile.ZipInfo, src, size: int) -> None:
    info.file_size = size
    with zout.open(info, "w", force_zip64=size >= zipfile.ZIP64_LIMIT) as dst:
        shutil.copyfileobj(src, dst, CHUNK)


@rebuilder("zip")
def rebuild_zip(source: Path, destination: Path, changes: Mapping[str, Change]) -> None:
    by_index = {index_of(loc): ch for loc, ch in changes.items()}
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(destination, "w") as zout:
        zout.comment = zin.comment
        for i, info in enumerate(zin.infolist()):
            change = by_index.get(i)
            new = _info_like(info)
            if info.is_dir():
                zout.writestr(new, b"")
            elif change is not None and change.replacement is not None:
                with open(change.replacement, "rb") as src:
                    _write(zout, new, src, change.replacement.stat().st_size)
            else:
                with zin.open(info) as src:
                    _write(zout, new, src, info.file_size)
            for name, path in change.beside if change is not None else ():
                extra = _info_like(info, name)
                extra.compress_type = zipfile.ZIP_DEFLATED
                extra.external_attr = (0o644 << 16) if info.create_system == 3 else 0
                with open(path, "rb") as src:
                    _write(zout, extra, src, path.stat().st_size)
