"""Run every benchmark in turn (each still writes its own JSON): `.venv/bin/python -m bench.run_all [--smoke]`."""

from __future__ import annotations

import importlib
import sys

BENCHES = ("bench_hsm", "bench_signing", "bench_validation", "bench_large", "bench_smtp", "bench_folder", "bench_containers", "bench_secrecy", "bench_memory",
           "bench_office", "bench_stamps")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    failed = []
    for name in BENCHES:
        print(f"\n=== {name} ===", flush=True)
        try:
            rc = importlib.import_module(f"bench.{name}").main(argv)
        except Exception as exc:  # noqa: BLE001 - one broken bench must not hide the others' figures
            print(f"{name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            rc = 1
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
