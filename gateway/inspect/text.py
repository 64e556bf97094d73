"""The text reader: plain text, HTML, XML and SVG, in whatever encoding they came.

Encodings tried in order: a byte-order mark (UTF-8/16/32), UTF-16 without a mark (told by its zero
bytes, see `sniff.text_encoding`), strict UTF-8, then Windows-1258 (Vietnamese Windows). A text that none
of them decodes completely, or that decodes to control characters (a binary file, UTF-32 taken for
UTF-16), is `incomplete` (fail closed), never read with replacement characters standing in for letters a
mark could be made of.

HTML is read twice: as a browser shows it (tags dropped, entities decoded, script and style left out) and
as its source (entities decoded, tags kept: attribute values — title, alt, meta content —, comments and
script strings are text a person can see). HTML that runs scripts (a <script> element, on* handlers,
javascript: URLs) can show text that is in no byte of the file: refused as HTML_ACTIVE_CONTENT. XML and SVG
are read as their source with character references decoded.
"""

from __future__ import annotations

import html
import re
from typing import BinaryIO

from gateway.inspect.reading import Line, Reading
from gateway.inspect.sniff import HTML, SVG, XML, text_encoding
from gateway.model import Reason, SignFormat

MAX_TEXT_BYTES = 8 * 1024 * 1024  # a text document larger than this is not read completely: refused

_TAGS = re.compile(r"(?is)<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>")
_BLOCK = re.compile(r"(?i)<\s*(br|/p|/div|/tr|/li|/h[1-6]|/td|/th|p|div|tr|li|h[1-6]|td|th)\b[^>]*>")
_ACTIVE = re.compile(r"(?is)<script\b|\bon[a-z]{3,20}\s*=|javascript\s*:|<iframe\b|<object\b|<embed\b")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")


def decode(data: bytes) -> str | None:
    """The text of `data`, or None when no encoding tried reads every byte."""
    codec = text_encoding(data[:8192])
    candidates = [codec] if codec else ["utf-8", "cp1258"]
    for name in candidates:
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        return text[1:] if text.startswith("\ufeff") else text
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
    if len(_CONTROLS.findall(text[:65536])) > 0:
        return Reading(media, incomplete=(Reason.of("DOCUMENT_UNREADABLE", detail="control characters: not a text"),))
    markup = media in (HTML, XML, SVG) or (media == "text/plain" and "<html" in text[:4096].lower())
    lines: list[Line] = []
    incomplete: list[Reason] = []
    if media == HTML or (markup and "<html" in text[:4096].lower()):
        lines += [Line(t, "html") for t in html_text(text).splitlines() if t.strip()]
        if _ACTIVE.search(text):
            incomplete.append(Reason.of("HTML_ACTIVE_CONTENT"))
    if markup:
        source = "html:source" if media == HTML else "xml" if media in (XML, SVG) else "text"
        lines += [Line(t, source) for t in html.unescape(text).splitlines() if t.strip()]
    else:
        lines += [Line(t, "text") for t in text.splitlines() if t.strip()]
    return Reading(media, lines=tuple(lines), incomplete=tuple(incomplete),
                   signable=None if incomplete else SignFormat.CADES)
