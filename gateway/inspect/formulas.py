"""Spreadsheet formulas whose text a spreadsheet program shows and the file does not hold.

A cell keeps the value its formula gave when the file was saved, and the office reader reads it. But the
program recomputes formulas when it opens some files (a workbook that asks for it, a value missing, a file
from another program), and then shows what the formula gives: `=UNICHAR(84)&UNICHAR(7888)&"I M"&UNICHAR(7852)&"T"`
shows "TỐI MẬT" whatever value is stored beside it. So a formula made of constants is worked out here
(`constant_text`): text, numbers, `&`, and the text functions an attacker would spell a mark with. A formula
that builds text from character codes it does not give as constants (`=UNICHAR(A1)`) cannot be worked out
without the whole sheet: the document is not read completely (`spells_codes`).

Any other formula that may give text of its own (`may_show_text`: a text literal, `&`, a function that is not
a number's, a truth's or a cell's own value passed through, a name) and is not made of constants only is
worked out by the whole spreadsheet program: office.py has LibreOffice recalculate the workbook and reads what
it gives (`needs_recalculation`). A stored value may lie (Excel shows `=IF(B1>0,"TỐI MẬT","")` as "TỐI MẬT"
whatever value the file keeps beside it, when the file asks for a recalculation), and ranges, other sheets,
chains of formulas and the many text functions are not worth a second spreadsheet program here.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"]|"")*")|(?P<fn>[A-Za-z_][A-Za-z0-9_.]*)\s*\(|'
                    r'(?P<ref>\$?[A-Za-z]{1,3}\$?\d{1,7})(?![\w.:!(])|(?P<num>\d+(?:\.\d+)?)|'
                    r'(?P<op>[&(),])|(?P<other>\S))')
_CODES = re.compile(r"(?i)\b(?:_xlfn\.)?(UNI)?CHAR\s*\(\s*([^()]*?)\s*\)|\b(?:_xlfn\.)?(?:UNI)?CHAR\s*\(")
MAX_LENGTH = 10_000  # longest text worked out (REPT could make gigabytes)


class _NotConstant(Exception):
    pass


def constant_text(formula: str, cells: dict | None = None) -> str | None:
    """The text `formula` gives when it is made of constants only, else None. `cells`: {address ("B1"): the
    value that cell shows} of the same sheet, for a formula that refers to single cells."""
    try:
        tokens = [(m.lastgroup, m.group(m.lastgroup)) for m in _TOKEN.finditer(formula.lstrip("="))]
        if any(kind == "other" or kind == "ref" and cells is None for kind, _ in tokens):
            return None
        tokens = [("str", '"' + _text(cells.get(address(text), "")).replace('"', '""') + '"') if kind == "ref"
                  else (kind, text) for kind, text in tokens]
        value, rest = _concat(tokens)
        return None if rest else _text(value)
    except (_NotConstant, ValueError, OverflowError, IndexError):
        return None


def references(formula: str) -> set[str]:
    """The single cells of its own sheet `formula` refers to ("B1", "$C$2" as "C2"); empty when it refers to
    none, or to a range or another sheet (those are not worked out)."""
    tokens = [(m.lastgroup, m.group(m.lastgroup)) for m in _TOKEN.finditer(formula.lstrip("="))]
    if any(kind == "other" for kind, _ in tokens):
        return set()
    return {address(text) for kind, text in tokens if kind == "ref"}


def address(ref: str) -> str:
    return ref.replace("$", "").upper()


def spells_codes(formula: str) -> bool:
    """Does `formula` build text from character codes (CHAR, UNICHAR) that may be letters: a code it does not
    give as a number, or one that is a letter? `CHAR(10)` (a line break inside a cell) is none."""
    for m in _CODES.finditer(formula):
        code = m.group(2)
        if code is None or not code.isdigit():
            return True
        n = int(code)
        if n > 0x10FFFF or chr(n).isalpha() or (not m.group(1) and n >= 128):  # CHAR above 127: the code page's
            return True
    return False


def _concat(tokens):
    value, tokens = _term(tokens)
    while tokens and tokens[0] == ("op", "&"):
        more, tokens = _term(tokens[1:])
        value = _text(value) + _text(more)
        if len(value) > MAX_LENGTH:
            raise _NotConstant
    return value, tokens


def _term(tokens):
    kind, text = tokens[0]
    if kind == "str":
        return text[1:-1].replace('""', '"'), tokens[1:]
    if kind == "num":
        return float(text), tokens[1:]
    if kind == "op" and text == "(":
        value, tokens = _concat(tokens[1:])
        if tokens[:1] != [("op", ")")]:
            raise _NotConstant
        return value, tokens[1:]
    if kind == "fn":
        args, tokens = [], tokens[1:]
        while tokens[:1] != [("op", ")")]:
            value, tokens = _concat(tokens)
            args.append(value)
            if tokens[:1] == [("op", ",")]:
                tokens = tokens[1:]
        return _call(text.upper().removeprefix("_XLFN."), args), tokens[1:]
    raise _NotConstant


def _text(value) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return value


def _int(value) -> int:
    return int(float(value))


def _call(name: str, args: list):
    s = [_text(a) for a in args]
    if name == "UNICHAR" and len(args) == 1:
        return chr(_int(args[0]))
    if name == "CHAR" and len(args) == 1 and _int(args[0]) < 128:  # above: the program's code page decides
        return chr(_int(args[0]))
    if name in ("CONCAT", "CONCATENATE"):
        return "".join(s)
    if name == "TEXTJOIN" and len(args) >= 2:
        return s[0].join(x for x in s[2:] if x or not _int(args[1]))
    if name in ("UPPER", "LOWER", "PROPER", "TRIM", "T") and len(args) == 1:
        return {"UPPER": str.upper, "LOWER": str.lower, "PROPER": str.title,
                "TRIM": lambda x: " ".join(x.split()), "T": lambda x: x}[name](s[0])
    if name == "REPT" and len(args) == 2 and len(s[0]) * _int(args[1]) <= MAX_LENGTH:
        return s[0] * _int(args[1])
    if name == "SUBSTITUTE" and len(args) in (3, 4):
        if len(args) == 3:
            return s[0].replace(s[1], s[2])
        parts = s[0].split(s[1])
        n = _int(args[3])
        return s[1].join(parts[:n]) + (s[2] + s[1].join(parts[n:]) if n < len(parts) else "")
    if name == "REPLACE" and len(args) == 4:
        start, n = _int(args[1]) - 1, _int(args[2])
        return s[0][:start] + s[3] + s[0][start + n:]
    if name == "MID" and len(args) == 3:
        return s[0][_int(args[1]) - 1: _int(args[1]) - 1 + _int(args[2])]
    if name in ("LEFT", "RIGHT") and len(args) in (1, 2):
        n = _int(args[1]) if len(args) == 2 else 1
        return s[0][:n] if name == "LEFT" else (s[0][-n:] if n else "")
    raise _NotConstant


# Functions whose result is a number, a truth value, a date, or the value of a cell they are given or look up
# unchanged (every cell is read where it stands): no text of their own. Anything else may make text.
_NO_TEXT_OF_THEIR_OWN = frozenset("""
    SUM SUMIF SUMIFS SUMPRODUCT SUMSQ AVERAGE AVERAGEA AVERAGEIF AVERAGEIFS COUNT COUNTA COUNTBLANK COUNTIF
    COUNTIFS MIN MINA MAX MAXA MINIFS MAXIFS MEDIAN MODE MODE.SNGL LARGE SMALL RANK RANK.EQ RANK.AVG PERCENTILE
    PERCENTILE.INC PERCENTILE.EXC QUARTILE QUARTILE.INC STDEV STDEV.S STDEV.P STDEVP VAR VAR.S VAR.P PRODUCT POWER
    SQRT ABS SIGN INT TRUNC ROUND ROUNDUP ROUNDDOWN MROUND CEILING CEILING.MATH FLOOR FLOOR.MATH MOD QUOTIENT EXP
    LN LOG LOG10 PI RAND RANDBETWEEN SUBTOTAL AGGREGATE NPV PMT FV PV RATE IRR
    AND OR NOT XOR TRUE FALSE IF IFERROR IFNA ISBLANK ISNUMBER ISTEXT ISNONTEXT ISERROR ISERR ISNA ISLOGICAL
    ISEVEN ISODD ISREF ISFORMULA
    TODAY NOW DATE TIME YEAR MONTH DAY HOUR MINUTE SECOND WEEKDAY WEEKNUM ISOWEEKNUM EDATE EOMONTH NETWORKDAYS
    WORKDAY DAYS DAYS360 YEARFRAC DATEDIF
    VLOOKUP HLOOKUP XLOOKUP LOOKUP INDEX MATCH XMATCH CHOOSE OFFSET INDIRECT ROW ROWS COLUMN COLUMNS TRANSPOSE
    FILTER SORT SORTBY UNIQUE
    LEN FIND SEARCH VALUE N CODE UNICODE EXACT
""".split())
# what is left of a formula once its references and numbers are taken away (A1, $B$2, A:A, 3:3, Sheet2!A1,
# 'Tờ 2'!A1:B9, ODF's [.A1:.B9], [$'Tờ 2'.A1]), and its operators
_REFERENCE = re.compile(r"\[[^\]]*\]|(?:'(?:[^']|'')*'|[\w.]+)!|\$?[A-Za-z]{1,3}\$?\d+|\$?[A-Za-z]{1,3}:\$?[A-Za-z]{1,3}\b|"
                        r"\$?\d+:\$?\d+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[-+*/^%<>=(),;:\s]")
_FUNCTION = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*\(")


def may_show_text(formula: str) -> bool:
    """May `formula` show text no cell of its workbook holds? A text literal, `&`, a function outside those
    that give numbers, truth values or a cell's own value, or anything not known for a reference, number or
    operator (a defined name, a table's column, R1C1 notation): yes."""
    body = re.sub(r"^(?:[A-Za-z]+:)?=", "", formula.strip())  # "=...", ODF's "of:=..."
    if '"' in body or "&" in body:
        return True
    for name in _FUNCTION.findall(body):
        if name.upper().removeprefix("_XLFN.").removeprefix("_XLWS.") not in _NO_TEXT_OF_THEIR_OWN:
            return True
    rest = _REFERENCE.sub(" ", _FUNCTION.sub(" ", body))
    return any(word.upper() not in ("TRUE", "FALSE") for word in rest.split())


def needs_recalculation(formula: str) -> bool:
    """Does what `formula` shows need the whole spreadsheet program: it may show text of its own, and it is
    not made of constants only (`constant_text`)?"""
    return may_show_text(formula) and constant_text(formula) is None
