"""Legacy Vietnamese 8-bit encodings: TCVN3 (ABC, ".Vn..." fonts) and VNI (VNI-... fonts), to Unicode.

Older agency documents are still set in fonts that draw Vietnamese letters at Latin-1 code points: the text a
PDF gives for them is "MËT" or "MAÄT" while a person reads "MẬT". Two ways to know:
- by font name (`font_encoding`): ".VnTime", ".VnArial", "ABCDEF+.VnTimeH" (TCVN3; a name ending in "H" is
  the capitals font: its lower-case codes draw capitals) and "VNI-Times", "VNI-Helve" ... (VNI);
- by the text itself (`alternatives`): text full of the encodings' characteristic code points whose
  conversion reads as Vietnamese syllables is also given converted (used by the marks scan, which reads
  both: more text can only block, never release).

Tables: TCVN3 is TCVN 5712:1993 (VN3; its 0xA1-0xFF half, shared with VN1; characters outside it are kept);
VNI writes a letter as a base letter followed by a mark code (e.g. "A" + "Ä" = "Ậ"), converted here to
combining marks and composed (NFC). Pure module.
"""

from __future__ import annotations

import re
import unicodedata

# TCVN 5712:1993, bytes 0xA1..0xFF (as the Latin-1 characters a PDF gives for them) -> Unicode.
_TCVN3_UPPER_HALF = (
    "ĂÂÊÔƠƯĐăâêôơưđẰ\u0300\u0309\u0303\u0301\u0323àảãáạẲằẳẵắẴẮẦẨẪẤỀặầẩẫấậèỂẻẽéẹềểễếệìỉỄẾỒĩíịòỔỏõóọồổỗốộờởỡớợùỖủũúụừửữứựỳỷỹýỵỐ"
)
TCVN3 = {chr(0xA1 + i): u for i, u in enumerate(_TCVN3_UPPER_HALF)}
assert len(_TCVN3_UPPER_HALF) == 0xFF - 0xA1 + 1

# VNI Windows: mark codes after a base letter (upper-case forms after capitals, lower-case after small ones).
_VNI_MARKS = {
    "ù": "\u0301", "ø": "\u0300", "û": "\u0309", "õ": "\u0303", "ï": "\u0323",
    "â": "\u0302", "á": "\u0302\u0301", "à": "\u0302\u0300", "å": "\u0302\u0309", "ã": "\u0302\u0303",
    "ä": "\u0302\u0323", "ê": "\u0306", "é": "\u0306\u0301", "è": "\u0306\u0300", "ú": "\u0306\u0309",
    "ü": "\u0306\u0303", "ë": "\u0306\u0323",
}
_VNI_MARKS.update({k.upper(): v for k, v in list(_VNI_MARKS.items())})
# VNI letters with a code of their own.
_VNI_LETTERS = {
    "ô": "ơ", "ö": "ư", "ñ": "đ", "í": "í", "ì": "ì", "æ": "ỉ", "ó": "ĩ", "ò": "ị", "î": "ỵ",
    "Ô": "Ơ", "Ö": "Ư", "Ñ": "Đ", "Í": "Í", "Ì": "Ì", "Æ": "Ỉ", "Ó": "Ĩ", "Ò": "Ị", "Î": "Ỵ",
}

_TCVN3_FONT = re.compile(r"^\.?Vn[A-Z0-9]")  # ".VnTime", ".VnArialH", "VnTimeH" (the dot is sometimes lost)
_VNI_FONT = re.compile(r"(?:^|\+)vni[-_ ]", re.IGNORECASE)


def font_encoding(name: str | None) -> str | None:
    """"tcvn3", "tcvn3-caps", "vni" or None, from a PDF font's /BaseFont (subset prefix allowed)."""
    if not name:
        return None
    base = name.split("+", 1)[-1]
    if _TCVN3_FONT.match(base):
        family = re.split(r"[-,]", base, 1)[0]
        return "tcvn3-caps" if family.endswith("H") else "tcvn3"
    if _VNI_FONT.search(base):
        return "vni"
    return None


def tcvn3_char(ch: str, caps: bool = False) -> str:
    out = TCVN3.get(ch, ch)
    return out.upper() if caps else out


def vni_char(ch: str) -> str:
    """One VNI code point: a letter of its own, a mark (as combining marks, to attach to the letter before
    it), or itself."""
    return _VNI_LETTERS.get(ch) or _VNI_MARKS.get(ch) or ch


def is_vni_mark(ch: str) -> bool:
    return ch in _VNI_MARKS


def tcvn3(text: str, caps: bool = False) -> str:
    return unicodedata.normalize("NFC", "".join(tcvn3_char(c, caps) for c in text))


def vni(text: str) -> str:
    out: list[str] = []
    for c in text:
        if c in _VNI_MARKS and out and out[-1][-1:].isalpha():
            out.append(_VNI_MARKS[c])
        else:
            out.append(_VNI_LETTERS.get(c, c))
    return unicodedata.normalize("NFC", "".join(out))


# --- detection by the text ----------------------------------------------------------------------------------

# Latin-1 characters Vietnamese never uses: their presence hints at a legacy encoding (every mark word in
# TCVN3 or VNI has one: "mËt", "MAÄT", "LÖU HAØNH").
_VIETNAMESE_LATIN1 = set("ÀÁÂÃÈÉÊÌÍÒÓÔÕÙÚÝàáâãèéêìíòóôõùúý")
_LEGACY_HINT = re.compile("[" + "".join(c for c in map(chr, range(0xA1, 0x100)) if c not in _VIETNAMESE_LATIN1) + "]")
_VOWELS = "aăâeêioôơuưy"
_SYLLABLE = re.compile(
    r"^(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnpqrstvx])?[" + _VOWELS + r"]{1,3}(?:ng|nh|ch|[cmnpt])?$"
)


def _plausible(word: str) -> bool:
    """A Vietnamese syllable (at most one tone mark), case-insensitive."""
    w = unicodedata.normalize("NFD", word.lower())
    tones = sum(1 for c in w if c in "\u0300\u0301\u0303\u0309\u0323")
    base = unicodedata.normalize("NFC", "".join(c for c in w if c not in "\u0300\u0301\u0303\u0309\u0323"))
    return tones <= 1 and bool(_SYLLABLE.match(base))


def _score(text: str) -> float:
    words = [w for w in re.findall(r"[^\W\d_]+", text) if not w.isascii()]
    if not words:
        return 0.0
    return sum(1 for w in words if _plausible(w)) / len(words)


def alternatives(text: str) -> list[str]:
    """Readings of `text` in the legacy encodings that look more Vietnamese than the text itself."""
    if not _LEGACY_HINT.search(text):
        return []
    own = _score(text)
    out = []
    for conv in (tcvn3(text), tcvn3(text, caps=True), vni(text)):
        if conv != text and _score(conv) > max(own, 0.5):
            out.append(conv)
    return out
