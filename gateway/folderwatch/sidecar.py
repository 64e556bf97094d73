"""The optional metadata sidecar `NAME.meta.json`: what the document-management system says about a file.

Strict on purpose: an unknown key (a misspelt "classification") or a wrong type rejects the file with
BAD_METADATA rather than silently dropping what the sender declared.
"""

from __future__ import annotations

import json
from pathlib import Path

from gateway.model import Declared, DocKind

MAX_BYTES = 64 * 1024
TEXT_KEYS = ("number", "classification", "title", "copy_form", "copying_agency")
SENDER_KINDS = {k.value: k for k in DocKind if k is not DocKind.REPORT}


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
    unknown = sorted(set(data) - set(TEXT_KEYS) - {"kind"})
    if unknown:
        raise BadSidecar(f"{path.name}: unknown keys {', '.join(unknown)}")
    fields: dict[str, object] = {}
    for key in TEXT_KEYS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > 1000:
            raise BadSidecar(f"{path.name}: '{key}' must be text")
        fields[key] = value.strip() or None
    kind = data.get("kind")
    if kind is not None:
        if not isinstance(kind, str) or kind.strip().lower() not in SENDER_KINDS:
            raise BadSidecar(f"{path.name}: 'kind' must be one of {', '.join(SENDER_KINDS)}")
        fields["kind"] = SENDER_KINDS[kind.strip().lower()]
    return Declared(**fields)  # type: ignore[arg-type]


def document_kind(watch_kind: DocKind | None, declared: Declared) -> DocKind:
    """The watch's configured kind wins; a "sidecar" watch takes the sidecar's, else correspondence."""
    if watch_kind is not None:
        return watch_kind
    return declared.kind or DocKind.CORRESPONDENCE
