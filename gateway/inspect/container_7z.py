"""7z archives, read with py7zr (a maintained pure-Python reader over C codecs: LZMA/LZMA2, PPMd, BCJ,
Deflate, BZip2, Zstandard, Brotli). Every file is a member, decompressed through a writer that counts every
byte against the budget (a bomb stops at the limit, however solid the archive).

Refused: an archive with encrypted headers or encrypted content (CONTAINER_ENCRYPTED), unsafe names,
duplicate names, symbolic links and other special entries (CONTAINER_UNSAFE_ENTRY), anything py7zr cannot
decode or that fails its CRC (CONTAINER_BROKEN). The archive is opened from a file object, so py7zr decodes
on this thread only (its parallel mode is for named files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from gateway.inspect.container_zip import name_key
from gateway.inspect.members import Extraction, LimitBreach, RATIO_FLOOR, Unreadable, safe_member_name
from gateway.inspect.reading import MemberRef
from gateway.model import Reason


def location(index: int, name: str) -> str:
    return f"7z:{name}#{index}"


def index_from(location: str) -> int:
    return int(location.rsplit("#", 1)[1])


class _Writer:
    """One member's private file, written by py7zr's decoder, within the budget."""

    def __init__(self, ex: Extraction, name: str, compressed: int) -> None:
        self.ex, self.name, self.compressed = ex, name, compressed
        self.path = ex.new_path()
        self.fh = open(self.path, "wb")
        self.written = 0

    def write(self, data) -> int:
        b = self.ex.budget
        b.check_time()
        self.written += len(data)
        b.take(len(data))
        if self.written > RATIO_FLOOR and self.written > b.max_ratio * max(self.compressed, 1):
            raise LimitBreach(Reason.of("CONTAINER_BOMB", name=self.name, max=b.max_ratio))
        self.fh.write(data)
        return len(data)

    def read(self, size=None) -> bytes:
        return b""

    def seek(self, offset, whence=0) -> int:
        return self.written

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        self.fh.flush()

    def size(self) -> int:
        return self.written

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.close()


def members(path: Path, ex: Extraction) -> Iterator[MemberRef | Reason]:
    import py7zr
    from py7zr.io import WriterFactory

    archive_size = path.stat().st_size
    with open(path, "rb") as fh:
        try:
            arc = py7zr.SevenZipFile(fh, mode="r")
        except py7zr.exceptions.PasswordRequired:
            yield Reason.of("CONTAINER_ENCRYPTED", name="(7z headers)")
            return
        with arc:
            files = list(arc.files)
            if arc.needs_password():
                for f in files:
                    ex.budget.entry()
                yield Reason.of("CONTAINER_ENCRYPTED", name=", ".join(f.filename for f in files[:5]) or "(7z)")
                return
            wanted: dict[str, tuple[int, object]] = {}
            seen: set[str] = set()
            for i, f in enumerate(files):
                ex.budget.entry()
                name = f.filename
                why = safe_member_name(name)
                if why is None and (f.is_symlink or f.is_junction or f.is_socket):
                    why = "symbolic link" if f.is_symlink else "special file"
                key = name_key(name)
                if why is None and key in seen:
                    why = "duplicate name"
                seen.add(key)
                if why:
                    yield Reason.of("CONTAINER_UNSAFE_ENTRY", name=name, detail=why)
                    continue
                if not f.is_directory:
                    wanted[name] = (i, f)
            writers: dict[str, _Writer] = {}

            class Factory(WriterFactory):
                def create(self, filename: str):
                    key = Path(filename).as_posix()
                    if key not in wanted or key in writers:
                        raise Unreadable(Reason.of("CONTAINER_BROKEN", detail=f"unexpected member {key}"))
                    _, f = wanted[key]
                    w = writers[key] = _Writer(ex, key, f.compressed or archive_size)
                    return w

            try:
                if wanted:
                    arc.extract(targets=list(wanted), factory=Factory())
            finally:
                for w in writers.values():
                    w.close()
            for name, (i, f) in wanted.items():
                w = writers.get(name)
                if w is None:
                    if f.uncompressed:  # an empty file has no stream to decode; anything else must have come
                        raise Unreadable(Reason.of("CONTAINER_BROKEN", detail=f"{name}: not decoded"))
                    p = ex.new_path()
                elif w.written != f.uncompressed:
                    raise Unreadable(Reason.of("CONTAINER_BROKEN", detail=f"{name}: size differs from the header"))
                else:
                    p = w.path
                yield MemberRef(location=location(i, name), name=name, path=p)
