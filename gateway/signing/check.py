"""The output check: what the signer wrote is what it should have written, before anything is released.

    sha256 = check_pdf(signed, source)        # PAdES incremental update of `source`
    check_detached(p7s, source)               # CAdES detached signature over `source`

A PDF passes only when
- the new signature covers the whole file but its /Contents, and its digest and CMS signature are right
  (one streamed read, which also yields the output's SHA-256);
- the output begins with exactly the source's bytes (an incremental update: nothing of the original moved);
- an independent reader (pypdf, not the pyHanko that wrote it) parses the output, finds that signature
  through the catalog's form fields, and counts the same pages as in the source;
- the update redefines no object of the source except those a signature legitimately touches: the catalog,
  the form (/AcroForm and its /Fields), the page that holds the new widget (and its /Annots), the document
  information and XMP metadata. Of the catalog, the form and the page, only the keys a signature adds to may
  differ; everything else (page content, fonts, resources) is the source's own objects, unchanged, so the
  pages show what they showed.

Failures are the document's (OutputRejected, permanent: the output is discarded and the document refused),
except a signature value that does not verify with the certificate's key: that is the token's or the
configuration's fault (SignatureNotVerified, temporary; every document would fail alike).
The containers lane reuses these checks for members of rebuilt archives.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

from gateway.errors import PermanentError, TemporaryError

log = logging.getLogger(__name__)

__all__ = ["OutputRejected", "SignatureNotVerified", "check_pdf", "check_detached", "verify_cms"]


class OutputRejected(PermanentError):
    """The signed output is not a faithful signed copy of the document; discarded, the document refused."""

    code = "PDF_OUTPUT_INVALID"


class SignatureNotVerified(TemporaryError):
    """The signature value the token made does not verify with the certificate's key (not the document's fault)."""

    code = "ORG_SIGNATURE_INVALID"


# Keys a signature may add to or change in an object of the source; any other difference refuses the output.
_CATALOG_KEYS = frozenset({"/AcroForm", "/Perms", "/DSS", "/Version", "/Extensions", "/Metadata"})
_FORM_KEYS = frozenset({"/Fields", "/SigFlags", "/DR", "/DA", "/NeedAppearances"})
_PAGE_KEYS = frozenset({"/Annots"})
_STARTXREF = re.compile(rb"startxref\s+(\d+)")


def _rejected(detail: str) -> OutputRejected:
    return OutputRejected(f"signed output refused: {detail}", detail=detail)


# --- the one read: signature coverage, digest, CMS, prefix ------------------------------------------------


def _read_into(fh, start: int, length: int, chunk: int, *hashes) -> None:
    fh.seek(start)
    left = length
    while left > 0:
        block = fh.read(min(chunk, left))
        if not block:
            raise _rejected("file shorter than its /ByteRange")
        for h in hashes:
            h.update(block)
        left -= len(block)


def _digests(fh, b: int, c: int, size: int, prefix: int, algo: str, chunk: int) -> tuple[bytes, str, str]:
    """One read: the digest of the signed ranges [0, b) + [c, size), the whole file's SHA-256 and the SHA-256 of
    its first `prefix` bytes (the source's length; the new signature's /Contents lies after it)."""
    whole = hashlib.sha256()
    signed = whole if algo == "sha256" else hashlib.new(algo)
    extra = () if signed is whole else (signed,)
    # [0, prefix) first: its hash is a copy of the running one (prefix <= b: the update follows the source)
    _read_into(fh, 0, prefix, chunk, whole, *extra)
    head = whole.copy().hexdigest()
    _read_into(fh, prefix, b - prefix, chunk, whole, *extra)
    if signed is whole:
        signed = whole.copy()
    _read_into(fh, b, c - b, chunk, whole)
    _read_into(fh, c, size - c, chunk, whole, signed)
    return signed.digest(), whole.hexdigest(), head


def _sha256_file(path: Path, chunk: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


# --- the independent reading (pypdf) ------------------------------------------------------------------------


def _open_pypdf(fh):
    import warnings

    from pypdf import PdfReader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return PdfReader(fh, strict=False)


def _quiet_pypdf():
    """pypdf logs every leniency at WARNING; the check decides itself what matters. Left alone when already
    quiet (the workers: `logs.setup_logging`): each setLevel clears every logger's cache, per document."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    if level < logging.ERROR:
        logger.setLevel(logging.ERROR)
    return logger, level


def _ref_id(obj) -> int | None:
    ref = getattr(obj, "indirect_reference", None)
    if ref is None and hasattr(obj, "idnum"):
        ref = obj
    return getattr(ref, "idnum", None)


def _raw(d, key):
    """A dictionary value without resolving an indirect reference (pypdf resolves on [] / get)."""
    try:
        return dict.__getitem__(d, key)
    except KeyError:
        return None


def _new_signature(reader, size: int):
    """(field, signature dictionary, widget refs) of the signature whose /ByteRange reaches the end of the file,
    found through the catalog's /AcroForm /Fields (what every viewer and verifier walks)."""
    root = reader.trailer["/Root"].get_object()
    form = root.get("/AcroForm")
    if form is None:
        raise _rejected("no /AcroForm in the signed output")
    stack = [(f, 0) for f in (form.get_object().get("/Fields") or [])]
    seen: set[int] = set()
    found = []
    while stack:
        ref, depth = stack.pop()
        rid = _ref_id(ref)
        if rid is not None:
            if rid in seen:
                continue
            seen.add(rid)
        field = ref.get_object()
        if not hasattr(field, "get") or depth > 32:
            continue
        kids = field.get("/Kids") or []
        if any(hasattr(k.get_object(), "get") and "/T" in k.get_object() for k in kids):
            stack.extend((k, depth + 1) for k in kids)
            continue
        v = _raw(field, "/V")
        if v is None:
            continue
        br = _byte_range(reader, v)
        if br is not None and len(br) == 4 and br[0] == 0 and br[2] + br[3] == size:
            widgets = [_ref_id(k) for k in kids] if kids else [rid]
            found.append((field, br, [w for w in widgets if w is not None]))
    if len(found) != 1:
        raise _rejected(f"{len(found)} signatures cover the whole output (expected exactly 1)")
    return found[0]


_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[([0-9\s]*)\]")
_ENDOBJ = re.compile(rb"\bendobj\b")
RAW_SIG_MAX = 4 << 20


def _byte_range(reader, v) -> list[int] | None:
    """A signature dictionary's /ByteRange, read from its object's own bytes when it has an offset (pypdf parses
    the hex /Contents a byte at a time: ~17 ms per signature at 1 MB); parsed by pypdf otherwise."""
    from pypdf.generic import IndirectObject

    if isinstance(v, IndirectObject):
        offset = reader.xref.get(v.generation, {}).get(v.idnum)
        if isinstance(offset, int) and v.idnum not in reader.xref_objStm:
            fh = reader.stream
            fh.seek(offset)
            head = fh.read(64)
            if re.match(rb"\s*%d\s+%d\s+obj\b" % (v.idnum, v.generation), head):
                fh.seek(offset)
                raw, step = b"", 65536
                while len(raw) < RAW_SIG_MAX:
                    block = fh.read(step)
                    if not block:
                        break
                    raw += block
                    end = _ENDOBJ.search(raw)
                    if end:
                        raw = raw[: end.start()]
                        break
                m = _BYTE_RANGE.search(raw)
                if m is None:
                    return None
                br = [int(x) for x in m.group(1).split()]
                # the gap between the two ranges must be this dictionary's own /Contents
                if len(br) == 4 and not (offset < br[1] < br[2] <= offset + len(raw)):
                    raise _rejected("a signature's /ByteRange points outside its own dictionary")
                return br
    sig = v.get_object()
    if not hasattr(sig, "get") or "/ByteRange" not in sig:
        return None
    return [int(x) for x in sig["/ByteRange"]]


# --- what the update wrote --------------------------------------------------------------------------------


def _last_section_ids(reader, fh, size: int) -> set[int]:
    """Object numbers the last cross-reference section (the update) defines: table or stream."""
    fh.seek(max(0, size - 1024))
    found = list(_STARTXREF.finditer(fh.read()))
    if not found:
        raise _rejected("no startxref at the end of the output")
    offset = int(found[-1].group(1))
    fh.seek(offset)
    head = fh.read(32).lstrip()
    ids: set[int] = set()
    if head.startswith(b"xref"):
        fh.seek(offset)
        fh.readline()
        while True:
            line = fh.readline()
            if not line:
                raise _rejected("truncated xref table in the update")
            parts = line.split()
            if not parts:
                continue
            if parts[0].startswith(b"trailer"):
                return ids
            start, count = int(parts[0]), int(parts[1])
            for i in range(count):
                entry = fh.read(20)
                if entry[17:18] == b"n":
                    ids.add(start + i)
    from pypdf.generic import read_object

    fh.seek(offset)
    idnum, _gen = reader.read_object_header(fh)
    xs = read_object(fh, reader)
    widths = [int(w) for w in xs["/W"]]
    index = [int(i) for i in xs.get("/Index", [0, int(xs["/Size"])])]
    data = xs.get_data()
    step = sum(widths)
    pos = 0
    for first, count in zip(index[::2], index[1::2]):
        for n in range(first, first + count):
            entry = data[pos : pos + step]
            pos += step
            kind = int.from_bytes(entry[: widths[0]], "big") if widths[0] else 1
            if kind in (1, 2):
                ids.add(n)
    ids.add(idnum)
    return ids


def _ids_in_use(reader) -> set[int]:
    ids = {n for gen in reader.xref.values() for n in gen}
    ids.update(reader.xref_objStm)
    ids.discard(0)
    return ids


def _plain(obj, depth: int = 0):
    """A direct PDF value as plain data, references as ("ref", number, generation): comparable across readers
    (pypdf's references compare equal only within one reader)."""
    from pypdf.generic import IndirectObject

    if depth > 64:
        raise _rejected("direct object nested too deep")
    if isinstance(obj, IndirectObject):
        return ("ref", obj.idnum, obj.generation)
    if isinstance(obj, dict):
        return {str(k): _plain(dict.__getitem__(obj, k), depth + 1) for k in obj}
    if isinstance(obj, (list, tuple)):
        return [_plain(x, depth + 1) for x in obj]
    if isinstance(obj, str) and hasattr(obj, "original_bytes"):
        return ("text", str(obj))  # pyHanko may re-encode a text string (UTF-16 <-> PDFDocEncoding)
    if isinstance(obj, bytes):
        return ("bytes", bytes(obj))
    return obj


def _same_except(old, new, keys: frozenset, what: str) -> None:
    old_keys, new_keys = set(old.keys()) - keys, set(new.keys()) - keys
    if old_keys != new_keys:
        raise _rejected(f"the update changed the {what}'s entries {sorted(old_keys ^ new_keys)}")
    for k in old_keys:
        if _plain(_raw(old, k)) != _plain(_raw(new, k)):
            raise _rejected(f"the update changed {what} {k}")


def _contains_all(old, new, what: str) -> None:
    """An array the update extends (/Annots, /Fields): every old entry still there."""
    from collections import Counter

    have = Counter(repr(_plain(x)) for x in (new or []))
    keep = Counter(repr(_plain(x)) for x in (old or []))
    if keep - have:
        raise _rejected(f"the update dropped entries of {what}")


def _check_update(src_reader, out_reader, written: set[int], widgets: list[int]) -> None:
    old_ids = _ids_in_use(src_reader)
    redefined = written & old_ids
    if not redefined:
        return
    root_id = _ref_id(_raw(out_reader.trailer, "/Root"))
    if root_id != _ref_id(_raw(src_reader.trailer, "/Root")):
        raise _rejected("the update replaced the document catalog")
    allowed: dict[int, str] = {root_id: "catalog"}
    for trailer_key in ("/Info",):
        rid = _ref_id(_raw(out_reader.trailer, trailer_key))
        if rid is not None:
            allowed[rid] = "info"
    new_root = out_reader.trailer["/Root"].get_object()
    meta = _ref_id(_raw(new_root, "/Metadata"))
    if meta is not None:
        allowed[meta] = "metadata"
    form_ref = _raw(new_root, "/AcroForm")
    form = new_root.get("/AcroForm").get_object()
    if _ref_id(form_ref) is not None:
        allowed[_ref_id(form_ref)] = "form"
    fields_ref = _ref_id(_raw(form, "/Fields"))
    if fields_ref is not None:
        allowed[fields_ref] = "fields"
    widget_set = set(widgets)

    def allow_page(page) -> None:
        annots = _raw(page, "/Annots")
        arr = annots.get_object() if annots is not None else []
        if any(_ref_id(a) in widget_set for a in arr or []):
            allowed[_ref_id(page)] = "page"
            if _ref_id(annots) is not None:
                allowed[_ref_id(annots)] = "annots"

    # the widget's page from its /P (pyHanko sets it); the page tree walked only when that does not explain
    # every redefined object (a walk costs minutes on files with 65,000 objects in object streams)
    for wid in widget_set:
        widget = out_reader.get_object(wid)
        page_ref = _raw(widget, "/P") if hasattr(widget, "get") else None
        if page_ref is not None and _ref_id(page_ref) in redefined:
            allow_page(page_ref.get_object())
    if redefined - set(allowed):
        for page in out_reader.pages:
            allow_page(page)
    others = sorted(redefined - set(allowed))
    if others:
        raise _rejected(f"the update redefined objects of the document: {others[:10]}")
    for rid in redefined:
        kind = allowed[rid]
        old = src_reader.get_object(rid)
        new = out_reader.get_object(rid)
        if kind == "catalog":
            _same_except(old, new, _CATALOG_KEYS, "catalog")
        elif kind == "form":
            _same_except(old, new, _FORM_KEYS, "form")
            if _true(_raw(old, "/NeedAppearances")) and not _true(_raw(new, "/NeedAppearances")):
                # viewers drew the field values themselves; without the flag they show the stale appearances
                raise _rejected("the update cleared /NeedAppearances: field values would no longer show")
        elif kind == "page":
            _same_except(old, new, _PAGE_KEYS, "page")
            _contains_all(_resolved(old.get("/Annots")), _resolved(new.get("/Annots")), "the page's annotations")
        elif kind == "annots":
            _contains_all(old, new, "the page's annotations")
        elif kind == "fields":
            _contains_all(old, new, "the form's fields")
        # info and metadata: dates and producer; nothing a page shows


def _true(value) -> bool:
    return getattr(value, "value", value) is True  # pypdf's BooleanObject is not Python's True


def _page_count(reader) -> int:
    """The page tree's /Count. The update may not redefine the page tree's root (it is no object a signature
    touches: _check_update refuses that), so equal counts mean the same pages. pypdf's own walk of the
    tree takes minutes on some files (65,000 objects in object streams)."""
    count = reader.trailer["/Root"].get_object()["/Pages"].get_object()["/Count"]
    return int(count)


def _resolved(x):
    return x.get_object() if x is not None else None


# --- the entry points ---------------------------------------------------------------------------------------


def check_pdf(signed: Path, source: Path, *, chunk: int = 1 << 20, source_sha256: str | None = None,
              pages: int | None = None, seconds: float | None = None) -> str:
    """Check a PAdES output against its source (see the module docstring). Returns the output's SHA-256 (hex).

    `source_sha256` (when the caller already has it) saves a read of the source; `pages` is the page count
    the signer saw, compared too. `seconds` bounds the check (main thread only, gateway.inspect.limits): the
    independent reader needs minutes for some hostile files (pypdf parses a 65,000-object stream per
    fetch); what cannot be checked in time is refused, never released."""
    from gateway.inspect.limits import Timeout, time_limit

    try:
        with time_limit(seconds or 0):
            return _check_pdf(signed, source, chunk=chunk, source_sha256=source_sha256, pages=pages)
    except Timeout:
        raise _rejected(f"the output could not be checked within {seconds:g} s") from None


def _check_pdf(signed: Path, source: Path, *, chunk: int, source_sha256: str | None, pages: int | None) -> str:
    signed, source = Path(signed), Path(source)
    size = signed.stat().st_size
    src_size = source.stat().st_size
    if size <= src_size:
        raise _rejected("the output is not longer than its source")
    logger, level = _quiet_pypdf()
    try:
        with open(signed, "rb") as fh, open(source, "rb") as sfh:
            try:
                out_reader = _open_pypdf(fh)
                field, sig, widgets = _new_signature(out_reader, size)
                out_pages = _page_count(out_reader)
            except OutputRejected:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever the independent reader cannot read is refused
                raise _rejected(f"an independent reader cannot read the output ({type(exc).__name__}: {exc})"[:300]) from None
            a, b, c, d = sig
            if not (0 < src_size <= b < c <= size):
                raise _rejected("the new signature does not follow the source's bytes")
            fh.seek(b)
            gap = fh.read(c - b).strip()
            if not (gap.startswith(b"<") and gap.endswith(b">")):
                raise _rejected("the new signature's /Contents is not a hex string")
            try:
                der = bytes.fromhex(gap[1:-1].decode("ascii"))
            except ValueError:
                raise _rejected("the new signature's /Contents is not a hex string") from None
            result: dict[str, str] = {}

            def digest_of(algo: str) -> bytes:
                signed_digest, whole, head = _digests(fh, b, c, size, src_size, algo, chunk)
                result["sha256"], result["head"] = whole, head
                return signed_digest

            verify_cms(der, digest_of)
            if (source_sha256 or _sha256_file(source, chunk)) != result["head"]:
                raise _rejected("the output does not begin with the source's bytes")
            try:
                src_reader = _open_pypdf(sfh)
                src_pages = _page_count(src_reader)
                written = _last_section_ids(out_reader, fh, size)
            except Exception as exc:  # noqa: BLE001
                raise _rejected(f"cannot compare the output with its source ({type(exc).__name__}: {exc})"[:300]) from None
            if out_pages != src_pages or (pages is not None and pages != out_pages):
                raise _rejected(f"page count changed ({pages if pages is not None else src_pages} -> {out_pages})")
            try:
                _check_update(src_reader, out_reader, written, widgets)
            except OutputRejected:
                raise
            except Exception as exc:  # noqa: BLE001
                raise _rejected(f"cannot compare the output with its source ({type(exc).__name__}: {exc})"[:300]) from None
    finally:
        if logger.level != level:
            logger.setLevel(level)
    return result["sha256"]


def check_detached(p7s: Path | bytes, src: Path | bytes, chunk: int = 1 << 20) -> None:
    """A detached CAdES signature verifies over the original file's bytes (each a file, or bytes)."""

    def digest_of(algo: str) -> bytes:
        if isinstance(src, bytes):
            return hashlib.new(algo, src).digest()
        h = hashlib.new(algo)
        with open(src, "rb") as fh:
            _read_into(fh, 0, Path(src).stat().st_size, chunk, h)
        return h.digest()

    verify_cms(p7s if isinstance(p7s, bytes) else Path(p7s).read_bytes(), digest_of)


def verify_cms(der: bytes, digest_of) -> None:
    """The first SignerInfo of a CMS SignedData: its message digest equals `digest_of(algo)` and its signature
    over the signed attributes verifies with the embedded signer certificate's key."""
    from asn1crypto import cms
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        # A PDF /Contents is zero-padded after the DER.
        info = cms.ContentInfo.load(der, strict=False)
        sd = info["content"]
        si = sd["signer_infos"][0]
        algo = si["digest_algorithm"]["algorithm"].native
        attrs = si["signed_attrs"]
        md = next(a["values"][0].native for a in attrs if a["type"].native == "message_digest")
    except Exception as exc:  # noqa: BLE001
        raise _rejected(f"the new signature's CMS does not parse ({type(exc).__name__})") from None
    if md != digest_of(algo):
        raise _rejected("the new signature's message digest does not match the signed bytes")
    sid = si["sid"]
    certs = [c.chosen for c in sd["certificates"] if c.name == "certificate"]
    if sid.name == "issuer_and_serial_number":
        want = sid.chosen
        serial, issuer = want["serial_number"].native, want["issuer"].dump()
        # Compare the issuer's DER, not asn1crypto's Name equality (LDAP string prep: ~5 ms).
        cert = next((c for c in certs if c.serial_number == serial and c["tbs_certificate"]["issuer"].dump() == issuer), None)
    else:
        cert = next((c for c in certs if c.key_identifier == sid.chosen.native), None)
    if cert is None:
        raise _rejected("the new signature does not carry its signer's certificate")
    key = x509.load_der_x509_certificate(cert.dump()).public_key()
    signed = attrs.untag().dump()
    sig = si["signature"].native
    h = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[algo]
    sig_algo = si["signature_algorithm"]["algorithm"].native
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pad = padding.PSS(padding.MGF1(h), padding.PSS.AUTO) if sig_algo == "rsassa_pss" else padding.PKCS1v15()
            key.verify(sig, signed, pad, h)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, signed, ec.ECDSA(h))
        else:
            raise SignatureNotVerified(f"unexpected key type {type(key).__name__}")
    except InvalidSignature:
        raise SignatureNotVerified("the new signature does not verify with the certificate's key") from None
