"""State-secret and box-11 marks (TT 24/2020/TT-BCA; Luật Bảo vệ bí mật nhà nước, Điều 5): pure functions
over strings and readings.

What counts as a mark
---------------------
"MẬT", "TỐI MẬT", "TUYỆT MẬT" are stamped in upper case (Decree 30, Phụ lục I, box 10a, top left under the
number). The same letters are also ordinary Vietnamese ("bí mật", "bảo mật", "mật khẩu", "mật độ") and
"GIẢI MẬT" means declassified. The rule for text (page text, metadata Title/Subject, mail subjects):

1. Normalise: NFD -> drop spaces an extractor put before combining marks -> NFKC (so NFD, NFC and
   full-width forms compare equal); zero-width characters removed; "Ð" (U+00D0, seen from legacy fonts) -> "Đ".
2. Split into lines, lines into word tokens. Letter-spaced words ("M Ậ T", "T Ố I  M Ậ T") are joined back:
   a run of single upper-case letters separated only by blanks becomes words, split where the gap is wider
   than the narrowest gap in the run (all gaps equal -> one word; "TỐIMẬT" is accepted like "TỐI MẬT").
3. A candidate is the exact upper-case token sequence MẬT / TỐI MẬT / TUYỆT MẬT. Case is significant in
   page text on purpose: a wrapped line ending in lower-case "mật" is prose, never a stamp.
4. The candidate must stand on its own as a token sequence: the word right before it on the same line
   (only blanks or hyphens between) must not be another upper-case word, nor the word right after it.
   Punctuation (":", ",", "(", "|", ...) separates, so "ĐỘ MẬT: TỐI MẬT" finds TỐI MẬT and "MẬT ĐỘ DÂN SỐ",
   "BẢO MẬT", "GIẢI MẬT", "TÀI LIỆU MẬT" (a heading about secret documents) find nothing. The urgency marks
   that share the corner (KHẨN, THƯỢNG KHẨN, HỎA TỐC) may stand beside it.
   Across a line break only known partners block: a line ending in BÍ / BẢO / GIẢI / ĐỘ / CƠ before a line
   starting with MẬT, or a line ending in MẬT before one starting with ĐỘ / KHẨU / THIẾT / MÃ / ONG ...
   A line ending in TỐI / TUYỆT before a line "MẬT" (a narrow box) raises the level: fail safe.
   Upper case MẬT between lower-case words ("tài liệu MẬT này") fires: it is written as a mark.
5. Declared classifications (mail header X-Classification, a "[MẬT]" subject tag, an HTTP field, a sidecar
   value, metadata keywords) are compared as whole values, case- and accent-insensitive, ASCII accepted:
   "mat", "toi-mat", "Tuyệt mật", "TUYET_MAT", and the usual English equivalents "confidential" (MẬT),
   "secret" (TỐI MẬT), "top secret" (TUYỆT MẬT). A label before ":" is ignored ("Độ mật: Mật").
   "giải mật", "không mật", "bảo mật" match nothing.

"TÀI LIỆU THU HỒI" (recall) and "LƯU HÀNH NỘI BỘ" (internal circulation) are reported as separate facts
when they appear upper case in text (blanks and line breaks inside ignored) or as a declared value.

Limits
------
Only text is read. A mark stamped as an image (a scanned page, a rubber-stamp picture), drawn as vector
outlines, or in a font without a usable ToUnicode map produces no text and is NOT detected here; an
upper-case MẬT glued by the extractor to another upper-case word on the same baseline is also missed.
Senders must declare the classification for such files; the gateway's rule is only a safety net.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Mapping

from gateway.model import SecrecyFinding, SecrecyLevel

_RANK = {SecrecyLevel.MAT: 1, SecrecyLevel.TOI_MAT: 2, SecrecyLevel.TUYET_MAT: 3}

# Two-word marks first; single tokens include the letter-spaced compact forms.
_PAIR_MARKS = {("TỐI", "MẬT"): SecrecyLevel.TOI_MAT, ("TUYỆT", "MẬT"): SecrecyLevel.TUYET_MAT}
_TOKEN_MARKS = {"MẬT": SecrecyLevel.MAT, "TỐIMẬT": SecrecyLevel.TOI_MAT, "TUYỆTMẬT": SecrecyLevel.TUYET_MAT}

# Upper-case words allowed right beside a mark: the urgency marks of box 10b.
_NEIGHBOURS = frozenset({"KHẨN", "THƯỢNG", "HỎA", "HOẢ", "TỐC"})
# Across a line break, only these block (compounds: bí mật, bảo mật, giải mật, độ mật, cơ mật ...).
_PREFIX_BLOCK = frozenset({"BÍ", "BẢO", "GIẢI", "ĐỘ", "CƠ", "THÂN", "KÍN", "TỐI", "TUYỆT"})
_SUFFIX_BLOCK = frozenset(
    {"ĐỘ", "KHẨU", "THIẾT", "MÃ", "ONG", "THÁM", "THƯ", "VỤ", "BÁO", "ĐÀM", "LỆNH", "ƯỚC", "SỨ", "TÍN", "HIỆU", "MƯU"}
)
_RAISE = {"TỐI": SecrecyLevel.TOI_MAT, "TUYỆT": SecrecyLevel.TUYET_MAT}

_RECALL = "TÀILIỆUTHUHỒI"
_INTERNAL = "LƯUHÀNHNỘIBỘ"

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
_DECLARED_RECALL = {"tai lieu thu hoi", "thu hoi", "recall", "recalled"}
_DECLARED_INTERNAL = {"luu hanh noi bo", "noi bo", "internal", "internal circulation", "internal use only"}

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_ZERO_WIDTH[0x00D0] = "\u0110"  # Icelandic Eth from legacy Vietnamese fonts -> Đ
_SPACE_BEFORE_MARK = re.compile(r"[ \t\u00a0]+(?=[\u0300-\u036f])")
_TOKEN = re.compile(r"[^\W_]+")
_ADJACENT_GAP = re.compile(r"[\s\-\u2010\u2011]*")  # blanks / hyphens: still "beside"


@dataclass(frozen=True)
class Marks:
    """Everything this module can find in one source; combine with `|`."""

    secrecy: tuple[SecrecyFinding, ...] = ()
    recall: bool = False
    internal: bool = False

    def __or__(self, other: "Marks") -> "Marks":
        seen = dict.fromkeys(self.secrecy + other.secrecy)  # ordered, deduplicated
        return Marks(tuple(seen), self.recall or other.recall, self.internal or other.internal)

    @property
    def level(self) -> SecrecyLevel | None:
        return highest(f.level for f in self.secrecy)


def highest(levels: Iterable[SecrecyLevel]) -> SecrecyLevel | None:
    best = None
    for lv in levels:
        if best is None or _RANK[lv] > _RANK[best]:
            best = lv
    return best


def normalise(text: str) -> str:
    """NFC/NFD/compatibility-insensitive form of `text` (see the module docstring, step 1)."""
    text = unicodedata.normalize("NFD", text.translate(_ZERO_WIDTH))
    text = _SPACE_BEFORE_MARK.sub("", text)
    return unicodedata.normalize("NFKC", text)


# --- page text ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    word: str
    adjacent_before: bool  # only blanks/hyphens since the previous token on this line
    adjacent_after: bool


def _tokens(line: str) -> list[_Tok]:
    spans = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(line)]
    spans = _join_letter_spaced(line, spans)
    out = []
    for i, (word, start, end) in enumerate(spans):
        before = i > 0 and _ADJACENT_GAP.fullmatch(line[spans[i - 1][2] : start]) is not None
        after = i + 1 < len(spans) and _ADJACENT_GAP.fullmatch(line[end : spans[i + 1][1]]) is not None
        out.append(_Tok(word, before, after))
    return out


def _is_letter(word: str) -> bool:
    return len(word) == 1 and word.isalpha() and word.isupper()


def _join_letter_spaced(line: str, spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """'M Ậ T' -> 'MẬT'; 'T Ố I   M Ậ T' -> 'TỐI', 'MẬT' (split at the wider gaps)."""
    out: list[tuple[str, int, int]] = []
    i = 0
    while i < len(spans):
        j = i
        while (
            j + 1 < len(spans)
            and _is_letter(spans[j][0])
            and _is_letter(spans[j + 1][0])
            and line[spans[j][2] : spans[j + 1][1]].isspace()
        ):
            j += 1
        if j == i:
            out.append(spans[i])
            i += 1
            continue
        run = spans[i : j + 1]
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


def _find_levels(lines: list[list[_Tok]]) -> list[SecrecyLevel]:
    found: list[SecrecyLevel] = []
    for li, toks in enumerate(lines):
        i = 0
        while i < len(toks):
            pair = (toks[i].word, toks[i + 1].word) if i + 1 < len(toks) and toks[i].adjacent_after else None
            if pair in _PAIR_MARKS:
                level, first, last = _PAIR_MARKS[pair], i, i + 1
            elif toks[i].word in _TOKEN_MARKS:
                level, first, last = _TOKEN_MARKS[toks[i].word], i, i
            else:
                i += 1
                continue
            i = last + 1
            ok, level = _stands_alone(lines, li, first, last, level)
            if ok:
                found.append(level)
    return found


def _stands_alone(
    lines: list[list[_Tok]], li: int, first: int, last: int, level: SecrecyLevel
) -> tuple[bool, SecrecyLevel]:
    toks = lines[li]
    if first > 0:
        prev = toks[first - 1]
        if toks[first].adjacent_before and _upper_word(prev.word) and prev.word not in _NEIGHBOURS:
            return False, level
    else:
        prev_line = _neighbour_line(lines, li, -1)
        if prev_line:
            word = prev_line[-1].word
            if word in _RAISE and level is SecrecyLevel.MAT:
                level = _RAISE[word]  # "TỐI" / "MẬT" on two lines of a narrow box
            elif word in _PREFIX_BLOCK:
                return False, level
    if last + 1 < len(toks):
        nxt = toks[last + 1]
        if toks[last].adjacent_after and _upper_word(nxt.word) and nxt.word not in _NEIGHBOURS:
            return False, level
    else:
        next_line = _neighbour_line(lines, li, +1)
        if next_line and next_line[0].word in _SUFFIX_BLOCK:
            return False, level
    return True, level


def _neighbour_line(lines: list[list[_Tok]], li: int, step: int) -> list[_Tok] | None:
    j = li + step
    while 0 <= j < len(lines):
        if lines[j]:
            return lines[j]
        j += step
    return None


def scan_text(text: str | None, where: str) -> Marks:
    """Marks in page text (or any free text written by people), per the module rule."""
    if not text:
        return Marks()
    text = normalise(text)
    lines = [_tokens(line) for line in text.splitlines()]
    levels = _find_levels(lines)
    findings = tuple(dict.fromkeys(SecrecyFinding(lv, where) for lv in levels))
    squashed = re.sub(r"[\s\-]+", "", text)
    return Marks(findings, _RECALL in squashed, _INTERNAL in squashed)


# --- declared values -----------------------------------------------------------------------------------


def fold(value: str) -> str:
    """Accent- and case-insensitive ASCII-ish form: 'Tối-Mật' -> 'toi mat'."""
    value = unicodedata.normalize("NFD", normalise(value))
    value = "".join(c for c in value if not unicodedata.combining(c))
    value = value.replace("đ", "d").replace("Đ", "D").casefold()
    value = re.sub(r"[\"'`«»\[\]{}()<>【】]", " ", value)
    return re.sub(r"[\s_\-.]+", " ", value).strip()


def _declared_parts(value: str) -> list[str]:
    parts = re.split(r"[,;|/+\n]|\s[-–—]\s", value)
    return [p.rsplit(":", 1)[-1] for p in parts]


def parse_level(value: str | None) -> SecrecyLevel | None:
    """The highest level a declared value names ('Tối mật', 'TUYET_MAT', 'secret', 'Độ mật: Mật'), or None."""
    if not value:
        return None
    return highest(
        lv for lv in (_DECLARED.get(fold(p)) for p in _declared_parts(value)) if lv is not None
    )


def scan_declared(value: str | None, where: str = "declared") -> Marks:
    """A value the sender declared (header, HTTP field, sidecar, keyword). Whole values, any case, ASCII ok."""
    if not value or not value.strip():
        return Marks()
    parts = {fold(p) for p in _declared_parts(value)}
    levels = [_DECLARED[p] for p in parts if p in _DECLARED]
    text = scan_text(value, where)  # upper-case Vietnamese inside a longer value still counts
    own = Marks(
        tuple(SecrecyFinding(lv, where) for lv in sorted(set(levels), key=_RANK.__getitem__)),
        bool(parts & _DECLARED_RECALL),
        bool(parts & _DECLARED_INTERNAL),
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


# Metadata keys whose values are lists of keywords or a classification, compared as declared values.
_KEYWORD_KEYS = re.compile(r"keyword|dc:subject|classif|security|secrecy|do[ _-]?mat", re.IGNORECASE)


def scan_metadata(fields: Mapping[str, str | Iterable[str] | None], prefix: str) -> Marks:
    """Document metadata: {'Title': ..., 'Keywords': ...} from Info, or XMP property -> value(s).

    Titles and descriptions use the text rule; keyword lists and classification-like properties are compared
    item by item as declared values. `where` of each finding is f'{prefix}:{key}'.
    """
    marks = Marks()
    for key, raw in fields.items():
        if raw is None:
            continue
        values = [raw] if isinstance(raw, str) else [str(v) for v in raw]
        where = f"{prefix}:{key.lstrip('/')}"
        for value in values:
            marks = marks | scan_text(value, where)
            if _KEYWORD_KEYS.search(key):
                for item in re.split(r"[,;\n]", value):
                    marks = marks | scan_declared(item, where)
    return marks


def scan_reading(reading) -> Marks:
    """Every mark a reader's `Reading` shows: its lines, one text per place (`where`, e.g. "page1"), by the
    text rule; its metadata (key, value) pairs by the metadata rule."""
    by_place: dict[str, list[str]] = {}
    for line in reading.lines:
        by_place.setdefault(line.where, []).append(line.text)
    marks = Marks()
    for where, texts in by_place.items():
        marks = marks | scan_text("\n".join(texts), f"text:{where}")
    fields: dict[str, list[str]] = {}
    for key, value in reading.metadata:
        fields.setdefault(key, []).append(value)
    for key, values in fields.items():
        prefix, _, name = key.partition(":")
        marks = marks | scan_metadata({name or prefix: values}, prefix if name else "meta")
    return marks
