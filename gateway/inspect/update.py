"""An incremental update written after a PDF's own bytes: copies of a document that are read, never released
(layers.py shows every layer, appearances.py lays out the appearances shown at a gesture)."""

from __future__ import annotations

import io
import re
import shutil
from typing import BinaryIO


class UpdateUnwritable(Exception):
    """The file's last cross-reference could not be found."""


def appended(fh: BinaryIO, reader, dst: BinaryIO, objects: list, size: int) -> None:
    """Write to `dst` the bytes of `fh` (read by pypdf `reader`), then an update holding `objects`
    [(number, generation, pypdf value)], with trailer /Size `size`. The trailer keeps the file's /Root,
    /Encrypt and /ID: what the callers write holds no string nor stream, so nothing needs encrypting."""
    fh.seek(0)
    shutil.copyfileobj(fh, dst, 1 << 20)
    end = dst.tell()
    fh.seek(max(0, end - 4096))
    found = re.findall(rb"startxref\s+(\d+)", fh.read())
    if not found:
        raise UpdateUnwritable("no startxref")
    body = io.BytesIO()
    body.write(b"\n")
    entries = []
    for number, generation, value in objects:
        entries.append(b"%d 1\n%010d %05d n \n" % (number, end + body.tell(), generation))
        body.write(b"%d %d obj\n" % (number, generation))
        value.write_to_stream(body)
        body.write(b"\nendobj\n")
    xref = end + body.tell()
    body.write(b"xref\n0 1\n0000000000 65535 f \n" + b"".join(entries))
    body.write(b"trailer\n<< /Size %d /Prev %d" % (size, int(found[-1])))
    for key in ("/Root", "/Encrypt", "/ID"):
        if key in reader.trailer:
            body.write(b" " + key.encode() + b" ")
            reader.trailer.raw_get(key).write_to_stream(body)
    body.write(b" >>\nstartxref\n%d\n%%%%EOF\n" % xref)
    dst.write(body.getvalue())
