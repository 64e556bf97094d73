"""tar archives (stdlib tarfile; ustar, GNU and PAX formats): every regular file is a member.

Compressed tars (.tar.gz, .tgz, .tar.bz2, .tar.xz) are a gzip/bzip2/xz stream holding one member, the tar,
which is read here in turn (gateway.inspect.container_stream): one reader per layer, one budget for all.
Refused like ZIP entries: absolute or '..' paths, duplicate names (also "./a" against "a", by case or Unicode
form), symbolic and hard links, devices, FIFOs (CONTAINER_UNSAFE_ENTRY); a header or member tarfile cannot
read, or a member shorter than its header says (CONTAINER_BROKEN).
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Iterator

from gateway.inspect.container_zip import name_key
from gateway.inspect.members import Extraction, safe_member_name
from gateway.inspect.reading import MemberRef
from gateway.model import Reason


def location(index: int, name: str) -> str:
    return f"tar:{name}#{index}"


def entry_problem(info: tarfile.TarInfo) -> str | None:
    why = safe_member_name(info.name)
    if why:
        return why
    if info.issym() or info.islnk():
        return "symbolic link" if info.issym() else "hard link"
    if not (info.isreg() or info.isdir()):
        return "special file"
    return None


def _key(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name_key(name)


def members(path: Path, ex: Extraction) -> Iterator[MemberRef | Reason]:
    with tarfile.open(path, mode="r:") as tf:  # plain tar only: compression is a layer of its own
        seen: set[str] = set()
        for i, info in enumerate(tf):
            ex.budget.entry()
            why = entry_problem(info)
            key = _key(info.name)
            if why is None and key in seen:
                why = "duplicate name"
            seen.add(key)
            if why:
                yield Reason.of("CONTAINER_UNSAFE_ENTRY", name=info.name, detail=why)
                continue
            if info.isdir():
                continue
            src = tf.extractfile(info)
            if src is None:
                yield Reason.of("CONTAINER_BROKEN", detail=f"{info.name}: no data")
                continue
            with src:
                ref = ex.extract(src, location=location(i, info.name), name=info.name, limit=info.size)
            if ref.path.stat().st_size != info.size:
                yield Reason.of("CONTAINER_BROKEN", detail=f"{info.name}: shorter than its header says")
                continue
            yield ref


def index_from(location: str) -> int:
    return int(location.rsplit("#", 1)[1])
