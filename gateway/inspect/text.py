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

What a renderer shows differently from the source order is read again, each as a reading of its own place
(more readings can only BLOCK, never release; `_shown_readings`): CSS text-transform / small-caps (all lines
upper-cased: marks.py wants the stamp in capitals), bidi overrides (<bdo>, dir=rtl, unicode-bidi, RLO
characters: all lines reversed), CSS content: strings (escapes decoded) and the attributes attr() shows, alone
and around each line, and SVG text by its x/y positions. A charset named in the markup (<meta charset>, the
XML declaration) is a reading too, and a mail part's declared charset and format=flowed (RFC 3676) are read by
`alternative_texts` for the mail reader.
"""

from __future__ import annotations

import codecs
import html
import re
import unicodedata
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
        self.attrs: dict[str, list[str]] = {}  # every attribute value by name (for CSS attr())
        self.styles: list[str] = []  # style="" values and <style> text
        self.bidi = False  # something shown reversed (bdo, dir=rtl)
        self.svg: list[dict] = []  # open SVG text/tspan/textPath elements, their x/y
        self.glyphs: list[tuple[float, float, int, str]] = []  # (y, x, order, text) of SVG text
        self.pen = 0.0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        if tag in _BLOCK_TAGS:
            self.shown.append("")
        for key, value in attrs:
            if value and (key in _SHOWN_ATTRS or key.startswith("aria-")):
                self.extra.append((value, "html:attr"))
            if value:
                self.attrs.setdefault(key, []).append(value)
            if key == "style" and value:
                self.styles.append(value)
            if key in ("text-transform", "font-variant", "direction", "unicode-bidi") and value:
                self.styles.append(f"{key}:{value}")  # SVG presentation attributes
            if key == "dir" and value and value.strip().lower() == "rtl":
                self.bidi = True
        if tag == "bdo":
            self.bidi = True
        if tag in _SVG_TEXT:
            d = dict(attrs)
            self.svg.append({"tag": tag, "x": _numbers(d.get("x")), "y": _numbers(d.get("y"))})

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1
        if tag in _BLOCK_TAGS:
            self.shown.append("")
        if tag in _SVG_TEXT:
            for i in range(len(self.svg) - 1, -1, -1):
                if self.svg[i]["tag"] == tag:
                    del self.svg[i:]
                    break

    def handle_data(self, data):
        if self.skip:
            self.extra.append((data, "html:script"))
            self.styles.append(data)  # style (and script) text: searched for CSS below
        else:
            self.shown[-1] += data
            if self.svg and data.strip():
                self._glyphs(data)

    def _glyphs(self, data: str) -> None:
        """SVG text where it is drawn: the innermost x/y given (a list places one character each); text with
        no x of its own follows the text before it."""
        xs = next((e["x"] for e in reversed(self.svg) if e["x"]), [])
        ys = next((e["y"] for e in reversed(self.svg) if e["y"]), [0.0])
        for e in reversed(self.svg):
            if e["x"]:
                e["x"] = e["x"][len(data):] if len(e["x"]) > 1 else []  # used: later text continues the pen
                break
        if len(xs) > 1:
            for i, ch in enumerate(data):
                x = xs[i] if i < len(xs) else xs[-1] + 0.001 * (i - len(xs) + 1)
                self.glyphs.append((ys[0], x, len(self.glyphs), ch))
                self.pen = x
        else:
            x = xs[0] if xs else self.pen + 0.001
            self.glyphs.append((ys[0], x, len(self.glyphs), data))
            self.pen = x

    def handle_comment(self, data):
        self.extra.append((data, "html:comment"))


_BLOCK_TAGS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "table",
                         "ul", "ol", "section", "article", "header", "footer", "title", "text", "tspan", "desc"})
_SHOWN_ATTRS = frozenset({"alt", "title", "content", "value", "placeholder", "label", "summary", "abbr",
                          "data-title", "caption"})


_SVG_TEXT = frozenset({"text", "tspan", "textpath"})
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _numbers(value: str | None) -> list[float]:
    return [float(n) for n in _NUMBER.findall(value or "")][:10000]


_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})(?:\r\n|[ \t\r\n\f])?|\r\n|\n|(.))", re.S)


def css_unescape(css: str) -> str:
    """CSS text with its escapes decoded ("\\1EAC " is "Ậ", "\\4d" is "M"; a backslash-newline is nothing)."""
    def one(m: re.Match) -> str:
        if m.group(1):
            n = int(m.group(1), 16)
            return chr(n) if 0 < n <= 0x10FFFF and not 0xD800 <= n <= 0xDFFF else "\ufffd"
        return m.group(2) or ""
    return _CSS_ESCAPE.sub(one, css)


_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_CONTENT = re.compile(r"(?i)(?<![\w-])content\s*:\s*((?:\"[^\"]*\"|'[^']*'|[^;}\"'])*)")
_CONTENT_ITEM = re.compile(r"\"([^\"]*)\"|'([^']*)'|attr\(\s*([\w:-]+)")
# Shown in capitals: text-transform (uppercase; capitalize makes a lone "mật" "Mật", read upper-cased too),
# small capitals; or a style sheet the gateway does not have (it could say either).
_UPPER = re.compile(r"(?i)text-transform\s*:\s*(?:uppercase|capitalize)|small-caps|titling-caps|@import"
                    r"|<link\b[^>]*\bstylesheet")
_BIDI_CSS = re.compile(r"(?i)unicode-bidi\s*:\s*[\w-]*override|direction\s*:\s*rtl")
_BIDI_CHARS = re.compile("[\u202b\u202e\u2067\u200f\u061c]")  # RLE, RLO, RLI, RLM, ALM
_CLUSTER = re.compile(r".[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]*", re.S)
MAX_SHOWN_LINES = 20000  # the extra readings of one markup text, at most


def _reversed(text: str) -> str:
    """A line as a right-to-left override draws it: characters (with their accents) in reverse order."""
    return "".join(reversed(_CLUSTER.findall(unicodedata.normalize("NFC", text))))


def _content_values(css: str, attrs: dict[str, list[str]]) -> list[str]:
    """What CSS content: properties draw: their strings joined, attr(x) standing for each value of x."""
    out: list[str] = []
    for m in _CONTENT.finditer(css):
        variants = [""]
        for item in _CONTENT_ITEM.finditer(m.group(1)):
            if item.group(3) is not None:
                values = list(dict.fromkeys(attrs.get(item.group(3).lower(), [])))[:50] or [""]
                variants = [v + a for v in variants for a in values][:200]
            else:
                variants = [v + (item.group(1) if item.group(1) is not None else item.group(2)) for v in variants]
        out += [v for v in variants if v.strip()]
    return list(dict.fromkeys(out))


def _shown_readings(parser: "_Markup", raw: str, shown: list[str], where: str) -> list[Line]:
    """The text as a renderer could draw it where that differs from the source (see the module docstring),
    each reading a place of its own (`where:how`), so lines of one reading never join another's."""
    css = css_unescape(_CSS_COMMENT.sub("", "\n".join(parser.styles)))
    readings: list[tuple[str, list[str]]] = []
    if parser.bidi or _BIDI_CSS.search(css) or _BIDI_CHARS.search(raw):
        readings.append(("rtl", [_reversed(t) for t in shown]))
    content = _content_values(css, parser.attrs)
    if content:
        readings.append(("css-content", content))
        # ::before / ::after put the string beside the element's own text
        lettered = [c.strip() for c in content if any(ch.isalpha() for ch in c)][:10]
        readings.append(("css-around", [f"{c}{t}" for c in lettered for t in shown] + [f"{t}{c}" for c in lettered for t in shown]))
    if parser.glyphs:
        rows: dict[float, list] = {}
        for y, x, order, t in parser.glyphs:
            rows.setdefault(round(y, 1), []).append((x, order, t))
        ordered = [sorted(row) for _, row in sorted(rows.items())]
        readings.append(("svg-order", ["".join(t for _, _, t in row) for row in ordered]))
        readings.append(("svg-order-spaced", [" ".join(t.strip() for _, _, t in row) for row in ordered]))
    if _UPPER.search(css) or _UPPER.search(raw[:65536]):
        readings = [("uppercase", [t.upper() for t in shown]), *readings,
                    *((f"{how}+uppercase", [t.upper() for t in ts]) for how, ts in readings)]
    out: list[Line] = []
    for how, texts in readings:
        out += [Line(t.strip(), f"{where}:{how}") for text in texts for t in text.splitlines() if t.strip()]
        if len(out) > MAX_SHOWN_LINES:
            break
    return out[:MAX_SHOWN_LINES]


def _markup_lines(text: str, where: str) -> list[Line]:
    parser = _Markup()
    parser.feed(text)
    parser.close()
    shown = [t.strip() for block in parser.shown for t in block.splitlines() if t.strip()]
    lines = [Line(t, where) for t in shown]
    lines += [Line(t.strip(), w) for value, w in parser.extra for t in value.splitlines() if t.strip()]
    return lines + _shown_readings(parser, text, shown, where)


def text_lines(text: str, media: str, where: str = "") -> tuple[list[Line], list[Reason]]:
    """The lines of a decoded text as `read` reads them (markup by its reader), and why it is incomplete."""
    html_like = media == HTML or "<html" in text[:4096].lower()
    incomplete: list[Reason] = []
    if media in (HTML, XML, SVG) or html_like:
        lines = _markup_lines(text, where or ("html" if html_like else "xml"))
        if html_like and _ACTIVE.search(text):
            incomplete.append(Reason.of("HTML_ACTIVE_CONTENT"))
    else:
        lines = [Line(t, where or "text") for t in text.splitlines() if t.strip()]
    return lines, incomplete


def codec(name: str | None) -> str | None:
    """Python's codec for a charset label (utf-7, iso-2022-jp, koi8-r ...), or None when it knows none. Text
    codecs only: base64/rot13 and the like are not charsets."""
    if not name:
        return None
    try:
        info = codecs.lookup(name.strip().strip("\"'").lower())
    except (LookupError, ValueError):
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def unflow(text: str, delsp: bool) -> str:
    """A format=flowed text (RFC 3676) as a client that supports it shows it: a line ending in a space joins
    the next of the same quote depth (the space deleted when delsp=yes); space-stuffing removed."""
    out: list[str] = []
    pending: tuple[int, str] | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        body = line[depth:]
        body = body[1:] if body.startswith(" ") else body
        if pending is not None and pending[0] != depth:
            out.append(pending[1])
            pending = None
        soft = body.endswith(" ") and body != "-- "
        if soft and delsp:
            body = body[:-1]
        joined = (pending[1] if pending else "") + body
        if soft:
            pending = (depth, joined)
        else:
            out.append(joined)
            pending = None
    if pending is not None:
        out.append(pending[1])
    return "\n".join(out)


def alternative_texts(data: bytes, charset: str | None, flowed: bool = False, delsp: bool = False) -> list[tuple[str, str]]:
    """The other ways a mail client can show a text part than `decode`'s guess: (how, text) for the declared
    charset (any codec Python knows, utf-7 included; undecodable bytes replaced, the guess still stands) and,
    for format=flowed, each reading unflowed (delsp as declared and the other way: more readings only BLOCK)."""
    guess = decode(data)
    texts: list[tuple[str, str]] = [("guessed", guess)] if guess is not None else []
    name = codec(charset)
    if name is not None:
        declared = data.decode(name, "replace")
        declared = declared[1:] if declared.startswith("\ufeff") else declared
        if declared != guess:
            texts.append((f"charset {name}", declared))
    out = [(how, t) for how, t in texts if how != "guessed"]
    if flowed:
        for how, t in texts:
            for d in dict.fromkeys((delsp, not delsp)):
                u = unflow(t, d)
                if u != t.replace("\r\n", "\n"):
                    out.append((f"{how}, format=flowed delsp={'yes' if d else 'no'}", u))
    return out


_META_CHARSET = re.compile(rb"(?i)<meta\b[^>]*?charset\s*=\s*[\"']?\s*([\w.:-]+)|<\?xml\b[^>]*?encoding\s*=\s*[\"']([\w.:-]+)")


def read(fh: BinaryIO, media: str, settings=None) -> Reading:
    data = fh.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        return Reading(media, incomplete=(Reason.of("DOCUMENT_UNREADABLE", detail=f"text over {MAX_TEXT_BYTES} bytes"),))
    text = decode(data)
    if text is None:
        return Reading(media, incomplete=(Reason.of("DOCUMENT_UNREADABLE", detail="unknown text encoding"),))
    if len(_CONTROLS.findall(text[:65536])) > 0:
        return Reading(media, incomplete=(Reason.of("DOCUMENT_UNREADABLE", detail="control characters: not a text"),))
    lines, incomplete = text_lines(text, media)
    markup = media in (HTML, XML, SVG) or "<html" in text[:4096].lower()
    m = _META_CHARSET.search(data[:65536]) if markup else None
    name = codec((m.group(1) or m.group(2)).decode("ascii", "replace")) if m else None
    if name is not None:  # the charset the markup names: a browser reads it so
        named = data.decode(name, "replace")
        if named.lstrip("\ufeff") != text:
            more, why = text_lines(named.lstrip("\ufeff"), media, f"charset {name}")
            lines += more
            incomplete += [r for r in why if r not in incomplete]
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
