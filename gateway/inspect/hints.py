"""Raw hints in a PDF's bytes, found without parsing: a JavaScript action and a signature's /ByteRange.

Searched in the file's own bytes (its uncompressed objects, `inspect._stream_scan`) and in its object streams
once inflated (`pdf._active`): a JavaScript action may be anywhere an action may be (a page's open action, a
field's calculation, the /Next of another action), and in an object stream it is not in the file's bytes.

A script is found by the name /JavaScript, which every JavaScript action carries (/S /JavaScript) and the
document's script tree is filed under (/Names /JavaScript), also when written with #-escapes ("/Java#53cript":
a viewer reads it as /JavaScript; no writer escapes a plain letter). Short names are not searched for ("/#53"
for /S, "/J#53" for /JS): four or five characters turn up by chance in ASCII85 image data, which
holds every printable character (an 8 MB image carried "/#53(", and the PDF was taken for a script). The
patterns are long enough not to match random or ASCII85 image bytes.
"""

from __future__ import annotations

import re

_DELIMITED = rb"(?![^\s/<>\[\]()%{}])"  # the name ends here (whitespace or a delimiter follows)
_PATTERN = re.compile(
    rb"/(?:(ByteRange)" + _DELIMITED
    + rb"|JavaScript" + _DELIMITED
    + rb"|([^\s/<>\[\]()%{}#]*+#[0-9A-Fa-f]{2}[^\s/<>\[\]()%{}]*+))"
)
_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_SCRIPT_NAME = b"JavaScript"
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
            if name == _SCRIPT_NAME:
                yield SCRIPT
            elif name == b"ByteRange":
                yield SIGNATURE


def has_script(data: bytes) -> bool:
    return SCRIPT in found(data)
