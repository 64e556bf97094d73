"""Raw hints in a PDF's bytes, found without parsing: a JavaScript action and a signature's /ByteRange.

Searched in the file's own bytes (its uncompressed objects, `inspect._stream_scan`) and in its object streams
once inflated (`pdf._active`): a JavaScript action may be anywhere an action may be (a page's open action, a
field's calculation, the /Next of another action), and in an object stream it is not in the file's bytes.

A name may be written with #-escapes, and a viewer reads "/S /Java#53cript" and "/J#53" as "/S /JavaScript"
and "/JS". No writer escapes a plain letter, so a name that reads "S", "JS" or "JavaScript" once unescaped is
taken for a script. The patterns are long enough not to match random image bytes.
"""

from __future__ import annotations

import re

_DELIMITED = rb"(?![^\s/<>\[\]()%{}])"  # the name ends here (whitespace or a delimiter follows)
_PATTERN = re.compile(
    rb"/(?:(ByteRange)" + _DELIMITED
    + rb"|S\s*/JavaScript" + _DELIMITED
    + rb"|([^\s/<>\[\]()%{}#]*+#[0-9A-Fa-f]{2}[^\s/<>\[\]()%{}]*+))"
)
_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_SCRIPT_NAMES = frozenset({b"S", b"JS", b"JavaScript"})
SCRIPT, SIGNATURE = "script", "signature"


def found(data: bytes):
    """Each hint in `data`, in order: SCRIPT or SIGNATURE."""
    for m in _PATTERN.finditer(data):
        if m.group(1):
            yield SIGNATURE
        elif m.group(2) is None:
            yield SCRIPT
        else:
            name = _ESCAPE.sub(lambda e: bytes([int(e.group(1), 16)]), m.group(2))
            if name in _SCRIPT_NAMES:
                yield SCRIPT
            elif name == b"ByteRange":
                yield SIGNATURE


def has_script(data: bytes) -> bool:
    return SCRIPT in found(data)
