"""The command line from any directory, quiet, and never overwriting silently (issue 16 §2, §3).

End-to-end: `gateway` as a real process. For "any directory" the package runs from a copy of the source
checkout in a temporary folder (its own `var/`), so the test shows the environment is found from the
package's location, not from the current directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from util import make_pdf

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.hsm


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "KYSO_CONFIG"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _gateway(args, *, cwd: Path, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A copy of the source checkout (package, policies, pyproject.toml) without var/."""
    root = tmp_path_factory.mktemp("checkout") / "kyso-gateway"
    shutil.copytree(ROOT / "gateway", root / "gateway", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "policies", root / "policies")
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def _which_package(checkout: Path, cwd: Path) -> str:
    p = subprocess.run([sys.executable, "-c", "import gateway; print(gateway.__file__)"], cwd=cwd,
                       env=_clean_env(PYTHONPATH=checkout), capture_output=True, text=True, check=True)
    return p.stdout.strip()


def test_no_environment_is_said_plainly_and_nothing_is_created(checkout, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert _which_package(checkout, elsewhere).startswith(str(checkout))
    signed = elsewhere.parent / "x.pdf"
    make_pdf(signed)
    env = _clean_env(PYTHONPATH=checkout)
    for args in (["verify", signed], ["log", "show"], ["sign", signed, "-o", elsewhere.parent / "y.pdf"]):
        p = _gateway(args, cwd=elsewhere, env=env)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert "ENVIRONMENT_MISSING" in p.stderr and str(checkout / "var") in p.stderr, p.stderr
        assert "gateway dev-init" in p.stderr
    assert list(elsewhere.iterdir()) == []  # no stray decision log, no var/
    assert not (checkout / "var").exists()


def test_environment_found_from_any_directory(checkout, dev_settings, tmp_path):
    shutil.copytree(dev_settings.var_dir, checkout / "var", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("audit.sqlite3*", "log"))
    try:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        env = _clean_env(PYTHONPATH=checkout)
        src = make_pdf(tmp_path / "cong-van.pdf")
        out = tmp_path / "cong-van-signed.pdf"
        p = _gateway(["sign", src, "-o", out], cwd=elsewhere, env=env)
        assert p.returncode == 0, (p.stdout, p.stderr)  # the HSM is found: not "unavailable"
        p = _gateway(["verify", out], cwd=elsewhere, env=env)
        assert p.returncode == 0, p.stdout + p.stderr  # the trust roots are found: not INVALID
        assert "HỢP LỆ / VALID" in p.stdout and "tin cậy / trusted" in p.stdout
        p = _gateway(["log", "show"], cwd=elsewhere, env=env)
        assert p.returncode == 0 and "cong-van.pdf" in p.stdout
        assert list(elsewhere.iterdir()) == []  # the log is the project's, not a new one here
        assert (checkout / "var" / "audit.sqlite3").is_file()
    finally:
        shutil.rmtree(checkout / "var")


def _signed_by_a_stranger(path: Path) -> Path:
    """A PDF signed with a self-signed certificate: validating it, pyHanko logs a warning with a traceback."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Người lạ (không tin cậy)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    k, c = path.with_suffix(".key"), path.with_suffix(".crt")
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    plain = make_pdf(path.with_name("plain-" + path.name))
    with open(plain, "rb") as fh, open(path, "wb") as out:
        signers.sign_pdf(IncrementalPdfFileWriter(fh), signers.PdfSignatureMetadata(field_name="NguoiLa"),
                         signer=signers.SimpleSigner.load(str(k), str(c)), output=out)
    for extra in (k, c, plain):
        extra.unlink()
    return path


def test_batch_is_quiet_and_never_overwrites_silently(dev_settings, tmp_path):
    env = _clean_env(GATEWAY_VAR_DIR=dev_settings.var_dir, GATEWAY_AUDIT__PATH=tmp_path / "audit.sqlite3",
                     GATEWAY_SIGNING__WORKERS=2)
    inbox, out = tmp_path / "in", tmp_path / "out"
    make_pdf(inbox / "a.pdf")
    make_pdf(inbox / "b.pdf")
    _signed_by_a_stranger(inbox / "c.pdf")
    log_file = Path(dev_settings.var_dir) / "log" / "cli.log"
    before = log_file.stat().st_size if log_file.exists() else 0

    p = _gateway(["sign", inbox, "-o", out], cwd=tmp_path, env=env)
    assert p.returncode in (0, 3), p.stderr
    progress = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(progress) == 3 and all(line.startswith("[") for line in progress), p.stderr
    for text in (p.stdout, p.stderr):
        assert "Traceback" not in text and "WARNING" not in text and "pyhanko" not in text
    logged = log_file.read_text(encoding="utf-8")[before:]
    assert "Traceback" in logged and "pyhanko" in logged  # the library's warning went to the log
    first = {f.name: f.read_bytes() for f in out.iterdir()}
    assert {"a.pdf", "b.pdf"} <= set(first)

    again = _gateway(["sign", inbox, "-o", out], cwd=tmp_path, env=env)
    assert {f.name: f.read_bytes() for f in out.iterdir()} == first  # nothing replaced
    assert again.stdout.count("BỎ QUA") == len(first) and "--overwrite" in again.stdout
    assert f"skipped, already there {len(first)}" in again.stdout

    verbose = _gateway(["sign", "-v", "--overwrite", inbox, "-o", out], cwd=tmp_path, env=env)
    assert "pyhanko" in verbose.stderr  # -v shows what the libraries said
    assert (out / "a.pdf").read_bytes() != first["a.pdf"]  # replaced: signed again (a new signing time)
    assert "BỎ QUA" not in verbose.stdout


def test_one_file_onto_another_existing_file_is_a_usage_error(dev_settings, tmp_path):
    env = _clean_env(GATEWAY_VAR_DIR=dev_settings.var_dir, GATEWAY_AUDIT__PATH=tmp_path / "audit.sqlite3")
    src = make_pdf(tmp_path / "a.pdf")
    dst = tmp_path / "b.pdf"
    dst.write_bytes(b"someone else's file")
    p = _gateway(["sign", src, "-o", dst], cwd=tmp_path, env=env)
    assert p.returncode == 2 and "--overwrite" in p.stderr and dst.read_bytes() == b"someone else's file"
    p = _gateway(["sign", src, "-o", dst, "--overwrite"], cwd=tmp_path, env=env)
    assert p.returncode == 0 and dst.read_bytes().startswith(b"%PDF")


def test_ocr_library_noise_stays_out_of_a_clerks_terminal():
    """Leptonica, under Tesseract, printed its internal errors to stderr ("Error in pixScaleAreaMap: pixd too
    small" and three more English lines in a clerk's `gateway check` output for one scan: a step Tesseract
    recovers from). Once the OCR engine is loaded, a leptonica error prints nothing (one provoked here: pixClone
    of nothing, which prints "Error in pixClone" by default)."""
    code = (
        "import ctypes\n"
        "from gateway.inspect import ocr\n"
        "ocr.engine()\n"
        "libs = {l.split()[-1] for l in open('/proc/self/maps') if 'lept' in l.rsplit('/', 1)[-1]}\n"
        "assert libs, 'no leptonica loaded'\n"
        "for lib in libs:\n"
        "    ctypes.CDLL(lib).pixClone(None)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "Error in" not in p.stderr, p.stderr
