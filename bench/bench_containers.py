"""Containers: a .zip of 10 PDFs through the pipeline vs the same 10 PDFs sent one by one, same run.

Cases (in this process, sequentially, the same 10 distinct 100 KB PDFs):
  10 PDFs one by one   Pipeline.process of each PDF: the baseline
  zip of 10 PDFs       Pipeline.process of a .zip holding them: extract, inspect and decide each, sign each,
                       rebuild, read back and check every member, one record per member
  tar.gz / 7z          the same with the other archivers (7z through py7zr)
  zip, check only      Pipeline.check (dry run): the reading and deciding alone
The figure that matters: the container's time over the baseline's (what rebuilding and checking add).
The SMTP row (a mail carrying the zip) belongs to bench_smtp once the SMTP door submits whole messages.

    .venv/bin/python -m bench.bench_containers [--smoke] [--n 10]
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from bench.common import KB, arg_parser, bench_env, pdf_corpus, print_table, ratio, summarize, write_json

NAME = "containers"


def main(argv: list[str] | None = None) -> int:
    p = arg_parser(__doc__.splitlines()[0], default_n=10)
    p.add_argument("--repeat", type=int, default=None, help="runs of each case (default 3; smoke 1)")
    args = p.parse_args(argv)
    n = args.n or (3 if args.smoke else 10)
    repeat = args.repeat or (1 if args.smoke else 3)
    env = bench_env(args.out, require_gateway=True)
    from gateway.model import Channel, DocKind, Document
    from gateway.pipeline import Pipeline

    work = args.out / "containers"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    pdfs = pdf_corpus(args.out / "pdfs", "c100k", 100 * KB, n)
    src = work / "src"
    src.mkdir()
    for i, pdf in enumerate(pdfs):
        shutil.copy(pdf, src / f"van-ban-{i:02d}.pdf")
    names = sorted(x.name for x in src.iterdir())
    subprocess.run(["zip", "-q", str(work / "ho-so.zip"), *names], cwd=src, check=True)
    subprocess.run(["tar", "-czf", str(work / "ho-so.tar.gz"), *names], cwd=src, check=True)
    import py7zr

    with py7zr.SevenZipFile(work / "ho-so.7z", "w") as z:
        for name in names:
            z.write(src / name, name)

    def doc(path: Path) -> Document:
        return Document(channel=Channel.FOLDER, name=path.name, path=path, kind=DocKind.CORRESPONDENCE)

    results: dict = {"n_pdfs": n, "repeat": repeat}
    with Pipeline(env.settings) as pipeline:
        pipeline.process(doc(src / names[0]), out_dir=work / "warm")  # HSM session, imports, fonts
        cases = {
            "pdfs_one_by_one": lambda out: [pipeline.process(doc(src / x), out_dir=out) for x in names],
            "zip": lambda out: [pipeline.process(doc(work / "ho-so.zip"), out_dir=out)],
            "tar_gz": lambda out: [pipeline.process(doc(work / "ho-so.tar.gz"), out_dir=out)],
            "7z": lambda out: [pipeline.process(doc(work / "ho-so.7z"), out_dir=out)],
            "zip_check": lambda out: [pipeline.check(doc(work / "ho-so.zip"))],
        }
        for case, run in cases.items():
            times, outcomes = [], []
            for r in range(repeat):
                out = work / f"out-{case}-{r}"
                t0 = time.perf_counter()
                res = run(out)
                times.append(time.perf_counter() - t0)
                outcomes += [str(x.outcome) for x in res]
                shutil.rmtree(out, ignore_errors=True)
            results[case] = {"s": summarize(times), "outcomes": sorted(set(outcomes))}
    base = results["pdfs_one_by_one"]["s"]["p50"]
    rows = []
    for case in cases:
        p50 = results[case]["s"]["p50"]
        results[case]["ratio_to_one_by_one"] = ratio(p50, base)
        rows.append((case, f"{p50 * 1000:.0f}", f"{ratio(p50, base):.2f}", ",".join(results[case]["outcomes"])))
    print_table(f"{n} PDFs of 100 KB: one by one vs in one archive (p50 of {repeat})",
                ("case", "ms", "x one-by-one", "outcome"), rows)
    write_json(args.out, NAME, {"smoke": args.smoke, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
