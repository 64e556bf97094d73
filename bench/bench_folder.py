"""Folder: N files (default 1,000 PDFs of 50 KB) dropped into a watched inbox at once.

  pyhanko 1p   plain pyHanko loop over the same files in one process (baseline)
  gateway      the folder door + Engine (2 workers): clock from the drop (rename of every file into the
               inbox, the way producers are told to deliver) until every file is out of the inbox and in
               signed/ or rejected/
quiet_seconds is set to 0.2 s (a file must be still that long before it is taken); rescans every 5 s.

    .venv/bin/python -m bench.bench_folder [--smoke] [--n N] [--workers W]
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from pathlib import Path

from bench.common import KB, arg_parser, bench_env, pdf_corpus, print_table, ratio, write_json
from bench.bench_signing import pyhanko_loop

NAME = "folder"


def _count(d: Path) -> int:
    return sum(1 for p in d.rglob("*.pdf") if p.is_file()) if d.exists() else 0


async def gateway_run(env, files: list[Path], root: Path, workers: int, timeout: float) -> dict:
    from gateway import folderwatch
    from gateway.engine import Engine
    from gateway.settings import load_settings

    inbox, signed, rejected = root / "inbox", root / "signed", root / "rejected"
    staging = root / "staging"
    for d in (inbox, signed, rejected, staging, root / "archive", root / "quarantine"):
        d.mkdir(parents=True, exist_ok=True)
    for f in files:  # same filesystem as the inbox: the drop is N renames
        shutil.copyfile(f, staging / f.name)
    settings = load_settings(
        None, var_dir=env.settings.var_dir,
        folders={"quiet_seconds": 0.2, "rescan_seconds": 5.0, "work_dir": str(root / ".work"),
                 "watches": [{"name": "bench", "inbox": str(inbox), "signed": str(signed),
                              "rejected": str(rejected), "archive": str(root / "archive"),
                              "quarantine": str(root / "quarantine"), "kind": "correspondence"}]},
    )
    with Engine(settings, workers=workers) as engine:
        door = folderwatch.build(settings, engine)
        await door.start()
        try:
            t0 = time.perf_counter()
            for f in sorted(staging.iterdir()):
                f.rename(inbox / f.name)
            n = len(files)
            first = None
            while time.perf_counter() - t0 < timeout:
                done = _count(signed) + _count(rejected)
                if done and first is None:
                    first = time.perf_counter() - t0
                if done >= n and not any(inbox.glob("*.pdf")):
                    break
                await asyncio.sleep(0.05)
            wall = time.perf_counter() - t0
        finally:
            await door.stop(30.0)
    ok, bad = _count(signed), _count(rejected)
    return {"n": len(files), "wall_s": wall, "files_per_s": (ok + bad) / wall, "first_out_s": first,
            "signed": ok, "rejected": bad, "left_in_inbox": len(list(inbox.glob("*.pdf"))),
            "timed_out": ok + bad < len(files)}


def main(argv: list[str] | None = None) -> int:
    p = arg_parser(__doc__.splitlines()[0], default_n=1000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout", type=float, default=None, help="give up after (default 900 s; smoke 60 s)")
    a = p.parse_args(argv)
    n = a.n or (5 if a.smoke else 1000)
    env = bench_env(a.out)
    files = pdf_corpus(a.out / "pdfs" / "folder", "50k", 50 * KB, n)
    root = a.out / "work" / NAME
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)

    t = pyhanko_loop(env.token, files, root)
    res: dict = {"n": n, "bytes_each": 50 * KB, "pyhanko_1p": {"wall_s": sum(t), "files_per_s": n / sum(t)}}
    rows = [("pyhanko 1 process (loop)", n, sum(t), n / sum(t), 1.0, "")]
    try:
        from gateway import folderwatch  # noqa: F401
        import gateway.engine  # noqa: F401

        have = env.has_gateway and hasattr(folderwatch, "build")
    except ImportError:
        have = False
    if have:
        r = asyncio.run(gateway_run(env, files, root / "gw", a.workers, a.timeout or (60.0 if a.smoke else 900.0)))
        res["gateway"] = r
        rows.append((f"gateway folder door ({a.workers} workers)", n, r["wall_s"], r["files_per_s"],
                     ratio(r["files_per_s"], res["pyhanko_1p"]["files_per_s"]),
                     f"signed {r['signed']} rejected {r['rejected']} first {r['first_out_s'] or 0:.2f}s"))
    else:
        print("bench_folder: gateway folder door / engine not available yet; gateway rows skipped", file=sys.stderr)
    print_table(f"Folder: {n} PDFs of 50 KB dropped at once", ["case", "files", "seconds", "files/s", "ratio", "notes"],
                rows)
    shutil.rmtree(root, ignore_errors=True)
    write_json(a.out, NAME, {"smoke": a.smoke, "results": res})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
