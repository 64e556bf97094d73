"""Crash-safe file moves for the folder door: fsync, atomic writes, no-overwrite placing, streamed copies.

Every step that puts a file where people look is journalled by a small marker in the claim directory,
so that a restart after a crash finishes the step instead of doing it twice: a marker names the temporary
file and the final name; the step is done once the temporary file is gone (or is a hard link of the final).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Iterable, Iterator, Sequence

CHUNK = 1024 * 1024
NAME_MAX = 255  # bytes, per path component (ext4, xfs, btrfs, tmpfs, NFS)
# What the gateway may add to a name: the longest companion tail (".decision.json"), a " (99999)" to make it
# unique, and the temporary form ".NAME.kyso-tmp" write_atomic uses for notes.
NAME_RESERVE = len(".decision.json") + len(" (99999)") + len("..kyso-tmp")
PRIVATE_FILE = 0o600
# Errors meaning "this filesystem has no hard links here": fall back to rename after an existence check.
_NO_LINK = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK, errno.ENOSYS}


def _bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def fit_name(name: str, limit: int = NAME_MAX - NAME_RESERVE) -> str:
    """`name`, or when it leaves no room for the gateway's suffixes within 255 bytes, a shortened form:
    the start of the stem (cut on a character boundary), "~" and 8 hex digits of the original name's hash
    (two long names sharing a start stay apart), and the extension. The original goes into the notes."""
    raw = _bytes(name)
    if len(raw) <= limit:
        return name
    stem, ext = os.path.splitext(name)
    if len(_bytes(ext)) > 16:
        stem, ext = name, ""
    tag = "~" + hashlib.sha256(raw).hexdigest()[:8]
    room = limit - len(_bytes(tag)) - len(_bytes(ext))
    cut = _bytes(stem)[:room].decode("utf-8", "ignore").rstrip(" .")
    return (cut or "document") + tag + ext


def shared_mode(directory: Path) -> int:
    """The mode for a file the gateway puts into a folder shared with clerks: what the folder itself grants
    (its read/write bits, never execute), so a folder made 2770 for a clerks' group gets 0660 files and a
    0700 folder 0600 ones."""
    return stat.S_IMODE(os.stat(directory).st_mode) & 0o666 | 0o600


def make_dirs(path: Path, *, like: Path) -> None:
    """Create `path` and its missing parents below `like` with `like`'s own mode (shared folders keep the
    clerks' access in their subfolders; private ones stay 0700)."""
    mode = stat.S_IMODE(os.stat(like).st_mode)
    missing = []
    p = Path(path)
    while not p.exists() and p != like and like in p.parents:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=mode)
        except FileExistsError:
            continue
        os.chmod(d, mode)  # mkdir's mode passes through the umask
    Path(path).mkdir(parents=True, exist_ok=True, mode=0o700)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories; the rename is still atomic
        pass
    finally:
        os.close(fd)


def same_fs(a: Path, b: Path) -> bool:
    return _existing(a).stat().st_dev == _existing(b).stat().st_dev


def _existing(p: Path) -> Path:
    while not p.exists() and p.parent != p:
        p = p.parent
    return p


def write_atomic(path: Path, data: bytes, mode: int = PRIVATE_FILE) -> None:
    """Write our own small file (notes, journal) under a temp name, fsync, rename over it. A missing parent is
    created private (0700): shared folders exist before their notes are written (worker._shared_dir)."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path.parent, 0o700)
    # A fixed temp name: a write cut short by a crash is overwritten when the step is redone, not left behind.
    # (One writer per path: one door process per work area, one claim per output name.)
    tmp = path.with_name(f".{path.name}.kyso-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)  # not the umask's idea of it, nor an old file's
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_json(path: Path, value: object, mode: int = PRIVATE_FILE, *, readable: bool = False) -> None:
    """Journal files are ASCII JSON (file names that are not UTF-8 survive the round trip as escapes);
    `readable` notes keep Vietnamese letters as they are."""
    text = json.dumps(value, ensure_ascii=not readable, indent=2, sort_keys=True)
    write_atomic(path, text.encode("utf-8", "surrogateescape"), mode)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def suffixed(name: str, n: int) -> str:
    """'a.pdf' -> 'a (n).pdf'; n == 0 gives the name itself."""
    if n == 0:
        return name
    p = Path(name)
    stem, ext = (p.stem, p.suffix) if p.stem else (name, "")
    return f"{stem} ({n}){ext}"


def candidates(name: str) -> Iterator[str]:
    n = 0
    while True:
        yield suffixed(name, n)
        n += 1


def companion(name: str, tail: str) -> str:
    return name + tail


def free_name(dest_dir: Path, name: str, companions: Iterable[str] = ()) -> str:
    """The first of name, 'name (1)', ... free in dest_dir together with its companions (name + tail)."""
    tails = tuple(companions)
    for cand in candidates(name):
        if not any(os.path.lexists(dest_dir / (cand + t)) for t in ("",) + tails):
            return cand
    raise AssertionError("unreachable")


def _chmod(path: Path, mode: int | None) -> None:
    if mode is not None and os.path.lexists(path) and not os.path.islink(path):
        os.chmod(path, mode)


def _link(tmp: Path, final: Path) -> None:
    # Never follow: a symbolic link is placed as the link itself (linkat without AT_SYMLINK_FOLLOW), not as
    # a new hard link to whatever file it points at.
    os.link(tmp, final, follow_symlinks=False)


def place(marker: Path, tmp: Path, dest_dir: Path, name: str, companions: Iterable[str] = (), *,
          mode: int | None = None) -> Path:
    """Move `tmp` to dest_dir under `name` (suffixed if taken), never overwriting; idempotent via `marker`.

    tmp and dest_dir must be on the same filesystem. `mode`: the file's mode where it lands (set before it
    appears there). Returns the final path.
    """
    tails = tuple(companions)
    done = read_json(marker)
    if done is not None:
        final = Path(done["final"])
        if not os.path.lexists(tmp):
            return final  # the step finished before a crash
        if os.path.lexists(final) and os.path.samefile(tmp, final):
            tmp.unlink()
            fsync_dir(tmp.parent)
            return final
    dest_dir.mkdir(parents=True, exist_ok=True)
    _chmod(tmp, mode)
    while True:
        final = dest_dir / free_name(dest_dir, name, tails)
        write_json(marker, {"tmp": str(tmp), "final": str(final)})
        try:
            _link(tmp, final)
        except FileExistsError:
            continue  # someone took the name in between: choose the next one
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
            if os.path.lexists(final):
                continue
            os.rename(tmp, final)
        else:
            os.unlink(tmp)
        fsync_dir(dest_dir)
        fsync_dir(tmp.parent)
        return final


def place_group(marker: Path, items: Sequence[tuple[Path, str]], dest_dir: Path, name: str,
                companions: Iterable[str] = (), *, mode: int | None = None) -> Path:
    """Place several files under one name, in the order given: (tmp, tail) becomes dest_dir/(NAME + tail),
    NAME being the first of name, 'name (1)', ... free for all of them and the companions. Returns dest_dir/NAME.

    Each file is in place (and durable) before the next appears, so a signature can precede its document.
    Never overwrites; idempotent via `marker` (which records the chosen NAME): a restart finishes the group.
    If someone else takes one of the names meanwhile, what was placed is taken back and a new NAME chosen,
    so the group always shares one name. Every tmp must be on dest_dir's filesystem.
    """
    tails = tuple(t for _, t in items) + tuple(companions)
    dest_dir.mkdir(parents=True, exist_ok=True)
    for tmp, _ in items:
        _chmod(tmp, mode)
    done = read_json(marker)
    chosen = done.get("name") if done else None
    while True:
        if chosen is None:
            chosen = free_name(dest_dir, name, tails)
            write_json(marker, {"group": True, "name": chosen, "final": str(dest_dir / chosen)})
        if _link_group(items, dest_dir, chosen):
            return dest_dir / chosen
        for tmp, tail in items:  # taken back (rename: atomic), so a restart here redoes the group from the start
            final = dest_dir / (chosen + tail)
            if not os.path.lexists(tmp) and os.path.lexists(final):
                os.rename(final, tmp)
        fsync_dir(dest_dir)
        chosen = None


def _link_group(items: Sequence[tuple[Path, str]], dest_dir: Path, chosen: str) -> bool:
    """Link each tmp to its final name in order; False as soon as a name is someone else's."""
    for tmp, tail in items:
        final = dest_dir / (chosen + tail)
        if not os.path.lexists(tmp):
            continue  # placed before a crash
        if os.path.lexists(final) and os.path.samefile(tmp, final):
            os.unlink(tmp)  # crash between link and unlink
        else:
            try:
                _link(tmp, final)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in _NO_LINK:
                    raise
                if os.path.lexists(final):
                    return False
                os.rename(tmp, final)
            else:
                os.unlink(tmp)
        fsync_dir(dest_dir)  # this one survives a crash before the next one appears
        fsync_dir(tmp.parent)
    return True


def copy_place(marker: Path, src: Path, dest_dir: Path, name: str, tag: str, companions: Iterable[str] = (), *,
               mode: int | None = None) -> Path:
    """Copy src (streamed) to a temp name in dest_dir, fsync, then place it; idempotent via `marker`."""
    tmp = dest_dir / f".kyso-{tag}.part"
    if read_json(marker) is None:
        dest_dir.mkdir(parents=True, exist_ok=True)
        tmp.unlink(missing_ok=True)  # a partial copy from before a crash
        copy_streamed(src, tmp)
    return place(marker, tmp, dest_dir, name, companions, mode=mode)


def move(marker: Path, src: Path, dest_dir: Path, name: str, tag: str, companions: Iterable[str] = (), *,
         mode: int | None = None) -> Path:
    """Move src into dest_dir (rename when on one filesystem, else copy + fsync + remove)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(src) and not same_fs(src.parent, dest_dir):
        final = copy_place(marker, src, dest_dir, name, tag, companions, mode=mode)
        src.unlink(missing_ok=True)
        return final
    return place(marker, src, dest_dir, name, companions, mode=mode)


def copy_streamed(src: Path, dst: Path) -> None:
    """Copy without reading the file into memory (sendfile where available), then fsync. Our own files only
    (private copies, engine outputs): a link is never followed."""
    if os.path.islink(src):
        raise OSError(errno.ELOOP, "refusing to copy through a symbolic link", str(src))
    shutil.copyfile(src, dst, follow_symlinks=False)
    fsync_file(dst)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
