"""Helpers for the folder-door tests: settings for a private watch, running the door, waiting for conditions."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Callable

from gateway.settings import load_settings


def folder_settings(base_settings, tmp_path: Path, *, watch: dict | None = None, top: dict | None = None, **folders):
    """The dev environment's settings with one watch of its own under tmp_path (fast timings for tests)."""
    root = Path(tmp_path) / "folders"
    w = {
        "name": "t",
        "inbox": root / "inbox",
        "signed": root / "signed",
        "rejected": root / "rejected",
        "archive": root / "archive",
        "quarantine": root / "quarantine",
    }
    w.update(watch or {})
    f = {"watches": [w], "work_dir": root / ".work", "quiet_seconds": 0.5, "rescan_seconds": 2.0,
         "retry_initial_seconds": 0.3, "retry_max_seconds": 2.0}
    f.update(folders)
    return load_settings(var_dir=base_settings.var_dir, folders=f, **(top or {}))


class Dirs:
    def __init__(self, settings) -> None:
        w = settings.folders.watches[0]
        self.inbox, self.signed, self.rejected = Path(w.inbox), Path(w.signed), Path(w.rejected)
        self.archive = Path(w.archive) if w.archive else None
        self.quarantine = Path(w.quarantine) if w.quarantine else None
        self.work = Path(settings.folders.work_dir) / w.name


def files(d: Path | None) -> list[str]:
    """Relative paths of the visible files under d (dot-files and dot-directories left out)."""
    if d is None or not d.exists():
        return []
    out = []
    for p in d.rglob("*"):
        rel = p.relative_to(d)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            out.append(str(rel))
    return sorted(out)


async def wait_until(cond: Callable[[], bool], timeout: float, what: str = "condition", step: float = 0.05,
                     explain: Callable[[], str] | None = None):
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return
        if time.monotonic() > deadline:
            more = f"\n{explain()}" if explain else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{more}")
        await asyncio.sleep(step)


def run_door(settings, engine, scenario, *, grace: float = 10.0):
    """Start the folder door on a fresh loop, run `await scenario(door)`, stop the door."""
    from gateway.folderwatch import build

    async def main():
        door = build(settings, engine)
        await door.start()
        try:
            return await scenario(door)
        finally:
            await door.stop(grace)

    return asyncio.run(main())
