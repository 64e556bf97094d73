"""What a sender declares about a document, parsed once for every door (issue 14).

Every door reads the same names and values, each in its own syntax:

| value            | mail header (message or part) | sidecar key      | HTTP field / header          | CLI flag         |
|------------------|-------------------------------|------------------|------------------------------|------------------|
| kind             | X-Kyso-Kind                   | kind             | kind / X-Kyso-Kind           | --kind           |
| copy form        | X-Kyso-Copy-Form              | copy_form        | copy_form / X-Kyso-Copy-Form | --copy-form      |
| number, symbol   | X-Kyso-Number                 | number           | number / X-Kyso-Number       | --number         |
| copying agency   | X-Kyso-Copying-Agency         | copying_agency   | copying_agency / X-Kyso-...  | --copying-agency |
| classification   | X-Classification              | classification   | classification / X-Kyso-...  | (none)           |
| title            | (Subject is not a title)      | title            | title / X-Kyso-Title         | (none)           |

Kinds: `issued` (văn bản phát hành), `attachment` (phụ lục), `copy` (bản sao), `correspondence`; Vietnamese
words are accepted too ("phát hành", "phụ lục", "bản sao", "văn bản thường"). The copy forms SAO Y, SAO LỤC,
TRÍCH SAO can be given as the copy form, or directly as the kind ("sao y" = kind copy, copy form SAO Y);
case, accents, "-" and "_" do not matter ("sao-luc", "TRICH_SAO"). A copy form with another kind is a
contradiction and refused, as is an unknown value: what the sender declared is never dropped silently.

A declared kind is a claim, not the decision: gateway.kinds weighs it against the document's own form (a
declaration wins only when it is not less strict). `report` is the gateway's own kind and cannot be declared.
Pure module: no I/O, no third-party import.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable, Mapping

from gateway.model import Declared, DocKind

MAX_CHARS = 500
HEADER_PREFIX = "X-Kyso-"
# The declared values and the name each has in a header ("X-Kyso-" + this) and elsewhere (the key).
KEYS = ("kind", "copy_form", "number", "copying_agency", "classification", "title", "client_reference")
COPY_FORMS = ("SAO Y", "SAO LỤC", "TRÍCH SAO")

_KIND_WORDS: dict[str, tuple[DocKind, str | None]] = {
    "issued": (DocKind.ISSUED, None), "phat hanh": (DocKind.ISSUED, None), "van ban phat hanh": (DocKind.ISSUED, None),
    "attachment": (DocKind.ATTACHMENT, None), "appendix": (DocKind.ATTACHMENT, None), "phu luc": (DocKind.ATTACHMENT, None),
    "copy": (DocKind.COPY, None), "ban sao": (DocKind.COPY, None),
    "sao y": (DocKind.COPY, "SAO Y"), "sao luc": (DocKind.COPY, "SAO LỤC"), "trich sao": (DocKind.COPY, "TRÍCH SAO"),
    "correspondence": (DocKind.CORRESPONDENCE, None), "van ban thuong": (DocKind.CORRESPONDENCE, None),
    "thu": (DocKind.CORRESPONDENCE, None),
}
_COPY_WORDS = {"sao y": "SAO Y", "sao y ban chinh": "SAO Y", "sao luc": "SAO LỤC", "trich sao": "TRÍCH SAO"}
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

KIND_CHOICES = ("issued", "attachment", "copy", "correspondence", "sao-y", "sao-luc", "trich-sao")


class DeclarationError(ValueError):
    """A declared value that cannot be understood. `field`, `value` and `allowed` say which and why."""

    code = "KIND_DECLARATION_INVALID"

    def __init__(self, field: str, value: str, allowed: str) -> None:
        super().__init__(f"{field}: {value!r} (allowed: {allowed})")
        self.field, self.value, self.allowed = field, value, allowed

    @property
    def params(self) -> dict[str, str]:
        return {"field": self.field, "value": self.value[:60], "allowed": self.allowed}


def _key(value: str) -> str:
    text = unicodedata.normalize("NFD", value.strip().lower().replace("đ", "d"))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return re.sub(r"[\s_\-]+", " ", text).strip()


def parse_kind(value: str | None) -> tuple[DocKind | None, str | None]:
    """(kind, copy form implied) of a declared kind; (None, None) for an empty value."""
    if value is None or not value.strip():
        return None, None
    found = _KIND_WORDS.get(_key(value))
    if found is None:
        raise DeclarationError("kind", value, ", ".join(KIND_CHOICES))
    return found


def parse_copy_form(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    form = _COPY_WORDS.get(_key(value))
    if form is None:
        raise DeclarationError("copy_form", value, ", ".join(COPY_FORMS))
    return form


def parse(fields: Mapping[str, str | None]) -> Declared:
    """A `Declared` from values by name (KEYS); unknown names are the door's business, not looked at here."""
    for name in KEYS:
        value = fields.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise DeclarationError(name, repr(value), "text")
        if _CONTROL.search(value):
            raise DeclarationError(name, value.encode("unicode_escape").decode("ascii"), "text without control characters")
        if len(value) > MAX_CHARS:
            raise DeclarationError(name, value[:40] + "…", f"at most {MAX_CHARS} characters")
    kind, implied = parse_kind(fields.get("kind"))
    form = parse_copy_form(fields.get("copy_form"))
    if form and implied and form != implied:
        raise DeclarationError("copy_form", form, f"{implied} (as the kind says)")
    form = form or implied
    if form and kind is None:
        kind = DocKind.COPY
    if form and kind is not DocKind.COPY:
        raise DeclarationError("copy_form", form, "only with kind copy")

    def text(name: str) -> str | None:
        v = fields.get(name)
        return unicodedata.normalize("NFC", v.strip()) or None if isinstance(v, str) else None

    return Declared(
        number=text("number"), kind=kind, classification=text("classification"), title=text("title"),
        copy_form=form, copying_agency=text("copying_agency"), client_reference=text("client_reference"),
    )


def header_name(key: str) -> str:
    """'copy_form' -> 'X-Kyso-Copy-Form' (the classification keeps its established mail name)."""
    if key == "classification":
        return "X-Classification"
    return HEADER_PREFIX + "-".join(p.capitalize() for p in key.split("_"))


MAIL_KEYS = ("kind", "copy_form", "number", "copying_agency", "classification")


def from_headers(get: Callable[[str], str | None], keys: tuple[str, ...] = MAIL_KEYS) -> dict[str, str]:
    """The declared values found in headers (`get(name)` returns a decoded header or None)."""
    out: dict[str, str] = {}
    for key in keys:
        value = get(header_name(key))
        if value is not None and value.strip():
            out[key] = value.strip()
    return out


def for_mail_part(message_get: Callable[[str], str | None], part_get: Callable[[str], str | None] | None) -> Declared:
    """What a mail declares for one attached document: the part's own X-Kyso-* headers, else the message's.

    A part's header overrides the same header of the message (a DMS can declare each attachment); a copy form
    on the message does not leak onto a part that declares another kind. Raises DeclarationError."""
    message = from_headers(message_get)
    part = from_headers(part_get) if part_get is not None else {}
    merged = dict(message)
    if "kind" in part and "copy_form" not in part:
        merged.pop("copy_form", None)
    merged.update(part)
    return parse(merged)


def overlay(base: Declared, fields: Mapping[str, str]) -> Declared:
    """`base` (a container's declaration) with a member's own values over it; a member declaring its kind
    without a copy form does not inherit the container's copy form. Raises DeclarationError."""
    own = parse(fields)
    from dataclasses import fields as dc_fields, replace

    changes = {f.name: getattr(own, f.name) for f in dc_fields(Declared) if getattr(own, f.name) is not None}
    if own.kind is not None and own.copy_form is None:
        changes["copy_form"] = None
    return replace(base, **changes)
