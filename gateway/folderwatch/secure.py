"""A claimed file's bytes, made ours: a private copy nobody else holds, taken without following links.

Why: the inbox is shared. Whoever dropped a file may still hold a write handle on it (or a second hard
link), and may swap a name for a symlink between any check and any use (RENAME_EXCHANGE). Signing a path
signs whatever that path names at the moment pyHanko reads it — not what was inspected. So after the claim
rename moves the inbox entry into our private claim directory (0700):

1. the entry is opened by name relative to its directory's descriptor with O_NOFOLLOW (a symlink is ELOOP,
   never its target) and O_NONBLOCK (a FIFO cannot stall us); `fstat` on that descriptor must say "regular
   file" — no check on a path is ever followed by a use of the path;
2. size and holes are judged on the descriptor: over `limits.max_document_bytes`, or mostly holes (a sparse
   file: `truncate -s 100G`), the file is refused at once, before a byte is read;
3. the bytes are copied from the descriptor into a new file only we have ever opened (O_CREAT|O_EXCL,
   0600), fsynced, renamed into place; if the source changed while we copied (size, mtime, ctime), the copy
   is thrown away and the claim waits (someone is still writing);
4. the taken entry is unlinked: a writer keeping a handle now writes into an inode with no name.

Inspection, signing and every delivery then use the private copy only; the pipeline checks once more that
what it signs hashes as what it inspected (gateway.pipeline).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import InputRejected, TemporaryError

CHUNK = 8 * 1024 * 1024
SPARSE_MIN_BYTES = 1024 * 1024  # below this, holes cost nothing to read
MAX_EXTENTS = 100_000  # a file cut into more data extents than this is treated as sparse
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class NotARegularFile(InputRejected):
    """What was claimed is a symlink, a FIFO, a device or a directory: never opened, never signed."""

    code = "NOT_A_REGULAR_FILE"


class SparseFile(InputRejected):
    """Mostly holes: a crafted file, refused before it is read."""

    code = "FILE_SPARSE"


class StillChanging(TemporaryError):
    """The file changed while it was being copied: someone is still writing; the claim waits."""

    code = "FILE_CHANGING"


@dataclass(frozen=True)
class Copied:
    size: int


def holes(fd: int, size: int) -> int:
    """Bytes in holes (SEEK_DATA/SEEK_HOLE; 0 where the filesystem does not report holes)."""
    data, pos, extents = 0, 0, 0
    try:
        while pos < size:
            start = os.lseek(fd, pos, os.SEEK_DATA)
            end = os.lseek(fd, start, os.SEEK_HOLE)
            data += end - start
            pos = end
            extents += 1
            if extents > MAX_EXTENTS:
                return size
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # no data after pos: the rest is a hole
            pass
        elif exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return 0
        else:
            raise
    finally:
        os.lseek(fd, 0, os.SEEK_SET)
    return max(0, size - data)


def _stamp(st: os.stat_result) -> tuple:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def open_regular(path: Path) -> tuple[int, os.stat_result]:
    """(descriptor, fstat) of the regular file named `path`, without following a link at the last component.
    The directory is opened with O_NOFOLLOW as well (it is ours: the claim directory)."""
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            fd = os.open(path.name, _OPEN_FLAGS, dir_fd=dfd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):
                raise NotARegularFile("a symbolic link was claimed", detail="symlink") from None
            if exc.errno == errno.ENXIO:  # a FIFO or socket with no writer
                raise NotARegularFile("not a regular file", detail="fifo/socket") from None
            raise
    finally:
        os.close(dfd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotARegularFile("not a regular file", detail=stat.filemode(st.st_mode)[0])
    return fd, st


def private_copy(src: Path, dst: Path, *, max_bytes: int) -> Copied:
    """Copy the regular file `src` (never a link's target) to `dst`, a new file only this process has
    opened. Refusals (InputRejected) happen before any byte is read. Raises StillChanging when the source
    changed during the copy."""
    fd, st = open_regular(src)
    try:
        size = st.st_size
        if size > max_bytes:
            raise InputRejected("too large", code="TOO_LARGE", size=size, max=max_bytes)
        if size >= SPARSE_MIN_BYTES:
            h = holes(fd, size)
            if h * 2 > size:
                raise SparseFile("mostly holes", size=size, holes=h)
        tmp = dst.with_name(".part")
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            copied = _copy(fd, out, size)
            os.fsync(out)
        except BaseException:
            os.close(out)
            os.unlink(tmp)
            raise
        os.close(out)
        after = os.fstat(fd)
        if copied != size or _stamp(after) != _stamp(st):
            os.unlink(tmp)
            raise StillChanging(f"file changed while copied ({copied} of {size} bytes)")
        os.replace(tmp, dst)
        return Copied(size)
    finally:
        os.close(fd)


def _copy(src: int, dst: int, size: int) -> int:
    """Copy exactly `size` bytes (fewer if the source is shorter now): copy_file_range where the kernel
    allows it (same filesystem: may share extents, no bytes through user space), else read/write."""
    done = 0
    use_cfr = hasattr(os, "copy_file_range")
    while done < size:
        n = 0
        if use_cfr:
            try:
                n = os.copy_file_range(src, dst, min(CHUNK, size - done), done, done)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
                    raise
                use_cfr = False
                continue
        else:
            block = os.pread(src, min(CHUNK, size - done), done)
            n = len(block)
            view = memoryview(block)
            while view:
                w = os.pwrite(dst, view, done + (n - len(view)))
                view = view[w:]
        if n == 0:
            break  # the source is shorter than it was
        done += n
    return done
