"""ZIP archives (stdlib zipfile): every entry is a member, read within the budget.

Refused (a reason each, the archive never released): entries whose names a recipient's unzip would put
outside the folder or resolve ambiguously (absolute paths, '..', two entries with one name — also one that
differs only in case or Unicode normalisation, which Windows and macOS extract over each other), symbolic
links and other special files (what they point to cannot be read), encrypted entries (CONTAINER_ENCRYPTED),
compression methods zipfile cannot decode, and any entry that is not what the directory says (a size that
lies, a bad CRC, a local header that names another file: zipfile raises, the reader stops).
Data descriptors and ZIP64 are ordinary ZIP and read as such.

The archive must account for every byte of the file (`layout_problem`): zipfile reads only the last
end-of-central-directory record and tolerates data before the first entry, while 7-Zip, WinRAR and others
open the first archive of two concatenated ones (or a zip hidden in a gap or in the comment). Data before
the first local header, between entries, after the end record, or an archive comment holding zip
signatures: CONTAINER_BROKEN (the gateway cannot know which archive the recipient opens).
"""

from __future__ import annotations

import stat
import struct
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


def shown_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as archive programs show it. Without the UTF-8 flag, zipfile reads the bytes as CP437,
    but Info-ZIP's zip and most tools write UTF-8 without the flag, and unzip, 7-Zip and file managers show it
    as UTF-8 when it is: "TỐI MẬT.pdf", not "Tß╗ÉI Mß║¼T.pdf". Other bytes are the writer's code page: on a
    Vietnamese Windows, CP1258 (Explorer's "compressed folder" writes the system's code page), as a
    recipient's Windows shows them; CP437 when they are not CP1258."""
    if info.flag_bits & 0x800 or info.filename.isascii():
        return info.filename
    raw = info.filename.encode("cp437")
    for codec in ("utf-8", "cp1258"):
        try:
            return unicodedata.normalize("NFC", raw.decode(codec))
        except UnicodeError:
            continue
    return info.filename


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


_LOCAL = b"PK\x03\x04"
_DESCRIPTOR = b"PK\x07\x08"
_SIGNATURES = (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07")


def layout_problem(fh, zf: zipfile.ZipFile) -> str | None:
    """Why the file holds bytes that are not part of the archive zipfile read (None: every byte accounted
    for): local headers, data and data descriptors back to back from offset 0, then the central directory,
    the ZIP64 end records when present, and the end record with its comment, up to the end of the file."""
    fh.seek(0, 2)
    size = fh.tell()
    pos = 0
    for info in sorted(zf.infolist(), key=lambda i: i.header_offset):
        if info.header_offset != pos:
            return "data before the first entry" if pos == 0 else f"data between entries (before {info.filename!r})"
        fh.seek(pos)
        head = fh.read(30)
        if len(head) < 30 or head[:4] != _LOCAL:
            return f"no local header for {info.filename!r}"
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        pos += 30 + name_len + extra_len + info.compress_size
        if info.flag_bits & 0x08:  # data descriptor: crc + sizes (4 or 8 bytes each), signature optional
            fh.seek(pos)
            sig = fh.read(4) == _DESCRIPTOR
            nxt = min([i.header_offset for i in zf.infolist() if i.header_offset >= pos] + [zf.start_dir])
            lengths = (16, 24) if sig else (12, 20)
            gap = nxt - pos
            if gap not in lengths:
                return f"data after entry {info.filename!r}"
            pos = nxt
    if zf.start_dir != pos:
        return "data before the central directory" if pos else "data before the archive"
    end = zipfile._EndRecData(fh)  # noqa: SLF001 - as ZipFile read it
    if end is None:
        return "no end record"
    where, comment_len = end[zipfile._ECD_LOCATION], end[zipfile._ECD_COMMENT_SIZE]  # noqa: SLF001
    cd_end = zf.start_dir + end[zipfile._ECD_SIZE]  # noqa: SLF001
    if cd_end != where:  # only the ZIP64 end record (any length) and its 20-byte locator may stand between
        fh.seek(cd_end)
        rec = fh.read(12)
        if rec[:4] != b"PK\x06\x06" or cd_end + 12 + struct.unpack("<Q", rec[4:12])[0] + 20 != where:
            return "data after the central directory"
        fh.seek(where - 20)
        if fh.read(4) != b"PK\x06\x07":
            return "data after the central directory"
    if where + 22 + comment_len != size:
        return "data after the end of the archive"
    if any(sig in end[zipfile._ECD_COMMENT] for sig in _SIGNATURES):  # noqa: SLF001
        return "an archive inside the archive comment"
    return None


def members(path: Path, ex: Extraction) -> Iterator[MemberRef | Reason]:
    with open(path, "rb") as fh:
        _directory_fits(fh, ex)
        zf = zipfile.ZipFile(fh)
        why = layout_problem(fh, zf)
        if why:  # another archive (or anything) a different unzip could show: not what zipfile reads
            yield Reason.of("CONTAINER_BROKEN", detail=why)
            return
        infos = zf.infolist()
        seen: set[str] = set()
        for i, info in enumerate(infos):
            ex.budget.entry()
            name = shown_name(info)
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
        # the archive's comment and its entries' comments, which archive programs show: read, never signed
        comments = b"\n".join(c for c in [zf.comment] + [info.comment for info in infos] if c and c.strip())
        if comments:
            yield ex.store(comments, location="zip:comment", name="comment.txt", role="body")
