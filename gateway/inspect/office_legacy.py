"""Legacy Office (.doc, .xls, .ppt — OLE2 compound files) and Excel binary workbooks (.xlsb): read by
converting them with LibreOffice (headless) to OOXML, then reading that with the OOXML reader.

Why LibreOffice and not antiword / catdoc / xls2csv: those print the main text (and some footnotes) but
not comments, text boxes, headers and footers consistently, nor any document property; a reader that
skips where a stamp can stand is the failure this gateway exists to prevent. LibreOffice's import keeps
headers and footers, comments, footnotes, text boxes, tracked changes, hidden text, sheet names and
properties (core and custom), all of which the OOXML reader then reads like any .docx/.xlsx/.pptx.
Measured on this machine: about 1.3 s per document (one LibreOffice start), against ~0.05 s for antiword —
acceptable for a format agencies are retiring, and the gateway refuses rather than guess when
LibreOffice is absent (settings `office.soffice = ""`), fails, or runs out of time (`office.convert_seconds`).

Before converting: an encrypted file (msoffcrypto-tool reads the FIB / FILEPASS / CryptSession flags) is
refused as OFFICE_ENCRYPTED, and a file carrying VBA macros (the `Macros` / `_VBA_PROJECT_CUR` storages,
or compressed VBA source in a PowerPoint stream) as OFFICE_MACROS. LibreOffice runs with its own throw-away
profile per process, no restore, no network-facing UI, in its own process group (killed whole on time-out).
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO

S = importlib.import_module("gateway.inspect.sniff")  # the module (the package re-exports a function `sniff`)
from gateway.inspect import programs
from gateway.inspect.reading import Reading
from gateway.model import Reason

log = logging.getLogger(__name__)

# LibreOffice export filter and resulting OOXML type per legacy type.
_TARGETS = {
    S.DOC: ("docx:MS Word 2007 XML", ".doc", S.DOCX),
    S.XLS: ("xlsx:Calc MS Excel 2007 XML", ".xls", S.XLSX),
    S.XLSB: ("xlsx:Calc MS Excel 2007 XML", ".xlsb", S.XLSX),
    S.PPT: ("pptx:Impress MS PowerPoint 2007 XML", ".ppt", S.PPTX),
}
_MACRO_STORAGES = ("Macros", "_VBA_PROJECT_CUR", "_VBA_PROJECT", "VBA")


def read(fh: BinaryIO, media: str, settings, *, ex, read_package) -> Reading:
    if _encrypted(fh, media):
        return Reading(media, incomplete=(Reason.of("OFFICE_ENCRYPTED"),), encrypted=True)
    macros = _macros(fh, media)
    if macros:
        return Reading(media, incomplete=(Reason.of("OFFICE_MACROS", part=macros),))
    if _soffice(settings)[0] is None:
        return Reading(media, incomplete=(Reason.of("OFFICE_LEGACY_UNREADABLE", detail="LibreOffice not installed"),))
    filt, suffix, target = _TARGETS[media]
    with tempfile.TemporaryDirectory(prefix="kyso-legacy-") as tmp:
        made, problem = converted(fh, suffix, filt, settings, Path(tmp))
        if made is None:
            return Reading(media, incomplete=(Reason.of("OFFICE_LEGACY_UNREADABLE", detail=problem),))
        with open(made, "rb") as package:
            return read_package(package, target, media, settings, ex)


def converted(fh: BinaryIO, suffix: str, filt: str, settings, outdir: Path, *, recalculate: bool = False,
              ) -> tuple[Path | None, str | None]:
    """The document `fh` (`suffix` names its kind for LibreOffice) converted by LibreOffice with the export
    filter `filt` ("pdf": drawn, with the document's embedded fonts, as Word draws it; "odt": packaged) into
    `outdir`: (the file's path, None), or (None, what went wrong). `recalculate`: every formula of a workbook
    worked out again on loading, not taken from the values stored with it."""
    src = outdir / f"document{suffix}"
    fh.seek(0)
    with open(src, "wb") as out:
        shutil.copyfileobj(fh, out, 1024 * 1024)
    made, problem = converted_files([src], filt, settings, outdir / "out", recalculate=recalculate)
    return (made[0], None) if made else (None, problem)


def converted_files(sources: list[Path], filt: str, settings, outdir: Path, *, recalculate: bool = False,
                    ) -> tuple[list[Path] | None, str | None]:
    """`sources` (distinct stems) converted by one LibreOffice run into `outdir` (made here): the files made, in
    the order of `sources`, or (None, what went wrong); one missing is a failure of all."""
    binary, seconds = _soffice(settings)
    if binary is None:
        return None, "LibreOffice not installed"
    outdir.mkdir()
    problem = _convert(binary, filt, sources, outdir, seconds, recalculate)
    if problem:
        return None, problem
    made = {p.stem: p for p in outdir.iterdir()}
    if len(made) != len(sources) or any(src.stem not in made for src in sources):
        return None, "no output"
    return [made[src.stem] for src in sources], None


def _soffice(settings) -> tuple[str | None, float]:
    """LibreOffice's program (None when absent or switched off: `office.soffice = ""`) and its time limit."""
    office = getattr(settings, "office", None)
    soffice = getattr(office, "soffice", "soffice") if office is not None else "soffice"
    seconds = float(getattr(office, "convert_seconds", 60.0) if office is not None else 60.0)
    return (shutil.which(soffice) if soffice else None), seconds


def _encrypted(fh: BinaryIO, media: str) -> bool:
    if media == S.XLSB:
        return False  # a zip: an encrypted one would have been an OLE2 EncryptedPackage
    try:
        import msoffcrypto

        fh.seek(0)
        return bool(msoffcrypto.OfficeFile(fh).is_encrypted())
    except Exception as exc:  # noqa: BLE001 - unknown to msoffcrypto: LibreOffice will say if it cannot read it
        log.debug("legacy: encryption check failed: %s", type(exc).__name__)
        return False


def _macros(fh: BinaryIO, media: str) -> str | None:
    """The name of a VBA project inside the file, or None."""
    fh.seek(0)
    if media == S.XLSB:
        try:
            with zipfile.ZipFile(fh) as zf:
                return next((n for n in zf.namelist() if n.lower().endswith("vbaproject.bin")), None)
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
    try:
        import olefile

        ole = olefile.OleFileIO(fh)
        try:
            for entry in ole.listdir(streams=True, storages=True):
                if any(part in _MACRO_STORAGES for part in entry):
                    return "/".join(entry)
        finally:
            ole.close()
    except Exception:  # noqa: BLE001 - olefile on hostile input; LibreOffice decides readability
        pass
    if media == S.PPT:
        # PowerPoint keeps its VBA project compressed inside the document stream: the compressed source
        # starts every module with "Attribute VB_Name", which compresses to this byte pattern.
        fh.seek(0)
        data = fh.read(64 * 1024 * 1024)
        if b"\x00Attribut\x00e " in data or b"Attribut\x00e VB_Nam\x00e" in data:
            return "PowerPoint VBA"
    return None


# LibreOffice's settings for a profile that recalculates every workbook on loading (Tools > Options > Calc >
# Formula > Recalculation on file load: "Always"; its default is "Never" for a file Excel or LibreOffice saved)
_RECALCULATING = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema" \
xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0\
</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0\
</value></prop></item>
</oor:items>
"""


def _convert(binary: str, filt: str, sources: list[Path], outdir: Path, seconds: float,
             recalculate: bool = False) -> str | None:
    """Run LibreOffice; None on success, else a short description of what went wrong. `recalculate`: in a
    profile of its own whose settings recalculate every workbook on loading (LibreOffice keeps them)."""
    profile = Path(tempfile.gettempdir()) / f"kyso-lo-profile-{os.getuid()}-{os.getpid()}{'-recalc' if recalculate else ''}"
    if recalculate:
        settings_file = profile / "user" / "registrymodifications.xcu"
        if not settings_file.exists():
            settings_file.parent.mkdir(parents=True, exist_ok=True)
            settings_file.write_text(_RECALCULATING, encoding="utf-8")
    env = dict(os.environ, SAL_USE_VCLPLUGIN="svp", HOME=str(profile))
    cmd = [
        binary, "--headless", "--norestore", "--nologo", "--nolockcheck", "--nodefault", "--invisible",
        f"-env:UserInstallation={profile.as_uri()}", "--convert-to", filt, "--outdir", str(outdir),
        *map(str, sources),
    ]
    return programs.run(cmd, seconds, name="LibreOffice", env=env)
