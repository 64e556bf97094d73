"""PAdES signing with pyHanko: always an incremental update, path to path, streamed.

B-B by default, B-T when a timestamp server is configured, B-LT (revocation info embedded) when asked;
SHA-256; RSA PKCS#1 v1.5 by default, RSASSA-PSS selectable. The output is opened `w+b` so pyHanko streams it
(a 200 MB file stays ~70 MB RSS) and is read back with a 1 MiB chunk (settings.signing.chunk_size).
Encrypted, broken and certified-no-changes (DocMDP P=1) files are refused before anything is written; on any
failure the output is removed: a document is never left half-signed.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from datetime import datetime
from pathlib import Path

from gateway.errors import GatewayError, InputRejected, SignerUnavailable, TemporaryError
from gateway.model import Appearance, DocKind, Reason
from gateway.pyhanko_runtime import run_sync
from gateway.signing import appearance as app
from gateway.signing.placement import inherited

log = logging.getLogger("gateway.signing.pades")


def _now_vn() -> datetime:
    return datetime.now(app.VN_TZ)


@dataclass(frozen=True)
class PdfSignRequest:
    """What to sign how. `anchor_*` name the competent person's widget (for the seal), when known."""

    appearance: Appearance = Appearance.TEXT
    kind: DocKind = DocKind.CORRESPONDENCE
    number: str | None = None  # số và ký hiệu
    copy_form: str | None = None  # SAO Y / SAO LỤC / TRÍCH SAO
    copying_agency: str | None = None
    signing_time: datetime = field(default_factory=_now_vn)  # aware; shown in +07:00
    anchor_field: str | None = None
    anchor_page: int | None = None  # 0-based
    anchor_rect: tuple[float, float, float, float] | None = None
    # (page, box) of the signature block found in the text (gateway.inspect.forms; box in the displayed
    # orientation, top-left origin): the seal's anchor when the competent person's signature is invisible.
    signature_block: tuple[int, tuple[float, float, float, float]] | None = None
    level: str | None = None  # overrides settings.signing.level ("B-B", "B-T", "B-LT")
    field_name: str | None = None

    def __post_init__(self) -> None:
        if self.signing_time.tzinfo is None:
            raise ValueError("signing_time must be timezone-aware")


class TokenPdfSigner:
    """A pyHanko `Signer` whose raw signature comes from the token (one key-access path: TokenKey.sign).

    Built once per OrgSigner (and rebuilt when the certificate changes). The signing-certificate-v2
    attribute depends only on the certificate, so it is encoded once and handed out parsed from DER:
    asn1crypto re-encodes a value built from Python objects on every `dump()` (several times per
    signature; ~15 % of a 1 MB PAdES signature), a value loaded from DER is dumped as its bytes.
    """

    def __new__(cls, token_key, cert, chain, *, pss: bool):
        from asn1crypto import cms as acms
        from pyhanko.sign.attributes import CMSAttributeProvider, SigningCertificateV2Provider
        from pyhanko.sign.signers.pdf_cms import Signer
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        ess_der: list[bytes] = []  # encoded on first use, inside the event loop

        class _CachedEss(CMSAttributeProvider):
            attribute_type = "signing_certificate_v2"

            async def get_attribute(self, dry_run=False):
                if not ess_der:
                    attr = await SigningCertificateV2Provider(signing_cert=cert).get_attribute(dry_run=dry_run)
                    ess_der.append(attr.dump())
                return acms.CMSAttribute.load(ess_der[0])

        cached_ess = _CachedEss()

        class _TokenSigner(Signer):
            async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
                if dry_run:
                    return bytes(self.signing_cert.public_key.bit_size // 8)
                salt = None
                if self.prefer_pss:  # use exactly the PSS parameters pyHanko declares in the CMS
                    params = self.get_signature_mechanism_for_digest(digest_algorithm)["parameters"]
                    salt = int(params["salt_length"].native)
                return token_key.sign(data, pss=self.prefer_pss, digest=digest_algorithm, salt_len=salt)

            def _signed_attr_providers(self, *args, **kwargs):
                for prov in super()._signed_attr_providers(*args, **kwargs):
                    if isinstance(prov, SigningCertificateV2Provider) and prov.signing_cert is cert:
                        yield cached_ess
                    else:
                        yield prov

        return _TokenSigner(
            signing_cert=cert,
            cert_registry=SimpleCertificateStore.from_certs(list(chain)),
            prefer_pss=pss,
            embed_roots=True,
        )


_REHEARSAL: list = []


def rehearsal_signer():
    """A pyHanko signer with a throw-away key and self-issued certificate (made once per process): the dry run
    writes the same output the token's signature would go into, without touching the token."""
    if not _REHEARSAL:
        from datetime import timedelta, timezone

        from asn1crypto import keys as akeys
        from asn1crypto import x509 as ax509
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
        from pyhanko.sign.signers import SimpleSigner
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kyso Gateway dry run (not a signature)")])
        now = datetime.now(timezone.utc)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650)).sign(key, hashes.SHA256())
        )
        der_key = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        _REHEARSAL.append(SimpleSigner(
            signing_cert=ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
            signing_key=akeys.PrivateKeyInfo.load(der_key),
            cert_registry=SimpleCertificateStore(),
        ))
    return _REHEARSAL[0]


def reserve_bytes(pdf_signer, level: str) -> int | None:
    """Room for the CMS container in /Contents, computed instead of estimated.

    pyHanko estimates by building a whole dummy CMS first — a second pure-Python ASN.1 encoding per
    document. For B-B and B-T the size is known: the certificates, the signed attributes, one signature,
    and (B-T) a timestamp token with the TSA's own chain. B-LT embeds revocation data of unknown size, so
    pyHanko estimates that one.
    """
    if level == "B-LT":
        return None
    certs = [pdf_signer.signing_cert, *pdf_signer.cert_registry]
    size = sum(len(c.dump()) for c in certs) + 8192
    if level == "B-T":
        size += 16384
    return (size + 1023) // 1024 * 1024  # pyHanko wants an even count; whole KiB keeps it simple


def _page_refs(reader) -> list:
    """Page dictionaries in order (walks /Kids; only used to place a seal)."""
    out: list = []

    def walk(node, depth: int) -> None:
        if depth > 64:
            raise InputRejected("page tree too deep", code="PDF_BROKEN", detail="page tree")
        node = node.get_object()
        if node.get("/Type") == "/Pages" or "/Kids" in node:
            for kid in node["/Kids"]:
                walk(kid, depth + 1)
        else:
            out.append(node)

    walk(reader.root["/Pages"], 0)
    return out


def _as_box(value) -> tuple[float, float, float, float] | None:
    """A rectangle [x1 y1 x2 y2] (entries may be indirect), normalised; None when it is not one."""
    try:
        value = value.get_object() if hasattr(value, "get_object") else value
        nums = [float(v.get_object() if hasattr(v, "get_object") else v) for v in value]
    except (TypeError, ValueError, AttributeError):
        return None
    if len(nums) != 4:
        return None
    x1, y1, x2, y2 = nums
    box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    return box if box[2] > box[0] and box[3] > box[1] else None


def _page_box(page) -> tuple[float, float, float, float]:
    """The visible area of a page: its CropBox clipped to its MediaBox (both inheritable), in user space.
    Origins need not be 0: [-300 -400 300 400] and a CropBox well inside the MediaBox are common."""
    media = _as_box(inherited(page, "/MediaBox")) or (0.0, 0.0, 595.0, 842.0)
    crop = _as_box(inherited(page, "/CropBox"))
    if crop is None:
        return media
    box = (max(media[0], crop[0]), max(media[1], crop[1]), min(media[2], crop[2]), min(media[3], crop[3]))
    return box if box[2] > box[0] and box[3] > box[1] else media


def _fit_to_page(box, page_box, margin: float = 2.0):
    """(box, shrunk): the block moved, and scaled down if it must, to lie inside the visible page. Pages
    smaller than the block exist (labels, receipts, 200 x 50 pt test pages): there the block shrinks rather
    than hang off the page. None when not even a small block fits."""
    x1, y1, x2, y2 = box
    px1, py1, px2, py2 = page_box
    w, h = x2 - x1, y2 - y1
    room_w, room_h = (px2 - px1) - 2 * margin, (py2 - py1) - 2 * margin
    scale = min(1.0, room_w / w, room_h / h)
    if scale * w < 16 or scale * h < 8:
        return None, False
    w, h = w * scale, h * scale
    x2 = min(max(x2, px1 + margin + w), px2 - margin)  # keep the corner the placement chose, inside the page
    y2 = min(max(y2, py1 + margin + h), py2 - margin)
    return (x2 - w, y2 - h, x2, y2), scale < 1.0


def _shrinking(style):
    """The text stamp style, its text scaled down to fit (only for a block shrunk to fit a small page)."""
    from dataclasses import replace as dc_replace

    from pyhanko.pdf_utils.layout import InnerScaling

    layout = getattr(style, "inner_content_layout", None)
    if layout is None:
        return style
    return dc_replace(style, inner_content_layout=dc_replace(layout, inner_content_scaling=InnerScaling.SHRINK_TO_FIT))


def _find_anchor(reader, pages: list, request: PdfSignRequest):
    """(page index, rect) of the competent person's widget: the request's, the named field's, or the last
    signed visible signature field's."""
    if request.anchor_rect is not None and request.anchor_page is not None:
        return request.anchor_page, request.anchor_rect
    from pyhanko.sign.fields import enumerate_sig_fields

    found = None
    for name, value, ref in enumerate_sig_fields(reader, filled_status=True):
        if request.anchor_field and name != request.anchor_field:
            continue
        widget = ref.get_object()
        kids = widget.get("/Kids")
        if kids:
            widget = kids[0].get_object()
        rect = widget.get("/Rect")
        if rect is None:
            continue
        r = tuple(float(v) for v in rect)
        if abs(r[2] - r[0]) < 1 or abs(r[3] - r[1]) < 1:
            continue  # invisible
        page_ix = len(pages) - 1
        p = widget.get("/P")
        if p is not None:
            target = p.get_object()
            for i, pg in enumerate(pages):
                if pg is target or pg == target:
                    page_ix = i
                    break
        found = (page_ix, r)
    return found


def highest_object_number(reader) -> int:
    """The highest object number any revision of the file uses (xref entries, free entries, object streams,
    xref streams) or declares (/Size - 1). Files whose trailer /Size is below their highest object number
    are common; new objects numbered from /Size would redefine objects in use (a font, a page)."""
    xrefs = reader.xrefs
    top = 0
    for rev in range(xrefs.total_revisions):
        data = xrefs.get_xref_data(rev)
        meta = xrefs.get_xref_container_info(rev)
        top = max(top, int(meta.size or 0) - 1)
        if meta.stream_ref is not None:
            top = max(top, meta.stream_ref.idnum)
        for section in (data, data.hybrid.xref_data if data.hybrid is not None else None):
            if section is None:
                continue
            for ids in (section.standard_xrefs, section.xrefs_in_objstm, section.freed, section.obj_streams_used):
                if ids:
                    top = max(top, max(ids))
    return top


_OBJ_HEADER = re.compile(rb"\d+\s+\d+\s+obj\b")


def _true_startxref(fh, declared: int, window: int = 16) -> int | None:
    """Where the last cross-reference section really starts, when the file's startxref is a few bytes off
    (pyHanko and most readers find it anyway; the update's /Prev must point at it exactly)."""
    fh.seek(max(0, declared))
    here = fh.read(32).lstrip()
    if here.startswith(b"xref") or _OBJ_HEADER.match(here):
        return None
    start = max(0, declared - window)
    fh.seek(start)
    near = fh.read(2 * window + 32)
    for pattern in (re.compile(rb"xref"), re.compile(rb"(?<![0-9])\d+\s+\d+\s+obj\b")):
        hits = [m.start() for m in pattern.finditer(near)]
        if hits:
            return start + min(hits, key=lambda h: abs(start + h - declared))
    return None


def _writer_class():
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    class _Writer(IncrementalPdfFileWriter):
        """Leaves the document's metadata (Info, XMP) as it is: the signature carries its own time. pyHanko's
        metadata update rewrites the XMP packet and fails on valid packets it cannot parse (UTF-16, PDF/A
        extension schemas): INTERNAL_ERROR on 16 veraPDF PDF/A-1b files that pass; and an Info /ModDate
        changed without the XMP would break a PDF/A file's metadata agreement."""

        # pyHanko copies the original revision into the output 4 KB at a time (a 1 MB file: 256 reads and
        # writes, ~1.5 ms); 1 MiB at a time costs one buffer of that size
        IO_CHUNK_SIZE = 1 << 20

        def _update_meta(self):
            return None

    return _Writer


def new_writer(fh) -> tuple[object, list[Reason]]:
    """pyHanko's incremental writer on an open PDF, numbering new objects above every number in use, and the
    repairs made to do so (recorded as warnings)."""
    w = _writer_class()(fh, strict=False)
    # pyHanko starts at the trailer's /Size (IncrementalPdfFileWriter.__init__); it has no public setting.
    w._lastobj_id = max(int(w._lastobj_id), highest_object_number(w.prev))
    repairs: list[Reason] = []
    declared = w.prev.last_startxref
    true = _true_startxref(fh, declared) if declared is not None else None
    if true is not None and true != declared:
        w.prev.last_startxref = true  # the update's /Prev (IncrementalPdfFileWriter._populate_trailer)
        repairs.append(Reason.of("PDF_REPAIRED", detail=f"startxref {declared} -> {true}"))
    return w, repairs


def _true(value) -> bool:
    return getattr(value, "value", value) is True  # pyHanko's BooleanObject is not Python's True


def _form_values_need_drawing(reader) -> bool:
    """/NeedAppearances true with filled fields: viewers draw those values themselves. A signature must clear
    the flag (ISO 32000-2 12.7.3), after which the values would no longer show: not faithful, refused."""
    form = reader.root.get("/AcroForm")
    form = form.get_object() if form is not None else None
    if not hasattr(form, "get") or not _true(form.get("/NeedAppearances")):
        return False
    stack = [(f, 0) for f in (form.get("/Fields") or [])]
    seen = 0
    while stack and seen < 10_000:
        ref, depth = stack.pop()
        seen += 1
        f = ref.get_object()
        if not hasattr(f, "get") or depth > 32:
            continue
        stack.extend((k, depth + 1) for k in (f.get("/Kids") or []))
        if f.get("/FT") != "/Sig" and f.get("/V") not in (None, "", b""):
            return True
    return False


def _check_input(w) -> None:
    from pyhanko.sign.fields import MDPPerm
    from pyhanko.sign.validation import read_certification_data

    reader = w.prev
    if reader.encrypted or "/Encrypt" in reader.trailer:
        raise InputRejected("encrypted PDF", code="PDF_ENCRYPTED")
    if _form_values_need_drawing(reader):
        raise InputRejected("form values without appearances", code="PDF_UNSUPPORTED",
                            detail="form field values without appearances (/NeedAppearances)")
    try:
        cd = read_certification_data(reader)
    except Exception as exc:  # noqa: BLE001 - malformed /Perms
        raise InputRejected(f"bad certification data: {type(exc).__name__}", code="PDF_BROKEN", detail="DocMDP") from None
    if cd is not None and cd.permission == MDPPerm.NO_CHANGES:
        raise InputRejected("certified, no changes allowed", code="PDF_CERTIFIED_NO_CHANGES")


def _unique_field_name(reader, wanted: str | None) -> str:
    from pyhanko.sign.fields import enumerate_sig_fields

    existing = {name for name, _v, _r in enumerate_sig_fields(reader)}
    if wanted and wanted not in existing:
        return wanted
    while True:
        name = f"CoQuan-{uuid.uuid4().hex[:8]}"
        if name not in existing:
            return name


@dataclass(frozen=True)
class PdfSigned:
    """What sign_pdf did: the repairs made (warnings to record) and the file the update extends — `src`
    itself, or a repaired copy of it beside the output (the output check compares against that; the caller
    deletes it)."""

    repairs: tuple[Reason, ...]
    source: Path

    @property
    def repaired(self) -> bool:
        return bool(self.source.name.endswith(".repaired"))


class _NeedsRepair(Exception):
    """The signer's reader cannot open the file (internal: sign_pdf decides whether to repair)."""


def sign_pdf(src: Path, dst: Path, request: PdfSignRequest, *, pdf_signer, settings,
             validation_context=None) -> PdfSigned:
    """Sign src into dst (incremental). Raises InputRejected / GatewayError; dst never left half-written.

    A file the reader cannot open is repaired first (gateway.signing.repair) when it is unsigned and poppler
    reads it; the update then extends the repaired copy (PdfSigned.source)."""
    src, dst = Path(src), Path(dst)
    try:
        return PdfSigned(_sign_pdf(src, dst, request, pdf_signer=pdf_signer, settings=settings,
                                   validation_context=validation_context), src)
    except _NeedsRepair as exc:
        from gateway.signing import repair

        if repair.looks_signed(src, settings.signing.chunk_size):
            # rewriting would break the signature already there: refused, never repaired
            raise InputRejected(f"unreadable signed PDF: {exc}", code="PDF_BROKEN", detail=str(exc)) from None
        fixed = dst.with_name(f".{dst.name}.repaired")
        try:
            reason = repair.repair(src, fixed, timeout=float(settings.limits.document_seconds))
            try:
                repairs = _sign_pdf(fixed, dst, request, pdf_signer=pdf_signer, settings=settings,
                                    validation_context=validation_context, repaired=True)
            except _NeedsRepair as again:
                raise InputRejected(f"unreadable PDF: {again}", code="PDF_BROKEN", detail=str(again)) from None
        except BaseException:
            fixed.unlink(missing_ok=True)
            raise
        return PdfSigned((reason, *repairs), fixed)


def _sign_pdf(src: Path, dst: Path, request: PdfSignRequest, *, pdf_signer, settings,
              validation_context=None, repaired: bool = False) -> tuple[Reason, ...]:
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.sign import fields, signers, timestamps
    from pyhanko.sign.general import SigningError
    from pyhanko.sign.timestamps.common_utils import TimestampRequestError

    level = request.level or settings.signing.level
    src, dst = Path(src), Path(dst)
    timestamper = None
    if level in ("B-T", "B-LT"):
        if not settings.signing.tsa_url:
            if level == "B-T":
                raise SignerUnavailable("B-T needs signing.tsa_url", detail="signing.tsa_url")
        else:
            timestamper = timestamps.HTTPTimeStamper(settings.signing.tsa_url, timeout=settings.trust.fetch_timeout_seconds)
    created = False
    try:
        with open(src, "rb") as inf:
            try:
                w, repairs = new_writer(inf)
                _check_input(w)
                pages = _page_refs(w.prev)
            except GatewayError:
                raise
            except (PdfError, Exception) as exc:  # noqa: BLE001 - anything the reader chokes on is "broken"
                if _mentions_encrypt(inf):
                    raise InputRejected("encrypted PDF", code="PDF_ENCRYPTED") from None
                if isinstance(exc, RecursionError):
                    raise InputRejected("PDF nested too deep", code="PDF_BROKEN", detail=_short(exc)) from None
                raise _NeedsRepair(_short(exc)) from None
            if not pages:
                raise InputRejected("PDF without pages", code="PDF_BROKEN", detail="no pages")
            anchor = None
            if request.appearance is Appearance.SEAL:
                anchor = _find_anchor(w.prev, pages, request)
            boxes = {0: _page_box(pages[0]), len(pages) - 1: _page_box(pages[-1])}
            if anchor is not None:
                boxes[anchor[0]] = _page_box(pages[anchor[0]])
            views = _page_views(src, pages, boxes, request, anchor, settings)
            placement = app.placement_for(request, settings, _BoxList(boxes, len(pages)), anchor, views)
            if placement.warning is not None:
                repairs = [*repairs, placement.warning]
            shrunk = False
            if placement.page is not None:
                # the block stands inside what the page shows, whatever the page's origin, crop or size
                fitted, shrunk = _fit_to_page(placement.box, boxes[placement.page])
                if fitted is None:
                    raise InputRejected("page too small for the signature block", code="PDF_UNSUPPORTED",
                                        detail="page too small for the signature block")
                placement = dc_replace(placement, box=fitted)
            name = _unique_field_name(w.prev, request.field_name)
            if placement.page is None:
                spec = fields.SigFieldSpec(name)
                style = None
            else:
                spec = fields.SigFieldSpec(
                    name, on_page=placement.page, box=tuple(int(round(v)) for v in placement.box)  # type: ignore[arg-type]
                )
                style = app.stamp_style(placement, settings)
                if shrunk:
                    style = _shrinking(style)
            meta = signers.PdfSignatureMetadata(
                field_name=name,
                md_algorithm=settings.signing.digest,
                subfilter=fields.SigSeedSubFilter.PADES,
                embed_validation_info=(level == "B-LT"),
                validation_context=validation_context if level == "B-LT" else None,
                name=settings.organisation,
                reason="Ký số của cơ quan, tổ chức / organisation signature",
            )
            signer = signers.PdfSigner(
                meta, pdf_signer, timestamper=timestamper, stamp_style=style, new_field_spec=spec
            )
            params = {"kyso_text": placement.text or ""}
            with open(dst, "w+b") as out:
                created = True
                try:
                    run_sync(
                        signer.async_sign_pdf(
                            w, output=out, chunk_size=settings.signing.chunk_size, appearance_text_params=params,
                            bytes_reserved=reserve_bytes(pdf_signer, level),
                        )
                    )
                except TimestampRequestError as exc:
                    # B-T / B-LT: no signature without its timestamp; the TSA may be back later.
                    raise TemporaryError(f"timestamp authority: {_short(exc)}", code="TSA_UNAVAILABLE") from None
                except SigningError as exc:
                    if "forbids all changes" in str(exc):
                        raise InputRejected("certified, no changes", code="PDF_CERTIFIED_NO_CHANGES") from None
                    # anything else pyHanko refuses is about this document (field, form, structure): left to the
                    # pipeline's rule for unknown faults (once more, then refused), never an endless retry
                    raise
                except PdfError as exc:
                    raise InputRejected(f"PDF error: {_short(exc)}", code="PDF_BROKEN", detail=_short(exc)) from None
    except BaseException:
        if created:
            dst.unlink(missing_ok=True)
        raise
    return tuple(repairs)


def _page_views(src: Path, pages: list, boxes: dict, request: PdfSignRequest, anchor, settings) -> dict:
    """The pages the placement needs, as displayed (gateway.signing.placement): page 1 rendered for the text
    block; for the seal only the geometry of its page (/Rotate, CropBox, /UserUnit)."""
    from gateway.signing import placement as pl

    if settings.appearance.invisible or request.appearance is Appearance.INVISIBLE:
        return {}
    if request.appearance is Appearance.SEAL:
        page = anchor[0] if anchor is not None else (request.signature_block or (None,))[0]
        if page is None or not 0 <= page < len(pages):
            return {}
        boxes.setdefault(page, _page_box(pages[page]))
        return {page: pl.view(src, page, pages[page], boxes[page], render=False)}
    return {0: pl.view(src, 0, pages[0], boxes[0])}


def _mentions_encrypt(fh, window: int = 256 * 1024) -> bool:
    """An /Encrypt entry in the file's head or tail (trailers live there) when the reader gave up."""
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(0)
    head = fh.read(min(size, window))
    fh.seek(max(0, size - window))
    return b"/Encrypt" in head or b"/Encrypt" in fh.read()


class _BoxList:
    """Page boxes for the pages we need, without reading every page of a long document."""

    def __init__(self, boxes: dict, n: int) -> None:
        self._boxes, self._n = boxes, n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int):
        if i < 0:
            i += self._n
        return self._boxes.get(i, self._boxes[0])


def _short(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0][:160]

