"""Raw hints in a PDF's bytes, found without parsing: a JavaScript action, a signature's /ByteRange and an
image's alternates for printing.

Searched in the file's own bytes (its uncompressed objects, `inspect._stream_scan`) and in its object streams
once inflated (`pdf._active`): a JavaScript action may be anywhere an action may be (a page's open action, a
field's calculation, the /Next of another action), and in an object stream it is not in the file's bytes.

A script is found by the name /JavaScript, which every JavaScript action carries (/S /JavaScript) and the
document's script tree is filed under (/Names /JavaScript), also when written with #-escapes ("/Java#53cript":
a viewer reads it as /JavaScript; no writer escapes a plain letter). Short names are not searched for ("/#53"
for /S, "/J#53" for /JS): four or five characters turn up by chance in ASCII85 image data, which
holds every printable character (an 8 MB image carried "/#53(", and the PDF was taken for a script). The
patterns are long enough not to match random or ASCII85 image bytes.

An image's /Alternates may name another image for printing (/DefaultForPrinting): Acrobat prints it, while
the page read here (and every screen) shows the first. The key is in the image's stream dictionary, which is
never compressed, so the file's bytes hold it.

An embedded file's stream may say /Type /EmbeddedFile in its dictionary (never compressed either), and every
embedded file is reached through a file specification's /EF (in the file's bytes, or in an object stream):
one the attachment lists do not reach (a PDF 2.0 / PDF/A-3 associated file, /AF, hung anywhere) is looked for
among the file's objects when either name is there more often than the lists reach (container_pdf.py). /EF
is a short name: it is counted only where a dictionary or a reference ("12 0 R") follows it, whitespace and
comments between, so that binary or ASCII85 data does not hold it by chance (when it does, that costs a look
through the objects, never a refusal).
"""

from __future__ import annotations

import re

_DELIMITED = rb"(?![^\s\x00/<>\[\]()%{}])"  # the name ends here (whitespace, NUL included, or a delimiter follows)
_GAP = rb"(?:[\s\x00]|%[^\r\n]*)"  # whitespace and comments between tokens
_PATTERN = re.compile(
    rb"/(?:(ByteRange|JavaScript|Alternates|EmbeddedFile|EF(?=" + _GAP + rb"*+(?:<<|\d+" + _GAP + rb"++\d+" + _GAP
    + rb"++R)))" + _DELIMITED
    + rb"|([^\s\x00/<>\[\]()%{}#]*+#[0-9A-Fa-f]{2}[^\s\x00/<>\[\]()%{}]*+))"
)
_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
SCRIPT, SIGNATURE, ALTERNATE, EMBEDDED, FILE_SPEC = "script", "signature", "alternate", "embedded", "file_spec"
_HINTS = {b"JavaScript": SCRIPT, b"ByteRange": SIGNATURE, b"Alternates": ALTERNATE, b"EmbeddedFile": EMBEDDED,
          b"EF": FILE_SPEC}


def found(data: bytes):
    """Each hint in `data`, in order: SCRIPT, SIGNATURE, ALTERNATE, EMBEDDED or FILE_SPEC."""
    for m in _PATTERN.finditer(data):
        name = m.group(1) or _ESCAPE.sub(lambda e: bytes([int(e.group(1), 16)]), m.group(2))
        hint = _HINTS.get(name)
        if hint is not None:
            yield hint


def has_script(data: bytes) -> bool:
    return SCRIPT in found(data)
