"""Repair of an unsigned PDF the signer's reader cannot open: a missing or broken cross-reference table, junk
before the %PDF- header (mail banners, BOMs), offsets counted from the header. Viewers rebuild such files
silently; pyHanko does not. The gateway lets qpdf rewrite the file (in a child process, time-limited) and
accepts the rewrite only when poppler, a third reader, sees the same number of pages and every character of
the original's text in it. Then the repaired copy is signed and the repair recorded (PDF_REPAIRED).

Never for a signed input: rewriting would break the earlier signatures (the caller refuses those as
PDF_BROKEN). Never for what no reader opens: poppler must read the original.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

from gateway.errors import InputRejected
from gateway.model import Reason

__all__ = ["repair", "looks_signed"]

_SPACE_AND_BIDI = re.compile("[\\s\u200e\u200f\u202a-\u202e\u2066-\u2069]+")


def looks_signed(path: Path, chunk: int = 1 << 20) -> bool:
    """A /ByteRange anywhere in the raw bytes: something in the file is signed."""
    tail = b""
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            if b"/ByteRange" in tail + block:
                return True
            tail = block[-16:]
    return False


def _broken(detail: str) -> InputRejected:
    return InputRejected(f"unreadable PDF, not repairable: {detail}", code="PDF_BROKEN", detail=detail)


def _poppler(tool: str, path: Path, timeout: float) -> subprocess.CompletedProcess | None:
    exe = shutil.which(tool)
    if exe is None:
        return None
    args = [exe, str(path)] if tool == "pdfinfo" else [exe, "-q", "-enc", "UTF-8", str(path), "-"]
    try:
        return subprocess.run(args, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def _pages(path: Path, timeout: float) -> int | None:
    res = _poppler("pdfinfo", path, timeout)
    if res is None or res.returncode != 0:
        return None
    m = re.search(rb"^Pages:\s+(\d+)", res.stdout, re.M)
    return int(m.group(1)) if m else None


def _chars(path: Path, timeout: float) -> Counter | None:
    res = _poppler("pdftotext", path, timeout)
    if res is None or res.returncode != 0:
        return None
    return Counter(_SPACE_AND_BIDI.sub("", res.stdout.decode("utf-8", "replace")))


def repair(src: Path, dst: Path, *, timeout: float = 60.0) -> Reason:
    """Rewrite `src` into `dst` with qpdf and prove the pages kept (see module docstring). Returns the warning
    to record; raises InputRejected(PDF_BROKEN) when the file cannot be repaired faithfully."""
    qpdf = shutil.which("qpdf")
    if qpdf is None:
        raise _broken("repair unavailable (qpdf not installed)")
    pages = _pages(src, timeout)
    if not pages:
        raise _broken("no reader opens it")
    try:
        res = subprocess.run(
            # keep every stream's bytes as they are (no re-encoding); only the file structure is rewritten
            [qpdf, "--deterministic-id", "--decode-level=none", "--object-streams=preserve", "--no-warn",
             str(src), str(dst)],
            capture_output=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        dst.unlink(missing_ok=True)
        raise _broken("repair took too long") from None
    if res.returncode not in (0, 3) or not dst.exists():  # 3: done, with warnings (the damage it repaired)
        dst.unlink(missing_ok=True)
        raise _broken("repair failed")
    try:
        if _pages(dst, timeout) != pages:
            raise _broken("repair changed the page count")
        before, after = _chars(src, timeout), _chars(dst, timeout)
        if before is None or after is None or before - after:
            raise _broken("repair changed the text")
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    return Reason.of("PDF_REPAIRED", detail="cross-reference table rebuilt (qpdf)")
