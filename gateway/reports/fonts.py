"""The report's typeface: a Times-New-Roman-compatible serif with every Vietnamese letter (Liberation Serif 2.x;
1.x lacks the precomposed letters), in its four styles, found from the configured appearance font."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STYLES = ("Regular", "Bold", "Italic", "BoldItalic")


@dataclass(frozen=True)
class Family:
    regular: Path
    bold: Path
    italic: Path
    bold_italic: Path


def serif_family(preferred: Path | None = None) -> Family:
    from gateway.signing.appearance import vietnamese_font

    regular = vietnamese_font(preferred)
    paths = {}
    for style in STYLES:
        cand = regular.with_name(regular.name.replace("Regular", style))
        # vietnamese_font returns its argument only when that file has every Vietnamese letter.
        paths[style] = cand if cand.is_file() and vietnamese_font(cand) == cand else regular
    return Family(paths["Regular"], paths["Bold"], paths["Italic"], paths["BoldItalic"])
