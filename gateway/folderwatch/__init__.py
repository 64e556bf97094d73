"""The folder door: watched export folders in, signed files (or refusals with notes) out.

`build(settings, engine)` makes the door (None when folders are disabled); `gateway run` starts it with the
other doors, `python -m gateway.folderwatch [--config F]` runs it alone.

Per watch (settings.folders.watches): files dropped into `inbox/` (written in place, or as `*.part` /
`*.tmp` then renamed) are taken once complete, claimed into the work area, decided by the pipeline, and end
up as: SIGN -> `signed/NAME` (PDF) or `signed/NAME` + `signed/NAME.p7s` (detached CAdES), original to
`archive/YYYY-MM-DD/` (or removed); PASS -> the original into `signed/` unchanged; REJECT ->
`rejected/NAME` + `NAME.decision.json` + `NAME.ly-do.txt`; BLOCK (state secret) -> `quarantine/` (0700)
with the notes, or left untouched in the inbox and remembered; either way the two notes (the reason, never
the content) also go to `rejected/`, where the clerk looks. Names already taken get " (1)", " (2)"...
An optional sidecar `NAME.meta.json` (or `STEM.meta.json`) may carry: kind (issued, attachment, copy,
correspondence), number, classification, title, copy_form, copying_agency; it travels with the document.
"""

from __future__ import annotations


def build(settings, engine):
    if not settings.folders.enabled:
        return None
    from gateway.folderwatch.door import FolderDoor
    from gateway.folderwatch.layout import resolve_watches

    return FolderDoor(settings, engine, resolve_watches(settings))
