"""Request bodies to disk, streamed: never held whole in memory, cut off as soon as a limit is passed.

Two shapes of `POST /v1/documents:sign|check`:
- raw body (application/pdf or any non-multipart type) with optional metadata headers X-Kyso-Kind,
  X-Kyso-Number, X-Kyso-Classification, X-Kyso-Title, X-Kyso-Client-Reference, X-Kyso-Filename
  (UTF-8, best percent-encoded when not ASCII);
- multipart/form-data with fields kind, number, classification, title, client_reference and one file part
  `file` (python-multipart's streaming parser; fields override headers).
Limits: settings.http.max_upload_bytes (checked against Content-Length before reading, and while reading
chunked bodies) and settings.http.request_seconds for the whole body.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from gateway import declare
from gateway.errors import StorageUnavailable
from gateway.model import Declared
from gateway.publish.problems import BadMetadata, BadRequest, UploadTooLarge, UploadTooSlow

FIELDS = ("kind", "copy_form", "number", "copying_agency", "classification", "title", "client_reference")
HEADER_PREFIX = "x-kyso-"
MAX_FIELD_CHARS = 500  # per metadata value (the OpenAPI document says the same)
MAX_FIELD_BYTES = 4 * MAX_FIELD_CHARS  # UTF-8 upper bound while streaming
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
MULTIPART_SLACK = 64 * 1024  # part headers and metadata fields on top of the document itself
SPOOL_PREFIX = "up-"
DEFAULT_NAME = "document.pdf"


@dataclass(frozen=True)
class Upload:
    path: Path
    size: int
    name: str
    media_type: str | None
    declared: Declared


class Spool:
    """Where uploads wait (settings.http.spool_dir, mode 0700) while the pipeline looks at them."""

    def __init__(self, directory: Path, max_bytes: int, seconds: float, idle_seconds: float | None = None) -> None:
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.seconds = seconds
        self.idle_seconds = idle_seconds or seconds  # the longest pause between two chunks (slow bodies)

    @classmethod
    def from_settings(cls, settings) -> "Spool":
        h = settings.http
        return cls(h.spool_dir, h.max_upload_bytes, h.request_seconds, h.body_idle_seconds)

    def prepare(self) -> int:
        """Create the directory; remove what a crashed run left behind. Returns how many were removed.

        Only entries older than an hour past the upload limit: another gateway process may share the directory.
        """
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)  # an existing spool made by hand (or by an old version) becomes private too
        removed = 0
        for leftover in self.dir.glob(SPOOL_PREFIX + "*"):
            if time.time() - leftover.stat().st_mtime > self.seconds + 3600:
                remove(leftover)
                removed += 1
        return removed

    def _new_path(self, suffix: str) -> tuple[Path, int]:
        path = self.dir / f"{SPOOL_PREFIX}{uuid.uuid4().hex}{suffix}"
        return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)

    def out_dir(self) -> Path:
        """A private directory for the pipeline's signed output of one request."""
        path = self.dir / f"{SPOOL_PREFIX}{uuid.uuid4().hex}.out"
        path.mkdir(mode=0o700)
        return path

    async def receive(self, request: Request) -> Upload:
        """The request body on disk plus its declared metadata; raises the door's 400/408/413 errors."""
        ctype, params = parse_options_header(request.headers.get("content-type", ""))
        multipart = ctype == b"multipart/form-data"
        allowed = self.max_bytes + (MULTIPART_SLACK if multipart else 0)
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise BadRequest("bad Content-Length", detail="Content-Length")
            if int(length) > allowed:
                raise UploadTooLarge(size=int(length), max=self.max_bytes)
        fields = _header_fields(request)
        path, fd = self._new_path(".pdf")
        try:
            with os.fdopen(fd, "wb") as out:
                async with asyncio.timeout(self.seconds):
                    if multipart:
                        name, mtype, size = await self._multipart(request, params, out, fields)
                    else:
                        size = await self._raw(request, out, allowed)
                        name = fields.pop("filename", None)
                        mtype = ctype.decode("latin-1") or None
            fields.pop("filename", None)
            return Upload(path, size, safe_name(name), mtype, declared_from(fields))
        except _Stalled:
            remove(path)
            raise UploadTooSlow(seconds=self.idle_seconds) from None
        except TimeoutError:
            remove(path)
            raise UploadTooSlow(seconds=self.seconds) from None
        except ClientDisconnect:
            remove(path)
            raise BadRequest("client went away", detail="client disconnected") from None
        except OSError as exc:  # spool full or read-only: the client keeps the document and retries
            remove(path)
            raise StorageUnavailable(f"cannot spool the upload: {exc.strerror}") from None
        except BaseException:
            remove(path)
            raise

    async def _stream(self, request: Request):
        """The body's chunks; a pause longer than idle_seconds between two of them ends it (_Stalled)."""
        it = request.stream().__aiter__()
        while True:
            try:
                async with asyncio.timeout(self.idle_seconds):
                    chunk = await it.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise _Stalled() from None
            yield chunk

    async def _raw(self, request: Request, out, allowed: int) -> int:
        size = 0
        async for chunk in self._stream(request):
            size += len(chunk)
            if size > allowed:
                raise UploadTooLarge(size=f">{self.max_bytes}", max=self.max_bytes)
            out.write(chunk)
        return size

    async def _multipart(self, request: Request, params: dict, out, fields: dict[str, str]):
        boundary = params.get(b"boundary")
        if not boundary:
            raise BadRequest("multipart without boundary", detail="multipart boundary missing")
        form = _FormSink(out, self.max_bytes)
        try:
            parser = MultipartParser(boundary, form.callbacks(), max_size=self.max_bytes + MULTIPART_SLACK)
            async for chunk in self._stream(request):
                parser.write(chunk)
            parser.finalize()
        except FormParserError as exc:
            raise BadRequest("malformed multipart", detail=f"multipart: {exc}") from None
        except ValueError as exc:  # python-multipart's own size limit
            raise UploadTooLarge(size=f">{self.max_bytes}", max=self.max_bytes) from exc
        if not form.ended:
            raise BadRequest("multipart body ended early", detail="multipart: incomplete body")
        if form.file_parts != 1:
            raise BadRequest("need exactly one file part", detail="multipart: exactly one 'file' part required")
        fields.update(form.fields)
        return form.filename, form.file_type, form.file_size


class _Stalled(Exception):
    """No body bytes for idle_seconds."""


class _FormSink:
    """python-multipart callbacks: the `file` part goes to disk, small fields to memory (capped)."""

    def __init__(self, out, max_bytes: int) -> None:
        self.out = out
        self.max_bytes = max_bytes
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.file_type: str | None = None
        self.file_size = 0
        self.file_parts = 0
        self.ended = False
        self._headers: dict[bytes, bytes] = {}
        self._hname = bytearray()
        self._hvalue = bytearray()
        self._field: str | None = None
        self._buf = bytearray()
        self._is_file = False

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._hname.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._hvalue.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._buf = bytearray()
        self._field = None
        self._is_file = False

    def _header_end(self) -> None:
        self._headers[bytes(self._hname).strip().lower()] = bytes(self._hvalue).strip()
        self._hname.clear()
        self._hvalue.clear()

    def _headers_finished(self) -> None:
        disposition, opts = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in opts:
            raise BadRequest("part without a name", detail="multipart: part without form-data name")
        name = opts[b"name"].decode("utf-8", "replace")
        if name == "file":
            self._is_file = True
            self.file_parts += 1
            if self.file_parts > 1:
                raise BadRequest("two file parts", detail="multipart: exactly one 'file' part required")
            plain = opts.get(b"filename", b"").decode("utf-8", "replace") or None
            starred = _starred_name(self._headers.get(b"content-disposition", b""))
            if starred and plain and starred != plain and not plain.isascii():
                raise BadRequest("two file names", detail="multipart: filename and filename* name different files")
            self.filename = starred or plain  # RFC 6266: filename* first; an ASCII filename beside it is its fallback
            self.file_type = self._headers.get(b"content-type", b"").decode("latin-1") or None
        elif name in FIELDS:
            if name in self.fields:
                raise BadRequest("field repeated", detail=f"multipart: field '{name}' repeated")
            self._field = name
        else:
            raise BadRequest("unknown field", detail=f"multipart: unknown field '{name[:40]}'")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self.file_size += end - start
            if self.file_size > self.max_bytes:
                raise UploadTooLarge(size=f">{self.max_bytes}", max=self.max_bytes)
            self.out.write(data[start:end])
        else:
            self._buf.extend(data[start:end])
            if len(self._buf) > MAX_FIELD_BYTES:
                raise BadRequest("field too long", detail=f"multipart: field '{self._field}' too long")

    def _part_end(self) -> None:
        if self._field is not None:
            try:
                self.fields[self._field] = self._buf.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise BadMetadata("field not UTF-8", detail=f"{self._field}: not UTF-8") from None

    def _end(self) -> None:
        self.ended = True


_STARRED = re.compile(rb"(?i)(?:^|;)\s*filename\*(\d*)\*?\s*=\s*([^;]*)")


def _starred_name(disposition: bytes) -> str | None:
    """The RFC 5987 form of a part's file name (`filename*=UTF-8''T%E1%BB%90I...`), which python-multipart's
    parser drops: a portal that reads it publishes the file under that name, so it is the name the gateway
    reads. A name given in RFC 2231 pieces (filename*0=, filename*1=) is refused: readers join them differently."""
    found = _STARRED.findall(disposition)
    if not found:
        return None
    if len(found) > 1 or found[0][0]:
        raise BadRequest("file name in pieces", detail="multipart: filename* given in pieces or twice")
    value = found[0][1].strip().strip(b'"').decode("latin-1")
    charset, _, rest = value.partition("'")
    _, _, encoded = rest.partition("'")
    try:
        return unquote(encoded if rest else value, encoding=charset or "utf-8", errors="strict") or None
    except (LookupError, UnicodeDecodeError):
        raise BadRequest("file name not decodable", detail="multipart: filename* not in a known encoding") from None


def _header_fields(request: Request) -> dict[str, str]:
    """Metadata from X-Kyso-* headers (raw UTF-8 or percent-encoded UTF-8)."""
    fields: dict[str, str] = {}
    for key in (*FIELDS, "filename"):
        raw = request.headers.get(HEADER_PREFIX + key.replace("_", "-"))
        if raw is None:
            continue
        try:
            value = raw.encode("latin-1").decode("utf-8")
        except UnicodeError:
            value = raw  # not UTF-8: take the octets as ISO-8859-1, as HTTP historically did
        if "%" in value:
            try:
                value = unquote(value, errors="strict")
            except UnicodeError:
                pass  # a literal '%', not percent-encoding
        fields[key] = value.strip()
    return fields


def declared_from(fields: dict[str, str]) -> Declared:
    """The declared values, parsed as every door parses them (gateway.declare)."""
    for key, value in fields.items():
        if _CONTROL.search(value):
            raise BadMetadata("control characters", detail=f"{key}: control characters")
        if len(value) > MAX_FIELD_CHARS:
            raise BadMetadata("field too long", detail=f"{key}: more than {MAX_FIELD_CHARS} characters")
    try:
        return declare.parse({k: v for k, v in fields.items() if k in FIELDS})
    except declare.DeclarationError as exc:
        raise BadMetadata(f"bad {exc.field}", detail=f"{exc.field} must be one of: {exc.allowed}") from None


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")


def safe_name(name: str | None) -> str:
    """A display name for the decision log: last path component, no control characters, bounded."""
    if not name:
        return DEFAULT_NAME
    name = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    return name[:200] or DEFAULT_NAME


def remove(path: Path) -> None:
    """Delete a spooled file or output directory; missing is fine."""
    try:
        if path.is_dir():
            for child in path.iterdir():
                remove(child)
            path.rmdir()
        else:
            path.unlink()
    except FileNotFoundError:
        pass
