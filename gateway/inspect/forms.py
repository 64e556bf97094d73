"""The Decree 30 form of a document, read from its text: what kind of document it is (issue 14).

Nghị định 30/2020/NĐ-CP Điều 8 and Phụ lục I lay out every administrative document the same way:
  box 1-2  issuing body (upper case, top left)            box 3  "Số: 12/QĐ-UBND" (number and symbol)
  box 2    national motto (top right)                     box 4  "Hà Nội, ngày 15 tháng 01 năm 2025"
  box 5a   type name ("QUYẾT ĐỊNH", Điều 7) and title     box 5b "V/v ..." (công văn: no type name)
  box 7    signature block: authority ("TM.", "KT.", "Q.", "TL.", "TUQ."), title, (signature), name
  box 9a   "Nơi nhận:"
An appendix starts with "PHỤ LỤC" and "(Kèm theo <type> số <number> ...)" (Phụ lục I, IV). A copy carries
the copy form "SAO Y" / "SAO LỤC" / "TRÍCH SAO" with the copy's own number ("Số: 05/SY-VP", Phụ lục I, V).

`recognise(lines)` finds those parts in the readers' `Line`s (text of a text layer, or OCR of a scan) and
infers the kind:
- COPY when a copy form stands on its own line, upper case, with the copy's number or its own signature block
  (a copy reproduces the original, so this is checked first);
- ATTACHMENT when page 1 starts with a "PHỤ LỤC" heading (before any type name), best with "kèm theo ... số";
- ISSUED when the header (number and symbol, plus a type: type name, "V/v" line or the type in the symbol)
  and the closing (signature block or "Nơi nhận") are both there; or, without a number (a draft, an OCR
  miss), when the type name, the motto, the signature block and "Nơi nhận" all are;
- CORRESPONDENCE otherwise (no recognisable form).
Every part found is kept with where it stood (`FormFacts.fields`): the evidence for the decision record.

Matching folds accents (OCR loses and swaps them) but keeps case: the headings of the form are upper case,
the body's "quyết định" is not. Positions are used when the reader gives them (order by page, top, left;
the signature block's box anchors the seal); plain line order otherwise.
Pure module: no I/O, no third-party import.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Sequence

from gateway.inspect.reading import Line
from gateway.model import DocKind, FormFacts, FormField

# Điều 7 (types of administrative documents) with their abbreviations (Phụ lục III), plus công văn.
TYPES: tuple[tuple[str, str | None], ...] = (
    ("NGHỊ QUYẾT", "NQ"), ("QUYẾT ĐỊNH", "QĐ"), ("CHỈ THỊ", "CT"), ("QUY CHẾ", "QC"), ("QUY ĐỊNH", "QYĐ"),
    ("THÔNG CÁO", "TC"), ("THÔNG BÁO", "TB"), ("HƯỚNG DẪN", "HD"), ("CHƯƠNG TRÌNH", "CTR"), ("KẾ HOẠCH", "KH"),
    ("PHƯƠNG ÁN", "PA"), ("ĐỀ ÁN", "ĐA"), ("DỰ ÁN", "DA"), ("BÁO CÁO", "BC"), ("BIÊN BẢN", "BB"),
    ("TỜ TRÌNH", "TTR"), ("HỢP ĐỒNG", "HĐ"), ("CÔNG ĐIỆN", "CĐ"), ("BẢN GHI NHỚ", "BGN"),
    ("BẢN THỎA THUẬN", "BTT"), ("BẢN THOẢ THUẬN", "BTT"), ("GIẤY ỦY QUYỀN", "GUQ"), ("GIẤY UỶ QUYỀN", "GUQ"),
    ("GIẤY MỜI", "GM"), ("GIẤY GIỚI THIỆU", "GGT"), ("GIẤY NGHỈ PHÉP", "GNP"), ("PHIẾU GỬI", "PG"),
    ("PHIẾU CHUYỂN", "PC"), ("PHIẾU BÁO", "PB"), ("THƯ CÔNG", None),
)
CONG_VAN = "CÔNG VĂN"
# Folded, blanks removed (OCR runs "SAO Y" together as "SAOY").
COPY_FORMS = {"SAOY": "SAO Y", "SAOYBANCHINH": "SAO Y", "SAOLUC": "SAO LỤC", "TRICHSAO": "TRÍCH SAO"}
COPY_SYMBOLS = {"SY": "SAO Y", "SL": "SAO LỤC", "TS": "TRÍCH SAO"}
AUTHORITIES = ("TM", "KT", "Q", "TL", "TUQ")
# Titles of a competent person (box 7b) without an authority prefix, folded.
_TITLE_WORDS = (
    "CHU TICH", "GIAM DOC", "TONG GIAM DOC", "BO TRUONG", "THU TRUONG", "CUC TRUONG", "VU TRUONG", "HIEU TRUONG",
    "CHANH VAN PHONG", "CHANH THANH TRA", "TRUONG PHONG", "TRUONG BAN", "TRUONG KHOA", "VIEN TRUONG",
    "BI THU", "CHANH AN", "VIEN TRUONG", "TRUONG DOAN", "TONG CUC TRUONG", "CHI CUC TRUONG", "THU TUONG",
    "KE TOAN TRUONG", "TRUONG TRAM", "CHU NHIEM", "GIAM DOC SO",
)


# --- folding: one character in, one character out (indices stay valid for the original text) ----------------


def _fold_char(c: str) -> str:
    if c in "đĐ":
        return "d" if c == "đ" else "D"
    base = unicodedata.normalize("NFD", c)[0]
    return base if base.isascii() or not base.isalpha() else c


class _FoldTable(dict):
    """str.translate's table for `fold`: each character's fold, worked out the first time it is met (a
    document of 100,000 lines was 4 s of folding one character at a time)."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = _fold_char(chr(code))
        return folded


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """Accents removed, đ -> d, case kept, same length as the NFC text."""
    return text.translate(_FOLD)


# What OCR and odd fonts put for the ASCII punctuation of a number and symbol ("345⁄UBND-VP", "Số：").
_LOOKALIKE = str.maketrans({"\u2044": "/", "\u2215": "/", "\uff0f": "/", "\uff1a": ":", "\u00a0": " ", "\u2212": "-"})


def _nfc(text: str) -> str:
    text = unicodedata.normalize("NFC", text.translate(_LOOKALIKE))
    return re.sub(r"[\u2010-\u2015]", "-", text)


def _upper_fold(text: str) -> str:
    return re.sub(r"\s+", " ", fold(_nfc(text)).upper()).strip()


_TYPE_KEYS = sorted(((_upper_fold(name), name, abbr) for name, abbr in TYPES), key=lambda t: -len(t[0]))
_ABBR = {_upper_fold(abbr): name for name, abbr in TYPES if abbr}

# "Số: 12/QĐ-UBND", "So: /QD-UBND" (a draft), OCR's "Sô:" / "S6:" / "Só;" — on the folded text.
_NUMBER = re.compile(r"(?<![A-Za-z])S[o0O6]\s*[:;：.]\s*([0-9]{0,6}\s*/\s*[0-9A-Za-z][0-9A-Za-z\-.&/]*[0-9A-Za-z])")
_PLACE_DATE = re.compile(r"ngay\s*\S{0,4}\s*thang\s*\S{0,4}\s*nam\s*(?:[0-9]{4}|\.{2,}|…)", re.IGNORECASE)
_MOTTO = re.compile(r"CONG\s*HOA\s*XA\s*HOI\s*CHU\s*NGHIA\s*VIET\s*NAM|DOC\s*LAP\s*-?\s*TU\s*DO\s*-?\s*HANH\s*PHUC")
_RECIPIENTS = re.compile(r"(?<![A-Za-z])N[oơ]i\s*nh[aậ]n\s*[:;]?", re.IGNORECASE)
_VV = re.compile(r"^\s*V\s*/\s*[vV]\b")
_AUTHORITY = re.compile(r"(?<![A-Za-z])(TM|KT|Q|TL|TUQ)\s*\.\s*([A-Z][A-Z .,\-]{2,})")
_APPENDIX = re.compile(r"^\s*PHU\s*LUC\b")
_ATTACHED = re.compile(r"kem\s*theo", re.IGNORECASE)
_PARENT = re.compile(r"(?:^|\s)so\s*[:.]?\s*([0-9]{1,6}\s*/\s*[0-9A-Za-z][0-9A-Za-z\-.&/]*[0-9A-Za-z])", re.IGNORECASE)
_ISSUER_WORDS = re.compile(
    r"^(UY BAN|UBND|HOI DONG|SO |BO |BAN |CUC |TONG CUC|CHI CUC|VAN PHONG|PHONG |TRUONG |BENH VIEN|TRUNG TAM|"
    r"VIEN |DAI HOC|HOC VIEN|CONG TY|TAP DOAN|THANH TRA|KHO BAC|CONG AN|TOA AN|VIEN KIEM SAT|DANG UY|TINH UY|"
    r"HUYEN UY|THANH UY|MAT TRAN|DOAN |HOI |CHINH PHU|THU TUONG|QUOC HOI|KIEM TOAN|NGAN HANG)"
)


@dataclass(frozen=True)
class _L:
    """A line prepared for matching: original text (NFC), folded text, and its place."""

    text: str
    folded: str
    line: Line
    index: int

    # worked out once per line: recognise() asks each line several times
    @cached_property
    def upper(self) -> bool:
        letters = sum(map(str.isalpha, self.text))
        return bool(letters) and sum(map(str.isupper, filter(str.isalpha, self.text))) >= 0.8 * letters

    @cached_property
    def key(self) -> str:
        """`_upper_fold` of the text (already NFC, as `_ordered` makes it: folded once)."""
        return re.sub(r"\s+", " ", self.folded.upper()).strip()


def _field(name: str, value: str, ln: _L) -> FormField:
    return FormField(name, value.strip(), ln.line.where, ln.line.page, ln.line.box)


def _ordered(lines: Sequence[Line]) -> list[_L]:
    """Lines in reading order: by page, then top, then left when every line of a page has a box."""
    prepared = [(i, l) for i, l in enumerate(lines) if l.text and l.text.strip()]
    by_page: dict[int, list[tuple[int, Line]]] = {}
    for i, l in prepared:
        by_page.setdefault(l.page if l.page is not None else 0, []).append((i, l))
    out: list[_L] = []
    for page in sorted(by_page):
        items = by_page[page]
        if all(l.box is not None for _, l in items):
            items = sorted(items, key=lambda t: (round(t[1].box[1] / 4), t[1].box[0], t[0]))  # type: ignore[index]
        for i, l in items:
            # Columns a text layer ran together ("Nơi nhận:        KT. CHỦ TỊCH") are read as separate lines.
            for part in _COLUMNS.split(_nfc(l.text)):
                text = part.strip()
                if text:
                    out.append(_L(text, fold(text), l, len(out)))
    return out


_COLUMNS = re.compile(r"\s{4,}|\t+")


def _type_title(ln: _L) -> str | None:
    """The type name when this line is the type heading (upper case, the name alone or before the title)."""
    if not ln.upper and not ln.folded[:14].isupper():
        return None
    key = ln.key
    for folded, name, _abbr in _TYPE_KEYS:
        if key == folded:
            return name
        if key.startswith(folded + " ") and _upper_word_run(ln.text) == len(folded.split()):
            return name  # "BÁO CÁO Tình hình ..." — the type in capitals, the title after it
    return None


def _upper_word_run(text: str) -> int:
    n = 0
    for word in text.split():
        if word.isupper():
            n += 1
        else:
            break
    return n


def _type_from_symbol(number: str) -> str | None:
    """The type named by the symbol's first part (12/QĐ-UBND -> QUYẾT ĐỊNH); None for a công văn's symbol."""
    symbol = number.split("/", 1)[1] if "/" in number else ""
    first = _upper_fold(symbol.split("-", 1)[0])
    return _ABBR.get(first)


def _clean_number(raw: str) -> str:
    return re.sub(r"\s+", "", raw).strip(".-/")


def _number_in(ln: _L) -> str | None:
    m = _NUMBER.search(ln.folded)
    if not m:
        return None
    return _clean_number(ln.text[m.start(1) : m.end(1)])


def _signature_block(lines: list[_L], start: int) -> tuple[FormField, str | None, str | None, str | None] | None:
    """The signature block at or after `start`: authority, title, name (the name within six lines)."""
    for pos in range(start, len(lines)):
        ln = lines[pos]
        authority = title = None
        m = _AUTHORITY.search(ln.folded)
        if m and ln.text[m.start(2) : m.end(2)].strip().isupper():
            authority = m.group(1) + "."
            title = ln.text[m.start(2) :].strip()
        else:
            key = ln.key
            stripped = re.sub(r"^(PHO |Q\. )", "", key)
            if ln.upper and any(stripped == t or stripped.startswith(t + " ") for t in _TITLE_WORDS) and len(key) < 60:
                title = ln.text.strip()
        if title is None:
            continue
        # The person's title may follow the authority line ("KT. CHỦ TỊCH" / "PHÓ CHỦ TỊCH"); the name comes
        # after the (image of the) signature, within a few lines.
        name = None
        last = ln
        for nxt in lines[pos + 1 : pos + 7]:
            if nxt.line.page != ln.line.page:
                break
            candidate = _name_part(nxt.text)
            if candidate:
                name = candidate
                last = nxt
                break
            if authority and nxt.upper and len(nxt.text) < 60 and not _NUMBER.search(nxt.folded) and last is ln:
                title = f"{title} / {nxt.text.strip()}"  # "KT. CHỦ TỊCH" then the signer's own "PHÓ CHỦ TỊCH"
                last = nxt
        if name is None and authority is None:
            continue  # a bare title without a name is a heading, not a signature block
        box = _union(ln.line.box, last.line.box) if ln.line.page == last.line.page else ln.line.box
        where = FormField("signature", f"{authority or ''} {title}".strip(), ln.line.where, ln.line.page, box)
        return where, authority, title, name
    return None


def _is_name(text: str) -> bool:
    """'Nguyễn Văn An', 'Đặng Thị Ánh Tuyết': 2-6 words, each a capital followed by small letters."""
    words = text.split()
    return 2 <= len(words) <= 6 and len(text) <= 40 and all(
        w[0].isupper() and w[0].isalpha() and (len(w) == 1 or (w[1:].isalpha() and w[1:].islower())) for w in words
    )


def _name_part(text: str) -> str | None:
    """A person's name in a line: the whole line, or its right-hand column ("- Lưu: VT.      Nguyễn Văn A")."""
    text = text.strip()
    for candidate in (text, re.split(r"\s{3,}", text)[-1]):
        candidate = candidate.strip()
        if _is_name(candidate):
            return candidate
    return None


def _union(a, b):
    if a is None or b is None:
        return a or b
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def recognise(lines: Iterable[Line]) -> FormFacts:
    """The Decree 30 form found in `lines` and the kind it implies (see the module docstring)."""
    ls = _ordered(list(lines))
    fields: list[FormField] = []
    first_page = ls[0].line.page if ls else None

    def on_first_page(ln: _L) -> bool:
        return ln.line.page == first_page

    # --- header parts (page 1) ------------------------------------------------------------------------
    type_ln = next((ln for ln in ls if on_first_page(ln) and _type_title(ln)), None)
    appendix_ln = next((ln for ln in ls if on_first_page(ln) and ln.upper and _APPENDIX.match(ln.folded)), None)
    head_end = type_ln.index if type_ln else min(len(ls), 14)
    numbers = [(ln, n) for ln in ls if (n := _number_in(ln))]
    copy_ln = next((ln for ln in ls if ln.upper and _copy_key(ln) in COPY_FORMS), None)
    motto = next((ln for ln in ls[: head_end + 4] if _MOTTO.search(ln.key)), None)
    place_date = next((ln for ln in ls if _PLACE_DATE.search(ln.folded)), None)
    vv = next((ln for ln in ls[: head_end + 6] if on_first_page(ln) and _VV.match(ln.folded)), None)
    recipients = next((ln for ln in ls if _RECIPIENTS.search(ln.folded)), None)
    issuer = next(
        (ln for ln in ls[: max(head_end, 3)] if on_first_page(ln) and ln.upper and _ISSUER_WORDS.match(ln.key)
         and not _MOTTO.search(ln.key)),
        None,
    )

    # the document's own number: the first in the header that is not a copy's
    own = [(ln, n) for ln, n in numbers if _type_from_symbol_copy(n) is None]
    number_ln, number = next(((ln, n) for ln, n in own if on_first_page(ln) and ln.index <= head_end + 6), (None, None))
    doc_type = _type_title(type_ln) if type_ln else None
    if doc_type is None and number:
        doc_type = _type_from_symbol(number)
    if doc_type is None and vv is not None:
        doc_type = CONG_VAN

    if issuer:
        fields.append(_field("issuer", issuer.text, issuer))
    if motto:
        fields.append(_field("motto", "", motto))
    if number_ln:
        fields.append(_field("number", number or "", number_ln))
    if place_date:
        fields.append(_field("place_date", "", place_date))
    if type_ln:
        fields.append(_field("type", doc_type or "", type_ln))
        nxt = ls[type_ln.index + 1] if type_ln.index + 1 < len(ls) else None
        if nxt is not None and not nxt.upper:
            fields.append(_field("title", "", nxt))
    elif vv:
        fields.append(_field("type", CONG_VAN, vv))
        fields.append(_field("title", "", vv))
    if recipients:
        fields.append(_field("recipients", "", recipients))
    body_start = (type_ln.index if type_ln else (vv.index if vv else head_end)) + 1
    sig = _signature_block(ls, body_start)
    signature = authority = title = name = None
    if sig:
        signature, authority, title, name = sig
        fields.append(signature)

    def facts(kind: DocKind, basis: str, **kw) -> FormFacts:
        values = dict(
            kind=kind, basis=basis, doc_type=doc_type, number=number, signer_authority=authority,
            signer_title=title, signer_name=name, signature_block=signature,
            scanned=any(f.where.startswith("ocr") for f in fields), fields=tuple(fields),
        )
        values.update(kw)
        return FormFacts(**values)

    # --- copy: the copy form on its own line, with the copy's number or its own signature block --------------
    if copy_ln is not None:
        form = COPY_FORMS[_copy_key(copy_ln)]
        copy_number = next((n for _ln, n in numbers if _type_from_symbol_copy(n)), None)
        if copy_number is None:  # "Số: 05/VP" right around the copy form line
            copy_number = next((n for ln, n in numbers if abs(ln.index - copy_ln.index) <= 3 and ln is not number_ln), None)
        copy_sig = _signature_block(ls, copy_ln.index + 1)
        if copy_number or copy_sig:
            fields.append(_field("copy_form", form, copy_ln))
            if copy_number:
                cn_ln = next(ln for ln, n in numbers if n == copy_number)
                fields.append(_field("copy_number", copy_number, cn_ln))
            return facts(DocKind.COPY, "copy-form", copy_form=form, copy_number=copy_number)

    # --- appendix: page 1 opens with PHỤ LỤC (before any type name) ---------------------------------------
    if appendix_ln is not None and (type_ln is None or appendix_ln.index < type_ln.index) and appendix_ln.index < 12:
        fields.append(_field("appendix", "PHỤ LỤC", appendix_ln))
        parent = parent_type = None
        for ln in ls[appendix_ln.index : appendix_ln.index + 8]:
            if not _ATTACHED.search(ln.folded):
                continue
            # the reference may run onto the next line: "(Kèm theo Quyết định số" / "12/QĐ-UBND ngày ...)"
            joined = ln.text + " " + (ls[ln.index + 1].text if ln.index + 1 < len(ls) else "")
            m = _PARENT.search(fold(joined))
            if m:
                parent = _clean_number(joined[m.start(1) : m.end(1)])
                parent_type = _type_from_symbol(parent) or _named_type(joined[: m.start(1)])
                fields.append(_field("attached_to", parent, ln))
            break
        return facts(DocKind.ATTACHMENT, "appendix-heading", parent_number=parent, parent_type=parent_type,
                     number=None)

    # --- issued: header and closing --------------------------------------------------------------------
    header = number is not None and doc_type is not None
    closing = signature is not None or recipients is not None
    if header and closing:
        return facts(DocKind.ISSUED, "issued-form")
    if type_ln is not None and motto and signature and recipients:
        return facts(DocKind.ISSUED, "issued-form-no-number")
    return facts(DocKind.CORRESPONDENCE, "no-form")


def _copy_key(ln: _L) -> str:
    return re.sub(r"[\s.:]", "", ln.key)


def _type_from_symbol_copy(number: str) -> str | None:
    symbol = number.split("/", 1)[1] if "/" in number else ""
    return COPY_SYMBOLS.get(_upper_fold(symbol.split("-", 1)[0]))


def _named_type(text: str) -> str | None:
    key = _upper_fold(text)
    for folded, name, _abbr in _TYPE_KEYS:
        if folded in key:
            return name
    return None


def evidence(form: FormFacts | None) -> dict | None:
    """What the decision log keeps of the form: the kind, why, and each part's name and place.

    Values are kept only for parts that are metadata (number and symbol, type, copy form); titles,
    recipients and names are content and stay out of the log."""
    if form is None:
        return None
    keep_value = {"number", "type", "copy_form", "copy_number", "attached_to"}
    return {
        "kind": str(form.kind),
        "basis": form.basis,
        "scanned": form.scanned,
        "fields": [
            {"name": f.name, "where": f.where, "page": f.page, "box": [round(v, 1) for v in f.box] if f.box else None,
             **({"value": f.value} if f.name in keep_value else {})}
            for f in form.fields
        ],
    }
