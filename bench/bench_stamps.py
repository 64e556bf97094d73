"""Secrecy stamps drawn out of their usual shape (issue 13): how many variants of each class are read.

    python -m bench.bench_stamps [--smoke] [--classes over-text,over-table,...] [--workers 2]

Each class is a grid of generated pages (bench/stamp_variants.py: the same generators the tests pin single
cases with), marked with "MẬT" / "TỐI MẬT" and, apart, with plain words drawn the same ways. Every page goes
through `gateway.inspect.inspect` (what every door and the CLI call) and is counted as:

- marked: read at its level; read at a lower level (blocked all the same); refused as not read completely
  (SECRECY_SCAN_INCOMPLETE or another reason: not released); missed (released as unmarked);
- plain: signable; refused (not read completely); blocked (a false BLOCK).

The docs quote these counts (docs/secrecy.md, README's known limits). Not a test: OCR's misses are what is
measured; the tests in tests/hardening/test_hard_ocr_shapes.py pin single cases of each class.
"""

from __future__ import annotations

import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import arg_parser, print_table, write_json

NAME = "stamps"
MARKS = ("MẬT", "TỐI MẬT")


def _grids():
    """{class: (maker, [(word, args...)] marked, [..] plain)}; a maker turns (dir, args) into a PDF."""
    from bench.stamp_variants import DEJAVU_BOLD, SERIF_BOLD

    fonts = (DEJAVU_BOLD, SERIF_BOLD)
    over_text = lambda words: list(itertools.product(words, fonts, (10, -20, 35), (0, 100), (200, 300)))  # noqa: E731
    over_table = lambda words, greys, angles: list(  # noqa: E731
        itertools.product(words, fonts, angles, greys, (200, 300)))
    hollow = lambda words, sizes: list(itertools.product(words, fonts, sizes, (3.5, 5, 8)))  # noqa: E731
    return {
        "over-text": ("askew", over_text(MARKS),
                      over_text(("THÔNG BÁO", "HỎA TỐC", "ĐÃ DUYỆT", "BẢN SAO"))),
        "over-table": ("table", over_table(MARKS, (0, 100), (15, -25, 35)),
                       over_table(("ĐÃ DUYỆT", "BÁO CÁO", "THÔNG BÁO", "BẢN SAO"), (0,), (15, -25))),
        "hollow-vector": ("hollow", hollow(MARKS, (48, 72, 110)), hollow(("THÔNG BÁO",), (48, 72, 110))),
        "hollow-scanned": ("hollow-scan", hollow(MARKS, (48, 72, 96)), hollow(("THÔNG BÁO",), (48, 72, 96))),
    }


def _page(kind: str, case: tuple, work: Path) -> Path:
    from bench import secrecy_corpus
    from bench import stamp_variants as sv

    if kind in ("askew", "table"):
        word, font, angle, grey, dpi = case
        clean = sv.askew_scan(work / "clean.pdf", word, font, angle, (grey,) * 3, table=kind == "table",
                              **({"at": (300, 700)} if kind == "askew" else {}))
        return sv.noisy(clean, work / "scan.pdf", dpi)
    word, font, size, pen = case
    page = sv.hollow(work / "hollow.pdf", word, font, size, pen)
    if kind == "hollow":
        return page
    dpi = 200
    secrecy_corpus.scan(page, work / "scan.pdf", "pdf", seed=int(size + pen * 10 + dpi), dpi=dpi)
    return work / "scan.pdf"


def _judge(job: tuple) -> tuple[str, str, str, float, str]:
    """(class, marked|plain, outcome, seconds, what was found) of one page."""
    from gateway.inspect import inspect, marks
    from gateway.model import Channel, Document
    from gateway.settings import load_settings
    from gateway.validation import Validator

    cls, kind, marked, case, var = job
    settings = _SETTINGS.get("s")
    if settings is None:  # one per process, its var under the bench's output (removed at the end)
        var = Path(var) / f"var-stamps-{os.getpid()}"
        var.mkdir(parents=True, exist_ok=True)
        settings = _SETTINGS["s"] = load_settings(var_dir=var)
        _SETTINGS["v"] = Validator(settings)
    with tempfile.TemporaryDirectory(prefix="stamps-") as d:
        path = _page(kind, case, Path(d))
        t0 = time.perf_counter()
        facts = inspect(Document(Channel.CLI, path.name, path=path), settings, _SETTINGS["v"])
        dt = time.perf_counter() - t0
    level = marks.highest(f.level for f in facts.secrecy)
    level = None if level is None else level.value
    word = case[0]
    if marked:
        if level == word:
            outcome = "at level"
        elif level is not None:
            outcome = "lower level"
        elif facts.incomplete:
            outcome = "refused"
        else:
            outcome = "missed"
    else:
        outcome = "blocked" if facts.secrecy else "refused" if facts.incomplete else "signable"
    found = " ".join([level or "-"] + sorted({r.code for r in facts.incomplete}))
    return cls, "marked" if marked else "plain", outcome, dt, found


_SETTINGS: dict = {}


def main(argv: list[str] | None = None) -> int:
    p = arg_parser(__doc__.splitlines()[0])
    p.add_argument("--classes", default="", help="comma-separated classes (default: all)")
    p.add_argument("--workers", type=int, default=2, help="processes reading pages (OCR on one core each)")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    grids = _grids()
    chosen = [c for c in args.classes.split(",") if c] or list(grids)
    jobs = []
    for cls in chosen:
        kind, marked, plain = grids[cls]
        if args.smoke:
            marked, plain = marked[:1], plain[:1]
        jobs += [(cls, kind, side, case, str(args.out)) for side, cases in ((True, marked), (False, plain))
                 for case in cases]
    t0 = time.perf_counter()
    if args.workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(args.workers) as pool:
            results = pool.map(_judge, jobs, chunksize=1)
    else:
        results = [_judge(j) for j in jobs]
    wall = time.perf_counter() - t0
    import shutil

    for var in Path(args.out).glob("var-stamps-*"):  # the readers' own settings: nothing kept
        shutil.rmtree(var, ignore_errors=True)
    counts: dict = {}
    seconds: dict = {}
    odd = []  # every page not read at its level / not signable: what to look at next
    for (cls, _, _, case, _), (_, side, outcome, dt, found) in zip(jobs, results):
        if outcome not in ("at level", "signable"):
            odd.append((cls, side, outcome, case[0], Path(case[1]).stem, *case[2:], found))
        counts.setdefault((cls, side), {}).setdefault(outcome, 0)
        counts[(cls, side)][outcome] += 1
        seconds.setdefault(cls, []).append(dt)
    rows = []
    for cls in chosen:
        m, pl = counts.get((cls, "marked"), {}), counts.get((cls, "plain"), {})
        times = sorted(seconds.get(cls, [0.0]))
        rows.append((cls, sum(m.values()), m.get("at level", 0), m.get("lower level", 0), m.get("refused", 0),
                     m.get("missed", 0), sum(pl.values()), pl.get("signable", 0), pl.get("refused", 0),
                     pl.get("blocked", 0), round(times[len(times) // 2], 2)))
    print_table("Stamps drawn out of their usual shape (marked: 'MẬT' / 'TỐI MẬT'; plain: other words, "
                "drawn the same)",
                ("class", "marked", "at level", "lower", "refused", "MISSED", "plain", "signable", "refused",
                 "BLOCKED", "s/page p50"), rows)
    if odd:
        print_table("Pages not read at their level, or plain ones not signable (class, side, outcome, word, font, "
                    "then the class's own: angle grey dpi / size pen)",
                    ("class", "side", "outcome", "word", "font", "a", "b", "c", "found"),
                    [(*o[:5], *(list(o[5:-1]) + ["", "", ""])[:3], o[-1]) for o in odd])
    print(f"{len(jobs)} pages in {wall:.0f} s with {args.workers} process(es)")
    write_json(args.out, NAME, {
        "smoke": args.smoke,
        "classes": {cls: {"marked": counts.get((cls, "marked"), {}), "plain": counts.get((cls, "plain"), {}),
                          "seconds_p50": r[-1]} for cls, r in zip(chosen, rows)},
        "odd": [list(o) for o in odd],
        "wall_s": wall,
    })
    # a false BLOCK is a regression to look at; misses are what this counts, not a failure of the run
    return 1 if sum(r[9] for r in rows) and not args.smoke else 0


if __name__ == "__main__":
    sys.exit(main())
