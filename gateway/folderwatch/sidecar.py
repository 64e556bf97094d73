"""The optional metadata sidecar `NAME.meta.json`: what the document-management system says about a file.

Strict on purpose: an unknown key (a misspelt "classification") or a wrong type rejects the file with
BAD_METADATA rather than silently dropping what the sender declared.
"""

from __future__ import annotations

import json
from pathlib import Path

from gateway import declare
from gateway.model import Declared, DocKind

MAX_BYTES = 64 * 1024
# The keys a sidecar may carry: the declared values every door shares (gateway.declare.KEYS).
TEXT_KEYS = tuple(k for k in declare.KEYS if k != "kind")


class BadSidecar(ValueError):
    """The sidecar cannot be read as the expected JSON object; the message says what (no content)."""


def read_sidecar(path: Path) -> Declared:
    if path.stat().st_size > MAX_BYTES:
        raise BadSidecar(f"{path.name}: larger than {MAX_BYTES} bytes")
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadSidecar(f"{path.name}: not UTF-8 JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise BadSidecar(f"{path.name}: must be a JSON object")
    unknown = sorted(set(data) - set(declare.KEYS))
    if unknown:
        raise BadSidecar(f"{path.name}: unknown keys {', '.join(unknown)}")
    fields: dict[str, str] = {}
    for key, value in data.items():
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > 1000:
            raise BadSidecar(f"{path.name}: '{key}' must be text")
        fields[key] = value
    try:
        return declare.parse(fields)
    except declare.DeclarationError as exc:
        raise BadSidecar(f"{path.name}: '{exc.field}' must be one of {exc.allowed}") from None


def document_kind(watch_kind: DocKind | None, declared: Declared) -> DocKind:
    """The watch's configured kind wins; a "sidecar" watch takes the sidecar's, else correspondence.

    Either is a declaration: the pipeline weighs it against the document's form (gateway.kinds), so a
    "correspondence" folder cannot carry an unsigned Quyết định past Điều 32.2.d."""
    if watch_kind is not None:
        return watch_kind
    return declared.kind or DocKind.CORRESPONDENCE
