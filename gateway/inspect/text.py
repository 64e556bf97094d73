"""The text reader: plain text, HTML, XML and SVG, in whatever encoding they came.

Encodings tried in order: a byte-order mark (UTF-8/16/32), UTF-16 without a mark (told by its zero
bytes, see `sniff.text_encoding`), strict UTF-8, then Windows-1258 (Vietnamese Windows). A text that none
of them decodes completely, or that decodes to control characters (a binary file, UTF-32 taken for
UTF-16), is `incomplete` (fail closed), never read with replacement characters standing in for letters a
mark could be made of.

HTML, XML and SVG are read as their reader shows them (text by blocks, entities decoded) and as their source
shows them: the attribute values a person sees (alt, title, meta content, values, labels), comments, and
script/style text, each as lines of their own. HTML that runs scripts (a <script> element, on* handlers,
javascript: URLs) can show text that is in no byte of the file: refused as HTML_ACTIVE_CONTENT.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
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


class _Markup(HTMLParser):
    """HTML/XML as its reader shows it: text by blocks (script and style apart), the attribute values a
    person sees (alt, title, meta content, form values, labels ...), and comments. Entities decoded."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shown: list[str] = [""]
        self.extra: list[tuple[str, str]] = []
        self.skip = 0  # inside script/style

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        if tag in _BLOCK_TAGS:
            self.shown.append("")
        for key, value in attrs:
            if value and (key in _SHOWN_ATTRS or key.startswith("aria-")):
                self.extra.append((value, "html:attr"))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1
        if tag in _BLOCK_TAGS:
            self.shown.append("")

    def handle_data(self, data):
        if self.skip:
            self.extra.append((data, "html:script"))
        else:
            self.shown[-1] += data

    def handle_comment(self, data):
        self.extra.append((data, "html:comment"))


_BLOCK_TAGS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "table",
                         "ul", "ol", "section", "article", "header", "footer", "title", "text", "tspan", "desc"})
_SHOWN_ATTRS = frozenset({"alt", "title", "content", "value", "placeholder", "label", "summary", "abbr",
                          "data-title", "caption"})


def _markup_lines(text: str, where: str) -> list[Line]:
    parser = _Markup()
    parser.feed(text)
    parser.close()
    lines = [Line(t.strip(), where) for block in parser.shown for t in block.splitlines() if t.strip()]
    lines += [Line(t.strip(), w) for value, w in parser.extra for t in value.splitlines() if t.strip()]
    return lines


def read(fh: BinaryIO, media: str, settings=None) -> Reading:
    data = fh.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        return Reading(media, incomplete=(Reason.of("DOCUMENT_UNREADABLE", detail=f"text over {MAX_TEXT_BYTES} bytes"),))
    text = decode(data)
    if text is None:
        return Reading(media, incomplete=(Reason.of("DOCUMENT_UNREADABLE", detail="unknown text encoding"),))
    if len(_CONTROLS.findall(text[:65536])) > 0:
        return Reading(media, incomplete=(Reason.of("DOCUMENT_UNREADABLE", detail="control characters: not a text"),))
    html_like = media == HTML or "<html" in text[:4096].lower()
    incomplete: list[Reason] = []
    if media in (HTML, XML, SVG) or html_like:
        lines = _markup_lines(text, "html" if html_like else "xml")
        if html_like and _ACTIVE.search(text):
            incomplete.append(Reason.of("HTML_ACTIVE_CONTENT"))
    else:
        lines = [Line(t, "text") for t in text.splitlines() if t.strip()]
    uris: list[tuple[str, bytes]] = []
    if media in (HTML, XML, SVG) and not incomplete:
        found = data_uris(text)  # pictures the markup shows in place: the caller reads them as members
        if found is None:
            incomplete.append(Reason.of("DOCUMENT_UNREADABLE", detail="a data: URI that cannot be decoded"))
        else:
            uris = found
    return Reading(media, lines=tuple(lines), incomplete=tuple(incomplete),
                   signable=None if incomplete else SignFormat.CADES,
                   extra={"data_uris": tuple(uris)} if uris else {})


# A data: URI a renderer shows in place (an <img>, a CSS background, an SVG <image>): its bytes are a member.
_DATA_URI = re.compile(r"data:([\w.+/-]*)((?:;[\w.+-]+=[^;,\s\"']*)*)(;base64)?,([^\"'\s)>]*)", re.IGNORECASE)
MAX_DATA_URIS = 200


def data_uris(text: str) -> list[tuple[str, bytes]] | None:
    """(media type, bytes) of every data: URI in markup, decoded; None when one cannot be decoded or there are
    more than MAX_DATA_URIS (the markup is then not read completely)."""
    import base64
    import binascii
    from urllib.parse import unquote_to_bytes

    out = []
    for m in _DATA_URI.finditer(text):
        media, b64, payload = (m.group(1) or "text/plain").lower(), m.group(3), m.group(4)
        try:
            data = base64.b64decode(re.sub(r"\s+", "", unquote_to_bytes(payload).decode("ascii")), validate=True) \
                if b64 else unquote_to_bytes(payload)
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return None
        out.append((media, data))
        if len(out) > MAX_DATA_URIS:
            return None
    return out
