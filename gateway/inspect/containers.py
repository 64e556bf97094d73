"""The registry of container readers: which media type is opened by which reader, as what kind.

Each entry names a generator `members(path, ex)` (see gateway.inspect.members) by "module:function", imported
on first use (a mail with no archive never loads the 7z library). The kind is what `Facts.container` says
and what `gateway.signing.containers` rebuilds by. Add a line here to read a new container type; a type
that is a container but has no reader stays unsupported (refused), never passed.
"""

from __future__ import annotations

import importlib
from pathlib import Path


from gateway.inspect.sniff import BZIP2, GZIP, MESSAGE, RAR, SEVENZ, TAR, TNEF, XZ, ZIP
from gateway.inspect.members import Extraction, read_container
from gateway.inspect.reading import Reading
from gateway.model import Reason

# media type -> (kind, "module:function")
READERS: dict[str, tuple[str, str]] = {
    ZIP: ("zip", "gateway.inspect.container_zip:members"),
    TAR: ("tar", "gateway.inspect.container_tar:members"),
    GZIP: ("gzip", "gateway.inspect.container_stream:gzip_members"),
    BZIP2: ("bzip2", "gateway.inspect.container_stream:bzip2_members"),
    XZ: ("xz", "gateway.inspect.container_stream:xz_members"),
    SEVENZ: ("7z", "gateway.inspect.container_7z:members"),
    TNEF: ("tnef", "gateway.inspect.container_tnef:members"),
    RAR: ("rar", "gateway.inspect.containers:refuse_rar"),
    MESSAGE: ("message", "gateway.inspect.message:members"),
}


def refuse_rar(path: Path, ex: Extraction):
    """RAR is refused, not read: no free tool can write RAR, so an archive holding documents could never be
    rebuilt signed, and the only maintained Python reader (rarfile) shells out to unrar/7z on hostile input.
    A refusal with a reason ("use zip") costs the sender one resend."""
    yield Reason.of("CONTAINER_UNSUPPORTED", container="rar", detail="RAR")


def kind_of(media: str) -> str | None:
    entry = READERS.get(media)
    return entry[0] if entry else None


def read(path: Path, media: str, ex: Extraction, name: str = "") -> Reading | None:
    """The container's Reading (members extracted into `ex`), or None when `media` is not a container."""
    entry = READERS.get(media)
    if entry is None:
        return None
    kind, target = entry
    ex.name = name

    def reader(p: Path, x: Extraction):
        module, _, func = target.partition(":")
        # Imported inside the guarded reading: a library missing at run time refuses the container (fail closed).
        yield from getattr(importlib.import_module(module), func)(p, x)

    return read_container(kind, media, reader, path, ex)
