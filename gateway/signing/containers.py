"""Rebuilding a container with its members signed, and checking what was rebuilt.

The pipeline signs each member that needs it (a PDF in place with PAdES; any other type it signs gets a
detached CAdES `.p7s` beside it; a member that is itself a container is rebuilt first, recursively), then
asks the rebuilder registered for the container's kind (`Facts.container`) to write a new container:

    rebuild(kind, source, destination, changes)   changes: {member location: Change}

A rebuilder keeps every member's name, order, time stamps and attributes, and the bytes of every member it
is not told to change; it replaces the bytes of a changed member and inserts the `.p7s` files right after
theirs. Each container module registers its rebuilder with `@rebuilder("kind")` (the mail message's is
registered by the mail door's module the same way). A kind without one cannot be rebuilt: the document is
refused (CONTAINER_NO_REBUILDER), never released unsigned.

`check_rebuilt` is the output check: the new container is read again by the same reader that read the
original, within a fresh budget, and must hold exactly the expected members in order — unchanged ones
byte for byte, each signed PDF byte for byte the output that passed the full output check (check_pdf: the new
signature verifies over the whole file, the source's bytes untouched), each `.p7s` verifying over the member
read back before it. Anything else raises OutputCheckFailed: the rebuilt file is discarded, never released.
"""

from __future__ import annotations

import hashlib
import importlib
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from gateway.errors import InputRejected, PermanentError


@dataclass(frozen=True)
class Change:
    """What happens to one member when its container is rebuilt."""

    replacement: Path | None = None  # the member's new bytes (a signed PDF, a rebuilt inner container)
    beside: tuple[tuple[str, Path], ...] = ()  # (name, file) inserted right after the member: its .p7s


Rebuilder = Callable[[Path, Path, Mapping[str, Change]], None]

REBUILDERS: dict[str, Rebuilder] = {}
# Modules that register rebuilders, imported on first use (kind -> module).
MODULES: dict[str, str] = {
    "zip": "gateway.signing.container_zip",
    "tar": "gateway.signing.container_tar",
    "gzip": "gateway.signing.container_stream",
    "bzip2": "gateway.signing.container_stream",
    "xz": "gateway.signing.container_stream",
    "7z": "gateway.signing.container_7z",
    "tnef": "gateway.signing.container_tnef",
    "message": "gateway.signing.message",
}


def rebuilder(kind: str):
    """Register `fn(source, destination, changes)` as the rebuilder of a container kind."""

    def deco(fn: Rebuilder) -> Rebuilder:
        REBUILDERS[kind] = fn
        return fn

    return deco


def find(kind: str) -> Rebuilder | None:
    if kind not in REBUILDERS and kind in MODULES:
        importlib.import_module(MODULES[kind])
    return REBUILDERS.get(kind)


def rebuild(kind: str, source: Path, destination: Path, changes: Mapping[str, Change]) -> None:
    fn = find(kind)
    if fn is None:
        raise InputRejected(f"no rebuilder for {kind}", code="CONTAINER_NO_REBUILDER", container=kind)
    fn(source, destination, changes)


# --- the output check -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """One member the rebuilt container must hold, in order."""

    name: str
    sha256: str
    check: str | None = None  # None: unchanged bytes; "pades": a signed PDF; "cades": .p7s of the member before


class ContainerOutputRejected(PermanentError):
    """The rebuilt container is not what was meant (a member missing, moved, changed or not verifying):
    discarded, the document refused."""

    code = "CONTAINER_OUTPUT_INVALID"


def _rejected(detail: str) -> ContainerOutputRejected:
    return ContainerOutputRejected(f"rebuilt container refused: {detail}", detail=detail)


def check_rebuilt(path: Path, media: str, expected: list[Expected], settings, chunk: int = 1 << 20,
                  name: str = "") -> None:
    """Read the rebuilt container again and compare it member by member with what was meant (see module doc)."""
    from gateway.inspect import containers
    from gateway.inspect.members import Extraction
    from gateway.signing import check

    # made on first use only: a mail's members are compared in memory, an archive's are extracted here
    base = path.parent / f".check-{uuid.uuid4().hex}"
    try:
        ex = Extraction.under(base, settings, in_memory=True)
        reading = containers.read(path, media, ex.child(), name)
        if reading is None or reading.incomplete:
            why = ", ".join(r.code for r in reading.incomplete) if reading is not None else "no reader"
            raise _rejected(f"it cannot be read again: {why}")
        got = reading.members
        if [m.name for m in got] != [e.name for e in expected]:
            raise _rejected("it does not hold the expected members in order")
        for i, (ref, want) in enumerate(zip(got, expected)):
            if _sha256(ref, chunk) != want.sha256:
                raise _rejected(f"member {want.name} differs from what was put in")
            # A signed PDF went through the full output check (check_pdf) before it was put in; the bytes read
            # back are those bytes (same SHA-256), so it is not parsed a second time. A .p7s is verified again
            # against the member read back before it (cheap: one hash and one signature).
            if want.check == "cades":
                check.check_detached(_content(ref), _content(got[i - 1]), chunk)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _sha256(ref, chunk: int) -> str:
    if ref.data is not None:
        return hashlib.sha256(ref.data).hexdigest()
    h = hashlib.sha256()
    with open(ref.path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _content(ref):
    """A member read back: its bytes when kept in memory, else its file."""
    return ref.data if ref.data is not None else ref.path
