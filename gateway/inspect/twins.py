"""Fonts that give two codes the same letter: where the text layer cannot tell which glyph a letter is.

A font's map (its /ToUnicode, else its /Encoding's glyph names) may send two codes to one letter: one code
draws the letter, the other any glyph at all ("T" drawn, "Z" said). PDFium gives the outline of one code per
letter (fonts.py reads it) and the box of each glyph where it stands (fonts.py compares it with the outline),
but not the code: a glyph of the same box as the claimed letter's ("T" and "Z" in Liberation Sans differ by
0.009 em and have one advance) passes both. So the letters such a font maps twice are read by eye wherever
its lines say them (ocr.py). Honest fonts do it for alternates and small capitals ("a" and "a.sc"): a cost,
never a release.

Read with pypdf from the page's resources (fonts of the page, of the forms it draws, and of its annotations'
appearances: PDFium flattens those into the page), once per font object. Letters are given by font name as
PDFium names it (the BaseFont without its subset tag; "" for a font without a name, such as a Type 3 font).
A map that cannot be read counts as one that maps every letter twice (`ANY`).
"""

from __future__ import annotations

import re

ANY = "*"  # every letter: the font's map could not be read
MAX_DEPTH = 8  # forms inside forms followed this deep
MAX_RANGE = 65_536  # codes of one bfrange expanded at most
MAX_STREAM = 4 << 20  # a form, an appearance or a map stream opened here at most this long (raw and decoded):
# pypdf reads a stream whole to give its dictionary, and a page's 200 MB scan is an XObject like a form
PEEK = 4096  # bytes of an object read to learn what it is before pypdf reads it


class _Unread(Exception):
    """Something on the page that may hold fonts could not be opened within the limits."""

_HEX = re.compile(rb"<([0-9A-Fa-f\s]*)>")


EVERY_FONT = "*"  # a page whose resources could not be walked: every font on it, every letter


def by_page(reader) -> dict[int, dict[str, frozenset[str]]]:
    """{page index: {font name: letters its map gives two codes or more}} for the pages of a pypdf `reader`
    that have such fonts."""
    memo: dict = {}
    out: dict[int, dict[str, frozenset[str]]] = {}
    for i, page in enumerate(reader.pages):
        found: dict[str, set[str]] = {}
        try:
            _walk(reader, page.get("/Resources"), found, memo, 0, set())
            for annot in _resolved(page.get("/Annots")) or ():
                annot = _resolved(annot)
                ap = _resolved(annot.get("/AP")) if annot is not None and hasattr(annot, "get") else None
                normal = ap.raw_get("/N") if ap is not None and hasattr(ap, "raw_get") and "/N" in ap else None
                if normal is None:
                    continue
                if _stream_ref(reader, normal):
                    states = [normal]
                else:  # a dictionary of appearance states: their streams, not opened by reading the dictionary
                    table = _resolved(normal)
                    states = [table.raw_get(k) for k in table.keys()] if hasattr(table, "raw_get") else []
                for ref in states:
                    stream = _opened(reader, ref)
                    if stream is not None and hasattr(stream, "get"):
                        _walk(reader, stream.get("/Resources"), found, memo, 1, set())
        except Exception:  # noqa: BLE001 - what is not walked may hold such a font: fail closed
            found = {EVERY_FONT: {ANY}}
        if found:
            out[i] = {name: frozenset(letters) for name, letters in found.items()}
    return out


def letters_for(page_twins: dict[str, frozenset[str]] | None, name: str) -> frozenset[str]:
    """The letters a font named `name` (as PDFium names it) gives two codes on a page of `by_page`."""
    if not page_twins:
        return frozenset()
    return page_twins.get(name, frozenset()) | page_twins.get(EVERY_FONT, frozenset())


def _resolved(obj):
    try:
        return obj.get_object() if obj is not None else None
    except Exception:  # noqa: BLE001 - a dangling reference: nothing there
        return None


def _stream_ref(reader, ref) -> bool:
    """Is `ref` (an indirect reference) a stream, by its first bytes in the file? An object inside an object
    stream never is."""
    head = _head(reader, ref)
    return head is not None and b"stream" in head


def _head(reader, ref) -> bytes | None:
    """The first PEEK bytes of an indirect object as written in the file; None when it is not at an offset of
    its own (inside an object stream) or not an indirect reference."""
    idnum, generation = getattr(ref, "idnum", None), getattr(ref, "generation", None)
    offset = reader.xref.get(generation, {}).get(idnum) if idnum is not None else None
    if not isinstance(offset, int):
        return None
    stream = reader.stream
    here = stream.tell()
    try:
        stream.seek(offset)
        return stream.read(PEEK)
    finally:
        stream.seek(here)


def _opened(reader, ref, kinds: tuple[bytes, ...] = ()):
    """The object at `ref`, read by pypdf only if it is not a stream, or a stream of at most MAX_STREAM bytes
    (and of a /Subtype in `kinds`, when given); None for a stream of another kind. Raises _Unread for a
    stream too long, or one whose head does not say what it is."""
    head = _head(reader, ref)
    if head is None or b"stream" not in head:
        return _resolved(ref)
    dictionary = head.split(b"stream", 1)[0]
    if kinds:
        subtype = re.search(rb"/Subtype\s*/([A-Za-z0-9]+)", dictionary)
        if subtype is None:
            raise _Unread("an XObject whose kind is not in its first bytes")
        if subtype.group(1) not in kinds:
            return None
    length = re.search(rb"/Length\s+(\d+)(\s+(\d+)\s+R)?", dictionary)
    if length is None:
        raise _Unread("a stream whose length is not in its first bytes")
    size = int(length.group(1))
    if length.group(2):  # an indirect length: a number object, small
        size = int(reader.get_object(int(length.group(1))))
    if size > MAX_STREAM:
        raise _Unread(f"a stream of {size} bytes")
    return _resolved(ref)


def _walk(reader, resources, found: dict[str, set[str]], memo: dict, depth: int, seen: set) -> None:
    resources = _resolved(resources)
    if resources is None or not hasattr(resources, "get") or depth > MAX_DEPTH:
        return
    fonts = _resolved(resources.get("/Font"))
    if fonts is not None and hasattr(fonts, "values"):
        for ref in fonts.values():
            key = getattr(ref, "idnum", None), getattr(ref, "generation", None)
            font = _resolved(ref)
            if font is None or not hasattr(font, "get"):
                continue
            if key[0] is None or key not in memo:
                letters = _twinned(reader, font)
                if key[0] is not None:
                    memo[key] = letters
            else:
                letters = memo[key]
            if letters:
                found.setdefault(_name(font), set()).update(letters)
            if font.get("/Subtype") == "/Type3":  # its glyph procedures may draw with fonts of their own
                _walk(reader, font.get("/Resources"), found, memo, depth + 1, seen)
    xobjects = _resolved(resources.get("/XObject"))
    if xobjects is not None and hasattr(xobjects, "raw_get"):
        for name in list(xobjects.keys()):
            ref = xobjects.raw_get(name)
            idnum = getattr(ref, "idnum", None)
            if idnum is not None and idnum in seen:
                continue
            if idnum is not None:
                seen.add(idnum)
            form = _opened(reader, ref, (b"Form",)) if idnum is not None else _resolved(ref)
            if form is not None and hasattr(form, "get") and form.get("/Subtype") == "/Form":
                _walk(reader, form.get("/Resources"), found, memo, depth + 1, seen)


def _name(font) -> str:
    """The font's name as PDFium gives it."""
    return untagged(str(font.get("/BaseFont") or "").lstrip("/"))


def untagged(name: str) -> str:
    """A font name without its subset tag ("ABCDEF+Times" -> "Times")."""
    return name[7:] if len(name) > 7 and name[6] == "+" and name[:6].isupper() else name


def _twinned(reader, font) -> frozenset[str]:
    """The characters (one each, blanks aside: a sign may draw a letter too) `font`'s map gives two codes or
    more."""
    try:
        to_unicode = font.raw_get("/ToUnicode") if "/ToUnicode" in font else None
        if to_unicode is not None:
            stream = _opened(reader, to_unicode)
            if stream is not None and hasattr(stream, "get_data"):
                return _repeated(_cmap(_decoded(stream)))
        encoding = _resolved(font.get("/Encoding"))
        if font.get("/Subtype") == "/Type0":
            # a predefined CMap's CIDs reach letters through Adobe's tables, which give some letters several
            # CIDs (proportional and half-width forms); Identity reaches them through the font's own cmap
            return frozenset() if str(encoding) in ("/Identity-H", "/Identity-V") else frozenset(ANY)
        if encoding is not None and hasattr(encoding, "get"):
            return _repeated(_differences(encoding.get("/Differences")))
        return frozenset()
    except Exception:  # noqa: BLE001 - a map that cannot be read may map anything twice: fail closed
        return frozenset(ANY)


def _decoded(stream) -> bytes:
    """A map stream's bytes: raw, or inflated to at most MAX_STREAM (a deflate bomb is not inflated whole)."""
    import zlib

    raw = stream._data  # pypdf's stream bytes as in the file (the object was opened within MAX_STREAM)
    filters = stream.get("/Filter")
    filters = [] if filters is None else [str(f) for f in (filters if isinstance(filters, list) else [filters])]
    if not filters:
        return bytes(raw)
    if filters == ["/FlateDecode"] and not stream.get("/DecodeParms"):
        d = zlib.decompressobj()
        out = d.decompress(bytes(raw), MAX_STREAM)
        if d.unconsumed_tail:
            raise _Unread("a map stream inflating beyond the limit")
        return out
    raise _Unread(f"a map stream with filters {filters}")


def _repeated(pairs) -> frozenset[str]:
    codes: dict[str, set] = {}
    for code, text in pairs:
        if len(text) == 1 and text.isprintable() and not text.isspace():
            codes.setdefault(text, set()).add(code)
    return frozenset(ch for ch, c in codes.items() if len(c) > 1)


def _cmap(data: bytes):
    """(code, text) pairs of a ToUnicode CMap's bfchar and bfrange sections."""
    for section, body in re.findall(rb"begin(bfchar|bfrange)(.*?)end\1", data, re.S):
        if section == b"bfchar":
            items = _HEX.findall(body)
            for src, dst in zip(items[0::2], items[1::2]):
                yield _code(src), _text(dst)
            continue
        for line in re.findall(rb"<[^>]*>\s*<[^>]*>\s*(?:<[^>]*>|\[[^\]]*\])", body):
            parts = _HEX.findall(line)
            lo, hi = _code(parts[0]), _code(parts[1])
            if hi < lo or hi - lo > MAX_RANGE:
                raise ValueError("bfrange too large")
            if b"[" in line:
                for k, dst in enumerate(parts[2:]):
                    yield lo + k, _text(dst)
            else:
                first = _text(parts[2])
                if not first:
                    continue
                for k in range(hi - lo + 1):
                    yield lo + k, first[:-1] + chr(ord(first[-1]) + k)


def _code(hexdigits: bytes) -> int:
    digits = re.sub(rb"\s", b"", hexdigits)
    return int(digits or b"0", 16)


def _text(hexdigits: bytes) -> str:
    digits = re.sub(rb"\s", b"", hexdigits)
    if len(digits) % 4:
        digits = digits.rjust(len(digits) + 4 - len(digits) % 4, b"0")
    return bytes.fromhex(digits.decode("ascii")).decode("utf-16-be", "replace")


def _differences(differences):
    """(code, text) of an /Encoding's /Differences, each glyph name read as the Adobe Glyph List reads it."""
    from fontTools import agl

    differences = _resolved(differences)
    if differences is None:
        return
    code = 0
    for item in differences:
        item = _resolved(item)
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            code = int(item)
            continue
        yield code, agl.toUnicode(str(item).lstrip("/"))
        code += 1
