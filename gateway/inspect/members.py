"""The member framework: where a container's members are extracted, and the budget that bounds it.

A container reader (zip, 7z, tar, gzip/bzip2/xz, TNEF, a mail message, a PDF's embedded files) does not
return bytes: it extracts each member into the pipeline's private work directory through an `Extraction`
and yields a `MemberRef` (location, name, path, role). `gateway.inspect` then inspects every member like
any document (sniffed by content), recursively.

One `Budget` is shared by the whole recursion of one document: depth, number of entries, total expanded
bytes, the compression ratio of each member, and the document's time. A breach stops the reading with a
reason of its own (CONTAINER_TOO_DEEP, CONTAINER_TOO_MANY_ENTRIES, CONTAINER_TOO_LARGE, CONTAINER_BOMB,
TIME_LIMIT): the container is then `incomplete` and never released (rule `unreadable`), whatever its members
say — except that a secrecy mark found in what was read still BLOCKs.

A reader is a generator `members(path, ex) -> Iterator[MemberRef | Reason | Reading]`: a Reason it yields is
something it could not read (an encrypted entry, an unsafe name) and it goes on; an exception stops it; a
Reading is what it read of the container itself (a mail's headers: lines, metadata, extra facts), merged in.
`read_container` turns that into a `Reading`: any unexpected exception is "cannot be read" (refused), never
"pass". Pure Python, no third-party import.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from gateway.errors import StorageUnavailable, TemporaryError, exc_detail
from gateway.inspect.limits import Timeout, acknowledge
from gateway.inspect.reading import MemberRef, Reading
from gateway.model import Reason

CHUNK = 1024 * 1024
RATIO_FLOOR = 1024 * 1024  # the ratio limit applies to members that expand beyond this (text compresses well)

# Reasons that say "this is encrypted / password-protected" (what `allow_unreadable_from/_to` may let pass).
ENCRYPTED = "CONTAINER_ENCRYPTED"
ENCRYPTED_CODES = frozenset({ENCRYPTED, "MAIL_ENCRYPTED", "OFFICE_ENCRYPTED"})


class LimitBreach(Exception):
    """The budget is exhausted: the reading stops here (the container is refused with this reason)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.code)
        self.reason = reason


class Unreadable(Exception):
    """A reader's way to stop with a reason of its own (broken structure, unsupported method ...)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.code)
        self.reason = reason


@dataclass
class Budget:
    """Limits shared by every container of one document (settings.limits, config/gateway.toml)."""

    max_depth: int
    max_entries: int
    max_bytes: int
    max_ratio: float
    deadline: float  # time.monotonic() after which nothing more is read
    seconds: float = 0.0
    entries: int = 0
    bytes: int = 0
    # a mail message's structure (settings.limits.max_mime_parts, max_mime_depth, max_header_bytes)
    mime_parts: int = 500
    mime_depth: int = 10
    header_bytes: int = 256 * 1024

    @classmethod
    def from_settings(cls, settings) -> "Budget":
        lim = settings.limits
        return cls(
            max_depth=lim.max_container_depth,
            max_entries=lim.max_container_entries,
            max_bytes=lim.max_expanded_bytes,
            max_ratio=lim.max_compression_ratio,
            deadline=time.monotonic() + lim.document_seconds,
            seconds=lim.document_seconds,
            mime_parts=lim.max_mime_parts,
            mime_depth=lim.max_mime_depth,
            header_bytes=lim.max_header_bytes,
        )

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitBreach(Reason.of("TIME_LIMIT", seconds=self.seconds))

    def entry(self) -> None:
        """Count one more entry (file, directory, link) seen in any container of this document."""
        self.entries += 1
        if self.entries > self.max_entries:
            raise LimitBreach(Reason.of("CONTAINER_TOO_MANY_ENTRIES", max=self.max_entries))
        self.check_time()

    def take(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.max_bytes:
            raise LimitBreach(Reason.of("CONTAINER_TOO_LARGE", max=self.max_bytes))


@dataclass
class Extraction:
    """The private work directory of one document's inspection (created on first use, mode 0700) and the
    budget its whole recursion shares. The pipeline owns it and removes it when the document is done."""

    base: Path  # the directory under which the work directory is made
    budget: Budget
    depth: int = 0  # nesting level: 0 the document itself, 1 its members, 2 their members ...
    _dir: list = field(default_factory=list)  # shared by children: [Path] once created
    _owned: bool = True
    name: str = ""  # the name of the container being read (a gzip's member is named after it)
    # Members already in memory stay there (MemberRef.data, no file): for reading a rebuilt container back,
    # where members are only hashed and compared, never inspected
    in_memory: bool = False

    @classmethod
    def under(cls, base: Path, settings, *, in_memory: bool = False) -> "Extraction":
        return cls(Path(base), Budget.from_settings(settings), in_memory=in_memory)

    @property
    def dir(self) -> Path:
        if not self._dir:
            with _our_disk():
                self.base.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._dir.append(Path(tempfile.mkdtemp(prefix="members-", dir=self.base)))
        return self._dir[0]

    def child(self) -> "Extraction":
        """The extraction of a member's own members: one level deeper, same directory and budget."""
        return Extraction(self.base, self.budget, self.depth + 1, self._dir, False, in_memory=self.in_memory)

    def new_path(self, suffix: str = "") -> Path:
        with _our_disk():
            fd, name = tempfile.mkstemp(prefix="m-", suffix=suffix, dir=self.dir)
            os.close(fd)
        return Path(name)

    def extract(
        self,
        src: BinaryIO,
        *,
        location: str,
        name: str,
        role: str = "document",
        media_type: str | None = None,
        compressed: int | None = None,
        limit: int | None = None,
    ) -> MemberRef:
        """Stream `src` into a new private file, within the budget. `compressed` is what the member takes
        inside the container (for the ratio check); `limit` a size the member must not exceed (its declared
        size, when the format has one: a member that lies about its size is refused)."""
        path = self.new_path()
        b = self.budget
        written = 0
        with _our_disk():
            out = open(path, "wb")
        with out:
            while True:
                b.check_time()
                chunk = src.read(CHUNK)  # the container's library: its OSError (BadGzipFile) is the input's
                if not chunk:
                    break
                written += len(chunk)
                b.take(len(chunk))
                if limit is not None and written > limit:
                    raise Unreadable(Reason.of("CONTAINER_BROKEN", detail=f"{name}: larger than its declared size"))
                if compressed is not None and written > RATIO_FLOOR and written > b.max_ratio * max(compressed, 1):
                    raise LimitBreach(Reason.of("CONTAINER_BOMB", name=name, max=_num(b.max_ratio)))
                with _our_disk():
                    out.write(chunk)
            with _our_disk():
                out.flush()
        return MemberRef(location=location, name=name, path=path, role=role, media_type=media_type)

    def store(self, data: bytes, *, location: str, name: str, role: str = "document",
              media_type: str | None = None) -> MemberRef:
        """A member already in memory (small parts of a structured format), within the budget."""
        import io

        if self.in_memory:
            self.budget.check_time()
            self.budget.take(len(data))
            return MemberRef(location=location, name=name, path=None, role=role, media_type=media_type, data=data)
        return self.extract(io.BytesIO(data), location=location, name=name, role=role, media_type=media_type)

    def close(self) -> None:
        if self._owned and self._dir:
            shutil.rmtree(self._dir.pop(), ignore_errors=True)


class _our_disk:
    """Writing into our own work area fails (disk full, read-only, quota): the gateway's storage, not the
    container, is at fault, so the sender is told to try again (StorageUnavailable), never "broken"."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ, exc, tb) -> bool:
        if exc is not None and isinstance(exc, OSError) and not isinstance(exc, StorageUnavailable):
            raise StorageUnavailable(f"cannot write a member into the work area: {exc.strerror or exc}") from None
        return False


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


MemberReader = Callable[[Path, Extraction], Iterator["MemberRef | Reason"]]


def read_container(kind: str, media: str, reader: MemberReader, path: Path, ex: Extraction) -> Reading:
    """Run a container reader within the budget; whatever stops it is a reason the container is refused."""
    refs: list[MemberRef] = []
    problems: list[Reason] = []
    own: list[Reading] = []  # what a reader says of the container itself (a mail's headers)
    if ex.depth > ex.budget.max_depth:  # ex is the members' level: 1 for the members of the document itself
        problems.append(Reason.of("CONTAINER_TOO_DEEP", max=ex.budget.max_depth))
    else:
        try:
            ex.budget.check_time()
            for item in reader(path, ex):
                if isinstance(item, MemberRef):
                    refs.append(item)
                elif isinstance(item, Reading):
                    own.append(item)
                else:
                    problems.append(item)
        except (LimitBreach, Unreadable) as exc:
            problems.append(exc.reason)
        except Timeout as exc:
            problems.append(Reason.of("TIME_LIMIT", seconds=ex.budget.seconds))
            acknowledge(exc)  # what was extracted is read for marks; the container is refused either way
        except TemporaryError:
            raise  # our own storage, not the container: the sender tries again
        except Exception as exc:  # noqa: BLE001 - hostile input: any library failure is "cannot be read"
            problems.append(Reason.of("CONTAINER_BROKEN", detail=short(exc)))
    extra: dict = {}
    for r in own:
        extra.update(r.extra)
    return Reading(
        media_type=media,
        container=kind,
        members=tuple(refs),
        incomplete=tuple(dict.fromkeys(problems)),
        encrypted=any(r.code in ENCRYPTED_CODES for r in problems),
        lines=tuple(line for r in own for line in r.lines),
        metadata=tuple(pair for r in own for pair in r.metadata),
        extra=extra,
    )


def short(exc: BaseException) -> str:
    return exc_detail(exc)


def safe_member_name(name: str) -> str | None:
    """Why a member's path is unsafe for a recipient who extracts it (absolute, '..', drive letter,
    control characters, empty), or None when it is fine."""
    n = name.replace("\\", "/")
    if not n.strip("/"):
        return "empty name"
    if n.startswith("/") or (len(n) > 1 and n[1] == ":"):
        return "absolute path"
    if any(part == ".." for part in n.split("/")):
        return "'..' in path"
    if any(ord(c) < 32 or c == "\x7f" for c in n):
        return "control character in name"
    return None
