"""State-secret and box-11 marks (TT 24/2020/TT-BCA; Luật Bảo vệ bí mật nhà nước, Điều 5; Nghị định 30/2020,
Phụ lục I, ô 10a and ô 11): pure functions over strings and readings.

What counts as a secrecy mark
-----------------------------
"MẬT", "TỐI MẬT", "TUYỆT MẬT" are stamped in upper case, boxed, on their own (Decree 30, box 10a; in practice
anywhere on any page). The same letters are also ordinary Vietnamese ("bí mật", "bảo mật", "mật khẩu",
"mật độ", "mật báo") and "GIẢI MẬT" means declassified. The rule:

1. Fold (`normalise`): zero-width, bidi and soft-hyphen characters removed; no-break and other spaces made
   blanks; blanks an extractor put before combining marks removed; look-alike letters of other scripts
   (Cyrillic, Greek, small capitals, "Ð") made the Latin letter they imitate; then NFKC, which also folds
   full-width and compatibility forms and composes combining sequences (NFD "MẬT" == NFC "MẬT").
2. A line is split into word tokens; a run of single upper-case letters ("M Ậ T", "T Ố I   M Ậ T") is one
   word, or several where the gaps are wider; a run whose letters spell a mark is the mark, however uneven.
3. A candidate is the upper-case token sequence MẬT / TỐI MẬT / TUYỆT MẬT (also without diacritics, "TOI
   MAT", and spelt as one word). It must stand on its own on its line: the word right before or after it
   (only blanks or hyphens between) must not be another upper-case word ("MẬT ĐỘ DÂN SỐ", "BẢO MẬT", "GIẢI
   MẬT", "TÀI LIỆU MẬT"); the urgency marks of box 10b (KHẨN, THƯỢNG KHẨN, HỎA TỐC) and the label "ĐỘ MẬT:"
   may stand beside it. A whole line that is only the mark, in any case ("Mật", "Tối mật", "MAT"), is a
   candidate when it is framed or stands alone (no line of its own block above or below it).
4. Across lines, only a line of the *same block* can make a compound: a line whose box touches it above or
   below (gap under 0.8 of the size), of about the same size, overlapping it horizontally. A same-block line
   ending in BÍ / BẢO / GIẢI / ĐỘ / CƠ ... before "MẬT", or one starting with ĐỘ / KHẨU / BÁO / THƯ ... after
   it, makes a word ("bí mật", "mật độ", "mật báo") — except a line starting with the title "BÁO CÁO": a
   "MẬT" line right above the title "BÁO CÁO" is the mark. A framed line is a stamp whatever its neighbours.
   A same-block line ending in TỐI / TUYỆT above a "MẬT" line raises the level (a narrow box, two lines).
   Without geometry (plain text, mail bodies) the neighbouring text line is the block neighbour.
5. A regulation quoting the stamp names is not marked: a candidate inside quotation marks on a line with
   other words, or listed with another mark name (joined by a comma, "và", "hoặc", "/"), is a mention.
   Upper-case MẬT alone between lower-case words ("tài liệu MẬT này") is written as a mark: it fires.
6. Declared classifications (mail header X-Classification, a "[MẬT]" subject tag, an HTTP field, a sidecar
   value, metadata keywords, a Stamp annotation's standard name) are compared as whole values, case- and
   accent-insensitive, ASCII accepted: "mat", "toi-mat", "Tuyệt mật", "TUYET_MAT", and the usual English
   equivalents "confidential" (MẬT), "secret" (TỐI MẬT), "top secret" (TUYỆT MẬT). A label before ":" is
   ignored ("Độ mật: Mật"). "giải mật", "không mật", "bảo mật" match nothing. Every metadata value is also
   compared whole this way (an Info Subject "Tối mật" is a declaration).

Box-11 marks (circulation)
--------------------------
TÀI LIỆU THU HỒI, XEM XONG TRẢ LẠI, TRẢ LẠI SAU KHI HỌP (HỘI NGHỊ), LƯU HÀNH NỘI BỘ are facts
(`CirculationMark`) the policy acts on per channel: upper case anywhere in a place's text (blanks and line
breaks inside ignored), a whole line in any case, or a declared value.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from gateway.model import CirculationMark, SecrecyFinding, SecrecyLevel

_RANK = {SecrecyLevel.MAT: 1, SecrecyLevel.TOI_MAT: 2, SecrecyLevel.TUYET_MAT: 3}

# Two-word marks first; single tokens include the compact (letter-spaced, glued) forms.
_PAIR_MARKS = {
    ("TỐI", "MẬT"): SecrecyLevel.TOI_MAT,
    ("TUYỆT", "MẬT"): SecrecyLevel.TUYET_MAT,
    ("TOI", "MAT"): SecrecyLevel.TOI_MAT,
    ("TUYET", "MAT"): SecrecyLevel.TUYET_MAT,
}
_TOKEN_MARKS = {
    "MẬT": SecrecyLevel.MAT,
    "TỐIMẬT": SecrecyLevel.TOI_MAT,
    "TUYỆTMẬT": SecrecyLevel.TUYET_MAT,
    "TOIMAT": SecrecyLevel.TOI_MAT,
    "TUYETMAT": SecrecyLevel.TUYET_MAT,
}
# Bare "MAT" (no diacritics) only counts as a whole line: as a token it is too common (a code, a name).
_LINE_ONLY = {"MAT": SecrecyLevel.MAT}

# Upper-case words allowed right beside a mark: the urgency marks of box 10b and the label "ĐỘ MẬT:".
_NEIGHBOURS = frozenset({"KHẨN", "THƯỢNG", "HỎA", "HOẢ", "TỐC", "KHAN", "THUONG", "HOA", "TOC"})
# Across a line break (same block only), these make a word with MẬT.
# (compared without diacritics and case: "bí", "BÍ", "bi")
_PREFIX_BLOCK = frozenset({"BI", "BAO", "GIAI", "DO", "CO", "THAN", "KIN"})
_SUFFIX_BLOCK = frozenset(
    {"DO", "KHAU", "THIET", "MA", "ONG", "THAM", "THU", "VU", "BAO", "DAM", "LENH", "UOC", "SU", "TIN", "HIEU", "MUU"}
)
_TITLES_AFTER = (("BAO", "CAO"),)  # "MẬT" over the title "BÁO CÁO" is the mark, not "mật báo"
_RAISE = {"TOI": SecrecyLevel.TOI_MAT, "TUYET": SecrecyLevel.TUYET_MAT}
_LIST_WORDS = frozenset({"và", "hoặc", "hay", "or", "and", "VÀ", "HOẶC"})

_CIRCULATION_PHRASES = {
    "TÀI LIỆU THU HỒI": CirculationMark.RECALL,
    "XEM XONG TRẢ LẠI": CirculationMark.RETURN_AFTER_READING,
    "TRẢ LẠI SAU KHI HỌP": CirculationMark.RETURN_AFTER_MEETING,
    "TRẢ LẠI SAU HỘI NGHỊ": CirculationMark.RETURN_AFTER_MEETING,
    "TRẢ LẠI SAU KHI HỘI NGHỊ": CirculationMark.RETURN_AFTER_MEETING,
    "LƯU HÀNH NỘI BỘ": CirculationMark.INTERNAL_CIRCULATION,
}
_CIRCULATION = {phrase.replace(" ", ""): mark for phrase, mark in _CIRCULATION_PHRASES.items()}  # run together
# their words: a piece of a phrase that runs on across lines (`may_hold_mark`)
_CIRCULATION_WORDS = tuple(sorted({word for phrase in _CIRCULATION_PHRASES for word in phrase.split()}))

_DECLARED = {
    "mat": SecrecyLevel.MAT,
    "confidential": SecrecyLevel.MAT,
    "toi mat": SecrecyLevel.TOI_MAT,
    "toimat": SecrecyLevel.TOI_MAT,
    "secret": SecrecyLevel.TOI_MAT,
    "tuyet mat": SecrecyLevel.TUYET_MAT,
    "tuyetmat": SecrecyLevel.TUYET_MAT,
    "top secret": SecrecyLevel.TUYET_MAT,
    "topsecret": SecrecyLevel.TUYET_MAT,
}
_DECLARED_CIRCULATION = {
    "tai lieu thu hoi": CirculationMark.RECALL,
    "thu hoi": CirculationMark.RECALL,
    "recall": CirculationMark.RECALL,
    "recalled": CirculationMark.RECALL,
    "xem xong tra lai": CirculationMark.RETURN_AFTER_READING,
    "return after reading": CirculationMark.RETURN_AFTER_READING,
    "tra lai sau khi hop": CirculationMark.RETURN_AFTER_MEETING,
    "tra lai sau khi hop hoi nghi": CirculationMark.RETURN_AFTER_MEETING,
    "return after meeting": CirculationMark.RETURN_AFTER_MEETING,
    "luu hanh noi bo": CirculationMark.INTERNAL_CIRCULATION,
    "noi bo": CirculationMark.INTERNAL_CIRCULATION,
    "internal": CirculationMark.INTERNAL_CIRCULATION,
    "internal circulation": CirculationMark.INTERNAL_CIRCULATION,
    "internal use only": CirculationMark.INTERNAL_CIRCULATION,
}

# --- folding ------------------------------------------------------------------------------------------------

_INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u034f\u180e\u061c" + "".join(
    map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
)
_FOLD = dict.fromkeys(map(ord, _INVISIBLE), None)
for _c in "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000\t":
    _FOLD[ord(_c)] = " "
# Look-alikes of the letters marks are written with (upper and lower case), from other scripts and forms.
_LOOKALIKE = {
    # Cyrillic
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K", "М": "M", "О": "O",
    "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ү": "Y", "Ԁ": "D", "Ԛ": "Q", "Ԝ": "W", "Ӏ": "I",
    "а": "a", "в": "b", "с": "c", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k", "м": "m", "о": "o",
    "р": "p", "ѕ": "s", "т": "t", "х": "x", "у": "y", "ү": "y", "ԁ": "d", "ԛ": "q", "ԝ": "w", "ӏ": "l",
    "Ӑ": "Ă", "ӑ": "ă", "Ӓ": "Ä", "Ё": "Ë", "Ї": "Ï", "Ў": "Y",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "ο": "o", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "α": "a",
    # Latin small capitals and other forms
    "ᴀ": "A", "ʙ": "B", "ᴄ": "C", "ᴅ": "D", "ᴇ": "E", "ɢ": "G", "ʜ": "H", "ɪ": "I", "ᴊ": "J", "ᴋ": "K",
    "ʟ": "L", "ᴍ": "M", "ɴ": "N", "ᴏ": "O", "ᴘ": "P", "ʀ": "R", "ꜱ": "S", "ᴛ": "T", "ᴜ": "U", "ᴠ": "V",
    "ᴡ": "W", "ʏ": "Y", "ᴢ": "Z", "ı": "i", "ȷ": "j",
    # "Đ" look-alikes from legacy fonts and other scripts
    "Ð": "Đ", "Ɖ": "Đ", "ð": "đ",
    # Armenian / Cherokee capitals that draw as Latin
    "Տ": "S", "Օ": "O", "Ꭺ": "A", "Ꮯ": "C", "Ꭼ": "E", "Ꮋ": "H", "Ꮇ": "M", "Ꭲ": "T", "Ꮃ": "W",
}
# Combining marks that look like the Vietnamese ones: Greek perispomeni (~), the spacing circumflex ...
_MARK_LOOKALIKE = {"\u0342": "\u0303", "\u0340": "\u0300", "\u0341": "\u0301", "\u0343": "\u0313", "\u1dc7": "\u0301"}
for _k, _v in {**_LOOKALIKE, **_MARK_LOOKALIKE}.items():
    _FOLD[ord(_k)] = _v
_SPACE_BEFORE_MARK = re.compile(r"[ \t]+(?=[\u0300-\u036f])")


def normalise(text: str) -> str:
    """The text folded for matching (see the module docstring, step 1)."""
    text = unicodedata.normalize("NFKD", text).translate(_FOLD)
    text = _SPACE_BEFORE_MARK.sub("", text)
    return unicodedata.normalize("NFKC", text).translate(_FOLD)


# Where Unicode puts characters with a combining class: the BMP and plane 1 (none above U+1E94A in Unicode
# 15), and plane 14's block, looked at too in case (the whole range costs every worker process 0.08 s, these 9 ms)
_COMBINING_PLANES = (range(0x20000), range(0xE0000, 0xE1000))


@functools.cache
def _combining() -> dict[int, None]:
    """Every combining character (a canonical combining class), to be deleted by str.translate: the same as
    testing each character with unicodedata.combining, at C speed (built once per process)."""
    return dict.fromkeys(c for plane in _COMBINING_PLANES for c in plane if unicodedata.combining(chr(c)))


_QUOTES_BRACKETS = re.compile(r"[\"'`«»\[\]{}()<>【】“”‘’„]")
_SEPARATORS = re.compile(r"[\s_\-.]+")


def fold(value: str) -> str:
    """Accent- and case-insensitive ASCII-ish form: 'Tối-Mật' -> 'toi mat'."""
    return _fold_normalised(normalise(value))


def _fold_normalised(value: str) -> str:
    """`fold` of a text already normalised (normalise is idempotent: tests/test_secrecy.py)."""
    value = unicodedata.normalize("NFD", value).translate(_combining())
    value = value.replace("đ", "d").replace("Đ", "D").casefold()
    return _SEPARATORS.sub(" ", _QUOTES_BRACKETS.sub(" ", value)).strip()


def may_hold_mark(text: str) -> bool:
    """Whether `text` could hold a secrecy mark, or a piece of a box-11 mark, in any spelling this module reads:
    its letters, folded and run together (letter-spaced, hyphenated, split over lines), contain "mat"; or, run
    together, an upper-case word of a box-11 phrase (those are found in a place's text run together). A cheap
    test before costly readings; False means no mark, True nothing yet."""
    if "mat" in re.sub(r"[\W_]+", "", fold(text)):
        return True
    squashed = re.sub(r"[\s\-]+", "", normalise(text))
    return any(word in squashed for word in _CIRCULATION_WORDS)


# Words a stamp's "MẬT" is read beside: the marks' own first words, the urgency marks and the label, and the
# words it makes an ordinary compound with (compared without diacritics and case)
_KNOWN_BESIDE = frozenset(_RAISE) | _PREFIX_BLOCK | _SUFFIX_BLOCK | frozenset(w for w in _NEIGHBOURS if w.isascii())


def half_read(texts: Iterable[str]) -> bool:
    """Whether what OCR read of a stamp (a cut-out stamp-sized blob, `ocr._askew_placed`) shows its "MẬT" but
    not what stands with it: an upper-case word that is "MẬT" but for its accents ("MẮT", "MẶT") or stands
    beside a word that is neither a mark's, an urgency mark's, nor one it makes a compound with. Tesseract
    read a serif "TỐI MẬT" askew over writing as "PÕI MẮT" and "rồi MẶy": the stamp was seen, its words were
    not read, and "no mark" cannot be told from it. Rule 3 rightly keeps an unknown word before "MẬT" from
    being a mark ("GIẢI MẬT"); on a stamp that was not read whole, it must not pass either."""
    for text in texts:
        toks = _tokens(normalise(text))
        for i, tok in enumerate(toks):
            if not (_upper_word(tok.word) and _base(tok.word) == "MAT"):
                continue
            if tok.word not in ("MẬT", "MAT"):
                return True
            beside = ([toks[i - 1]] if tok.adjacent_before else []) + ([toks[i + 1]] if tok.adjacent_after else [])
            for b in beside:
                base = _base(b.word)
                # "TÔI MẬT" is neither "TỐI MẬT" nor a word: the level cannot be told
                if base not in _KNOWN_BESIDE or base in _RAISE and b.word not in ("TỐI", "TUYỆT", base):
                    return True
    return False


# --- findings -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Marks:
    """Everything this module can find in one source; combine with `|`."""

    secrecy: tuple[SecrecyFinding, ...] = ()
    circulation: frozenset[CirculationMark] = frozenset()

    def __or__(self, other: "Marks") -> "Marks":
        seen = dict.fromkeys(self.secrecy + other.secrecy)  # ordered, deduplicated
        return Marks(tuple(seen), self.circulation | other.circulation)

    @property
    def level(self) -> SecrecyLevel | None:
        return highest(f.level for f in self.secrecy)

    @property
    def recall(self) -> bool:
        return CirculationMark.RECALL in self.circulation

    @property
    def internal(self) -> bool:
        return CirculationMark.INTERNAL_CIRCULATION in self.circulation


def highest(levels: Iterable[SecrecyLevel]) -> SecrecyLevel | None:
    best = None
    for lv in levels:
        if best is None or _RANK[lv] > _RANK[best]:
            best = lv
    return best


# --- tokens -------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[^\W_]+")
_ADJACENT_GAP = re.compile(r"[\s\-\u2010\u2011]*")  # blanks / hyphens: still "beside"
_QUOTES_OPEN = "\"'“‘«„‚‹「『"
_QUOTES_CLOSE = "\"'”’»“‘›」』"


@dataclass(frozen=True)
class _Tok:
    word: str
    start: int
    end: int
    adjacent_before: bool  # only blanks/hyphens since the previous token on this line
    adjacent_after: bool


def _tokens(line: str) -> list[_Tok]:
    spans = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(line)]
    spans = _join_letter_spaced(line, spans)
    out = []
    for i, (word, start, end) in enumerate(spans):
        before = i > 0 and _ADJACENT_GAP.fullmatch(line[spans[i - 1][2] : start]) is not None
        after = i + 1 < len(spans) and _ADJACENT_GAP.fullmatch(line[end : spans[i + 1][1]]) is not None
        out.append(_Tok(word, start, end, before, after))
    return out


def _is_letter(word: str) -> bool:
    return len(word) == 1 and word.isalpha() and word.isupper()


def _join_letter_spaced(line: str, spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """'M Ậ T' -> 'MẬT'; 'T Ố I   M Ậ T' -> 'TỐI', 'MẬT' (split at the wider gaps); a run whose letters spell
    a mark is that mark whatever its gaps ('M  ẬT' unevenly spaced)."""
    out: list[tuple[str, int, int]] = []
    i = 0
    while i < len(spans):
        j = i
        while (
            j + 1 < len(spans)
            and _is_letter(spans[j][0])
            and (_is_letter(spans[j + 1][0]) or len(spans[j + 1][0]) <= 3 and spans[j + 1][0].isupper())
            and line[spans[j][2] : spans[j + 1][1]].isspace()
        ):
            j += 1
        if j == i:
            out.append(spans[i])
            i += 1
            continue
        run = spans[i : j + 1]
        joined = "".join(s[0] for s in run)
        if joined in _TOKEN_MARKS:
            out.append((joined, run[0][1], run[-1][2]))
            i = j + 1
            continue
        gaps = [run[k + 1][1] - run[k][2] for k in range(len(run) - 1)]
        narrow = min(gaps)
        word, start = run[0][0], run[0][1]
        for k, gap in enumerate(gaps):
            nxt = run[k + 1]
            if gap > narrow:
                out.append((word, start, run[k][2]))
                word, start = nxt[0], nxt[1]
            else:
                word += nxt[0]
        out.append((word, start, run[-1][2]))
        i = j + 1
    return out


def _upper_word(word: str) -> bool:
    return word.isupper() and any(c.isalpha() for c in word)


@functools.lru_cache(maxsize=1 << 16)  # the same words on every line of a long text (a pure function)
def unaccented(text: str) -> str:
    """`text` without diacritics, case kept ("Tối Mật" -> "Toi Mat"; đ -> d)."""
    text = unicodedata.normalize("NFD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).replace("Đ", "D").replace("đ", "d")


@functools.lru_cache(maxsize=1 << 16)
def _base(word: str) -> str:
    """Upper-case without diacritics (for the ASCII spellings)."""
    return unaccented(word).upper()


# --- one line -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cand:
    level: SecrecyLevel
    first: int
    last: int
    whole_line: bool  # the line is only the mark (any case)


def _candidates(text: str, toks: list[_Tok]) -> tuple[list[_Cand], bool]:
    """Mark candidates on one line, with the in-line standing-alone test (step 3) already applied, and
    whether the line mentions marks (names quoted or listed: step 5)."""
    words = [t.word for t in toks]
    bare = [w for w in words if w]
    # a whole line that is only the mark, in any case (urgency marks and the label allowed beside it)
    core = [w for w in bare if _base(w) not in {"KHAN", "THUONG", "HOA", "TOC"}]
    if core and len(core) <= 2:
        level = _PAIR_MARKS.get(tuple(_base(w) for w in core)) if len(core) == 2 else None
        if len(core) == 1:
            level = _TOKEN_MARKS.get(_base(core[0])) or _LINE_ONLY.get(_base(core[0]))
        if level is not None:
            return [_Cand(level, words.index(core[0]), words.index(core[-1]), True)], False
    found: list[_Cand] = []
    i = 0
    while i < len(toks):
        pair = (words[i], words[i + 1]) if i + 1 < len(toks) and toks[i].adjacent_after else None
        if pair in _PAIR_MARKS:
            level, first, last = _PAIR_MARKS[pair], i, i + 1
        elif words[i] in _TOKEN_MARKS:
            level, first, last = _TOKEN_MARKS[words[i]], i, i
        else:
            i += 1
            continue
        i = last + 1
        if first > 0:
            prev = toks[first - 1]
            label = prev.word in ("ĐỘ", "DO") and text[toks[first].end : toks[first].end + 2].lstrip()[:1] == ":"
            if toks[first].adjacent_before and _upper_word(prev.word) and prev.word not in _NEIGHBOURS and not label:
                continue
        if last + 1 < len(toks):
            nxt = toks[last + 1]
            if toks[last].adjacent_after and _upper_word(nxt.word) and nxt.word not in _NEIGHBOURS:
                continue
        found.append(_Cand(level, first, last, False))
    kept = _drop_mentions(text, toks, found)
    return kept, len(kept) < len(found)


def _drop_mentions(text: str, toks: list[_Tok], found: list[_Cand]) -> list[_Cand]:
    """Step 5: a quoted name on a line of prose, or names listed together, are mentions, not marks."""
    if not found:
        return found
    prose = sum(1 for t in toks if t.word.islower()) >= 2
    keep = []
    for k, c in enumerate(found):
        start, end = toks[c.first].start, toks[c.last].end
        before = text[:start].rstrip()
        after = text[end:].lstrip()
        quoted = before[-1:] in _QUOTES_OPEN and after[:1] in _QUOTES_CLOSE and before[-1:] != ""
        if quoted and (prose or len(toks) > c.last - c.first + 1):
            continue
        if _listed(text, toks, found, k):
            continue
        keep.append(c)
    return keep


def _listed(text: str, toks: list[_Tok], found: list[_Cand], k: int) -> bool:
    """Another mark name joined to this one by a comma, "và", "hoặc" or "/": a list of names."""
    c = found[k]
    for other in (found[k - 1] if k > 0 else None, found[k + 1] if k + 1 < len(found) else None):
        if other is None:
            continue
        a, b = (other, c) if other.last < c.first else (c, other)
        if _joins(text[toks[a.last].end : toks[b.first].start]):
            return True
    return False


def _joins(between: str) -> bool:
    """Is `between` (the text between two words) what joins the items of a list?"""
    between = re.sub(r"[\s\"'“”‘’«»]+", " ", between).strip()
    return between in {",", ";", "/", "|"} or between in _LIST_WORDS or between.strip(",; ") in _LIST_WORDS


# --- lines with or without geometry -------------------------------------------------------------------------


@dataclass
class _L:
    text: str  # normalised
    box: tuple[float, float, float, float] | None
    size: float | None
    framed: bool
    mentions: bool = False  # the line names marks as a list or a quotation (step 5)

    @functools.cached_property
    def toks(self) -> list[_Tok]:
        """Made when first asked for: only a line that may hold a mark, and its neighbours, are asked for
        theirs (a 100,000-line text spent most of its scan making tokens of lines that hold none)."""
        return _tokens(self.text)


_SQUASH = re.compile(r"[\W_]+")


def _may_stand(text: str) -> bool:
    """Whether line `text` may hold a mark candidate (`_candidates`); False: it holds none. Every candidate is
    a token, or tokens run together (letter-spaced), whose base (`_base`) holds "MAT"; a token is a stretch of
    the line's letters and digits, so its base is a stretch of the line's letters run together, unaccented
    and upper-cased, which this looks in (dropping more than `_base` does can only find more)."""
    return "MAT" in _SQUASH.sub("", unicodedata.normalize("NFD", text)).upper()


def _scan_lines(lines: Sequence[_L], where: str) -> list[SecrecyFinding]:
    found: list[SecrecyFinding] = []
    geometric = any(l.box is not None for l in lines)
    cands_of = []
    for line in lines:
        cands, line.mentions = _candidates(line.text, line.toks) if _may_stand(line.text) else ([], False)
        cands_of.append(cands)
    for li, line in enumerate(lines):  # "(MẬT/TỐI" / "MẬT/TUYỆT MẬT)": a list goes on across the line break
        cands = cands_of[li]
        if cands and cands[-1].last < len(line.toks) - 1 and _base(line.toks[-1].word) in _RAISE:
            below = _block_neighbour(lines, li, +1, geometric)
            if (below is not None and below.toks and _base(below.toks[0].word) == "MAT"
                    and _joins(line.text[line.toks[cands[-1].last].end : line.toks[-1].start])):
                cands_of[li], line.mentions = cands[:-1], True
    for li, line in enumerate(lines):
        for c in cands_of[li]:
            level = c.level
            above = _block_neighbour(lines, li, -1, geometric)
            below = _block_neighbour(lines, li, +1, geometric)
            if c.first == 0 and above is not None and above.toks:
                word = _base(above.toks[-1].word)
                if above.mentions and word in _RAISE:
                    continue  # "(MẬT/TỐI MẬT/TUYỆT" / "MẬT) ...": the list goes on across the line break
                if word in _RAISE and level is SecrecyLevel.MAT:
                    level = _RAISE[word]  # "TỐI" / "MẬT" on two lines of a narrow box
                elif word in _PREFIX_BLOCK and not line.framed:
                    continue
            if c.last == len(line.toks) - 1 and below is not None and below.toks and not line.framed:
                first = _base(below.toks[0].word)
                title = tuple(_base(t.word) for t in below.toks[:2]) in _TITLES_AFTER
                if first in _SUFFIX_BLOCK and not title:
                    continue
            if c.whole_line and not (line.text.strip() == line.text.strip().upper()):
                # any case: only when it is a stamp (framed) or stands alone (no line of its block around it)
                if not line.framed and (above is not None or below is not None):
                    continue
            found.append(SecrecyFinding(level, where))
    return found


def _block_neighbour(lines: Sequence[_L], li: int, step: int, geometric: bool) -> _L | None:
    """The line of the same block right above (step -1) or below (+1) line `li`, or None."""
    me = lines[li]
    if not geometric or me.box is None:
        j = li + step
        if 0 <= j < len(lines) and lines[j].toks:
            return lines[j]
        return None
    best, best_gap = None, None
    x0, y0, x1, y1 = me.box
    size = me.size or (y1 - y0)
    for j, o in enumerate(lines):
        if j == li or o.box is None:
            continue
        ox0, oy0, ox1, oy1 = o.box
        if min(x1, ox1) - max(x0, ox0) <= 0:
            continue  # no horizontal overlap: another column or the stamp beside the title
        osize = o.size or (oy1 - oy0)
        if not (0.75 <= osize / max(size, 0.1) <= 1.33):
            continue
        gap = (y0 - oy1) if step < 0 else (oy0 - y1)
        # its tokens last: made only for a line that stands there
        if -0.3 * size <= gap <= 0.8 * size and (best_gap is None or gap < best_gap) and o.toks:
            best, best_gap = o, gap
    return best


def _circulation(texts: Iterable[str]) -> frozenset[CirculationMark]:
    """The box-11 marks of a place's lines (normalised)."""
    found: set[CirculationMark] = set()
    texts = list(texts)
    squashed = re.sub(r"[\s\-]+", "", "\n".join(texts))
    for phrase, mark in _CIRCULATION.items():
        if phrase in squashed:
            found.add(mark)
    for t in texts:  # a whole line in any case ("Lưu hành nội bộ" in a footer)
        folded = _fold_normalised(t)
        mark = _DECLARED_CIRCULATION.get(folded)
        if mark is not None and len(folded.split()) >= 3:
            found.add(mark)
    return frozenset(found)


def _readings(raw: list[tuple[str, tuple | None, float | None, bool]]) -> list[list[_L]]:
    """The lines as written, and as read in each legacy encoding when some line looks encoded (legacy.py):
    each reading is scanned on its own (more readings can only block, never release)."""
    from gateway.inspect import legacy

    variants: list[list[str]] = [[t for t, _, _, _ in raw]]
    alts = [legacy.alternatives(t) for t, _, _, _ in raw]
    for k in range(max((len(a) for a in alts), default=0)):
        variants.append([a[k] if len(a) > k else t for a, (t, _, _, _) in zip(alts, raw)])
    out = []
    for texts in variants:
        lines = []
        for text, (_, box, size, framed) in zip(texts, raw):
            t = normalise(text)
            lines.append(_L(t, box, size, framed))
        out.append(lines)
    return out


def _scan(raw, where: str, ordered: bool) -> Marks:
    findings: list[SecrecyFinding] = []
    circulation: frozenset[CirculationMark] = frozenset()
    for lines in _readings(raw):
        findings += _scan_lines(lines, where)
        texts = sorted(lines, key=lambda l: (l.box[1], l.box[0]) if l.box else (0, 0)) if ordered else lines
        circulation |= _circulation(l.text for l in texts)
    return Marks(tuple(dict.fromkeys(findings)), circulation)


def scan_text(text: str | None, where: str) -> Marks:
    """Marks in free text without geometry (a text file, a mail body, a value), per the module rule."""
    if not text:
        return Marks()
    return _scan([(t, None, None, False) for t in text.splitlines()], where, ordered=False)


def scan_lines(lines, where: str) -> Marks:
    """Marks in lines of one place (a page) with their geometry (reading.Line: box, size, framed)."""
    return _scan([(l.text, l.box, l.size, l.framed) for l in lines], where, ordered=True)


# --- declared values -----------------------------------------------------------------------------------


def _declared_parts(value: str) -> list[str]:
    parts = re.split(r"[,;|/+\n]|\s[-–—]\s", value)
    return [p.rsplit(":", 1)[-1] for p in parts]


def parse_level(value: str | None) -> SecrecyLevel | None:
    """The highest level a declared value names ('Tối mật', 'TUYET_MAT', 'secret', 'Độ mật: Mật'), or None."""
    if not value:
        return None
    return highest(lv for lv in (_DECLARED.get(fold(p)) for p in _declared_parts(value)) if lv is not None)


def scan_declared(value: str | None, where: str = "declared") -> Marks:
    """A value the sender declared (header, HTTP field, sidecar, keyword). Whole values, any case, ASCII ok."""
    if not value or not value.strip():
        return Marks()
    parts = {fold(p) for p in _declared_parts(value)}
    levels = [_DECLARED[p] for p in parts if p in _DECLARED]
    text = scan_text(value, where)  # upper-case Vietnamese inside a longer value still counts
    own = Marks(
        tuple(SecrecyFinding(lv, where) for lv in sorted(set(levels), key=_RANK.__getitem__)),
        frozenset(_DECLARED_CIRCULATION[p] for p in parts if p in _DECLARED_CIRCULATION),
    )
    return own | text


_TAG = re.compile(r"[\[(【]([^\])】]{1,40})[\])】]")


def scan_subject(subject: str | None, where: str = "declared:subject") -> Marks:
    """A mail subject or document title: bracketed tags ('[MẬT]', '(toi mat)') as declared values, the rest as text."""
    if not subject:
        return Marks()
    marks = scan_text(subject, where)
    for tag in _TAG.findall(normalise(subject)):
        marks = marks | scan_declared(tag, where)
    return marks


# Metadata keys whose values are lists of keywords or a classification, compared item by item.
# Matched on the folded key: "Độ mật", "ĐỘ_MẬT", "do-mat" alike.
_KEYWORD_KEYS = re.compile(r"keyword|dc:subject|classif|security|secrecy|do ?mat|stamp|phan loai")


_HINT = re.compile(r"(?: tag)? classification$")


def scan_metadata(fields: Mapping[str, str | Iterable[str] | None], prefix: str) -> Marks:
    """Document metadata: {'Title': ..., 'Keywords': ...} from Info, or XMP property -> value(s).

    Every value is compared whole as a declared value (an Info Subject "Tối mật") and read by the text rule;
    keyword lists and classification-like properties are also compared item by item. `where` of each finding
    is f'{prefix}:{key}' without a trailing "(tag) classification" hint: the hint says how to compare a
    value, not where it stands (a subject and its "[MẬT]" tag are one place, reported once).
    """
    marks = Marks()
    for key, raw in fields.items():
        if raw is None:
            continue
        values = [raw] if isinstance(raw, str) else [str(v) for v in raw]
        where = f"{prefix}:{_HINT.sub('', key.lstrip('/'))}"
        for value in values:
            marks = marks | scan_text(value, where)
            level = _DECLARED.get(fold(value))
            if level is not None:
                marks = marks | Marks((SecrecyFinding(level, where),))
            if _KEYWORD_KEYS.search(fold(key)):
                for item in re.split(r"[,;\n]", value):
                    marks = marks | scan_declared(item, where)
    return marks


def scan_reading(reading) -> Marks:
    """Every mark a reader's `Reading` shows: its lines, one place at a time (`where`, e.g. "page1"; lines with
    a box by the layout rule), and its metadata (key, value) pairs by the metadata rule."""
    by_place: dict[str, list] = {}
    for line in reading.lines:
        by_place.setdefault(line.where, []).append(line)
    marks = Marks()
    for where, lines in by_place.items():
        if where.startswith("stamp:"):
            for line in lines:  # a Stamp annotation's standard name (Confidential, TopSecret): declared
                marks = marks | scan_declared(line.text, f"annotation:{where}")
            continue
        if any(l.box is not None for l in lines):
            marks = marks | scan_lines(lines, f"text:{where}")
        else:
            marks = marks | scan_text("\n".join(l.text for l in lines), f"text:{where}")
    fields: dict[str, list[str]] = {}
    for key, value in reading.metadata:
        fields.setdefault(key, []).append(value)
    for key, values in fields.items():
        prefix, _, name = key.partition(":")
        marks = marks | scan_metadata({name or prefix: values}, prefix if name else "meta")
    return marks
