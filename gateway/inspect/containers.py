"""The registry of container readers: which media type is opened by which reader, as what kind.

Each entry names a generator `members(path, ex)` (see gateway.inspect.members) by "module:function", imported
on first use (a mail with no archive never loads the 7z library). The kind is what `Facts.container` says
and what `gateway.signing.containers` rebuilds by. Add a line here to read a new container type; a type
that is a container but has no reader stays unsupported (refused), never passed.
"""

from __future__ import annotations

import importlib
from pathlib import Path


from gateway.inspect.sniff import ZIP
from gateway.inspect.members import Extraction, read_container
from gateway.inspect.reading import Reading

# media type -> (kind, "module:function")
READERS: dict[str, tuple[str, str]] = {
    ZIP: ("zip", "gateway.inspect.container_zip:members"),
}


def kind_of(media: str) -> str | None:
    entry = READERS.get(media)
    return entry[0] if entry else None


def read(path: Path, media: str, ex: Extraction) -> Reading | None:
    """The container's Reading (members extracted into `ex`), or None when `media` is not a container."""
    entry = READERS.get(media)
    if entry is None:
        return None
    kind, target = entry

    def reader(p: Path, x: Extraction):
        module, _, func = target.partition(":")
        # Imported inside the guarded reading: a library missing at run time refuses the container (fail closed).
        yield from getattr(importlib.import_module(module), func)(p, x)

    return read_container(kind, media, reader, path, ex)
