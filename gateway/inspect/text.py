"""The text reader: plain text, HTML and XML, in whatever encoding they came.

Encodings tried in order: a byte-order mark (UTF-8/16), strict UTF-8, then Windows-1258 (Vietnamese
Windows) — a text that none of them decodes completely is `incomplete` (fail closed), never read with
replacement characters standing in for letters a mark could be made of. HTML is read as a person sees it
(tags dropped, entities decoded, script and style left out).
"""

from __future__ import annotations

import html
import re
from typing import BinaryIO

from gateway.inspect.reading import Line, Reading
from gateway.model import Reason, SignFormat

MAX_TEXT_BYTES = 8 * 1024 * 1024  # a text document larger than this is not read completely: refused

_TAGS = re.compile(r"(?is)<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>")
_BLOCK = re.compile(r"(?i)<\s*(br|/p|/div|/tr|/li|/h[1-6]|/td|/th|p|div|tr|li|h[1-6])\b[^>]*>")


def decode(data: bytes) -> str | None:
    """The text of `data`, or None when no encoding tried reads every byte."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec)
            except UnicodeDecodeError:
                return None
    for codec in ("utf-8", "cp1258"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return None


def html_text(markup: str) -> str:
    """What a browser shows of an HTML text, line by line (enough for the secrecy scan)."""
    markup = _BLOCK.sub("\n", markup)
    return html.unescape(_TAGS.sub(" ", markup))


def read(fh: BinaryIO, media: str, settings=None) -> Reading:
    data = fh.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        return Reading(media, incomplete=(Reason.of("DOCUMENT_UNREADABLE", detail=f"text over {MAX_TEXT_BYTES} bytes"),))
    text = decode(data)
    if text is None:
        return Reading(media, incomplete=(Reason.of("DOCUMENT_UNREADABLE", detail="unknown text encoding"),))
    if media == "text/html" or (media == "application/xml" and "<html" in text[:1024].lower()):
        text = html_text(text)
    where = "html" if media == "text/html" else "text"
    lines = tuple(Line(t, where) for t in text.splitlines())
    return Reading(media, lines=lines, signable=SignFormat.CADES)
