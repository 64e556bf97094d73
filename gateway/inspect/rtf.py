"""The RTF reader: every piece of text in the file, wherever Word would show it.

A tokenizer over the RTF grammar (groups, control words, control symbols, \\'hh bytes in the font's code
page, \\uN with its \\ucN fallback, \\bin skipped by length), reading text everywhere except in the tables
that hold none (fonts, colours, styles, lists, revision authors, RSIDs, themes, data stores, pictures and
object data). Unknown `\\*` destinations are read too (a reader that knows them would show them): fail
safe. Where a line stands follows the destination: header / footer (all variants), footnote / endnote,
comment (annotation), textbox (shape text), shape (shape property values: WordArt text lives there),
field (field instructions); everything else "body". Hidden (\\v) and deleted (\\deleted) text is read.
Document properties (\\info: title, subject, author, keywords, comments, category, manager, company;
\\userprops: custom properties) are metadata.

Pictures (\\pict) and embedded objects (\\objdata) are parts a recipient could open: handed on as members
when the caller gives a work directory, otherwise (and always for an object without a readable rendering)
the document is incomplete (OFFICE_EMBEDDED_UNREAD). Nesting deeper than MAX_DEPTH or a file that ends
inside a group is OFFICE_MALFORMED.
"""

from __future__ import annotations

import binascii
import re
import time
from typing import BinaryIO

from gateway.inspect.office import field_texts, list_number, shown_case
from gateway.inspect.reading import Line, MemberRef, Reading
from gateway.model import Reason, SignFormat

MAX_RTF_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 1000

_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\([^a-zA-Z'])|([{}])|([^\\{}\r\n]+)|[\r\n]+", re.S
)
# Destinations without text a person reads.
_SKIP = {
    b"fonttbl", b"colortbl", b"stylesheet", b"listtable", b"listoverridetable", b"revtbl", b"rsidtbl",
    b"generator", b"xmlnstbl", b"themedata", b"colorschememapping", b"datastore", b"latentstyles",
    b"pgdsctbl", b"mmathPr", b"panose", b"filetbl", b"fchars", b"lchars", b"defchp", b"defpap",
    b"wgrffmtfilter", b"fontemb", b"fontfile", b"falt", b"pnseclvl", b"listpicture", b"blipuid",
    b"bkmkstart", b"bkmkend", b"atnid", b"atnauthor", b"atndate", b"atnref", b"operator",
}
_INFO = {b"title", b"subject", b"author", b"keywords", b"doccomm", b"category", b"manager", b"company",
         b"hlinkbase", b"comment"}
_WHERE = {
    b"header": "header", b"headerl": "header", b"headerr": "header", b"headerf": "header",
    b"footer": "footer", b"footerl": "footer", b"footerr": "footer", b"footerf": "footer",
    b"footnote": "footnote", b"annotation": "comment", b"shptxt": "textbox", b"fldinst": "field",
    b"sv": "shape", b"sn": "shapeproperty",
}
_NEWLINE = {b"par", b"line", b"sect", b"page", b"row", b"outlinelevel"}
_CHARS = {
    b"tab": "\t", b"cell": " | ", b"emdash": "—", b"endash": "–", b"lquote": "‘", b"rquote": "’",
    b"ldblquote": "“", b"rdblquote": "”", b"bullet": "•", b"emspace": " ", b"enspace": " ", b"qmspace": " ",
}
_SYMBOLS = {b"~": "\u00a0", b"_": "-", b"-": "", b"{": "{", b"}": "}", b"\\": "\\", b"\n": "\n", b"\r": "\n"}
# \fcharsetN -> code page (Windows); 163 is Vietnamese.
_CHARSETS = {0: None, 163: 1258, 238: 1250, 204: 1251, 161: 1253, 162: 1254, 177: 1255, 178: 1256, 186: 1257,
             222: 874, 128: 932, 134: 936, 136: 950, 129: 949, 77: 10000, 2: None}


class _State:
    __slots__ = ("skip", "uc", "where", "font", "dest", "info", "fonttbl", "caps", "upr", "hidden", "ls", "ilvl")

    def __init__(self, skip=False, uc=1, where="body", font=None, dest=None, info=None, fonttbl=False,
                 caps=False, upr=None, hidden=False, ls=None, ilvl=0):
        self.skip = skip
        self.uc = uc
        self.where = where
        self.font = font
        self.dest = dest
        self.info = info
        self.fonttbl = fonttbl
        self.caps = caps  # \caps / \scaps: shown in capitals
        self.upr = upr  # inside \upr: the place its \ud (Unicode) group is read in
        self.hidden = hidden  # \v (hidden text), or the \listtext fallback: read, but not in the shown reading
        self.ls = ls  # the paragraph's list (\lsN) and level (\ilvlN): its label is shown before it
        self.ilvl = ilvl

    def copy(self) -> "_State":
        child = _State(self.skip, self.uc, self.where, self.font, None, self.info, self.fonttbl, self.caps,
                       None, self.hidden, self.ls, self.ilvl)
        if self.upr is not None:
            # \upr{ansi}{\*\ud{unicode}}: a Unicode reader shows only the \ud group. The ANSI twin is read
            # too (a non-Unicode reader shows it) but in a place of its own, never glued to the \ud text.
            child.where = self.upr + ":ansi"
            child.upr = None
        return child


def read(fh: BinaryIO, settings=None, *, ex=None) -> Reading:
    media = "application/rtf"
    fh.seek(0)
    data = fh.read(MAX_RTF_BYTES + 1)
    if len(data) > MAX_RTF_BYTES:
        return Reading(media, incomplete=(Reason.of("OFFICE_LIMIT", detail=f"RTF over {MAX_RTF_BYTES} bytes"),))
    seconds = float(getattr(getattr(settings, "limits", None), "document_seconds", 120.0) or 120.0)
    reader = _Reader(data, ex, time.monotonic() + seconds, seconds)
    try:
        reader.run()
    except _Stop as stop:
        reader.incomplete.append(stop.reason)
    if reader.unread:
        reader.incomplete.append(Reason.of("OFFICE_EMBEDDED_UNREAD", count=len(reader.unread), parts=", ".join(sorted(set(reader.unread)))))
    incomplete = tuple(dict.fromkeys(reader.incomplete))
    # what the fields show once Word updates them (read as the instruction, a quotation is a mention)
    shown = field_texts([line.text for line in reader.lines if line.where == "field"])
    known = {(line.text, line.where) for line in reader.lines}
    as_shown = tuple(dict.fromkeys(line for line in reader.shown_lines if (line.text, line.where) not in known))
    return Reading(
        media,
        lines=tuple(reader.lines) + tuple(Line(t, "field") for t in shown) + as_shown,
        metadata=tuple(reader.metadata),
        incomplete=incomplete,
        signable=None if incomplete else SignFormat.CADES,
        members=tuple(reader.members),
    )


class _Stop(Exception):
    def __init__(self, reason: Reason):
        super().__init__(reason.code)
        self.reason = reason


class _Reader:
    def __init__(self, data: bytes, ex, deadline: float, seconds: float):
        self.data = data
        self.ex = ex  # gateway.inspect.members.Extraction: where embedded pictures and objects go
        self.deadline = deadline
        self.seconds = seconds
        self.lines: list[Line] = []
        self.metadata: list[tuple[str, str]] = []
        self.incomplete: list[Reason] = []
        self.members: list[MemberRef] = []
        self.unread: list[str] = []
        self.codepage = 1252
        self.fonts: dict[int, int | None] = {}
        self.buf: list[str] = []
        self.bytes_buf = bytearray()
        self.buf_where = "body"
        self.skip_count = 0  # \uN fallback characters still to skip
        self.prop_name: str | None = None
        self.font_no: int | None = None
        # Each paragraph also as Word shows it: hidden text (\v) out, list labels in, and not cut where a
        # field's instruction or a footnote interrupts it (each place has its own buffer)
        self.shown: dict[str, list[str]] = {}
        self.shown_lines: list[Line] = []
        self.opened: set[str] = set()  # places whose current paragraph has shown text (its label is placed)
        self.lists = _lists(data)
        self.counts: dict[int, list[int | None]] = {}

    # --- output ---------------------------------------------------------------------------------------

    def _codec(self, st: _State) -> str:
        cp = self.fonts.get(st.font, None) if st.font is not None else None
        return f"cp{cp or self.codepage}"

    def _flush_bytes(self, st: _State) -> None:
        if self.bytes_buf:
            try:
                text = bytes(self.bytes_buf).decode(self._codec(st))
            except (UnicodeDecodeError, LookupError):
                text = bytes(self.bytes_buf).decode("cp1252", "replace")
            self.buf.append(text.upper() if st.caps else text)
            self.bytes_buf.clear()

    def _text(self, st: _State, text: str) -> None:
        if st.skip:
            return
        self._flush_bytes(st)
        if st.where != self.buf_where:
            self._line()
            self.buf_where = st.where
        if st.caps:
            text = text.upper()
        if st.info is not None:
            st.info.append(text)
            return
        self.buf.append(text)
        if not st.hidden:
            self._shown(st, text)

    def _shown(self, st: _State, text: str) -> None:
        buf = self.shown.setdefault(st.where, [])
        if st.where not in self.opened and text.strip("\n"):
            self.opened.add(st.where)
            if st.ls is not None:
                buf.append(self._label(st.ls, st.ilvl))
        buf.append(text)
        if "\n" in text:
            pieces = "".join(buf).split("\n")
            for piece in pieces[:-1]:
                if piece.strip():
                    self.shown_lines.append(Line(shown_case(piece.strip()), st.where))
            buf[:] = [pieces[-1]]
            if not pieces[-1]:
                self.opened.discard(st.where)

    def _label(self, ls: int, ilvl: int) -> str:
        """A list paragraph's label: its level's text with the numbers of the levels it names, then what
        follows it (tab, space or nothing)."""
        levels = self.lists.get(ls)
        if not levels or ilvl not in levels:
            return ""
        counts = self.counts.setdefault(ls, [None] * 10)
        ilvl = min(max(ilvl, 0), 9)
        counts[ilvl] = levels[ilvl][2] if counts[ilvl] is None else counts[ilvl] + 1
        for deeper in range(ilvl + 1, 10):
            counts[deeper] = None
        text, _, _, after = levels[ilvl]
        out = []
        for c in text:
            k = ord(c)
            if k < 9:  # the number of level k
                lvl = levels.get(k, levels[ilvl])
                out.append(list_number(counts[k] if counts[k] is not None else lvl[2], _NFC.get(lvl[1], "decimal")))
            else:
                out.append(c)
        return "".join(out) + after

    def _line(self) -> None:
        text = "".join(self.buf)
        self.buf.clear()
        for piece in text.split("\n"):
            if piece.strip():
                self.lines.append(Line(shown_case(piece.strip()), self.buf_where))

    # --- the grammar ----------------------------------------------------------------------------------

    def run(self) -> None:
        data = self.data
        stack: list[_State] = []
        st = _State()
        pos = 0
        count = 0
        group_start: list[int] = []
        while pos < len(data):
            m = _TOKEN.match(data, pos)
            if m is None:  # a lone backslash at the end
                break
            pos = m.end()
            count += 1
            if count & 0x3FFF == 0 and time.monotonic() > self.deadline:
                raise _Stop(Reason.of("TIME_LIMIT", seconds=self.seconds))
            word, num, hexbyte, symbol, brace, text = m.groups()
            if brace == b"{":
                self._flush_bytes(st)
                stack.append(st)
                group_start.append(pos)
                if len(stack) > MAX_DEPTH:
                    raise _Stop(Reason.of("OFFICE_MALFORMED", detail=f"RTF groups nested over {MAX_DEPTH}"))
                st = st.copy()
                continue
            if brace == b"}":
                self._flush_bytes(st)
                self._close(st, data[group_start[-1] if group_start else 0 : pos])
                if not stack:
                    break  # the document's group closed: the rest is not RTF (readers ignore it)
                st = stack.pop()
                group_start.pop()
                continue
            if self.skip_count and (text is not None or hexbyte is not None or symbol is not None):
                if text is not None and len(text) > 0:
                    drop = min(self.skip_count, len(text))
                    self.skip_count -= drop
                    text = text[drop:]
                    if not text:
                        continue
                else:
                    self.skip_count -= 1
                    continue
            if text is not None:
                if st.skip:
                    continue
                self._flush_bytes(st)
                self._text(st, text.decode("ascii") if text.isascii() else text.decode(self._codec(st), "replace"))
                continue
            if hexbyte is not None:
                if not st.skip:
                    if st.where != self.buf_where:
                        self._text(st, "")
                    if st.info is not None:
                        st.info.append(bytes([int(hexbyte, 16)]).decode(self._codec(st), "replace"))
                    else:
                        self.bytes_buf.append(int(hexbyte, 16))
                continue
            if symbol is not None:
                if symbol == b"*":
                    st.dest = b"*"
                elif symbol in _SYMBOLS:
                    self._text(st, _SYMBOLS[symbol])
                continue
            if word is None:
                continue
            pos = self._word(word, num, st, pos)
        self._flush_bytes(st)
        self._line()
        for where, buf in self.shown.items():
            for piece in "".join(buf).split("\n"):
                if piece.strip():
                    self.shown_lines.append(Line(shown_case(piece.strip()), where))
        if stack:
            raise _Stop(Reason.of("OFFICE_MALFORMED", detail="RTF ends inside a group"))

    def _word(self, word: bytes, num: bytes | None, st: _State, pos: int) -> int:
        n = int(num) if num is not None else None
        if word == b"bin":  # raw bytes follow: skip them by count
            return pos + max(n or 0, 0)
        if word == b"u" and n is not None:
            self._text(st, chr(n % 65536) if 0 <= n % 65536 < 0xD800 or n % 65536 >= 0xE000 else "\ufffd")
            self.skip_count = st.uc
            return pos
        if word == b"uc" and n is not None:
            st.uc = max(n, 0)
            return pos
        if word == b"ansicpg" and n:
            self.codepage = n
            return pos
        if word == b"f" and n is not None:
            if st.fonttbl:
                self.font_no = n
            else:
                self._flush_bytes(st)
                st.font = n
            return pos
        if word == b"fcharset" and n is not None and st.fonttbl and self.font_no is not None:
            self.fonts[self.font_no] = _CHARSETS.get(n)
            return pos
        if word in (b"caps", b"scaps"):
            self._flush_bytes(st)
            st.caps = n is None or n != 0
            return pos
        if word == b"plain":  # character formatting reset
            self._flush_bytes(st)
            st.caps = False
            st.hidden = False
            return pos
        if word == b"v":
            self._flush_bytes(st)
            st.hidden = n is None or n != 0
            return pos
        if word == b"listtext":  # the label as written for readers without lists: Word shows its own
            st.hidden = True
            return pos
        if word == b"pard":
            st.ls, st.ilvl = None, 0
            return pos
        if word == b"ls" and n is not None:
            st.ls = n
            return pos
        if word == b"ilvl" and n is not None:
            st.ilvl = n
            return pos
        if word == b"upr":
            st.upr = st.where
            return pos
        if word == b"ud" and st.where.endswith(":ansi"):
            self._text(st, "")
            st.where = st.where[: -len(":ansi")]
            return pos
        if word == b"fonttbl":
            st.skip = True
            st.fonttbl = True
            st.dest = word
            return pos
        if word in _NEWLINE:
            self._text(st, "\n")
            return pos
        if word in _CHARS:
            self._text(st, _CHARS[word])
            return pos
        if word in (b"pict", b"objdata"):
            st.skip = True
            st.dest = word
            return pos
        if word in _SKIP:
            st.skip = True
            st.dest = word
            return pos
        if word == b"info":
            st.dest = word
            return pos
        if word in _INFO and not st.skip:
            st.info = []
            st.dest = word
            return pos
        if word in (b"propname", b"staticval", b"userprops"):
            st.dest = word
            if word != b"userprops":
                st.info = []
            return pos
        if word in _WHERE and not st.skip:
            self._text(st, "")
            st.where = _WHERE[word]
            if word == b"footnote":
                st.dest = word
            return pos
        if word == b"ftnalt" and st.where == "footnote":
            st.where = "endnote"
            return pos
        return pos

    def _close(self, st: _State, group: bytes) -> None:
        """A group ends: properties, pictures and objects are finished here."""
        if st.info is not None and st.dest is not None:
            value = "".join(st.info).strip()
            if st.dest == b"propname":
                self.prop_name = value
            elif st.dest == b"staticval":
                if value:
                    self.metadata.append((f"docprops:custom:{self.prop_name or '?'}", value))
                self.prop_name = None
            elif value:
                key = {b"doccomm": "description", b"author": "creator"}.get(st.dest, st.dest.decode())
                self.metadata.append((f"docprops:{key}", value))
        if st.dest in (b"pict", b"objdata"):
            self._embedded(st.dest.decode(), group)

    def _embedded(self, kind: str, group: bytes) -> None:
        if self.ex is None:
            self.unread.append("picture" if kind == "pict" else "object")
            return
        body = re.sub(rb"\{[^{}]*\}|\\[a-zA-Z]+-?\d* ?", b"", group)
        hexdigits = re.sub(rb"[^0-9a-fA-F]", b"", body)
        try:
            blob = binascii.unhexlify(hexdigits[: len(hexdigits) & ~1])
        except binascii.Error:
            self.unread.append(kind)
            return
        from gateway.inspect.members import LimitBreach, Unreadable

        index = len(self.members) + 1
        try:
            self.members.append(self.ex.store(blob, location=f"rtf:{kind}#{index}",
                                              name=f"{'picture' if kind == 'pict' else 'object'}-{index}", role="embedded"))
        except (LimitBreach, Unreadable) as exc:
            raise _Stop(exc.reason) from exc


# \levelnfcN -> number format (Word numFmt names); 255: no number, 23: a bullet
_NFC = {0: "decimal", 1: "upperRoman", 2: "lowerRoman", 3: "upperLetter", 4: "lowerLetter", 22: "decimalZero",
        23: "bullet", 255: "none"}
_LEVEL_WORDS = re.compile(rb"\\(levelnfc|levelfollow|levelstartat)(-?\d+)")


def _group(data: bytes, start: int) -> bytes:
    """The group that opens at data[start] ("{"), braces counted (escaped ones skipped)."""
    depth, i = 0, start
    while i < len(data):
        c = data[i]
        if c == 0x5C:  # a backslash: the next byte is escaped or starts a word
            i += 2
            continue
        if c == 0x7B:
            depth += 1
        elif c == 0x7D:
            depth -= 1
            if depth == 0:
                return data[start : i + 1]
        i += 1
    return data[start:]


def _level_text(group: bytes) -> str:
    """A \\leveltext group's text: its first character is its length, then text with level numbers as
    characters 0-8 (\\'00 .. \\'08), ";" at the end."""
    body = re.sub(rb"^\{\\leveltext(?:\\leveltemplateid-?\d+)? ?", b"", group)[:-1]
    out: list[str] = []
    skip = 0
    for m in re.finditer(rb"\\u(-?\d+) ?|\\'([0-9a-fA-F]{2})|\\[a-zA-Z]+-?\d* ?|([^\\{}])", body):
        if m.group(1) is not None:
            out.append(chr(int(m.group(1)) % 65536))
            skip = 1
        elif m.group(2) is not None:
            if skip:
                skip -= 1
                continue
            b = int(m.group(2), 16)
            out.append(chr(b) if b < 0x20 else bytes([b]).decode("cp1252", "replace"))
        elif m.group(3) is not None:
            if skip:
                skip -= 1
                continue
            out.append(m.group(3).decode("latin-1"))
    text = "".join(out)[1:]  # the length first
    return text[:-1] if text.endswith(";") else text


def _lists(data: bytes) -> dict[int, dict[int, tuple[str, int, int, str]]]:
    """The list table: \\lsN (through the override table) -> level -> (label text, \\levelnfc, start, follow)."""
    by_id: dict[int, dict[int, tuple[str, int, int, str]]] = {}
    for one in _table_groups(data, b"\\listtable", rb"\{\\list\b"):
        levels: dict[int, tuple[str, int, int, str]] = {}
        rest = one
        for k, lm in enumerate(re.finditer(rb"\{\\listlevel\b", one)):
            level = _group(one, lm.start())
            rest = rest.replace(level, b"")
            words = {w: int(v) for w, v in _LEVEL_WORDS.findall(re.sub(rb"\{[^{}]*\}", b"", level))}
            lt = re.search(rb"\{\\leveltext", level)
            text = _level_text(_group(level, lt.start())) if lt else ""
            follow = {1: " ", 2: ""}.get(words.get(b"levelfollow", 0), "\t")
            levels[k] = (text, words.get(b"levelnfc", 0), words.get(b"levelstartat", 1), follow)
        lid = re.search(rb"\\listid(-?\d+)", rest)
        if lid:
            by_id[int(lid.group(1))] = levels
    out: dict[int, dict[int, tuple[str, int, int, str]]] = {}
    for one in _table_groups(data, b"\\listoverridetable", rb"\{\\listoverride\b"):
        lid, ls = re.search(rb"\\listid(-?\d+)", one), re.search(rb"\\ls(-?\d+)", one)
        if lid and ls and int(lid.group(1)) in by_id:
            out[int(ls.group(1))] = by_id[int(lid.group(1))]
    return out


def _table_groups(data: bytes, table_word: bytes, item: bytes):
    """Each group matching `item` inside the document's `table_word` group (\\listtable, \\listoverridetable)."""
    at = data.find(table_word)
    if at < 0:
        return
    table = _group(data, data.rfind(b"{", 0, at))
    for m in re.finditer(item, table):
        yield _group(table, m.start())
