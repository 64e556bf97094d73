"""Hostile inputs, built byte by byte: PDFs with bombs, cycles, huge trees, JavaScript, embedded files; mail
with deep nesting, thousands of parts, huge headers, zip bombs and dangerous file names.

`decide_in_child(paths, var_dir, **limits)` runs the real pipeline (dry run: inspect + policy + record) on each
file in a child process with an address-space limit, and returns per file: outcome, reason codes, warning
codes, seconds, and the child's peak RSS — so a bomb that escapes the limits fails the test, not the runner.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

# --- PDFs -----------------------------------------------------------------------------------------------


def write_pdf(path: Path, objects: dict[int, bytes], *, root: int = 1, size: int | None = None,
              trailer_extra: bytes = b"") -> Path:
    """A PDF with exactly these objects (number -> body between 'N 0 obj' and 'endobj') and a correct xref."""
    path = Path(path)
    offsets: dict[int, int] = {}
    with open(path, "wb") as fh:
        fh.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        for num in sorted(objects):
            offsets[num] = fh.tell()
            fh.write(b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n")
        xref = fh.tell()
        top = max(objects) + 1
        fh.write(b"xref\n0 %d\n0000000000 65535 f \n" % top)
        for num in range(1, top):
            fh.write(b"%010d 00000 n \n" % offsets[num] if num in offsets else b"0000000000 00000 f \n")
        fh.write(b"trailer\n<< /Size %d /Root %d 0 R %s>>\nstartxref\n%d\n%%%%EOF\n"
                 % (size or top, root, trailer_extra, xref))
    return path


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def _page_objects(content: bytes = b"BT /F1 12 Tf 72 720 Td (Hello) Tj ET") -> dict[int, bytes]:
    return {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
           b"/Resources << /Font << /F1 5 0 R >> >> >>",
        4: stream(content),
        5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }


def _variant(path: Path, changes: dict[int, bytes]) -> Path:
    """The one-page PDF with some objects replaced or added."""
    return write_pdf(path, {**_page_objects(), **changes})


def deflate_zeros(total: int, chunk: int = 1 << 24) -> bytes:
    """zlib data that inflates to `total` zero bytes (about 1/1000 of it on the wire), built in milliseconds:
    one raw-deflated chunk ended by a full flush (so every repeat is byte-identical), repeated, then the
    zlib trailer (Adler-32 of n zero bytes is a=1, b=n mod 65521)."""
    assert total % chunk == 0
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = z.compress(bytes(chunk)) + z.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)  # an empty final block
    adler = ((total % 65521) << 16) | 1
    return b"\x78\xda" + body * (total // chunk) + end + adler.to_bytes(4, "big")


def flate_bomb(path: Path, inflated: int = 2 << 30) -> Path:
    """The page content stream and the XMP metadata both inflate to `inflated` bytes (default 2 GiB)."""
    bomb = deflate_zeros(inflated)
    return _variant(path, {4: stream(bomb, b"/Filter /FlateDecode "),
                           1: b"<< /Type /Catalog /Pages 2 0 R /Metadata 6 0 R >>",
                           6: stream(bomb, b"/Type /Metadata /Subtype /XML /Filter /FlateDecode ")})


def kids_cycle(path: Path) -> Path:
    """The page tree's /Kids point back at the root: a loop."""
    return _variant(path, {2: b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>"})


def parent_cycle(path: Path) -> Path:
    """Two /Pages nodes each other's /Parent and /Kids, and a page whose /Parent is itself."""
    return _variant(path, {
        2: b"<< /Type /Pages /Kids [6 0 R] /Count 1 /Parent 6 0 R >>",
        6: b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 1 /Parent 2 0 R >>",
        3: b"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
    })


def huge_page_tree(path: Path, pages: int) -> Path:
    """`pages` real (tiny) pages in one flat /Kids array."""
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 4: stream(b"")}
    kids = []
    for i in range(pages):
        num = 5 + i
        kids.append(b"%d 0 R" % num)
        objs[num] = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] /Contents 4 0 R >>"
    objs[2] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + b"] /Count %d >>" % pages
    objs[3] = b"null"
    return write_pdf(path, objs)


def count_lie(path: Path) -> Path:
    """/Count says a billion pages; the tree holds one."""
    return _variant(path, {2: b"<< /Type /Pages /Kids [3 0 R] /Count 1000000000 >>"})


def object_count_lie(path: Path) -> Path:
    """The trailer's /Size claims 10^9 objects."""
    return write_pdf(path, _page_objects(), size=1_000_000_000)


def deep_arrays(path: Path, depth: int = 100_000) -> Path:
    """An array nested `depth` levels deep (recursive-descent parsers overflow)."""
    return _variant(path, {6: b"[" * depth + b"]" * depth, 1: b"<< /Type /Catalog /Pages 2 0 R /Deep 6 0 R >>"})


def javascript(path: Path) -> Path:
    return _variant(path, {1: b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>",
                           6: b"<< /S /JavaScript /JS (app.alert\\('hi'\\);) >>"})


def embedded_file(path: Path) -> Path:
    return _variant(path, {
        1: b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(a.exe) 6 0 R] >> >> >>",
        6: b"<< /Type /Filespec /F (a.exe) /EF << /F 7 0 R >> >>",
        7: stream(b"MZ\x90\x00not really", b"/Type /EmbeddedFile "),
    })


def xref_loop(path: Path) -> Path:
    """Incremental sections whose /Prev point at each other."""
    p = write_pdf(path, _page_objects())
    data = p.read_bytes()
    second = len(data)
    data += (b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 6 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
             % (second, second))
    data = data.replace(b"trailer\n<< /Size 6 /Root 1 0 R >>", b"trailer\n<< /Size 6 /Root 1 0 R /Prev %d>>" % second)
    p.write_bytes(data)
    return p


PDF_CASES = {
    "flate_bomb_2GiB": flate_bomb,
    "kids_cycle": kids_cycle,
    "parent_cycle": parent_cycle,
    "page_count_lie": count_lie,
    "object_count_lie": object_count_lie,
    "deep_arrays_100k": deep_arrays,
    "javascript_openaction": javascript,
    "embedded_file": embedded_file,
    "xref_prev_loop": xref_loop,
}


# --- running the pipeline on them, in a child ------------------------------------------------------------

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from gateway.settings import load_settings
from gateway.pipeline import Pipeline
from gateway.model import Channel, Document
from gateway.errors import GatewayError
cfg = json.loads(sys.argv[2])
settings = load_settings(var_dir=Path(cfg["var_dir"]), limits=cfg["limits"])
out = {}
with Pipeline(settings) as p:
    for path in cfg["paths"]:
        t0 = time.monotonic()
        try:
            r = p.check(Document(channel=Channel(cfg["channel"]), name=Path(path).name, path=Path(path)))
            res = {"outcome": str(r.outcome), "reasons": [x.code for x in r.decision.reasons],
                   "warnings": [x.code for x in r.warnings]}
        except GatewayError as exc:
            res = {"outcome": "error:" + type(exc).__name__, "reasons": [exc.code], "warnings": []}
        except BaseException as exc:
            res = {"outcome": "crash:" + type(exc).__name__, "reasons": [str(exc)[:200]], "warnings": []}
        res["seconds"] = round(time.monotonic() - t0, 3)
        res["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        out[path] = res
print(json.dumps(out))
"""


def decide_in_child(paths: list[Path], var_dir: Path, *, channel: str = "folder", memory_bytes: int = 3 << 30,
                    timeout: float = 300, **limits) -> dict[str, dict]:
    cfg = {"var_dir": str(var_dir), "paths": [str(p) for p in paths], "limits": limits, "channel": channel}
    res = subprocess.run([sys.executable, "-c", _CHILD, str(memory_bytes), json.dumps(cfg)], capture_output=True,
                         text=True, timeout=timeout)
    if res.returncode != 0:
        raise AssertionError(f"child died ({res.returncode}): {res.stderr[-2000:]}")
    return {Path(k).name: v for k, v in json.loads(res.stdout.strip().splitlines()[-1]).items()}
