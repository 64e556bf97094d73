"""CMS signatures for what is not a PDF: detached CAdES (.p7s) over a file, and S/MIME multipart/signed.

Both hash streamed input and get their raw signature from the token through the same pyHanko signer the PDF
path uses.
"""

from __future__ import annotations

import base64
import re
import uuid
from pathlib import Path

from gateway.errors import InputRejected
from gateway.pyhanko_runtime import run_sync

_CONTENT_HEADER = re.compile(rb"^content-", re.I)
_MICALG = {"sha256": "sha-256", "sha384": "sha-384", "sha512": "sha-512"}


def sign_detached(src: Path, dst: Path, *, pdf_signer, digest: str, chunk_size: int) -> None:
    """DER CAdES detached signature over src's bytes, written to dst (removed on failure)."""
    try:
        with open(src, "rb") as inf:
            ci = run_sync(
                pdf_signer.async_sign_general_data(
                    inf, digest, detached=True, use_cades=True, chunk_size=chunk_size
                )
            )
        with open(dst, "wb") as out:
            out.write(ci.dump())
    except BaseException:
        Path(dst).unlink(missing_ok=True)
        raise


def _split(message: bytes) -> tuple[list[bytes], bytes]:
    """Header fields (each with its folded continuation lines, CRLF-joined, no final CRLF) and the body."""
    m = re.search(rb"\r?\n\r?\n", message)
    if m is None:
        head, body = message, b""
    else:
        head, body = message[: m.start()], message[m.end():]
    fields: list[bytes] = []
    for line in re.split(rb"\r?\n", head):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        elif b":" in line:
            fields.append(line)
        else:
            raise InputRejected("malformed header line", code="MIME_MALFORMED", detail="header without colon")
    return fields, body


def _crlf(data: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", data)


def signed_part_and_outer(message: bytes) -> tuple[bytes, list[bytes]]:
    """The first part (Content-* headers + body, canonical CRLF) and the outer header fields."""
    fields, body = _split(message)
    inner_fields = [f for f in fields if _CONTENT_HEADER.match(f)]
    outer = [f for f in fields if not _CONTENT_HEADER.match(f) and not f.lower().startswith(b"mime-version:")]
    if not any(f.lower().startswith(b"content-type:") for f in inner_fields):
        inner_fields.insert(0, b"Content-Type: text/plain; charset=us-ascii")
    part = b"\r\n".join(inner_fields) + b"\r\n\r\n" + _crlf(body)
    return part, outer


def sign_smime(message: bytes, *, pdf_signer, digest: str) -> bytes:
    """The message as multipart/signed (RFC 8551): its content becomes the first part, signed detached."""
    part, outer = signed_part_and_outer(message)
    ci = run_sync(pdf_signer.async_sign_general_data(part, digest, detached=True, use_cades=True))
    b64 = base64.encodebytes(ci.dump()).replace(b"\n", b"\r\n")
    boundary = f"----=_kyso_{uuid.uuid4().hex}".encode()
    while boundary in part:  # practically never; a boundary must not occur inside the part
        boundary = f"----=_kyso_{uuid.uuid4().hex}".encode()
    ct = (
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg='
        + _MICALG[digest].encode()
        + b';\r\n boundary="'
        + boundary
        + b'"'
    )
    out = [
        *outer,
        b"MIME-Version: 1.0",
        ct,
        b"",
        b"This is an S/MIME signed message",
        b"",
        b"--" + boundary,
    ]
    sig_part = [
        b"--" + boundary,
        b'Content-Type: application/pkcs7-signature; name="smime.p7s"',
        b"Content-Transfer-Encoding: base64",
        b'Content-Disposition: attachment; filename="smime.p7s"',
        b"Content-Description: S/MIME Cryptographic Signature",
        b"",
        b64.rstrip(b"\r\n"),
        b"",
        b"--" + boundary + b"--",
        b"",
    ]
    return b"\r\n".join(out) + b"\r\n" + part + b"\r\n" + b"\r\n".join(sig_part)
