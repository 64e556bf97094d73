"""Validation: existing signatures verified per second, offline, CRL from the local cache (var/pki/ca.crl).

  pyhanko      plain pyHanko: validate_pdf_signature with a ValidationContext (dev root, CA, CRL given,
               no fetching, hard-fail revocation): the baseline
  gateway      gateway.validation.Validator(settings).validate_pdf (one Validator, reused)
Input: N PDFs (50 KB and 1 MB) signed once with the dev organisation key.
Goal (issue 8): <= 20 ms per signature.

    .venv/bin/python -m bench.bench_validation [--smoke] [--n N]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench.common import (
    KB,
    MB,
    PyHankoBaseline,
    arg_parser,
    bench_env,
    pdf_corpus,
    print_table,
    ratio,
    summarize,
    write_json,
)

NAME = "validation"


def signed_corpus(env, out: Path, label: str, size: int, n: int) -> list[Path]:
    src = pdf_corpus(out / "pdfs", label, size, n)
    d = out / "pdfs" / "signed"
    d.mkdir(parents=True, exist_ok=True)
    todo = [(s, d / s.name) for s in src if not (d / s.name).exists()]
    if todo:
        base = PyHankoBaseline(env.token)
        for s, dst in todo:
            base.sign(s, dst.with_suffix(".tmp"))
            dst.with_suffix(".tmp").replace(dst)
        base.close()
    return [d / s.name for s in src]


def pyhanko_validate(env, paths: list[Path]) -> tuple[list[float], int]:
    from asn1crypto import crl as asn1_crl
    from pyhanko.keys import load_cert_from_pemder
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    pki = env.settings.paths.pki
    vc_args = dict(
        trust_roots=[load_cert_from_pemder(str(pki / "root.pem"))],
        other_certs=[load_cert_from_pemder(str(pki / "ca.pem"))],
        crls=[asn1_crl.CertificateList.load((pki / "ca.crl").read_bytes())],
        allow_fetching=False,
        revocation_mode="hard-fail",
    )
    times, ok = [], 0
    for i, p in enumerate([paths[0], *paths]):
        t0 = time.perf_counter()
        with open(p, "rb") as fh:
            sig = PdfFileReader(fh).embedded_signatures[0]
            status = validate_pdf_signature(sig, ValidationContext(**vc_args))
        if i:  # first = warm-up
            times.append(time.perf_counter() - t0)
            ok += bool(status.bottom_line)
    return times, ok


def gateway_validate(env, paths: list[Path]) -> tuple[list[float], int]:
    from gateway.validation import Validator

    v = Validator(env.settings)
    times, ok = [], 0
    for i, p in enumerate([paths[0], *paths]):
        t0 = time.perf_counter()
        facts = v.validate_pdf(p)
        if i:
            times.append(time.perf_counter() - t0)
            ok += all(f.valid for f in facts) and len(facts) == 1
    return times, ok


def main(argv: list[str] | None = None) -> int:
    p = arg_parser(__doc__.splitlines()[0], default_n=40)
    a = p.parse_args(argv)
    n = a.n or (3 if a.smoke else 40)
    env = bench_env(a.out)
    if not env.has_gateway:
        print("bench_validation: needs the dev PKI from gateway.devinit; nothing to do", file=sys.stderr)
        write_json(a.out, NAME, {"smoke": a.smoke, "results": {}})
        return 0
    try:
        import gateway.validation  # noqa: F401

        have = True
    except ImportError:
        have = False
    res: dict = {}
    rows = []
    for label, size in ([("50k", 50 * KB)] if a.smoke else [("50k", 50 * KB), ("1m", MB)]):
        paths = signed_corpus(env, a.out, label, size, n)
        t, ok = pyhanko_validate(env, paths)
        r = {"pyhanko": {"ms": summarize(t, 1000.0), "per_s": len(t) / sum(t), "valid": ok}}
        rows.append((label, "pyhanko validate_pdf_signature", len(t), r["pyhanko"]["per_s"],
                     r["pyhanko"]["ms"]["p50"], 1.0, f"valid {ok}/{len(t)}"))
        if have:
            t, ok = gateway_validate(env, paths)
            r["gateway"] = {"ms": summarize(t, 1000.0), "per_s": len(t) / sum(t), "valid": ok}
            rows.append((label, "gateway Validator.validate_pdf", len(t), r["gateway"]["per_s"],
                         r["gateway"]["ms"]["p50"], ratio(r["gateway"]["per_s"], r["pyhanko"]["per_s"]),
                         f"valid {ok}/{len(t)}"))
        res[label] = r
    print_table("Validation of one existing signature per PDF (offline, local CRL)",
                ["size", "case", "n", "sigs/s", "p50 ms", "ratio", "notes"], rows)
    write_json(a.out, NAME, {"smoke": a.smoke, "results": res})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
