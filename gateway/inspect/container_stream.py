"""Single-file compressed streams: gzip (.gz), bzip2 (.bz2), xz (.xz). The one member is the decompressed
file: its name is the gzip header's FNAME when there is one, else the stream's own name without its suffix
("x.tar.gz" -> "x.tar", "x.tgz" -> "x.tar"). A .tar.gz is a gzip whose member is a tar, read in turn.

The ratio limit applies to the whole stream (a compressed bomb is refused as CONTAINER_BOMB); a stream that
ends early, carries a bad CRC or trailing garbage is CONTAINER_BROKEN (the stdlib modules raise).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path
from typing import Iterator

from gateway.inspect.members import Extraction
from gateway.inspect.reading import MemberRef
from gateway.model import Reason

SUFFIXES = {
    "gzip": ((".tgz", ".tar"), (".taz", ".tar"), (".gz", ""), (".z", "")),
    "bzip2": ((".tbz2", ".tar"), (".tbz", ".tar"), (".bz2", ""), (".bz", "")),
    "xz": ((".txz", ".tar"), (".xz", "")),
}


def member_name(kind: str, container_name: str, header_name: str | None = None) -> str:
    if header_name:
        return header_name
    base = container_name.replace("\\", "/").rsplit("/", 1)[-1]
    low = base.lower()
    for suffix, replacement in SUFFIXES[kind]:
        if low.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)] + replacement
    return base


def gzip_header(path: Path) -> tuple[str | None, int]:
    """(FNAME, MTIME) from a gzip member header (RFC 1952); FNAME None when absent."""
    with open(path, "rb") as fh:
        head = fh.read(10)
        if len(head) < 10 or head[:2] != b"\x1f\x8b":
            return None, 0
        flags, mtime = head[3], int.from_bytes(head[4:8], "little")
        if flags & 0x04:  # FEXTRA
            n = int.from_bytes(fh.read(2), "little")
            fh.read(n)
        name = None
        if flags & 0x08:  # FNAME: zero-terminated ISO 8859-1
            raw = bytearray()
            while (c := fh.read(1)) not in (b"", b"\x00") and len(raw) < 1024:
                raw += c
            name = raw.decode("latin-1") or None
        return name, mtime


def _one(kind: str, opener, path: Path, ex: Extraction, header_name: str | None = None) -> Iterator[MemberRef | Reason]:
    ex.budget.entry()
    name = member_name(kind, ex.name, header_name)
    with opener(path) as src:
        yield ex.extract(src, location=f"{kind}:0", name=name, compressed=path.stat().st_size)


def gzip_members(path: Path, ex: Extraction) -> Iterator[MemberRef | Reason]:
    name, _ = gzip_header(path)
    if name:
        # RFC 1952 says ISO 8859-1, but gzip writes the name's bytes as they are, today UTF-8: `gunzip -N` and
        # 7-Zip show "TỐI MẬT.pdf" where ISO 8859-1 reads mojibake (the rebuild keeps the bytes: gzip_header)
        try:
            name = name.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            pass
    if name and "/" in name.replace("\\", "/"):
        name = name.replace("\\", "/").rsplit("/", 1)[-1]  # gunzip -N keeps only the base name too
    yield from _one("gzip", gzip.open, path, ex, name)


def bzip2_members(path: Path, ex: Extraction) -> Iterator[MemberRef | Reason]:
    yield from _one("bzip2", bz2.open, path, ex)


def xz_members(path: Path, ex: Extraction) -> Iterator[MemberRef | Reason]:
    yield from _one("xz", lambda p: lzma.open(p, format=lzma.FORMAT_XZ), path, ex)
