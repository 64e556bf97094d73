"""What every benchmark shares: timing, percentiles, peak memory, PDFs of a given size, the dev token,
the pyHanko baseline, JSON output and tables.

Figures are only meaningful as ratios against a baseline measured in the same run: the machine is a
noisy 2-core VM. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_OUT = BENCH_DIR / "out"
KB = 1024
MB = 1024 * 1024


# --- command line ---------------------------------------------------------------------------------


def arg_parser(description: str, *, default_n: int | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="tiny run (seconds) to keep the script working")
    if default_n is not None:
        p.add_argument("--n", type=int, default=None, help=f"documents per case (default {default_n})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where JSON and the dev environment go")
    return p


# --- timing and statistics ------------------------------------------------------------------------


@contextmanager
def timed(into: list[float] | None = None):
    """`with timed() as t: ...; t()` -> seconds; or append the seconds to `into`."""
    start = time.perf_counter()
    box: list[float] = []
    yield lambda: box[0] if box else time.perf_counter() - start
    box.append(time.perf_counter() - start)
    if into is not None:
        into.append(box[0])


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN for no values."""
    if not values:
        return math.nan
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarize(values: Sequence[float], scale: float = 1.0) -> dict[str, float]:
    """min/mean/p50/p95/p99/max of `values` multiplied by `scale` (1000.0: seconds -> ms)."""
    if not values:
        return {k: math.nan for k in ("n", "min", "mean", "p50", "p95", "p99", "max")}
    return {
        "n": len(values),
        "min": min(values) * scale,
        "mean": sum(values) / len(values) * scale,
        "p50": percentile(values, 50) * scale,
        "p95": percentile(values, 95) * scale,
        "p99": percentile(values, 99) * scale,
        "max": max(values) * scale,
    }


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


# --- memory ---------------------------------------------------------------------------------------


def proc_status_kb(pid: int | str = "self") -> dict[str, int]:
    """VmRSS / VmHWM (peak) / VmSize of a live process from /proc, in kB; {} when it is gone."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:", "VmSize:")):
                    key, val = line.split(":", 1)
                    out[key] = int(val.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return out


def descendants(pid: int) -> list[int]:
    """All live descendants of `pid` (reads /proc/*/stat; no psutil)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name may contain spaces and parentheses: ppid is the 2nd field after the last ')'
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


class PeakSampler:
    """Samples the peak RSS (VmHWM) of each process in a tree while it runs, every `interval` seconds.

    VmHWM is kept by the kernel, so sampling only has to catch each process once before it exits.
    """

    def __init__(self, root_pid: int | None = None, interval: float = 0.05) -> None:
        self.root = root_pid or os.getpid()
        self.interval = interval
        self.peaks_kb: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-sampler", daemon=True)

    def _sample(self) -> None:
        for pid in [self.root, *descendants(self.root)]:
            hwm = proc_status_kb(pid).get("VmHWM")
            if hwm:
                self.peaks_kb[pid] = max(hwm, self.peaks_kb.get(pid, 0))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "PeakSampler":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def children_peak_mb(self) -> float:
        """The largest peak among the descendants (e.g. the signing worker), MB."""
        vals = [v for p, v in self.peaks_kb.items() if p != self.root]
        return max(vals) / 1024 if vals else math.nan


@dataclass(frozen=True)
class ChildRun:
    rc: int
    wall_s: float
    maxrss_mb: float  # wait4() ru_maxrss: at least the parent's RSS at fork (kept across exec); prefer VmHWM
    stdout: str
    stderr: str

    def json(self) -> Any:
        """The last line of stdout, parsed: how child processes hand back their own timings."""
        lines = [ln for ln in self.stdout.splitlines() if ln.strip()]
        return json.loads(lines[-1]) if lines else None


def run_child(argv: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 900.0) -> ChildRun:
    """Run one process and report its wall time and its wait4() ru_maxrss (per child, unlike
    RUSAGE_CHILDREN). Linux keeps the high-water mark across fork+exec, so ru_maxrss is never below the
    parent's RSS at fork: a child that needs its true peak reports its own /proc/self VmHWM."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, env=env)
        deadline = start + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        out.seek(0)
        err.seek(0)
        return ChildRun(
            rc=proc.returncode,
            wall_s=wall,
            maxrss_mb=ru.ru_maxrss / 1024,  # Linux: kB
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def self_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- PDFs of a given size -------------------------------------------------------------------------


def write_pdf(path: Path, bodies: list[bytes]) -> Path:
    """A PDF of the object `bodies` as given, numbered from 1 (the catalog first), with a classic xref: for
    files whose every byte a test chooses (the PDF libraries here compress, reorder and fix things)."""
    buf, offsets = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), []
    for n, body in enumerate(bodies, 1):
        offsets.append(len(buf))
        buf += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(buf)
    buf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    buf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(bodies) + 1, xref)
    path.write_bytes(bytes(buf))
    return path


def make_pdf(path: Path, size: int, *, pages: int = 1, title: str = "Cong van so 123/UBND-VP") -> Path:
    """A valid PDF of about `size` bytes: one line of text per page plus an incompressible greyscale
    image (like a scanned page) carrying the bulk. Written in 8 MB chunks, so 200 MB costs little memory.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    pages = max(1, pages)
    per_page = max(0, size - 1500 * pages) // pages
    width = 1024
    height = max(1, per_page // width)
    img_len = width * height
    objs: list[int] = []  # byte offsets, object n at index n-1
    n_fixed = 3  # catalog, pages, font
    page_ids = [n_fixed + 1 + 3 * i for i in range(pages)]
    with open(path, "wb") as fh:

        def obj(body: bytes) -> None:
            objs.append(fh.tell())
            fh.write(b"%d 0 obj\n" % len(objs) + body + b"\nendobj\n")

        fh.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        obj(b"<< /Type /Catalog /Pages 2 0 R >>")
        kids = b" ".join(b"%d 0 R" % p for p in page_ids)
        obj(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages))
        obj(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
        for i, pid in enumerate(page_ids):
            content, image = pid + 1, pid + 2
            obj(
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
                b"/Resources << /Font << /F1 3 0 R >> /XObject << /Im1 %d 0 R >> >> >>" % (content, image)
            )
            text = f"{title} - trang {i + 1}".encode("ascii", "replace")
            ops = b"q 500 0 0 %d 47 100 cm /Im1 Do Q BT /F1 12 Tf 72 780 Td (%s) Tj ET" % (
                max(1, 500 * height // width),
                text,
            )
            z = zlib.compress(ops)
            obj(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(z) + z + b"\nendstream")
            objs.append(fh.tell())
            fh.write(
                b"%d 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Length %d >>\nstream\n" % (len(objs), width, height, img_len)
            )
            left = img_len
            while left:
                chunk = min(left, 8 * MB)
                fh.write(os.urandom(chunk))
                left -= chunk
            fh.write(b"\nendstream\nendobj\n")
        xref = fh.tell()
        fh.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
        for off in objs:
            fh.write(b"%010d 00000 n \n" % off)
        fh.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return path


def pdf_corpus(dir: Path, label: str, size: int, count: int) -> list[Path]:
    """`count` distinct PDFs of `size` (distinct bytes: nothing can be cached by content), reused
    between runs when already there."""
    dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        p = dir / f"{label}-{i:04d}.pdf"
        if not p.exists() or abs(p.stat().st_size - size) > size // 10 + 4096:
            make_pdf(p.with_suffix(".tmp"), size).replace(p)
        paths.append(p)
    return paths


# --- the token and the dev environment ------------------------------------------------------------


@dataclass(frozen=True)
class TokenRef:
    """Enough to open the organisation key with plain python-pkcs11 / pyHanko (the baseline side)."""

    module: str
    token_label: str
    key_label: str
    cert_label: str | None
    pin: str = field(repr=False)
    softhsm2_conf: str | None
    cert_pem: str | None = None  # when the certificate is not on the token


@dataclass
class BenchEnv:
    """A dev environment for benches under <out>/var: the gateway's own (dev_init) when it exists,
    else a throwaway SoftHSM token with a self-signed key, enough for the baselines."""

    root: Path
    token: TokenRef
    settings: Any = None  # gateway.settings.Settings when dev_init ran

    @property
    def has_gateway(self) -> bool:
        return self.settings is not None

    def apply_env(self) -> None:
        """Export SOFTHSM2_CONF before any PKCS#11 module is loaded in this process."""
        if self.token.softhsm2_conf:
            os.environ["SOFTHSM2_CONF"] = self.token.softhsm2_conf


def bench_env(out: Path, *, require_gateway: bool = False, **overrides: Any) -> BenchEnv:
    """The bench environment under `out`/var (created once, then reused)."""
    var = (out / "var").resolve()
    try:
        from gateway.devinit import dev_init  # SIGNING helper's
    except ImportError:
        if require_gateway:
            raise
        return _throwaway_env(out / "var-throwaway")
    from gateway.settings import load_settings

    settings = load_settings(None, var_dir=var, **overrides)
    marker = var / ".bench-ready"
    if not marker.exists():
        var.mkdir(parents=True, exist_ok=True)
        try:
            dev_init(settings)
        except Exception as exc:  # noqa: BLE001 - dev_init still being built: baselines can still run
            if require_gateway:
                raise
            print(f"bench: dev_init failed ({type(exc).__name__}: {exc}); using a throwaway token", file=sys.stderr)
            return _throwaway_env(out / "var-throwaway")
        marker.write_text(datetime.now(timezone.utc).isoformat())
    t = settings.token
    ref = TokenRef(
        module=str(t.module),
        token_label=t.token_label,
        key_label=t.key_label,
        cert_label=t.cert_label or t.key_label,
        pin=t.read_pin(),
        softhsm2_conf=str(t.softhsm2_conf) if t.softhsm2_conf else None,
    )
    env = BenchEnv(root=var, token=ref, settings=settings)
    env.apply_env()
    return env


SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def _throwaway_env(root: Path) -> BenchEnv:
    """A private SoftHSM token 'BENCH' with an RSA-3072 key imported from a software key and a
    self-signed certificate kept in a file. Only for baselines while dev_init has not landed."""
    root = root.resolve()
    conf = root / "softhsm2.conf"
    cert_pem = root / "org.pem"
    ref = TokenRef(SOFTHSM_MODULE, "BENCH", "kyso-org", None, "123456", str(conf), str(cert_pem))
    if (root / ".ready").exists():
        env = BenchEnv(root, ref)
        env.apply_env()
        return env
    shutil.rmtree(root, ignore_errors=True)
    (root / "tokens").mkdir(parents=True)
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "BENCH", "--pin", ref.pin, "--so-pin", "654321"],
        env=env, check=True, capture_output=True,
    )
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Kyso bench org (throwaway)")])
    now = datetime.now(timezone.utc)
    from datetime import timedelta

    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = root / "key.pem"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    try:
        subprocess.run(
            ["softhsm2-util", "--import", str(key_file), "--token", "BENCH", "--label", "kyso-org", "--id", "01",
             "--pin", ref.pin],
            env=env, check=True, capture_output=True,
        )
    finally:
        key_file.unlink()
    (root / ".ready").write_text("ok")
    out = BenchEnv(root, ref)
    out.apply_env()
    return out


# --- the pyHanko baseline -------------------------------------------------------------------------


class PyHankoBaseline:
    """A plain pyHanko loop with the same token key: one session, one PKCS11Signer, PAdES B-B,
    invisible signature field, output to a file. What a competent programmer would write by hand."""

    def __init__(self, token: TokenRef) -> None:
        if token.softhsm2_conf:
            os.environ["SOFTHSM2_CONF"] = token.softhsm2_conf
        import pkcs11
        from pyhanko.sign import signers
        from pyhanko.sign.fields import SigSeedSubFilter
        from pyhanko.sign.pkcs11 import PKCS11Signer

        self._lib = pkcs11.lib(token.module)
        self._session = self._lib.get_token(token_label=token.token_label).open(user_pin=token.pin)
        cert = None
        if token.cert_pem:
            from pyhanko.keys import load_cert_from_pemder

            cert = load_cert_from_pemder(token.cert_pem)
        self.signer = PKCS11Signer(
            self._session,
            key_label=token.key_label,
            cert_label=None if cert is not None else token.cert_label,
            signing_cert=cert,
        )
        self._meta = signers.PdfSignatureMetadata(
            field_name="Signature1", subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256"
        )

    def sign(self, src: Path, dst: Path) -> None:
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import signers

        with open(src, "rb") as inf, open(dst, "w+b") as outf:  # readable: pyHanko hashes it in place
            w = IncrementalPdfFileWriter(inf)
            signers.PdfSigner(self._meta, self.signer).sign_pdf(w, output=outf)

    def raw_sign(self, data: bytes) -> bytes:
        """One key operation (SHA-256 + RSA PKCS#1 v1.5 on the token): the HSM's own cost."""
        import asyncio

        return asyncio.run(self.signer.async_sign_raw(data, "sha256"))

    def close(self) -> None:
        self._session.close()


# --- output ---------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions: dict[str, str] = {}
    for mod in ("pyhanko", "pkcs11", "aiosmtpd", "aiosmtplib"):
        try:
            from importlib.metadata import version

            versions[mod] = version({"pkcs11": "python-pkcs11", "pyhanko": "pyHanko"}.get(mod, mod))
        except Exception:  # noqa: BLE001 - informational only
            pass
    try:
        versions["softhsm"] = subprocess.run(["softhsm2-util", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def write_json(out: Path, name: str, data: dict[str, Any]) -> Path:
    """Write <out>/<name>.json (with machine info and whether it was a smoke run) and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    doc = {"bench": name, "machine": machine_info(), **data}
    tmp = path.with_suffix(".tmp")
    text = json.dumps(_no_nan(doc), indent=2, ensure_ascii=False, default=_jsonable, allow_nan=False)
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    print(f"-> {path}")
    return path


def _no_nan(o: Any) -> Any:
    """NaN (a figure that could not be measured) becomes null: strict JSON."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _no_nan(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_no_nan(v) for v in o]
    return o


def _jsonable(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    return str(o)


def fmt(v: Any, digits: int = 2) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return f"{v:,.{digits}f}"
    return str(v)


def print_table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]], file=None) -> None:
    file = file or sys.stdout
    rows = [list(r) for r in rows]
    cells = [[fmt(c) for c in r] for r in rows]
    numeric = [all(isinstance(r[i], (int, float)) for r in rows) if rows else False for i in range(len(headers))]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}", file=file)
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for r in cells:
        print("  ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))),
              file=file)
    file.flush()


def wait_until(pred: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()
