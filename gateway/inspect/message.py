"""The mail message as a document: the `message/rfc822` reader (a container: its members are what a
recipient can open), for every door: mail through the SMTP door, .eml files dropped in a folder, uploaded to
the portal or given to the CLI.

What is read (issue 12 §2):
- the structure, strictly (gateway.inspect.mime): what readers could split or decode differently is
  `incomplete` (MIME_AMBIGUOUS, MIME_UNKNOWN_ENCODING, MIME_INCOMPLETE_MESSAGE): never released;
- every classification signal, as metadata the marks rule reads, the strictest winning: the Subject (text
  rule, and each bracketed tag "[MẬT]" as a declared value), the classification headers (`CLASSIFICATION`:
  compared as declared values), every other header a person can see (text rule; each display name of an
  address alone), every file name a client may show of every part (plain, RFC 2047, RFC 2231) and its
  description, the headers of forwarded messages inside; the body text and each document are members, read
  by their own readers, and their marks count for the message too;
- members: every leaf part, role "body" (text/plain, text/html without a file name: read for marks, never
  signed), "inline" (pictures and related parts shown in the body: read, not signed) and "document"
  (attachments, and uuencoded files inside text: decided by policy, signed in place or with a .p7s beside);
- S/MIME and PGP: an encrypted part cannot be read (`encrypted`); a part under the sender's signature
  (`sender_signed`) cannot be signed in place without breaking that signature: the policy decides both.
"""

from __future__ import annotations

import re
import threading

from gateway.inspect import mime
from gateway.inspect.mime import ParsedMessage, Walk

# Headers that carry a classification: compared as declared values ("Mật", "toi-mat", "secret", ...) and by
# the text rule. Names chosen from what mail clients and agencies' systems write (Outlook add-ins,
# Titus/Boldon James labels, NATO/UK protective markings, Vietnamese "Độ mật" custom headers).
CLASSIFICATION = (
    "x-classification", "classification", "x-security-classification", "security-classification",
    "x-secrecy", "x-do-mat", "do-mat", "x-protective-marking", "x-sensitivity", "sensitivity",
    "x-titus-classification", "x-label", "x-msip-label", "keywords",
)
# Headers no person reads (trace, routing, structure, authentication, client internals): not scanned.
TECHNICAL = re.compile(
    r"^(received|x-received|return-path|delivered-to|dkim-signature|domainkey-signature|arc-.*|"
    r"authentication-results|received-spf|message-id|references|in-reply-to|date|mime-version|"
    r"content-type|content-transfer-encoding|content-id|content-disposition|content-length|"
    r"x-ms-.*|x-microsoft-.*|x-exchange-.*|x-forefront-.*|x-google-.*|x-gm-.*|x-mailer|user-agent|"
    r"x-originating-ip|list-.*|precedence|auto-submitted|x-spam-.*|x-virus-.*|x-original-.*|thread-index)$"
)
_TAG = re.compile(r"[\[(【]([^\])】]{1,40})[\])】]")


def signals(msg: ParsedMessage, walk: Walk) -> tuple[tuple[str, str], ...]:
    """Every classification signal of the message's headers and names, as (key, value) metadata pairs for
    the marks rule (`gateway.inspect.marks.scan_reading`): key "header:<Name>" (text rule), with "classif"
    in the name for values compared as declared classifications."""
    out: list[tuple[str, str]] = []
    for part in _header_owners(msg):
        where = "" if part.path == () and part is msg.root else f"{part.location} "
        for f in part.fields:
            name = f.name
            if name in CLASSIFICATION:
                out.append((f"header:{where}{_title(name)} classification", mime.decode_header_bytes(f.raw)))
            elif name in ("subject", "thread-topic"):
                value = mime.decode_header_bytes(f.raw)
                out.append((f"header:{where}{_title(name)}", value))
                out += [(f"header:{where}{_title(name)} tag classification", t) for t in _TAG.findall(value)]
            elif not TECHNICAL.match(name):
                value = mime.decode_header_bytes(f.raw)
                out.append((f"header:{where}{_title(name)}", value))
                if name in ADDRESSES:  # a client shows each display name alone: its quotes are syntax, not text
                    out += [(f"header:{where}{_title(name)}", n) for n in _display_names(value)]
    for leaf in walk.leaves:
        if leaf.name:
            out.append((f"name:{leaf.location}", leaf.name))
        if leaf.uu is None and leaf.part is not None:  # every name a client may show, not only the preferred
            out += [(f"name:{leaf.location}", n) for n in mime.part_names(leaf.part.headers) if n != leaf.name]
            # an attachment's description, which some clients list beside its name (mutt's %d)
            out += [(f"name:{leaf.location}", mime.decode_header_bytes(f.raw)) for f in leaf.part.fields
                    if f.name == "content-description"]
    return tuple((k, v) for k, v in dict.fromkeys(out) if v)


ADDRESSES = frozenset({"from", "sender", "reply-to", "to", "cc", "bcc", "resent-from", "resent-sender", "resent-to",
                       "resent-cc", "disposition-notification-to", "return-receipt-to", "mail-followup-to",
                       "mail-reply-to"})


def _display_names(value: str) -> list[str]:
    """The display names of an address header's value ('"TỐI MẬT" <a@b>' shows "TỐI MẬT", read alone)."""
    from email.utils import getaddresses

    try:
        return [name.strip() for name, _ in getaddresses([value]) if name.strip()]
    except (ValueError, TypeError, IndexError):  # what the parser cannot split is still read whole, above
        return []


def _header_owners(msg: ParsedMessage):
    """The top-level header block and every header block of a message inside (forwarded mail), in order."""
    for part in msg.parts:
        if part is msg.root or part.parent_type in mime.MESSAGE_TYPES:
            yield part
        if part.inner is not None:
            yield from _header_owners(part.inner)


def _title(name: str) -> str:
    return "-".join(w[:1].upper() + w[1:] for w in name.split("-"))


# --- the container reader (gateway.inspect.containers) ------------------------------------------------------

def members(path, ex):
    """The member reader of a mail message (see gateway.inspect.members): every leaf a recipient can open,
    extracted into the work directory; what cannot be read as a Reason; the headers' classification signals
    and the message's own facts as a Reading (merged into the container's)."""
    from gateway.inspect.reading import Reading
    from gateway.model import Reason

    from gateway.errors import LimitExceeded

    b = ex.budget  # the limits of settings.limits
    with open(path, "rb") as fh:
        as_read = fh.read()
    raw = mime.normalise(as_read)
    try:
        parsed = mime.parse(raw, max_parts=b.mime_parts, max_depth=b.mime_depth, max_header_bytes=b.header_bytes)
    except LimitExceeded as exc:
        yield exc.reason  # the message is not read: refused with the limit ...
        end = raw.find(b"\r\n\r\n", 0, b.header_bytes)
        if end >= 0:  # ... but a classification in its headers still BLOCKs
            head = mime.parse(raw[: end + 4], max_header_bytes=b.header_bytes)
            yield Reading("message/rfc822", metadata=signals(head, mime.walk(head)))
        return
    walk = mime.walk(parsed)
    if not ex.in_memory:  # a rebuilt message read back is never rebuilt again: nothing to keep it for
        _INDEXED.keep(as_read, parsed, walk)
    yield Reading("message/rfc822", metadata=signals(parsed, walk),
                  extra={"sender_signed": tuple(l.location for l in walk.leaves if l.signed)})
    yield from walk.problems
    if walk.encrypted:
        yield Reason.of("MAIL_ENCRYPTED")
    yield from declared_readings(walk)
    for leaf in member_leaves(walk):
        ex.budget.entry()
        ref = ex.store(leaf.content, location=leaf.location, name=leaf.name, role=leaf.role,
                       media_type=leaf.declared_type)
        if leaf.role == "document" and leaf.part is not None:
            # an attachment's own X-Kyso-* headers declare its kind (gateway.declare; issue 14)
            from dataclasses import replace as _replace

            from gateway import declare

            def field(name: str, fields=leaf.part.fields) -> str | None:
                raw = next((f.raw for f in fields if f.name == name.lower()), None)
                return None if raw is None else mime.decode_header_bytes(raw).strip()

            own = declare.from_headers(field)
            if own:
                try:
                    declare.parse(own)
                except declare.DeclarationError as exc:
                    yield Reason.of(exc.code, **exc.params)
                    own = {}
                ref = _replace(ref, declared=tuple(sorted(own.items())))
        yield ref


def declared_readings(walk: Walk):
    """A part read as its headers tell a mail client to show it, besides the text reader's guess from the
    bytes (which the member's own reading is): by its declared type where the guess differs (text/html and
    application/xhtml+xml rendered as HTML though they do not start like it, or a file named .html; text/plain
    shown as it is though it starts like HTML; text/enriched and text/richtext with every command dropped),
    by the declared charset (utf-7 included) and format=flowed unflowed (RFC 3676, delsp honoured). Each
    reading is a place of its own; what it shows only adds marks (and its active content or other reasons,
    which refuse)."""
    from gateway.inspect import text as text_reader
    from gateway.inspect.reading import Reading
    from gateway.inspect.sniff import HTML, TEXT, sniff

    lines, problems = [], []
    for leaf in walk.leaves:
        if leaf.uu is not None or leaf.part is None or len(leaf.content) > text_reader.MAX_TEXT_BYTES:
            continue
        declared = leaf.declared_type
        if _HTML_NAME.search(leaf.name or ""):
            declared = "text/html"  # the recipient's system opens it in a browser, whatever its Content-Type
        if not declared.startswith("text/") and declared not in text_reader.DECLARED_HTML:
            continue
        headers = leaf.part.headers
        charset = headers.get_param("charset", header="content-type")
        charset = charset[2] if isinstance(charset, tuple) else charset
        flowed = str(headers.get_param("format", "", header="content-type")).strip().lower() == "flowed"
        delsp = str(headers.get_param("delsp", "", header="content-type")).strip().lower() == "yes"
        texts = []
        if _read_as_declared(leaf.content, declared, sniff(leaf.content[:8192])):
            guess = text_reader.decode(leaf.content)
            if guess is not None:
                texts.append(("as declared", guess))
        if flowed or not (charset is None or str(charset).strip().lower() in ("utf-8", "us-ascii")):
            texts += text_reader.alternative_texts(leaf.content, str(charset) if charset else None, flowed, delsp)
        media = HTML if declared in text_reader.DECLARED_HTML else TEXT
        for how, shown in texts:
            where = f"{leaf.location} ({how})"
            if how != "as declared":  # as before: the text reader's way, for its type
                more, why = text_reader.text_lines(shown, media, where)
                lines += more
                problems += why
            if how == "as declared" or media != HTML:
                more, why = text_reader.declared_lines(shown, declared, f"{where} {declared}")
                lines += more
                problems += why
    yield from dict.fromkeys(problems)
    if lines:
        yield Reading("message/rfc822", lines=tuple(lines))


_HTML_NAME = re.compile(r"(?i)\.(?:html?|xhtml|shtml)$")


def _read_as_declared(content: bytes, declared: str, guessed: str) -> bool:
    """Whether a client shows the part otherwise than the text reader reads it from its bytes (`guessed`)."""
    from gateway.inspect import text as text_reader
    from gateway.inspect.sniff import HTML, TEXT

    if declared in text_reader.DECLARED_HTML:
        return guessed != HTML
    if declared in text_reader.DECLARED_ENRICHED:
        return True
    # text/plain and the like: the guess reads as markup what starts like it or holds "<html" early
    return guessed != TEXT or b"<html" in content[:16384].lower()


def member_leaves(walk: Walk) -> list[mime.Leaf]:
    """The leaves that are members, in message order. A text part carrying uuencoded files is a member without
    them (its text outside the blocks: unchanged when the files inside are signed), the files members of
    their own right after it."""
    from dataclasses import replace

    out = []
    for leaf in walk.leaves:
        if leaf.uu is None:
            blocks = [l.uu for l in walk.leaves if l.uu is not None and l.part is leaf.part and l.owners == leaf.owners]
            if blocks:
                text, pos = [], 0
                for b in blocks:
                    text.append(leaf.content[pos : b.start])
                    pos = b.end  # with the line break after it: a .p7s block put in later ends the same
                    pos += 2 if leaf.content.startswith(b"\r\n", pos) else leaf.content.startswith(b"\n", pos)
                text.append(leaf.content[pos:])
                leaf = replace(leaf, content=b"".join(text))
        out.append(leaf)
    return out


class _LastIndexed:
    """The message `members` indexed last in this process, for the rebuilder that follows it (the same file, a
    few milliseconds later): indexing and decoding a 1 MB attachment again cost ~10 ms a message. Found only
    for byte-identical input (the whole message compared), so it can never stand for another message; kept
    for messages up to MAX_BYTES, and given up on first use (its decoded parts are not kept for long)."""

    MAX_BYTES = 16 << 20

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entry: tuple[bytes, ParsedMessage, Walk] | None = None

    def keep(self, raw: bytes, parsed: ParsedMessage, walk: Walk) -> None:
        with self._lock:
            self._entry = (raw, parsed, walk) if len(raw) <= self.MAX_BYTES else None

    def take(self, raw: bytes) -> tuple[ParsedMessage, Walk] | None:
        with self._lock:
            entry, self._entry = self._entry, None
        if entry is None or entry[0] != raw:
            return None
        return entry[1], entry[2]


_INDEXED = _LastIndexed()


def leaves_by_location(raw: bytes, locations=None) -> tuple[ParsedMessage, dict[str, mime.Leaf]]:
    """The message indexed again and its member leaves by location (for the rebuilder); with `locations`,
    only those leaves (and the text parts that hold them, for uuencoded files) are decoded (or more, when the
    index `members` just made of the same bytes is taken)."""
    kept = _INDEXED.take(raw)
    if kept is not None:
        parsed, walk = kept
        return parsed, {leaf.location: leaf for leaf in walk.leaves}
    # The same bytes were read within settings.limits by `members` before anything is rebuilt: the bounds here
    # only need to admit whatever those limits admitted.
    parsed = mime.parse(mime.normalise(raw), max_parts=1 << 30, max_depth=1 << 10, max_header_bytes=len(raw) + 1)
    only = None if locations is None else {loc.split("/uu:", 1)[0] for loc in locations}
    return parsed, {leaf.location: leaf for leaf in mime.walk(parsed, only).leaves}
