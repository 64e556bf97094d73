"""Helpers the Office hardening tests share: a file's outcome through the pipeline as a mail attachment, a
hostile/honest pair, and a zip package taken apart and put back together."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from gateway.model import Channel, DocKind, Document, Outcome


def outcome(pipeline, tmp_path: Path, name: str, data: bytes) -> Outcome:
    path = tmp_path / name
    path.write_bytes(data)
    res = pipeline.process(Document(channel=Channel.SMTP, name=name, path=path, kind=DocKind.CORRESPONDENCE),
                           out_dir=tmp_path / f"out-{name}")
    return res.outcome


def assert_pair(pipeline, tmp_path, name, hostile: bytes, control: bytes) -> None:
    assert outcome(pipeline, tmp_path, "h-" + name, hostile) is Outcome.BLOCK
    assert outcome(pipeline, tmp_path, "c-" + name, control) is Outcome.SIGN


def parts_of(data: bytes) -> dict[str, bytes]:
    z = zipfile.ZipFile(io.BytesIO(data))
    return {i.filename: z.read(i) for i in z.infolist()}


def zipped(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for n, v in parts.items():
            z.writestr(n, v)
    return out.getvalue()


def odf_package(media: str, content: str, meta: str = "") -> bytes:
    """An ODF package of `media` (its mimetype first, stored) holding `content` and, given, `meta`'s elements."""
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{media}"/>'
                '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                "</manifest:manifest>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), media)
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        if meta:
            z.writestr("meta.xml", '<?xml version="1.0" encoding="UTF-8"?><office:document-meta xmlns:office='
                       '"urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/"'
                       f' office:version="1.2"><office:meta>{meta}</office:meta></office:document-meta>',
                       zipfile.ZIP_DEFLATED)
    return out.getvalue()
