"""Whole-message S/MIME (optional policy, settings.smtp.smime_sign): multipart/signed, detached CMS, SHA-256.

The signature covers the exact bytes that go out, so before signing every leaf body that a relay might rewrite
is made 7-bit safe: 8bit/binary bodies, bodies with non-ASCII bytes and bodies with lines over 998 octets
are re-encoded as base64 (their Content-Transfer-Encoding line changes, nothing else). Then the engine's
worker signs it (`engine.sign_smime`, the organisation key in the HSM) and returns the message to send.
"""

from __future__ import annotations

import asyncio
import re

from gateway.smtp import message as mime

_LONG_LINE = re.compile(rb"[^\n]{999,}")  # 998 octets + CR


def needs_encoding(body: bytes, cte: str) -> bool:
    if cte in ("8bit", "binary"):
        return True
    if cte == "base64":
        return False
    return not body.isascii() or b"\x00" in body or _LONG_LINE.search(body) is not None


def seven_bit(raw: bytes, *, max_parts: int = 500, max_depth: int = 10) -> bytes:
    """`raw` with every leaf that is not 7-bit safe re-encoded as base64; 7-bit leaves untouched."""
    parsed = mime.parse(raw, max_parts=max_parts, max_depth=max_depth)
    replacements = []
    for part in parsed.parts:
        if not part.is_leaf:
            continue
        body = raw[part.body_start : part.end]
        if needs_encoding(body, part.cte):
            replacements.append((part, mime.decode_body(body, part.cte)))
    return mime.replace_parts(raw, replacements) if replacements else raw


async def sign_message(raw: bytes, engine) -> bytes:
    """The message as it goes out: 7-bit safe, then S/MIME-signed by the engine."""
    prepared = await asyncio.to_thread(seven_bit, raw)
    return await engine.sign_smime(prepared)
