"""The text reader: plain text, HTML, XML and SVG, in whatever encoding they came.

Encodings tried in order: a byte-order mark (UTF-8/16/32), UTF-16 without a mark (told by its zero
bytes, see `sniff.text_encoding`), strict UTF-8, then Windows-1258 (Vietnamese Windows). A text that none
of them decodes completely, or that decodes to control characters (a binary file, UTF-32 taken for
UTF-16), is `incomplete` (fail closed), never read with replacement characters standing in for letters a
mark could be made of.

HTML, XML and SVG are read as their reader shows them (text by blocks, entities decoded; HTML tokenised as the
HTML standard says, as browsers and mail clients do: raw-text elements, <![CDATA[ as a comment) and as their
source shows them: the attribute values a person sees (alt, title, meta content, values, labels), comments, and
script/style text, each as lines of their own. HTML that runs scripts (a <script> element, on* handlers,
javascript: URLs) can show text that is in no byte of the file: refused as HTML_ACTIVE_CONTENT.

What a renderer shows differently from the source order is read again, each as a reading of its own place
(more readings can only BLOCK, never release; `_shown_readings`): CSS text-transform / small-caps (all lines
upper-cased: marks.py wants the stamp in capitals), bidi overrides (<bdo>, dir=rtl, unicode-bidi, RLO
characters: all lines reversed), CSS content: strings (escapes decoded) and the attributes attr() shows, alone
and around each line, each ::before/::after string put in at the start/end of the elements its selector
matches (type, class, id, attribute tests; a complex selector by its last compound: more matches only block;
too many rules x elements: refused; where rules that may not apply outrank the one certain to, every
candidate is read, each other way a block can be drawn a reading of its own), counters drawn as letters (a
letter or custom counter style, symbols(), a marker string) refused, list markers drawn as letters
(<ol type=A start>, <li value>, list-style of alpha/latin/roman letters) put in where drawn, markers in
another script refused, and SVG text by where it is drawn
(x/y/dx/dy, the transforms of its <text> and groups; pen advances of none and of estimated widths; drawn
again where a <use> shows it; along a <textPath> from its startOffset; transforms set by style rules, or
CSS properties not applied, refused). A charset named in the markup (<meta charset>, the
XML declaration) is a reading too, and a mail part's declared charset and format=flowed (RFC 3676) are read by
`alternative_texts` for the mail reader.
"""

from __future__ import annotations

import codecs
import functools
import html
import re
import unicodedata
from html.parser import HTMLParser
from typing import BinaryIO

from gateway.inspect import calendar, marks
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


def rich_text(markup: str) -> str:
    """What a viewer shows of a PDF's rich text (an annotation's /RC, a field's /RV: XHTML), line by line: a
    block or a break ends a line, an inline element joins its letters to its neighbours' ("T<b>ỐI</b>" shows
    "TỐI"), character references are the characters they name."""
    return html.unescape(_TAGS.sub("", _BLOCK.sub("\n", markup)))


class _El:
    """An element as the CSS reading needs it: its tag and attributes, where it starts and ends in the shown
    text ((block, offset, order)), and for SVG its transform (a, b, c, d, e, f), its parent's (`base`), font
    size, and the SVG characters placed inside it (glyphs[g0:g1], for a <use> of it)."""

    __slots__ = ("tag", "attrs", "start", "end", "ctm", "font", "base", "g0", "g1", "hides")

    def __init__(self, tag: str, attrs: dict, start: tuple, ctm: tuple, font: float) -> None:
        self.tag, self.attrs, self.start, self.end, self.ctm, self.font = tag, attrs, start, None, ctm, font
        self.base, self.g0, self.g1 = _IDENTITY, 0, 0
        self.hides = False  # not drawn, nor what it holds (display: none, visibility: hidden, hidden)


class _Markup(HTMLParser):
    """HTML/XML as its reader shows it: text by blocks (script and style apart), the attribute values a
    person sees (alt, title, meta content, form values, labels ...), and comments. Entities decoded.
    Elements are kept with their place in the shown text (CSS ::before/::after) and SVG text with where it
    is drawn (x/y/dx/dy, transforms)."""

    def __init__(self, html_rules: bool = True) -> None:
        super().__init__(convert_charrefs=True)
        self.shown: list[str] = [""]
        self.visible: list[str] = [""]  # `shown` without what hidden elements hold (`_hides`)
        self.hidden_open = 0  # open elements that hide what they hold
        self._hiding: tuple[int, frozenset, frozenset, frozenset] = (0, frozenset(), frozenset(), frozenset())
        self.extra: list[tuple[str, str]] = []
        self.skip = 0  # inside script/style
        self.attrs: dict[str, list[str]] = {}  # every attribute value by name (for CSS attr())
        self.styles: list[str] = []  # style="" values and <style> text
        self.sheets: list[str] = []  # <style> text only (rules with selectors)
        self.linked: list[str] = []  # the hrefs of <link rel=stylesheet>
        self.bidi = False  # something shown reversed (bdo, dir=rtl)
        self.html_rules = html_rules  # HTML's implied end tags (</p> before <div> ...)
        self.open: list[_El] = []  # open elements
        self.elements: list[_El] = []  # every element in source order (at most MAX_ELEMENTS)
        self.too_many = False  # more elements (or SVG characters) than kept
        self.unreadable: str | None = None  # why the page cannot be read completely
        self.seq = 0
        self.svg: list[dict] = []  # open SVG text/tspan/textPath elements, their x/y/dx/dy
        self.glyphs: list[tuple[int, str, float, list[tuple[float, float]]]] = []  # (order, text, size, at)
        self.undrawn: set[int] = set()  # glyphs defined where nothing is drawn (<defs>, <symbol> ...)
        self.pens: list[list[float]] = [[0.0, 0.0] for _ in _ADVANCE_MODELS]
        self.by_id: dict[str, _El] = {}  # the first element of each id (what <use href="#id"> draws)
        # (order, id, transform, inside <defs> and the like, (width, height))
        self.uses: list[tuple[int, str, tuple, bool, tuple]] = []
        self.unsized: list[_El] = []  # nested <svg>s with a viewBox and no size
        self.paths: dict[str, str] = {}  # <path id> -> d (what <textPath> follows)
        self.on_path: list[tuple[int, str, str]] = []  # (glyph, path id, startOffset): placed along the path
        self.foreign_open = 0  # open <svg>/<math> elements (HTML tokenising: see `foreign`)

    def _here(self) -> tuple[int, int, int]:
        self.seq += 1
        return (len(self.shown) - 1, len(self.shown[-1]), self.seq)

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        if self.html_rules:
            self._implied_end(tag)
        if tag in _BLOCK_TAGS:
            self.shown.append("")
            self.visible.append("")
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
        d = dict(attrs)
        if tag == "link" and "stylesheet" in (d.get("rel") or "").lower():
            self.linked.append(d.get("href") or "")
        self._element(tag, d)
        if tag in _SVG_TEXT:
            self.svg.append({"tag": tag, "i": 0, **{k: _numbers(d.get(k)) for k in ("x", "y", "dx", "dy")}})
            if tag == "textpath":  # its characters go along the path from startOffset, in order
                self.svg[-1].update(path=_ref(d) or "", offset=d.get("startoffset") or "0",
                                    pens=[[0.0, 0.0] for _ in _ADVANCE_MODELS])
            if tag == "text":  # each <text> starts at its own (0, 0) unless placed
                self.pens = [[0.0, 0.0] for _ in _ADVANCE_MODELS]

    def _element(self, tag: str, attrs: dict) -> None:
        parent = self.open[-1] if self.open else None
        ctm, font = (parent.ctm, parent.font) if parent else (_IDENTITY, 16.0)
        nested = tag == "svg" and any(e.tag == "svg" for e in self.open)
        if tag not in _SVG_TEXT or tag == "text":  # SVG 1.1: no transform on tspan/textPath (browsers agree)
            ctm = _compose(ctm, _own_transform(tag, attrs, any(e.tag == "svg" for e in self.open[-3:])))
        inner = _viewbox(attrs, attrs.get("width"), attrs.get("height")) if nested else _IDENTITY
        if nested and inner is not None:  # a nested <svg>'s viewBox: what it holds, fitted into it
            ctm = _compose(ctm, inner)
        font = _font_size(attrs, font)
        el = _El(tag, attrs, self._here(), ctm, font)
        el.hides = self._hides(tag, attrs)
        el.base, el.g0 = parent.ctm if parent else _IDENTITY, len(self.glyphs)
        if inner is None and len(self.unsized) < MAX_ELEMENTS:
            self.unsized.append(el)
        self._svg_refs(tag, attrs, el)
        if len(self.elements) < MAX_ELEMENTS:
            self.elements.append(el)
        else:
            self.too_many = True
        if tag in _VOID:
            el.end = self._here()
        else:
            self.open.append(el)
            self.foreign_open += tag in ("svg", "math")
            self.hidden_open += el.hides

    def _hides(self, tag: str, attrs: dict) -> bool:
        """Does an element hide what it holds: the `hidden` attribute, display: none or visibility: hidden in
        its style attribute, or a rule of a style sheet read so far whose selector is its tag, one of its
        classes or its id (a mail's "TỐI MẬT<span class=x>XYZ</span>" shows "TỐI MẬT")."""
        if "hidden" in attrs or _HIDES.search(attrs.get("style") or ""):
            return True
        if len(self.sheets) != self._hiding[0]:
            self._hiding = (len(self.sheets), *_hiding_selectors("\n".join(self.sheets)))
        _, tags, classes, ids = self._hiding
        return tag in tags or attrs.get("id") in ids or bool(classes.intersection((attrs.get("class") or "").split()))

    def _implied_end(self, tag: str) -> None:
        """HTML closes some elements without an end tag (<p> before a <div>, <li> before the next): their
        ::after is drawn there."""
        targets = (_SAME_CLOSES.get(tag, frozenset()) | ({"p"} if tag in _CLOSES_P else frozenset()))
        if not targets:
            return
        for i in range(len(self.open) - 1, -1, -1):
            t = self.open[i].tag
            if t in targets:
                self._close_from(i)
                return
            if t in _SCOPE:
                return

    def _svg_refs(self, tag: str, attrs: dict, el: _El) -> None:
        """Keep what SVG draws by reference: ids, <use> (its transform, then x/y) and the paths of <textPath>."""
        ident = attrs.get("id")
        if ident and ident not in self.by_id and len(self.by_id) < MAX_ELEMENTS:
            self.by_id[ident] = el
        if tag == "path" and ident:
            self.paths.setdefault(ident, attrs.get("d") or "")
        if tag == "use" and _ref(attrs) and len(self.uses) < MAX_ELEMENTS:
            x, y = (_numbers(attrs.get("x")) or [0.0])[0], (_numbers(attrs.get("y")) or [0.0])[0]
            hidden = any(e.tag in _NOT_DRAWN for e in self.open)
            self.uses.append((el.start[2], _ref(attrs), _compose(el.ctm, (1.0, 0.0, 0.0, 1.0, x, y)), hidden,
                              (attrs.get("width"), attrs.get("height"))))

    def _close_from(self, i: int) -> None:
        for el in reversed(self.open[i:]):
            el.end = self._here()
            el.g1 = len(self.glyphs)
            self.foreign_open -= el.tag in ("svg", "math")
            self.hidden_open -= el.hides
        del self.open[i:]

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1
        for i in range(len(self.open) - 1, max(-1, len(self.open) - 200), -1):
            if self.open[i].tag == tag:
                self._close_from(i)
                break
        if tag in _BLOCK_TAGS:
            self.shown.append("")
            self.visible.append("")
        if tag in _SVG_TEXT:
            for i in range(len(self.svg) - 1, -1, -1):
                if self.svg[i]["tag"] == tag:
                    del self.svg[i:]
                    break

    def close(self):
        super().close()
        self._close_from(0)  # what is never closed ends with the document
        self._along_paths()
        if any(el.g1 > el.g0 for el in self.unsized):
            self.unreadable = self.unreadable or "SVG text in a nested <svg> with a viewBox and no size"
        budget = [MAX_USE_EXPANSIONS]
        for _, ref, transform, hidden, viewport in self.uses:
            if not hidden:  # a <use> inside <defs> is drawn only where what holds it is used
                self._expand(ref, transform, viewport, 0, budget)

    def _expand(self, ref: str, transform: tuple, viewport: tuple, depth: int, budget: list[int]) -> None:
        """The characters of the element `ref` drawn again where a <use> puts it (its own transform kept,
        its ancestors' replaced by the use's; a <symbol>'s viewBox fitted into the use's width and height), and
        the <use>s inside it, in turn."""
        el = self.by_id.get(ref)
        inverse = _inverse(el.base) if el is not None else None
        if inverse is None or depth > 16:
            return
        budget[0] -= 1
        if budget[0] < 0 or len(self.glyphs) + (el.g1 - el.g0) > MAX_GLYPHS:
            self.unreadable = "SVG <use>: too much text drawn by reference"
            return
        if el.tag == "symbol":
            fitted = _viewbox(el.attrs, *viewport)
            if fitted is None:
                if el.g1 > el.g0 or any(el.start[2] < u[0] < (el.end or el.start)[2] for u in self.uses):
                    self.unreadable = self.unreadable or "SVG text in a <symbol> with a viewBox, used without a size"
                return
            inverse = _compose(fitted, inverse)
        m = _compose(transform, inverse)
        scale = abs(m[0] * m[3] - m[1] * m[2]) ** 0.5
        for _, text, size, at in self.glyphs[el.g0:el.g1]:
            moved = [(m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]) for x, y in at]
            self.glyphs.append((len(self.glyphs), text, size * scale, moved))
        for order, inner, u, _, inner_viewport in self.uses:
            if el.start[2] < order < (el.end or el.start)[2]:
                self._expand(inner, _compose(m, u), inner_viewport, depth + 1, budget)

    def _along_paths(self) -> None:
        """Characters on a <textPath> placed along its path (startOffset + their advance), each path a row of
        its own far from any drawn text: read in the order the path draws them."""
        rows: dict[str, float] = {}
        lengths: dict[str, float] = {}  # each path measured once, however many characters it carries
        for index, path, offset in self.on_path:
            row = rows.setdefault(path, 1e9 * (len(rows) + 1))
            n = (_numbers(offset) or [0.0])[0]
            if offset.strip().endswith("%"):
                if path not in lengths:
                    lengths[path] = _path_length(self.paths.get(path, ""))
                start = n * lengths[path] / 100
            else:
                start = n
            at = self.glyphs[index][3]
            for m, (x, _) in enumerate(at):
                at[m] = (start + x, row)

    def handle_data(self, data):
        if self.skip:
            self.extra.append((data, "html:script"))
            self.styles.append(data)  # style (and script) text: searched for CSS below
            if self.open and self.open[-1].tag == "style":
                self.sheets.append(data)
        else:
            self.shown[-1] += data
            if not self.hidden_open:
                self.visible[-1] += data
            if self.svg and data.strip():
                self._glyphs(" ".join(data.split()))

    def _glyphs(self, data: str) -> None:
        """SVG text where it is drawn: each character at the innermost x/y given for it (a list places one
        character each; an ancestor's list counts its descendants' characters too), moved by dx/dy, after
        the pen when not placed, and through the transforms of its <text> and the groups around it."""
        el = self.open[-1] if self.open else None
        ctm, font = (el.ctm, el.font) if el else (_IDENTITY, 16.0)
        size = font * abs(ctm[0] * ctm[3] - ctm[1] * ctm[2]) ** 0.5
        on = next((i for i in range(len(self.svg) - 1, -1, -1) if self.svg[i]["tag"] == "textpath"), 0)
        path = self.svg[on] if self.svg and self.svg[on]["tag"] == "textpath" else None
        placed = any(e["x"] or e["y"] or e["dx"] or e["dy"] for e in self.svg[on:])
        # inside <defs>, <symbol> ...: drawn only where a <use> puts it (`_expand`), not here
        undrawn = any(e.tag in _NOT_DRAWN for e in self.open)
        chunks = _CLUSTER.findall(unicodedata.normalize("NFC", data))[:MAX_GLYPHS + 1] if placed else [data]
        for chunk in chunks:
            if len(self.glyphs) >= MAX_GLYPHS:  # the rest could not be placed: not read as drawn
                self.too_many = True
                self.unreadable = self.unreadable or f"SVG: more than {MAX_GLYPHS} characters to place"
                return
            values = [next((e[key][e["i"]] for e in reversed(self.svg[on:]) if e["i"] < len(e[key])), None)
                      for key in ("x", "y", "dx", "dy")] if placed else [None] * 4
            width = font * sum(map(_advance, chunk))
            # on a path: a distance along it (x, dx), placed in close() once every path is known
            pens, through = (self.pens, ctm) if path is None else (path["pens"], _IDENTITY)
            at = [self._place(pens[m], mult * width, values, through) for m, mult in enumerate(_ADVANCE_MODELS)]
            if path is not None:
                self.on_path.append((len(self.glyphs), path["path"], path["offset"]))
            if undrawn:
                self.undrawn.add(len(self.glyphs))
            self.glyphs.append((len(self.glyphs), chunk, size, at))
            if placed:
                for e in self.svg:
                    e["i"] += 1

    @staticmethod
    def _place(pen: list[float], width: float, values: list, ctm: tuple) -> tuple[float, float]:
        """Where a character is drawn (the pen moved to x/y, by dx/dy), the pen then advanced by `width`."""
        x, y, dx, dy = values
        pen[0] = (pen[0] if x is None else x) + (dx or 0.0)
        pen[1] = (pen[1] if y is None else y) + (dy or 0.0)
        px, py = pen
        pen[0] += max(0.001, width)
        return (ctm[0] * px + ctm[2] * py + ctm[4], ctm[1] * px + ctm[3] * py + ctm[5])

    def handle_comment(self, data):
        self.extra.append((data, "html:comment"))

    def unknown_decl(self, data):
        # XML/SVG: a CDATA section is text (what the old tokeniser dropped)
        if data[:6].upper() == "CDATA[":
            self.handle_data(data[6:])

    def parse_html_declaration(self, i):
        # "<![foo[" is no marked section the stdlib knows (it raises AssertionError): read as a browser does,
        # a bogus comment ending at the first ">"
        rawdata = self.rawdata
        if rawdata.startswith("<![", i) and not rawdata.startswith("<![CDATA[", i):
            j = rawdata.find(">", i + 3)
            if j < 0:
                return -1
            self.handle_comment(rawdata[i + 3 : j])
            return j + 1
        return super().parse_html_declaration(i)

    def feed_html5(self, text: str, scripting: bool) -> None:
        """Read `text` tokenised as the HTML standard does (as browsers and mail clients do), not as the
        stdlib's HTMLParser does: <![CDATA[ is a comment to the first ">" outside SVG/MathML, the content of
        <textarea>/<title> (RCDATA), <xmp>/<iframe>/<noembed>/<noframes>/<style> (RAWTEXT, <noscript> too
        when `scripting`), <script> and <plaintext> is text up to the matching end tag (to the end), never
        markup. Tree building is left to the handlers, as for the stdlib's parser; what decides tokenising
        (SVG/MathML foreign content, the HTML tags that break out of it) is followed here."""
        from html5lib._tokenizer import HTMLTokenizer  # HTML standard tokeniser (html5lib==1.1, pure Python)

        tokenizer = HTMLTokenizer(text, parser=_ForeignView(self))
        raw_states = {**dict.fromkeys(("textarea", "title"), tokenizer.rcdataState),
                      **dict.fromkeys(_RAWTEXT, tokenizer.rawtextState),
                      "script": tokenizer.scriptDataState, "plaintext": tokenizer.plaintextState}
        if scripting:
            raw_states["noscript"] = tokenizer.rawtextState
        for token in tokenizer:
            kind = token["type"]
            if kind in (1, 2):  # Characters, SpaceCharacters
                self.handle_data(token["data"])
            elif kind == 3:  # StartTag (a self-closing flag counts in SVG/MathML only)
                name, attrs = token["name"], list(token["data"].items())
                foreign = self.foreign()
                if foreign is not None and (name in _BREAKOUT or (name == "font" and token["data"].keys() & {"color", "face", "size"})):
                    self._close_from(foreign)  # the HTML tags that end SVG/MathML
                    foreign = None
                if token.get("selfClosing") and foreign is not None:
                    self.handle_startendtag(name, attrs)
                else:
                    self.handle_starttag(name, attrs)
                if foreign is None and name in raw_states:
                    tokenizer.state = raw_states[name]
            elif kind == 4:  # EndTag
                self.handle_endtag(token["name"])
            elif kind == 6:  # Comment
                self.handle_comment(token["data"])

    def foreign(self) -> int | None:
        """Where the SVG/MathML element the parser is in starts (an index into `open`), or None in HTML (an
        HTML integration point, <foreignObject> and the like, holds HTML again). Looked for among the last
        MAX_FOREIGN_LOOK open elements only: past them, HTML (raw text read as text, CDATA as a comment: read
        either way, where SVG would hide less)."""
        if not self.foreign_open:
            return None
        for i in range(len(self.open) - 1, max(-1, len(self.open) - 1 - MAX_FOREIGN_LOOK), -1):
            tag = self.open[i].tag
            if tag in ("svg", "math"):
                return i
            if tag in _INTEGRATION:
                return None
        return None


class _ForeignView:
    """What html5lib's tokeniser asks its tree builder (is the current node HTML?): a CDATA section counts
    only in SVG/MathML."""

    defaultNamespace = "html"

    def __init__(self, markup: "_Markup") -> None:
        self.tree = self
        self._markup = markup

    @property
    def openElements(self) -> list:
        return [_ForeignNode("svg" if self._markup.foreign() is not None else "html")]


class _ForeignNode:
    __slots__ = ("namespace",)

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace


# display: none, visibility: hidden / collapse (a style attribute's or a rule's declarations)
_HIDES = re.compile(r"(?i)(?:^|;|\s)(?:display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse))\b")
_RULE = re.compile(r"([^{}]*)\{([^{}]*)\}")
_ONE_SELECTOR = re.compile(r"^([a-z][a-z0-9-]*)?(?:([.#])([\w-]+))?$", re.I)


def _hiding_selectors(css: str) -> tuple[frozenset, frozenset, frozenset]:
    """(tags, classes, ids) that rules of `css` hide with display: none or visibility: hidden, from selectors
    that are one tag, class or id (a compound or combinator selector is not matched here: the text it hides
    is still read in full)."""
    tags, classes, ids = set(), set(), set()
    for selectors, body in _RULE.findall(_CSS_COMMENT.sub("", css)):
        if not _HIDES.search(body):
            continue
        for sel in selectors.split(","):
            m = _ONE_SELECTOR.match(sel.strip())
            if not m or bool(m.group(1)) == bool(m.group(3)):  # one tag, or one class or id: nothing else
                continue
            if m.group(2) == ".":
                classes.add(m.group(3))
            elif m.group(2) == "#":
                ids.add(m.group(3))
            elif m.group(1):
                tags.add(m.group(1).lower())
    return frozenset(tags), frozenset(classes), frozenset(ids)


MAX_FOREIGN_LOOK = 512
_RAWTEXT = frozenset({"style", "xmp", "iframe", "noembed", "noframes"})
_INTEGRATION = frozenset({"foreignobject", "desc", "title", "mi", "mo", "mn", "ms", "mtext", "annotation-xml"})
# Start tags that end SVG/MathML content (HTML standard, "parsing main in foreign content")
_BREAKOUT = frozenset({"b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em",
                       "embed", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing",
                       "menu", "meta", "nobr", "ol", "p", "pre", "ruby", "s", "small", "span", "strong", "strike",
                       "sub", "sup", "table", "tt", "u", "ul", "var"})


MAX_ELEMENTS = 100000  # elements kept for ::before/::after; a page with more and such rules is refused
MAX_GLYPHS = 200000  # SVG characters placed one by one, at most
MAX_USE_EXPANSIONS = 10000  # SVG <use>s drawn (nested ones counted each time), at most (more: refused)
_NOT_DRAWN = frozenset({"defs", "symbol", "clippath", "mask", "pattern", "marker", "lineargradient",
                        "radialgradient", "filter"})
_ADVANCE_MODELS = (0.0, 1.0)  # pen advance per character: none (order of the anchors) and an estimated width
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
                   "wbr", "param", "keygen"})
_CLOSES_P = frozenset({"address", "article", "aside", "blockquote", "center", "details", "dir", "div", "dl",
                       "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
                       "header", "hr", "li", "main", "menu", "nav", "ol", "p", "pre", "section", "summary",
                       "table", "ul", "dd", "dt"})
_SAME_CLOSES = {"li": frozenset({"li"}), "dt": frozenset({"dt", "dd"}), "dd": frozenset({"dt", "dd"}),
                "option": frozenset({"option"}), "tr": frozenset({"tr", "td", "th"}),
                "td": frozenset({"td", "th"}), "th": frozenset({"td", "th"})}
_SCOPE = frozenset({"html", "body", "table", "button", "caption", "ul", "ol", "svg", "math", "template",
                    "object", "marquee", "applet"})
_IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
_TRANSFORM = re.compile(r"(?i)(matrix|translate[xy]?|scale[xy]?|rotate|skewx|skewy)\s*\(([^)]*)\)")
_CSS_TRANSFORM = re.compile(r"(?i)(?:^|;)\s*transform\s*:\s*([^;]*)")
_FONT_SIZE = re.compile(r"(?i)(?:^|;)\s*font-size\s*:\s*([^;]*)")


def _compose(m: tuple, n: tuple) -> tuple:
    """m then n applied inside it (n first to a point): the matrix product m x n."""
    a1, b1, c1, d1, e1, f1 = m
    a2, b2, c2, d2, e2, f2 = n
    return (a1 * a2 + c1 * b2, b1 * a2 + d1 * b2, a1 * c2 + c1 * d2, b1 * c2 + d1 * d2,
            a1 * e2 + c1 * f2 + e1, b1 * e2 + d1 * f2 + f1)


def _transform(value: str) -> tuple:
    """An SVG transform list (or a CSS transform) as one matrix."""
    import math

    out = _IDENTITY
    for name, args in _TRANSFORM.findall(value[:4096]):
        n, name = _numbers(args), name.lower()
        if name == "matrix" and len(n) >= 6:
            t = tuple(n[:6])
        elif name.startswith("translate") and n:
            t = (1, 0, 0, 1, 0 if name == "translatey" else n[0],
                 n[0] if name == "translatey" else (n[1] if len(n) > 1 and name == "translate" else 0))
        elif name.startswith("scale") and n:
            sx, sy = (n[0], n[1] if len(n) > 1 else n[0]) if name == "scale" else \
                ((n[0], 1) if name == "scalex" else (1, n[0]))
            t = (sx, 0, 0, sy, 0, 0)
        elif name == "rotate" and n:
            r = math.radians(n[0])
            t = (math.cos(r), math.sin(r), -math.sin(r), math.cos(r), 0, 0)
            if len(n) >= 3:  # about (cx, cy)
                t = _compose(_compose((1, 0, 0, 1, n[1], n[2]), t), (1, 0, 0, 1, -n[1], -n[2]))
        elif name in ("skewx", "skewy") and n:
            k = math.tan(math.radians(n[0])) if abs(n[0] % 180) != 90 else 0.0
            t = (1, 0, k, 1, 0, 0) if name == "skewx" else (1, k, 0, 1, 0, 0)
        else:
            continue
        out = _compose(out, tuple(float(v) for v in t))
    return out


def _inverse(m: tuple) -> tuple | None:
    """The inverse of an affine matrix, or None when it flattens everything (nothing is drawn through it)."""
    a, b, c, d, e, f = m
    det = a * d - b * c
    if abs(det) < 1e-12:
        return None
    return (d / det, -b / det, -c / det, a / det, (c * f - d * e) / det, (b * e - a * f) / det)


def _ref(attrs: dict) -> str | None:
    """The id an SVG href (or xlink:href) names: "#id" -> "id"."""
    value = (attrs.get("href") or attrs.get("xlink:href") or "").strip()
    return value[1:] if value.startswith("#") and len(value) > 1 else None


_PATH_TOKEN = re.compile(r"[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_PATH_ARGS = {"m": 2, "l": 2, "t": 2, "h": 1, "v": 1, "c": 6, "s": 4, "q": 4, "a": 7, "z": 0}


PATH_STEPS = 32  # straight pieces a curve or arc is measured by (a semicircle: within 0.05 % of its length)


def _path_length(d: str) -> float:
    """A path's length (for a textPath's startOffset in %): lines, cubic and quadratic curves (smooth ones
    with their reflected control point) and elliptical arcs, each curve measured along PATH_STEPS pieces."""
    import math

    x = y = sx = sy = total = 0.0
    last_c = last_q = None  # the previous curve's last control point (S and T reflect it)
    cmd, args = "m", []

    def along(points) -> None:
        nonlocal total, x, y
        for px, py in points:
            total += math.hypot(px - x, py - y)
            x, y = px, py

    def bezier(p0, *ctrl_end):
        pts = (p0, *ctrl_end)
        out = []
        for i in range(1, PATH_STEPS + 1):
            t, q = i / PATH_STEPS, list(pts)
            while len(q) > 1:  # de Casteljau
                q = [((1 - t) * a[0] + t * b[0], (1 - t) * a[1] + t * b[1]) for a, b in zip(q, q[1:])]
            out.append(q[0])
        return out

    def arc(rx, ry, phi, large, sweep, ex, ey):
        # SVG 1.1 F.6.5: the endpoints to the centre, then the angles swept
        if (ex, ey) == (x, y):
            return []
        rx, ry = abs(rx), abs(ry)
        if rx == 0 or ry == 0:
            return [(ex, ey)]
        c, s_ = math.cos(math.radians(phi)), math.sin(math.radians(phi))
        dx, dy = (x - ex) / 2, (y - ey) / 2
        x1, y1 = c * dx + s_ * dy, -s_ * dx + c * dy
        k = x1 * x1 / (rx * rx) + y1 * y1 / (ry * ry)
        if k > 1:
            rx, ry = rx * math.sqrt(k), ry * math.sqrt(k)
        num = rx * rx * ry * ry - rx * rx * y1 * y1 - ry * ry * x1 * x1
        root = math.sqrt(max(0.0, num / (rx * rx * y1 * y1 + ry * ry * x1 * x1)))
        root = -root if large == sweep else root
        cx1, cy1 = root * rx * y1 / ry, -root * ry * x1 / rx
        a1 = math.atan2((y1 - cy1) / ry, (x1 - cx1) / rx)
        a2 = math.atan2((-y1 - cy1) / ry, (-x1 - cx1) / rx)
        delta = a2 - a1
        if sweep and delta < 0:
            delta += 2 * math.pi
        elif not sweep and delta > 0:
            delta -= 2 * math.pi
        mx, my = (x + ex) / 2, (y + ey) / 2
        out = []
        for i in range(1, PATH_STEPS + 1):
            a = a1 + delta * i / PATH_STEPS
            px, py = rx * math.cos(a) + cx1, ry * math.sin(a) + cy1
            out.append((c * px - s_ * py + mx, s_ * px + c * py + my))
        return out

    for tok in _PATH_TOKEN.findall(d[:65536]):
        if tok.isalpha():
            cmd, args = tok, []
            if cmd in "zZ":
                along([(sx, sy)])
                last_c = last_q = None
            continue
        c = cmd.lower()
        if c == "a" and len(args) % 7 in (3, 4) and len(tok) > 1 and tok[0] in "01" and tok[1] != ".":
            # flags written together with what follows ("a10 10 0 011 10 10")
            args.append(float(tok[0]))
            tok = tok[1:]
            if len(args) % 7 == 4 and len(tok) > 1 and tok[0] in "01" and tok[1] != ".":
                args.append(float(tok[0]))
                tok = tok[1:]
        args.append(float(tok))
        n = _PATH_ARGS.get(c)
        if not n or len(args) < n:
            continue
        rel = cmd.islower()
        ox, oy = (x, y) if rel else (0.0, 0.0)
        pts = [(args[i] + ox, args[i + 1] + oy) for i in range(0, n - 1, 2)] if c not in "hva" else []
        if c == "m":
            x, y = sx, sy = pts[0]
            cmd = "l" if rel else "L"  # more pairs after a moveto are linetos
        elif c == "l":
            along(pts)
        elif c == "h":
            along([(args[0] + ox, y)])
        elif c == "v":
            along([(x, args[0] + oy)])
        elif c in "cs":
            first = pts[0] if c == "c" else (2 * x - last_c[0], 2 * y - last_c[1]) if last_c else (x, y)
            ctrl, end = (pts[1], pts[2]) if c == "c" else (pts[0], pts[1])
            along(bezier((x, y), first, ctrl, end))
            last_c = ctrl
        elif c in "qt":
            ctrl = pts[0] if c == "q" else (2 * x - last_q[0], 2 * y - last_q[1]) if last_q else (x, y)
            along(bezier((x, y), ctrl, pts[-1]))
            last_q = ctrl
        elif c == "a":
            along(arc(args[0], args[1], args[2], bool(args[3]), bool(args[4]), args[5] + ox, args[6] + oy))
        if c not in "cs":
            last_c = None
        if c not in "qt":
            last_q = None
        args = []
    return total


def _own_transform(tag: str, attrs: dict, in_svg: bool) -> tuple:
    """An element's own transform: the attribute, or a CSS transform in its style (which wins); a nested
    <svg> moves its content by its x/y."""
    m = _transform(attrs.get("transform") or "")
    css = _CSS_TRANSFORM.search(attrs.get("style") or "")
    if css:
        m = _transform(css.group(1))
    if tag == "svg" and in_svg:
        x, y = (_numbers(attrs.get("x")) or [0.0])[0], (_numbers(attrs.get("y")) or [0.0])[0]
        m = _compose((1.0, 0.0, 0.0, 1.0, x, y), m)
    return m


_ALIGN = re.compile(r"x(min|mid|max)y(min|mid|max)")


def _viewbox(attrs: dict, width: str | None, height: str | None) -> tuple | None:
    """What an element's viewBox does to what it holds, drawn into a viewport `width` x `height` (a nested <svg>'s
    own, a <use>'s for a <symbol>): scaled and moved as preserveAspectRatio says. The identity without a
    viewBox (or with one that draws nothing); None when the viewport's size is not given in user units
    (100 % of a viewport the gateway does not lay out)."""
    box = _numbers(attrs.get("viewbox"))
    if len(box) != 4 or box[2] <= 0 or box[3] <= 0:
        return _IDENTITY
    w, h = (_numbers(v) if v and not v.strip().endswith("%") else [] for v in (width, height))
    if not w or not h or w[0] <= 0 or h[0] <= 0:
        return None
    (mx, my, vw, vh), vpw, vph = box, w[0], h[0]
    sx, sy = vpw / vw, vph / vh
    ratio = (attrs.get("preserveaspectratio") or "").strip().lower()
    if ratio.startswith("none"):
        return (sx, 0.0, 0.0, sy, -mx * sx, -my * sy)
    s = max(sx, sy) if "slice" in ratio else min(sx, sy)
    ax, ay = (_ALIGN.search(ratio) or _ALIGN.search("xmidymid")).groups()
    room = {"min": 0.0, "mid": 0.5, "max": 1.0}
    return (s, 0.0, 0.0, s, -mx * s + room[ax] * (vpw - vw * s), -my * s + room[ay] * (vph - vh * s))


def _font_size(attrs: dict, inherited: float) -> float:
    css = _FONT_SIZE.search(attrs.get("style") or "")
    value = css.group(1) if css else attrs.get("font-size")
    n = _numbers(value)
    if not n or n[0] <= 0:
        return inherited
    unit = value.strip().lower()
    return inherited * n[0] / 100 if unit.endswith("%") else inherited * n[0] if unit.endswith("em") else n[0]


@functools.lru_cache(maxsize=4096)
def _advance(ch: str) -> float:
    """A character's advance as a fraction of the font size, roughly (the pen position of the next)."""
    base = unicodedata.normalize("NFD", ch)[:1]
    if not base or base.isspace():
        return 0.28
    if base in "iljItf.,:;'|!r":
        return 0.3
    if base in "MWmw":
        return 0.85
    return 0.68 if base.isupper() else 0.55


_BLOCK_TAGS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "table",
                         "ul", "ol", "section", "article", "header", "footer", "title", "text", "tspan", "desc"})
_SHOWN_ATTRS = frozenset({"alt", "title", "content", "value", "placeholder", "label", "summary", "abbr",
                          "data-title", "caption", "string"})  # string: a VML textpath's (WordArt) text


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
MAX_SHOWN_LINES = 20000  # lines in the other readings of one markup text, at most (more: refused)


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


# --- CSS ::before / ::after per element ------------------------------------------------------------------

MAX_CSS_RULES = 5000  # rules that draw letters, at most (more: the page is refused)
MAX_CSS_CHECKS = 2000000  # rule x element comparisons, at most (more: the page is refused)
_CSS_TOKEN = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[{}]", re.S)
_COUNTER = re.compile(r"(?i)counters?\([^)]*\)")
_PSEUDO_ELEMENT = re.compile(r"(?i)::?(before|after|marker)(?![\w-])")
_SIMPLE = re.compile(r"""(?x)
    (?P<type>^(?:[\w-]+\|)?(?:[\w-]+|\*))
  | \.(?P<cls>[\w-]+)
  | \#(?P<id>[\w-]+)
  | \[\s*(?:[\w-]*\|)?(?P<an>[\w:-]+)\s*(?:(?P<op>[~|^$*]?=)\s*(?P<av>"[^"]*"|'[^']*'|[^\]\s]+)\s*(?P<fl>[iIsS])?\s*)?\]
  | (?P<pseudo>::?[\w-]+(?:\((?:[^()]|\([^()]*\))*\))?)
""")


class _Rule:
    """One selector of a style rule drawing letters before or after the elements it matches: the last
    compound's tests, whether that is the whole selector (certain), its cascade rank, and its content."""

    __slots__ = ("which", "tag", "ids", "classes", "tests", "certain", "rank", "parts")

    def __init__(self, which, tag, ids, classes, tests, certain, rank, parts):
        self.which, self.tag, self.ids, self.classes, self.tests = which, tag, ids, classes, tests
        self.certain, self.rank, self.parts = certain, rank, parts


def _css_blocks(css: str):
    """(prelude, body) of every innermost {} block (rules inside @media and the like too), in order."""
    stack: list[list] = []
    last = 0
    for m in _CSS_TOKEN.finditer(css):
        if m.group() == "{":
            if stack:
                stack[-1][2] = True
            stack.append([css[last:m.start()].rsplit(";", 1)[-1], m.end(), False])
            last = m.end()
        elif m.group() == "}":
            if stack:
                prelude, start, nested = stack.pop()
                if not nested:
                    yield prelude, css[start:m.start()]
            last = m.end()


def _split_top(text: str, seps: str) -> list[str]:
    """`text` split at the characters of `seps` outside brackets, parentheses and quotes."""
    out, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth = max(0, depth - 1)
        elif depth == 0 and ch in seps:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur))
    return out


def _content_parts(body: str) -> tuple[list[tuple[str, str]], bool] | None:
    """The last content: declaration of a rule body as ("s", string) / ("a", attribute) parts (counters and
    quotes draw no letters: left out), and whether it is !important; None when it draws no letters."""
    found = list(_CONTENT.finditer(css_unescape(body)))
    if not found:
        return None
    value = _COUNTER.sub(" ", found[-1].group(1))  # a counter's separator string is not drawn as such
    parts = [("a", i.group(3).lower()) if i.group(3) is not None else ("s", i.group(1) if i.group(1) is not None
             else i.group(2)) for i in _CONTENT_ITEM.finditer(value)]
    if not any(k == "a" or any(ch.isalpha() for ch in v) for k, v in parts):
        return None
    return parts, "!important" in value.lower()


def _rule(selector: str, order: int, parts, important: bool) -> _Rule | None:
    pe = _PSEUDO_ELEMENT.search(selector)
    if pe is None:
        return None
    which = "after" if pe.group(1).lower() == "after" else "before"  # a marker is drawn before the text
    sel = (selector[:pe.start()] + selector[pe.end():]).strip()
    compounds = [c for c in _split_top(sel, " \t\r\n\f>+~") if c.strip()]
    last = compounds[-1].strip() if compounds else "*"
    tag, ids, classes, tests, pseudo = None, [], [], [], False
    for m in _SIMPLE.finditer(last):
        if m.group("type"):
            t = m.group("type").rsplit("|", 1)[-1].lower()
            tag = None if t == "*" else t
        elif m.group("cls"):
            classes.append(m.group("cls").lower())
        elif m.group("id"):
            ids.append(m.group("id").lower())
        elif m.group("an"):
            value = (m.group("av") or "").strip("\"'")
            tests.append((m.group("an").lower(), m.group("op"), value))
        else:
            pseudo = True
    spec = (len(re.findall(r"#[\w-]", sel)), len(re.findall(r"\.[\w-]|\[|(?<!:):[\w-]", sel)),
            len(re.findall(r"(?:^|[\s>+~])[a-zA-Z]", sel)))
    return _Rule(which, tag, ids, classes, tests, len(compounds) <= 1 and not pseudo, (important, spec, order),
                 parts)


def css_rules(sheets: str) -> list[_Rule] | None:
    """The ::before/::after/::marker rules of style sheets that draw letters; None when there are more than
    MAX_CSS_RULES (not read completely)."""
    seen: dict[tuple, _Rule] = {}
    order = 0
    for prelude, body in _css_blocks(_CSS_COMMENT.sub("", sheets)):
        if "content" not in body.lower() or not _PSEUDO_ELEMENT.search(prelude):
            continue
        content = _content_parts(body)
        if content is None:
            continue
        for selector in _split_top(css_unescape(prelude), ","):
            order += 1
            r = _rule(selector, order, *content)
            if r is not None:  # the same rule again: the later stands for both
                seen[(r.which, r.tag, tuple(r.ids), tuple(r.classes), tuple(r.tests), r.certain, tuple(r.parts))] = r
        if len(seen) > MAX_CSS_RULES:
            return None
    return list(seen.values())


def _attr_test(el: _El, name: str, op: str | None, want: str) -> bool:
    have = el.attrs.get(name, False)
    if have is False:
        return False
    if op is None:
        return True
    have, want = (have or "").lower(), want.lower()  # any case: reading more only adds blocks
    if op == "=":
        return have == want
    if op == "~=":
        return want in have.split()
    if op == "|=":
        return have == want or have.startswith(want + "-")
    if op == "^=":
        return bool(want) and have.startswith(want)
    if op == "$=":
        return bool(want) and have.endswith(want)
    return bool(want) and want in have


def _matches(rule: _Rule, el: _El, classes: set[str], ident: str) -> bool:
    return ((rule.tag is None or rule.tag == el.tag) and all(i == ident for i in rule.ids)
            and all(c in classes for c in rule.classes)
            and all(_attr_test(el, *t) for t in rule.tests))


def _index(rules: list[_Rule]) -> dict[tuple[str, str], list[_Rule]]:
    """Rules by the one key an element must have for them to match (id, a class, the tag, or any)."""
    by: dict[tuple[str, str], list[_Rule]] = {}
    for r in rules:
        key = (("#", r.ids[0]) if r.ids else (".", r.classes[0]) if r.classes else ("t", r.tag) if r.tag
               else ("[", r.tests[0][0]) if r.tests else ("*", ""))
        by.setdefault(key, []).append(r)
    return by


def _options(mine: list[_Rule], el: _El) -> list[str]:
    """What one pseudo-element of `el` can show, the cascade winner first: every rule that may match and
    outranks the best rule certain to match, that one, and nothing when no rule is certain to match (a
    combinator or pseudo-class is not evaluated: a decoy that never applies can outrank the rule that does)."""
    out: list[str] = []
    for r in sorted(mine, key=lambda r: r.rank, reverse=True):
        out.append("".join(v if k == "s" else (el.attrs.get(v) or "") for k, v in r.parts))
        if r.certain:
            break
    else:
        out.append("")
    return list(dict.fromkeys(out))


def _drawn(rules: list[_Rule], elements: list[_El]) -> list[tuple[tuple, list[str]]] | None:
    """Each place ((block, offset, order)) where a ::before/::after string may be drawn and what may be drawn
    there, the cascade winner first; None over MAX_CSS_CHECKS."""
    by = _index(rules)
    slots: list[tuple[tuple, list[str]]] = []
    checks = 0
    for el in elements:
        classes = set((el.attrs.get("class") or "").lower().split())
        ident = (el.attrs.get("id") or "").lower()
        keys = [("#", ident), ("t", el.tag), ("*", "")] + [(".", c) for c in classes] + [("[", a) for a in el.attrs]
        checks += sum(len(by.get(k, ())) for k in keys)
        if checks > MAX_CSS_CHECKS:
            return None
        found = [r for k in keys for r in by.get(k, ()) if _matches(r, el, classes, ident)]
        for which in ("before", "after"):
            mine = [r for r in found if r.which == which]
            if mine:
                slots.append(((el.start if which == "before" else el.end or el.start), _options(mine, el)))
    return slots


def _with_drawn(shown: list[str], drawn: list[tuple[tuple, str]]) -> list[str]:
    """The shown blocks with the generated strings put in at their places."""
    at: dict[int, list[tuple[int, int, str]]] = {}
    for (block, offset, order), text in drawn:
        at.setdefault(block, []).append((offset, order, text))
    out = list(shown)
    for block, items in at.items():
        out[block] = _block_drawn(shown[block], items)
    return out


def _block_drawn(text: str, items: list[tuple[int, int, str]]) -> str:
    """One shown block with strings put in at (offset, order)."""
    pieces, pos = [], 0
    for offset, _, s in sorted(items):
        pieces += [text[pos:offset], s]
        pos = offset
    return "".join(pieces) + text[pos:]


MAX_CSS_WAYS = 64  # ways one block's generated content can be drawn, at most (more: the page is refused)
MAX_CSS_PAGES = 10000  # blocks in the other readings of generated content together, at most (more: refused)


def _alternatives(shown: list[str], slots: list[tuple[tuple, list[str]]]) -> list[list[str]] | None:
    """The other ways rules that may not apply let the page be drawn, as short readings: each way of each block
    that can be drawn otherwise, between each line its neighbours can show (marks.py reads a mark beside the
    lines above and below it: "MẬT" over "ĐỘ" is a word, alone a mark; a box-11 phrase runs on across lines).
    A neighbour is the nearest block drawn with text on that side: a block with one way, or any way of a block
    with several, and past those that may be drawn empty. Blocks are read apart: lines never span two. None
    when a block can be drawn too many ways or the readings would be too long."""
    import bisect
    import itertools

    winner = _with_drawn(shown, [(place, options[0]) for place, options in slots])
    by_block: dict[int, list[tuple[tuple, list[str]]]] = {}
    for place, options in slots:
        by_block.setdefault(place[0], []).append((place, options))
    ways: dict[int, list[str]] = {}  # each way a block with several can be drawn, the winner first
    for block, mine in by_block.items():
        count = 1
        for _, options in mine:
            count *= len(options)
        if count > MAX_CSS_WAYS:
            return None
        if count > 1:
            places = [(offset, order) for (_, offset, order), _ in mine]
            drawn = [_block_drawn(shown[block], [(o, n, t) for (o, n), t in zip(places, choice)])
                     for choice in itertools.product(*(o for _, o in mine))]
            ways[block] = list(dict.fromkeys(drawn))

    # the blocks that can show text: drawn with text by the winner, or drawn several ways (blocks always
    # empty are passed over)
    showing = sorted(set(ways) | {i for i, text in enumerate(winner) if text.strip()})

    def beside(block: int, step: int) -> list[str | None] | None:
        """What the nearest block drawn with text on one side can show (None in it: no block, the page's
        edge); None when more than MAX_CSS_WAYS blocks that may be drawn empty stand in between."""
        out: list[str | None] = []
        k, passed = bisect.bisect_left(showing, block) + step, 0
        while 0 <= k < len(showing):
            texts = ways.get(showing[k], [winner[showing[k]]])
            out += [t for t in texts if t.strip()]
            if all(t.strip() for t in texts):
                return list(dict.fromkeys(out))
            passed += 1
            if passed > MAX_CSS_WAYS:
                return None
            k += step
        return list(dict.fromkeys(out + [None]))

    filled = [i for i, text in enumerate(winner) if text.strip()]

    def beside_winner(block: int, step: int) -> list[str | None]:
        """The nearest block the cascade winner draws with text on one side."""
        i = bisect.bisect_left(filled, block)  # the first at or after it
        k = i - 1 if step < 0 else i + 1 if i < len(filled) and filled[i] == block else i
        return [winner[filled[k]]] if 0 <= k < len(filled) else [None]

    pages: list[list[str]] = []
    total = 0
    for block in sorted(ways):
        before, after = beside(block, -1), beside(block, 1)
        if before is None or after is None:
            return None
        if any(marks.may_hold_mark(t) for t in (*ways[block], *before, *after) if t is not None):
            # marks.py reads a line beside the one line above and below it: the neighbours' nearest lines
            before = list(dict.fromkeys(t if t is None else t.strip().splitlines()[-1] for t in before))
            after = list(dict.fromkeys(t if t is None else t.strip().splitlines()[0] for t in after))
        else:  # no mark can show here however the neighbours are drawn: the winner's suffice
            before, after = beside_winner(block, -1), beside_winner(block, 1)
        for b, mine, a in itertools.product(before, ways[block], after):
            page = [t for t in (b, mine, a) if t is not None]
            pages.append(page)
            total += len(page)
            if total > MAX_CSS_PAGES:
                return None
    return pages


_COUNTER_CALL = re.compile(r"(?i)(?<![\w-])(counters?)\(((?:\"[^\"]*\"|'[^']*'|[^)\"'])*)\)")
_NUMERIC_STYLES = frozenset({"decimal", "decimal-leading-zero", "none", "disc", "circle", "square",
                             "disclosure-open", "disclosure-closed"})
_DRAWN_SYMBOLS = re.compile(r"(?i)@counter-style\b|(?<![\w-])symbols\s*\(")
_LIST_STRING = re.compile(r"(?i)(?<![\w-])list-style(?:-type)?\s*:[^;}]*?(\"[^\"]*\"|'[^']*')")


def _counter_letters(css: str) -> str | None:
    """Why the generated letters of counters cannot be read (a counter drawn in a letter style, a custom
    counter style, a marker string), or None: only numbers and bullets are drawn. The letters such counters
    draw are in no text of the page (13, 1 and 20 in upper-alpha draw M, A, T): refused, not evaluated."""
    m = _DRAWN_SYMBOLS.search(css)
    if m:
        return f"CSS counter style with its own symbols ({m.group().strip()})"
    for m in _COUNTER_CALL.finditer(css):
        args = [a.strip() for a in _split_top(m.group(2), ",")]
        at = 2 if m.group(1).lower() == "counters" else 1  # counters(name, separator, style)
        style = args[at] if len(args) > at else "decimal"
        if style.lower() not in _NUMERIC_STYLES:
            return f"CSS counter drawn as letters ({m.group(1)}(..., {style[:40]}))"
    for m in _LIST_STRING.finditer(css):
        if any(ch.isalpha() for ch in m.group(1)):
            return "CSS list marker drawn from a string"
    return None


_LIST_TYPE_ATTR = {"a": "lower-alpha", "A": "upper-alpha", "i": "lower-roman", "I": "upper-roman", "1": "decimal"}
_LETTER_LISTS = frozenset({"upper-alpha", "upper-latin", "lower-alpha", "lower-latin", "upper-roman", "lower-roman"})
_NOT_A_STYLE = frozenset({"inside", "outside", "inherit", "initial", "unset", "revert", "revert-layer"})
_LIST_STYLE = re.compile(r"(?i)(?<![\w-])list-style(?:-type)?\s*:\s*([^;}]*)")
MAX_LIST_READINGS = 4  # list marker styles set by style rules, read each over every list (more: refused)


def _list_styles(css: str) -> tuple[list[str], str | None]:
    """The marker styles `list-style`/`list-style-type` values in `css` name, and why one cannot be drawn
    (a style that is neither numbers, bullets nor the letters drawn here: greek, armenian, cjk ...)."""
    found: list[str] = []
    for m in _LIST_STYLE.finditer(css):
        for token in re.findall(r"[\w-]+", re.sub(r"(?i)url\([^)]*\)|\"[^\"]*\"|'[^']*'", " ", m.group(1))):
            token = token.lower()
            if token in _NOT_A_STYLE or token in _NUMERIC_STYLES or token.startswith("!"):
                continue
            if token not in _LETTER_LISTS:
                return found, f"CSS list markers in a style not drawn ({token[:40]})"
            found.append(token)
    return list(dict.fromkeys(found)), None


def _marker(n: int, style: str) -> str:
    """The marker a list item numbered `n` shows in `style` (outside a style's range: decimal, as CSS says)."""
    if style in _LETTER_LISTS and style.endswith(("alpha", "latin")) and n >= 1:
        out = ""
        while n > 0:
            n, r = divmod(n - 1, 26)
            out = chr(ord("A") + r) + out
        return out.lower() if style.startswith("lower") else out
    if style.endswith("roman") and 1 <= n <= 3999:
        out = ""
        for value, numeral in ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
                               (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")):
            k, n = divmod(n, value)
            out += numeral * k
        return out.lower() if style.startswith("lower") else out
    return str(n)


def _int(value, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _list_markers(parser: "_Markup", sheet_style: str | None = None) -> list[tuple[tuple, str]]:
    """Each list item's marker where it is drawn ((block, offset, order), "M. "), numbered as HTML does
    (<ol start reversed>, <li value>); the style from the type attributes and inline styles, or `sheet_style`
    for every list (a style rule's, whose selector is not evaluated: each such style is read over all lists)."""
    lists = [e for e in parser.elements if e.tag in ("ol", "ul")]
    items = [e for e in parser.elements if e.tag == "li"]
    if not lists or not items:
        return []

    owner: dict[int, list[_El]] = {}
    open_lists: list[_El] = []  # the lists around the current element, innermost last (one sweep)
    for el in sorted(lists + items, key=lambda e: e.start[2]):
        while open_lists and open_lists[-1].end is not None and open_lists[-1].end[2] < el.start[2]:
            open_lists.pop()
        if el.tag == "li":
            if open_lists:
                owner.setdefault(id(open_lists[-1]), []).append(el)
        else:
            open_lists.append(el)
    drawn: list[tuple[tuple, str]] = []
    for lst in lists:
        mine = owner.get(id(lst), [])
        style = _LIST_TYPE_ATTR.get((lst.attrs.get("type") or "").strip(), "decimal" if lst.tag == "ol" else "disc")
        inline, _ = _list_styles(lst.attrs.get("style") or "")
        style = sheet_style or (inline[-1] if inline else style)
        down = "reversed" in lst.attrs
        n = _int(lst.attrs.get("start"), len(mine) if down else 1)
        for li in mine:
            n = _int(li.attrs.get("value"), n)
            own, _ = _list_styles(li.attrs.get("style") or "")
            kind = sheet_style or (own[-1] if own else _LIST_TYPE_ATTR.get((li.attrs.get("type") or "").strip(), style))
            if kind in _LETTER_LISTS:
                drawn.append((li.start, f"{_marker(n, kind)}. "))
            n += -1 if down else 1
    return drawn


def _list_readings(parser: "_Markup") -> list[tuple[str, list[str]]]:
    """The page with its lists' letter markers drawn (type attributes and inline styles; and each letter
    style set by a style rule, over every list); a marker style that is not drawn makes the page unreadable."""
    inline = "\n".join(e.attrs.get("style") or "" for e in parser.elements if e.tag in ("ol", "ul", "li"))
    sheet = _CSS_COMMENT.sub("", "\n".join(parser.sheets))
    _, why = _list_styles(inline + "\n" + sheet)
    sheet_styles, _ = _list_styles(sheet)
    if why or len(sheet_styles) > MAX_LIST_READINGS:
        parser.unreadable = parser.unreadable or why or "CSS list markers: too many letter styles"
        return []
    out = []
    for name, style in [("list-markers", None)] + [(f"list-markers-{s}", s) for s in sheet_styles]:
        drawn = _list_markers(parser, style)
        if drawn:  # only the items drawn with a letter marker: the rest reads as shown
            blocks = _with_drawn(parser.shown, drawn)
            out.append((name, [blocks[i] for i in sorted({place[0] for place, _ in drawn})]))
    return out


_SHEET_MOVES = re.compile(r"(?i)(?<![\w-])(?:transform|rotate|translate|scale|offset-path|offset)\s*:")
_INLINE_MOVES = re.compile(r"(?i)(?<![\w-])(?:rotate|translate|scale|offset-path|offset|transform-origin"
                           r"|transform-box)\s*:")


def _svg_css_moves(parser: "_Markup") -> str | None:
    """Why SVG text cannot be placed (a style rule moves elements: which ones it matches is not evaluated;
    an inline property other than transform: is not applied), or None."""
    if not parser.glyphs:
        return None
    if _SHEET_MOVES.search(_CSS_COMMENT.sub("", "\n".join(parser.sheets))):
        return "SVG text with transforms set by style rules"
    inline = "\n".join(f"{el.attrs.get('style') or ''};transform-origin:{el.attrs['transform-origin']}"
                        if "transform-origin" in el.attrs else el.attrs.get("style") or "" for el in parser.elements)
    if _INLINE_MOVES.search(_CSS_COMMENT.sub("", inline)):
        return "SVG text with CSS transform properties that are not applied"
    return None


def _generated_readings(parser: "_Markup") -> list[tuple[str, list[str]]]:
    """The page with each ::before/::after string where the browser draws it (the cascade winner), and each
    other way a block can be drawn by rules that may apply, each a reading of its own; the page is marked
    unreadable when the rules, elements or ways are too many to read."""
    rules = css_rules("\n".join(parser.sheets)) if parser.sheets else []
    if rules is None or (rules and parser.too_many):
        parser.unreadable = "CSS generated content: too many rules or elements to place"
        return []
    slots = _drawn(rules, parser.elements) if rules else []
    if slots is None:
        parser.unreadable = "CSS generated content: too many rules x elements to place"
        return []
    if not slots:
        return []
    others = _alternatives(parser.shown, slots)
    if others is None:
        parser.unreadable = ("CSS generated content: too many ways rules that may apply can draw the elements"
                             " and their neighbours")
        return []
    out = [(f"css-generated-{i}", blocks) for i, blocks in enumerate(others, 1)]  # short: first, never cut off
    winner = _with_drawn(parser.shown, [(place, options[0]) for place, options in slots])
    return out + [("css-generated", winner)]


def _rows(glyphs, model: int) -> list[list[str]]:
    """SVG glyphs by rows (y within half a font size of the next: one row) and, in a row, by x."""
    placed = sorted(((at[model][1], at[model][0], order, text, size) for order, text, size, at in glyphs))
    rows: list[list[tuple]] = []
    last_y = None
    for y, x, order, text, size in placed:
        if last_y is None or y - last_y > 0.5 * max(size, 0.001):
            rows.append([])
        rows[-1].append((x, order, text))
        last_y = y
    return [[t for _, _, t in sorted(row)] for row in rows]


def _svg_readings(parser: "_Markup") -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    # where letters are drawn: a letter defined for a <use> is not drawn where it is defined (read in the
    # source order all the same), and placed there it would join the drawn letters of its row ("X" + "MẬT")
    drawn = [g for g in parser.glyphs if g[0] not in parser.undrawn]
    for model, name in enumerate(("svg-order", "svg-order-advance")):
        rows = _rows(drawn, model)
        for how, texts in ((name, ["".join(r) for r in rows]), (f"{name}-spaced", [" ".join(t.strip() for t in r) for r in rows])):
            if all(texts != t for _, t in out):
                out.append((how, texts))
    return out


def _shown_readings(parser: "_Markup", raw: str, shown: list[str], where: str) -> list[Line]:
    """The text as a renderer could draw it where that differs from the source (see the module docstring),
    each reading a place of its own (`where:how`), so lines of one reading never join another's."""
    css = css_unescape(_CSS_COMMENT.sub("", "\n".join(parser.styles)))
    readings: list[tuple[str, list[str]]] = []
    readings += _generated_readings(parser)  # first, before the long readings: not cut off by the cap
    readings += _list_readings(parser)
    if parser.bidi or _BIDI_CSS.search(css) or _BIDI_CHARS.search(raw):
        readings.append(("rtl", [_reversed(t) for t in shown]))
    if parser.glyphs:
        readings += _svg_readings(parser)
    visible = [t.strip() for block in parser.visible for t in block.splitlines() if t.strip()]
    if visible != shown:  # hidden elements taken out: what they held no longer splits what is around them
        readings.append(("visible", visible))
    content = _content_values(css, parser.attrs)
    if content:
        readings.append(("css-content", content))
        # ::before / ::after put the string beside the element's own text
        lettered = list(dict.fromkeys(c.strip() for c in content if any(ch.isalpha() for ch in c)))
        readings.append(("css-around", [f"{c}{t}" for c in lettered for t in shown] + [f"{t}{c}" for c in lettered for t in shown]))
    if _UPPER.search(css) or _UPPER.search(raw[:65536]):
        readings = [("uppercase", [t.upper() for t in shown]),
                    *(r for how, ts in readings for r in ((how, ts), (f"{how}+uppercase", [t.upper() for t in ts])))]
    out: list[Line] = []
    for how, texts in readings:
        out += [Line(t.strip(), f"{where}:{how}") for text in texts for t in text.splitlines() if t.strip()]
        if len(out) > MAX_SHOWN_LINES:  # a reading cut off could be the one that shows the mark
            parser.unreadable = parser.unreadable or f"markup: more than {MAX_SHOWN_LINES} lines in its other readings"
            return []
    return out


def _markup_lines(text: str, where: str, html_rules: bool = True) -> tuple[list[Line], str | None]:
    """The lines of a markup text, and why it cannot be read completely (None when it can). HTML is tokenised
    as the HTML standard says (`_Markup.feed_html5`), scripting off as mail clients run it, and again with
    scripting on (a browser's webmail) when a <noscript> makes the two differ; XML by the stdlib's parser."""
    if html_rules:  # Outlook shows what its conditional comments hold (VML, [if mso] blocks): read as markup
        text = _CONDITIONAL.sub("", text)
    lines, why = _one_markup_reading(text, where, html_rules, False)
    if html_rules and "<noscript" in text.lower():
        more, also = _one_markup_reading(text, f"{where} (scripting)", html_rules, True)
        lines += more
        why = why or also
    return lines, why


def _one_markup_reading(text: str, where: str, html_rules: bool, scripting: bool) -> tuple[list[Line], str | None]:
    parser = _Markup(html_rules)
    if html_rules:
        parser.feed_html5(text, scripting)
    else:
        parser.feed(text)
    parser.close()
    outside = _sheets_given(parser)
    if html_rules and _VML_DRAWING.search(text):
        outside = outside or "a VML drawing (Outlook draws its paths; they are not read)"
    shown = [t.strip() for block in parser.shown for t in block.splitlines() if t.strip()]
    lines = [Line(t, where) for t in shown]
    lines += [Line(t.strip(), w) for value, w in parser.extra for t in value.splitlines() if t.strip()]
    lines += _shown_readings(parser, text, shown, where)
    css = css_unescape(_CSS_COMMENT.sub("", "\n".join(parser.styles)))
    return lines, parser.unreadable or outside or _counter_letters(css) or _svg_css_moves(parser)


# The markers of Outlook's conditional comments ("<!--[if gte vml 1]>" ... "<![endif]-->"), and a VML shape
# drawn from its own path (a polyline, a curve, a shape with a path=): letters as outlines, no text.
_CONDITIONAL = re.compile(r"(?i)<!--\[if\s[^\]]*\]>|<!\[endif\]-->")
_VML_DRAWING = re.compile(r"(?is)<v:(?:polyline|curve)\b|<v:shape\b[^>]*?\spath\s*=")
_IMPORT = re.compile(r"""(?is)@import\s+(?:url\(\s*(["']?)(.*?)\1\s*\)|(["'])(.*?)\3)""")
MAX_SHEETS = 50


def _sheets_given(parser: "_Markup") -> str | None:
    """Style sheets the markup gives by reference, added to its <style> sheets: a data: URI in a <link
    rel=stylesheet> or an @import holds a sheet whose ::before strings a browser draws on this page (read as a
    text of their own, they were out of place). One in another part of the message (cid:, mid:) is not here:
    why the markup cannot be read completely. Another place (http:) is not part of the message."""
    hrefs = list(parser.linked) + [m.group(2) or m.group(4) for sheet in parser.sheets for m in _IMPORT.finditer(sheet)]
    count = 0
    while hrefs:
        href = hrefs.pop(0).strip()
        low = href.lower()
        if low.startswith(("cid:", "mid:")):
            return f"a style sheet in another part of the message ({href[:40]})"
        if not low.startswith("data:"):
            continue
        count += 1
        found = data_uris(href)
        if count > MAX_SHEETS or not found:
            return "style sheets given as data: URIs: too many, or one that cannot be decoded"
        sheet = found[0][1].decode("utf-8", "replace")
        parser.sheets.append(sheet)
        parser.styles.append(sheet)
        hrefs += [m.group(2) or m.group(4) for m in _IMPORT.finditer(sheet)]
    return None


_QUOTES = re.compile(r"(?i)(?<![\w-])quotes\s*:\s*((?:\"[^\"]*\"|'[^']*'|\s)+)")
_CSS_STRING = re.compile(r"\"([^\"]*)\"|'([^']*)'")


def quote_strings(markup: str) -> list[str]:
    """The strings of every CSS `quotes:` declaration (style sheets and style attributes) that hold letters:
    each alone, each open-close pair joined, and all joined. An element's open-quote and close-quote draw
    them ("<q></q>" under `quotes:"TỐI M" "ẬT"` shows "TỐI MẬT"); read in the style sheet, one is a
    quotation (marks.py rule 5), the other a fragment."""
    out: list[str] = []
    if "quotes" not in markup.lower():
        return out
    for m in _QUOTES.finditer(html.unescape(markup)):
        strings = [a if a is not None else b for a, b in _CSS_STRING.findall(css_unescape(m.group(1)))]
        out += strings + [strings[i] + strings[i + 1] for i in range(0, len(strings) - 1, 2)] + ["".join(strings)]
    return [t for t in dict.fromkeys(out) if any(c.isalpha() for c in t)]


def text_lines(text: str, media: str, where: str = "") -> tuple[list[Line], list[Reason]]:
    """The lines of a decoded text as `read` reads them (markup by its reader), and why it is incomplete."""
    html_like = media == HTML or "<html" in text[:4096].lower()
    incomplete: list[Reason] = []
    if media in (HTML, XML, SVG) or html_like:
        lines, unreadable = _markup_lines(text, where or ("html" if html_like else "xml"), html_like)
        lines += [Line(t, "css") for t in quote_strings(text)]
        if unreadable:
            incomplete.append(Reason.of("DOCUMENT_UNREADABLE", detail=unreadable))
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


# text/enriched (RFC 1896) and text/richtext (RFC 1341), which mail clients still render: formatting commands
# between letters ("M<bold>Ậ</bold>T"), "<<" for "<", and a single line break shown as a blank.
_ENRICHED = re.compile(r"(?i)</?(?:bold|italic|underline|fixed|smaller|bigger|center|flush(?:left|right|both)|nofill|"
                       r"param|color|fontfamily|excerpt|indent(?:right)?|paraindent|lang|signature|comment|"
                       r"lt|nl|np|subscript|superscript|heading|footing|iso-?8859-\d+|us-ascii|no-op|x-[a-z-]+)>")


# Any command, listed or not: RFC 1896 says a reader ignores the ones it does not know (a token of letters,
# digits and hyphens, "/" for the end); Thunderbird (mimetric) drops "<" up to a blank, "<", ">" or "&" too.
_ANY_COMMAND = re.compile(r"</?[A-Za-z0-9-]{1,60}>")
_LENIENT_COMMAND = re.compile(r"<[^\s<>&]*>?")


def enriched_text(text: str, declared: bool = False) -> str | None:
    """`text` as a client renders text/enriched or text/richtext: commands dropped (a <param>'s value is not
    shown; unknown commands too), "<<" a "<", a lone line break a blank; None when `text` is not `declared`
    such and has no listed command. Where Thunderbird's looser tokens differ, its rendering follows on lines
    of its own (more lines only add marks)."""
    if not declared and not _ENRICHED.search(text):
        return None
    text = re.sub(r"(?is)<param>.*?</param>", "", text)
    text = re.sub(r"(?i)<(?:nl|np)>", "\x01", text)  # text/richtext's line and page breaks
    text = re.sub(r"(?i)<lt>", "\0", text.replace("<<", "\0"))
    shown = [_ANY_COMMAND.sub("", text)]
    lenient = _LENIENT_COMMAND.sub("", text)
    if lenient != shown[0]:
        shown.append(lenient)
    out = [re.sub(r"(?<!\n)\n(?!\n)", " ", t.replace("\0", "<").replace("\r\n", "\n")).replace("\x01", "\n")
           for t in shown]
    return "\n\n".join(out)


DECLARED_HTML = frozenset({"text/html", "application/xhtml+xml"})
DECLARED_ENRICHED = frozenset({"text/enriched", "text/richtext"})


def declared_lines(text: str, declared: str, where: str) -> tuple[list[Line], list[Reason]]:
    """The lines of a mail part's text as a client shows a part of its `declared` type, whatever its first
    bytes say: text/html and application/xhtml+xml rendered as HTML (the sniffer takes for HTML only what
    starts like it), any other text as it is, line by line (no client renders markup in text/plain), and
    text/enriched and text/richtext with their commands dropped too."""
    if declared in DECLARED_HTML:
        return text_lines(text, HTML, where)
    lines = [Line(t, where) for t in text.splitlines() if t.strip()]
    if declared in DECLARED_ENRICHED:
        lines += [Line(t, f"{where} enriched") for t in (enriched_text(text, True) or "").splitlines() if t.strip()]
    return lines, []


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
    extra: dict = {}
    card = calendar.read(data)
    if card is not None:  # a meeting request or a contact card: its values, unfolded and unescaped
        lines += [Line(t, "calendar") for t in card.text.splitlines() if t.strip()]
        if card.unreadable:
            incomplete.append(Reason.of("DOCUMENT_UNREADABLE", detail=card.unreadable))
        elif card.files:  # what it carries inline (an attached file, a photo): the caller reads them as members
            extra["calendar_files"] = card.files
    shown = enriched_text(text) if not markup else None
    if shown is not None:  # formatted text a client renders
        lines += [Line(t, "enriched") for t in shown.splitlines() if t.strip()]
    if media in (HTML, XML, SVG) and not incomplete:
        found = data_uris(text)  # pictures the markup shows in place: the caller reads them as members
        if found is None:
            incomplete.append(Reason.of("DOCUMENT_UNREADABLE", detail="a data: URI that cannot be decoded"))
        elif found:
            extra["data_uris"] = tuple(found)
    if media in (HTML, XML, SVG) and not incomplete:
        # what a drawing shows besides its text (a stamp in outlines): the caller has each one drawn and read
        from gateway.inspect import svgdraw

        try:
            drawings = [data] if media == SVG else svgdraw.fragments(text)
        except svgdraw.TooManyDrawings as exc:
            incomplete.append(Reason.of("DOCUMENT_UNREADABLE", detail=str(exc)))
        else:
            if any(svgdraw.has_svg_font(d) for d in drawings):
                # Safari draws text in an SVG font with that font's own glyph paths (librsvg does not): "abc"
                # may show "TỐI": not read
                incomplete.append(Reason.of("DOCUMENT_UNREADABLE", detail="an SVG font (glyphs drawn from its own paths)"))
            elif drawings:
                extra["svg"] = tuple(drawings)
    return Reading(media, lines=tuple(lines), incomplete=tuple(incomplete),
                   signable=None if incomplete else SignFormat.CADES, extra=extra)


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
