"""What a recipient extracts from a mail message, by readers that are not the gateway's.

Three independent "recipients": Python's email package, Debian's ripmime and mpack's munpack. Each returns
the decoded contents of the files it finds (names differ between them: munpack does not read RFC 2231 names),
so tests compare contents. Plus `gateway_documents`, the gateway's own view (for structural comparisons only).
"""

from __future__ import annotations

import base64
import email
import email.policy
import quopri
import shutil
import subprocess
import tempfile
from pathlib import Path

from gateway.inspect import mime

HAVE_RIPMIME = shutil.which("ripmime") is not None
HAVE_MUNPACK = shutil.which("munpack") is not None


def is_pdf(data: bytes) -> bool:
    return b"%PDF-" in data[:1024]


def email_files(raw: bytes) -> list[tuple[str | None, str, bytes]]:
    """(file name, content type, decoded bytes) of every leaf part Python's email package sees."""
    return _files(email.message_from_bytes(raw, policy=email.policy.default))


def _files(part) -> list[tuple[str | None, str, bytes]]:
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if part.get_content_maintype() == "message" and cte in ("base64", "quoted-printable"):
        # An encoded message/rfc822 (invalid per RFC 2046, common in the wild): the stdlib parses the
        # encoded text as if it were the message; mail readers decode it and show the message inside.
        encoded = part.as_bytes(policy=email.policy.compat32).replace(b"\r\n", b"\n").split(b"\n\n", 1)[1]
        inner = base64.b64decode(encoded) if cte == "base64" else quopri.decodestring(encoded)
        return email_files(inner)
    if part.is_multipart():
        return [f for sub in part.iter_parts() for f in _files(sub)] if part.get_content_maintype() == "multipart" \
            else [f for sub in part.get_payload() for f in _files(sub)]
    payload = part.get_payload(decode=True)
    return [] if payload is None else [(part.get_filename(), part.get_content_type(), payload)]


def _extract(cmd: list[str], raw: bytes) -> list[bytes]:
    with tempfile.TemporaryDirectory(prefix="recipient-") as d:
        src = Path(d) / "message.eml"
        # munpack reads Unix mailbox files (LF line ends): given CRLF, its quoted-printable decoder breaks
        src.write_bytes(raw.replace(b"\r\n", b"\n") if cmd[0] == "munpack" else raw)
        out = Path(d) / "out"
        out.mkdir()
        subprocess.run([c.replace("{in}", str(src)).replace("{out}", str(out)) for c in cmd],
                       capture_output=True, timeout=60, check=False)
        return [p.read_bytes() for p in sorted(out.iterdir()) if p.is_file() and not p.name.endswith(".desc")]


def ripmime_files(raw: bytes) -> list[bytes]:
    """Every file ripmime writes (attachments, uudecoded files, text parts)."""
    return _extract(["ripmime", "-i", "{in}", "-d", "{out}", "--overwrite", "-q"], raw)


def munpack_files(raw: bytes) -> list[bytes]:
    """Every file munpack writes (-t: text parts too)."""
    return _extract(["munpack", "-f", "-t", "-q", "-C", "{out}", "{in}"], raw)


def recipients_pdfs(raw: bytes) -> dict[str, list[bytes]]:
    """The PDFs each independent recipient finds in `raw`, sorted by content."""
    found = {"email": sorted(p for _, _, p in email_files(raw) if is_pdf(p))}
    if HAVE_RIPMIME:
        found["ripmime"] = sorted(p for p in ripmime_files(raw) if is_pdf(p))
    if HAVE_MUNPACK:
        found["munpack"] = sorted(p for p in munpack_files(raw) if is_pdf(p))
    return found


def gateway_documents(raw_or_parsed) -> list[mime.Leaf]:
    """The gateway's own view: leaves with the role "document" whose content is a PDF or an Office file."""
    parsed = raw_or_parsed if isinstance(raw_or_parsed, mime.ParsedMessage) else mime.parse(mime.normalise(raw_or_parsed))
    return [leaf for leaf in mime.walk(parsed).leaves if leaf.role == "document"
            and (is_pdf(leaf.content) or leaf.content[:4] in (b"PK\x03\x04", b"\xd0\xcf\x11\xe0"))]


def logo_png() -> bytes:
    """A small real PNG (a blank logo): pictures are read (OCR) before anything is released."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (48, 16), "white").save(buf, format="PNG")
    return buf.getvalue()
