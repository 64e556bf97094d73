"""Spreadsheet formulas whose text a spreadsheet program shows and the file does not hold.

A cell keeps the value its formula gave when the file was saved, and the office reader reads it. But the
program recomputes formulas when it opens some files (a workbook that asks for it, a value missing, a file
from another program), and then shows what the formula gives: `=UNICHAR(84)&UNICHAR(7888)&"I M"&UNICHAR(7852)&"T"`
shows "TỐI MẬT" whatever value is stored beside it. So a formula made of constants is worked out here
(`constant_text`): text, numbers, `&`, and the text functions an attacker would spell a mark with. A formula
that builds text from character codes it does not give as constants (`=UNICHAR(A1)`) cannot be worked out
without the whole sheet: the document is not read completely (`spells_codes`).
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
