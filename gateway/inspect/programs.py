"""External programs the readers run (LibreOffice, librsvg): each in a process group of its own, within a time
limit, killed whole when the limit passes or the caller is interrupted (by its own deadline). What they print
is not kept: it may quote the document."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def run(cmd: list[str], seconds: float, *, name: str, env: dict | None = None, cwd: Path | None = None) -> str | None:
    """Run `cmd`: None when it exited 0, else what went wrong, in words naming the program `name`."""
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    except OSError as exc:
        return f"{name} did not start ({exc.strerror})"
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return f"{name} over {seconds:g} s"
    finally:  # also when the caller's own deadline interrupts: never leave the program running
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    return f"{name} exit {proc.returncode}" if proc.returncode != 0 else None
