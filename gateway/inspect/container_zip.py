"""ZIP archives (stdlib zipfile): every entry is a member, read within the budget.

Refused (a reason each, the archive never released): entries whose names a recipient's unzip would put
outside the folder or resolve ambiguously (absolute paths, '..', two entries with one name — also one that
differs only in case or Unicode normalisation, which Windows and macOS extract over each other), symbolic
links and other special files (what they point to cannot be read), encrypted entries (CONTAINER_ENCRYPTED),
compression methods zipfile cannot decode, and any entry that is not what the directory says (a size that
lies, a bad CRC, a local header that names another file: zipfile raises, the reader stops).
Data descriptors and ZIP64 are ordinary ZIP and read as such.
"""

from __future__ import annotations

import stat
import unicodedata
import zipfile
from pathlib import Path
from typing import Iterator

from gateway.inspect.members import Extraction, LimitBreach, safe_member_name
from gateway.inspect.reading import MemberRef
from gateway.model import Reason

METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


def location(index: int, name: str) -> str:
    return f"zip:{name}#{index}"


def index_of(location: str) -> int:
    return int(location.rsplit("#", 1)[1])


def entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why this entry cannot be handed to a recipient as a plain file or folder, or None."""
    why = safe_member_name(info.filename)
    if why:
        return why
    if info.create_system == 3:  # Unix: the file type is in the high bits of external_attr
        mode = info.external_attr >> 16
        if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            return "symbolic link" if stat.S_ISLNK(mode) else "special file"
    return None


def name_key(name: str) -> str:
    return unicodedata.normalize("NFC", name.rstrip("/")).casefold()


def _directory_fits(fh, ex: Extraction) -> None:
    """zipfile reads the whole central directory into memory when it opens an archive: look at the end record
    first, and refuse a directory that claims more entries (or bytes) than the budget allows."""
    end = zipfile._EndRecData(fh)  # noqa: SLF001 - the stdlib's own end-of-directory reader, as ZipFile uses it
    if end is None:
        return  # not a zip zipfile can open: it says so itself
    entries, size = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]  # noqa: SLF001
    left = ex.budget.max_entries - ex.budget.entries
    if entries > left or size > left * (46 + 65535 * 3):  # 46 bytes + name, extra, comment at most per entry
        raise LimitBreach(Reason.of("CONTAINER_TOO_MANY_ENTRIES", max=ex.budget.max_entries))
    fh.seek(0)


def members(path: Path, ex: Extraction) -> Iterator[MemberRef | Reason]:
    with open(path, "rb") as fh:
        _directory_fits(fh, ex)
        zf = zipfile.ZipFile(fh)
        infos = zf.infolist()
        seen: set[str] = set()
        for i, info in enumerate(infos):
            ex.budget.entry()
            name = info.filename
            why = entry_problem(info)
            key = name_key(name)
            if why is None and key in seen:
                why = "duplicate name"
            seen.add(key)
            if why:
                yield Reason.of("CONTAINER_UNSAFE_ENTRY", name=name, detail=why)
                continue
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                yield Reason.of("CONTAINER_ENCRYPTED", name=name)
                continue
            if info.compress_type not in METHODS:
                yield Reason.of("CONTAINER_BROKEN", detail=f"{name}: compression method {info.compress_type}")
                continue
            with zf.open(info) as src:
                yield ex.extract(src, location=location(i, name), name=name, compressed=info.compress_size,
                                 limit=info.file_size)
