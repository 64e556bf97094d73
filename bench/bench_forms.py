"""Kind inference on a generated set of Decree 30 documents, text and scanned: the confusion table (issue 14).

    .venv/bin/python -m bench.bench_forms [--smoke] [--out DIR] [--only NAME-PREFIX]

Every sample of tests/forms_samples.py (issued documents of many types, appendices, copies, correspondence; A4,
A5, landscape, rotated; each as a text PDF and as an image-only scan) goes through `gateway.inspect.inspect` —
the readers, then `gateway.inspect.forms` — and the inferred kind is compared with the sample's. A scan's text
comes from the readers' OCR when the gateway has it (gateway/inspect/ocr.py); until then from Tesseract run
here (forms_samples.ocr_lines) and `forms.recognise` directly, which the table says. The baseline in the same
run is the time to read the text without recognising the form (the recogniser's own cost is the difference).
Exit status 1 when any sample gets a wrong kind.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="text samples and four scans only")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    ap.add_argument("--only", default="")
    args = ap.parse_args(argv)

    import forms_samples as fs

    from gateway.inspect import forms
    from gateway.model import Channel, Document, DocKind
    from gateway.settings import load_settings

    settings = load_settings()
    have_ocr = _reader_ocr()
    samples = [s for s in fs.samples() if s.name.startswith(args.only)]
    if args.smoke:
        scans = [s for s in samples if s.scanned][:4]
        samples = [s for s in samples if not s.scanned] + scans
    pdf_dir = args.out / "forms-pdfs"
    kinds = [DocKind.ISSUED, DocKind.ATTACHMENT, DocKind.COPY, DocKind.CORRESPONDENCE]
    table: Counter = Counter()
    wrong = []
    t_recognise = t_read = 0.0
    for s in samples:
        path = fs.build(s, pdf_dir)
        if s.scanned and not have_ocr:
            t0 = time.perf_counter()
            lines = fs.ocr_lines(path)
            t1 = time.perf_counter()
            form = forms.recognise(lines)
            t2 = time.perf_counter()
        else:
            from gateway.inspect import inspect

            doc = Document(Channel.CLI, path.name, path=path)
            t0 = time.perf_counter()
            facts = inspect(doc, settings, None)
            t1 = time.perf_counter()
            form = facts.form
            t2 = t1
            if form is not None:  # the recogniser's share, measured apart
                from gateway.inspect import pdf as _  # noqa: F401
            t2 = t1 + _time_recognise(path, settings)
        t_read += t1 - t0
        t_recognise += t2 - t1
        got = form.kind if form else None
        table[(s.kind, got)] += 1
        if got is not s.kind:
            wrong.append((s.name, s.kind, got, form.basis if form else "-"))
    width = max(len(k.value) for k in kinds) + 2
    print(f"Kind inference on {len(samples)} generated documents "
          f"({sum(s.scanned for s in samples)} scanned; OCR by {'the readers' if have_ocr else 'tesseract in the bench'})")
    print("expected \\ inferred".ljust(22) + "".join(k.value.ljust(width) for k in kinds) + "none")
    print("-" * (22 + width * len(kinds) + 4))
    for exp in kinds:
        row = "".join(str(table[(exp, got)]).ljust(width) for got in kinds) + str(table[(exp, None)])
        print(exp.value.ljust(22) + row)
    print(f"correct {sum(table[(k, k)] for k in kinds)}/{len(samples)}; "
          f"form recognition {t_recognise * 1000 / max(1, len(samples)):.2f} ms/doc vs reading "
          f"{t_read * 1000 / max(1, len(samples)):.1f} ms/doc (ratio {t_recognise / max(t_read, 1e-9):.3f})")
    for name, exp, got, basis in wrong:
        print(f"  WRONG {name}: expected {exp.value}, inferred {got and got.value} ({basis})")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "forms.json"
    out.write_text(json.dumps({
        "bench": "forms", "smoke": args.smoke, "documents": len(samples),
        "scanned": sum(s.scanned for s in samples), "ocr": "readers" if have_ocr else "bench-tesseract",
        "confusion": {f"{e.value}->{g.value if g else 'none'}": n for (e, g), n in table.items()},
        "wrong": [w[0] for w in wrong],
        "machine": _machine(),
    }, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"-> {out}")
    return 1 if wrong else 0


def _time_recognise(path: Path, settings) -> float:
    """Seconds `forms.recognise` takes on this document's lines (read again, outside the timing)."""
    from gateway.inspect import forms
    from gateway.inspect import pdf as pdf_reader
    from gateway.model import Channel, Document

    doc = Document(Channel.CLI, path.name, path=path)
    with open(path, "rb") as fh:
        pdf = pdf_reader.analyse(fh, settings, doc, time.monotonic() + 30)
    t0 = time.perf_counter()
    forms.recognise(pdf.lines)
    return time.perf_counter() - t0


def _reader_ocr() -> bool:
    try:
        import gateway.inspect.ocr  # noqa: F401  (the secrecy line's OCR reader)
    except ImportError:
        return False
    return True


def _machine() -> dict:
    import os
    import platform
    from datetime import datetime, timezone

    return {"date": datetime.now(timezone.utc).isoformat(), "cpus": os.cpu_count(),
            "versions": {"python": platform.python_version()}}


if __name__ == "__main__":
    raise SystemExit(main())
