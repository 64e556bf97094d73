"""The folder door: watched export folders in, signed files (or refusals with notes) out.

`build(settings, engine)` makes the door (None when folders are disabled); `gateway run` starts it with the
other doors, `python -m gateway.folderwatch` runs it alone.
"""

from __future__ import annotations


def build(settings, engine):
    if not settings.folders.enabled:
        return None
    from gateway.folderwatch.door import FolderDoor
    from gateway.folderwatch.layout import resolve_watches

    return FolderDoor(settings, engine, resolve_watches(settings))
